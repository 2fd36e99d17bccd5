//! The `http_server` source: log records `POST`ed as JSON, NDJSON or text lines
//! (optionally gzip or zstd), as Vector's `http` sink, Fluent Bit's `http` output,
//! Logstash's `http` output and curl send them.
//!
//! Decoded bodies go through the otlp source's admission path ([`Ingest`]): the same
//! size limit (also after inflation), memory push-back, tenants and rate limits,
//! `acknowledgements`, and the same listener limits and TLS.

pub mod decode;
mod serve;

use std::net::SocketAddr;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_component::{BuildError, ComponentError, ComponentFuture, SourceConfig, SourceContext};
use lookout_config::{ComponentDecl, ConfigErrors, TlsConfig};
use lookout_server::listener::Tls;
use serde::Deserialize;

pub use decode::{BodyEncoding, FieldMap};

use crate::otlp::Ingest;

/// `type: http_server`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerSourceConfig {
    /// `host:port` to listen on.
    pub address: SocketAddr,
    /// The path records are `POST`ed to.
    #[serde(default = "default_path")]
    pub path: String,
    /// `json` (an object, an array, or several in a row), `ndjson`, or `text` (a record per line).
    #[serde(default)]
    pub encoding: BodyEncoding,
    /// The field holding the time (default: the first of `timestamp`, `@timestamp`, `time`, `date`).
    #[serde(default)]
    pub timestamp_field: Option<String>,
    /// The field holding the message (default: `message`, `log`, `msg`).
    #[serde(default)]
    pub message_field: Option<String>,
    /// The field holding the service name (default: `service`, `service.name`).
    #[serde(default)]
    pub service_field: Option<String>,
    /// Serve TLS (and with `client_ca_file`, mTLS); relative paths start at the pipeline file's directory.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Largest body accepted, in bytes, counted before and after decompression.
    #[serde(default = "default_max_request_size")]
    pub max_request_size: usize,
    /// How long a request may wait for room in a full pipeline before a 503.
    #[serde(default = "default_pipeline_wait_ms")]
    pub pipeline_wait_ms: u64,
    /// The `Retry-After` (seconds) sent with a 503.
    #[serde(default = "default_retry_after_secs")]
    pub retry_after_secs: u64,
    /// Answer 200 only once every sink holds the records durably (see the otlp source).
    #[serde(default)]
    pub acknowledgements: bool,
    /// With `acknowledgements`, how long a request waits for the sinks' confirmation.
    #[serde(default = "default_ack_timeout_secs")]
    pub ack_timeout_secs: f64,
    /// Bearer-token authentication against a tenants file, as the otlp source.
    #[serde(default)]
    pub auth: Option<crate::tenant::AuthConfig>,
}

fn default_path() -> String {
    "/".into()
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

fn default_ack_timeout_secs() -> f64 {
    30.0
}

impl HttpServerSourceConfig {
    fn fields(&self) -> FieldMap {
        FieldMap {
            timestamp: self.timestamp_field.clone(),
            message: self.message_field.clone(),
            service: self.service_field.clone(),
        }
    }
}

impl SourceConfig for HttpServerSourceConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        if !self.path.starts_with('/') || self.path.contains(['{', '}', '*']) {
            return Err(decl
                .error(format!("`path` must be a plain path starting with `/`, not {:?}", self.path))
                .into());
        }
        if !(self.ack_timeout_secs > 0.0 && self.ack_timeout_secs.is_finite()) {
            return Err(decl.error("`ack_timeout_secs` must be a positive number of seconds").into());
        }
        if self.max_request_size == 0 {
            return Err(decl.error("`max_request_size` must be greater than 0").into());
        }
        for (what, field) in [
            ("timestamp_field", &self.timestamp_field),
            ("message_field", &self.message_field),
            ("service_field", &self.service_field),
        ] {
            if field.as_deref().is_some_and(str::is_empty) {
                return Err(decl.error(format!("`{what}` must not be empty")).into());
            }
        }
        if let Some(tls) = &self.tls {
            tls.set_config_file(std::path::Path::new(&*decl.position.file));
            Tls::check(tls).map_err(|e| decl.error(e.to_string()))?;
        }
        if let Some(auth) = &self.auth {
            let path = auth.resolve(std::path::Path::new(&*decl.position.file));
            crate::tenant::Tenants::load(path)?;
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
                .map_err(|e| BuildError(format!("cannot listen for HTTP on {}: {e}", config.address)))?;
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
            let receiver = serve::Receiver { ingest, encoding: config.encoding, fields: config.fields() };
            let (id, health, shutdown) = (cx.id, cx.health, cx.shutdown);
            let fut: ComponentFuture = async move {
                if let Some(a) = &auth {
                    tokio::spawn(a.clone().watch(shutdown.clone()));
                }
                let address = listener.local_addr().map_err(ComponentError::new)?;
                tracing::info!(source = %id, %address, path = %config.path, "HTTP server source listening");
                let router = serve::router(&config.path, receiver, auth);
                health.ready();
                let stats = std::sync::Arc::new(lookout_server::listener::ListenerStats::default());
                let limits = lookout_server::listener::ListenerLimits::default();
                lookout_server::listener::serve(listener, router, limits, stats, tls, shutdown)
                    .await
                    .map_err(ComponentError::new)
            }
            .boxed();
            Ok(fut)
        }
        .boxed()
    }
}
