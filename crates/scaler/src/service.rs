//! The scaler in a running Lookout: the engine on its intervals, the KEDA external scaler
//! when the policies ask for it, the `target_health` pollers, and `GET /api/v1/scaler`,
//! started together and stopped together.

use std::path::Path;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{Error, MetricSource, PolicyFile, Scaler};

/// The running scaler; [`ScalerService::stop`] ends it.
pub struct ScalerService {
    scaler: Arc<Scaler>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl ScalerService {
    /// Starts evaluating `policies` over `source` (state under `data_dir`), registers the
    /// `lookout_scaler_*` metrics, and listens for KEDA on `keda.address` if set. Call
    /// inside a Tokio runtime.
    pub fn start(
        policies: PolicyFile,
        data_dir: &Path,
        source: Arc<dyn MetricSource>,
        registry: &mut Registry,
    ) -> Result<ScalerService, Error> {
        let keda = policies.keda.clone();
        let target_health = policies.target_health.clone();
        let scaler = Arc::new(Scaler::new(policies, data_dir, source.clone())?);
        scaler.register_metrics(registry);
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let (s, token) = (scaler.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = s.run(token).await {
                warn!(error = %e, "The scaler stopped.");
            }
        }));
        if let Some(k) = keda {
            let tls = k.tls.clone().map(lookout_server::listener::Tls::new).transpose().map_err(Error::KedaTls)?;
            let listen = || {
                let l = std::net::TcpListener::bind(&k.address)?;
                l.set_nonblocking(true)?;
                tokio::net::TcpListener::from_std(l)
            };
            let listener = listen().map_err(|source| Error::KedaListen { address: k.address.clone(), source })?;
            info!(address = %k.address, "KEDA external scaler listening.");
            let (s, token) = (scaler.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = crate::actuator::keda::serve(listener, s, tls, token).await {
                    warn!(error = %e, "The KEDA external scaler stopped.");
                }
            }));
        }
        // The policy check refuses `target_health` without the `aws` feature.
        #[cfg(feature = "aws")]
        for t in target_health {
            tasks.push(tokio::spawn(crate::target_health::run(t, source.clone(), shutdown.clone())));
        }
        #[cfg(not(feature = "aws"))]
        drop((target_health, source));
        Ok(ScalerService { scaler, shutdown, tasks })
    }

    /// The engine (decisions, history).
    pub fn scaler(&self) -> &Arc<Scaler> {
        &self.scaler
    }

    /// `GET /api/v1/scaler`.
    pub fn router(&self) -> axum::Router {
        crate::router(self.scaler.clone())
    }

    /// Stops evaluating (state is saved with every decision).
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
