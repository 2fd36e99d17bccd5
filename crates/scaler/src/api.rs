//! `GET /api/v1/scaler`: decisions and history as JSON, in the Prometheus API envelope.
//!
//! Query parameters: `scaler` (only that scaler) and `limit` (history entries per scaler,
//! newest first, default 100, at most the stored history).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::decide::Decision;
use crate::engine::Scaler;

#[derive(Deserialize)]
struct Params {
    scaler: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct ScalerView<'a> {
    name: &'a str,
    min_replicas: i32,
    max_replicas: i32,
    interval_seconds: i64,
    actuator: &'static str,
    decision: Option<Decision>,
    history: Vec<Decision>,
}

/// The router (mount it in the API server).
pub fn router(scaler: Arc<Scaler>) -> Router {
    Router::new().route("/api/v1/scaler", get(list)).with_state(scaler)
}

async fn list(State(s): State<Arc<Scaler>>, Query(p): Query<Params>) -> Response {
    if let Some(name) = &p.scaler
        && !s.policies().iter().any(|x| &x.name == name)
    {
        let body = serde_json::json!({"status": "error", "errorType": "not_found", "error": format!("no scaler named `{name}`")});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    let limit = p.limit.unwrap_or(100);
    let views: Vec<ScalerView> = s
        .policies()
        .iter()
        .filter(|x| p.scaler.as_ref().is_none_or(|n| n == &x.name))
        .map(|x| {
            let history: Vec<Decision> = s.history(&x.name).into_iter().rev().take(limit).collect();
            ScalerView {
                name: &x.name,
                min_replicas: x.min_replicas,
                max_replicas: x.max_replicas,
                interval_seconds: x.interval_seconds,
                actuator: x.actuator.kind(),
                decision: history.first().cloned(),
                history,
            }
        })
        .collect();
    let leader = s.leader();
    Json(serde_json::json!({"status": "success", "data": {"leader": leader, "scalers": views}})).into_response()
}
