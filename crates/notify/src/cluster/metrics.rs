//! The cluster's metrics, after Alertmanager's `alertmanager_cluster_*` and
//! `alertmanager_peer_position`, under `lookout_notifier_cluster_`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MsgType {
    pub(crate) msg_type: &'static str,
}

/// Handles to every cluster metric (registered whether or not a cluster is configured,
/// so dashboards see `enabled 0` rather than nothing).
#[derive(Clone, Default)]
pub(crate) struct ClusterMetrics {
    pub(crate) enabled: Gauge,
    pub(crate) members: Gauge,
    pub(crate) position: Gauge,
    pub(crate) bus_up: Gauge,
    pub(crate) sent: Family<MsgType, Counter>,
    pub(crate) received: Family<MsgType, Counter>,
    pub(crate) failed: Family<MsgType, Counter>,
}

impl ClusterMetrics {
    pub(crate) fn register(&self, r: &mut Registry) {
        r.register("lookout_notifier_cluster_enabled", "1 when the notifier runs in a cluster.", self.enabled.clone());
        r.register(
            "lookout_notifier_cluster_members",
            "Live replicas in the notifier cluster, this one included.",
            self.members.clone(),
        );
        r.register(
            "lookout_notifier_cluster_peer_position",
            "This replica's position (0 notifies first; n waits n times peer_timeout).",
            self.position.clone(),
        );
        r.register(
            "lookout_notifier_cluster_bus_up",
            "1 while the shared bucket is reachable; 0 means this replica acts alone at position 0.",
            self.bus_up.clone(),
        );
        r.register(
            "lookout_notifier_cluster_messages_sent",
            "Entries written to the shared bucket, by type (nflog, silence, heartbeat).",
            self.sent.clone(),
        );
        r.register(
            "lookout_notifier_cluster_messages_received",
            "Entries other replicas wrote, read from the shared bucket, by type.",
            self.received.clone(),
        );
        r.register(
            "lookout_notifier_cluster_messages_publish_failures",
            "Writes to the shared bucket that failed (retried), by type.",
            self.failed.clone(),
        );
    }

    pub(crate) fn count(family: &Family<MsgType, Counter>, msg_type: &'static str) {
        family.get_or_create(&MsgType { msg_type }).inc();
    }
}
