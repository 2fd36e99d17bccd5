//! OTLP exemplars → Prometheus exemplars, as Prometheus's `otlptranslator` makes them
//! (`getPromExemplars`): labels `trace_id` and `span_id` (lowercase hex, when set), then
//! the exemplar's filtered attributes, but only if the whole label set stays within
//! Prometheus's 128-rune exemplar limit (otherwise the attributes are left out and the
//! trace and span ids kept); value and time as they are. Attribute keys are made valid
//! label names ([`label_name`]) so any receiver accepts them.
//!
//! Where they go: a sum's exemplars on its sample; a histogram's on the first bucket
//! whose `le` is ≥ the exemplar's value (`+Inf` last), as Prometheus does. Gauges and
//! summaries carry none (neither does Prometheus).

use lookout_event::otlp::metrics::v1::{Exemplar as OtlpExemplar, exemplar};

use super::names::{label_name, value_text};

/// Prometheus's limit on an exemplar's label names and values together, in runes
/// (`ExemplarMaxLabelSetLength`).
pub const MAX_EXEMPLAR_RUNES: usize = 128;

/// An exemplar attached to one translated sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Index into [`Translation::points`](super::Translation::points) of the sample
    /// whose series carries it.
    pub point: usize,
    /// `trace_id`, `span_id`, then filtered attributes.
    pub labels: Vec<(String, String)>,
    /// Unix milliseconds.
    pub t: i64,
    /// The observed value.
    pub v: f64,
}

/// An exemplar's labels, Unix milliseconds and value.
pub(crate) type Converted = (Vec<(String, String)>, i64, f64);

/// Labels, time and value of an OTLP exemplar; `None` when it has no value.
pub(crate) fn convert(e: &OtlpExemplar) -> Option<Converted> {
    let v = match e.value? {
        exemplar::Value::AsDouble(d) => d,
        exemplar::Value::AsInt(i) => i as f64,
    };
    let mut labels = Vec::with_capacity(2 + e.filtered_attributes.len());
    let mut runes = 0usize;
    for (name, id) in [("trace_id", &e.trace_id), ("span_id", &e.span_id)] {
        if !id.is_empty() && id.iter().any(|b| *b != 0) {
            let value = lookout_event::hex(id);
            runes += name.len() + value.len();
            labels.push((name.to_string(), value));
        }
    }
    let attrs: Vec<(String, String)> =
        e.filtered_attributes.iter().map(|kv| (label_name(&kv.key), value_text(kv.value.as_ref()))).collect();
    let attr_runes: usize = attrs.iter().map(|(k, v)| k.chars().count() + v.chars().count()).sum();
    if runes + attr_runes <= MAX_EXEMPLAR_RUNES {
        labels.extend(attrs);
    }
    Some((labels, (e.time_unix_nano / 1_000_000) as i64, v))
}
