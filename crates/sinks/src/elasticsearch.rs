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
//!     auth: { user: elastic, password: ${ES_PASSWORD} }   # or password_file, api_key, api_key_file
//!     compression: gzip                            # or none (default)
//!     manage_templates: true                       # index templates (default); false where managed elsewhere
//!     retention: 30d                               # ILM / ISM / data stream lifecycle (default: none)
//!     flavor: auto                                 # or elasticsearch, opensearch
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
//!
//! Before the first write it installs index templates and a lifecycle ([`setup`]).

mod setup;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentFuture, SinkConfig, SinkContext};
use lookout_config::{ComponentDecl, ConfigErrors, PromDuration, Secret, SecretSourceError, secret_or_file};
use lookout_event::{Batch, FieldPath, Signal, encode};
use serde::Deserialize;

use crate::Error;
use crate::delivery::{self, Endpoint, Item, Protocol, SendError, Sent};
use crate::destination;
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
        /// Install index templates (and the lifecycle) before the first write.
        #[serde(default = "yes")]
        pub manage_templates: bool,
        /// Delete indices (or data stream backing indices) older than this.
        #[serde(default)]
        pub retention: Option<PromDuration>,
        /// Elasticsearch or OpenSearch (`auto`: asked of the store).
        #[serde(default)]
        pub flavor: setup::Flavor,
    }
    delivery { endpoint, endpoints, load_balance, hash_field, batch, request, circuit_breaker, health_check, dead_letter }
}

fn yes() -> bool {
    true
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

/// `auth:` — HTTP basic auth (`user` with `password` or `password_file`) or an API key
/// (`api_key` or `api_key_file`). Files are read when the sink starts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    /// User name for basic auth.
    pub user: Option<String>,
    /// Password for basic auth.
    pub password: Option<Secret>,
    /// File holding the password.
    pub password_file: Option<String>,
    /// `Authorization: ApiKey <key>` (the base64 `id:api_key` Elasticsearch returns).
    pub api_key: Option<Secret>,
    /// File holding the API key.
    pub api_key_file: Option<String>,
}

/// [`Auth`] with its files read: what each request carries.
#[derive(Debug, Clone)]
enum Credentials {
    Basic { user: String, password: Secret },
    ApiKey(Secret),
}

impl Auth {
    /// The shape checks, without reading files.
    fn check(&self) -> Result<(), String> {
        let password = self.password.is_some() || self.password_file.is_some();
        let api_key = self.api_key.is_some() || self.api_key_file.is_some();
        match (self.user.is_some(), password, api_key) {
            (true, true, false) | (false, false, true) => {}
            (_, _, true) => return Err("`auth` takes either `user` and a password, or an API key".into()),
            (true, false, false) => return Err("`auth.user` needs `password` or `password_file`".into()),
            (false, _, false) => return Err("`auth` needs `user` and `password`, or `api_key`".into()),
        }
        if self.password.is_some() && self.password_file.is_some() {
            return Err("at most one of `auth.password` and `auth.password_file` must be configured".into());
        }
        if self.api_key.is_some() && self.api_key_file.is_some() {
            return Err("at most one of `auth.api_key` and `auth.api_key_file` must be configured".into());
        }
        Ok(())
    }

    fn credentials(&self) -> Result<Option<Credentials>, SecretSourceError> {
        if let Some(key) = secret_or_file("api_key", self.api_key.as_ref(), self.api_key_file.as_deref())? {
            return Ok(Some(Credentials::ApiKey(key)));
        }
        let password = secret_or_file("password", self.password.as_ref(), self.password_file.as_deref())?;
        Ok(match (&self.user, password) {
            (Some(user), Some(password)) => Some(Credentials::Basic { user: user.clone(), password }),
            _ => None,
        })
    }
}

impl Credentials {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credentials::Basic { user, password } => request.basic_auth(user, Some(password.expose())),
            Credentials::ApiKey(key) => request.header("authorization", format!("ApiKey {}", key.expose())),
        }
    }
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
        if let Some(auth) = &self.auth {
            auth.check().map_err(|e| ConfigErrors::from(decl.error(e)))?;
        }
        if self.retention.is_some() {
            if !self.manage_templates {
                return Err(decl
                    .error("`retention` is applied through the index templates: it needs `manage_templates: true`")
                    .into());
            }
            let undated =
                [&self.index, &self.traces_index, &self.metrics_index].into_iter().find(|t| !setup::is_dated(t));
            if let (Mode::Index, Some(t)) = (self.mode, undated) {
                return Err(decl
                    .error(format!(
                        "`retention` deletes whole indices, and `{t}` names one index forever: use dated names \
                         (`%Y.%m.%d`) or `mode: data_stream`"
                    ))
                    .into());
            }
        }
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
            let auth = match &config.auth {
                Some(a) => a.credentials().map_err(Error::from)?,
                None => None,
            };
            let setup = config.manage_templates.then(|| config.setup(&cx.id, client.clone(), auth.clone()));
            let protocol = Bulk {
                client,
                templates: [logs, traces, metrics],
                action: if config.mode == Mode::DataStream { "create" } else { "index" },
                id_field: config.id_field.as_deref().map(FieldPath::parse),
                tenant_field: FieldPath::tenant(),
                gzip: config.compression == Compression::Gzip,
                setup,
                auth,
                buffers: delivery::BufferPool::new(buffer_budget(&config.delivery().settings())),
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
    tenant_field: FieldPath,
    auth: Option<Credentials>,
    gzip: bool,
    /// Index templates and lifecycle to install first (`manage_templates`).
    setup: Option<setup::Setup>,
    /// Request bodies' buffers, reused (see [`delivery::BufferPool`]).
    buffers: delivery::BufferPool,
}

impl ElasticsearchConfig {
    fn setup(&self, sink: &str, client: reqwest::Client, auth: Option<Credentials>) -> setup::Setup {
        let (patterns, skipped) = setup::patterns([&self.index, &self.traces_index, &self.metrics_index]);
        for t in skipped {
            tracing::warn!(sink = %sink, index = %t, "Elasticsearch: no index template for an index name that starts with a field (its pattern would match every index).");
        }
        setup::Setup {
            client,
            auth,
            sink: sink.to_string(),
            mode: self.mode,
            flavor: self.flavor,
            retention: self.retention.map(|d| std::time::Duration::from_millis(d.ms().max(0) as u64)),
            patterns,
        }
    }
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
        let mut body = self.buffers.take(items.iter().map(|i| i.doc.len() + i.route.len() + 48).sum());
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

/// Idle request bodies the sink keeps for reuse: about one per request in flight.
fn buffer_budget(settings: &delivery::DeliverySettings) -> usize {
    settings.request.concurrency.max(1) << 20
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
            destination::elasticsearch_index(&mut s);
            Arc::from(s)
        });
        let mut verdicts = destination::Verdicts::new(destination::Kind::Index);
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
                    // A name from record fields is made a valid index name.
                    destination::elasticsearch_index(&mut name);
                    match names.get(name.as_str()) {
                        Some(a) => a.clone(),
                        None => names.entry(name.clone()).or_insert_with(|| Arc::from(name.as_str())).clone(),
                    }
                }
            };
            let route = if verdicts.active() {
                let tenant = r.get(&self.tenant_field);
                verdicts.refused(tenant.as_ref().and_then(|v| v.as_str()), &route).unwrap_or(route)
            } else {
                route
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
        // Records whose destination their tenant may not use are dead-lettered, unsent.
        let (items, sendable, refused) = destination::split_refused(items);
        if items.is_empty() {
            return futures::future::ready(Ok(destination::remap(Sent::default(), &[], refused))).boxed();
        }
        let items = &*items;
        let body = self.body(items);
        let mut request = self
            .client
            .post(format!("{}/_bulk", endpoint.url()))
            .header("content-type", "application/x-ndjson")
            .header("accept", "application/json");
        if let Some(auth) = &self.auth {
            request = auth.apply(request);
        }
        let body = if self.gzip {
            let mut e = flate2::write::GzEncoder::new(self.buffers.take(body.len() / 4), flate2::Compression::fast());
            let _ = e.write_all(&body);
            request = request.header("content-encoding", "gzip");
            self.buffers.give_back(body);
            e.finish().unwrap_or_default()
        } else {
            body
        };
        let body = self.buffers.freeze(body);
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
            read_bulk_response(&text, &with_ids).map(|sent| destination::remap(sent, &sendable, refused))
        }
        .boxed()
    }

    fn health_check(&self, endpoint: &Endpoint) -> Option<BoxFuture<'static, bool>> {
        let mut request = self.client.get(format!("{}/", endpoint.url()));
        if let Some(auth) = &self.auth {
            request = auth.apply(request);
        }
        Some(async move { request.send().await.is_ok_and(|r| r.status().is_success()) }.boxed())
    }

    fn prepare(&self, endpoint: &Endpoint) -> Option<BoxFuture<'static, Result<(), SendError>>> {
        self.setup.as_ref().map(|s| s.install(endpoint))
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

    #[test]
    fn credentials_are_secrets_and_files_are_read() {
        let basic: ElasticsearchConfig =
            serde_saphyr::from_str("endpoint: http://es:9200\nauth: {user: elastic, password: \"PlantedEsPw1\"}\n")
                .unwrap();
        let key: ElasticsearchConfig =
            serde_saphyr::from_str("endpoint: http://es:9200\nauth:\n  api_key: >-\n    PlantedEsKey2\n").unwrap();
        for (cfg, planted) in [(&basic, "PlantedEsPw1"), (&key, "PlantedEsKey2")] {
            let creds = cfg.auth.as_ref().unwrap().credentials().unwrap().unwrap();
            let debug = format!("{cfg:?} {creds:?}");
            assert!(!debug.contains(planted) && debug.contains("<secret>"), "{debug}");
            let request = creds.apply(reqwest::Client::new().get("http://es:9200/")).build().unwrap();
            let header = request.headers()["authorization"].to_str().unwrap().to_string();
            assert!(header == "ApiKey PlantedEsKey2" || header == "Basic ZWxhc3RpYzpQbGFudGVkRXNQdzE=", "{header}");
        }

        let dir = std::env::temp_dir().join(format!("lookout-es-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pw, api) = (dir.join("pw"), dir.join("key"));
        std::fs::write(&pw, "PlantedEsPwFile3\n").unwrap();
        std::fs::write(&api, "PlantedEsKeyFile4\n").unwrap();
        let from_file = |yaml: String| {
            let cfg: ElasticsearchConfig = serde_saphyr::from_str(&yaml).unwrap();
            cfg.auth.as_ref().unwrap().check().unwrap();
            cfg.auth.unwrap().credentials().unwrap().unwrap()
        };
        let c = from_file(format!("endpoint: http://es:9200\nauth: {{user: u, password_file: {}}}\n", pw.display()));
        assert!(
            matches!(&c, Credentials::Basic { user, password } if user == "u" && password.expose() == "PlantedEsPwFile3")
        );
        let c = from_file(format!("endpoint: http://es:9200\nauth: {{api_key_file: {}}}\n", api.display()));
        assert!(matches!(&c, Credentials::ApiKey(k) if k.expose() == "PlantedEsKeyFile4"));
        let missing = Auth { api_key_file: Some(dir.join("nope").display().to_string()), ..Auth::default() };
        let e = missing.credentials().unwrap_err().to_string();
        assert!(e.starts_with("cannot read secret file ") && e.contains("nope"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();

        let bad = |yaml: &str| serde_saphyr::from_str::<Auth>(yaml).unwrap().check().unwrap_err();
        assert!(bad("{user: u}").contains("needs `password`"));
        assert!(bad("{user: u, password: p, api_key: k}").contains("either"));
        assert!(bad("{user: u, password: p, password_file: f}").contains("at most one"));
        assert!(bad("{api_key: k, api_key_file: f}").contains("at most one"));
        assert!(bad("{}").contains("needs"));
    }
}
