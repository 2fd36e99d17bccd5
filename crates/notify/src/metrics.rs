//! The notifier's own metrics (Alertmanager's, under `lookout_notifier_`): alerts received
//! and refused (invalid, or over their origin's limit), alerts and silences by state,
//! notification-log size, aggregation groups.
//! Per-integration delivery metrics come from `lookout-receivers`' `NotifyMetrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::alerts::Origin;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabels {
    pub(crate) status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StateLabels {
    pub(crate) state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OriginLabels {
    pub(crate) origin: &'static str,
}

/// Handles to every metric.
#[derive(Clone, Default)]
pub(crate) struct Metrics {
    pub(crate) received: Family<StatusLabels, Counter>,
    pub(crate) invalid: Counter,
    pub(crate) refused: Family<OriginLabels, Counter>,
    pub(crate) alerts: Family<StateLabels, Gauge>,
    pub(crate) silences: Family<StateLabels, Gauge>,
    pub(crate) nflog_entries: Gauge,
    pub(crate) groups: Gauge,
}

impl Metrics {
    pub(crate) fn register(&self, r: &mut Registry) {
        r.register("lookout_notifier_alerts_received", "Alerts received, by status.", self.received.clone());
        r.register("lookout_notifier_alerts_invalid", "Alerts refused as invalid.", self.invalid.clone());
        r.register(
            "lookout_notifier_alerts_refused",
            "New alerts refused because their origin's alert limit was reached, by origin (api, rules).",
            self.refused.clone(),
        );
        r.register("lookout_notifier_alerts", "Alerts held, by state (active, suppressed).", self.alerts.clone());
        r.register("lookout_notifier_silences", "Silences, by state.", self.silences.clone());
        r.register("lookout_notifier_nflog_entries", "Entries in the notification log.", self.nflog_entries.clone());
        r.register("lookout_notifier_aggregation_groups", "Aggregation groups.", self.groups.clone());
    }

    pub(crate) fn count_received(&self, resolved: bool) {
        let status = if resolved { "resolved" } else { "firing" };
        self.received.get_or_create(&StatusLabels { status: status.into() }).inc();
    }

    pub(crate) fn count_refused(&self, origin: Origin) {
        self.refused.get_or_create(&OriginLabels { origin: origin.as_str() }).inc();
    }

    pub(crate) fn set_state(family: &Family<StateLabels, Gauge>, state: &str, v: i64) {
        family.get_or_create(&StateLabels { state: state.into() }).set(v);
    }
}
