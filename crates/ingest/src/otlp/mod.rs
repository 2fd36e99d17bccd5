//! The `otlp` source: its config, and the two listeners it starts.

pub mod accept;
mod grpc;
pub(crate) mod http;
mod request;

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt};
use lookout_component::{BuildError, ComponentError, ComponentFuture, SourceConfig, SourceContext};
use lookout_config::{ComponentDecl, ConfigErrors, TlsConfig};
use lookout_server::listener::Tls;
use serde::Deserialize;
use tokio::net::TcpListener;

pub use accept::{Ingest, Rejection};
pub(crate) use grpc::{oversize_is_resource_exhausted, reject as grpc_reject, status as grpc_status};
pub use request::{OtlpRequest, PartialSuccess};

/// Why a running `otlp` source stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A listener's address could not be read.
    #[error("{0}")]
    LocalAddr(std::io::Error),
    /// The HTTP server failed.
    #[error("OTLP/HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// `type: otlp`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSourceConfig {
    /// The gRPC listener (`opentelemetry.proto.collector.*.v1` services).
    #[serde(default)]
    pub grpc: Option<Listen>,
    /// The HTTP listener (`POST /v1/logs`, `/v1/traces`, `/v1/metrics`).
    #[serde(default)]
    pub http: Option<Listen>,
    /// Largest request accepted, in bytes, counted after decompression.
    #[serde(default = "default_max_request_size")]
    pub max_request_size: usize,
    /// How long a request may wait for room in a full pipeline before it is refused
    /// with 503 / UNAVAILABLE (the client retries).
    #[serde(default = "default_pipeline_wait_ms")]
    pub pipeline_wait_ms: u64,
    /// The `Retry-After` (seconds) sent with a 503.
    #[serde(default = "default_retry_after_secs")]
    pub retry_after_secs: u64,
    /// End-to-end acknowledgements: answer a request (HTTP 200 / gRPC OK) only once
    /// every sink it reaches holds it durably (written and fsynced in a disk buffer) or
    /// has delivered it; otherwise 503 / UNAVAILABLE so the client retries. Off, the
    /// answer means "accepted into the pipeline's buffers".
    #[serde(default)]
    pub acknowledgements: bool,
    /// With `acknowledgements`, how long a request waits for the sinks' confirmation.
    #[serde(default = "default_ack_timeout_secs")]
    pub ack_timeout_secs: f64,
    /// Bearer-token authentication against a tenants file (`auth: { tenants_file: … }`);
    /// without it the source accepts any client.
    #[serde(default)]
    pub auth: Option<crate::tenant::AuthConfig>,
}

fn default_ack_timeout_secs() -> f64 {
    30.0
}

/// One listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// `host:port` to listen on.
    pub address: SocketAddr,
    /// Serve TLS (and with `client_ca_file`, mTLS); relative paths start at the
    /// pipeline file's directory. Certificates reload on change and on SIGHUP.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// A listener's TLS with its files read; `what` names it in errors (`grpc`, `http`).
fn load_tls(listen: Option<&Listen>, what: &str) -> Result<Option<Tls>, BuildError> {
    match listen.and_then(|l| l.tls.clone()) {
        Some(c) => Tls::new(c).map(Some).map_err(|e| BuildError(format!("{what}.{e}"))),
        None => Ok(None),
    }
}

fn default_max_request_size() -> usize {
    16 * 1024 * 1024
}

fn default_pipeline_wait_ms() -> u64 {
    1000
}

fn default_retry_after_secs() -> u64 {
    1
}

async fn bind(address: SocketAddr, what: &str) -> Result<TcpListener, BuildError> {
    TcpListener::bind(address).await.map_err(|e| BuildError(format!("cannot listen for OTLP/{what} on {address}: {e}")))
}

impl SourceConfig for OtlpSourceConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        if self.grpc.is_none() && self.http.is_none() {
            return Err(decl.error("an otlp source needs `grpc`, `http` or both").into());
        }
        if !(self.ack_timeout_secs > 0.0 && self.ack_timeout_secs.is_finite()) {
            return Err(decl.error("`ack_timeout_secs` must be a positive number of seconds").into());
        }
        if self.max_request_size == 0 {
            return Err(decl.error("`max_request_size` must be greater than 0").into());
        }
        for (what, listen) in [("grpc", &self.grpc), ("http", &self.http)] {
            if let Some(tls) = listen.as_ref().and_then(|l| l.tls.as_ref()) {
                // The only place that knows the file: relative paths start next to it.
                tls.set_config_file(std::path::Path::new(&*decl.position.file));
                // `lookout check` (and so `lookout run`) reports unreadable or bad files.
                Tls::check(tls).map_err(|e| decl.error(format!("{what}.{e}")))?;
            }
        }
        if let Some(auth) = &self.auth {
            // `lookout check` reports the tenants file's own errors with their positions.
            let path = auth.resolve(std::path::Path::new(&*decl.position.file));
            crate::tenant::Tenants::load(path)?;
        }
        Ok(())
    }

    fn build(&self, cx: SourceContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            // Read again (files may have changed since the check), before binding.
            let grpc_tls = load_tls(config.grpc.as_ref(), "grpc")?;
            let http_tls = load_tls(config.http.as_ref(), "http")?;
            // Bind both before reporting anything: a port in use fails the start.
            let grpc = match config.grpc {
                Some(l) => Some(bind(l.address, "gRPC").await?),
                None => None,
            };
            let http = match config.http {
                Some(l) => Some(bind(l.address, "HTTP").await?),
                None => None,
            };
            let auth = config.auth.as_ref().map(|a| a.authenticator(&cx.id, cx.store.clone())).transpose()?;
            let mut ingest = Ingest::new(
                cx.out,
                cx.metrics,
                config.max_request_size,
                Duration::from_millis(config.pipeline_wait_ms),
                config.retry_after_secs,
            );
            if config.acknowledgements {
                ingest = ingest.with_acknowledgements(Duration::from_secs_f64(config.ack_timeout_secs));
            }
            let id = cx.id;
            let health = cx.health;
            let shutdown = cx.shutdown;
            let fut: ComponentFuture = async move {
                let mut servers = Vec::new();
                if let Some(a) = &auth {
                    tokio::spawn(a.clone().watch(shutdown.clone()));
                }
                if let Some(l) = grpc {
                    tracing::info!(source = %id, address = %l.local_addr().map_err(ServeError::LocalAddr)?, "OTLP/gRPC listening");
                    servers.push(grpc::serve(l, ingest.clone(), auth.clone(), grpc_tls.clone(), shutdown.clone()).boxed());
                }
                if let Some(l) = http {
                    tracing::info!(source = %id, address = %l.local_addr().map_err(ServeError::LocalAddr)?, "OTLP/HTTP listening");
                    servers.push(http::serve(l, ingest.clone(), auth.clone(), http_tls.clone(), shutdown.clone()).boxed());
                }
                drop(ingest);
                health.ready();
                // The topology records Stopped / Failed from the result.
                let results = futures::future::join_all(servers).await;
                results.into_iter().collect::<Result<Vec<()>, ServeError>>().map(|_| ())
            }
            .map_err(ComponentError::new)
            .boxed();
            Ok(fut)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
