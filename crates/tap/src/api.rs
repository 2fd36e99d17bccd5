//! `GET /api/v1/tap`: the HTTP side of a tap, one NDJSON document per record.
//!
//! | parameter | meaning |
//! |---|---|
//! | `component` | the component to watch (required): what a source or transform emits, what a sink receives |
//! | `where` | a condition in the `filter` transform's syntax; only matching records are sent |
//! | `limit` | stop after this many records (the response ends) |
//! | `rate` | at most this many records a second; the rest are skipped and counted |
//! | `notices` | `true`: also send `{"@tap":{"skipped":N,"reason":"lagged"\|"rate"}}` lines when records were skipped |
//!
//! Errors are JSON in the Prometheus API's shape (`status`, `errorType`, `error`): 400
//! for bad parameters, 404 for an unknown component (with the known ones listed in
//! `error` and in `components`), 429 when 16 taps are open. While nothing passes, an
//! empty line every 30 s keeps the connection (and any proxy) from timing out.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use lookout_component::{Subscription, TapError, Taps};

use crate::filter::TapFilter;

/// How often an idle tap sends an empty line.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// The tap route over `taps`.
pub fn router(taps: Taps) -> Router {
    Router::new().route("/api/v1/tap", get(tap)).with_state(taps)
}

fn error(status: StatusCode, kind: &str, message: String, extra: Option<serde_json::Value>) -> Response {
    let mut body = serde_json::json!({ "status": "error", "errorType": kind, "error": message });
    if let Some(extra) = extra {
        body["components"] = extra;
    }
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn bad_data(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_data", message, None)
}

async fn tap(State(taps): State<Taps>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(component) = q.get("component").filter(|c| !c.is_empty()) else {
        return bad_data("the `component` parameter is required (a source, transform or sink name)".into());
    };
    let limit = match q.get("limit").map(|l| l.parse::<u64>()) {
        None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(_)) => return bad_data(format!("limit: `{}` is not a whole number", q["limit"])),
    };
    let rate = match q.get("rate").map(|r| r.parse::<f64>()) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(_)) => return bad_data(format!("rate: `{}` is not a number", q["rate"])),
    };
    let notices = matches!(q.get("notices").map(String::as_str), Some("true" | "1"));
    let filter = match TapFilter::new(q.get("where").map(String::as_str), limit, rate) {
        Ok(f) => f,
        Err(e) => return bad_data(e.to_string()),
    };
    let sub = match taps.subscribe(component) {
        Ok(s) => s,
        Err(e @ TapError::UnknownComponent { .. }) => {
            let list =
                taps.components().into_iter().map(|(name, kind)| serde_json::json!({"name": name, "kind": kind}));
            return error(StatusCode::NOT_FOUND, "not_found", e.to_string(), Some(list.collect()));
        }
        Err(e @ TapError::TooMany) => return error(StatusCode::TOO_MANY_REQUESTS, "unavailable", e.to_string(), None),
    };
    let tapping = Tapping { sub, filter, notices, taps };
    let body = Body::from_stream(futures::stream::unfold(tapping, Tapping::next));
    ([(header::CONTENT_TYPE, "application/x-ndjson"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// One open tap response: the subscription (closed when the client goes away and the
/// body is dropped) and what it passes on.
struct Tapping {
    sub: Subscription,
    filter: TapFilter,
    notices: bool,
    taps: Taps,
}

fn notice(out: &mut Vec<u8>, reason: &str, skipped: u64) {
    out.extend_from_slice(format!("{{\"@tap\":{{\"skipped\":{skipped},\"reason\":\"{reason}\"}}}}\n").as_bytes());
}

impl Tapping {
    /// The next chunk of the response: the records of one batch that pass, a notice,
    /// or a heartbeat; `None` once the limit is reached.
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Tapping)> {
        loop {
            if self.filter.done() {
                return None;
            }
            let batch = match tokio::time::timeout(HEARTBEAT, self.sub.recv()).await {
                Err(_) => return Some((Ok(Bytes::from_static(b"\n")), self)),
                Ok(None) => return None,
                Ok(Some(b)) => b,
            };
            let mut out = Vec::new();
            let lagged = self.sub.take_lagged();
            if self.notices && lagged > 0 {
                notice(&mut out, "lagged", lagged);
            }
            let encoded = self.filter.encode(&batch, &mut out);
            if encoded.over_rate > 0 {
                self.taps.count_rate_limited(encoded.over_rate);
                if self.notices {
                    notice(&mut out, "rate", encoded.over_rate);
                }
            }
            if !out.is_empty() {
                return Some((Ok(Bytes::from(out)), self));
            }
        }
    }
}
