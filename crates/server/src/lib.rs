//! Lookout's HTTP API (axum) on `api.address`: health and self-metrics.
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | JSON: overall `status`, `version`, `uptime_seconds` and every component's `kind`, `type`, `state` (with `reason` when degraded or failed) and `ready`; 503 when a component failed |
//! | `GET /health/live` | `ok`: the process is up |
//! | `GET /health/ready` | 200 once every source listens and nothing failed, else 503 with the components holding it back |
//! | `GET /metrics` | Prometheus text exposition: every component's counters plus build and process metrics |
//! | `GET /api/v1/pipeline` | JSON: the component graph as configured, each component's health, counters and buffer ([`pipeline`]) |
//!
//! [`router`] gives the routes as an [`axum::Router`] so other features can merge
//! their own; [`serve`] runs them until the shutdown token fires, through [`listener`],
//! which every Lookout HTTP/gRPC listener uses for its timeouts and limits. Every route,
//! merged ones included, sits behind [`auth`] (`api.web_config_file`: users, roles and
//! the audit trail), given with [`ApiState::with_auth`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod auth;
mod health;
pub mod listener;
mod metrics;
pub mod pipeline;
pub mod self_scrape;

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use lookout_component::{Health, Shutdown, Telemetry};

/// What the API reads: the process-wide metrics and health registries.
#[derive(Clone)]
pub struct ApiState {
    telemetry: Telemetry,
    health: Health,
    version: &'static str,
    started: Instant,
    started_unix: f64,
    auth: auth::ApiAuth,
    pipeline: pipeline::PipelineGraph,
}

/// When the process started (first API state built), as an `Instant` and Unix seconds.
fn process_start() -> (Instant, f64) {
    static START: OnceLock<(Instant, f64)> = OnceLock::new();
    *START.get_or_init(|| {
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        (Instant::now(), unix)
    })
}

impl ApiState {
    /// The API over `telemetry` and `health` (both shared handles: the pipeline keeps
    /// updating them), reporting `version`.
    pub fn new(telemetry: Telemetry, health: Health, version: &'static str) -> ApiState {
        let (started, started_unix) = process_start();
        let auth = auth::ApiAuth::open(auth::AuditMetrics::new());
        ApiState { telemetry, health, version, started, started_unix, auth, pipeline: Default::default() }
    }

    /// The API behind `auth` instead of open to all.
    pub fn with_auth(mut self, auth: auth::ApiAuth) -> ApiState {
        self.auth = auth;
        self
    }

    /// The API reporting `graph` on `/api/v1/pipeline` (set it on every (re)load).
    pub fn with_pipeline(mut self, graph: pipeline::PipelineGraph) -> ApiState {
        self.pipeline = graph;
        self
    }

    /// The metrics registry.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The health registry.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Seconds since the process started.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// Every API route, with `state` applied.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/pipeline", get(pipeline::pipeline))
        .with_state(state)
}

/// Every route, `extra` merged in, behind the state's access control.
fn api(state: ApiState, extra: Router) -> Router {
    let auth = state.auth.clone();
    auth.layer(router(state).merge(extra))
}

/// Serves the API on `listener` until `shutdown` fires, then closes idle connections,
/// gives the requests in flight a few seconds to finish and returns.
pub async fn serve(listener: tokio::net::TcpListener, state: ApiState, shutdown: Shutdown) -> std::io::Result<()> {
    serve_with(listener, state, Router::new(), None, shutdown).await
}

/// [`serve`] with more routes merged in (the rule engine's, the notifier's, ...), over
/// TLS when `tls` is given (build it with [`listener::Tls::new`] before starting, so a
/// bad certificate stops the start).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: ApiState,
    extra: Router,
    tls: Option<listener::Tls>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let stats = std::sync::Arc::new(listener::ListenerStats::default());
    let limits = listener::ListenerLimits::default();
    listener::serve(listener, api(state, extra), limits, stats, tls, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use std::time::Duration;

    #[tokio::test]
    async fn serves_until_shutdown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let state = ApiState::new(Telemetry::new(), Health::default(), "1.2.3");
        let task = tokio::spawn(serve(listener, state, shutdown.clone()));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ok"), "{response}");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("stops on shutdown").unwrap().unwrap();
    }

    #[tokio::test]
    async fn unknown_route_is_404() {
        use tower::ServiceExt;
        let state = ApiState::new(Telemetry::new(), Health::default(), "1.2.3");
        let resp = router(state).oneshot(Request::get("/nope").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}
