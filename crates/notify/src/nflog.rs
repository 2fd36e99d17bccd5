//! The notification log (`nflog/nflog.go`): per (group key, receiver, integration) the
//! firing and resolved alerts of the last successful notification and when it was sent.
//! The dedup stage reads it to decide whether a flush needs to notify at all; persisted so
//! a restart neither repeats nor forgets a notification.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use crate::cluster::merge::{Merge, decide};
use crate::cluster::{Item, Outbox};
use crate::persist::{StateDb, Table};
use crate::persisted::{Backing, Durability, PersistedMap, Retained};

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Fingerprints of the alerts that were firing.
    pub firing: Vec<u64>,
    /// Fingerprints of the alerts that were resolved.
    pub resolved: Vec<u64>,
    /// When the notification was sent.
    pub timestamp: DateTime<Utc>,
    /// When the entry may be dropped.
    pub expires_at: DateTime<Utc>,
}

impl Entry {
    /// Whether every alert of `subset` was firing at the last notification.
    pub fn is_firing_subset(&self, subset: &HashSet<u64>) -> bool {
        let set: HashSet<u64> = self.firing.iter().copied().collect();
        subset.iter().all(|x| set.contains(x))
    }

    /// Whether every alert of `subset` was resolved at the last notification.
    pub fn is_resolved_subset(&self, subset: &HashSet<u64>) -> bool {
        let set: HashSet<u64> = self.resolved.iter().copied().collect();
        subset.iter().all(|x| set.contains(x))
    }
}

/// Identifies one integration of one receiver (`nflogpb.Receiver`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReceiverKey {
    /// Receiver name.
    pub receiver: String,
    /// Integration name (`webhook`, `slack`, ...).
    pub integration: String,
    /// Position among the receiver's integrations of that name.
    pub index: usize,
}

fn key(group_key: &str, r: &ReceiverKey) -> String {
    // Group keys never contain NUL (label values are valid UTF-8 text; NUL is not printed raw).
    format!("{group_key}\u{0}{}/{}/{}", r.receiver, r.integration, r.index)
}

impl Retained for Entry {
    fn expires_at(&self, _retention: ChronoDuration) -> DateTime<Utc> {
        // Fixed when logged: a retention changed since then applies to new entries only.
        self.expires_at
    }
}

/// The log.
pub struct NotificationLog {
    entries: PersistedMap<Entry>,
    /// Where changes go to be replicated, in a cluster.
    outbox: Option<Arc<Outbox>>,
}

impl NotificationLog {
    /// An empty log keeping entries for `retention` (Alertmanager: 120h); in a cluster,
    /// every entry logged here is marked in `outbox` for replication.
    pub(crate) fn new(
        db: Option<Arc<StateDb>>,
        retention: std::time::Duration,
        outbox: Option<Arc<Outbox>>,
    ) -> NotificationLog {
        // Queued, not committed per entry: a crash loses at most the last batch, and the
        // worst outcome of that is one repeated notification.
        let backing = db.map(|db| Backing::new(db, Table::Nflog, Durability::Queued));
        NotificationLog { entries: PersistedMap::new(backing, retention), outbox }
    }

    fn replicate(&self, key: String) {
        if let Some(o) = &self.outbox {
            o.mark(Item::Nflog(key));
        }
    }

    /// The entry under a local key (group key and receiver).
    pub(crate) fn get(&self, key: &str) -> Option<Entry> {
        self.entries.read(|m| m.get(key).cloned())
    }

    /// Every local key.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.entries.read(|m| m.keys().cloned().collect())
    }

    /// Merges an entry another replica logged (newer wins; not replicated again).
    pub(crate) fn merge(&self, key: &str, entry: Entry, now: DateTime<Utc>) -> Merge {
        let mut map = self.entries.lock();
        let verdict = decide(map.get(key).map(|e| e.timestamp), entry.timestamp, entry.expires_at, now);
        if verdict == Merge::Take {
            map.insert(key.to_string(), entry);
        }
        verdict
    }

    /// Loads persisted entries.
    pub(crate) fn restore(&self, rows: Vec<(String, Vec<u8>)>) {
        self.entries.restore(rows, "notification log entry");
    }

    /// The last entry for a group and integration.
    pub fn query(&self, group_key: &str, r: &ReceiverKey) -> Option<Entry> {
        self.entries.read(|m| m.get(&key(group_key, r)).cloned())
    }

    /// Records a successful notification.
    pub fn log(&self, group_key: &str, r: &ReceiverKey, firing: Vec<u64>, resolved: Vec<u64>, now: DateTime<Utc>) {
        let e = Entry { firing, resolved, timestamp: now, expires_at: now + self.entries.retention() };
        let key = key(group_key, r);
        // Queued durability: `commit` does not wait and cannot fail.
        let mut map = self.entries.lock();
        map.insert(key.clone(), e);
        let _ = map.commit();
        self.replicate(key);
    }

    /// Drops expired entries (and, in a cluster, their copies in the bucket).
    pub fn gc(&self, now: DateTime<Utc>) -> usize {
        let gone = self.entries.gc(now);
        let n = gone.len();
        gone.into_iter().for_each(|k| self.replicate(k));
        n
    }

    /// Number of entries.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}
