//! Replication of the notification log and the silences through the shared bucket.
//!
//! Out: every local change (a log entry written after a successful notification, a
//! silence created, updated or expired) marks its key in the [`Outbox`]; the publisher
//! writes the key's *current* value to the bucket. Marking a key twice before it is
//! written sends it once, and a failed write marks it again, so nothing is lost while the
//! bus is down and memory stays bounded by the state itself.
//!
//! In: the bucket's entries (first its whole content, then every change) are merged
//! into the local log and silences by [`super::merge`]'s rule; merged entries are
//! persisted locally like any other.
//!
//! Keys are KV-safe: `nflog.<digest>` (of group key and receiver), `silence.<digest>`
//! (of the id), `peer.<hex name>`; values are JSON carrying the full local key.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv;
use chrono::Utc;
use lookout_retry::Backoff;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::merge::Merge;
use super::metrics::ClusterMetrics;
use crate::nflog::{self, NotificationLog};
use crate::silence::{Silence, Silences};

/// A piece of local state to publish.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Item {
    /// A notification log entry, by its local key.
    Nflog(String),
    /// A silence, by id.
    Silence(String),
}

impl Item {
    /// Its key in the bucket.
    pub(crate) fn bucket_key(&self) -> String {
        match self {
            Item::Nflog(k) => format!("{NFLOG_PREFIX}{}", digest(k)),
            Item::Silence(id) => format!("{SILENCE_PREFIX}{}", digest(id)),
        }
    }

    fn msg_type(&self) -> &'static str {
        match self {
            Item::Nflog(_) => "nflog",
            Item::Silence(_) => "silence",
        }
    }
}

const NFLOG_PREFIX: &str = "nflog.";
const SILENCE_PREFIX: &str = "silence.";
pub(crate) const PEER_PREFIX: &str = "peer.";

/// 128 bits of SHA-256, hex: KV-safe, and collisions are not a concern at that length.
fn digest(s: &str) -> String {
    Sha256::digest(s.as_bytes())[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The bucket key of a replica's heartbeat.
pub(crate) fn peer_key(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{PEER_PREFIX}{hex}")
}

/// The replica name in a heartbeat key.
pub(crate) fn peer_name(key: &str) -> Option<String> {
    let hex = key.strip_prefix(PEER_PREFIX)?;
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect();
    String::from_utf8(bytes?).ok()
}

/// A replicated log entry.
#[derive(Serialize, Deserialize)]
struct NflogMessage {
    /// The replica that wrote it.
    from: String,
    /// The local key (group key and receiver).
    key: String,
    entry: nflog::Entry,
}

/// A replicated silence.
#[derive(Serialize, Deserialize)]
struct SilenceMessage {
    from: String,
    silence: Silence,
}

/// Keys waiting to be published.
#[derive(Default)]
pub(crate) struct Outbox {
    dirty: Mutex<BTreeSet<Item>>,
    wake: Notify,
}

impl Outbox {
    /// Marks a key for publishing.
    pub(crate) fn mark(&self, item: Item) {
        self.lock().insert(item);
        self.wake.notify_one();
    }

    fn take(&self) -> Vec<Item> {
        std::mem::take(&mut *self.lock()).into_iter().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<Item>> {
        self.dirty.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many keys wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// What the replica replicates, and how.
pub(crate) struct Replicator {
    pub(crate) name: String,
    pub(crate) nflog: Arc<NotificationLog>,
    pub(crate) silences: Arc<Silences>,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) metrics: ClusterMetrics,
}

/// How long one write to the bucket may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

impl Replicator {
    /// The current value of a key, as written to the bucket; `None` if it is gone.
    fn encode(&self, item: &Item) -> Option<Vec<u8>> {
        let from = self.name.clone();
        let v = match item {
            Item::Nflog(key) => {
                let entry = self.nflog.get(key)?;
                serde_json::to_vec(&NflogMessage { from, key: key.clone(), entry })
            }
            Item::Silence(id) => serde_json::to_vec(&SilenceMessage { from, silence: self.silences.get(id)? }),
        };
        v.ok()
    }

    /// Merges one entry of the bucket; `false` if it was not replicated state.
    pub(crate) fn apply(&self, key: &str, value: &[u8]) -> bool {
        let now = Utc::now();
        let (msg_type, from, outcome) = if key.starts_with(NFLOG_PREFIX) {
            let Some(m) = decode::<NflogMessage>(key, value) else { return true };
            let outcome = self.nflog.merge(&m.key, m.entry, now);
            if outcome == Merge::KeepLocal {
                self.outbox.mark(Item::Nflog(m.key));
            }
            ("nflog", m.from, outcome)
        } else if key.starts_with(SILENCE_PREFIX) {
            let Some(m) = decode::<SilenceMessage>(key, value) else { return true };
            let id = m.silence.id.clone();
            let outcome = self.silences.merge(m.silence, now);
            if outcome == Merge::KeepLocal {
                self.outbox.mark(Item::Silence(id));
            }
            ("silence", m.from, outcome)
        } else {
            return false;
        };
        if from != self.name {
            ClusterMetrics::count(&self.metrics.received, msg_type);
        }
        tracing::trace!(key, ?outcome, "Merged a replicated entry.");
        true
    }

    /// After the bucket was read at start: publishes the local entries it did not hold
    /// (state this replica had before it joined, or wrote while cut off).
    pub(crate) fn push_missing(&self, in_bucket: &std::collections::HashSet<String>) {
        for item in self.local_items() {
            if !in_bucket.contains(&item.bucket_key()) {
                self.outbox.mark(item);
            }
        }
    }

    fn local_items(&self) -> impl Iterator<Item = Item> {
        let local = self.nflog.keys().into_iter().map(Item::Nflog);
        local.chain(self.silences.list().into_iter().map(|s| Item::Silence(s.id)))
    }

    /// Writes the whole local state again every `every`, before the bucket's `max_age`
    /// drops what nobody changed (a silence of several weeks).
    pub(crate) async fn refresh(&self, every: Duration, shutdown: &CancellationToken) {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(60)));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            for item in self.local_items() {
                self.outbox.mark(item);
            }
        }
    }

    /// Writes marked keys until `shutdown`; a failed write is kept and retried after a
    /// backoff. At shutdown what is still marked gets one last try.
    pub(crate) async fn publish(&self, store: &kv::Store, shutdown: &CancellationToken) {
        let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut failures = 0u32;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.outbox.wake.notified() => {}
            }
            if self.write_marked(store).await {
                failures = 0;
                continue;
            }
            failures = failures.saturating_add(1);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(backoff.delay(failures)) => {}
            }
        }
        let _ = tokio::time::timeout(WRITE_TIMEOUT, self.write_marked(store)).await;
    }

    /// Writes every marked key; on the first failure marks the rest again and returns
    /// `false`.
    async fn write_marked(&self, store: &kv::Store) -> bool {
        let items = self.outbox.take();
        for (i, item) in items.iter().enumerate() {
            match self.write(store, item).await {
                Ok(()) => ClusterMetrics::count(&self.metrics.sent, item.msg_type()),
                Err(error) => {
                    ClusterMetrics::count(&self.metrics.failed, item.msg_type());
                    tracing::warn!(error, "Cannot replicate to the notifier cluster's bucket; retrying.");
                    for again in &items[i..] {
                        self.outbox.mark(again.clone());
                    }
                    return false;
                }
            }
        }
        true
    }

    /// Writes an item's current value, or purges its key when it is gone locally (the
    /// retention dropped it: no replica needs it any more).
    async fn write(&self, store: &kv::Store, item: &Item) -> Result<(), String> {
        let key = item.bucket_key();
        let done = match self.encode(item) {
            Some(value) => {
                tokio::time::timeout(WRITE_TIMEOUT, async {
                    store.put(key, value.into()).await.map(|_| ()).map_err(|e| e.to_string())
                })
                .await
            }
            None => {
                tokio::time::timeout(WRITE_TIMEOUT, async { store.purge(key).await.map_err(|e| e.to_string()) }).await
            }
        };
        done.unwrap_or_else(|_| Err(format!("no answer within {WRITE_TIMEOUT:?}")))
    }
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, value: &[u8]) -> Option<T> {
    match serde_json::from_slice(value) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(key, error = %e, "Ignoring an unreadable entry of the notifier cluster's bucket.");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nflog::ReceiverKey;
    use crate::silence::SilenceMatcher;

    fn replicator(name: &str) -> Replicator {
        let outbox = Arc::new(Outbox::default());
        let retention = Duration::from_secs(3600);
        Replicator {
            name: name.into(),
            nflog: Arc::new(NotificationLog::new(None, retention, Some(outbox.clone()))),
            silences: Arc::new(Silences::new(None, retention, Some(outbox.clone()))),
            outbox,
            metrics: ClusterMetrics::default(),
        }
    }

    #[test]
    fn keys_are_kv_safe_and_names_round_trip() {
        let ok = |k: &str| k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '='));
        let k = Item::Nflog("{}/{alertname=\"A b\"}:{x=\"\u{0}\"}\u{0}team/webhook/0".into()).bucket_key();
        assert!(ok(&k) && k.len() == "nflog.".len() + 32, "{k}");
        assert!(ok(&Item::Silence("9f1c-…".into()).bucket_key()));
        let name = "lookout-0.lookout.svc:8686";
        assert!(ok(&peer_key(name)));
        assert_eq!(peer_name(&peer_key(name)).as_deref(), Some(name));
        assert_eq!(peer_name("peer.zz"), None);
    }

    /// What one replica logs and silences, another merges; equal entries change nothing
    /// and an older one makes the newer side publish again.
    #[test]
    fn entries_travel_between_replicas() {
        let (a, b) = (replicator("a"), replicator("b"));
        let r = ReceiverKey { receiver: "team".into(), integration: "webhook".into(), index: 0 };
        a.nflog.log("{}:{alertname=\"A\"}", &r, vec![1, 2], vec![], Utc::now());
        let sil = Silence {
            id: String::new(),
            matchers: vec![SilenceMatcher {
                name: "alertname".into(),
                value: "S".into(),
                is_regex: false,
                is_equal: true,
            }],
            starts_at: Utc::now(),
            ends_at: Utc::now() + chrono::Duration::hours(1),
            updated_at: Utc::now(),
            created_by: "me".into(),
            comment: "c".into(),
        };
        let id = a.silences.set(sil, Utc::now()).unwrap();
        let items = a.outbox.take();
        assert_eq!(items.len(), 2, "{items:?}");
        for item in &items {
            assert!(b.apply(&item.bucket_key(), &a.encode(item).unwrap()));
        }
        assert_eq!(b.nflog.get(&b.nflog.keys()[0]).unwrap().firing, vec![1, 2]);
        assert_eq!(b.silences.get(&id).unwrap().matchers[0].value, "S");
        // Merging does not echo.
        assert_eq!(b.outbox.len(), 0);
        // The same again: nothing.
        for item in &items {
            b.apply(&item.bucket_key(), &a.encode(item).unwrap());
        }
        assert_eq!(b.outbox.len(), 0);
        // b expires the silence; a's older copy arriving at b makes b publish its own.
        let stale = a.encode(&Item::Silence(id.clone())).unwrap();
        b.silences.expire(&id, Utc::now() + chrono::Duration::milliseconds(5)).unwrap();
        b.outbox.take();
        b.apply(&Item::Silence(id.clone()).bucket_key(), &stale);
        assert_eq!(b.outbox.take(), vec![Item::Silence(id.clone())]);
        // ... and a takes b's newer one.
        let newer = b.encode(&Item::Silence(id.clone())).unwrap();
        a.apply(&Item::Silence(id.clone()).bucket_key(), &newer);
        assert_eq!(a.silences.get(&id), b.silences.get(&id));
        // Unknown keys and garbage are ignored.
        assert!(!a.apply("peer.61", b"{}"));
        assert!(a.apply("nflog.00", b"not json"));
    }
}
