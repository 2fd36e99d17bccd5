//! Label-set helpers for evaluation: dropping the metric name, keeping or removing
//! labels, setting one label, and match signatures (the keys Prometheus hashes for
//! grouping and vector matching).

use crate::Labels;

pub(crate) const METRIC_NAME: &str = "__name__";

/// `labels` without `__name__`.
pub(crate) fn drop_name(labels: &Labels) -> Labels {
    labels.without_name()
}

/// Only the labels named in `names`.
pub(crate) fn keep(labels: &Labels, names: &[String]) -> Labels {
    Labels::new(labels.pairs().iter().filter(|(k, _)| names.contains(k)).cloned())
}

/// Without the labels named in `names`.
pub(crate) fn remove(labels: &Labels, names: &[String]) -> Labels {
    Labels::new(labels.pairs().iter().filter(|(k, _)| !names.contains(k)).cloned())
}

/// With `name` set to `value` (an empty value removes it).
pub(crate) fn set(labels: &Labels, name: &str, value: &str) -> Labels {
    Labels::new(
        labels
            .pairs()
            .iter()
            .filter(|(k, _)| k != name)
            .cloned()
            .chain(std::iter::once((name.to_string(), value.to_string()))),
    )
}

/// A grouping / matching key: with `on`, the values of `names` only; otherwise every
/// label except `names` and `__name__`.
pub(crate) fn signature(labels: &Labels, on: bool, names: &[String]) -> String {
    let mut out = String::new();
    for (k, v) in labels.pairs() {
        let included = if on { names.contains(k) } else { k != METRIC_NAME && !names.contains(k) };
        if included {
            out.push_str(k);
            out.push('\u{ff}');
            out.push_str(v);
            out.push('\u{fe}');
        }
    }
    out
}

/// The labels a signature was built from.
pub(crate) fn match_labels(labels: &Labels, on: bool, names: &[String]) -> Labels {
    if on { keep(labels, names) } else { drop_name(&remove(labels, names)) }
}

/// Prometheus's `labels.Labels.String()`: `{__name__="x", a="b"}` (the name is not
/// pulled out in front), as its error messages print label sets.
pub(crate) fn go_string(labels: &Labels) -> String {
    let body: Vec<String> = labels
        .pairs()
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// Whether `name` is a valid label name: Prometheus 3 validates names as UTF-8 (its
/// default scheme), so any non-empty string is valid.
pub(crate) fn valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// Errors when two elements share a label set, as Prometheus does after functions and
/// operators that drop the metric name.
pub(crate) fn check_unique(v: &[(Labels, f64)]) -> Result<(), super::EvalError> {
    let mut seen = std::collections::HashSet::with_capacity_and_hasher(v.len(), foldhash::fast::FixedState::default());
    for (l, _) in v {
        if !seen.insert(l) {
            return super::exec_err("vector cannot contain metrics with the same labelset");
        }
    }
    Ok(())
}
