//! The error groups on the API (Prometheus-style envelopes: `{"status":"success","data":…}`):
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/errors` | groups without samples; filters `service`, `release`, `environment`, `tenant`, `state` (`open`, `resolved`, `ignored`); `sort=last_seen` (the default) or `count`, newest or largest first; `limit` (default 100, at most 1000) |
//! | `GET /api/v1/errors/{fingerprint}` | one group with its samples; 404 if unknown |
//! | `POST /api/v1/errors/{fingerprint}/resolve`, `/ignore`, `/reopen` | sets the state, saves it, answers the group (editor role under `web.yml`) |

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::group::{ErrorGroup, GroupState};
use crate::groups::ErrorGroups;

/// Groups listed by default, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The routes, over the groups of `data_dir` (opened when a sink or a previous run
/// created them).
pub fn router(data_dir: impl Into<PathBuf>) -> axum::Router {
    let dir = Arc::new(data_dir.into());
    axum::Router::new()
        .route("/api/v1/errors", get(list))
        .route("/api/v1/errors/{fingerprint}", get(detail))
        .route("/api/v1/errors/{fingerprint}/{action}", post(change_state))
        .with_state(dir)
}

fn groups(dir: &Path) -> Result<Option<Arc<ErrorGroups>>, crate::groups::Error> {
    ErrorGroups::existing(dir)
}

fn internal(e: impl std::fmt::Display) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

fn error(status: StatusCode, kind: &str, message: String) -> Response {
    (status, Json(json!({"status": "error", "errorType": kind, "error": message}))).into_response()
}

fn not_found(fingerprint: &str) -> Response {
    error(StatusCode::NOT_FOUND, "not_found", format!("no error group with fingerprint `{fingerprint}`"))
}

/// Which groups a list shows and in what order.
#[derive(Debug, Default, PartialEq)]
struct ListQuery {
    service: Option<String>,
    release: Option<String>,
    environment: Option<String>,
    tenant: Option<String>,
    state: Option<GroupState>,
    by_count: bool,
    limit: usize,
}

impl ListQuery {
    fn parse(params: &HashMap<String, String>) -> Result<ListQuery, String> {
        let mut q = ListQuery { limit: DEFAULT_LIMIT, ..Default::default() };
        for (k, v) in params {
            match k.as_str() {
                "service" => q.service = Some(v.clone()),
                "release" => q.release = Some(v.clone()),
                "environment" => q.environment = Some(v.clone()),
                "tenant" => q.tenant = Some(v.clone()),
                "state" => {
                    q.state = Some(
                        GroupState::parse(v)
                            .ok_or_else(|| format!("invalid state `{v}`: use open, resolved or ignored"))?,
                    );
                }
                "sort" => {
                    q.by_count = match v.as_str() {
                        "count" => true,
                        "last_seen" => false,
                        _ => return Err(format!("invalid sort `{v}`: use last_seen or count")),
                    };
                }
                "limit" => {
                    q.limit = match v.parse::<usize>() {
                        Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                        _ => return Err(format!("invalid limit `{v}`: a number from 1 to {MAX_LIMIT}")),
                    };
                }
                other => {
                    return Err(format!(
                        "unknown parameter `{other}`: use service, release, environment, tenant, state, sort or limit"
                    ));
                }
            }
        }
        Ok(q)
    }

    fn matches(&self, g: &ErrorGroup) -> bool {
        self.service.as_ref().is_none_or(|s| g.services.contains_key(s))
            && self.release.as_ref().is_none_or(|r| g.releases.contains(r))
            && self.environment.as_ref().is_none_or(|e| g.environments.contains(e))
            && self.tenant.as_ref().is_none_or(|t| &g.tenant == t)
            && self.state.is_none_or(|s| g.state == s)
    }
}

async fn list(State(dir): State<Arc<PathBuf>>, Query(params): Query<HashMap<String, String>>) -> Response {
    let q = match ListQuery::parse(&params) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_data", e),
    };
    // (sort key, tie-break, fingerprint): sorted and cut first, viewed after.
    let mut selected = match groups(&dir) {
        Ok(Some(groups)) => groups.collect(|g| {
            let key = if q.by_count { (g.count as i64, g.last_seen_ms) } else { (g.last_seen_ms, g.count as i64) };
            q.matches(g).then(|| (key, g.fingerprint.clone()))
        }),
        Ok(None) => Vec::new(),
        Err(e) => return internal(e),
    };
    let total = selected.len();
    selected.sort_by(|a, b| b.cmp(a));
    selected.truncate(q.limit);
    let shown: Vec<Value> = match groups(&dir) {
        Ok(Some(groups)) => selected.iter().filter_map(|(_, fp)| groups.view(fp, |g| view(g, false))).collect(),
        _ => Vec::new(),
    };
    Json(json!({"status": "success", "data": {"groups": shown, "total": total}})).into_response()
}

async fn detail(State(dir): State<Arc<PathBuf>>, UrlPath(fingerprint): UrlPath<String>) -> Response {
    match groups(&dir) {
        Ok(Some(groups)) => match groups.view(&fingerprint, |g| view(g, true)) {
            Some(v) => Json(json!({"status": "success", "data": v})).into_response(),
            None => not_found(&fingerprint),
        },
        Ok(None) => not_found(&fingerprint),
        Err(e) => internal(e),
    }
}

async fn change_state(
    State(dir): State<Arc<PathBuf>>,
    UrlPath((fingerprint, action)): UrlPath<(String, String)>,
) -> Response {
    let state = match action.as_str() {
        "resolve" => GroupState::Resolved,
        "ignore" => GroupState::Ignored,
        "reopen" => GroupState::Open,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("unknown action `{action}`: use resolve, ignore or reopen"),
            );
        }
    };
    let groups = match groups(&dir) {
        Ok(Some(g)) => g,
        Ok(None) => return not_found(&fingerprint),
        Err(e) => return internal(e),
    };
    let Some(g) = groups.set_state(&fingerprint, state, now_ms()) else { return not_found(&fingerprint) };
    // Saved before answering: a resolve the user saw succeed survives a crash.
    let saving = groups.clone();
    match tokio::task::spawn_blocking(move || saving.flush()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    }
    tracing::info!(fingerprint = %fingerprint, state = state.as_str(), "Error group state changed.");
    Json(json!({"status": "success", "data": view(&g, false)})).into_response()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The samples' trace ids, newest first, each once (a span and its log share one).
fn trace_ids(g: &ErrorGroup) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in g.samples.iter().rev().filter_map(|s| s.trace_id.as_ref()) {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// A group as the API shows it: times as RFC 3339, samples newest first when asked.
fn view(g: &ErrorGroup, with_samples: bool) -> Value {
    let mut v = json!({
        "fingerprint": g.fingerprint,
        "title": g.title,
        "type": g.r#type,
        "culprit": g.culprit,
        "basis": g.basis,
        "state": g.state.as_str(),
        "count": g.count,
        "services": g.services,
        "releases": g.releases,
        "environments": g.environments,
        "first_seen": rfc3339(g.first_seen_ms),
        "last_seen": rfc3339(g.last_seen_ms),
        "state_changed": rfc3339(g.state_changed_ms),
        "regressions": g.regressions,
        "tenant": g.tenant,
        "trace_ids": trace_ids(g),
    });
    if with_samples {
        let samples: Vec<Value> = g
            .samples
            .iter()
            .rev()
            .map(|s| {
                let mut o = serde_json::to_value(s).unwrap_or(Value::Null);
                o["time"] = json!(rfc3339(s.time_ms));
                o
            })
            .collect();
        v["samples"] = Value::Array(samples);
        v["resolved_releases"] = json!(g.resolved_releases);
    }
    v
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::fingerprint::{Basis, Identity};
    use crate::group::Occurrence;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn list_queries_are_checked() {
        let q = ListQuery::parse(&params(&[("state", "resolved"), ("sort", "count"), ("limit", "5")])).unwrap();
        assert_eq!((q.state, q.by_count, q.limit), (Some(GroupState::Resolved), true, 5));
        for (bad, why) in [
            (("state", "closed"), "invalid state `closed`"),
            (("sort", "age"), "invalid sort `age`"),
            (("limit", "0"), "invalid limit `0`"),
            (("limit", "5000"), "invalid limit `5000`"),
            (("serivce", "x"), "unknown parameter `serivce`"),
        ] {
            let err = ListQuery::parse(&params(&[bad])).unwrap_err();
            assert!(err.starts_with(why), "{err}");
        }
    }

    async fn call(router: &axum::Router, method: &str, uri: &str) -> (StatusCode, Value) {
        let req = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn list_filter_sort_detail_and_state_changes() {
        let dir = tempfile::tempdir().unwrap();
        let router = router(dir.path());
        let (status, body) = call(&router, "GET", "/api/v1/errors").await;
        assert_eq!((status, body["data"]["total"].clone()), (StatusCode::OK, json!(0)), "no groups yet: {body}");
        let groups = ErrorGroups::shared(dir.path()).unwrap();
        let occ = |fp: &str, t: i64, service: &str, release: &str| {
            let id =
                Identity { fingerprint: fp.into(), title: fp.into(), culprit: String::new(), basis: Basis::Message };
            let o = Occurrence {
                time_ms: t,
                service: service.into(),
                release: release.into(),
                environment: "production".into(),
                trace_id: Some(format!("{t:032x}")),
                source: "span".into(),
                ..Default::default()
            };
            (id, o)
        };
        groups.record([occ("a", 1, "checkout", "1"), occ("a", 2, "checkout", "1"), occ("a", 3, "checkout", "1")]);
        groups.record([occ("b", 10, "cart", "2")]);
        let fps = |body: &Value| -> Vec<String> {
            body["data"]["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["fingerprint"].as_str().unwrap().to_string())
                .collect()
        };
        let (_, body) = call(&router, "GET", "/api/v1/errors").await;
        assert_eq!(fps(&body), ["b", "a"], "newest first");
        let (_, body) = call(&router, "GET", "/api/v1/errors?sort=count&limit=1").await;
        assert_eq!((fps(&body), body["data"]["total"].clone()), (vec!["a".to_string()], json!(2)));
        let (_, body) = call(&router, "GET", "/api/v1/errors?service=cart").await;
        assert_eq!(fps(&body), ["b"]);
        let (_, body) = call(&router, "GET", "/api/v1/errors?release=1&environment=production").await;
        assert_eq!(fps(&body), ["a"]);
        let (status, body) = call(&router, "GET", "/api/v1/errors?state=nope").await;
        assert_eq!((status, body["errorType"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_data")));

        let (status, body) = call(&router, "GET", "/api/v1/errors/a").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["count"], 3);
        assert_eq!(body["data"]["samples"].as_array().unwrap().len(), 3);
        assert_eq!(body["data"]["samples"][0]["time"], "1970-01-01T00:00:00.003Z", "newest first");
        assert_eq!(body["data"]["trace_ids"][0], format!("{:032x}", 3));

        let (status, body) = call(&router, "POST", "/api/v1/errors/a/resolve").await;
        assert_eq!((status, body["data"]["state"].as_str()), (StatusCode::OK, Some("resolved")));
        let (_, body) = call(&router, "GET", "/api/v1/errors?state=resolved").await;
        assert_eq!(fps(&body), ["a"]);
        let (_, body) = call(&router, "POST", "/api/v1/errors/b/ignore").await;
        assert_eq!(body["data"]["state"], "ignored");
        let (_, body) = call(&router, "POST", "/api/v1/errors/b/reopen").await;
        assert_eq!(body["data"]["state"], "open");
        let (status, _) = call(&router, "POST", "/api/v1/errors/b/delete").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = call(&router, "POST", "/api/v1/errors/zzz/resolve").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "no error group with fingerprint `zzz`");
        assert!(!groups.has_unsaved(), "state changes are saved before the answer");
    }
}
