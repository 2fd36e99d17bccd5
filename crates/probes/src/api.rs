//! `GET /api/v1/probes`: each probe's configuration summary and state, in the
//! Prometheus API envelope. `?probe=NAME` selects one (404 when there is none).

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;
use crate::service::ProbeService;

#[derive(Deserialize)]
struct Params {
    probe: Option<String>,
}

#[derive(Serialize)]
struct ProbeView<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    target: &'a str,
    labels: &'a indexmap::IndexMap<String, String>,
    interval_seconds: f64,
    timeout_seconds: f64,
    failure_threshold: u32,
    success_threshold: u32,
    /// `up` or `down`, thresholds applied.
    state: &'static str,
    since: String,
    consecutive_successes: u32,
    consecutive_failures: u32,
    checks_total: u64,
    failures_total: u64,
    last_result: Option<&'a Outcome>,
    last_error: Option<LastError<'a>>,
    /// Newest first.
    history: Vec<&'a Outcome>,
}

#[derive(Serialize)]
struct LastError<'a> {
    error: &'a str,
    at: String,
}

/// The router (mount it in the API server).
pub fn router(service: ProbeService) -> Router {
    Router::new().route("/api/v1/probes", get(list)).with_state(service)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

async fn list(State(service): State<ProbeService>, Query(p): Query<Params>) -> Response {
    let all = service.snapshot();
    if let Some(name) = &p.probe
        && !all.iter().any(|(probe, _)| &probe.name == name)
    {
        let body = serde_json::json!({"status": "error", "errorType": "not_found", "error": format!("no probe named `{name}`")});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    let views: Vec<ProbeView> = all
        .iter()
        .filter(|(probe, _)| p.probe.as_ref().is_none_or(|n| n == &probe.name))
        .map(|(probe, state)| ProbeView {
            name: &probe.name,
            kind: probe.kind.as_str(),
            target: &probe.target,
            labels: &probe.labels,
            interval_seconds: probe.interval.as_secs_f64(),
            timeout_seconds: probe.timeout.as_secs_f64(),
            failure_threshold: probe.failure_threshold,
            success_threshold: probe.success_threshold,
            state: if state.tracker.up { "up" } else { "down" },
            since: rfc3339(state.tracker.since_ms),
            consecutive_successes: state.tracker.consecutive_successes,
            consecutive_failures: state.tracker.consecutive_failures,
            checks_total: state.tracker.checks_total,
            failures_total: state.tracker.failures_total,
            last_result: state.last(),
            last_error: state.last_error.as_ref().map(|(e, at)| LastError { error: e, at: rfc3339(*at) }),
            history: state.history.iter().rev().collect(),
        })
        .collect();
    Json(serde_json::json!({"status": "success", "data": {"probes": views}})).into_response()
}
