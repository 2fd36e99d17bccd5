//! A **test double** of Splunk's HTTP Event Collector (HEC), for the `splunk_hec` sink's
//! end-to-end tests. Splunk itself cannot be installed here, so this is written from
//! Splunk's published HEC documentation ("Format events for HTTP Event Collector", "About
//! HTTP Event Collector Indexer Acknowledgment", the HEC status-code table); it is not
//! Splunk and does not index anything. What it reproduces:
//!
//! - `POST /services/collector/event` (also `/services/collector`, `.../event/1.0`):
//!   concatenated JSON envelopes (`{"time","host","source","sourcetype","index","event",
//!   "fields"}`), gzip bodies (`Content-Encoding: gzip`); `POST /services/collector/raw`:
//!   newline-separated lines, metadata from the query string.
//! - `Authorization: Splunk <token>`: none → 401 code 2, malformed → 401 code 3, unknown
//!   token → 403 code 4.
//! - Empty body → 400 code 5; unparsable JSON → 400 code 6 with `invalid-event-number`;
//!   an envelope without `event` → 400 code 12, blank `event` → 400 code 13. A request
//!   is accepted whole or refused whole (nothing is recorded from a refused request).
//! - With acknowledgements on: the channel (`X-Splunk-Request-Channel` header or
//!   `?channel=`) is required (400 code 10), each accepted request gets the channel's
//!   next `ackId`, and `POST /services/collector/ack` `{"acks":[..]}` answers
//!   `{"acks":{"id":bool}}`, true once the configured delay has passed (an id reported
//!   true is then forgotten, as Splunk does). With acknowledgements off, `/ack` answers
//!   400 code 14.
//! - `GET /services/collector/health` → 200 `{"text":"HEC is healthy","code":17}`.
//!
//! Fault injection: [`HecReceiver::fail_next`] answers the next N data requests with
//! 503 code 9 (server busy), [`HecReceiver::set_down`] answers everything with 503,
//! [`HecReceiver::set_ack_delay`] (`None`: never acknowledge), and `poison`: an event
//! whose JSON contains that text is refused as invalid data format (code 6), like a
//! document Splunk cannot parse.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How the double behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The only token accepted.
    pub token: String,
    /// Whether the token has indexer acknowledgements on.
    pub acks: bool,
    /// How long after acceptance an ackId becomes true (`None`: never).
    pub ack_delay: Option<Duration>,
    /// Events whose JSON contains this are refused with code 6.
    pub poison: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { token: "test-token".into(), acks: false, ack_delay: Some(Duration::ZERO), poison: None }
    }
}

#[derive(Default)]
struct Channel {
    next_ack: u64,
    /// ackId → when it becomes true (`None`: never).
    pending: HashMap<u64, Option<Instant>>,
}

struct State {
    options: Options,
    ack_delay: Mutex<Option<Duration>>,
    fail_next: AtomicUsize,
    down: AtomicBool,
    events: Mutex<Vec<Value>>,
    channels: Mutex<HashMap<String, Channel>>,
    data_requests: AtomicUsize,
    acked: AtomicUsize,
}

/// A running HEC test double on 127.0.0.1.
#[derive(Clone)]
pub struct HecReceiver {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    state: Arc<State>,
}

fn reply(status: StatusCode, code: u32, text: &str) -> Response {
    (status, axum::Json(json!({"text": text, "code": code}))).into_response()
}

impl HecReceiver {
    /// Starts listening on a free port.
    pub async fn start(options: Options) -> HecReceiver {
        let state = Arc::new(State {
            ack_delay: Mutex::new(options.ack_delay),
            options,
            fail_next: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            events: Mutex::new(Vec::new()),
            channels: Mutex::new(HashMap::new()),
            data_requests: AtomicUsize::new(0),
            acked: AtomicUsize::new(0),
        });
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let state = shared.clone();
            async move { state.handle(req).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HecReceiver { url, state }
    }

    /// Every accepted event: the envelope (event mode) or `{"raw": line, metadata...}`.
    pub fn events(&self) -> Vec<Value> {
        self.state.events.lock().unwrap().clone()
    }

    /// Answers the next `n` data requests with 503 code 9.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Answers everything with 503 while `down`.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// From now on, ackIds become true this long after acceptance (`None`: never).
    pub fn set_ack_delay(&self, delay: Option<Duration>) {
        *self.state.ack_delay.lock().unwrap() = delay;
        let ready = delay.map(|d| Instant::now() + d);
        for channel in self.state.channels.lock().unwrap().values_mut() {
            channel.pending.values_mut().for_each(|at| *at = ready);
        }
    }

    /// Data requests seen (accepted or not).
    pub fn data_requests(&self) -> usize {
        self.state.data_requests.load(Ordering::SeqCst)
    }

    /// AckIds reported true.
    pub fn acked(&self) -> usize {
        self.state.acked.load(Ordering::SeqCst)
    }

    /// AckIds issued and not yet reported true.
    pub fn unacked(&self) -> usize {
        self.state.channels.lock().unwrap().values().map(|c| c.pending.len()).sum()
    }
}

impl State {
    async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().trim_end_matches('/').to_string();
        let query: HashMap<String, String> = Query::try_from_uri(req.uri()).map(|Query(q)| q).unwrap_or_default();
        let (method, headers) = (req.method().clone(), req.headers().clone());
        if self.down.load(Ordering::SeqCst) {
            return reply(StatusCode::SERVICE_UNAVAILABLE, 9, "Server is busy");
        }
        if path == "/services/collector/health" || path == "/services/collector/health/1.0" {
            return reply(StatusCode::OK, 17, "HEC is healthy");
        }
        let data = matches!(
            path.as_str(),
            "/services/collector"
                | "/services/collector/event"
                | "/services/collector/event/1.0"
                | "/services/collector/raw"
        );
        if method != Method::POST || !(data || path == "/services/collector/ack") {
            return reply(StatusCode::NOT_FOUND, 404, "The requested URL was not found on this server.");
        }
        if let Err(r) = self.authorize(&headers) {
            return *r;
        }
        let channel = headers
            .get("x-splunk-request-channel")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| query.get("channel").cloned());
        if let Some(c) = &channel
            && (c.len() != 36 || c.chars().filter(|ch| *ch == '-').count() != 4)
        {
            return reply(StatusCode::BAD_REQUEST, 11, "Invalid data channel");
        }
        let body = match axum::body::to_bytes(req.into_body(), 64 << 20).await {
            Ok(b) => b,
            Err(_) => return reply(StatusCode::BAD_REQUEST, 6, "Invalid data format"),
        };
        if path == "/services/collector/ack" {
            return self.ack(channel, &body);
        }
        self.data_requests.fetch_add(1, Ordering::SeqCst);
        if self.options.acks && channel.is_none() {
            return reply(StatusCode::BAD_REQUEST, 10, "Data channel is missing");
        }
        if self.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return reply(StatusCode::SERVICE_UNAVAILABLE, 9, "Server is busy");
        }
        let gzip = headers.get("content-encoding").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let body = if gzip {
            let mut out = Vec::new();
            if flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out).is_err() {
                return reply(StatusCode::BAD_REQUEST, 6, "Invalid data format");
            }
            out
        } else {
            body.to_vec()
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            return reply(StatusCode::BAD_REQUEST, 5, "No data");
        }
        let parsed = if path.ends_with("/raw") { self.raw(&body, &query) } else { self.envelopes(&body) };
        let accepted = match parsed {
            Ok(events) => events,
            Err(r) => return *r,
        };
        self.events.lock().unwrap().extend(accepted);
        match (self.options.acks, channel) {
            (true, Some(channel)) => {
                let ready = self.ack_delay.lock().unwrap().map(|d| Instant::now() + d);
                let mut channels = self.channels.lock().unwrap();
                let ch = channels.entry(channel).or_default();
                let id = ch.next_ack;
                ch.next_ack += 1;
                ch.pending.insert(id, ready);
                (StatusCode::OK, axum::Json(json!({"text": "Success", "code": 0, "ackId": id}))).into_response()
            }
            _ => reply(StatusCode::OK, 0, "Success"),
        }
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let Some(value) = headers.get("authorization") else {
            return Err(Box::new(reply(StatusCode::UNAUTHORIZED, 2, "Token is required")));
        };
        let token = value.to_str().ok().and_then(|v| v.strip_prefix("Splunk ")).map(str::trim);
        match token {
            None | Some("") => Err(Box::new(reply(StatusCode::UNAUTHORIZED, 3, "Invalid authorization"))),
            Some(t) if t != self.options.token => Err(Box::new(reply(StatusCode::FORBIDDEN, 4, "Invalid token"))),
            Some(_) => Ok(()),
        }
    }

    /// Concatenated envelopes, all valid or the request is refused.
    fn envelopes(&self, body: &[u8]) -> Result<Vec<Value>, Box<Response>> {
        let mut events = Vec::new();
        for (n, parsed) in serde_json::Deserializer::from_slice(body).into_iter::<Value>().enumerate() {
            let invalid = || {
                let body = json!({"text": "Invalid data format", "code": 6, "invalid-event-number": n});
                (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
            };
            let Ok(envelope) = parsed else { return Err(Box::new(invalid())) };
            match envelope.get("event") {
                None => return Err(Box::new(reply(StatusCode::BAD_REQUEST, 12, "Event field is required"))),
                Some(Value::Null) => {
                    return Err(Box::new(reply(StatusCode::BAD_REQUEST, 13, "Event field cannot be blank")));
                }
                Some(Value::String(s)) if s.trim().is_empty() => {
                    return Err(Box::new(reply(StatusCode::BAD_REQUEST, 13, "Event field cannot be blank")));
                }
                Some(event) => {
                    if self.options.poison.as_deref().is_some_and(|p| event.to_string().contains(p)) {
                        return Err(Box::new(invalid()));
                    }
                }
            }
            events.push(envelope);
        }
        Ok(events)
    }

    /// Raw lines with the query's metadata.
    fn raw(&self, body: &[u8], query: &HashMap<String, String>) -> Result<Vec<Value>, Box<Response>> {
        let text = String::from_utf8_lossy(body);
        let mut events = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if self.options.poison.as_deref().is_some_and(|p| line.contains(p)) {
                return Err(Box::new(reply(StatusCode::BAD_REQUEST, 6, "Invalid data format")));
            }
            let mut event = json!({"raw": line});
            for key in ["index", "source", "sourcetype", "host"] {
                if let Some(v) = query.get(key) {
                    event[key] = Value::String(v.clone());
                }
            }
            events.push(event);
        }
        Ok(events)
    }

    fn ack(&self, channel: Option<String>, body: &[u8]) -> Response {
        if !self.options.acks {
            return reply(StatusCode::BAD_REQUEST, 14, "ACK is disabled");
        }
        let Some(channel) = channel else {
            return reply(StatusCode::BAD_REQUEST, 10, "Data channel is missing");
        };
        let Some(ids) = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["acks"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect::<Vec<_>>()))
        else {
            return reply(StatusCode::BAD_REQUEST, 6, "Invalid data format");
        };
        let now = Instant::now();
        let mut channels = self.channels.lock().unwrap();
        let ch = channels.entry(channel).or_default();
        let mut acks = serde_json::Map::new();
        for id in ids {
            let done = matches!(ch.pending.get(&id), Some(Some(at)) if *at <= now);
            if done {
                ch.pending.remove(&id);
                self.acked.fetch_add(1, Ordering::SeqCst);
            }
            acks.insert(id.to_string(), Value::Bool(done));
        }
        (StatusCode::OK, axum::Json(json!({ "acks": acks }))).into_response()
    }
}
