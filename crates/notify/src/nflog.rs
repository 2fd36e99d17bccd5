//! The notification log (`nflog/nflog.go`): per (group key, receiver, integration) the
//! firing and resolved alerts of the last successful notification and when it was sent.
//! The dedup stage reads it to decide whether a flush needs to notify at all; persisted so
//! a restart neither repeats nor forgets a notification.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use crate::persist::{StateDb, Table};

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

/// The log.
pub struct NotificationLog {
    entries: Mutex<HashMap<String, Entry>>,
    db: Option<Arc<StateDb>>,
    retention: ChronoDuration,
}

impl NotificationLog {
    /// An empty log keeping entries for `retention` (Alertmanager: 120h).
    pub(crate) fn new(db: Option<Arc<StateDb>>, retention: std::time::Duration) -> NotificationLog {
        NotificationLog {
            entries: Mutex::new(HashMap::new()),
            db,
            retention: ChronoDuration::from_std(retention).unwrap_or(ChronoDuration::hours(120)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads persisted entries.
    pub(crate) fn restore(&self, rows: Vec<(String, Vec<u8>)>) {
        let mut map = self.lock();
        for (k, v) in rows {
            match serde_json::from_slice::<Entry>(&v) {
                Ok(e) => {
                    map.insert(k, e);
                }
                Err(e) => tracing::warn!(error = %e, "Skipping an unreadable notification log entry."),
            }
        }
    }

    /// The last entry for a group and integration.
    pub fn query(&self, group_key: &str, r: &ReceiverKey) -> Option<Entry> {
        self.lock().get(&key(group_key, r)).cloned()
    }

    /// Records a successful notification.
    pub fn log(&self, group_key: &str, r: &ReceiverKey, firing: Vec<u64>, resolved: Vec<u64>, now: DateTime<Utc>) {
        let e = Entry { firing, resolved, timestamp: now, expires_at: now + self.retention };
        let k = key(group_key, r);
        if let Some(db) = &self.db
            && let Ok(v) = serde_json::to_vec(&e)
        {
            db.put(Table::Nflog, k.clone(), v);
        }
        self.lock().insert(k, e);
    }

    /// Drops expired entries.
    pub fn gc(&self, now: DateTime<Utc>) -> usize {
        let mut map = self.lock();
        let gone: Vec<String> = map.iter().filter(|(_, e)| e.expires_at <= now).map(|(k, _)| k.clone()).collect();
        for k in &gone {
            map.remove(k);
            if let Some(db) = &self.db {
                db.delete(Table::Nflog, k.clone());
            }
        }
        gone.len()
    }

    /// Number of entries.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}
