//! The running alert engine: loads the rule files, evaluates every group on its own
//! interval, hands due alerts to a sink (the notifier), survives reloads and restarts
//! without losing `for` progress, and serves the Prometheus-shaped API.
//!
//! - Scheduling: one task per group. Like Prometheus, a group evaluates at timestamps
//!   aligned to its interval plus a stable per-group offset (a hash of `file;name`), so
//!   groups spread over the interval and a restart keeps the same grid. The evaluation
//!   itself runs on a blocking thread: it is CPU work, and must never stall ingest.
//! - Reload (file change or SIGHUP → [`Engine::reload`]): the files are loaded and
//!   checked first; on any error the running rules stay, the error is logged, counted
//!   (`lookout_rules_last_reload_successful` = 0) and shown on `/health`. On success the
//!   state of every kept rule carries over (Prometheus's `CopyState`) and series of
//!   removed rules are marked stale.
//! - Restart: every group's state is snapshotted to `data_dir/rules/state.json` and
//!   restored at start (unless older than `outage_tolerance`), see [`persist`]. A corrupt
//!   snapshot is moved aside and the engine starts afresh, degraded on `/health`.
//! - Datasources: groups evaluate against the embedded store, or — for the files under
//!   `rules.remote` — against a Prometheus-compatible query API ([`remote`]).

mod api;
mod backtest_api;
mod metrics;
pub mod persist;
pub mod remote;
mod watch;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use lookout_component::{ComponentState, HealthHandle};
use lookout_config::{ConfigErrors, PipelineConfig, RulesConfig};
use lookout_state::Loaded;
use lookout_tsdb::Store;
use lookout_tsdb::promql::EvalOptions;
use lookout_tsdb::remote::QueryClient;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::alert::AlertState;
use crate::datasource::{Datasource, LocalDatasource};
use crate::file::{RuleGroup, load_rule_files};
use crate::group::{EvalContext, GroupState, Health, OutgoingAlert, eval_group};
use metrics::{EngineMetrics, GroupLabel, ResultLabel, StateLabel};
pub use remote::RemoteDatasource;

/// Where due alerts go: called after each group evaluation that has alerts to send.
pub type AlertSink = Arc<dyn Fn(Vec<OutgoingAlert>) + Send + Sync>;

/// The engine's settings, from the pipeline file's `rules:` section.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Rule file globs evaluated on the embedded store.
    pub files: Vec<String>,
    /// Rule file globs evaluated on the remote datasource.
    pub remote_files: Vec<String>,
    /// Interval of groups without their own.
    pub evaluation_interval_ms: i64,
    /// Labels added to alerts that lack them.
    pub external_labels: Vec<(String, String)>,
    /// Base of generator URLs and `$externalURL`.
    pub external_url: String,
    /// Resend delay of firing alerts.
    pub resend_delay_ms: i64,
    /// Saved state older than this is discarded at start.
    pub outage_tolerance_ms: i64,
    /// Groups with restored alerts first evaluate this long after start.
    pub restore_grace_ms: i64,
    /// Re-read rule files when they change.
    pub watch: bool,
    /// Where state is snapshotted (`None`: not persisted).
    pub state_path: Option<PathBuf>,
    /// PromQL options of the embedded datasource.
    pub eval_options: EvalOptions,
}

impl EngineSettings {
    /// From the pipeline file: `None` without `rules:`. Generator URLs default to the
    /// API address.
    pub fn from_pipeline(config: &PipelineConfig) -> Option<EngineSettings> {
        let rules = config.rules.as_ref()?;
        let external = format!("http://{}", config.api.address);
        Some(EngineSettings::from_config(rules, std::path::Path::new(&config.data_dir), &external))
    }

    /// From `rules:`; `data_dir` holds the state snapshot, `default_external_url` is
    /// used when `external_url` is not set.
    pub fn from_config(cfg: &RulesConfig, data_dir: &std::path::Path, default_external_url: &str) -> EngineSettings {
        let (files, remote_files) = match &cfg.remote {
            Some(r) if r.files.is_empty() => (Vec::new(), cfg.files.clone()),
            Some(r) => (cfg.files.clone(), r.files.clone()),
            None => (cfg.files.clone(), Vec::new()),
        };
        let mut external_labels: Vec<(String, String)> =
            cfg.external_labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        external_labels.sort();
        EngineSettings {
            files,
            remote_files,
            evaluation_interval_ms: cfg.evaluation_interval.map_or(60_000, |d| d.ms().max(1)),
            external_labels,
            external_url: cfg.external_url.clone().unwrap_or_else(|| default_external_url.to_string()),
            resend_delay_ms: cfg.resend_delay.map_or(60_000, |d| d.ms()),
            outage_tolerance_ms: cfg.outage_tolerance.map_or(3_600_000, |d| d.ms()),
            restore_grace_ms: cfg.restore_grace.map_or(60_000, |d| d.ms()),
            watch: cfg.watch.unwrap_or(true),
            state_path: Some(persist::state_path(data_dir)),
            eval_options: EvalOptions::default(),
        }
    }
}

/// Loads and checks every rule file of `settings`: groups with whether they evaluate
/// remotely. What `lookout check` and every reload run first.
pub fn load_groups(settings: &EngineSettings) -> Result<Vec<(RuleGroup, bool)>, ConfigErrors> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (patterns, remote) in [(&settings.files, false), (&settings.remote_files, true)] {
        match load_rule_files(patterns) {
            Ok(groups) => out.extend(groups.into_iter().map(|g| (g, remote))),
            Err(e) => errors.extend(e.0),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(ConfigErrors(errors)) }
}

/// A loaded group and its state.
pub(crate) struct GroupRuntime {
    pub(crate) group: RuleGroup,
    pub(crate) remote: bool,
    pub(crate) interval_ms: i64,
    pub(crate) state: Mutex<GroupState>,
    /// Set (under the state lock) when a reload replaced this group: a late evaluation
    /// must not update state nobody reads any more.
    retired: AtomicBool,
    /// No evaluation before this time (the restore grace period).
    not_before_ms: std::sync::atomic::AtomicI64,
}

impl GroupRuntime {
    fn label(&self) -> GroupLabel {
        GroupLabel { rule_group: format!("{};{}", self.group.file, self.group.name) }
    }
}

struct Inner {
    settings: EngineSettings,
    store: Arc<Store>,
    local: LocalDatasource,
    remote: Option<RemoteDatasource>,
    sink: AlertSink,
    metrics: EngineMetrics,
    groups: RwLock<Arc<Vec<Arc<GroupRuntime>>>>,
    generation: Mutex<CancellationToken>,
    tasks: Mutex<tokio::task::JoinSet<()>>,
    health: Option<HealthHandle>,
    /// Why the saved state could not be used at start: the engine stays degraded with
    /// this reason (a reload does not fix it).
    state_problem: Option<String>,
    reload_lock: Mutex<()>,
    dirty: AtomicBool,
    stop: CancellationToken,
    watcher: Mutex<Option<watch::RuleWatcher>>,
}

impl Inner {
    /// Running, or degraded while a start-time state problem stands.
    fn report_healthy(&self) {
        let Some(h) = &self.health else { return };
        h.ready();
        if let Some(problem) = &self.state_problem {
            h.set_state(ComponentState::Degraded(problem.clone()));
        }
    }
}

/// The engine handle (cheap to clone).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// FNV-1a of `file;name`: the group's stable offset within its interval.
fn group_offset(group: &RuleGroup, interval_ms: i64) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in group.file.bytes().chain(std::iter::once(b';')).chain(group.name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % interval_ms.max(1) as u64) as i64
}

/// The first slot `offset + k·interval` strictly after `after`.
fn next_slot(after: i64, interval: i64, offset: i64) -> i64 {
    let base = after - offset;
    offset + (base.div_euclid(interval) + 1) * interval
}

impl Engine {
    /// Loads the rules (refusing to start on any error), restores saved state, and
    /// starts evaluating. `remote` is the query API for `remote_files`. Call inside a
    /// Tokio runtime.
    pub fn start(
        settings: EngineSettings,
        store: Arc<Store>,
        remote: Option<QueryClient>,
        sink: AlertSink,
        registry: &mut Registry,
        health: Option<HealthHandle>,
    ) -> Result<Engine, ConfigErrors> {
        let loaded = load_groups(&settings)?;
        // A corrupt state file never stops the engine: it is moved aside and the engine
        // starts afresh, degraded on `/health`. An unreadable one (permissions, I/O) is
        // not corrupt: like the scaler's and the notifier's, it stops the start rather
        // than being replaced by the first save.
        let mut state_problem = None;
        let mut saved = match settings.state_path.as_deref().map(persist::load) {
            Some(Ok(Loaded::Found(Some(snap)))) if now_ms() - snap.saved_at_ms <= settings.outage_tolerance_ms => {
                snap.groups
            }
            Some(Ok(Loaded::Found(Some(_)))) => {
                warn!("Saved alert state is older than outage_tolerance; starting afresh.");
                Vec::new()
            }
            Some(Ok(Loaded::Quarantined(q))) => {
                error!(
                    moved_to = %q.moved_to.display(),
                    error = %q.error,
                    "Saved alert state is corrupt; moved it aside and starting with empty alert state."
                );
                state_problem = Some(format!(
                    "state file was corrupt; moved to {}; started with empty alert state",
                    q.moved_to.display()
                ));
                Vec::new()
            }
            Some(Err(e)) => {
                let path = settings.state_path.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
                let position = lookout_config::Position { file: path.into(), line: 1, column: 1 };
                let message = format!("{e}; fix its permissions or move it away (it is kept, not overwritten)");
                return Err(lookout_config::ConfigError::new(position, message).into());
            }
            Some(Ok(Loaded::Found(None) | Loaded::Missing)) | None => Vec::new(),
        };
        let runtimes: Vec<Arc<GroupRuntime>> = loaded
            .into_iter()
            .map(|(group, remote)| {
                let state = match saved.iter().position(|s| s.file == *group.file && s.name == group.name) {
                    Some(i) => persist::restore(saved.swap_remove(i), &group),
                    None => GroupState::default(),
                };
                let restored = state.alerts().next().is_some();
                let runtime = new_runtime(&settings, group, remote, state);
                if restored {
                    runtime.not_before_ms.store(now_ms() + settings.restore_grace_ms, Ordering::Release);
                }
                runtime
            })
            .collect();
        let metrics = EngineMetrics::default();
        metrics.register(registry);
        metrics.last_reload_successful.set(1);
        let local = LocalDatasource { store: store.clone(), opts: settings.eval_options };
        let remote = remote.map(RemoteDatasource::new);
        let engine = Engine {
            inner: Arc::new(Inner {
                settings,
                store,
                local,
                remote,
                sink,
                metrics,
                groups: RwLock::new(Arc::new(Vec::new())),
                generation: Mutex::new(CancellationToken::new()),
                tasks: Mutex::new(tokio::task::JoinSet::new()),
                health,
                state_problem,
                reload_lock: Mutex::new(()),
                dirty: AtomicBool::new(false),
                stop: CancellationToken::new(),
                watcher: Mutex::new(None),
            }),
        };
        let restored: usize = runtimes.iter().map(|g| g.state.lock().expect("group state").alerts().count()).sum();
        info!(groups = runtimes.len(), restored_alerts = restored, "Rule engine started.");
        engine.install(runtimes);
        engine.spawn_persister();
        if engine.inner.settings.watch {
            let patterns: Vec<String> =
                engine.inner.settings.files.iter().chain(&engine.inner.settings.remote_files).cloned().collect();
            match watch::RuleWatcher::start(&patterns, engine.clone()) {
                Ok(w) => *engine.inner.watcher.lock().expect("watcher") = Some(w),
                Err(e) => warn!(error = %e, "Cannot watch the rule files; reload with SIGHUP."),
            }
        }
        engine.inner.report_healthy();
        Ok(engine)
    }

    /// The loaded groups.
    pub(crate) fn groups(&self) -> Arc<Vec<Arc<GroupRuntime>>> {
        self.inner.groups.read().expect("groups").clone()
    }

    /// Number of loaded groups and rules.
    pub fn counts(&self) -> (usize, usize) {
        let groups = self.groups();
        (groups.len(), groups.iter().map(|g| g.group.rules.len()).sum())
    }

    /// Names of the alerts firing now (e.g. for alert-driven scaling).
    pub fn firing_alerts(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for g in self.groups().iter() {
            let state = g.state.lock().expect("group state");
            for (_, a) in state.alerts() {
                if a.state == AlertState::Firing
                    && let Some(n) = a.labels.get("alertname")
                {
                    names.push(n.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// `GET /api/v1/rules` and `GET /api/v1/alerts`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/api/v1/rules", axum::routing::get(api::rules))
            .route("/api/v1/alerts", axum::routing::get(api::alerts))
            .route("/api/v1/rules/backtest", axum::routing::post(backtest_api::backtest))
            .with_state(self.clone())
    }

    /// Re-reads the rule files. On error nothing changes (the running rules keep
    /// running) and the errors are returned, logged, counted and shown on `/health`.
    pub fn reload(&self) -> Result<(), ConfigErrors> {
        let inner = &self.inner;
        let _serial = inner.reload_lock.lock().expect("reload lock");
        let loaded = match load_groups(&inner.settings) {
            Ok(l) => l,
            Err(errors) => {
                for e in &errors.0 {
                    error!(error = %e, "Rule reload refused: keeping the running rules.");
                }
                inner.metrics.reloads.get_or_create(&ResultLabel { result: "failure".into() }).inc();
                inner.metrics.last_reload_successful.set(0);
                if let Some(h) = &inner.health {
                    let first = errors.0.first().map(ToString::to_string).unwrap_or_default();
                    h.set_state(ComponentState::Degraded(format!(
                        "rule reload failed ({} error(s), first: {first}); running the last good rules",
                        errors.0.len()
                    )));
                }
                return Err(errors);
            }
        };
        let old = self.groups();
        let now = now_ms();
        let mut taken = vec![false; old.len()];
        let mut runtimes = Vec::with_capacity(loaded.len());
        for (group, remote) in loaded {
            let found = old.iter().enumerate().find(|(i, g)| {
                !taken[*i] && g.group.file == group.file && g.group.name == group.name && g.remote == remote
            });
            let state = match found {
                Some((i, g)) => {
                    taken[i] = true;
                    let st = g.state.lock().expect("group state");
                    g.retired.store(true, Ordering::Release);
                    (GroupState::carry_over(&st, &g.group, &group), g.not_before_ms.load(Ordering::Acquire))
                }
                None => (GroupState::default(), 0),
            };
            let (state, not_before) = state;
            let runtime = new_runtime(&inner.settings, group, remote, state);
            runtime.not_before_ms.store(not_before, Ordering::Release);
            runtimes.push(runtime);
        }
        for (i, g) in old.iter().enumerate() {
            if !taken[i] {
                let st = g.state.lock().expect("group state");
                g.retired.store(true, Ordering::Release);
                st.mark_stale(&*inner.store, now);
                let _ = inner.metrics.rules.remove(&g.label());
            }
        }
        let (groups, rules) = (runtimes.len(), runtimes.iter().map(|g| g.group.rules.len()).sum::<usize>());
        self.install(runtimes);
        inner.metrics.reloads.get_or_create(&ResultLabel { result: "success".into() }).inc();
        inner.metrics.last_reload_successful.set(1);
        inner.report_healthy();
        inner.dirty.store(true, Ordering::Release);
        info!(groups, rules, "Rules reloaded.");
        Ok(())
    }

    /// Stops evaluating and writes the final state snapshot.
    pub async fn stop(&self) {
        self.inner.stop.cancel();
        self.inner.generation.lock().expect("generation").cancel();
        self.inner.watcher.lock().expect("watcher").take();
        let mut tasks = std::mem::take(&mut *self.inner.tasks.lock().expect("tasks"));
        while tasks.join_next().await.is_some() {}
        self.save_state();
    }

    /// Replaces the running groups with `runtimes` and starts their tasks.
    fn install(&self, runtimes: Vec<Arc<GroupRuntime>>) {
        let token = CancellationToken::new();
        let old_token = std::mem::replace(&mut *self.inner.generation.lock().expect("generation"), token.clone());
        old_token.cancel();
        for g in &runtimes {
            self.inner.metrics.rules.get_or_create(&g.label()).set(g.group.rules.len() as i64);
        }
        *self.inner.groups.write().expect("groups") = Arc::new(runtimes.clone());
        let mut tasks = self.inner.tasks.lock().expect("tasks");
        for g in runtimes {
            tasks.spawn(run_group(self.clone(), g, token.clone()));
        }
    }

    /// One evaluation of `g` at `t_ms` (blocking: call from a blocking thread).
    fn evaluate(&self, g: &GroupRuntime, t_ms: i64) -> Vec<OutgoingAlert> {
        let inner = &self.inner;
        let datasource: &dyn Datasource = match (&inner.remote, g.remote) {
            (Some(r), true) => r,
            _ => &inner.local,
        };
        let s = &inner.settings;
        let ctx = EvalContext {
            datasource,
            appender: &*inner.store,
            external_labels: &s.external_labels,
            external_url: &s.external_url,
            resend_delay_ms: s.resend_delay_ms,
            default_interval_ms: s.evaluation_interval_ms,
            default_query_offset_ms: 0,
        };
        let mut state = g.state.lock().expect("group state");
        if g.retired.load(Ordering::Acquire) {
            return Vec::new();
        }
        let alerts = eval_group(&g.group, &mut state, &ctx, t_ms);
        let label = g.label();
        inner.metrics.evaluations.get_or_create(&label).inc();
        let failures = state.rules.iter().filter(|r| r.health == Health::Err && r.last_eval_ms == Some(t_ms)).count();
        if failures > 0 {
            inner.metrics.evaluation_failures.get_or_create(&label).inc_by(failures as u64);
        }
        inner.metrics.last_duration.get_or_create(&label).set(state.last_duration_seconds);
        drop(state);
        self.update_alert_gauges();
        inner.dirty.store(true, Ordering::Release);
        alerts
    }

    fn update_alert_gauges(&self) {
        let (mut pending, mut firing) = (0i64, 0i64);
        for g in self.groups().iter() {
            for (_, a) in g.state.lock().expect("group state").alerts() {
                match a.state {
                    AlertState::Pending => pending += 1,
                    AlertState::Firing => firing += 1,
                    AlertState::Inactive => {}
                }
            }
        }
        let m = &self.inner.metrics.alerts;
        m.get_or_create(&StateLabel { alertstate: "pending".into() }).set(pending);
        m.get_or_create(&StateLabel { alertstate: "firing".into() }).set(firing);
    }

    fn save_state(&self) {
        let Some(path) = &self.inner.settings.state_path else { return };
        self.inner.dirty.store(false, Ordering::Release);
        let groups = self.groups();
        let states: Vec<(&RuleGroup, GroupState)> =
            groups.iter().map(|g| (&g.group, g.state.lock().expect("group state").clone())).collect();
        let snap = persist::snapshot(states.into_iter(), now_ms());
        if let Err(e) = persist::save(path, &snap) {
            self.inner.metrics.state_save_failures.inc();
            self.inner.dirty.store(true, Ordering::Release);
            warn!(path = %path.display(), error = %e, "Cannot save the alert state.");
        }
    }

    /// Writes the state snapshot at most every second while something changed.
    fn spawn_persister(&self) {
        let engine = self.clone();
        self.inner.tasks.lock().expect("tasks").spawn(async move {
            loop {
                tokio::select! {
                    _ = engine.inner.stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                if engine.inner.dirty.load(Ordering::Acquire) {
                    let e = engine.clone();
                    let _ = tokio::task::spawn_blocking(move || e.save_state()).await;
                }
            }
        });
    }
}

fn new_runtime(settings: &EngineSettings, group: RuleGroup, remote: bool, state: GroupState) -> Arc<GroupRuntime> {
    let interval_ms = group.interval_ms.unwrap_or(settings.evaluation_interval_ms).max(1);
    Arc::new(GroupRuntime {
        group,
        remote,
        interval_ms,
        state: Mutex::new(state),
        retired: AtomicBool::new(false),
        not_before_ms: std::sync::atomic::AtomicI64::new(0),
    })
}

async fn run_group(engine: Engine, g: Arc<GroupRuntime>, cancel: CancellationToken) {
    let interval = g.interval_ms;
    let offset = group_offset(&g.group, interval);
    let mut last = g.state.lock().expect("group state").last_eval_ms.unwrap_or(i64::MIN / 2);
    loop {
        let now = now_ms();
        let next = next_slot(now.max(last).max(g.not_before_ms.load(Ordering::Acquire)), interval, offset);
        let wait = Duration::from_millis((next - now).max(0) as u64);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let (e, g2) = (engine.clone(), g.clone());
        let alerts = match tokio::task::spawn_blocking(move || e.evaluate(&g2, next)).await {
            Ok(a) => a,
            Err(e) => {
                error!(group = %g.group.name, error = %e, "Rule group evaluation panicked.");
                Vec::new()
            }
        };
        last = next;
        let missed = (now_ms() - next) / interval;
        if missed > 0 {
            engine.inner.metrics.iterations_missed.get_or_create(&g.label()).inc_by(missed as u64);
        }
        if !alerts.is_empty() {
            engine.inner.metrics.alerts_sent.inc_by(alerts.len() as u64);
            (engine.inner.sink)(alerts);
        }
    }
}

#[cfg(test)]
mod tests;
