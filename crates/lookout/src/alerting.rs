//! Wiring of the alerting stages: the rule engine over the embedded store (or a remote
//! Prometheus-compatible API), remote write of the store, and the notifier the rule
//! engine hands its alerts to in process (the same path `POST /api/v2/alerts` takes).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use lookout_component::{Health, Telemetry};
use lookout_config::{ConfigErrors, PipelineConfig};
use lookout_notify::{AlertmanagerConfig, Notifier, NotifierMetrics, StartOptions};
use lookout_rules::OutgoingAlert;
use lookout_rules::engine::{self, AlertSink, Engine, EngineSettings};
use lookout_tsdb::remote::{QueryClient, QueryClientConfig, RemoteWriter, RemoteWriterConfig};
use tracing::info;

/// The running alerting stages.
pub struct Alerting {
    /// The rule engine, when the pipeline has `rules:`.
    pub rules: Option<Engine>,
    notifier: Notifier,
    notifier_shutdown: tokio_util::sync::CancellationToken,
    alerting_file: Option<String>,
    gc: tokio::task::JoinHandle<()>,
    scaling: Option<crate::scaling::Scaling>,
    remote_writer: Option<(RemoteWriter, tokio::task::JoinHandle<()>)>,
}

/// The routing file `alerting.config` names, or the built-in default (everything to
/// the console).
pub fn notifier_config(config: &PipelineConfig) -> Result<AlertmanagerConfig, ConfigErrors> {
    match config.alerting.as_ref().and_then(|a| a.config.as_ref()) {
        Some(path) => lookout_notify::load_config(Path::new(path)),
        None => Ok(lookout_notify::default_config()),
    }
}

/// Alertmanager's model of an alert from the rule engine's.
fn to_notifier_alert(a: OutgoingAlert) -> lookout_receivers::Alert {
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    lookout_receivers::Alert {
        labels: a.labels.pairs().iter().cloned().collect(),
        annotations: a.annotations.into_iter().collect(),
        starts_at: time(a.starts_at_ms),
        ends_at: Some(time(a.ends_at_ms)),
        generator_url: a.generator_url,
    }
}

/// The rule engine's settings for `config` (None without `rules:`).
pub fn rule_settings(config: &PipelineConfig) -> Option<EngineSettings> {
    let rules = config.rules.as_ref()?;
    let external = format!("http://{}", config.api.address);
    Some(EngineSettings::from_config(rules, Path::new(&config.data_dir), &external))
}

/// Checks every rule file and the routing file the pipeline names (what `lookout
/// check` adds to the pipeline check). Returns (groups, rules).
pub fn check(config: &PipelineConfig) -> Result<(usize, usize), ConfigErrors> {
    let mut errors = Vec::new();
    match notifier_config(config) {
        Err(e) => errors.extend(e.0),
        // Templates and integrations are built too (no network I/O).
        Ok(cfg) => {
            if let Err(e) = lookout_notify::check_config(&cfg) {
                let file = config.alerting.as_ref().and_then(|a| a.config.clone()).unwrap_or_default();
                let position = lookout_config::Position { file: file.into(), line: 1, column: 1 };
                errors.push(lookout_config::ConfigError::new(position, e));
            }
        }
    }
    let counts = match rule_settings(config).map(|s| engine::load_groups(&s)) {
        None => (0, 0),
        Some(Ok(groups)) => (groups.len(), groups.iter().map(|(g, _)| g.rules.len()).sum()),
        Some(Err(e)) => {
            errors.extend(e.0);
            (0, 0)
        }
    };
    if let Err(e) = crate::scaling::load_policies(config) {
        errors.extend(e.0);
    }
    if errors.is_empty() { Ok(counts) } else { Err(ConfigErrors(errors)) }
}

impl Alerting {
    /// Starts what `config` asks for.
    pub async fn start(config: &PipelineConfig, telemetry: &Telemetry, health: &Health) -> anyhow::Result<Alerting> {
        let am_config = notifier_config(config).map_err(|e| anyhow::anyhow!("{e}"))?;
        let metrics = NotifierMetrics::new();
        telemetry.with_registry(|r| metrics.register(r));
        let notifier_shutdown = tokio_util::sync::CancellationToken::new();
        let opts = StartOptions { external_url: format!("http://{}", config.api.address), ..StartOptions::default() };
        let notifier =
            Notifier::start_with(am_config, Path::new(&config.data_dir), metrics, notifier_shutdown.clone(), opts)
                .await
                .map_err(anyhow::Error::msg)
                .context("cannot start the notifier")?;
        let to_notifier = notifier.clone();
        let sink: AlertSink = Arc::new(move |alerts: Vec<OutgoingAlert>| {
            to_notifier.put_alerts(alerts.into_iter().map(to_notifier_alert).collect());
        });
        let store = lookout_tsdb::shared();
        let defaults = lookout_tsdb::StoreConfig::default();
        store.set_limits(lookout_tsdb::StoreConfig {
            retention_ms: config.storage.retention.map_or(defaults.retention_ms, |d| d.ms()),
            max_series: config.storage.max_series.unwrap_or(defaults.max_series),
        });
        // Retention: drop old samples and empty series every minute; the store's gauges
        // and counters are refreshed every 5 s.
        let store_metrics = StoreMetrics::default();
        telemetry.with_registry(|r| store_metrics.register(r));
        let gc_store = store.clone();
        let gc = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            for round in 0u64.. {
                tick.tick().await;
                if round % 12 == 11 {
                    let s = gc_store.clone();
                    let _ = tokio::task::spawn_blocking(move || s.gc(engine::now_ms())).await;
                }
                store_metrics.update(&gc_store);
            }
        });
        let remote_writer = match config.rules.as_ref().and_then(|r| r.remote_write.as_ref()) {
            Some(rw) => {
                let mut c = RemoteWriterConfig::new(&rw.url);
                c.bearer_token = rw.bearer_token.clone();
                let (writer, task) = RemoteWriter::start(c).map_err(anyhow::Error::msg)?;
                let w = writer.clone();
                store.set_append_hook(Some(Arc::new(move |l, t, v| {
                    w.push(l, t, v);
                })));
                info!(url = %rw.url, "Remote-writing the series store.");
                Some((writer, task))
            }
            None => None,
        };
        let rules = match rule_settings(config) {
            None => None,
            Some(settings) => {
                let remote = match config.rules.as_ref().and_then(|r| r.remote.as_ref()) {
                    Some(r) => {
                        let mut c = QueryClientConfig::new(&r.url);
                        c.bearer_token = r.bearer_token.clone();
                        if let Some(t) = r.timeout {
                            c.timeout = t.std();
                        }
                        Some(QueryClient::new(c).map_err(anyhow::Error::msg)?)
                    }
                    None => None,
                };
                let handle = health.register("rules", "engine", "rules");
                let engine = telemetry
                    .with_registry(|registry| {
                        Engine::start(settings, store.clone(), remote, sink, registry, Some(handle))
                    })
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("cannot start the rule engine")?;
                Some(engine)
            }
        };
        let alerting_file = config.alerting.as_ref().and_then(|a| a.config.clone());
        let scaling = crate::scaling::Scaling::start(config, telemetry, rules.clone()).await?;
        Ok(Alerting { rules, notifier, notifier_shutdown, alerting_file, gc, scaling, remote_writer })
    }

    /// The API routes of the alerting stages: the rule engine's Prometheus-shaped
    /// `/api/v1/{rules,alerts}` and the notifier's Alertmanager `/api/v2/...`.
    pub fn router(&self) -> axum::Router {
        let mut router = self.notifier.router();
        if let Some(s) = &self.scaling {
            router = router.merge(s.router());
        }
        if let Some(e) = &self.rules {
            router = router.merge(e.router());
        }
        router
    }

    /// SIGHUP: re-reads the rule files and the routing file (an invalid file keeps what
    /// runs).
    pub async fn reload(&self) {
        if let Some(e) = &self.rules {
            let _ = e.reload();
        }
        let Some(path) = &self.alerting_file else { return };
        match lookout_notify::load_config(Path::new(path)) {
            Ok(cfg) => match self.notifier.reload(cfg).await {
                Ok(()) => info!(file = %path, "Routing file reloaded."),
                Err(e) => {
                    tracing::error!(file = %path, error = %e, "Routing reload failed; keeping the running routes.")
                }
            },
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!(error = %e, "Routing reload refused: keeping the running routes.");
                }
            }
        }
    }

    /// Stops evaluating, saves state, stops the notifier, flushes remote write.
    pub async fn stop(self) {
        if let Some(s) = self.scaling {
            s.stop().await;
        }
        if let Some(e) = &self.rules {
            e.stop().await;
        }
        self.notifier_shutdown.cancel();
        self.notifier.stopped().await;
        self.gc.abort();
        if let Some((writer, task)) = self.remote_writer {
            lookout_tsdb::shared().set_append_hook(None);
            writer.close();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
        }
    }
}

/// The embedded store's self-metrics.
#[derive(Default)]
struct StoreMetrics {
    series: prometheus_client::metrics::gauge::Gauge,
    limit_hits: prometheus_client::metrics::counter::Counter,
    out_of_order: prometheus_client::metrics::counter::Counter,
}

impl StoreMetrics {
    fn register(&self, r: &mut prometheus_client::registry::Registry) {
        r.register("lookout_tsdb_series", "Series in the embedded store.", self.series.clone());
        r.register(
            "lookout_tsdb_series_limit_hits",
            "Samples refused because they would create a series past storage.max_series.",
            self.limit_hits.clone(),
        );
        r.register(
            "lookout_tsdb_out_of_order_samples",
            "Samples refused as older than their series' newest sample.",
            self.out_of_order.clone(),
        );
    }

    fn update(&self, store: &lookout_tsdb::Store) {
        self.series.set(store.series_count() as i64);
        self.limit_hits.inc_by(store.series_limit_hits().saturating_sub(self.limit_hits.get()));
        self.out_of_order.inc_by(store.out_of_order().saturating_sub(self.out_of_order.get()));
    }
}
