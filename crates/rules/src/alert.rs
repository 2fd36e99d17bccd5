//! One alert instance and when it is (re)sent, as `rules/alerting.go` defines them.

use lookout_tsdb::Labels;
use serde::{Deserialize, Serialize};

/// How long a resolved alert is kept (and re-sent as resolved), Prometheus's
/// `resolvedRetention`.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Resolved: was firing, the condition no longer holds (kept for the retention).
    Inactive,
    /// The condition holds, for less than `for`.
    Pending,
    /// The condition has held for `for` (or is kept firing by `keep_firing_for`).
    Firing,
}

impl AlertState {
    /// `inactive`, `pending` or `firing` (the `alertstate` label and the API's `state`).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule, identified by its label set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Result labels without `__name__`, rule labels applied, `alertname` set.
    #[serde(with = "crate::serde_labels")]
    pub labels: Labels,
    /// Expanded annotations, sorted by name.
    pub annotations: Vec<(String, String)>,
    /// Its state.
    pub state: AlertState,
    /// The expression's value at the last evaluation that returned it.
    pub value: f64,
    /// When the condition started holding (Unix ms).
    pub active_at_ms: i64,
    /// When it started firing.
    pub fired_at_ms: Option<i64>,
    /// When it resolved (`None` while active).
    pub resolved_at_ms: Option<i64>,
    /// When it was last sent to the notifier.
    pub last_sent_ms: Option<i64>,
    /// `endsAt` sent for a firing alert: past it, Alertmanager resolves the alert by itself.
    pub valid_until_ms: i64,
    /// When `keep_firing_for` started keeping it firing.
    pub keep_firing_since_ms: Option<i64>,
    /// Exemplars of the series its rule read that agree with its labels, newest first
    /// (see `crate::evidence`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<lookout_receivers::Evidence>,
}

impl Alert {
    /// Whether the alert is due to be sent at `t_ms` (Prometheus's `needsSending`):
    /// never while pending; at once after resolving; else every `resend_delay_ms`.
    pub fn needs_sending(&self, t_ms: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if let Some(resolved) = self.resolved_at_ms
            && self.last_sent_ms.is_none_or(|sent| resolved > sent)
        {
            return true;
        }
        match self.last_sent_ms {
            None => true,
            Some(sent) => sent.saturating_add(resend_delay_ms) < t_ms,
        }
    }
}
