//! Who is in the cluster: each replica writes a heartbeat (name, address, time) to its
//! own key; the live peers are those heard of recently, and a replica's position is its
//! index among the live names, sorted (Alertmanager's `Peer.Position`). Position 0
//! notifies first; position `n` waits `n × peer_timeout` (the wait stage).
//!
//! Liveness is judged by when a heartbeat *arrived here* (this process's monotonic
//! clock), not by the time written in it, so clock skew between hosts does not matter
//! once running; the written time only tells a stale key (a replica killed without
//! saying goodbye) from a fresh one when the bucket is first read.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// What a replica writes to its key every heartbeat interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Heartbeat {
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) timestamp: DateTime<Utc>,
}

/// A peer as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerStatus {
    pub(crate) name: String,
    pub(crate) address: String,
}

struct Seen {
    address: String,
    at: Instant,
}

/// The peers heard of, and this replica.
pub(crate) struct Peers {
    me: PeerStatus,
    others: BTreeMap<String, Seen>,
    dead_after: Duration,
}

impl Peers {
    pub(crate) fn new(name: String, address: String, dead_after: Duration) -> Peers {
        Peers { me: PeerStatus { name, address }, others: BTreeMap::new(), dead_after }
    }

    /// A heartbeat arrived at `at` (local clock); `wall_now` judges whether it was
    /// already stale when written (a key left behind by a dead replica).
    pub(crate) fn heard(&mut self, hb: Heartbeat, at: Instant, wall_now: DateTime<Utc>) {
        if hb.name == self.me.name {
            return;
        }
        let age = (wall_now - hb.timestamp).to_std().unwrap_or(Duration::ZERO);
        if age > self.dead_after {
            self.others.remove(&hb.name);
            return;
        }
        // Drop what died long ago, so the table stays as small as the cluster.
        let dead_after = self.dead_after;
        self.others.retain(|_, s| at.saturating_duration_since(s.at) <= dead_after * 10);
        self.others.insert(hb.name, Seen { address: hb.address, at });
    }

    /// A replica said goodbye (deleted its key).
    pub(crate) fn left(&mut self, name: &str) {
        self.others.remove(name);
    }

    /// The live peers, this one included, sorted by name.
    pub(crate) fn live(&self, now: Instant) -> Vec<PeerStatus> {
        let mut out: Vec<PeerStatus> = self
            .others
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.at) <= self.dead_after)
            .map(|(name, s)| PeerStatus { name: name.clone(), address: s.address.clone() })
            .collect();
        out.push(self.me.clone());
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// This replica's index among the live peers' sorted names.
    pub(crate) fn position(&self, now: Instant) -> usize {
        self.live(now).iter().position(|p| p.name == self.me.name).unwrap_or(0)
    }
}

/// How long a flush waits before the dedup stage reads the log: position × peer timeout
/// (Alertmanager's `clusterWait`).
pub(crate) fn wait_for(position: usize, peer_timeout: Duration) -> Duration {
    peer_timeout.saturating_mul(u32::try_from(position).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(name: &str, ts: DateTime<Utc>) -> Heartbeat {
        Heartbeat { name: name.into(), address: format!("{name}:9093"), timestamp: ts }
    }

    #[test]
    fn position_is_the_index_among_live_sorted_names() {
        let wall = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let t0 = Instant::now();
        let mut p = Peers::new("b".into(), "b:9093".into(), Duration::from_secs(3));
        assert_eq!(p.position(t0), 0, "alone: first");
        p.heard(hb("c", wall), t0, wall);
        assert_eq!(p.position(t0), 0);
        p.heard(hb("a", wall), t0, wall);
        assert_eq!(p.position(t0), 1);
        let names: Vec<String> = p.live(t0).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["a", "b", "c"]);
        // Its own heartbeat changes nothing.
        p.heard(hb("b", wall), t0, wall);
        assert_eq!(p.live(t0).len(), 3);
        // "a" stops beating: after dead_after it no longer counts.
        p.heard(hb("c", wall), t0 + Duration::from_secs(2), wall);
        assert_eq!(p.position(t0 + Duration::from_secs(3)), 1);
        assert_eq!(p.position(t0 + Duration::from_secs(4)), 0);
        // "c" says goodbye.
        p.left("c");
        assert_eq!(p.live(t0 + Duration::from_secs(4)).len(), 1);
    }

    #[test]
    fn a_stale_key_at_start_is_not_a_peer() {
        let wall = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let t0 = Instant::now();
        let mut p = Peers::new("b".into(), "b".into(), Duration::from_secs(3));
        p.heard(hb("a", wall - chrono::Duration::seconds(60)), t0, wall);
        assert_eq!(p.position(t0), 0);
        assert_eq!(p.live(t0).len(), 1);
    }

    #[test]
    fn the_wait_grows_with_the_position() {
        let t = Duration::from_secs(15);
        assert_eq!(wait_for(0, t), Duration::ZERO);
        assert_eq!(wait_for(1, t), t);
        assert_eq!(wait_for(3, t), Duration::from_secs(45));
        assert_eq!(wait_for(usize::MAX, t), t.saturating_mul(u32::MAX));
    }
}
