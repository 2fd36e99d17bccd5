//! Wiring of the alerting stages: the rule engine over the embedded store (or a remote
//! Prometheus-compatible API), remote write of the store, and where alerts go.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use lookout_component::{Health, Telemetry};
use lookout_config::{ConfigErrors, PipelineConfig};
use lookout_rules::engine::{self, Engine, EngineSettings};
use lookout_tsdb::remote::{QueryClient, QueryClientConfig, RemoteWriter, RemoteWriterConfig};
use tracing::info;

/// The running alerting stages.
pub struct Alerting {
    /// The rule engine, when the pipeline has `rules:`.
    pub rules: Option<Engine>,
    remote_writer: Option<(RemoteWriter, tokio::task::JoinHandle<()>)>,
}

/// The rule engine's settings for `config` (None without `rules:`).
pub fn rule_settings(config: &PipelineConfig) -> Option<EngineSettings> {
    let rules = config.rules.as_ref()?;
    let external = format!("http://{}", config.api.address);
    Some(EngineSettings::from_config(rules, Path::new(&config.data_dir), &external))
}

/// Checks every rule file the pipeline names (what `lookout check` adds to the
/// pipeline check). Returns (groups, rules).
pub fn check_rules(config: &PipelineConfig) -> Result<(usize, usize), ConfigErrors> {
    let Some(settings) = rule_settings(config) else { return Ok((0, 0)) };
    let groups = engine::load_groups(&settings)?;
    Ok((groups.len(), groups.iter().map(|(g, _)| g.rules.len()).sum()))
}

impl Alerting {
    /// Starts what `config` asks for.
    pub fn start(config: &PipelineConfig, telemetry: &Telemetry, health: &Health) -> anyhow::Result<Alerting> {
        let store = lookout_tsdb::shared();
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
                        Engine::start(settings, store.clone(), remote, engine::log_sink(), registry, Some(handle))
                    })
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("cannot start the rule engine")?;
                Some(engine)
            }
        };
        Ok(Alerting { rules, remote_writer })
    }

    /// The API routes of the alerting stages.
    pub fn router(&self) -> axum::Router {
        let mut router = axum::Router::new();
        if let Some(e) = &self.rules {
            router = router.merge(e.router());
        }
        router
    }

    /// SIGHUP: re-reads the rule files (an invalid file keeps the running rules).
    pub fn reload(&self) {
        if let Some(e) = &self.rules {
            let _ = e.reload();
        }
    }

    /// Stops evaluating, saves state, flushes remote write.
    pub async fn stop(self) {
        if let Some(e) = &self.rules {
            e.stop().await;
        }
        if let Some((writer, task)) = self.remote_writer {
            lookout_tsdb::shared().set_append_hook(None);
            writer.close();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
        }
    }
}
