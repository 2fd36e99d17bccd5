//! The `elasticsearch` sink: the `_bulk` API (Elasticsearch and OpenSearch).
//!
//! ```yaml
//! sinks:
//!   es:
//!     type: elasticsearch
//!     inputs: [enrich]
//!     endpoints: [http://127.0.0.1:9200]          # or `endpoint:`; several are load-balanced
//!     index: "logs-{service.name}-%Y.%m.%d"        # fields of the record, its date (UTC)
//!     traces_index: "traces-{service.name}-%Y.%m.%d"
//!     metrics_index: "metrics-{service.name}-%Y.%m.%d"
//!     mode: index                                  # or data_stream (`create` actions)
//!     id_field: attributes.event.id                # optional: retries cannot duplicate
//!     auth: { user: elastic, password: ${ES_PASSWORD} }   # or { api_key: ... }
//!     compression: gzip                            # or none (default)
//!     dead_letter: ./data/dead/es.ndjson
//!     batch: { max_events: 1000, max_bytes: 5242880, timeout_ms: 1000 }
//!     request: { timeout_secs: 30, concurrency: 4, retry_max_duration_secs: 300 }
//!     circuit_breaker: { failures: 5, cooldown_secs: 60 }
//! ```
//!
//! It speaks `_bulk` over reqwest rather than through the `elasticsearch` crate: every
//! published version of that crate is an alpha, it pins a second reqwest, defaults to
//! OpenSSL, and its rustls feature brings a second crypto provider. `_bulk` is one NDJSON
//! POST, and what matters — reading the per-item results — is ours either way.
//!
//! The response is read item by item: items refused with 429 or 5xx are retried (alone);
//! items refused with another 4xx (a mapping conflict, a bad document) go to the
//! dead-letter file with the store's reason; a 409 on a `create` with a document id means
//! an earlier attempt already stored it, so it counts as delivered. The whole request
//! is retried on 429/5xx/timeouts; 401/403 are an outage (a credential being rotated):
//! retried for as long as they last, the sink degraded, never dead-lettered; other
//! statuses (400, 413) are not retryable.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentFuture, SinkConfig, SinkContext};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::{Batch, FieldPath, Signal, encode};
use serde::Deserialize;

use crate::Error;
use crate::delivery::{self, Endpoint, Item, Protocol, SendError, Sent};
use crate::template::Template;

crate::network_sink_config! {
    /// `type: elasticsearch`
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ElasticsearchConfig {
        /// Index (or data stream) for log records.
        #[serde(default = "default_index")]
        pub index: String,
        /// Index for spans.
        #[serde(default = "default_traces_index")]
        pub traces_index: String,
        /// Index for metric points.
        #[serde(default = "default_metrics_index")]
        pub metrics_index: String,
        /// `index` (bulk `index` actions) or `data_stream` (`create` actions).
        #[serde(default)]
        pub mode: Mode,
        /// A field whose value becomes the document `_id`.
        #[serde(default)]
        pub id_field: Option<String>,
        /// Credentials.
        #[serde(default)]
        pub auth: Option<Auth>,
        /// Request body compression.
        #[serde(default)]
        pub compression: Compression,
        /// The sink's buffer.
        #[serde(default)]
        pub buffer: BufferConfig,
    }
    delivery { endpoint, endpoints, load_balance, hash_field, batch, request, circuit_breaker, health_check, dead_letter }
}

fn default_index() -> String {
    "logs-{service.name}-%Y.%m.%d".into()
}
fn default_traces_index() -> String {
    "traces-{service.name}-%Y.%m.%d".into()
}
fn default_metrics_index() -> String {
    "metrics-{service.name}-%Y.%m.%d".into()
}

/// Bulk action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `index` actions into indices.
    #[default]
    Index,
    /// `create` actions into data streams.
    DataStream,
}

/// Credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Auth {
    /// HTTP basic auth.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// `Authorization: ApiKey <key>` (the base64 `id:api_key` Elasticsearch returns).
    ApiKey {
        /// The encoded key.
        api_key: String,
    },
}

/// Request body compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Plain.
    #[default]
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
}

impl ElasticsearchConfig {
    fn templates(&self) -> Result<[Template; 3], Error> {
        Ok([Template::parse(&self.index)?, Template::parse(&self.traces_index)?, Template::parse(&self.metrics_index)?])
    }
}

impl SinkConfig for ElasticsearchConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        self.delivery().check_endpoints("elasticsearch").map_err(|e| ConfigErrors::from(decl.error(e.to_string())))?;
        self.templates().map_err(|e| ConfigErrors::from(decl.error(e.to_string())))?;
        Ok(())
    }

    fn buffer(&self) -> BufferConfig {
        self.buffer
    }

    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            let [logs, traces, metrics] = config.templates()?;
            let client = reqwest::Client::builder().build().map_err(Error::from)?;
            let protocol = Bulk {
                client,
                templates: [logs, traces, metrics],
                action: if config.mode == Mode::DataStream { "create" } else { "index" },
                id_field: config.id_field.as_deref().map(FieldPath::parse),
                auth: config.auth.clone(),
                gzip: config.compression == Compression::Gzip,
            };
            Ok(delivery::component(cx, protocol, config.delivery().settings()))
        }
        .boxed()
    }
}

/// The `_bulk` protocol.
pub struct Bulk {
    client: reqwest::Client,
    /// Index templates for logs, spans, metric points.
    templates: [Template; 3],
    action: &'static str,
    id_field: Option<FieldPath>,
    auth: Option<Auth>,
    gzip: bool,
}

impl Bulk {
    fn template(&self, signal: Signal) -> &Template {
        match signal {
            Signal::Logs => &self.templates[0],
            Signal::Traces => &self.templates[1],
            Signal::Metrics => &self.templates[2],
        }
    }

    fn body(&self, items: &[Item]) -> Vec<u8> {
        let mut body = Vec::with_capacity(items.iter().map(|i| i.doc.len() + i.route.len() + 48).sum());
        for item in items {
            body.extend_from_slice(b"{\"");
            body.extend_from_slice(self.action.as_bytes());
            body.extend_from_slice(b"\":{\"_index\":");
            let _ = serde_json::to_writer(&mut body, &*item.route);
            if let Some(id) = &item.id {
                body.extend_from_slice(b",\"_id\":");
                let _ = serde_json::to_writer(&mut body, &**id);
            }
            body.extend_from_slice(b"}}\n");
            body.extend_from_slice(&item.doc);
            body.push(b'\n');
        }
        body
    }
}

impl Protocol for Bulk {
    fn encode(&self, batch: &Batch, items: &mut Vec<Item>) {
        let template = self.template(batch.signal());
        let promote = batch.meta.promote.as_deref();
        let fallback = batch.meta.received_unix_nano;
        let received_at = batch.meta.received_at;
        // One buffer for the whole batch; each item is a slice of it.
        let mut buf = Vec::with_capacity(batch.len() * 512);
        let mut spans = Vec::with_capacity(batch.len());
        let mut names: HashMap<String, Arc<str>> = HashMap::new();
        let mut name = String::new();
        let constant: Option<Arc<str>> = template.is_constant().then(|| {
            let mut s = String::new();
            batch.for_each(|r| template.render(&r, 0, "unknown", &mut s));
            Arc::from(s.to_lowercase())
        });
        batch.for_each(|r| {
            let time = match r.time_unix_nano() {
                0 => fallback,
                t => t,
            };
            let start = buf.len();
            encode::write_record(&mut buf, &r, promote, fallback);
            let route = match &constant {
                Some(c) => c.clone(),
                None => {
                    template.render(&r, time, "unknown", &mut name);
                    // Index names are lowercase in Elasticsearch.
                    name.make_ascii_lowercase();
                    match names.get(name.as_str()) {
                        Some(a) => a.clone(),
                        None => names.entry(name.clone()).or_insert_with(|| Arc::from(name.as_str())).clone(),
                    }
                }
            };
            let id = self.id_field.as_ref().and_then(|f| r.get(f)).map(|v| Arc::from(v.to_string()));
            spans.push((start, buf.len(), route, id, time));
        });
        let buf = Bytes::from(buf);
        items.extend(spans.into_iter().map(|(start, end, route, id, time_unix_nano)| Item {
            doc: buf.slice(start..end),
            route,
            id,
            time_unix_nano,
            received_at,
            origin: None,
            ack: None,
        }));
    }

    fn send(&self, endpoint: &Endpoint, items: &[Item]) -> BoxFuture<'static, Result<Sent, SendError>> {
        let body = self.body(items);
        let mut request = self
            .client
            .post(format!("{}/_bulk", endpoint.url()))
            .header("content-type", "application/x-ndjson")
            .header("accept", "application/json");
        request = match &self.auth {
            Some(Auth::Basic { user, password }) => request.basic_auth(user, Some(password)),
            Some(Auth::ApiKey { api_key }) => request.header("authorization", format!("ApiKey {api_key}")),
            None => request,
        };
        let body = if self.gzip {
            let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
            let _ = e.write_all(&body);
            request = request.header("content-encoding", "gzip");
            e.finish().unwrap_or_default()
        } else {
            body
        };
        let request = request.body(body);
        let with_ids: Vec<bool> = items.iter().map(|i| i.id.is_some()).collect();
        async move {
            let resp = request.send().await.map_err(|e| SendError::transport(&e))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let text = resp.bytes().await.map_err(|e| SendError::transport(&e))?;
            if !(200..300).contains(&status) {
                return Err(SendError::from_status(status, &String::from_utf8_lossy(&text)).with_retry_after(&headers));
            }
            read_bulk_response(&text, &with_ids)
        }
        .boxed()
    }

    fn health_check(&self, endpoint: &Endpoint) -> Option<BoxFuture<'static, bool>> {
        let mut request = self.client.get(format!("{}/", endpoint.url()));
        request = match &self.auth {
            Some(Auth::Basic { user, password }) => request.basic_auth(user, Some(password)),
            Some(Auth::ApiKey { api_key }) => request.header("authorization", format!("ApiKey {api_key}")),
            None => request,
        };
        Some(async move { request.send().await.is_ok_and(|r| r.status().is_success()) }.boxed())
    }
}

#[derive(Deserialize)]
struct BulkHead {
    errors: bool,
}

#[derive(Deserialize)]
struct BulkResponse {
    items: Vec<HashMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Reads a 2xx `_bulk` response: which items to retry, which are refused for good.
fn read_bulk_response(body: &[u8], with_ids: &[bool]) -> Result<Sent, SendError> {
    let head: BulkHead =
        serde_json::from_slice(body).map_err(|e| SendError::Retryable(format!("unreadable _bulk response ({e})")))?;
    if !head.errors {
        return Ok(Sent::default());
    }
    let full: BulkResponse = serde_json::from_slice(body)
        .map_err(|e| SendError::Retryable(format!("unreadable _bulk response items ({e})")))?;
    if full.items.len() != with_ids.len() {
        return Err(SendError::Retryable(format!(
            "_bulk answered {} items for {} sent",
            full.items.len(),
            with_ids.len()
        )));
    }
    let mut sent = Sent::default();
    for (i, item) in full.items.iter().enumerate() {
        let Some(result) = item.values().next() else { continue };
        match result.status {
            200..=299 => {}
            // Already stored by an earlier attempt: the id makes the retry idempotent.
            409 if with_ids[i] => {}
            429 | 500..=599 => sent.retry.push(i),
            status => {
                let why = match &result.error {
                    Some(e) => format!(
                        "{status} {}: {}",
                        e["type"].as_str().unwrap_or("error"),
                        e["reason"].as_str().map_or_else(|| e.to_string(), str::to_string)
                    ),
                    None => format!("{status}"),
                };
                sent.rejected.push((i, why));
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_items_are_retried_dead_lettered_or_counted_delivered() {
        let body = br#"{"errors":true,"items":[
            {"index":{"status":201}},
            {"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [a]"}}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"index":{"status":503}}]}"#;
        let sent = read_bulk_response(body, &[false, false, false, true, false, false]).unwrap();
        assert_eq!(sent.retry, vec![1, 5]);
        assert_eq!(sent.rejected.len(), 2);
        assert_eq!(sent.rejected[0].0, 2);
        assert_eq!(sent.rejected[0].1, "400 mapper_parsing_exception: failed to parse field [a]");
        assert_eq!(sent.rejected[1].0, 4, "a 409 without an id is a real conflict");
        assert!(read_bulk_response(br#"{"errors":false,"items":[]}"#, &[]).unwrap().retry.is_empty());
        assert!(matches!(read_bulk_response(b"<html>", &[]), Err(SendError::Retryable(_))));
    }
}
