//! The sink's config: the user's keys, checked at load ([`PrometheusRemoteWriteConfig`]),
//! and what building it reads (the CA file, credentials).

use std::sync::Mutex;

use futures::FutureExt;
use futures::future::BoxFuture;
use indexmap::IndexMap;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentFuture, SinkConfig, SinkContext};
use lookout_config::{ComponentDecl, ConfigErrors, PromDuration, Secret, secret_or_file};
use lookout_tsdb::otlp::{DeltaConfig, Limits, Translator};
use lookout_tsdb::remote::USER_AGENT;
use serde::Deserialize;

use super::{RemoteWrite, State};
use crate::Error;
use crate::delivery::{self, HealthCheckSettings, SendError};

crate::network_sink_config! {
    /// `type: prometheus_remote_write`
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PrometheusRemoteWriteConfig {
        /// Extra request headers. Every value is a [`Secret`] (they carry API keys).
        #[serde(default)]
        pub headers: IndexMap<String, Secret>,
        /// HTTP basic auth.
        #[serde(default)]
        pub basic_auth: Option<BasicAuth>,
        /// `Authorization: Bearer <token>`.
        #[serde(default)]
        pub bearer_token: Option<Secret>,
        /// A file holding the bearer token, read for every request (it may rotate).
        #[serde(default)]
        pub bearer_token_file: Option<String>,
        /// `X-Scope-OrgID`: the tenant of multi-tenant stores (Mimir, Cortex, Loki's
        /// convention).
        #[serde(default)]
        pub tenant_id: Option<String>,
        /// TLS towards the endpoints.
        #[serde(default)]
        pub tls: Option<ClientTls>,
        /// Labels added to every series that does not have them (Prometheus's
        /// `external_labels`: the series' own labels win).
        #[serde(default)]
        pub external_labels: IndexMap<String, String>,
        /// Send exemplars (trace and span ids of samples).
        #[serde(default = "yes")]
        pub send_exemplars: bool,
        /// Send metric metadata (type, description, unit).
        #[serde(default = "yes")]
        pub send_metadata: bool,
        /// Bounds of the delta → cumulative state.
        #[serde(default)]
        pub delta: DeltaSettings,
        /// The sink's buffer.
        #[serde(default)]
        pub buffer: BufferConfig,
    }
    delivery { endpoint, endpoints, load_balance, batch, request, circuit_breaker, dead_letter }
}

fn yes() -> bool {
    true
}

/// `basic_auth:` as Prometheus's `remote_write` spells it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// File holding the password (read when the sink starts).
    #[serde(default)]
    pub password_file: Option<String>,
}

/// `tls:` towards the endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// PEM CA certificates to trust (besides the system's).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Skip certificate verification (tests only: anyone can read and change the data).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `delta:` — the delta → cumulative state ([`lookout_tsdb::otlp::DeltaConfig`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaSettings {
    /// Most series tracked; points of further series are dropped and counted.
    #[serde(default = "default_max_streams")]
    pub max_streams: usize,
    /// A series with no delta point for this long is forgotten.
    #[serde(default = "default_max_stale")]
    pub max_stale: PromDuration,
}

fn default_max_streams() -> usize {
    DeltaConfig::default().max_streams
}

fn default_max_stale() -> PromDuration {
    PromDuration(DeltaConfig::default().max_stale)
}

impl Default for DeltaSettings {
    fn default() -> Self {
        DeltaSettings { max_streams: default_max_streams(), max_stale: default_max_stale() }
    }
}

/// Headers the protocol sets itself.
const RESERVED_HEADERS: [&str; 5] =
    ["content-encoding", "content-type", "content-length", "x-prometheus-remote-write-version", "user-agent"];

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

impl PrometheusRemoteWriteConfig {
    /// The checks that need no I/O.
    pub(super) fn check(&self) -> Result<(), String> {
        self.delivery().check_endpoints("prometheus_remote_write").map_err(|e| e.to_string())?;
        for name in self.headers.keys() {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("`headers`: `{name}` is not a valid header name"));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!("`headers`: `{name}` is set by the remote-write protocol and cannot be replaced"));
            }
        }
        let auths = [self.basic_auth.is_some(), self.bearer_token.is_some(), self.bearer_token_file.is_some()];
        if auths.iter().filter(|a| **a).count() > 1 {
            return Err("at most one of `basic_auth`, `bearer_token` and `bearer_token_file` must be configured".into());
        }
        if let Some(b) = &self.basic_auth {
            match (&b.password, &b.password_file) {
                (Some(_), Some(_)) => {
                    return Err("at most one of `basic_auth.password` and `basic_auth.password_file`".into());
                }
                (None, None) => return Err("`basic_auth` needs `password` or `password_file`".into()),
                _ => {}
            }
        }
        if let Some(name) = self.external_labels.keys().find(|n| !valid_label_name(n)) {
            return Err(format!(
                "`external_labels`: `{name}` is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
            ));
        }
        if let Some((name, _)) = self.external_labels.iter().find(|(_, v)| v.is_empty()) {
            return Err(format!("`external_labels`: `{name}` has an empty value"));
        }
        if self.tenant_id.as_deref().is_some_and(|t| reqwest::header::HeaderValue::from_str(t).is_err()) {
            return Err("`tenant_id` cannot be sent as a header value".into());
        }
        if self.delta.max_streams == 0 {
            return Err("`delta.max_streams` must be at least 1".into());
        }
        Ok(())
    }

    pub(super) fn client(&self) -> Result<reqwest::Client, BuildError> {
        let mut builder = reqwest::Client::builder().user_agent(USER_AGENT);
        if let Some(tls) = &self.tls {
            if let Some(path) = &tls.ca_file {
                let pem = std::fs::read(path).map_err(|e| BuildError(format!("tls.ca_file {path}: {e}")))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| BuildError(format!("tls.ca_file {path}: not PEM certificates: {e}")))?;
                if certs.is_empty() {
                    return Err(BuildError(format!("tls.ca_file {path}: no PEM certificate in it")));
                }
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
            builder = builder.danger_accept_invalid_certs(tls.insecure_skip_verify);
        }
        builder.build().map_err(|e| Error::from(e).into())
    }

    fn credentials(&self) -> Result<Option<Credentials>, Error> {
        if let Some(b) = &self.basic_auth {
            let password = secret_or_file("basic_auth.password", b.password.as_ref(), b.password_file.as_deref())?
                .unwrap_or_else(|| Secret::new(""));
            return Ok(Some(Credentials::Basic { user: b.username.clone(), password }));
        }
        if let Some(token) = &self.bearer_token {
            return Ok(Some(Credentials::Bearer(token.clone())));
        }
        Ok(self.bearer_token_file.clone().map(Credentials::BearerFile))
    }
}

impl SinkConfig for PrometheusRemoteWriteConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        self.check().map_err(|e| ConfigErrors::from(decl.error(e)))
    }

    fn buffer(&self) -> BufferConfig {
        self.buffer
    }

    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            let delta = DeltaConfig {
                max_streams: config.delta.max_streams,
                max_stale: config.delta.max_stale.0,
                ..DeltaConfig::default()
            };
            let protocol = RemoteWrite {
                client: config.client()?,
                credentials: config.credentials().map_err(BuildError::from)?,
                headers: config.headers.clone(),
                tenant_id: config.tenant_id.clone(),
                external_labels: config.external_labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                send_exemplars: config.send_exemplars,
                send_metadata: config.send_metadata,
                state: Mutex::new(State::new(Translator::new(Limits::default(), delta))),
                metrics: cx.metrics.clone(),
                sink: cx.id.clone(),
            };
            // A write URL has no health endpoint: only the circuit breaker judges.
            let delivery =
                delivery::DeliveryConfig { health_check: HealthCheckSettings::disabled(), ..config.delivery() };
            Ok(delivery::component(cx, protocol, delivery.settings()))
        }
        .boxed()
    }
}

/// Credentials, files read (a bearer token file is read per request: it may rotate).
#[derive(Debug, Clone)]
pub(super) enum Credentials {
    Basic { user: String, password: Secret },
    Bearer(Secret),
    BearerFile(String),
}

impl Credentials {
    pub(super) fn apply(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, SendError> {
        Ok(match self {
            Credentials::Basic { user, password } => request.basic_auth(user, Some(password.expose())),
            Credentials::Bearer(token) => request.bearer_auth(token.expose()),
            Credentials::BearerFile(path) => {
                // Retried like an outage: the file may be mid-rotation.
                let token = Secret::from_file(path).map_err(|e| SendError::Retryable(e.to_string()))?;
                request.bearer_auth(token.expose())
            }
        })
    }
}
