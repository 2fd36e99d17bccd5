//! The `vector` source: Vector's native v2 protocol (gRPC service `vector.Vector`), so
//! existing Vector agents point their `vector` sink at Lookout.
//!
//! Log and metric events are mapped to OTLP ([`map`]) and go through the otlp source's
//! admission path ([`Ingest`]): size limit, memory push-back, tenants and rate limits,
//! `acknowledgements`, and the same listener limits and TLS.

pub mod map;
pub mod proto;
mod serve;

use std::net::SocketAddr;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_component::{BuildError, ComponentError, ComponentFuture, SourceConfig, SourceContext};
use lookout_config::{ComponentDecl, ConfigErrors, TlsConfig};
use lookout_server::listener::{ListenerLimits, ListenerStats, Tls};
use serde::Deserialize;

use crate::otlp::Ingest;
use crate::tenant::{self, auth::Guard};

/// `type: vector`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorSourceConfig {
    /// `host:port` to listen on (Vector's default port is 6000).
    pub address: SocketAddr,
    /// Serve TLS (and with `client_ca_file`, mTLS); relative paths start at the pipeline file's directory.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Largest request accepted, in bytes, counted after decompression.
    #[serde(default = "default_max_request_size")]
    pub max_request_size: usize,
    /// How long a request may wait for room in a full pipeline before UNAVAILABLE.
    #[serde(default = "default_pipeline_wait_ms")]
    pub pipeline_wait_ms: u64,
    /// Answer only once every sink holds the events durably (see the otlp source).
    #[serde(default)]
    pub acknowledgements: bool,
    /// With `acknowledgements`, how long a request waits for the sinks' confirmation.
    #[serde(default = "default_ack_timeout_secs")]
    pub ack_timeout_secs: f64,
    /// Bearer-token authentication against a tenants file, as the otlp source.
    #[serde(default)]
    pub auth: Option<tenant::AuthConfig>,
}

fn default_max_request_size() -> usize {
    16 * 1024 * 1024
}

fn default_pipeline_wait_ms() -> u64 {
    1000
}

fn default_ack_timeout_secs() -> f64 {
    30.0
}

impl SourceConfig for VectorSourceConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        if !(self.ack_timeout_secs > 0.0 && self.ack_timeout_secs.is_finite()) {
            return Err(decl.error("`ack_timeout_secs` must be a positive number of seconds").into());
        }
        if self.max_request_size == 0 {
            return Err(decl.error("`max_request_size` must be greater than 0").into());
        }
        if let Some(tls) = &self.tls {
            tls.set_config_file(std::path::Path::new(&*decl.position.file));
            Tls::check(tls).map_err(|e| decl.error(e.to_string()))?;
        }
        if let Some(auth) = &self.auth {
            let path = auth.resolve(std::path::Path::new(&*decl.position.file));
            tenant::Tenants::load(path)?;
        }
        Ok(())
    }

    fn build(&self, cx: SourceContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            let tls = match config.tls.clone() {
                Some(c) => Some(Tls::new(c).map_err(|e| BuildError(e.to_string()))?),
                None => None,
            };
            let listener = tokio::net::TcpListener::bind(config.address)
                .await
                .map_err(|e| BuildError(format!("cannot listen for Vector on {}: {e}", config.address)))?;
            let auth = config.auth.as_ref().map(|a| a.authenticator(&cx.id, cx.store.clone())).transpose()?;
            // gRPC has no Retry-After: the 1 s is only what Rejection carries.
            let mut ingest = Ingest::new(
                cx.out,
                cx.metrics,
                config.max_request_size,
                Duration::from_millis(config.pipeline_wait_ms),
                1,
            );
            if config.acknowledgements {
                ingest = ingest.with_acknowledgements(Duration::from_secs_f64(config.ack_timeout_secs));
            }
            let server = serve::VectorServer::new(serve::VectorService::new(ingest), config.max_request_size);
            let (id, health, shutdown) = (cx.id, cx.health, cx.shutdown);
            let fut: ComponentFuture = async move {
                if let Some(a) = &auth {
                    tokio::spawn(a.clone().watch(shutdown.clone()));
                }
                let address = listener.local_addr().map_err(ComponentError::new)?;
                tracing::info!(source = %id, %address, "Vector source listening");
                let mut router = tonic::service::Routes::new(server).into_axum_router();
                if let Some(auth) = auth {
                    let guard = Guard { auth, transport: "grpc", reject: crate::otlp::grpc_reject };
                    router = router.layer(axum::middleware::from_fn_with_state(guard, tenant::auth::guard));
                }
                let router =
                    router.layer(tower::util::MapResponseLayer::new(crate::otlp::oversize_is_resource_exhausted));
                health.ready();
                let stats = std::sync::Arc::new(ListenerStats::default());
                lookout_server::listener::serve(listener, router, ListenerLimits::default(), stats, tls, shutdown)
                    .await
                    .map_err(ComponentError::new)
            }
            .boxed();
            Ok(fut)
        }
        .boxed()
    }
}
