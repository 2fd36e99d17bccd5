//! The running engine: reads the inputs of each scaler from a [`MetricSource`], decides, keeps
//! state and history (persisted), exposes self-metrics, logs each change and drives the
//! actuators — only while it is the leader ([`crate::leader`]).
//!
//! The log has one line per decision that changes the count (`Scaling decision.` with
//! `scaler`, `current`, `desired` and `reasons`), whoever asked for the evaluation.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lookout_state::Loaded;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::actuator::{Actuator, ActuatorError, Observation};
use crate::decide::{Decision, Inputs, Reason, decide};
use crate::history::{HistoryStore, Persisted, push_bounded};
use crate::leader::{LeaderView, Leadership};
use crate::policy::{PolicyFile, ScalerPolicy};

/// Where a scaler's inputs come from: PromQL over the metrics store and the alert engine's
/// firing alerts.
pub trait MetricSource: Send + Sync {
    /// Evaluates `promql` at `t_ms`: `Ok(None)` when the result is empty, otherwise the single
    /// value (a one-element vector or a scalar). Several series are an error.
    fn query(&self, promql: &str, t_ms: i64) -> Result<Option<f64>, QueryError>;
    /// Names (`alertname`) of the alerts firing now.
    fn firing_alerts(&self) -> Vec<String>;
    /// Stores samples the scaler read itself (an actuator's instance counts, load balancer
    /// target health) at `t_ms`, so queries and alert rules can use them. A source without a
    /// store drops them.
    fn record(&self, samples: &[Sample], t_ms: i64) {
        let _ = (samples, t_ms);
    }
}

/// One sample of a series the scaler writes: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name (`__name__`).
    pub name: String,
    /// The other labels.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// Why a scaler's query gave no usable value (shown in the decision's reasons).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The datasource failed: a parse or evaluation error, an unreachable store.
    #[error("{0}")]
    Failed(String),
    /// Several series: scaling needs one value.
    #[error("the query returned {0} series; scaling needs one value")]
    NotOneValue(usize),
    /// Not a number (a range vector or a string; the value is shown).
    #[error("the query returned a {0}, not a number")]
    NotANumber(String),
}

type Labels = Vec<(String, String)>;

#[derive(Clone, Default)]
struct SelfMetrics {
    desired: Family<Labels, Gauge>,
    current: Family<Labels, Gauge>,
    min: Family<Labels, Gauge>,
    max: Family<Labels, Gauge>,
    metric_value: Family<Labels, Gauge<f64, AtomicU64>>,
    metric_proposal: Family<Labels, Gauge>,
    evaluations: Family<Labels, Counter>,
    actuations: Family<Labels, Counter>,
    actuation_failures: Family<Labels, Counter>,
}

struct Inner {
    scalers: BTreeMap<String, Persisted>,
    observed: BTreeMap<String, Observation>,
}

/// The scaling engine for one policy file.
pub struct Scaler {
    policies: Vec<ScalerPolicy>,
    source: Arc<dyn MetricSource>,
    store: HistoryStore,
    inner: Mutex<Inner>,
    metrics: SelfMetrics,
    changes: watch::Sender<u64>,
    corrupt_state_moved_to: Option<PathBuf>,
    leadership: Leadership,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The state file exists but cannot be read (a corrupt one is moved aside instead).
    #[error("cannot read scaler state: {0}")]
    State(#[source] std::io::Error),
    /// An actuator cannot be built.
    #[error("scaler {scaler}: {source}")]
    Actuator {
        /// The scaler.
        scaler: String,
        /// Why.
        #[source]
        source: ActuatorError,
    },
    /// The KEDA external scaler's TLS files cannot be served.
    #[error("keda.{0}")]
    KedaTls(#[source] lookout_server::listener::TlsError),
    /// The KEDA external scaler cannot listen.
    #[error("cannot listen on keda.address {address}: {source}")]
    KedaListen {
        /// `keda.address`.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Scaler {
    /// An engine for `policies`, resuming the state saved under `data_dir`.
    pub fn new(policies: PolicyFile, data_dir: &Path, source: Arc<dyn MetricSource>) -> Result<Scaler, Error> {
        let store = HistoryStore::new(data_dir);
        // A corrupt file never stops the scaler: it starts without memory or history and
        // says so (durability issue item 8). An unreadable one is not corrupt; it stops the
        // start rather than being overwritten by the first save.
        let (mut scalers, corrupt_state_moved_to) = match store.load().map_err(Error::State)? {
            Loaded::Found(scalers) => (scalers, None),
            Loaded::Missing => (BTreeMap::new(), None),
            Loaded::Quarantined(q) => {
                tracing::error!(
                    moved_to = %q.moved_to.display(),
                    error = %q.error,
                    "Scaler state file is corrupt; moved it aside and starting with empty state and history."
                );
                (BTreeMap::new(), Some(q.moved_to))
            }
        };
        // Forget scalers that are no longer configured.
        scalers.retain(|name, _| policies.scalers.iter().any(|p| &p.name == name));
        let (changes, _) = watch::channel(0);
        Ok(Scaler {
            leadership: Leadership::new(policies.lease),
            policies: policies.scalers,
            source,
            store,
            inner: Mutex::new(Inner { scalers, observed: BTreeMap::new() }),
            metrics: SelfMetrics::default(),
            changes,
            corrupt_state_moved_to,
        })
    }

    /// Where the state file found corrupt at start was moved (`state.json.corrupt-<unix
    /// seconds>`), if it was: the scaler then started without its HPA memory and history,
    /// and health should say it runs degraded.
    pub fn corrupt_state_moved_to(&self) -> Option<&Path> {
        self.corrupt_state_moved_to.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data; keep serving it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configured scalers.
    pub fn policies(&self) -> &[ScalerPolicy] {
        &self.policies
    }

    /// Evaluates every scaler at `now_ms` (unix ms).
    pub fn evaluate(&self, now_ms: i64) -> Vec<Decision> {
        let names: Vec<String> = self.policies.iter().map(|p| p.name.clone()).collect();
        names.iter().filter_map(|n| self.evaluate_scaler(n, now_ms)).collect()
    }

    /// Evaluates one scaler at `now_ms`; `None` for an unknown name.
    pub fn evaluate_scaler(&self, name: &str, now_ms: i64) -> Option<Decision> {
        let policy = self.policies.iter().find(|p| p.name == name)?;
        // Queries run without the lock held.
        let (last, observed) = {
            let inner = self.lock();
            (
                inner.scalers.get(name).and_then(|p| p.history.back()).map(|d| d.desired),
                inner.observed.get(name).cloned(),
            )
        };
        let inputs = self.read_inputs(policy, now_ms, last, observed);
        let decision = {
            let mut inner = self.lock();
            let entry = inner.scalers.entry(name.to_string()).or_default();
            let previous = entry.history.back().map(|d| (d.current, d.desired));
            let mut d = decide(policy, &mut entry.state, &inputs, now_ms);
            if let Some(why) = self.leadership.not_leader_reason() {
                d.reasons.push(note("NotLeader", why));
            }
            if previous != Some((d.current, d.desired)) {
                let reasons: Vec<&str> = d.reasons.iter().map(|r| r.message.as_str()).collect();
                tracing::info!(scaler = %d.scaler, current = d.current, desired = d.desired, reasons = %reasons.join("; "), "Scaling decision.");
            }
            push_bounded(&mut entry.history, d.clone());
            if let Err(e) = self.store.save(&inner.scalers) {
                tracing::error!(error = %e, path = %self.store.path().display(), "Cannot save scaler state.");
            }
            d
        };
        self.record_metrics(&decision);
        self.changes.send_modify(|n| *n += 1);
        Some(decision)
    }

    fn read_inputs(&self, p: &ScalerPolicy, now_ms: i64, last: Option<i32>, observed: Option<Observation>) -> Inputs {
        let mut notes = Vec::new();
        let (observed, group_limits) = match observed {
            Some(o) => {
                notes.extend(o.note.map(|n| note("Observed", n)));
                (Some(o.replicas), o.limits)
            }
            None => (None, None),
        };
        let mut current = None;
        if let Some(q) = &p.replicas_query {
            match self.source.query(q, now_ms) {
                Ok(Some(v)) if v.is_finite() && v >= 0.0 && v <= i32::MAX as f64 => current = Some(v.round() as i32),
                Ok(Some(v)) => notes.push(note("ReplicasQueryFailed", format!("replicas query returned {v}"))),
                Ok(None) => notes.push(note("ReplicasQueryFailed", "replicas query returned no data")),
                Err(e) => notes.push(note("ReplicasQueryFailed", format!("replicas query failed: {e}"))),
            }
        }
        let current = match (current, observed, last) {
            (Some(c), _, _) => c,
            (None, Some(o), _) => o,
            (None, None, Some(l)) => {
                if p.replicas_query.is_some() {
                    notes.push(note("ReplicasAssumed", format!("assuming the last decision, {l}")));
                }
                l
            }
            (None, None, None) => {
                notes.push(note(
                    "ReplicasAssumed",
                    format!("no replica count known yet: assuming minReplicas {}", p.min_replicas),
                ));
                p.min_replicas
            }
        };
        // The decision shows query failures as text.
        let query = |q: &str| self.source.query(q, now_ms).map_err(|e| e.to_string());
        let metric_values: Vec<_> = p.metrics.iter().map(|m| query(&m.query)).collect();
        let step_values = p
            .steps
            .iter()
            .map(|s| match s.metric.as_ref().and_then(|m| p.metrics.iter().position(|x| &x.name == m)) {
                Some(i) => metric_values[i].clone(),
                None => query(&s.query),
            })
            .collect();
        let firing = if p.alerts.is_empty() { Vec::new() } else { self.source.firing_alerts() };
        Inputs { current, metric_values, step_values, firing, notes, group_limits }
    }

    fn record_metrics(&self, d: &Decision) {
        let t = vec![("target".to_string(), d.scaler.clone())];
        self.metrics.desired.get_or_create(&t).set(d.desired as i64);
        self.metrics.current.get_or_create(&t).set(d.current as i64);
        self.metrics.min.get_or_create(&t).set(d.min_replicas as i64);
        self.metrics.max.get_or_create(&t).set(d.max_replicas as i64);
        self.metrics.evaluations.get_or_create(&t).inc();
        for m in &d.metrics {
            let l = vec![("target".to_string(), d.scaler.clone()), ("metric".to_string(), m.name.clone())];
            self.metrics.metric_value.get_or_create(&l).set(m.value.unwrap_or(f64::NAN));
            if let Some(p) = m.proposal {
                self.metrics.metric_proposal.get_or_create(&l).set(p as i64);
            }
        }
    }

    /// Tells the engine how many replicas there are (an actuator that can read them does).
    pub fn set_observed_replicas(&self, name: &str, replicas: i32) {
        self.set_observation(name, Observation::replicas(replicas));
    }

    /// Tells the engine what an actuator read: the replica count, the group's limits (the
    /// next decisions stay within them), a note for the reasons. Its series are written
    /// to the store with a `scaler` label.
    pub fn set_observation(&self, name: &str, mut o: Observation) {
        if !o.series.is_empty() {
            for s in &mut o.series {
                s.labels.push(("scaler".to_string(), name.to_string()));
            }
            self.source.record(&o.series, chrono::Utc::now().timestamp_millis());
            o.series.clear();
        }
        self.lock().observed.insert(name.to_string(), o);
    }

    /// Records that the actuator could not apply decision `d`: an `ActuationFailed` reason
    /// appended to that decision (in the history, on the API) and a count on
    /// `lookout_scaler_actuation_failures_total`.
    pub fn record_actuation_failure(&self, d: &Decision, actuator: &str, e: &ActuatorError) {
        let labels = vec![
            ("target".to_string(), d.scaler.clone()),
            ("actuator".to_string(), actuator.to_string()),
            ("reason".to_string(), e.reason()),
        ];
        self.metrics.actuation_failures.get_or_create(&labels).inc();
        {
            let mut inner = self.lock();
            let Some(entry) = inner.scalers.get_mut(&d.scaler) else { return };
            let Some(stored) = entry.history.iter_mut().rev().find(|h| h.at_ms == d.at_ms) else { return };
            stored.reasons.push(note("ActuationFailed", format!("{actuator} did not apply {}: {e}", d.desired)));
            if let Err(e) = self.store.save(&inner.scalers) {
                tracing::error!(error = %e, path = %self.store.path().display(), "Cannot save scaler state.");
            }
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// The latest decision of each scaler that has one.
    pub fn latest(&self) -> Vec<Decision> {
        let inner = self.lock();
        self.policies.iter().filter_map(|p| inner.scalers.get(&p.name)?.history.back().cloned()).collect()
    }

    /// The latest decision of one scaler.
    pub fn decision(&self, name: &str) -> Option<Decision> {
        self.lock().scalers.get(name)?.history.back().cloned()
    }

    /// Recent decisions of one scaler, oldest first.
    pub fn history(&self, name: &str) -> VecDeque<Decision> {
        self.lock().scalers.get(name).map(|p| p.history.clone()).unwrap_or_default()
    }

    /// Whether this process actuates, and who holds the scaler lease.
    pub fn leader(&self) -> LeaderView {
        self.leadership.view()
    }

    pub(crate) fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    /// Replaces the memory and history of the scalers in `memory` with what the previous
    /// leader saved (a new leader calls it before actuating).
    pub(crate) fn adopt(&self, memory: BTreeMap<String, Persisted>) {
        let mut inner = self.lock();
        for (name, p) in memory {
            inner.scalers.insert(name, p);
        }
        if let Err(e) = self.store.save(&inner.scalers) {
            tracing::error!(error = %e, path = %self.store.path().display(), "Cannot save scaler state.");
        }
    }

    /// A receiver that changes after every evaluation (the KEDA stream waits on it).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Registers `lookout_scaler_*` self-metrics.
    pub fn register_metrics(&self, r: &mut Registry) {
        let m = &self.metrics;
        r.register("lookout_scaler_desired_replicas", "Replicas decided by the last evaluation", m.desired.clone());
        r.register("lookout_scaler_current_replicas", "Replicas seen at the last evaluation", m.current.clone());
        r.register("lookout_scaler_min_replicas", "Effective minReplicas (after schedules)", m.min.clone());
        r.register("lookout_scaler_max_replicas", "Effective maxReplicas (after schedules)", m.max.clone());
        r.register("lookout_scaler_metric_value", "Query result of a target-tracking metric", m.metric_value.clone());
        r.register("lookout_scaler_metric_proposal", "Replicas a metric asks for", m.metric_proposal.clone());
        r.register("lookout_scaler_evaluations", "Evaluations", m.evaluations.clone());
        r.register("lookout_scaler_actuations", "Decisions handed to an actuator, by result", m.actuations.clone());
        r.register(
            "lookout_scaler_actuation_failures",
            "Decisions an actuator could not apply, by reason (e.g. AWS's error code)",
            m.actuation_failures.clone(),
        );
        r.register(
            "lookout_scaler_leader",
            "1 while this process hands decisions to actuators (the scaler lease holder, or no lease configured)",
            self.leadership.gauge(),
        );
    }

    /// Runs every scaler on its interval until `shutdown`, handing decisions to the actuators:
    /// a decision is sent when it changes the count or differs from the last one delivered.
    /// A decision counts as applied for the `behavior` periods and cooldowns when it is made;
    /// a failed delivery is retried at the next evaluation (the count read back from the
    /// replicas query or the actuator then shows what really happened).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), Error> {
        let mut tasks = vec![tokio::spawn(crate::leader::run(self.clone(), shutdown.clone()))];
        for p in &self.policies {
            let actuator = Actuator::from_config(&p.actuator)
                .map_err(|source| Error::Actuator { scaler: p.name.clone(), source })?;
            tasks.push(tokio::spawn(self.clone().run_one(
                p.name.clone(),
                p.interval_seconds,
                actuator,
                shutdown.clone(),
            )));
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    }

    async fn run_one(self: Arc<Self>, name: String, interval: i64, actuator: Actuator, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(Duration::from_secs(interval.max(1) as u64));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut delivered: Option<i32> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match actuator.observe().await {
                Ok(Some(o)) => self.set_observation(&name, o),
                Ok(None) => {}
                Err(e) => tracing::warn!(scaler = %name, error = %e, "Cannot read current replicas."),
            }
            let now = chrono::Utc::now().timestamp_millis();
            let this = self.clone();
            let n = name.clone();
            let Ok(Some(d)) = tokio::task::spawn_blocking(move || this.evaluate_scaler(&n, now)).await else {
                continue;
            };
            if !self.leadership.acting() {
                // A new leader delivers its first decision whatever was delivered before.
                delivered = None;
                continue;
            }
            let memory = self.lock().scalers.get(&name).cloned();
            if let Some(memory) = memory {
                self.leadership.save(&name, &memory).await;
            }
            if d.desired == d.current && delivered == Some(d.desired) {
                continue;
            }
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                // Never two actuators knowingly: a delivery in flight when the lease is
                // lost is abandoned (the new leader delivers its own decision).
                _ = self.leadership.lost() => {
                    delivered = None;
                    continue;
                }
                r = actuator.apply(&d) => r,
            };
            let labels = vec![
                ("target".to_string(), name.clone()),
                ("actuator".to_string(), actuator.kind().to_string()),
                ("result".to_string(), if result.is_ok() { "ok" } else { "error" }.to_string()),
            ];
            self.metrics.actuations.get_or_create(&labels).inc();
            match result {
                Ok(()) => delivered = Some(d.desired),
                Err(e) => {
                    tracing::warn!(scaler = %name, error = %e, "Cannot deliver scaling decision.");
                    self.record_actuation_failure(&d, actuator.kind(), &e);
                }
            }
        }
    }
}

fn note(code: &str, message: impl Into<String>) -> Reason {
    Reason { code: code.to_string(), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl MetricSource for Fixed {
        fn query(&self, _promql: &str, _t_ms: i64) -> Result<Option<f64>, QueryError> {
            Ok(Some(3000.0))
        }
        fn firing_alerts(&self) -> Vec<String> {
            Vec::new()
        }
    }

    const POLICY: &str = "\
scalers:
  - name: api
    minReplicas: 2
    maxReplicas: 10
    metrics:
      - { name: rpm, query: rpm, target: { type: AverageValue, averageValue: 1000 } }
";

    fn scaler(data_dir: &Path) -> Scaler {
        Scaler::new(crate::parse_policy_file("p.yml", POLICY).unwrap(), data_dir, Arc::new(Fixed)).unwrap()
    }

    /// Durability issue item 8: a garbage state file is moved aside and reported, the
    /// scaler starts empty and decides, and the next start resumes from the fresh file.
    #[test]
    fn a_corrupt_state_file_is_moved_aside_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scaler").join("state.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"\x00\x00garbage").unwrap();

        let s = scaler(dir.path());
        let moved = s.corrupt_state_moved_to().expect("reported").to_path_buf();
        assert!(moved.file_name().unwrap().to_str().unwrap().starts_with("state.json.corrupt-"), "{moved:?}");
        assert_eq!(std::fs::read(&moved).unwrap(), b"\x00\x00garbage");
        assert!(s.history("api").is_empty());
        assert_eq!(s.evaluate(1_800_000_000_000).len(), 1);
        drop(s);

        let s = scaler(dir.path());
        assert_eq!(s.corrupt_state_moved_to(), None);
        assert_eq!(s.history("api").len(), 1, "resumed from the file saved after the corrupt one");
    }
}
