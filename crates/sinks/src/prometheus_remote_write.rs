//! The `prometheus_remote_write` sink: OTLP metrics to any store that takes Prometheus
//! remote write 1.0 (Prometheus with `--web.enable-remote-write-receiver`,
//! VictoriaMetrics, Mimir, Thanos receive, Cortex).
//!
//! ```yaml
//! sinks:
//!   prom:
//!     type: prometheus_remote_write
//!     inputs: [otlp]
//!     endpoint: http://127.0.0.1:9090/api/v1/write   # or `endpoints:` (load-balanced)
//!     headers: { x-api-key: ${KEY} }                 # values are secrets
//!     basic_auth: { username: lookout, password: ${PROM_PASSWORD} }  # or password_file
//!     bearer_token: ${TOKEN}                         # or bearer_token_file (read per request)
//!     tenant_id: shop                                # X-Scope-OrgID (Mimir, Cortex)
//!     tls: { ca_file: ca.pem }                       # or insecure_skip_verify: true
//!     external_labels: { cluster: eu-1 }             # added unless the series has the label
//!     send_exemplars: true
//!     send_metadata: true
//!     delta: { max_streams: 50000, max_stale: 5m }   # delta → cumulative state
//!     dead_letter: ./data/dead/prom.ndjson
//!     batch: { max_events: 1000, timeout_ms: 1000 }  # samples per request
//!     request: { timeout_secs: 30, concurrency: 4, retry_max_duration_secs: 300 }
//!     buffer: { type: disk, max_size: 268435488 }
//! ```
//!
//! Metric points are translated as `lookout_tsdb::otlp` says (Prometheus's OTLP
//! naming; delta temporality made cumulative per series; exponential histograms as
//! classic buckets; summaries; exemplars; `target_info`), by one `Translator` whose
//! delta state lives as long as the sink. Log records and spans give nothing: the
//! series `log_to_metric` and `span_metrics` derive go to the embedded store, which
//! forwards them with its own `rules.remote_write`.
//!
//! Each translated sample is one delivery item (its `doc` a small JSON document, which
//! is also what a dead letter holds), so `batch.max_events` is samples per request and
//! every request goes through the shared delivery stack (concurrency, retries with
//! backoff honouring `Retry-After`, circuit breakers, timeouts, acknowledgements back
//! to a disk buffer or an acknowledging source). An attempt builds one remote-write
//! request from its items: one `TimeSeries` per label set, samples sorted by time,
//! exemplars, and the `metadata` of the families in it.
//!
//! Answers, as Prometheus's own remote write treats them: 2xx delivered; 5xx and 429
//! retried (with backoff, `Retry-After` honoured); other 4xx (400 for an out-of-order
//! or duplicate sample, 413, 404, ...) are final: the request's samples go to the
//! dead-letter file with the receiver's message (or are counted lost without one),
//! since resending the same samples would be refused again. Prometheus rolls a
//! refused request back whole, so one bad sample costs its request. 401 and 403 are
//! the exception, as in every Lookout sink: a credential being rotated, retried while
//! it lasts, never dead-lettered.

mod config;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use indexmap::IndexMap;
use lookout_component::ComponentMetrics;
use lookout_config::Secret;
use lookout_event::Batch;
use lookout_tsdb::Labels;
use lookout_tsdb::otlp::{Metadata, Translator};
use lookout_tsdb::remote::{HEADERS, WriteRequestBuilder};
use serde::{Deserialize, Serialize};

use crate::delivery::{Endpoint, Item, Protocol, SendError, Sent};
use config::Credentials;
pub use config::{BasicAuth, ClientTls, DeltaSettings, PrometheusRemoteWriteConfig};

/// Most metric families whose metadata is remembered, and most distinct reasons logged.
const MAX_REMEMBERED: usize = 10_000;

/// What outlives a batch: the translator (delta state), the metadata of the families
/// seen, and the reasons already logged.
struct State {
    translator: Translator,
    metadata: HashMap<String, Metadata>,
    reported: HashSet<String>,
}

impl State {
    fn new(translator: Translator) -> State {
        State { translator, metadata: HashMap::new(), reported: HashSet::new() }
    }
}

/// One sample as an item's document (and a dead letter's `record`).
#[derive(Debug, Serialize, Deserialize)]
struct SampleDoc {
    labels: Pairs,
    timestamp_ms: i64,
    value: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    exemplars: Vec<ExemplarDoc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ExemplarDoc {
    /// In Prometheus's order: `trace_id`, `span_id`, then the attributes.
    labels: Pairs,
    timestamp_ms: i64,
    value: Value,
}

/// Label pairs as a JSON object, in their order both ways (series labels are sorted
/// already, so `Labels::new` on them does no work; exemplar labels keep Prometheus's
/// order).
#[derive(Debug, Default)]
struct Pairs(Vec<(String, String)>);

impl Serialize for Pairs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of label names to values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// A sample value in JSON: a number, or `"NaN"`, `"+Inf"`, `"-Inf"`, `"stale"` (the
/// staleness marker, a NaN with its own bits).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Value {
    Number(f64),
    Special(String),
}

impl Value {
    fn of(v: f64) -> Value {
        if v.is_finite() {
            Value::Number(v)
        } else if v.to_bits() == lookout_tsdb::stale_nan().to_bits() {
            Value::Special("stale".into())
        } else if v.is_nan() {
            Value::Special("NaN".into())
        } else if v > 0.0 {
            Value::Special("+Inf".into())
        } else {
            Value::Special("-Inf".into())
        }
    }

    fn get(&self) -> Option<f64> {
        match self {
            Value::Number(v) => Some(*v),
            Value::Special(s) => match s.as_str() {
                "stale" => Some(lookout_tsdb::stale_nan()),
                "NaN" => Some(f64::NAN),
                "+Inf" => Some(f64::INFINITY),
                "-Inf" => Some(f64::NEG_INFINITY),
                _ => None,
            },
        }
    }
}

/// The remote-write protocol.
pub struct RemoteWrite {
    client: reqwest::Client,
    credentials: Option<Credentials>,
    headers: IndexMap<String, Secret>,
    tenant_id: Option<String>,
    external_labels: Vec<(String, String)>,
    send_exemplars: bool,
    send_metadata: bool,
    state: Mutex<State>,
    metrics: ComponentMetrics,
    sink: String,
}

/// The family a series name belongs to: itself, or without a histogram/summary suffix.
fn family_of<'a>(name: &'a str, metadata: &HashMap<String, Metadata>) -> Option<&'a str> {
    if metadata.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| metadata.contains_key(*f))
}

impl RemoteWrite {
    fn with_external(&self, labels: &Labels) -> Labels {
        if self.external_labels.iter().all(|(k, _)| labels.get(k).is_some()) {
            return labels.clone();
        }
        // External labels first: a later duplicate wins in `Labels::new`, so the
        // series' own value is kept.
        Labels::new(self.external_labels.iter().cloned().chain(labels.pairs().iter().cloned()))
    }

    fn log_once(&self, state: &mut State, reason: &str) {
        if state.reported.len() >= MAX_REMEMBERED {
            state.reported.clear();
        }
        if state.reported.insert(reason.to_string()) {
            tracing::warn!(sink = %self.sink, reason = %reason, "Metric points not sent to remote write.");
        }
    }

    fn request(&self, url: &str, body: Vec<u8>) -> Result<reqwest::RequestBuilder, SendError> {
        let mut request = self.client.post(url);
        for (name, value) in HEADERS {
            request = request.header(name, value);
        }
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose());
        }
        if let Some(tenant) = &self.tenant_id {
            request = request.header("x-scope-orgid", tenant);
        }
        if let Some(c) = &self.credentials {
            request = c.apply(request)?;
        }
        Ok(request.body(body))
    }
}

impl Protocol for RemoteWrite {
    fn encode(&self, batch: &Batch, items: &mut Vec<Item>) {
        let mut state = self.state.lock().expect("remote write state");
        let t = state.translator.translate(batch);
        for why in &t.refused {
            self.log_once(&mut state, why);
        }
        // Refused metrics count once each; dropped delta points one by one.
        self.metrics.failed_events.inc_by(t.refused_metrics + t.dropped);
        if self.send_metadata {
            for m in t.metadata {
                if state.metadata.len() >= MAX_REMEMBERED && !state.metadata.contains_key(&m.family) {
                    state.metadata.clear();
                }
                state.metadata.insert(m.family.clone(), m);
            }
        }
        drop(state);
        let mut exemplars: Vec<Vec<ExemplarDoc>> = Vec::new();
        if self.send_exemplars && !t.exemplars.is_empty() {
            exemplars.resize_with(t.points.len(), Vec::new);
            for e in t.exemplars {
                exemplars[e.point].push(ExemplarDoc {
                    labels: Pairs(e.labels),
                    timestamp_ms: e.t,
                    value: Value::of(e.v),
                });
            }
        }
        let received_at = batch.meta.received_at;
        for (i, (labels, ts, v)) in t.points.into_iter().enumerate() {
            let labels = self.with_external(&labels);
            let route: Arc<str> = Arc::from(labels.name().unwrap_or_default());
            let doc = SampleDoc {
                labels: Pairs(labels.pairs().to_vec()),
                timestamp_ms: ts,
                value: Value::of(v),
                exemplars: exemplars.get_mut(i).map(std::mem::take).unwrap_or_default(),
            };
            let doc = serde_json::to_vec(&doc).unwrap_or_default();
            items.push(Item {
                doc: doc.into(),
                route,
                id: None,
                time_unix_nano: (ts.max(0) as u64).saturating_mul(1_000_000),
                received_at,
                origin: None,
                ack: None,
            });
        }
    }

    fn send(&self, endpoint: &Endpoint, items: &[Item]) -> BoxFuture<'static, Result<Sent, SendError>> {
        let mut sent = Sent::default();
        let mut request = WriteRequestBuilder::new();
        let mut families: HashSet<String> = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let doc: SampleDoc = match serde_json::from_slice(&item.doc) {
                Ok(d) => d,
                Err(e) => {
                    sent.rejected.push((i, format!("not a sample document: {e}")));
                    continue;
                }
            };
            let Some(v) = doc.value.get() else {
                sent.rejected.push((i, "not a sample value".into()));
                continue;
            };
            let labels = Labels::new(doc.labels.0);
            request.sample(&labels, doc.timestamp_ms, v);
            for e in doc.exemplars {
                if let Some(ev) = e.value.get() {
                    request.exemplar(&labels, &e.labels.0, e.timestamp_ms, ev);
                }
            }
            if self.send_metadata
                && let Some(name) = labels.name()
            {
                families.insert(name.to_string());
            }
        }
        if self.send_metadata {
            let state = self.state.lock().expect("remote write state");
            for name in &families {
                if let Some(m) = family_of(name, &state.metadata).and_then(|f| state.metadata.get(f)) {
                    request.metadata(m);
                }
            }
        }
        if request.samples() == 0 {
            return futures::future::ready(Ok(sent)).boxed();
        }
        let request = match self.request(endpoint.url(), request.encode()) {
            Ok(r) => r,
            Err(e) => return futures::future::ready(Err(e)).boxed(),
        };
        async move {
            let resp = request.send().await.map_err(|e| SendError::transport(&e))?;
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(sent);
            }
            let headers = resp.headers().clone();
            let body = resp.text().await.unwrap_or_default();
            Err(classify(status, body.trim()).with_retry_after(&headers))
        }
        .boxed()
    }
}

/// Prometheus's remote-write status rule: 5xx and 429 are retried; 401/403 are an
/// outage (Lookout's rule for every sink); other statuses are final.
fn classify(status: u16, body: &str) -> SendError {
    let message = format!("HTTP {status}: {}", body.chars().take(500).collect::<String>());
    match status {
        401 | 403 => SendError::Unauthorized(message),
        429 | 500..=599 => SendError::Retryable(message),
        _ => SendError::Fatal(message),
    }
}

#[cfg(test)]
mod tests;
