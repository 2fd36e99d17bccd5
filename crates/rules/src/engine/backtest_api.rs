//! `POST /api/v1/rules/backtest`: the backtest for the UI, over the embedded store.
//!
//! Request (JSON): `from` and `to` (`lookout rules backtest`'s time forms; `to` defaults
//! to `now`), optional `step` (a duration), and which rules: `rules` (a rule file's YAML,
//! e.g. a rule being edited) or `rule_names` (alerting or recording rules of the loaded,
//! embedded-store groups: their whole groups are replayed, so recording rules still
//! feed them, and only the named alerts are reported), or neither for every loaded
//! embedded-store group. Answer: Prometheus's envelope around the CLI's JSON report.
//!
//! Needs the `viewer` role, like `POST /api/v1/query`: it reads stored data that a
//! viewer can already query and writes nothing (recorded series go to a scratch store).
//! Its cost is bounded instead: one backtest at a time per process (`429` otherwise),
//! at most 20,000 evaluations per group and 5 million copied samples, on a blocking
//! thread.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Engine, now_ms};
use crate::backtest::{self, Settings, StoreSource};
use crate::file::{RuleGroup, parse_rule_file};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BacktestRequest {
    #[serde(default)]
    rules: Option<String>,
    #[serde(default)]
    rule_names: Vec<String>,
    from: String,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    step: Option<String>,
}

/// One backtest at a time: a replay is CPU work on the process serving ingest.
static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

fn error(status: StatusCode, kind: &str, msg: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "status": "error", "errorType": kind, "error": msg.to_string() }))).into_response()
}

/// The groups to replay and the alert names to report (`None`: all).
fn select(engine: &Engine, req: &BacktestRequest) -> Result<(Vec<RuleGroup>, Option<Vec<String>>), String> {
    if let Some(text) = &req.rules {
        if !req.rule_names.is_empty() {
            return Err("give either rules or rule_names, not both".to_string());
        }
        return parse_rule_file("request", text).map(|g| (g, None)).map_err(|e| e.to_string());
    }
    let loaded: Vec<RuleGroup> = engine.groups().iter().filter(|g| !g.remote).map(|g| g.group.clone()).collect();
    if req.rule_names.is_empty() {
        return Ok((loaded, None));
    }
    let groups: Vec<RuleGroup> =
        loaded.into_iter().filter(|g| g.rules.iter().any(|r| req.rule_names.iter().any(|n| n == r.name()))).collect();
    if let Some(missing) = req.rule_names.iter().find(|n| !groups.iter().flat_map(|g| &g.rules).any(|r| r.name() == *n))
    {
        return Err(format!("no loaded rule is named {missing:?}"));
    }
    Ok((groups, Some(req.rule_names.clone())))
}

pub(crate) async fn backtest(State(engine): State<Engine>, body: axum::body::Bytes) -> Response {
    let req: BacktestRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_data", format!("invalid request body: {e}")),
    };
    let now = now_ms();
    let times = backtest::parse_time(&req.from, now)
        .and_then(|from| Ok((from, backtest::parse_time(req.to.as_deref().unwrap_or("now"), now)?)));
    let (from, to) = match times {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_data", e),
    };
    let mut settings = Settings::new(from, to);
    let inner = &engine.inner;
    settings.default_interval_ms = inner.settings.evaluation_interval_ms;
    settings.external_labels = inner.settings.external_labels.clone();
    settings.external_url = inner.settings.external_url.clone();
    settings.resend_delay_ms = inner.settings.resend_delay_ms;
    settings.eval_options = inner.settings.eval_options;
    settings.max_steps = 20_000;
    settings.max_samples = 5_000_000;
    if let Some(step) = &req.step {
        match crate::duration::parse_duration(step) {
            Ok(ms) if ms > 0 => settings.step_ms = Some(ms),
            Ok(_) => return error(StatusCode::BAD_REQUEST, "bad_data", "step must be positive"),
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_data", format!("step: {e}")),
        }
    }
    if let Err(e) = settings.validate() {
        return error(StatusCode::BAD_REQUEST, "bad_data", e);
    }
    let (groups, names) = match select(&engine, &req) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_data", e),
    };
    let Ok(_permit) = RUNNING.try_acquire() else {
        return error(StatusCode::TOO_MANY_REQUESTS, "unavailable", "another backtest is running");
    };
    let source = Arc::new(StoreSource::new(inner.store.clone(), settings.eval_options));
    let ran = tokio::task::spawn_blocking(move || backtest::run(&groups, source, &settings)).await;
    let mut report = match ran {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return error(StatusCode::UNPROCESSABLE_ENTITY, "execution", e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    };
    if let Some(names) = names {
        report.episodes.retain(|e| names.contains(&e.alertname));
    }
    axum::Json(json!({ "status": "success", "data": backtest::render::to_json(&report) })).into_response()
}
