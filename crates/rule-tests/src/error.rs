//! The crate's errors. Each displays as promtool prints it, since users compare the output
//! with promtool's.

use lookout_rules::duration::format_duration;

use crate::notation::ParseError;

/// A test file that does not decode: yaml.v2's message (`yaml: line 3: ...`,
/// `yaml: unmarshal errors: ...`) or the one a field's own unmarshaler returns
/// (`not a valid duration string: "5x"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub(crate) String);

/// A `rule_files` pattern that `filepath.Glob` refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub(crate) struct PatternError;

/// Why a test file or one of its test groups could not run; printed as one error line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// The file does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A `rule_files` pattern is malformed.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// An `input_series` line does not parse.
    #[error(transparent)]
    Series(#[from] ParseError),
    /// The input series expand beyond the runner's limit.
    #[error("input series expand to more than {limit} samples")]
    TooManySamples {
        /// The limit.
        limit: usize,
    },
    /// The TSDB refuses an input series (Prometheus's message).
    #[error("{0}")]
    SeriesRefused(String),
    /// An alert test without `alertname`.
    #[error(
        "an item under alert_rule_test misses required attribute alertname at eval_time {}{}",
        format_duration(*eval_time_ms),
        in_group(group)
    )]
    MissingAlertname {
        /// The test's `eval_time`.
        eval_time_ms: i64,
        /// The test group's name (may be empty).
        group: String,
    },
    /// Evaluating up to the last `eval_time` takes too many steps.
    #[error(
        "evaluating up to {} every {} takes more than {limit} steps",
        format_duration(*maxt_ms),
        format_duration(*interval_ms)
    )]
    TooManySteps {
        /// The last `eval_time`.
        maxt_ms: i64,
        /// The evaluation interval.
        interval_ms: i64,
        /// The limit.
        limit: i64,
    },
}

fn in_group(name: &str) -> String {
    if name.is_empty() { String::new() } else { format!(" (in TestGroup {name})") }
}
