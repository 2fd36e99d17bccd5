//! Wiring of the scaler: policy files from `scaling.files`, inputs from the embedded
//! store (PromQL) and the rule engine (firing alerts), decisions on `/api/v1/scaler`,
//! `/metrics`, the log, and the actuators (webhook, KEDA gRPC, Kubernetes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lookout_component::Telemetry;
use lookout_config::{ConfigError, ConfigErrors, PipelineConfig, Position};
use lookout_rules::engine::Engine;
use lookout_scaler::{MetricSource, PolicyFile, Scaler};
use lookout_tsdb::promql::Value;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Every policy file `scaling.files` names, merged (scaler names must be unique).
pub fn load_policies(config: &PipelineConfig) -> Result<Option<PolicyFile>, ConfigErrors> {
    let Some(scaling) = &config.scaling else { return Ok(None) };
    let mut files: Vec<PathBuf> = Vec::new();
    let mut errors = Vec::new();
    for pattern in &scaling.files {
        match glob::glob(pattern) {
            Ok(paths) => files.extend(paths.flatten()),
            Err(e) => errors.push(ConfigError::new(
                Position { file: config.file.clone(), line: 1, column: 1 },
                format!("scaling.files: bad pattern {pattern:?}: {e}"),
            )),
        }
    }
    files.sort();
    let mut merged = PolicyFile { scalers: Vec::new(), keda: None };
    for f in files {
        let name = f.display().to_string();
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                errors.push(ConfigError::new(Position { file: name.into(), line: 1, column: 1 }, e.to_string()));
                continue;
            }
        };
        match lookout_scaler::parse_policy_file(&name, &text) {
            Ok(p) => {
                for s in p.scalers {
                    if merged.scalers.iter().any(|m| m.name == s.name) {
                        errors.push(ConfigError::new(
                            Position { file: name.as_str().into(), line: 1, column: 1 },
                            format!("scaler `{}` is defined in more than one policy file", s.name),
                        ));
                    } else {
                        merged.scalers.push(s);
                    }
                }
                merged.keda = merged.keda.or(p.keda);
            }
            Err(e) => errors.extend(e.0),
        }
    }
    if errors.is_empty() { Ok(Some(merged)) } else { Err(ConfigErrors(errors)) }
}

/// Scaler inputs: instant queries on the embedded store, firing alerts from the engine.
struct Inputs {
    rules: Option<Engine>,
}

impl MetricSource for Inputs {
    fn query(&self, promql: &str, t_ms: i64) -> Result<Option<f64>, String> {
        match lookout_tsdb::promql::instant_query(&*lookout_tsdb::shared(), promql, t_ms).map_err(|e| e.to_string())? {
            Value::Scalar(v) => Ok(Some(v)),
            Value::Vector(v) if v.is_empty() => Ok(None),
            Value::Vector(v) if v.len() == 1 => Ok(Some(v[0].1)),
            Value::Vector(v) => Err(format!("the query returned {} series; scaling needs one value", v.len())),
            other => Err(format!("the query returned a {other:?}, not a number")),
        }
    }

    fn firing_alerts(&self) -> Vec<String> {
        self.rules.as_ref().map(Engine::firing_alerts).unwrap_or_default()
    }
}

/// The running scaler.
pub struct Scaling {
    scaler: Arc<Scaler>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Scaling {
    /// Starts the scaler when the pipeline has `scaling:`.
    pub async fn start(
        config: &PipelineConfig,
        telemetry: &Telemetry,
        rules: Option<Engine>,
    ) -> anyhow::Result<Option<Scaling>> {
        let Some(policies) = load_policies(config).map_err(|e| anyhow::anyhow!("{e}"))? else { return Ok(None) };
        let keda = policies.keda.clone();
        let scaler = Arc::new(Scaler::new(policies, Path::new(&config.data_dir), Arc::new(Inputs { rules }))?);
        telemetry.with_registry(|r| scaler.register_metrics(r));
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let (s, token) = (scaler.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = s.run(token).await {
                warn!(error = %e, "The scaler stopped.");
            }
        }));
        // The console view: one log line per decision that changes the count.
        let (s, token) = (scaler.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            let mut changes = s.subscribe();
            let mut last: std::collections::BTreeMap<String, (i32, i32)> = Default::default();
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    r = changes.changed() => if r.is_err() { return },
                }
                for d in s.latest() {
                    if last.insert(d.scaler.clone(), (d.current, d.desired)) != Some((d.current, d.desired)) {
                        let reasons: Vec<&str> = d.reasons.iter().map(|r| r.message.as_str()).collect();
                        info!(scaler = %d.scaler, current = d.current, desired = d.desired, reasons = %reasons.join("; "), "Scaling decision.");
                    }
                }
            }
        }));
        if let Some(k) = keda {
            let listener = tokio::net::TcpListener::bind(&k.address)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on keda.address {}: {e}", k.address))?;
            info!(address = %k.address, "KEDA external scaler listening.");
            let (s, token) = (scaler.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = lookout_scaler::actuator::keda::serve(listener, s, token).await {
                    warn!(error = %e, "The KEDA external scaler stopped.");
                }
            }));
        }
        Ok(Some(Scaling { scaler, shutdown, tasks }))
    }

    /// `GET /api/v1/scaler`.
    pub fn router(&self) -> axum::Router {
        lookout_scaler::router(self.scaler.clone())
    }

    /// Stops evaluating (state is saved with every decision).
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
