//! A map kept in memory and written through to one table of the state database: what
//! silences and the notification log share. Memory is authoritative; every insert and
//! removal is queued to the writer in order, the rows read at open restore it, and
//! entries past their retention are dropped by [`PersistedMap::gc`].
//!
//! With [`Durability::Committed`] a change is acknowledged only once its redb transaction
//! has committed (fsync): an accepted silence survives a crash that follows the API's 200.
//! The wait happens after the map's lock is released, so readers (the mute stage) never
//! wait on the disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StateError;
use crate::persist::{StateDb, Table};

/// When an entry may be dropped.
pub(crate) trait Retained {
    /// The instant after which the entry is garbage, given the map's retention.
    fn expires_at(&self, retention: ChronoDuration) -> DateTime<Utc>;
}

/// When a change made through a [`Guard`] counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Queued for the writer; committed with the next batch.
    Queued,
    /// [`Guard::commit`] waits until the writer committed it to disk.
    Committed,
}

/// Where a map writes through to.
pub(crate) struct Backing {
    db: Arc<StateDb>,
    table: Table,
    durability: Durability,
}

impl Backing {
    pub(crate) fn new(db: Arc<StateDb>, table: Table, durability: Durability) -> Backing {
        Backing { db, table, durability }
    }
}

/// The map, keyed by string (the table's key).
pub(crate) struct PersistedMap<V> {
    entries: Mutex<HashMap<String, V>>,
    backing: Option<Backing>,
    retention: ChronoDuration,
}

impl<V: Serialize + DeserializeOwned + Retained> PersistedMap<V> {
    /// An empty map; `None` keeps it in memory only (tests).
    pub(crate) fn new(backing: Option<Backing>, retention: std::time::Duration) -> PersistedMap<V> {
        PersistedMap {
            entries: Mutex::new(HashMap::new()),
            backing,
            retention: ChronoDuration::from_std(retention).unwrap_or(ChronoDuration::hours(120)),
        }
    }

    /// How long entries are kept past their own end.
    pub(crate) fn retention(&self) -> ChronoDuration {
        self.retention
    }

    /// Loads the rows read at open; rows that do not decode are skipped with a warning
    /// naming `what` they are.
    pub(crate) fn restore(&self, rows: Vec<(String, Vec<u8>)>, what: &str) {
        let mut map = self.lock_entries();
        for (key, v) in rows {
            match serde_json::from_slice::<V>(&v) {
                Ok(e) => {
                    map.insert(key, e);
                }
                Err(e) => tracing::warn!(key, error = %e, "Skipping an unreadable persisted {what}."),
            }
        }
    }

    fn lock_entries(&self) -> MutexGuard<'_, HashMap<String, V>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Exclusive access for a read-modify-write; see [`Guard`].
    pub(crate) fn lock(&self) -> Guard<'_, V> {
        Guard { map: self, entries: self.lock_entries(), changed: false }
    }

    /// Reads the entries under the lock.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&HashMap<String, V>) -> R) -> R {
        f(&self.lock_entries())
    }

    /// Drops the entries whose retention is over; returns their keys.
    pub(crate) fn gc(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut map = self.lock_entries();
        let gone: Vec<String> =
            map.iter().filter(|(_, e)| e.expires_at(self.retention) <= now).map(|(k, _)| k.clone()).collect();
        for k in &gone {
            map.remove(k);
            if let Some(b) = &self.backing {
                b.db.delete(b.table, k.clone());
            }
        }
        gone
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.lock_entries().len()
    }
}

/// The locked map. Inserts are written through in order; [`Guard::commit`] releases the
/// lock and, for a [`Durability::Committed`] map, waits until they are on disk. Dropping
/// the guard without `commit` leaves them queued.
pub(crate) struct Guard<'a, V> {
    map: &'a PersistedMap<V>,
    entries: MutexGuard<'a, HashMap<String, V>>,
    changed: bool,
}

impl<V: Serialize> Guard<'_, V> {
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key)
    }

    /// Stores `value` under `key`, in memory and (queued) on disk.
    pub(crate) fn insert(&mut self, key: String, value: V) {
        if let Some(b) = &self.map.backing {
            match serde_json::to_vec(&value) {
                Ok(v) => {
                    b.db.put(b.table, key.clone(), v);
                    self.changed = true;
                }
                // Our own types always serialize; kept in memory regardless.
                Err(e) => tracing::error!(key, error = %e, "Failed to encode notifier state."),
            }
        }
        self.entries.insert(key, value);
    }

    /// Releases the lock; with [`Durability::Committed`], returns once what this guard
    /// changed is committed to disk.
    pub(crate) fn commit(self) -> Result<(), StateError> {
        let Guard { map, entries, changed } = self;
        drop(entries);
        match &map.backing {
            Some(b) if changed && b.durability == Durability::Committed => b.db.flush(),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Item {
        ends_at: DateTime<Utc>,
    }

    impl Retained for Item {
        fn expires_at(&self, retention: ChronoDuration) -> DateTime<Utc> {
            self.ends_at + retention
        }
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn open(dir: &std::path::Path) -> (Arc<StateDb>, crate::persist::Loaded) {
        let (db, loaded) = StateDb::open(dir).unwrap();
        (Arc::new(db), loaded)
    }

    #[test]
    fn committed_changes_survive_reopen_and_gc_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let retention = std::time::Duration::from_secs(10);
        let (db, _) = open(dir.path());
        let m = PersistedMap::<Item>::new(
            Some(Backing::new(db.clone(), Table::Silences, Durability::Committed)),
            retention,
        );
        let mut g = m.lock();
        g.insert("a".into(), Item { ends_at: t(0) });
        g.insert("b".into(), Item { ends_at: t(100) });
        g.commit().unwrap();
        // Committed before `commit` returned: a second reader sees both rows on disk.
        assert_eq!(read_rows(dir.path()).len(), 2);
        assert_eq!(m.gc(t(10)), ["a"]);
        assert_eq!(m.len(), 1);
        db.close();

        let (db, loaded) = open(dir.path());
        let m =
            PersistedMap::<Item>::new(Some(Backing::new(db.clone(), Table::Silences, Durability::Queued)), retention);
        m.restore(loaded.silences, "item");
        assert_eq!(m.read(|e| e.keys().cloned().collect::<Vec<_>>()), ["b"]);
        assert_eq!(m.lock().get("b"), Some(&Item { ends_at: t(100) }));
        db.close();
    }

    #[test]
    fn unreadable_rows_are_skipped() {
        let m = PersistedMap::<Item>::new(None, std::time::Duration::from_secs(1));
        m.restore(
            vec![("x".into(), b"not json".to_vec()), ("y".into(), br#"{"ends_at":"2024-01-01T00:00:00Z"}"#.to_vec())],
            "item",
        );
        assert_eq!(m.len(), 1);
        assert!(m.lock().commit().is_ok());
    }

    /// The silences table as another process would read it (the writer is closed).
    fn read_rows(dir: &std::path::Path) -> Vec<String> {
        use redb::{ReadableDatabase, ReadableTable};
        // redb allows one open handle per file per process; read through a copy.
        let copy = dir.join("copy.redb");
        std::fs::copy(dir.join("notify.redb"), &copy).unwrap();
        let db = redb::Database::open(&copy).unwrap();
        let r = db.begin_read().unwrap();
        let t = r.open_table(redb::TableDefinition::<&str, &[u8]>::new("silences")).unwrap();
        t.iter().unwrap().map(|row| row.unwrap().0.value().to_string()).collect()
    }
}
