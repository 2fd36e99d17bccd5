//! A leader lease in a JetStream key-value bucket: of the processes contending for one
//! key, at most one believes it holds the lease at any moment, and a holder that dies is
//! replaced within the lease's TTL.
//!
//! nats-server 2.9 has no per-message TTL, so the lease is built on key revisions alone:
//! - the key's value names the holder and carries its TTL and an expiry timestamp (for
//!   people reading the bucket; contenders do not trust clocks of other machines);
//! - a contender takes a missing or released key with `create`, and an abandoned one with
//!   `update(key, value, revision)` — compare-and-set on the revision it read — once that
//!   revision has stayed unchanged for the holder's TTL **as measured on its own clock**
//!   (the way Kubernetes' client-go leader election does it), so clock skew between
//!   machines cannot make two holders;
//! - the holder renews with the same compare-and-set every `renew_interval`. It counts
//!   itself leader only until `start of its last successful renewal + ttl − margin`: a
//!   renewal that cannot reach the bus steps it down before any contender can take over,
//!   and a compare-and-set conflict (someone else wrote the key) steps it down at once.
//!
//! A contender reads the key every `renew_interval`; the takeover after a holder's death
//! therefore happens between `ttl` and `ttl + 2 × renew_interval` after its last renewal.
//! [`Lease::release`] hands the key over at once (an empty holder), for clean shutdowns.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::kv;
use lookout_config::PromDuration;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::KvConfig;

/// `lease:` — where the lease lives and how long it lasts.
///
/// ```yaml
/// lease: { nats: { url: nats://127.0.0.1:4222, bucket: lookout-scaler }, ttl: 15s }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    /// The bucket holding the lease (shared by every contender).
    pub nats: KvConfig,
    /// How long a holder that stops renewing keeps the lease (default 15s).
    #[serde(default = "default_ttl")]
    pub ttl: PromDuration,
    /// How often the holder renews and contenders look (default a third of `ttl`).
    #[serde(default)]
    pub renew_interval: Option<PromDuration>,
    /// This process's name in the lease (default `$HOSTNAME-<pid>-<random>`: unique per
    /// process start, so a restarted pod never mistakes its predecessor's lease for its own).
    #[serde(default)]
    pub holder: Option<String>,
}

fn default_ttl() -> PromDuration {
    PromDuration(Duration::from_secs(15))
}

impl LeaseConfig {
    /// Checks that the keys fit together; the message is for the user.
    pub fn check(&self) -> Result<(), String> {
        self.nats.check().map_err(|e| format!("nats: {e}"))?;
        if self.ttl.0 < Duration::from_secs(1) {
            return Err("`ttl` must be at least 1s".into());
        }
        if self.renew_interval().is_zero() || self.renew_interval() * 2 > self.ttl.0 {
            return Err("`renew_interval` must be greater than 0 and at most half of `ttl`".into());
        }
        if self.holder.as_ref().is_some_and(|h| h.trim().is_empty()) {
            return Err("`holder` must not be empty".into());
        }
        Ok(())
    }

    /// The renewal interval (default a third of `ttl`).
    pub fn renew_interval(&self) -> Duration {
        self.renew_interval.map(|d| d.0).unwrap_or(self.ttl.0 / 3)
    }

    /// The holder name: `holder`, or one made unique for this process.
    pub fn holder(&self) -> String {
        self.holder.clone().unwrap_or_else(default_holder)
    }
}

fn default_holder() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "lookout".into());
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{host}-{}-{nanos:08x}", std::process::id())
}

/// What a contender knows, published on [`Lease::status`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseStatus {
    /// This process holds the lease (and its renewal deadline has not passed).
    pub leader: bool,
    /// Who holds it, as last read (`None`: nobody, or not read yet).
    pub holder: Option<String>,
}

/// The value stored under the key.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// Empty: released.
    holder: String,
    /// The holder's TTL: contenders wait this long for a renewal.
    ttl_ms: u64,
    /// When the holder wrote it, unix ms (informational).
    renewed_unix_ms: u64,
    /// `renewed_unix_ms + ttl_ms` (informational: contenders use their own clock).
    expires_unix_ms: u64,
}

/// Timing of one lease.
#[derive(Debug, Clone, Copy)]
struct Timing {
    ttl: Duration,
    renew: Duration,
    /// The holder stops counting itself leader this long before its lease could expire
    /// in a contender's eyes (clock rate differences, scheduling delays).
    margin: Duration,
}

/// A running contender for one key; dropping it abandons the lease without releasing it
/// (as a crash would), [`Lease::release`] hands it over.
pub struct Lease {
    status: watch::Receiver<LeaseStatus>,
    holder: String,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Lease {
    /// Starts contending for `key` in `store` as `holder`. Call inside a Tokio runtime.
    pub fn start(store: kv::Store, key: &str, holder: String, ttl: Duration, renew_interval: Duration) -> Lease {
        let timing = Timing { ttl, renew: renew_interval, margin: (ttl / 5).max(Duration::from_millis(100)) };
        let (tx, status) = watch::channel(LeaseStatus::default());
        let shutdown = CancellationToken::new();
        let contender = Contender { store, key: key.to_string(), holder: holder.clone(), timing, status: tx };
        let task = tokio::spawn(contender.run(shutdown.clone()));
        Lease { status, holder, shutdown, task: Some(task) }
    }

    /// Opens the bucket of `config` and starts contending for `key` in it.
    pub async fn open(config: &LeaseConfig, key: &str) -> Result<Lease, String> {
        let holder = config.holder();
        let store = config.nats.open(&format!("lookout lease {holder}"), 1, Duration::ZERO).await?;
        Ok(Lease::start(store, key, holder, config.ttl.0, config.renew_interval()))
    }

    /// This process's name in the lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Leadership and the current holder; changes as they do.
    pub fn status(&self) -> watch::Receiver<LeaseStatus> {
        self.status.clone()
    }

    /// Holds the lease now.
    pub fn is_leader(&self) -> bool {
        self.status.borrow().leader
    }

    /// Stops contending; a holder releases the key so another contender takes over at once.
    pub async fn release(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct Contender {
    store: kv::Store,
    key: String,
    holder: String,
    timing: Timing,
    status: watch::Sender<LeaseStatus>,
}

/// Where a contender stands.
enum Role {
    /// Watching the key: the revision last seen and when it was first seen; `pause`:
    /// wait `renew_interval` before the next look.
    Follower { seen: Option<(u64, Instant)>, pause: bool },
    /// Holding it at `revision` until `deadline` unless renewed.
    Leader { revision: u64, deadline: Instant, next_renewal: Instant },
}

impl Contender {
    async fn run(self, shutdown: CancellationToken) {
        let mut role = Role::Follower { seen: None, pause: false };
        loop {
            role = match role {
                Role::Follower { seen, pause } => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        r = self.follow(seen, pause) => r,
                    }
                }
                Role::Leader { revision, deadline, next_renewal } => {
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            self.release(revision).await;
                            return;
                        }
                        _ = tokio::time::sleep_until(deadline) => {
                            tracing::warn!(key = %self.key, "Could not renew the lease in time; no longer the leader.");
                            self.publish(false, None);
                            Role::Follower { seen: None, pause: false }
                        }
                        r = self.renew_at(revision, deadline, next_renewal) => r,
                    }
                }
            };
        }
    }

    /// One look at the key (after `renew_interval` if `pause`); takes it when free,
    /// released, or unchanged for its holder's TTL.
    async fn follow(&self, seen: Option<(u64, Instant)>, pause: bool) -> Role {
        if pause {
            tokio::time::sleep(self.timing.renew).await;
        }
        let entry = match self.bounded(self.store.entry(self.key.as_str())).await {
            Ok(entry) => entry,
            Err(e) => {
                tracing::debug!(key = %self.key, error = %e, "Cannot read the lease.");
                return Role::Follower { seen, pause: true };
            }
        };
        let now = Instant::now();
        let (revision, record) = match entry {
            None => return self.take(None).await.unwrap_or(Role::Follower { seen: None, pause: true }),
            Some(e) if e.operation != kv::Operation::Put => (e.revision, None),
            Some(e) => (e.revision, serde_json::from_slice::<Record>(&e.value).ok()),
        };
        let (free, ttl) = match &record {
            Some(r) if !r.holder.is_empty() => (false, Duration::from_millis(r.ttl_ms).max(self.timing.ttl)),
            // Released, deleted, or not ours to read: free (a garbage value is overwritten).
            _ => (true, self.timing.ttl),
        };
        let holder = record.as_ref().map(|r| r.holder.clone()).filter(|h| !h.is_empty());
        let seen_at = match seen {
            Some((r, at)) if r == revision => at,
            _ => {
                self.publish(false, holder.clone());
                now
            }
        };
        if free || now.duration_since(seen_at) >= ttl {
            if !free {
                tracing::info!(key = %self.key, previous = ?holder, "The lease was not renewed for its TTL; taking it over.");
            }
            if let Some(leader) = self.take(Some(revision)).await {
                return leader;
            }
        }
        Role::Follower { seen: Some((revision, seen_at)), pause: true }
    }

    /// Writes this holder into the key: `create` when absent, compare-and-set on
    /// `revision` otherwise. `None` when another contender was faster or the bus failed.
    async fn take(&self, revision: Option<u64>) -> Option<Role> {
        let started = Instant::now();
        let value = self.record(&self.holder).into();
        let written = match revision {
            None => self.bounded(self.store.create(self.key.as_str(), value)).await,
            Some(r) => self.bounded(self.store.update(self.key.as_str(), value, r)).await,
        };
        match written {
            Ok(revision) => {
                tracing::info!(key = %self.key, holder = %self.holder, "Acquired the lease; now the leader.");
                self.publish(true, Some(self.holder.clone()));
                Some(self.leading(revision, started))
            }
            Err(e) => {
                tracing::debug!(key = %self.key, error = %e, "Did not acquire the lease.");
                None
            }
        }
    }

    /// Renews at `next_renewal`; a failure that is not a conflict is retried until the
    /// deadline (which `run` enforces).
    async fn renew_at(&self, revision: u64, deadline: Instant, next_renewal: Instant) -> Role {
        tokio::time::sleep_until(next_renewal).await;
        let started = Instant::now();
        match self.store.update(self.key.as_str(), self.record(&self.holder).into(), revision).await {
            Ok(revision) => self.leading(revision, started),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                tracing::warn!(key = %self.key, "The lease was taken by another process; no longer the leader.");
                self.publish(false, None);
                Role::Follower { seen: None, pause: false }
            }
            Err(e) => {
                tracing::warn!(key = %self.key, error = %e, "Cannot renew the lease; retrying until it expires.");
                let retry = Instant::now() + (self.timing.renew / 4).max(Duration::from_millis(50));
                Role::Leader { revision, deadline, next_renewal: retry }
            }
        }
    }

    fn leading(&self, revision: u64, written_from: Instant) -> Role {
        Role::Leader {
            revision,
            deadline: written_from + self.timing.ttl - self.timing.margin,
            next_renewal: written_from + self.timing.renew,
        }
    }

    /// Hands the key over: an empty holder, compare-and-set so a lease already lost is
    /// left alone.
    async fn release(&self, revision: u64) {
        match self.bounded(self.store.update(self.key.as_str(), self.record("").into(), revision)).await {
            Ok(_) => tracing::info!(key = %self.key, "Released the lease."),
            Err(e) => {
                tracing::warn!(key = %self.key, error = %e, "Cannot release the lease; it expires after its TTL.")
            }
        }
        self.publish(false, None);
    }

    /// The value naming `holder` (empty: released).
    fn record(&self, holder: &str) -> Vec<u8> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        let ttl_ms = self.timing.ttl.as_millis() as u64;
        let record = Record { holder: holder.to_string(), ttl_ms, renewed_unix_ms: now, expires_unix_ms: now + ttl_ms };
        serde_json::to_vec(&record).unwrap_or_default()
    }

    fn publish(&self, leader: bool, holder: Option<String>) {
        self.status.send_if_modified(|s| {
            let next = LeaseStatus { leader, holder };
            let changed = *s != next;
            *s = next;
            changed
        });
    }

    /// One bus operation, given at most `renew_interval` (the client's own timeout is
    /// longer than a short TTL).
    async fn bounded<T, E: std::fmt::Display>(&self, op: impl Future<Output = Result<T, E>>) -> Result<T, String> {
        match tokio::time::timeout(self.timing.renew, op).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }
}

#[cfg(test)]
mod tests;
