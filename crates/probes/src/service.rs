//! The running probes: one task per probe, checks bounded by a semaphore, each with
//! its timeout, results written to the store; swapped in place on a reload.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use lookout_config::PromDuration;
use lookout_tsdb::{Labels, Store};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::outcome::{Measure, Outcome};
use crate::threshold::{Thresholds, Tracker};
use crate::{Probe, ProbeKind, series};

/// Checks running at once, across all probes; the rest wait their turn (a check that
/// waited still gets its whole timeout once it runs).
pub const MAX_CONCURRENT_CHECKS: usize = 32;
/// Results kept per probe for the API.
pub const HISTORY: usize = 20;
/// How long [`ProbeService::stop`] waits for checks in flight.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// What is known about one probe.
#[derive(Debug, Clone)]
pub struct ProbeState {
    /// Up or down with the thresholds applied, and the counts.
    pub tracker: Tracker,
    /// The last results, oldest first (at most [`HISTORY`]).
    pub history: VecDeque<Outcome>,
    /// The last failure: its error and when (unix milliseconds).
    pub last_error: Option<(String, i64)>,
    /// The series written by the last check (for staleness markers).
    series: HashSet<Labels>,
}

struct Running {
    probe: Arc<Probe>,
    state: Arc<Mutex<ProbeState>>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// `lookout_probe_checks_total{probe, result}` on `/metrics`.
type Checks = Family<Vec<(String, String)>, Counter>;

/// The probes of a running Lookout.
#[derive(Clone)]
pub struct ProbeService {
    store: Arc<Store>,
    permits: Arc<Semaphore>,
    running: Arc<Mutex<IndexMap<String, Running>>>,
    checks: Checks,
}

impl ProbeService {
    /// Starts `probes`, writing to `store`. Needs a Tokio runtime.
    /// Lookout's own counter of checks goes into `registry` (`/metrics`).
    pub fn start(probes: Vec<Probe>, store: Arc<Store>, registry: &mut Registry) -> ProbeService {
        series::record_metadata(&store);
        let checks = Checks::default();
        registry.register("lookout_probe_checks", "Probe checks done, by probe and result", checks.clone());
        let service = ProbeService {
            store,
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_CHECKS)),
            running: Arc::new(Mutex::new(IndexMap::new())),
            checks,
        };
        service.reload(probes);
        service
    }

    /// Replaces the running probes with `probes`: an unchanged probe keeps running; a
    /// changed one restarts with its state (when it still probes the same target); a
    /// removed one stops and its series get staleness markers.
    pub fn reload(&self, probes: Vec<Probe>) {
        let mut running = self.running.lock().expect("probes lock");
        let mut old = std::mem::take(&mut *running);
        let now = now_ms();
        for probe in probes {
            let name = probe.name.clone();
            let entry = match old.shift_remove(&name) {
                Some(r) if r.probe.same_as(&probe) => r,
                previous => {
                    let state = match previous {
                        Some(r) => {
                            r.cancel.cancel();
                            let kept = r.state.lock().expect("probe lock").clone();
                            if r.probe.target == probe.target && r.probe.kind == probe.kind {
                                kept
                            } else {
                                ProbeState { series: kept.series, ..ProbeState::new(now) }
                            }
                        }
                        None => ProbeState::new(now),
                    };
                    self.spawn(Arc::new(probe), state)
                }
            };
            running.insert(name, entry);
        }
        for (name, gone) in old {
            gone.cancel.cancel();
            let state = gone.state.lock().expect("probe lock");
            series::mark_stale(&self.store, now, state.series.iter());
            info!(probe = %name, "Probe removed.");
        }
        self.store.commit();
    }

    fn spawn(&self, probe: Arc<Probe>, state: ProbeState) -> Running {
        let state = Arc::new(Mutex::new(state));
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(
            probe.clone(),
            state.clone(),
            self.store.clone(),
            self.permits.clone(),
            self.checks.clone(),
            cancel.clone(),
        ));
        Running { probe, state, cancel, task }
    }

    /// Every probe with its state, in config order.
    pub fn snapshot(&self) -> Vec<(Arc<Probe>, ProbeState)> {
        let running = self.running.lock().expect("probes lock");
        running.values().map(|r| (r.probe.clone(), r.state.lock().expect("probe lock").clone())).collect()
    }

    /// Stops every probe (checks in flight are abandoned after a short wait).
    pub async fn stop(self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut running = self.running.lock().expect("probes lock");
            running
                .drain(..)
                .map(|(_, r)| {
                    r.cancel.cancel();
                    r.task
                })
                .collect()
        };
        let all = futures_join(tasks);
        if tokio::time::timeout(STOP_WITHIN, all).await.is_err() {
            warn!("Probes did not stop in time; abandoning their checks.");
        }
    }
}

async fn futures_join(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

impl ProbeState {
    fn new(now_ms: i64) -> ProbeState {
        ProbeState { tracker: Tracker::new(now_ms), history: VecDeque::new(), last_error: None, series: HashSet::new() }
    }

    /// The last result.
    pub fn last(&self) -> Option<&Outcome> {
        self.history.back()
    }
}

/// One probe's loop: a first check after a random part of the interval (so probes
/// started together do not all fire at once), then one per interval.
async fn run(
    probe: Arc<Probe>,
    state: Arc<Mutex<ProbeState>>,
    store: Arc<Store>,
    permits: Arc<Semaphore>,
    checks: Checks,
    cancel: CancellationToken,
) {
    let offset = probe.interval.mul_f64(fastrand::f64());
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, probe.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let thresholds = Thresholds { failure: probe.failure_threshold, success: probe.success_threshold };
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let permit = tokio::select! {
            () = cancel.cancelled() => return,
            p = permits.acquire() => p,
        };
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            o = check(&probe) => o,
        };
        drop(permit);
        let result = if outcome.success { "success" } else { "failure" };
        checks
            .get_or_create(&vec![("probe".to_string(), probe.name.clone()), ("result".to_string(), result.to_string())])
            .inc();
        let mut s = state.lock().expect("probe lock");
        // A reload may have replaced this probe while it checked.
        if cancel.is_cancelled() {
            return;
        }
        let was_up = s.tracker.up;
        s.tracker.record(outcome.success, outcome.at_ms, thresholds);
        if let Some(e) = &outcome.error {
            s.last_error = Some((e.clone(), outcome.at_ms));
        }
        if s.tracker.up != was_up {
            match (&outcome.error, s.tracker.up) {
                (Some(e), false) => warn!(probe = %probe.name, target = %probe.target, error = %e, "Probe is down."),
                _ => info!(probe = %probe.name, target = %probe.target, "Probe is up again."),
            }
        }
        let samples = series::samples(&probe, &outcome, s.tracker.up);
        s.series = series::write(&store, outcome.at_ms, samples, &s.series);
        if s.history.len() == HISTORY {
            s.history.pop_front();
        }
        s.history.push_back(outcome);
    }
}

/// One check of `probe`, within its timeout.
pub async fn check(probe: &Probe) -> Outcome {
    let at_ms = now_ms();
    let started = Instant::now();
    let mut m = Measure::default();
    let attempt = async {
        match probe.kind {
            ProbeKind::Http => crate::http::probe_http(probe, &mut m).await,
            ProbeKind::Tcp => crate::net::probe_tcp(probe, &mut m).await,
            ProbeKind::Grpc => crate::grpc::probe_grpc(probe, &mut m).await,
        }
    };
    let result = match tokio::time::timeout(probe.timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("timed out after {}", PromDuration(probe.timeout))),
    };
    Outcome::new(probe.kind, at_ms, started.elapsed(), m, result)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
