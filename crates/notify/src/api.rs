//! Alertmanager's HTTP API v2 (`api/v2/openapi.yaml`) and health endpoints, with the same
//! JSON shapes, query parameters, sort orders and status codes, so Prometheus can post
//! alerts and `amtool` can list alerts and manage silences.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use lookout_receivers::Alert;
use lookout_server::auth::audit::{self, SilenceAction};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::alerts::{Origin, StoredAlert};
use crate::dispatch::Runtime;
use crate::matcher::{MatchType, Matcher, parse_matchers};
use crate::notifier::{Notifier, Refused};
use crate::silence::{Silence, SilenceError, SilenceMatcher, SilenceState};

pub(crate) fn router(n: Notifier) -> Router {
    Router::new().route("/-/healthy", get(ok).head(ok)).route("/-/ready", get(ok).head(ok)).merge(api_router(n))
}

pub(crate) fn api_router(n: Notifier) -> Router {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route("/api/v2/silence/{id}", get(get_silence).delete(delete_silence))
        .with_state(n)
}

async fn ok() -> &'static str {
    "OK"
}

/// go-swagger's error payload: a JSON string.
fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], Value::String(msg.into()).to_string()).into_response()
}

/// `strfmt.DateTime`: RFC 3339 with milliseconds.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Go's zero time when unset.
fn ts_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(ts).unwrap_or_else(|| "0001-01-01T00:00:00.000Z".to_string())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A refused request: status and message.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// Query parameters, repeated keys kept (`filter` may appear many times).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<String>) -> Query {
        let raw = raw.unwrap_or_default();
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (percent_decode(k), percent_decode(v)),
                    None => (percent_decode(p), String::new()),
                })
                .collect(),
        )
    }

    fn all(&self, k: &str) -> impl Iterator<Item = &str> {
        self.0.iter().filter(move |(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    fn flag(&self, k: &str, default: bool) -> Result<bool, ApiError> {
        match self.all(k).last() {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(v) => Err(bad(format!("{k} in query must be of type boolean: {v:?}"))),
        }
    }

    fn matchers(&self) -> Result<Vec<Matcher>, ApiError> {
        let mut out = Vec::new();
        for f in self.all("filter") {
            out.extend(parse_matchers(f).map_err(|e| bad(e.to_string()))?);
        }
        Ok(out)
    }

    fn receiver(&self) -> Result<Option<Regex>, ApiError> {
        match self.all("receiver").last().filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(r) => Regex::new(&format!("^(?:{r})$"))
                .map(Some)
                .map_err(|e| bad(format!("failed to parse receiver param: {e}"))),
        }
    }
}

/// `matchFilterLabels`: an empty filter value also matches an absent label.
fn filter_matches(filter: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    filter.iter().all(|m| {
        let v = labels.get(&m.name);
        let negative = matches!(m.kind, MatchType::NotEqual | MatchType::NotRegexp);
        if m.value.is_empty() && (v.is_some() == negative) {
            return true;
        }
        m.matches(v.map(String::as_str).unwrap_or(""))
    })
}

async fn status(State(n): State<Notifier>) -> Response {
    let cfg = n.config();
    Json(json!({
        "cluster": n.inner.cluster.as_ref().map_or_else(
            || json!({ "name": "", "peers": [], "status": "disabled" }),
            |c| c.status(),
        ),
        "config": { "original": crate::status::render(&cfg) },
        "uptime": ts(n.inner.started_at),
        "versionInfo": {
            // The API level we implement, so amtool does not warn about a mismatch; Lookout's
            // own version goes in `revision`.
            "branch": "lookout", "buildDate": "", "buildUser": "", "goVersion": "",
            "revision": env!("CARGO_PKG_VERSION"), "version": "0.25.0",
        },
    }))
    .into_response()
}

async fn receivers(State(n): State<Notifier>) -> Response {
    let cfg = n.config();
    Json(cfg.receivers.iter().map(|r| json!({ "name": r.name })).collect::<Vec<_>>()).into_response()
}

fn alert_json(n: &Notifier, rt: &Runtime, a: &StoredAlert, receivers: &[String], now: DateTime<Utc>) -> Value {
    let (silenced, inhibited) = n.status_of(rt, &a.alert.labels, now);
    let state = if silenced.is_empty() && inhibited.is_empty() { "active" } else { "suppressed" };
    let mut v = json!({
        "annotations": a.alert.annotations,
        "endsAt": ts_opt(a.alert.ends_at),
        "fingerprint": format!("{:016x}", a.fingerprint()),
        "receivers": receivers.iter().map(|r| json!({ "name": r })).collect::<Vec<_>>(),
        "startsAt": ts(a.alert.starts_at),
        "status": { "inhibitedBy": inhibited, "silencedBy": silenced, "state": state },
        "updatedAt": ts(a.updated_at),
        "labels": a.alert.labels,
    });
    // `omitempty` in Alertmanager's model.
    if !a.alert.generator_url.is_empty() {
        v["generatorURL"] = Value::String(a.alert.generator_url.clone());
    }
    // Lookout's addition: what made it fire, when its rule had exemplars to show.
    if !a.alert.evidence.is_empty() {
        v["evidence"] = a.alert.evidence.iter().map(lookout_receivers::Evidence::to_json).collect();
    }
    v
}

struct AlertFilter {
    active: bool,
    silenced: bool,
    inhibited: bool,
    matchers: Vec<Matcher>,
    receiver: Option<Regex>,
}

impl AlertFilter {
    fn from_query(q: &Query) -> Result<AlertFilter, ApiError> {
        Ok(AlertFilter {
            active: q.flag("active", true)?,
            silenced: q.flag("silenced", true)?,
            inhibited: q.flag("inhibited", true)?,
            // Every alert here has been processed; `unprocessed` is accepted and has no effect.
            matchers: {
                q.flag("unprocessed", true)?;
                q.matchers()?
            },
            receiver: q.receiver()?,
        })
    }

    fn keeps(&self, n: &Notifier, rt: &Runtime, a: &StoredAlert, now: DateTime<Utc>) -> bool {
        if a.alert.ends_at.is_some_and(|e| e < now) {
            return false;
        }
        let (s, i) = n.status_of(rt, &a.alert.labels, now);
        let active = s.is_empty() && i.is_empty();
        if (!self.active && active) || (!self.silenced && !s.is_empty()) || (!self.inhibited && !i.is_empty()) {
            return false;
        }
        filter_matches(&self.matchers, &a.alert.labels)
    }
}

async fn get_alerts(State(n): State<Notifier>, RawQuery(q): RawQuery) -> Response {
    let f = match AlertFilter::from_query(&Query::parse(q)) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let disp = n.dispatcher();
    let rt = &disp.rt;
    let now = Utc::now();
    let alerts: Vec<StoredAlert> = n.inner.store.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
    let mut out: Vec<(String, Value)> = Vec::new();
    for a in &alerts {
        let receivers: Vec<String> =
            rt.tree.matches(&a.alert.labels).into_iter().map(|r| rt.tree.get(r).opts.receiver.clone()).collect();
        if let Some(re) = &f.receiver
            && !receivers.iter().any(|r| re.is_match(r))
        {
            continue;
        }
        if !f.keeps(&n, rt, a, now) {
            continue;
        }
        out.push((format!("{:016x}", a.fingerprint()), alert_json(&n, rt, a, &receivers, now)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Json(out.into_iter().map(|(_, v)| v).collect::<Vec<_>>()).into_response()
}

async fn get_groups(State(n): State<Notifier>, RawQuery(q): RawQuery) -> Response {
    let f = match AlertFilter::from_query(&Query::parse(q)) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let disp = n.dispatcher();
    let rt = &disp.rt;
    let now = Utc::now();
    let mut groups = Vec::new();
    for g in disp.groups() {
        if let Some(re) = &f.receiver
            && !re.is_match(g.receiver())
        {
            continue;
        }
        let mut alerts: Vec<StoredAlert> = g.alerts().into_iter().filter(|a| f.keeps(&n, rt, a, now)).collect();
        if alerts.is_empty() {
            continue;
        }
        alerts.sort_by(|a, b| crate::alerts::compare_alerts(&a.alert.labels, &b.alert.labels));
        let values: Vec<Value> = alerts
            .iter()
            .map(|a| {
                let receivers: Vec<String> = rt
                    .tree
                    .matches(&a.alert.labels)
                    .into_iter()
                    .map(|r| rt.tree.get(r).opts.receiver.clone())
                    .collect();
                alert_json(&n, rt, a, &receivers, now)
            })
            .collect();
        groups.push((g.labels.clone(), g.receiver().to_string(), values));
    }
    // `AlertGroups.Less`: by label set (`LabelSet.Before`), then receiver.
    groups.sort_by(|a, b| {
        if a.0 == b.0 {
            a.1.cmp(&b.1)
        } else if crate::alerts::labels_before(&a.0, &b.0) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    });
    let out: Vec<Value> =
        groups.into_iter().map(|(l, r, a)| json!({ "labels": l, "receiver": { "name": r }, "alerts": a })).collect();
    Json(out).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

/// A timestamp in a request body that is not RFC 3339 (go-swagger's wording).
#[derive(Debug, thiserror::Error)]
#[error("{field} in body must be of type date-time: {value:?}: {source}")]
struct BadTime {
    field: &'static str,
    value: String,
    #[source]
    source: chrono::ParseError,
}

/// Parses a timestamp; Go's zero time and the empty string mean unset.
fn parse_time(s: &Option<String>, field: &'static str) -> Result<Option<DateTime<Utc>>, BadTime> {
    let Some(s) = s.as_deref().filter(|s| !s.is_empty()) else { return Ok(None) };
    let t = DateTime::parse_from_rfc3339(s).map_err(|source| BadTime { field, value: s.to_owned(), source })?;
    let t = t.with_timezone(&Utc);
    Ok(if t.year() <= 1 { None } else { Some(t) })
}

async fn post_alerts(State(n): State<Notifier>, body: Bytes) -> Response {
    let posted: Vec<PostableAlert> = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("parsing alerts body failed: {e}")),
    };
    let mut alerts = Vec::with_capacity(posted.len());
    for p in posted {
        let starts = match parse_time(&p.starts_at, "startsAt") {
            Ok(t) => t,
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        };
        let ends = match parse_time(&p.ends_at, "endsAt") {
            Ok(t) => t,
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        };
        let alert = Alert {
            labels: p.labels,
            annotations: p.annotations,
            starts_at: starts.unwrap_or(DateTime::UNIX_EPOCH),
            ends_at: ends,
            generator_url: p.generator_url,
            evidence: Vec::new(),
        };
        alerts.push((alert, starts.is_none()));
    }
    let refused = n.ingest(alerts, Origin::Api);
    if refused.is_empty() {
        return StatusCode::OK.into_response();
    }
    // Valid alerts within the limit were stored, as Alertmanager stores them next to invalid
    // ones. A full budget is no fault of the request's content: 429 tells the client to back
    // off. (Alertmanager's `--alerts.per-alertname-limit` drops new alerts, counts them in
    // `alertmanager_alerts_limited_total` and still answers 200, which hides the loss from
    // the sender; there is no Alertmanager status code to copy.)
    let code = if refused.iter().any(|r| matches!(r, Refused::Limit { .. })) {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::BAD_REQUEST
    };
    error(code, refused.iter().map(ToString::to_string).collect::<Vec<_>>().join(";"))
}

fn silence_json(s: &Silence, now: DateTime<Utc>) -> Value {
    json!({
        "id": s.id,
        "status": { "state": s.state(now).as_str() },
        "updatedAt": ts(s.updated_at),
        "comment": s.comment,
        "createdBy": s.created_by,
        "endsAt": ts(s.ends_at),
        "matchers": s.matchers.iter().map(|m| json!({
            "name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal,
        })).collect::<Vec<_>>(),
        "startsAt": ts(s.starts_at),
    })
}

fn state_rank(s: SilenceState) -> u8 {
    match s {
        SilenceState::Active => 1,
        SilenceState::Pending => 2,
        SilenceState::Expired => 3,
    }
}

async fn get_silences(State(n): State<Notifier>, RawQuery(q): RawQuery) -> Response {
    let filter = match Query::parse(q).matchers() {
        Ok(m) => m,
        Err(r) => return r.into_response(),
    };
    let now = Utc::now();
    let mut sils: Vec<Silence> = n
        .inner
        .silences
        .list()
        .into_iter()
        .filter(|s| {
            let pattern: BTreeMap<String, String> =
                s.matchers.iter().map(|m| (m.name.clone(), m.value.clone())).collect();
            filter_matches(&filter, &pattern)
        })
        .collect();
    // Active by soonest end, then pending by soonest start, then expired by latest end.
    sils.sort_by(|a, b| {
        let (sa, sb) = (a.state(now), b.state(now));
        state_rank(sa).cmp(&state_rank(sb)).then_with(|| match sa {
            SilenceState::Active => a.ends_at.cmp(&b.ends_at),
            SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
            SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
        })
    });
    Json(sils.iter().map(|s| silence_json(s, now)).collect::<Vec<_>>()).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<SilenceMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

/// A silence's matchers as `{a="b", c=~"d"}`, for the audit trail.
fn matchers_text(matchers: &[SilenceMatcher]) -> String {
    let parts: Vec<String> = matchers
        .iter()
        .map(|m| {
            let op = match (m.is_equal, m.is_regex) {
                (true, false) => "=",
                (false, false) => "!=",
                (true, true) => "=~",
                (false, true) => "!~",
            };
            format!("{}{op}{:?}", m.name, m.value)
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

async fn post_silence(
    State(n): State<Notifier>,
    caller: Option<axum::Extension<lookout_server::auth::Caller>>,
    body: Bytes,
) -> Response {
    let p: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("parsing silence body failed: {e}")),
    };
    let (starts, ends) = match (parse_time(&Some(p.starts_at), "startsAt"), parse_time(&Some(p.ends_at), "endsAt")) {
        (Ok(Some(s)), Ok(Some(e))) => (s, e),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        _ => return error(StatusCode::BAD_REQUEST, "startsAt and endsAt are required"),
    };
    if starts >= ends {
        return error(StatusCode::BAD_REQUEST, "Failed to create silence: start time must be before end time");
    }
    let now = Utc::now();
    if ends < now {
        return error(StatusCode::BAD_REQUEST, "Failed to create silence: end time can't be in the past");
    }
    let sil = Silence {
        id: p.id.unwrap_or_default(),
        matchers: p.matchers,
        starts_at: starts,
        ends_at: ends,
        updated_at: now,
        created_by: p.created_by,
        comment: p.comment,
    };
    let action = if sil.id.is_empty() { SilenceAction::Created } else { SilenceAction::Updated };
    let (matchers, created_by) = (matchers_text(&sil.matchers), sil.created_by.clone());
    let silences = n.inner.silences.clone();
    match durably(move || silences.set(sil, now)).await {
        Ok(id) => {
            // createdBy stays what the client sent; the audit trail has who really asked.
            audit::silence(caller.as_deref(), action, &id, &matchers, &created_by);
            Json(json!({ "silenceID": id })).into_response()
        }
        Err(SilenceError::NotFound) => error(StatusCode::NOT_FOUND, "silence not found"),
        Err(SilenceError::Invalid(e)) => error(StatusCode::BAD_REQUEST, e),
        Err(SilenceError::Persist(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Runs a silence change off the async workers: it returns only once committed to disk,
/// so a 200 means the change survives a crash.
async fn durably<T: Send + 'static>(
    change: impl FnOnce() -> Result<T, SilenceError> + Send + 'static,
) -> Result<T, SilenceError> {
    tokio::task::spawn_blocking(change).await.unwrap_or_else(|e| Err(SilenceError::Persist(e.to_string())))
}

async fn get_silence(State(n): State<Notifier>, Path(id): Path<String>) -> Response {
    match n.inner.silences.get(&id) {
        Some(s) => Json(silence_json(&s, Utc::now())).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete_silence(
    State(n): State<Notifier>,
    caller: Option<axum::Extension<lookout_server::auth::Caller>>,
    Path(id): Path<String>,
) -> Response {
    let silences = n.inner.silences.clone();
    let expired = id.clone();
    match durably(move || silences.expire(&expired, Utc::now())).await {
        Ok(()) => {
            let (matchers, created_by) =
                n.inner.silences.get(&id).map(|s| (matchers_text(&s.matchers), s.created_by)).unwrap_or_default();
            audit::silence(caller.as_deref(), SilenceAction::Expired, &id, &matchers, &created_by);
            StatusCode::OK.into_response()
        }
        Err(SilenceError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(SilenceError::Invalid(e) | SilenceError::Persist(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_filters() {
        let q = Query::parse(Some("filter=alertname%3D%22A%22&filter=sev%3D&active=false".into()));
        let m = q.matchers().unwrap();
        assert_eq!(m.len(), 2);
        assert!(!q.flag("active", true).unwrap());
        let l: BTreeMap<String, String> = [("alertname".to_string(), "A".to_string())].into();
        assert!(filter_matches(&m, &l));
    }
}
