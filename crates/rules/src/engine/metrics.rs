//! The engine's self-metrics, named like Prometheus's own (`prometheus_rule_*`) with
//! Lookout's prefix so existing rule-engine dashboards map one to one.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct GroupLabel {
    /// `FILE;GROUP`, as Prometheus labels group metrics.
    pub(crate) rule_group: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StateLabel {
    pub(crate) alertstate: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub(crate) result: String,
}

#[derive(Clone, Default)]
pub(crate) struct EngineMetrics {
    pub(crate) evaluations: Family<GroupLabel, Counter>,
    pub(crate) evaluation_failures: Family<GroupLabel, Counter>,
    pub(crate) iterations_missed: Family<GroupLabel, Counter>,
    pub(crate) last_duration: Family<GroupLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub(crate) rules: Family<GroupLabel, Gauge>,
    pub(crate) alerts: Family<StateLabel, Gauge>,
    pub(crate) alerts_sent: Counter,
    pub(crate) reloads: Family<ResultLabel, Counter>,
    pub(crate) last_reload_successful: Gauge,
    pub(crate) state_save_failures: Counter,
}

impl EngineMetrics {
    pub(crate) fn register(&self, r: &mut Registry) {
        r.register(
            "lookout_rule_evaluations",
            "Rule group evaluations (each evaluates every rule of the group).",
            self.evaluations.clone(),
        );
        r.register(
            "lookout_rule_evaluation_failures",
            "Rule evaluations that failed (query error, limit exceeded, duplicate series).",
            self.evaluation_failures.clone(),
        );
        r.register(
            "lookout_rule_group_iterations_missed",
            "Group evaluations skipped because the previous one was still running.",
            self.iterations_missed.clone(),
        );
        r.register(
            "lookout_rule_group_last_duration_seconds",
            "How long the last evaluation of the group took.",
            self.last_duration.clone(),
        );
        r.register("lookout_rule_group_rules", "Rules in the group.", self.rules.clone());
        r.register("lookout_alerts", "Alerts by state (pending, firing).", self.alerts.clone());
        r.register("lookout_alerts_sent", "Alerts handed to the notifier.", self.alerts_sent.clone());
        r.register("lookout_rules_reloads", "Rule file reloads by result.", self.reloads.clone());
        r.register(
            "lookout_rules_last_reload_successful",
            "1 if the last rule file (re)load succeeded, 0 if the running rules are older than the files.",
            self.last_reload_successful.clone(),
        );
        r.register(
            "lookout_rules_state_save_failures",
            "Failed writes of the alert state snapshot under data_dir.",
            self.state_save_failures.clone(),
        );
    }
}
