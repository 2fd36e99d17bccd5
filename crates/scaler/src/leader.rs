//! Which replica actuates. With `lease:` in a policy file, every Lookout replica evaluates
//! its scalers (so `/api/v1/scaler` and the metrics stay useful on each) but only the
//! holder of the lease ([`lookout_cluster::Lease`]) hands decisions to actuators; the
//! others record theirs with the reason `NotLeader`.
//!
//! The holder writes each scaler's memory — the HPA recommendations and scale events
//! behind stabilisation windows and `behavior` periods, step cooldowns, alert bases — and
//! its recent decisions to the lease's bucket after every evaluation (key
//! `history.<scaler>`). A replica that becomes the holder loads them before its first
//! actuation, so a scale-down window that began under the previous leader still holds.
//! Until it has loaded them it does not actuate.
//!
//! Without `lease:` the process is always the leader.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use lookout_cluster::{Lease, LeaseConfig};
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::engine::Scaler;
use crate::history::Persisted;

/// The lease's key in the bucket.
const LEASE_KEY: &str = "leader";
/// Decisions handed to the next leader with the memory (the API shows them).
const HANDED_OVER: usize = 50;

/// Leadership as `/api/v1/scaler` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LeaderView {
    /// A lease is configured.
    pub lease: bool,
    /// This process actuates.
    pub leader: bool,
    /// This process's name in the lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Who holds the lease, as last read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

/// The engine's side of the lease.
pub(crate) struct Leadership {
    lease: Option<LeaseConfig>,
    identity: Option<String>,
    acting: watch::Sender<bool>,
    holder: Mutex<Option<String>>,
    bucket: OnceLock<kv::Store>,
    gauge: Gauge,
}

impl Leadership {
    pub(crate) fn new(lease: Option<LeaseConfig>) -> Leadership {
        let identity = lease.as_ref().map(LeaseConfig::holder);
        let (acting, _) = watch::channel(lease.is_none());
        let gauge = Gauge::default();
        gauge.set(i64::from(lease.is_none()));
        Leadership { lease, identity, acting, holder: Mutex::new(None), bucket: OnceLock::new(), gauge }
    }

    /// This process may actuate now.
    pub(crate) fn acting(&self) -> bool {
        *self.acting.borrow()
    }

    /// Resolves once this process may no longer actuate.
    pub(crate) async fn lost(&self) {
        let mut rx = self.acting.subscribe();
        let _ = rx.wait_for(|a| !a).await;
    }

    /// `lookout_scaler_leader`.
    pub(crate) fn gauge(&self) -> Gauge {
        self.gauge.clone()
    }

    pub(crate) fn view(&self) -> LeaderView {
        LeaderView {
            lease: self.lease.is_some(),
            leader: self.acting(),
            identity: self.identity.clone(),
            holder: self.holder.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Why a decision made now is not actuated, if it is not.
    pub(crate) fn not_leader_reason(&self) -> Option<String> {
        if self.acting() {
            return None;
        }
        let holder = self.holder.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(match holder {
            Some(h) => format!("not the scaler leader (the lease is held by {h}): decided, not actuated"),
            None => "not the scaler leader (no holder known yet): decided, not actuated".into(),
        })
    }

    /// Hands `name`'s memory to a future leader (the leader calls it after evaluating).
    pub(crate) async fn save(&self, name: &str, persisted: &Persisted) {
        let (Some(bucket), Some(lease)) = (self.bucket.get(), &self.lease) else { return };
        let mut handed = persisted.clone();
        let drop = handed.history.len().saturating_sub(HANDED_OVER);
        handed.history.drain(..drop);
        let Ok(body) = serde_json::to_vec(&handed) else { return };
        let put = bucket.put(history_key(name), body.into());
        match tokio::time::timeout(lease.renew_interval(), put).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(scaler = %name, error = %e, "Cannot save the scaler's memory to the lease bucket.");
            }
            Err(_) => tracing::warn!(scaler = %name, "Saving the scaler's memory to the lease bucket timed out."),
        }
    }

    fn set_acting(&self, acting: bool) {
        self.gauge.set(i64::from(acting));
        self.acting.send_if_modified(|a| std::mem::replace(a, acting) != acting);
    }
}

/// Contends for the lease until `shutdown` (then releases it), switching the engine
/// between leader and follower. Returns at once without `lease:`.
pub(crate) async fn run(scaler: Arc<Scaler>, shutdown: CancellationToken) {
    let me = scaler.leadership();
    let (Some(config), Some(identity)) = (me.lease.clone(), me.identity.clone()) else { return };
    let mut backoff = Duration::from_millis(500);
    let client_name = format!("lookout scaler {identity}");
    let bucket = loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = config.nats.open(&client_name, 1, Duration::ZERO) => match r {
                Ok(bucket) => break bucket,
                Err(e) => tracing::warn!(error = %e, "Cannot open the scaler's lease bucket; retrying."),
            },
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    };
    let _ = me.bucket.set(bucket.clone());
    let lease = Lease::start(bucket.clone(), LEASE_KEY, identity, config.ttl.0, config.renew_interval());
    let mut status = lease.status();
    loop {
        let now = status.borrow_and_update().clone();
        *me.holder.lock().unwrap_or_else(|e| e.into_inner()) = now.holder.clone();
        if !now.leader {
            me.set_acting(false);
        } else if !me.acting() {
            match load(&bucket, &scaler, config.renew_interval()).await {
                Ok(memory) => {
                    let n = memory.len();
                    scaler.adopt(memory);
                    if lease.is_leader() {
                        tracing::info!(scalers = n, "Scaler leader: took over the decision history; actuating.");
                        me.set_acting(true);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot load the previous leader's scaler memory; not actuating yet.");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(config.renew_interval()) => continue,
                    }
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            r = status.changed() => if r.is_err() { break },
        }
    }
    me.set_acting(false);
    lease.release().await;
}

/// The memory the last leader saved, per configured scaler that has one.
async fn load(bucket: &kv::Store, scaler: &Scaler, timeout: Duration) -> Result<BTreeMap<String, Persisted>, String> {
    let mut out = BTreeMap::new();
    for p in scaler.policies() {
        let got = tokio::time::timeout(timeout, bucket.get(history_key(&p.name)))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        if let Some(body) = got {
            match serde_json::from_slice::<Persisted>(&body) {
                Ok(memory) => {
                    out.insert(p.name.clone(), memory);
                }
                // A value from another version: start that scaler from this replica's memory.
                Err(e) => {
                    tracing::warn!(scaler = %p.name, error = %e, "Ignoring unreadable scaler memory in the lease bucket.");
                }
            }
        }
    }
    Ok(out)
}

/// `history.<name>`, with bytes a key cannot hold written as `=XX`.
fn history_key(name: &str) -> String {
    let mut key = String::from("history.");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            key.push(b as char);
        } else {
            key.push_str(&format!("={b:02X}"));
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keys_are_valid_kv_keys() {
        assert_eq!(history_key("api"), "history.api");
        assert_eq!(history_key("web.v2 eu/1"), "history.web=2Ev2=20eu=2F1");
        assert_eq!(history_key("é"), "history.=C3=A9");
    }

    #[test]
    fn without_a_lease_the_process_always_acts() {
        let l = Leadership::new(None);
        assert!(l.acting());
        assert_eq!(l.not_leader_reason(), None);
        assert_eq!(l.gauge().get(), 1);
    }
}
