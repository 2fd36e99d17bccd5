//! Error tracking's own metrics on `/metrics`: process-wide families (the sink has no
//! handle on the process's registry) that the binary registers once with
//! [`register_metrics`].
//!
//! | metric | |
//! |---|---|
//! | `lookout_error_groups{state}` | groups open, resolved and ignored, as of the last save |
//! | `lookout_error_occurrences_total` | exceptions recorded into groups |
//! | `lookout_error_groups_evicted_total` | groups evicted to stay within `max_groups` |
//! | `lookout_error_groups_save_failures_total` | saves of the groups that failed (retried) |

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// `state="open|resolved|ignored"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// The state's name.
    pub state: String,
}

/// The families.
#[derive(Default)]
pub struct ErrorMetrics {
    /// Groups per state.
    pub groups: Family<StateLabel, Gauge>,
    /// Exceptions recorded.
    pub occurrences: Counter,
    /// Groups evicted.
    pub evicted: Counter,
    /// Failed saves.
    pub save_failures: Counter,
}

/// The process-wide families.
pub fn metrics() -> &'static ErrorMetrics {
    static METRICS: LazyLock<ErrorMetrics> = LazyLock::new(ErrorMetrics::default);
    &METRICS
}

/// Registers the families in `registry` (once per process, where the binary builds it).
pub fn register_metrics(registry: &mut Registry) {
    let m = metrics();
    registry.register("lookout_error_groups", "Error groups per state, as of the last save.", m.groups.clone());
    registry.register("lookout_error_occurrences", "Exceptions recorded into error groups.", m.occurrences.clone());
    registry.register(
        "lookout_error_groups_evicted",
        "Error groups evicted to stay within max_groups.",
        m.evicted.clone(),
    );
    registry.register(
        "lookout_error_groups_save_failures",
        "Saves of the error groups that failed (the changes stay in memory and are retried).",
        m.save_failures.clone(),
    );
}
