//! Lookout's built-in transforms: synchronous batch functions between sources and sinks.
//!
//! | type | job |
//! |---|---|
//! | [`enrich`] | set or add resource (or record) attributes; choose attributes to promote to the top level |
//! | [`parse_json`] | parse JSON log bodies (or a string attribute) into attributes |
//! | [`parse_regex`] | extract named regex captures into attributes |
//! | [`redact`] | mask emails, Luhn-valid card numbers and custom patterns |
//! | [`filter`] | keep only records matching a [`Condition`] |
//! | [`sample`] | keep 1 in N traces, deciding per trace id so traces stay whole |
//! | [`route`] | send records to named outputs by condition |
//!
//! Every transform is a config struct next to its code, registered by [`register`].
//! Configs are checked when the pipeline is loaded (bad regexes and conditions are
//! reported at `FILE:LINE:COL`); `build` only turns the checked config into the
//! running form. Transforms work on the OTLP grouping in place: a resource-wide edit
//! is one write per resource, and records are dropped with `Batch::retain`.
//!
//! Conditions (`filter`, `route`, `sample`'s `exclude`) use a small expression
//! language, [`Condition`], documented in `docs/conditions.md`:
//!
//! ```
//! use lookout_transform::Condition;
//! use lookout_event::{Batch, otlp};
//! use otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
//!
//! let errors = Condition::parse(r#"severity_number >= 17 or body =~ "timeout|refused""#).unwrap();
//! let record = LogRecord { severity_number: 17, ..Default::default() };
//! let mut batch = Batch::logs(vec![ResourceLogs {
//!     scope_logs: vec![ScopeLogs { log_records: vec![record, LogRecord::default()], ..Default::default() }],
//!     ..Default::default()
//! }]);
//! assert_eq!(batch.retain(|r| errors.matches(r)), 1);
//!
//! let err = Condition::parse("severity_number = 17").unwrap_err();
//! assert_eq!(err.to_string(), "`=` is not an operator; use `==` to compare at column 17");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod condition;
mod derived;
pub mod enrich;
pub mod filter;
pub mod log_to_metric;
pub mod parse_json;
pub mod parse_regex;
pub mod redact;
pub mod route;
pub mod sample;
pub mod span_metrics;
mod target;
#[cfg(test)]
mod test_util;

pub use condition::{Condition, ParseError};
use lookout_component::{BuildError, spanned_error};
use lookout_config::{ComponentDecl, ConfigError};
use serde_saphyr::Spanned;

/// Registers every transform type of this crate.
pub fn register(registry: &mut lookout_component::Registry) {
    registry.transform::<enrich::EnrichConfig>("enrich", "Set or add resource attributes and choose promoted fields.");
    registry.transform::<parse_json::ParseJsonConfig>("parse_json", "Parse JSON log bodies into attributes.");
    registry.transform::<parse_regex::ParseRegexConfig>("parse_regex", "Extract named regex captures into attributes.");
    registry.transform::<redact::RedactConfig>("redact", "Mask emails, card numbers and custom patterns.");
    registry.transform::<filter::FilterConfig>("filter", "Keep only records matching a condition.");
    registry.transform::<sample::SampleConfig>("sample", "Keep 1 in N traces, whole traces together.");
    registry.transform::<route::RouteConfig>("route", "Send records to named outputs by condition.");
    registry.transform::<log_to_metric::LogToMetricConfig>(
        "log_to_metric",
        "Derive Prometheus counters, gauges and histograms from records into the metrics store.",
    );
    registry.transform::<span_metrics::SpanMetricsConfig>(
        "span_metrics",
        "Request count and duration histogram per service/operation/status from spans.",
    );
}

/// Parses a condition written in a config, with errors at the string's position.
pub(crate) fn check_condition(decl: &ComponentDecl, source: &Spanned<String>) -> Result<Condition, ConfigError> {
    Condition::parse(&source.value)
        .map_err(|e| spanned_error(decl, source, format!("invalid condition `{}`: {e}", source.value)))
}

/// Parses an already validated condition when building.
pub(crate) fn build_condition(source: &Spanned<String>) -> Result<Condition, BuildError> {
    Condition::parse(&source.value).map_err(|e| BuildError(format!("invalid condition `{}`: {e}", source.value)))
}

/// Compiles a regex written in a config, with errors at the string's position.
pub(crate) fn check_regex(decl: &ComponentDecl, source: &Spanned<String>) -> Result<regex::Regex, ConfigError> {
    regex::Regex::new(&source.value).map_err(|e| spanned_error(decl, source, regex_error(&e)))
}

/// A regex error on one line (the library's message spans several).
pub(crate) fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    format!("invalid regex: {}", last.trim_start_matches("error: "))
}

#[cfg(test)]
mod tests {
    use lookout_component::Registry;

    #[test]
    fn registers_every_transform() {
        let mut registry = Registry::default();
        super::register(&mut registry);
        let names: Vec<&str> = registry.describe().into_iter().map(|(_, name, _)| name).collect();
        assert_eq!(
            names,
            [
                "enrich",
                "parse_json",
                "parse_regex",
                "redact",
                "filter",
                "sample",
                "route",
                "log_to_metric",
                "span_metrics"
            ]
        );
    }

    /// Flow mappings carry no positions; they still parse, and errors fall back to `type`.
    #[test]
    fn flow_mapping_configs_parse() {
        let yaml = "sources:\n  in: { type: x }\ntransforms:\n  f: { type: filter, inputs: [in], condition: 'a == 1' }\n  r: { type: route, inputs: [in], routes: { a: 'true' } }\n  e: { type: enrich, inputs: [in], set: { host: $(hostname), v: 1.10 } }\n  d: { type: redact, inputs: [in], patterns: [email, { name: tok, regex: x }] }\n  bad: { type: filter, inputs: [in], condition: 'a =' }\n  s: { type: sample, inputs: [in], rate: 5, exclude: 'true' }\n  j: { type: parse_json, inputs: [in], field: attributes.x }\n  x: { type: parse_regex, inputs: [in], pattern: '(?P<a>.)' }\n";
        let cfg = lookout_config::load_str("p.yaml", yaml, &|_| None).unwrap();
        let mut registry = Registry::default();
        super::register(&mut registry);
        for name in ["f", "r", "e", "d", "s", "j", "x"] {
            let config = registry.parse_transform(&cfg.transforms[name]).unwrap_or_else(|e| panic!("{name}: {e}"));
            config.build(&lookout_component::TransformContext::detached(name)).unwrap();
        }
        let err = registry.parse_transform(&cfg.transforms["bad"]).unwrap_err();
        assert!(err.to_string().starts_with("p.yaml:8:16: invalid condition `a =`"), "{err}");
    }
}
