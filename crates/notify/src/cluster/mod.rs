//! The notifier cluster: several Lookout replicas receive the same alerts (every rule
//! evaluator or Prometheus sends to all of them) and notify once, with Alertmanager's
//! HA algorithm over a JetStream key-value bucket instead of gossip.
//!
//! - [`peers`]: each replica heartbeats its own key; the live peers are those heard of
//!   recently, and its position is its index among their sorted names.
//! - [`replicate`]: the notification log and the silences are written to the bucket and
//!   merged from it (newer wins, [`merge`]), so a silence made on one replica mutes on
//!   all and a notification one replica sent is in every replica's log.
//! - The pipeline ([`crate::pipeline`]) waits for the bucket's content to be read at
//!   start (settle), then before notifying a group waits position × `peer_timeout` and
//!   lets the dedup stage skip what the log shows another replica sent.
//!
//! Failure: a replica that cannot reach the bucket acts alone at position 0 and sends
//! (a duplicate is better than a missed page), warns, and shows `bus_up 0` in its
//! metrics; what it wrote meanwhile is published once the bus is back.

pub(crate) mod config;
pub(crate) mod merge;
mod metrics;
pub(crate) mod peers;
pub(crate) mod replicate;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv;
use chrono::Utc;
use futures::StreamExt;
use lookout_cluster::KvConfig;
use lookout_retry::Backoff;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::{ClusterConfig, cluster_config, default_peer_name};
pub(crate) use metrics::ClusterMetrics;
use peers::{Heartbeat, Peers};
pub(crate) use replicate::Replicator;
pub(crate) use replicate::{Item, Outbox};
use replicate::{PEER_PREFIX, peer_key, peer_name};

/// What a notifier needs to join a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `alerting.cluster`.
    pub config: ClusterConfig,
    /// Where this replica is reachable (shown by `/api/v2/status`); also its name when
    /// the config names none.
    pub address: String,
}

/// This replica's view of the cluster.
pub(crate) struct Cluster {
    name: String,
    address: String,
    peer_timeout: Duration,
    heartbeat_interval: Duration,
    peers: Mutex<Peers>,
    settled: tokio::sync::watch::Sender<bool>,
    bus_up: AtomicBool,
    metrics: ClusterMetrics,
}

impl Cluster {
    pub(crate) fn new(opts: &ClusterOptions, metrics: ClusterMetrics) -> Arc<Cluster> {
        let name = opts.config.name.clone().unwrap_or_else(|| opts.address.clone());
        metrics.enabled.set(1);
        metrics.members.set(1);
        Arc::new(Cluster {
            peers: Mutex::new(Peers::new(name.clone(), opts.address.clone(), opts.config.dead_after())),
            name,
            address: opts.address.clone(),
            peer_timeout: opts.config.peer_timeout.0,
            heartbeat_interval: opts.config.heartbeat_interval.0,
            settled: tokio::sync::watch::channel(false).0,
            bus_up: AtomicBool::new(false),
            metrics,
        })
    }

    fn peers(&self) -> std::sync::MutexGuard<'_, Peers> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This replica's position; 0 while the bus is unreachable (it then acts alone).
    pub(crate) fn position(&self) -> usize {
        if !self.bus_up.load(Ordering::Relaxed) {
            return 0;
        }
        self.peers().position(Instant::now())
    }

    /// How long a flush waits before reading the log: position × peer timeout.
    pub(crate) fn wait(&self) -> Duration {
        peers::wait_for(self.position(), self.peer_timeout)
    }

    /// Returns once the bucket's content was read at start (or the settle timeout
    /// passed); `false` if `cancel` came first.
    pub(crate) async fn settled(&self, cancel: &CancellationToken) -> bool {
        let mut rx = self.settled.subscribe();
        tokio::select! {
            r = rx.wait_for(|s| *s) => r.is_ok(),
            _ = cancel.cancelled() => false,
        }
    }

    fn settle(&self, why: &str) {
        if !*self.settled.borrow() {
            tracing::info!(peer = %self.name, why, "Notifier cluster settled.");
            self.settled.send_replace(true);
        }
    }

    /// `cluster` of `/api/v2/status` (Alertmanager's `ClusterStatus`).
    pub(crate) fn status(&self) -> Value {
        let status = if *self.settled.borrow() { "ready" } else { "settling" };
        let peers: Vec<Value> = self
            .peers()
            .live(Instant::now())
            .into_iter()
            .map(|p| json!({ "name": p.name, "address": p.address }))
            .collect();
        json!({ "name": self.name, "status": status, "peers": peers })
    }

    /// Joins the cluster in the background until `shutdown`: connects (retrying), reads
    /// the bucket, then heartbeats, watches and publishes. Flushes wait for the read at
    /// most `settle_timeout`. Bucket entries live for `retention` unless written again;
    /// every replica writes its whole state again a few times per retention, so a
    /// replica that starts empty still finds long silences.
    pub(crate) fn start(
        self: &Arc<Self>,
        cfg: &ClusterConfig,
        repl: Replicator,
        retention: Duration,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let me = self.clone();
        let settle_timeout = cfg.settle_timeout();
        tokio::spawn(async move {
            let mut rx = me.settled.subscribe();
            tokio::select! {
                _ = tokio::time::sleep(settle_timeout) => {
                    if !*me.settled.borrow() {
                        tracing::warn!(timeout = ?settle_timeout, "The notifier cluster's state could not be read in time; notifying without it.");
                        me.settle("settle timeout");
                    }
                }
                _ = rx.wait_for(|s| *s) => {}
            }
        });
        let me = self.clone();
        let kv = cfg.nats.clone();
        async move { me.run(kv, repl, retention, shutdown).await }
    }

    /// The replication half, for [`Cluster::start`].
    pub(crate) fn replicator(
        &self,
        nflog: Arc<crate::nflog::NotificationLog>,
        silences: Arc<crate::silence::Silences>,
        outbox: Arc<Outbox>,
    ) -> Replicator {
        Replicator { name: self.name.clone(), nflog, silences, outbox, metrics: self.metrics.clone() }
    }

    async fn run(self: Arc<Self>, kv: KvConfig, repl: Replicator, retention: Duration, shutdown: CancellationToken) {
        let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(15));
        let mut failures = 0u32;
        let client_name = format!("lookout-notifier {}", self.name);
        let store = loop {
            let opened = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = kv.open(&client_name, 1, retention) => r,
            };
            match opened {
                Ok(store) => break store,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 {
                        tracing::warn!(error = %e, "Cannot open the notifier cluster's bucket; acting alone until it can.");
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff.delay(failures)) => {}
                    }
                }
            }
        };
        tokio::join!(
            self.heartbeats(&store, &shutdown),
            self.watch(&store, &repl, &shutdown),
            repl.publish(&store, &shutdown),
            repl.refresh(retention / 4, &shutdown),
        );
        // Goodbye: the others reposition at once instead of after the dead interval.
        let _ = tokio::time::timeout(Duration::from_secs(1), store.delete(peer_key(&self.name))).await;
    }

    async fn heartbeats(&self, store: &kv::Store, shutdown: &CancellationToken) {
        let mut tick = tokio::time::interval(self.heartbeat_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let key = peer_key(&self.name);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let hb = Heartbeat { name: self.name.clone(), address: self.address.clone(), timestamp: Utc::now() };
            let value = serde_json::to_vec(&hb).unwrap_or_default();
            let limit = self.heartbeat_interval.max(Duration::from_secs(1));
            let up = matches!(tokio::time::timeout(limit, store.put(&key, value.into())).await, Ok(Ok(_)));
            let was_up = self.bus_up.swap(up, Ordering::Relaxed);
            if up {
                ClusterMetrics::count(&self.metrics.sent, "heartbeat");
            } else {
                ClusterMetrics::count(&self.metrics.failed, "heartbeat");
            }
            if was_up && !up {
                tracing::warn!(
                    "The notifier cluster's bucket is unreachable; acting alone at position 0 (duplicates possible)."
                );
            } else if up && !was_up {
                tracing::info!(peer = %self.name, "Notifier cluster bucket reachable.");
            }
            self.metrics.bus_up.set(i64::from(up));
            let now = Instant::now();
            let members = self.peers().live(now).len();
            self.metrics.members.set(members as i64);
            self.metrics.position.set(self.position() as i64);
        }
    }

    /// Follows the bucket: first its whole content (then the replica is settled), then
    /// every change. A broken watch is opened again, reading everything anew (merging is
    /// idempotent).
    async fn watch(&self, store: &kv::Store, repl: &Replicator, shutdown: &CancellationToken) {
        let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut failures = 0u32;
        let mut in_bucket: Option<HashSet<String>> = Some(HashSet::new());
        loop {
            let watch = tokio::select! {
                _ = shutdown.cancelled() => return,
                w = store.watch_with_history(">") => w,
            };
            match watch {
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 {
                        tracing::warn!(error = %e, "Cannot watch the notifier cluster's bucket; retrying.");
                    }
                }
                Ok(mut entries) => {
                    failures = 0;
                    if in_bucket.is_some()
                        && let Ok(info) = store.stream.get_info().await
                        && info.state.messages == 0
                    {
                        self.settle_after_read(repl, &mut in_bucket);
                    }
                    loop {
                        let next = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            e = entries.next() => e,
                        };
                        match next {
                            Some(Ok(entry)) => {
                                if let Some(seen) = in_bucket.as_mut() {
                                    seen.insert(entry.key.clone());
                                }
                                self.apply(&entry, repl);
                                if entry.delta == 0 {
                                    self.settle_after_read(repl, &mut in_bucket);
                                }
                            }
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "The notifier cluster's bucket watch broke; watching again.");
                                break;
                            }
                            None => break,
                        }
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff.delay(failures.max(1))) => {}
            }
        }
    }

    /// The bucket's content is read: publish what only this replica holds, and let
    /// flushes go.
    fn settle_after_read(&self, repl: &Replicator, in_bucket: &mut Option<HashSet<String>>) {
        if let Some(seen) = in_bucket.take() {
            repl.push_missing(&seen);
        }
        self.settle("bucket read");
    }

    fn apply(&self, entry: &kv::Entry, repl: &Replicator) {
        let deleted = matches!(entry.operation, kv::Operation::Delete | kv::Operation::Purge);
        if entry.key.starts_with(PEER_PREFIX) {
            if deleted {
                if let Some(name) = peer_name(&entry.key) {
                    self.peers().left(&name);
                }
                return;
            }
            match serde_json::from_slice::<Heartbeat>(&entry.value) {
                Ok(hb) => {
                    if hb.name != self.name {
                        ClusterMetrics::count(&self.metrics.received, "heartbeat");
                    }
                    self.peers().heard(hb, Instant::now(), Utc::now());
                }
                Err(e) => tracing::warn!(key = %entry.key, error = %e, "Ignoring an unreadable heartbeat."),
            }
            return;
        }
        // Entries are dropped by each replica's own retention, not through the bucket.
        if !deleted && !repl.apply(&entry.key, &entry.value) {
            tracing::debug!(key = %entry.key, "Ignoring an unknown key in the notifier cluster's bucket.");
        }
    }
}
