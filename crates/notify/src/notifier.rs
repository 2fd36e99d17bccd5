//! The [`Notifier`] handle: owns the alert store, the current config's dispatcher, the
//! silences, the notification log and their persistence, and the maintenance loop.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lookout_receivers::{Alert, NotifyMetrics, Templates, build_integrations};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::{AlertRecord, AlertStore, InvalidAlert, Origin, normalize, validate};
use crate::cluster::{Cluster, ClusterMetrics, ClusterOptions, Outbox};
use crate::config::AlertmanagerConfig;
use crate::dispatch::{Dispatcher, Runtime};
use crate::error::{Error, StateError};
use crate::inhibit::Inhibitor;
use crate::metrics::Metrics;
use crate::nflog::NotificationLog;
use crate::persist::{StateDb, Table};
use crate::pipeline::{Pipeline, PipelineParts};
use crate::route::RouteTree;
use crate::silence::Silences;

/// Why [`Notifier::ingest`] did not store an alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// It failed `types.Alert.Validate` (the API answers 400).
    #[error(transparent)]
    Invalid(#[from] InvalidAlert),
    /// It is new and its origin already holds its limit of alerts (the API answers 429).
    #[error("alert limit of {limit} reached")]
    Limit {
        /// The origin's limit.
        limit: usize,
    },
}

/// Settings of a notifier that are process behaviour rather than routing config.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The URL the notifier is reachable at (links in notifications), like
    /// `--web.external-url`.
    pub external_url: String,
    /// How long expired silences and notification-log entries are kept (`--data.retention`).
    pub retention: Duration,
    /// How often empty aggregation groups are dropped and gauges refreshed.
    pub maintenance_interval: Duration,
    /// How often resolved alerts are dropped from the store (`--alerts.gc-interval`).
    pub alert_gc_interval: Duration,
    /// The HTTP client for the integrations (a default one when `None`).
    pub http_client: Option<reqwest::Client>,
    /// At most this many alerts first posted to `/api/v2/alerts` are held; updates of held
    /// alerts are always accepted, new ones beyond the limit are refused (the API answers
    /// `429 Too Many Requests`; counted in `lookout_notifier_alerts_refused_total{origin="api"}`)
    /// so memory stays bounded.
    pub max_api_alerts: usize,
    /// The same limit for alerts first sent in process through [`Notifier::put_alerts`] (the
    /// rule engine): a separate budget, so a flood of posted alerts never crowds out the
    /// rule engine's, nor the other way round (`origin="rules"`).
    pub max_rule_alerts: usize,
    /// Join a notifier cluster (`alerting.cluster`): shared notification log and
    /// silences, one notification per group across the replicas.
    pub cluster: Option<ClusterOptions>,
}

impl Default for StartOptions {
    /// Alertmanager's defaults.
    fn default() -> Self {
        // Alertmanager's default `--web.external-url` is http://<os.Hostname()>:9093.
        let host = hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into());
        StartOptions {
            external_url: format!("http://{host}:9093"),
            retention: Duration::from_secs(120 * 3600),
            maintenance_interval: Duration::from_secs(30),
            alert_gc_interval: Duration::from_secs(30 * 60),
            http_client: None,
            max_api_alerts: 200_000,
            max_rule_alerts: 200_000,
            cluster: None,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) store: Mutex<AlertStore>,
    pub(crate) dispatcher: Mutex<Arc<Dispatcher>>,
    reload_lock: tokio::sync::Mutex<()>,
    pub(crate) silences: Arc<Silences>,
    pub(crate) nflog: Arc<NotificationLog>,
    db: Arc<StateDb>,
    pub(crate) metrics: Metrics,
    notify_metrics: Arc<NotifyMetrics>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    handle: tokio::runtime::Handle,
    client: reqwest::Client,
    external_url: Arc<str>,
    /// The alert limit of each origin.
    max_api_alerts: usize,
    max_rule_alerts: usize,
    pub(crate) started_at: DateTime<Utc>,
    /// The cluster this replica is in, if any.
    pub(crate) cluster: Option<Arc<Cluster>>,
    corrupt_state_moved_to: Option<std::path::PathBuf>,
    done: tokio::sync::watch::Receiver<bool>,
}

/// The running notifier; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn build_runtime(
    cfg: AlertmanagerConfig,
    silences: &Arc<Silences>,
    nflog: &Arc<NotificationLog>,
    metrics: &Arc<NotifyMetrics>,
    client: &reqwest::Client,
    external_url: &Arc<str>,
    cluster: &Option<Arc<Cluster>>,
) -> Result<Arc<Runtime>, Error> {
    let templates =
        Arc::new(Templates::load(&cfg.templates, &cfg.base_dir).map_err(|e| Error::Receivers(e.to_string()))?);
    let mut integrations = Vec::new();
    for r in &cfg.receivers {
        let built = build_integrations(r, &cfg.global, templates.clone(), client.clone())
            .map_err(|e| Error::Receivers(e.to_string()))?;
        integrations.push((r.name.clone(), built));
    }
    let inhibitor = Arc::new(Inhibitor::new(&cfg.inhibit_rules));
    let parts = PipelineParts {
        inhibitor: inhibitor.clone(),
        silences: silences.clone(),
        nflog: nflog.clone(),
        intervals: Arc::new(cfg.time_intervals.clone()),
        metrics: metrics.clone(),
        external_url: external_url.clone(),
        cluster: cluster.clone(),
    };
    let pipeline = Pipeline::new(&parts, integrations);
    Ok(Arc::new(Runtime { tree: RouteTree::new(&cfg.route), inhibitor, pipeline, cfg }))
}

/// The notifier's metrics, created before the notifier so they can be registered wherever
/// the process keeps its registry (e.g. inside `Telemetry::with_registry`).
#[derive(Clone, Default)]
pub struct NotifierMetrics {
    metrics: Metrics,
    notify: Arc<NotifyMetrics>,
    cluster: ClusterMetrics,
}

impl NotifierMetrics {
    /// Fresh, unregistered metrics.
    pub fn new() -> NotifierMetrics {
        NotifierMetrics::default()
    }

    /// Registers every family (`lookout_notifier_*`, `lookout_notifier_cluster_*` and the
    /// integrations' `lookout_notification*`) in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        self.metrics.register(registry);
        self.notify.register(registry);
        self.cluster.register(registry);
    }
}

impl std::fmt::Debug for NotifierMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierMetrics").finish_non_exhaustive()
    }
}

/// What `lookout check` adds to [`crate::load_config`]: the `templates:` files are read and
/// every receiver's integrations are built (no network I/O), so a config that would fail
/// at start fails the check.
pub fn check_config(cfg: &AlertmanagerConfig) -> Result<(), Error> {
    let templates =
        Arc::new(Templates::load(&cfg.templates, &cfg.base_dir).map_err(|e| Error::Receivers(e.to_string()))?);
    let client = reqwest::Client::new();
    for r in &cfg.receivers {
        build_integrations(r, &cfg.global, templates.clone(), client.clone())
            .map_err(|e| Error::Receivers(e.to_string()))?;
    }
    Ok(())
}

impl Notifier {
    /// Starts with Alertmanager's default options (see [`StartOptions`]).
    pub async fn start(
        cfg: AlertmanagerConfig,
        data_dir: &Path,
        registry: &mut Registry,
        shutdown: CancellationToken,
    ) -> Result<Notifier, Error> {
        let metrics = NotifierMetrics::new();
        metrics.register(registry);
        Notifier::start_with(cfg, data_dir, metrics, shutdown, StartOptions::default()).await
    }

    /// Opens the state under `data_dir`, builds the integrations and starts dispatching,
    /// counting into `metrics` (registered by the caller, see [`NotifierMetrics`]).
    /// Persisted alerts are replayed, so groups that were due flush right away and the
    /// notification log suppresses what was already sent.
    pub async fn start_with(
        cfg: AlertmanagerConfig,
        data_dir: &Path,
        metrics: NotifierMetrics,
        shutdown: CancellationToken,
        opts: StartOptions,
    ) -> Result<Notifier, Error> {
        let dir = data_dir.to_path_buf();
        let (db, loaded) =
            tokio::task::spawn_blocking(move || StateDb::open(&dir)).await.map_err(StateError::Task)??;
        let db = Arc::new(db);
        let NotifierMetrics { metrics, notify: notify_metrics, cluster: cluster_metrics } = metrics;
        let cluster = opts.cluster.as_ref().map(|c| (Cluster::new(c, cluster_metrics), Arc::new(Outbox::default())));
        let outbox = cluster.as_ref().map(|(_, o)| o.clone());
        let silences = Arc::new(Silences::new(Some(db.clone()), opts.retention, outbox.clone()));
        silences.restore(loaded.silences);
        let nflog = Arc::new(NotificationLog::new(Some(db.clone()), opts.retention, outbox));
        nflog.restore(loaded.nflog);
        let client = match opts.http_client {
            Some(c) => c,
            None => reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(Error::HttpClient)?,
        };
        let external_url: Arc<str> = Arc::from(opts.external_url.trim_end_matches('/'));
        let cluster_handle = cluster.as_ref().map(|(c, _)| c.clone());
        let rt = match build_runtime(cfg, &silences, &nflog, &notify_metrics, &client, &external_url, &cluster_handle) {
            Ok(rt) => rt,
            Err(e) => {
                db.close();
                return Err(e);
            }
        };
        let handle = tokio::runtime::Handle::current();
        let dispatcher = Arc::new(Dispatcher::new(rt, &shutdown, handle.clone()));
        let mut store = AlertStore::default();
        for (key, v) in loaded.alerts {
            match serde_json::from_slice::<AlertRecord>(&v) {
                Ok(r) => {
                    let (alert, origin) = r.into_parts();
                    store.restore(alert, origin);
                }
                Err(e) => tracing::warn!(key, error = %e, "Skipping an unreadable persisted alert."),
            }
        }
        let now = Utc::now();
        for a in store.iter() {
            dispatcher.rt.inhibitor.observe(a);
        }
        for a in store.iter() {
            dispatcher.process(a, now);
        }
        let (done_tx, done) = tokio::sync::watch::channel(false);
        let inner = Arc::new(Inner {
            store: Mutex::new(store),
            dispatcher: Mutex::new(dispatcher),
            reload_lock: tokio::sync::Mutex::new(()),
            silences,
            nflog,
            db,
            metrics,
            notify_metrics,
            shutdown: shutdown.clone(),
            tasks: TaskTracker::new(),
            handle,
            client,
            external_url,
            max_api_alerts: opts.max_api_alerts,
            max_rule_alerts: opts.max_rule_alerts,
            started_at: now,
            cluster: cluster_handle,
            corrupt_state_moved_to: loaded.moved_aside,
            done,
        });
        let n = Notifier { inner };
        n.refresh_gauges();
        let maint = n.clone();
        n.inner.tasks.spawn(maint.maintain(opts.maintenance_interval, opts.alert_gc_interval));
        // The cluster stops after the dispatcher, so what the last flushes logged is
        // still replicated.
        let cluster_stop = CancellationToken::new();
        if let (Some((c, outbox)), Some(o)) = (cluster, &opts.cluster) {
            let repl = c.replicator(n.inner.nflog.clone(), n.inner.silences.clone(), outbox);
            n.inner.tasks.spawn(c.start(&o.config, repl, opts.retention, cluster_stop.clone()));
        }
        let closer = n.clone();
        tokio::spawn(async move {
            closer.inner.shutdown.cancelled().await;
            let d = closer.dispatcher();
            d.stop().await;
            cluster_stop.cancel();
            closer.inner.tasks.close();
            closer.inner.tasks.wait().await;
            let db = closer.inner.db.clone();
            let _ = tokio::task::spawn_blocking(move || db.close()).await;
            let _ = done_tx.send(true);
        });
        Ok(n)
    }

    pub(crate) fn dispatcher(&self) -> Arc<Dispatcher> {
        lock(&self.inner.dispatcher).clone()
    }

    /// Takes alerts as `POST /api/v2/alerts` does (the rule engine calls this in process):
    /// open-ended alerts resolve after `resolve_timeout` unless refreshed; invalid ones are
    /// counted and logged. New alerts beyond [`StartOptions::max_rule_alerts`] are refused,
    /// counted (`lookout_notifier_alerts_refused_total{origin="rules"}`) and logged as an
    /// error; alerts posted to the API have their own budget and never take from this one.
    pub fn put_alerts(&self, alerts: Vec<Alert>) {
        let refused = self.ingest(alerts.into_iter().map(|a| (a, false)).collect(), Origin::Rules);
        let mut limited = 0usize;
        for e in refused {
            match e {
                Refused::Invalid(e) => tracing::warn!(error = %e, "Dropping an invalid alert."),
                Refused::Limit { .. } => limited += 1,
            }
        }
        if limited > 0 {
            tracing::error!(
                refused = limited,
                limit = self.inner.max_rule_alerts,
                "Refusing new rule alerts: the rule engine's alert limit is reached."
            );
        }
    }

    /// The alert limit of `origin`.
    fn limit(&self, origin: Origin) -> usize {
        match origin {
            Origin::Api => self.inner.max_api_alerts,
            Origin::Rules => self.inner.max_rule_alerts,
        }
    }

    /// Stores and dispatches alerts that came from `origin`; `true` in a pair means "no
    /// `startsAt` was given". Returns why each refused alert was refused.
    pub(crate) fn ingest(&self, alerts: Vec<(Alert, bool)>, origin: Origin) -> Vec<Refused> {
        let now = Utc::now();
        let disp = self.dispatcher();
        let resolve_timeout = disp.rt.cfg.global.resolve_timeout.0;
        let mut refused = Vec::new();
        let mut valid = Vec::with_capacity(alerts.len());
        for (a, starts_unset) in alerts {
            let s = normalize(a, now, resolve_timeout, starts_unset);
            self.inner.metrics.count_received(s.resolved_at(now));
            if let Err(e) = validate(&s) {
                self.inner.metrics.invalid.inc();
                refused.push(Refused::Invalid(e));
                continue;
            }
            valid.push(s);
        }
        let limit = self.limit(origin);
        let mut store = lock(&self.inner.store);
        // Re-read under the store lock: a reload swaps the dispatcher under it too.
        let disp = self.dispatcher();
        for s in valid {
            if store.held(origin) >= limit && !store.contains(s.fingerprint()) {
                self.inner.metrics.count_refused(origin);
                refused.push(Refused::Limit { limit });
                continue;
            }
            let merged = store.put(s, origin, now);
            disp.rt.inhibitor.observe(&merged);
            disp.process(&merged, now);
            let first = store.origin_of(merged.fingerprint()).unwrap_or(origin);
            if let Ok(v) = serde_json::to_vec(&AlertRecord::new(&merged, first)) {
                self.inner.db.put(Table::Alerts, format!("{:016x}", merged.fingerprint()), v);
            }
        }
        refused
    }

    /// Switches to a new (validated) config, as Alertmanager's reload does: the old groups
    /// stop, the new routing tree regroups every stored alert; silences and the
    /// notification log stay, so nothing already sent is sent again.
    pub async fn reload(&self, cfg: AlertmanagerConfig) -> Result<(), Error> {
        let _serial = self.inner.reload_lock.lock().await;
        let i = &self.inner;
        let rt = build_runtime(cfg, &i.silences, &i.nflog, &i.notify_metrics, &i.client, &i.external_url, &i.cluster)?;
        let old = self.dispatcher();
        old.stop().await;
        let new = Arc::new(Dispatcher::new(rt, &i.shutdown, i.handle.clone()));
        let store = lock(&i.store);
        let now = Utc::now();
        for a in store.iter() {
            new.rt.inhibitor.observe(a);
        }
        for a in store.iter() {
            new.process(a, now);
        }
        *lock(&i.dispatcher) = new;
        drop(store);
        tracing::info!("Notifier configuration reloaded.");
        Ok(())
    }

    /// Alertmanager's API v2 and its health endpoints (`/-/healthy`, `/-/ready`).
    pub fn router(&self) -> axum::Router {
        crate::api::router(self.clone())
    }

    /// Only the `/api/v2/...` routes, for a server that has health endpoints of its own.
    pub fn api_router(&self) -> axum::Router {
        crate::api::api_router(self.clone())
    }

    /// Waits until shutdown finished: groups stopped and state committed to disk.
    pub async fn stopped(self) {
        let mut done = self.inner.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }

    /// Where the state file found corrupt at start was moved (`notify.redb.corrupt-<unix
    /// time>`), if it was: the notifier then started without silences, notification log
    /// or alerts, and health should say it runs degraded.
    pub fn corrupt_state_moved_to(&self) -> Option<&Path> {
        self.inner.corrupt_state_moved_to.as_deref()
    }

    /// The current config.
    pub fn config(&self) -> AlertmanagerConfig {
        self.dispatcher().rt.cfg.clone()
    }

    /// Alert status: silences muting it and the alert inhibiting it, at `now`.
    pub(crate) fn status_of(
        &self,
        rt: &Runtime,
        labels: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> (Vec<String>, Vec<String>) {
        let silenced = self.inner.silences.silenced_by(labels, now);
        let inhibited = rt.inhibitor.inhibited_by(labels, now).map(|fp| vec![format!("{fp:016x}")]).unwrap_or_default();
        (silenced, inhibited)
    }

    fn refresh_gauges(&self) {
        let now = Utc::now();
        let m = &self.inner.metrics;
        for (st, n) in self.inner.silences.counts(now) {
            Metrics::set_state(&m.silences, st.as_str(), n);
        }
        m.nflog_entries.set(self.inner.nflog.len() as i64);
        let disp = self.dispatcher();
        m.groups.set(disp.len() as i64);
        let (mut active, mut suppressed) = (0, 0);
        {
            let store = lock(&self.inner.store);
            for a in store.iter().filter(|a| !a.resolved_at(now)) {
                let (s, i) = self.status_of(&disp.rt, &a.alert.labels, now);
                if s.is_empty() && i.is_empty() {
                    active += 1;
                } else {
                    suppressed += 1;
                }
            }
        }
        Metrics::set_state(&m.alerts, "active", active);
        Metrics::set_state(&m.alerts, "suppressed", suppressed);
    }

    async fn maintain(self, every: Duration, alert_gc: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut gc = tokio::time::interval(alert_gc);
        gc.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Both fire at once on the first tick; skip those.
        tick.tick().await;
        gc.tick().await;
        let mut state_gc = tokio::time::interval(Duration::from_secs(15 * 60));
        state_gc.tick().await;
        loop {
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = tick.tick() => {
                    self.dispatcher().maintenance();
                    self.refresh_gauges();
                }
                _ = gc.tick() => self.gc_alerts(),
                _ = state_gc.tick() => {
                    let now = Utc::now();
                    self.inner.silences.gc(now);
                    self.inner.nflog.gc(now);
                }
            }
        }
    }

    fn gc_alerts(&self) {
        let now = Utc::now();
        let gone = lock(&self.inner.store).gc(now);
        if gone.is_empty() {
            return;
        }
        self.dispatcher().rt.inhibitor.forget(&gone);
        for fp in gone {
            self.inner.db.delete(Table::Alerts, format!("{fp:016x}"));
        }
    }
}
