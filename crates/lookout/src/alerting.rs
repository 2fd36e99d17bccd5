//! Wiring of the alerting stages: the rule engine over the embedded store (or a remote
//! Prometheus-compatible API) and the notifier the rule engine hands its alerts to in
//! process (the same path `POST /api/v2/alerts` takes).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use lookout_component::{ComponentState, Health, HealthHandle, Telemetry};
use lookout_config::PipelineConfig;
use lookout_notify::{AlertmanagerConfig, ClusterConfig, ClusterOptions, Notifier, NotifierMetrics, StartOptions};
use lookout_rules::OutgoingAlert;
use lookout_rules::engine::{AlertSink, Engine, EngineSettings};
use lookout_tsdb::Store;
use lookout_tsdb::remote::{QueryClient, QueryClientConfig};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// Marks a stage that keeps a state file under `data_dir` running, or degraded when its
/// file was found corrupt at start and moved to `moved_to` (it then started without
/// `lost`). The stage logged the move at ERROR itself.
pub(crate) fn report_state_file(handle: &HealthHandle, moved_to: Option<&Path>, lost: &str) {
    handle.ready();
    if let Some(p) = moved_to {
        handle.set_state(ComponentState::Degraded(format!(
            "state file was corrupt; moved to {}; started without {lost}",
            p.display()
        )));
    }
}

/// The running alerting stages.
pub struct Alerting {
    /// The rule engine, when the pipeline has `rules:`.
    pub rules: Option<Engine>,
    notifier: Notifier,
    notifier_shutdown: CancellationToken,
    alerting_file: Option<String>,
}

impl Alerting {
    /// Starts the notifier with `routing` (in `cluster` with other replicas, when
    /// configured), and the rule engine over `store` when `config` has `rules:`; both link
    /// to `external_url` in what they send.
    pub async fn start(
        config: &PipelineConfig,
        routing: AlertmanagerConfig,
        cluster: Option<ClusterConfig>,
        store: Arc<Store>,
        telemetry: &Telemetry,
        health: &Health,
        external_url: &str,
    ) -> anyhow::Result<Alerting> {
        let metrics = NotifierMetrics::new();
        telemetry.with_registry(|r| metrics.register(r));
        let notifier_shutdown = CancellationToken::new();
        // A replica is reachable, and by default named, by its API's host and port.
        let address = lookout_notify::default_peer_name(&config.api.address);
        let cluster = cluster.map(|c| ClusterOptions { config: c, address });
        let opts = StartOptions { external_url: external_url.to_string(), cluster, ..StartOptions::default() };
        let notifier =
            Notifier::start_with(routing, Path::new(&config.data_dir), metrics, notifier_shutdown.clone(), opts)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("cannot start the notifier")?;
        report_state_file(
            &health.register("notifier", "alerting", "notifier"),
            notifier.corrupt_state_moved_to(),
            "silences, notification log or alerts",
        );
        let to_notifier = notifier.clone();
        let sink: AlertSink = Arc::new(move |alerts: Vec<OutgoingAlert>| {
            to_notifier.put_alerts(alerts.into_iter().map(Into::into).collect());
        });
        let rules = match EngineSettings::from_pipeline(config) {
            None => None,
            Some(mut settings) => {
                settings.external_url = external_url.to_string();
                let remote = match config.rules.as_ref().and_then(|r| r.remote.as_ref()) {
                    Some(r) => {
                        let mut c = QueryClientConfig::new(&r.url);
                        c.bearer_token = r.bearer_token.clone();
                        c.bearer_token_file = r.bearer_token_file.as_ref().map(Into::into);
                        if let Some(t) = r.timeout {
                            c.timeout = t.std();
                        }
                        Some(QueryClient::new(c)?)
                    }
                    None => None,
                };
                let handle = health.register("rules", "engine", "rules");
                let engine = telemetry
                    .with_registry(|registry| Engine::start(settings, store, remote, sink, registry, Some(handle)))
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("cannot start the rule engine")?;
                Some(engine)
            }
        };
        let alerting_file = config.alerting.as_ref().and_then(|a| a.config.clone());
        Ok(Alerting { rules, notifier, notifier_shutdown, alerting_file })
    }

    /// The API routes of the alerting stages: the rule engine's Prometheus-shaped
    /// `/api/v1/{rules,alerts}` and the notifier's Alertmanager `/api/v2/...`.
    pub fn router(&self) -> axum::Router {
        let mut router = self.notifier.router();
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
                Err(e) => error!(file = %path, error = %e, "Routing reload failed; keeping the running routes."),
            },
            Err(errors) => {
                for e in &errors.0 {
                    error!(error = %e, "Routing reload refused: keeping the running routes.");
                }
            }
        }
    }

    /// Stops evaluating, saves state, stops the notifier.
    pub async fn stop(self) {
        if let Some(e) = &self.rules {
            e.stop().await;
        }
        self.notifier_shutdown.cancel();
        self.notifier.stopped().await;
    }
}
