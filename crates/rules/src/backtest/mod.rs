//! Backtesting: when would these rules have fired over past data?
//!
//! [`run`] replays rule groups over a time range at each group's interval (or one
//! `step` for all), through the very code a live evaluation runs ([`eval_group`]):
//! Prometheus's alert state machine with `for` and `keep_firing_for`, recording rules
//! feeding later rules in group order, `$labels`/`$value` templates. It returns, per
//! alert (alertname + labels), its episodes: when it went pending, fired and resolved
//! ([`Report`]), the notifications the rule engine would have handed to the notifier,
//! and every rule error.
//!
//! Data comes from a [`SampleSource`]: the embedded store or a Prometheus-compatible API.
//! Rules that only read source data are evaluated by the source itself at each step
//! (exact, staleness included). Rules reading series that the backtested rules record
//! (or `ALERTS`) are evaluated by the embedded evaluator over a scratch store holding a
//! copy of their source inputs plus everything the backtest recorded so far — the
//! source never receives a write. Source series named like a backtested recording rule
//! (or `ALERTS`/`ALERTS_FOR_STATE`) are not copied: the backtest recomputes them.

pub mod openmetrics;
pub mod render;
mod replay;
pub mod selectors;
pub mod series_yaml;
pub mod source;
#[cfg(test)]
mod tests;
pub mod time;

use std::collections::BTreeMap;

use lookout_tsdb::promql::EvalOptions;
use serde::Serialize;

use crate::group::OutgoingAlert;
pub use openmetrics::{DataError, load_openmetrics};
pub use replay::run;
pub use series_yaml::{SeriesParser, load_series_yaml};
pub use source::{PrometheusSource, SampleSource, SourceError, StoreSource};
pub use time::{TimeError, parse_time};

/// What to replay and how.
#[derive(Debug, Clone)]
pub struct Settings {
    /// First evaluation time (Unix ms).
    pub from_ms: i64,
    /// Last possible evaluation time (Unix ms, inclusive).
    pub to_ms: i64,
    /// One evaluation step for every group instead of each group's own interval.
    pub step_ms: Option<i64>,
    /// The interval of groups without `interval` (Prometheus's `evaluation_interval`).
    pub default_interval_ms: i64,
    /// `$externalLabels`, added to sent alerts that lack them.
    pub external_labels: Vec<(String, String)>,
    /// `$externalURL` and the base of generator URLs.
    pub external_url: String,
    /// How often a firing alert is re-sent to the notifier.
    pub resend_delay_ms: i64,
    /// Lookback and window semantics of local evaluation.
    pub eval_options: EvalOptions,
    /// Most evaluations of one group (bounds run time): `(to - from) / step + 1`.
    pub max_steps: u64,
    /// Most raw samples copied from the source for local evaluation (bounds memory).
    pub max_samples: usize,
    /// Keep every alert send in [`Report::sent`] (for a notification simulation).
    pub keep_sent: bool,
    /// Most alert sends kept (bounds memory).
    pub max_sent: usize,
}

impl Settings {
    /// `[from, to]` with Prometheus's defaults: 1m interval and resend delay, 5m lookback.
    pub fn new(from_ms: i64, to_ms: i64) -> Settings {
        Settings {
            from_ms,
            to_ms,
            step_ms: None,
            default_interval_ms: 60_000,
            external_labels: Vec::new(),
            external_url: String::new(),
            resend_delay_ms: 60_000,
            eval_options: EvalOptions::default(),
            max_steps: 1_000_000,
            max_samples: 20_000_000,
            keep_sent: false,
            max_sent: 1_000_000,
        }
    }

    /// Checks the range and step (what [`run`] checks first, for callers that load
    /// data before running).
    pub fn validate(&self) -> Result<(), BacktestError> {
        if self.from_ms > self.to_ms {
            return Err(BacktestError::Range(format!(
                "from ({}) is after to ({})",
                render::rfc3339(self.from_ms),
                render::rfc3339(self.to_ms)
            )));
        }
        if self.step_ms.is_some_and(|s| s <= 0) || self.default_interval_ms <= 0 {
            return Err(BacktestError::Range("the step must be positive".to_string()));
        }
        Ok(())
    }
}

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BacktestError {
    /// `from` is after `to`, or the step is not positive.
    #[error("invalid range: {0}")]
    Range(String),
    /// The range holds more evaluations than allowed.
    #[error("group {group:?} would evaluate {steps} times (most {max}): shorten the range or raise the step")]
    TooManySteps {
        /// The group.
        group: String,
        /// Evaluations it would need.
        steps: u64,
        /// The limit.
        max: u64,
    },
    /// The source failed.
    #[error("reading the data: {0}")]
    Source(#[from] SourceError),
    /// A rule's selector has a regex the store cannot compile.
    #[error("rule {rule:?}: {source}")]
    Selector {
        /// The rule.
        rule: String,
        /// Why.
        #[source]
        source: lookout_tsdb::promql::EvalError,
    },
    /// Local evaluation would copy more samples than allowed.
    #[error(
        "rules reading recorded series need more than {max} source samples copied: shorten the range or narrow their selectors"
    )]
    TooManySamples {
        /// The limit.
        max: usize,
    },
    /// More alert sends than kept for the notification simulation.
    #[error("more than {max} alert sends to simulate: shorten the range")]
    TooManySends {
        /// The limit.
        max: usize,
    },
}

/// One stint of one alert: pending from `pending_at_ms`, maybe firing from
/// `firing_at_ms`, over at `ended_at_ms` (resolved if it fired, dropped if it did not).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Episode {
    /// The group's file.
    pub file: String,
    /// The group.
    pub group: String,
    /// The alerting rule's name.
    pub alertname: String,
    /// The alert's labels (`alertname` included).
    pub labels: BTreeMap<String, String>,
    /// When the condition started holding (`activeAt`).
    pub pending_at_ms: i64,
    /// When it fired (`for` elapsed), if it did.
    pub firing_at_ms: Option<i64>,
    /// When it resolved (fired) or stopped pending (never fired); `None` while still
    /// active at the end of the range.
    pub ended_at_ms: Option<i64>,
    /// When `keep_firing_for` last started holding it firing after its condition
    /// stopped (`None` if it never did, or if the condition came back).
    pub kept_firing_since_ms: Option<i64>,
    /// The expression's value when it fired (or last, if it never fired).
    pub value: f64,
    /// The largest value seen while active.
    pub max_value: f64,
    /// Annotations as rendered when it fired (or last, if it never fired).
    pub annotations: BTreeMap<String, String>,
}

impl Episode {
    /// Whether it fired.
    pub fn fired(&self) -> bool {
        self.firing_at_ms.is_some()
    }

    /// Its state at `t_ms` (`None` when not active then).
    pub fn state_at(&self, t_ms: i64) -> Option<crate::AlertState> {
        if t_ms < self.pending_at_ms || self.ended_at_ms.is_some_and(|e| t_ms >= e) {
            return None;
        }
        match self.firing_at_ms {
            Some(f) if t_ms >= f => Some(crate::AlertState::Firing),
            _ => Some(crate::AlertState::Pending),
        }
    }
}

/// Failed evaluations of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleErrors {
    /// The group's file.
    pub file: String,
    /// The group.
    pub group: String,
    /// The rule's name.
    pub rule: String,
    /// How many evaluations failed.
    pub count: u64,
    /// The first failure's time.
    pub first_at_ms: i64,
    /// The first failure's message.
    pub first_error: String,
}

/// One group's replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRun {
    /// Its file.
    pub file: String,
    /// Its name.
    pub name: String,
    /// The step it was evaluated at.
    pub interval_ms: i64,
    /// How many evaluations ran.
    pub evaluations: u64,
    /// How many of its rules were evaluated locally (they read recorded series).
    pub local_rules: usize,
}

/// An alert as the rule engine handed it to the notifier at `at_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct SentAlert {
    /// When it was sent.
    pub at_ms: i64,
    /// What was sent.
    pub alert: OutgoingAlert,
}

/// What a backtest found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The source ([`SampleSource::describe`]).
    pub source: String,
    /// The range replayed.
    pub from_ms: i64,
    /// The range replayed.
    pub to_ms: i64,
    /// Per group.
    pub groups: Vec<GroupRun>,
    /// Every episode, by start time, then alertname and labels.
    pub episodes: Vec<Episode>,
    /// Rules that failed at least once.
    pub rule_errors: Vec<RuleErrors>,
    /// Every alert send, in time order, with [`Settings::keep_sent`].
    pub sent: Vec<SentAlert>,
    /// Raw samples copied for local evaluation.
    pub copied_samples: usize,
}

impl Report {
    /// The state at `t_ms` of the alert with exactly these labels.
    pub fn state_at(&self, labels: &BTreeMap<String, String>, t_ms: i64) -> Option<crate::AlertState> {
        self.episodes.iter().filter(|e| &e.labels == labels).find_map(|e| e.state_at(t_ms))
    }

    /// The alerts firing at `t_ms`.
    pub fn firing_at(&self, t_ms: i64) -> Vec<&Episode> {
        self.episodes.iter().filter(|e| e.state_at(t_ms) == Some(crate::AlertState::Firing)).collect()
    }
}
