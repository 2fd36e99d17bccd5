//! `/health`, `/health/live`, `/health/ready`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use indexmap::IndexMap;
use lookout_component::{ComponentHealth, ComponentState};
use serde::Serialize;

use crate::ApiState;

/// The overall status on `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Every component is running (or has stopped cleanly during shutdown).
    Ok,
    /// A component is running impaired.
    Degraded,
    /// A component failed.
    Failed,
    /// A component has not started yet, or no pipeline is loaded (during a reload).
    Starting,
}

/// The `/health` document.
#[derive(Debug, Serialize)]
struct HealthBody {
    status: Status,
    version: &'static str,
    uptime_seconds: f64,
    components: IndexMap<String, ComponentHealth>,
}

fn overall(components: &IndexMap<String, ComponentHealth>) -> Status {
    let states = || components.values().map(|c| &c.state);
    if states().any(|s| matches!(s, ComponentState::Failed(_))) {
        Status::Failed
    } else if states().any(|s| matches!(s, ComponentState::Degraded(_))) {
        Status::Degraded
    } else if components.is_empty() || states().any(|s| matches!(s, ComponentState::Starting)) {
        Status::Starting
    } else {
        Status::Ok
    }
}

/// `GET /health`: 200, or 503 when a component failed.
pub(crate) async fn health(State(state): State<ApiState>) -> Response {
    let components = state.health.snapshot();
    let status = overall(&components);
    let code = if status == Status::Failed { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let body = HealthBody { status, version: state.version, uptime_seconds: state.uptime_seconds(), components };
    (code, Json(body)).into_response()
}

/// `GET /health/live`: the process is up.
pub(crate) async fn live() -> &'static str {
    "ok"
}

/// The `/health/ready` document.
#[derive(Debug, Serialize)]
struct ReadyBody {
    ready: bool,
    /// The components holding readiness back (failed, or sources not yet listening).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    not_ready: IndexMap<String, ComponentHealth>,
}

/// `GET /health/ready`: 200 once every source listens and nothing failed, else 503.
pub(crate) async fn ready(State(state): State<ApiState>) -> Response {
    if state.health.is_ready() {
        return (StatusCode::OK, Json(ReadyBody { ready: true, not_ready: IndexMap::new() })).into_response();
    }
    let not_ready = state
        .health
        .snapshot()
        .into_iter()
        .filter(|(_, c)| matches!(c.state, ComponentState::Failed(_)) || (c.kind == "source" && !c.ready))
        .collect();
    (StatusCode::SERVICE_UNAVAILABLE, Json(ReadyBody { ready: false, not_ready })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router;
    use axum::body::Body;
    use axum::http::Request;
    use lookout_component::{Health, Telemetry};
    use serde_json::Value;
    use tower::ServiceExt;

    async fn get(health: &Health, path: &str) -> (StatusCode, String) {
        let state = ApiState::new(Telemetry::new(), health.clone(), "9.9.9");
        let resp = router(state).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn get_json(health: &Health, path: &str) -> (StatusCode, Value) {
        let (status, body) = get(health, path).await;
        (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")))
    }

    fn pipeline() -> (Health, lookout_component::HealthHandle, lookout_component::HealthHandle) {
        let health = Health::default();
        let source = health.register("otlp", "source", "otlp");
        let sink = health.register("archive", "sink", "file");
        (health, source, sink)
    }

    #[tokio::test]
    async fn health_reports_every_component() {
        let (health, source, sink) = pipeline();
        let (status, doc) = get_json(&health, "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["status"], "starting", "{doc}");
        assert_eq!(doc["components"]["otlp"]["state"], "starting");

        source.ready();
        sink.ready();
        let (status, doc) = get_json(&health, "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["status"], "ok", "{doc}");
        assert_eq!(doc["version"], "9.9.9");
        assert!(doc["uptime_seconds"].as_f64().unwrap() >= 0.0);
        assert_eq!(
            doc["components"]["archive"],
            serde_json::json!({"kind": "sink", "type": "file", "state": "running", "ready": true})
        );

        sink.set_state(ComponentState::Degraded("disk full".into()));
        let (status, doc) = get_json(&health, "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["status"], "degraded");
        assert_eq!(doc["components"]["archive"]["reason"], "disk full");

        sink.set_state(ComponentState::Failed("boom".into()));
        let (status, doc) = get_json(&health, "/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(doc["status"], "failed");
        assert_eq!(doc["components"]["archive"]["state"], "failed");
        assert_eq!(doc["components"]["archive"]["reason"], "boom");
    }

    #[tokio::test]
    async fn live_is_always_ok() {
        let (status, body) = get(&Health::default(), "/health/live").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }

    #[tokio::test]
    async fn ready_waits_for_sources_and_fails_on_failure() {
        let (status, doc) = get_json(&Health::default(), "/health/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no pipeline yet: {doc}");
        // The notifier registers before the pipeline is built: still nothing listens.
        let early = Health::default();
        early.register("notifier", "alerting", "notifier").set_state(ComponentState::Running);
        let (status, doc) = get_json(&early, "/health/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no source registered yet: {doc}");

        let (health, source, sink) = pipeline();
        let (status, doc) = get_json(&health, "/health/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(doc["ready"], false);
        assert_eq!(doc["not_ready"]["otlp"]["state"], "starting", "{doc}");
        assert!(doc["not_ready"].get("archive").is_none(), "sinks do not gate readiness: {doc}");

        source.ready();
        let (status, doc) = get_json(&health, "/health/ready").await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        assert_eq!(doc, serde_json::json!({"ready": true}));

        sink.set_state(ComponentState::Failed("boom".into()));
        let (status, doc) = get_json(&health, "/health/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(doc["not_ready"]["archive"]["reason"], "boom", "{doc}");
    }
}
