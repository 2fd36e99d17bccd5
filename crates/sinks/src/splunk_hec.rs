//! The `splunk_hec` sink: Splunk's HTTP Event Collector.
//!
//! ```yaml
//! sinks:
//!   splunk:
//!     type: splunk_hec
//!     inputs: [enrich]
//!     endpoints: [https://splunk-1:8088, https://splunk-2:8088]   # or `endpoint:`
//!     token: ${SPLUNK_HEC_TOKEN}                   # or token_file: /run/secrets/hec
//!     mode: event                          # or raw
//!     index: main                          # templates: text, {field.path}, strftime
//!     sourcetype: "otel:{signal}"
//!     source: lookout
//!     host: "{resource.host.name}"         # a field that is missing leaves the key out
//!     compression: gzip                    # or none
//!     acknowledgements: { enabled: true, poll_interval_ms: 500, timeout_secs: 30 }
//!     dead_letter: ./data/dead/splunk.ndjson
//!     batch: { max_events: 1000, max_bytes: 5242880, timeout_ms: 1000 }
//!     request: { timeout_secs: 60, concurrency: 4 }
//! ```
//!
//! How it speaks HEC (Splunk's "Format events for HTTP Event Collector" and "About HTTP
//! Event Collector Indexer Acknowledgment" pages):
//!
//! - `mode: event` POSTs to `/services/collector/event` one JSON envelope per record,
//!   concatenated without separators: `{"time":<epoch seconds, 3 decimals>,"index":..,
//!   "source":..,"sourcetype":..,"host":..,"event":<the record's document>}`. The
//!   document is the one every JSON sink writes (docs/event-shape.md).
//! - `mode: raw` POSTs to `/services/collector/raw` the documents separated by newlines;
//!   the metadata goes in the query string, so a request carries one combination of
//!   index/source/sourcetype/host: items are grouped by it, one POST per group.
//! - Every request carries `Authorization: Splunk <token>` and
//!   `X-Splunk-Request-Channel: <uuid>` (one random channel per sink; Splunk requires it
//!   when the token has acknowledgements on and ignores it otherwise).
//! - The answer is `{"text":..,"code":N}`. Code 0 is success. Code 9 (server busy,
//!   503), 8 (internal error, 500), 429 and any 5xx are retried; 401/403 (2/3/4: token
//!   missing/bad/unknown) are an outage, retried for as long as they last and never
//!   dead-lettered; everything else (5: no data; 6: invalid data format;
//!   7: incorrect index; 10: channel missing, ...) cannot be helped by resending, so the
//!   records are dead-lettered with HEC's text. When a code 6 names the
//!   `invalid-event-number`, only that record is dead-lettered and the others are sent
//!   again: Splunk does not document whether the events before it were indexed, and a
//!   possible duplicate is better than a loss.
//! - With `acknowledgements.enabled`, a 200 carries an `ackId`; the request is done only
//!   when `POST /services/collector/ack` (`{"acks":[id]}` → `{"acks":{"id":true}}`) says
//!   so. Polling every `poll_interval_ms` runs inside the request, so it holds a
//!   `request.concurrency` slot, and counts toward `request.timeout_secs`: set that above
//!   `acknowledgements.timeout_secs`. No ack in time is a retryable failure: the records
//!   are sent again (possibly duplicated, never dropped). A 200 without an `ackId` (the
//!   token has acknowledgements off) counts as delivered.
//! - The active health check is `GET /services/collector/health` (200 when healthy).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentFuture, SinkConfig, SinkContext};
use lookout_config::{ComponentDecl, ConfigErrors, Secret, secret_or_file};
use lookout_event::{Batch, FieldPath, RecordRef, encode};
use serde::Deserialize;

use crate::Error;
use crate::delivery::{self, Endpoint, Item, Protocol, SendError, Sent};
use crate::destination;
use crate::template::Template;

mod response;

use response::{AckPolicy, Refused, deliver};

crate::network_sink_config! {
    /// `type: splunk_hec`
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SplunkHecConfig {
        /// The HEC token.
        #[serde(default)]
        pub token: Option<Secret>,
        /// A file holding the HEC token (instead of `token`), read when the sink starts.
        #[serde(default)]
        pub token_file: Option<String>,
        /// `event` (JSON envelopes) or `raw`.
        #[serde(default)]
        pub mode: HecMode,
        /// Splunk index (template).
        #[serde(default)]
        pub index: Option<String>,
        /// `source` (template).
        #[serde(default)]
        pub source: Option<String>,
        /// `sourcetype` (template).
        #[serde(default)]
        pub sourcetype: Option<String>,
        /// `host` (template).
        #[serde(default)]
        pub host: Option<String>,
        /// Request body compression.
        #[serde(default)]
        pub compression: HecCompression,
        /// Indexer acknowledgements.
        #[serde(default)]
        pub acknowledgements: Acknowledgements,
        /// The sink's buffer.
        #[serde(default)]
        pub buffer: BufferConfig,
    }
    delivery { endpoint, endpoints, load_balance, hash_field, batch, request, circuit_breaker, health_check, dead_letter }
}

/// Which HEC endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HecMode {
    /// `/services/collector/event`: JSON envelopes with per-record metadata.
    #[default]
    Event,
    /// `/services/collector/raw`: newline-separated documents, metadata in the query.
    Raw,
}

/// Request body compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HecCompression {
    /// Plain.
    None,
    /// `Content-Encoding: gzip`.
    #[default]
    Gzip,
}

/// `acknowledgements:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgements {
    /// Wait for the indexer's acknowledgement of every request.
    #[serde(default)]
    pub enabled: bool,
    /// Milliseconds between polls of `/services/collector/ack`.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Seconds to wait for an ack before sending the records again.
    #[serde(default = "default_ack_timeout_secs")]
    pub timeout_secs: f64,
}

fn default_poll_interval_ms() -> u64 {
    500
}
fn default_ack_timeout_secs() -> f64 {
    30.0
}

impl Default for Acknowledgements {
    fn default() -> Self {
        Acknowledgements {
            enabled: false,
            poll_interval_ms: default_poll_interval_ms(),
            timeout_secs: default_ack_timeout_secs(),
        }
    }
}

impl SplunkHecConfig {
    #[cfg(test)]
    fn endpoint_specs(&self) -> Vec<crate::delivery::EndpointSpec> {
        self.delivery().endpoint_specs()
    }

    fn metadata(&self) -> Result<Metadata, Error> {
        let parse = |name: &'static str, t: &Option<String>| -> Result<Option<(&'static str, Template)>, Error> {
            t.as_deref().map(|s| Template::parse(s).map(|t| (name, t))).transpose()
        };
        let fields = [
            parse("index", &self.index)?,
            parse("source", &self.source)?,
            parse("sourcetype", &self.sourcetype)?,
            parse("host", &self.host)?,
        ];
        Ok(Metadata { fields: fields.into_iter().flatten().collect() })
    }
}

impl SinkConfig for SplunkHecConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        self.delivery().check_endpoints("splunk_hec").map_err(|e| ConfigErrors::from(decl.error(e.to_string())))?;
        match (&self.token, &self.token_file) {
            (None, None) => return Err(decl.error("`token` or `token_file` is required").into()),
            (Some(_), Some(_)) => {
                return Err(decl.error("at most one of `token` and `token_file` must be configured").into());
            }
            (Some(t), None) if t.expose().trim().is_empty() => return Err(decl.error("`token` is empty").into()),
            _ => {}
        }
        if self.acknowledgements.poll_interval_ms == 0 {
            return Err(decl.error("`acknowledgements.poll_interval_ms` must be above 0").into());
        }
        self.metadata().map_err(|e| ConfigErrors::from(decl.error(e.to_string())))?;
        Ok(())
    }

    fn buffer(&self) -> BufferConfig {
        self.buffer
    }

    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            let metadata = config.metadata()?;
            let token = secret_or_file("token", config.token.as_ref(), config.token_file.as_deref())
                .map_err(Error::from)?
                .unwrap_or_default();
            let client = reqwest::Client::builder().build().map_err(Error::from)?;
            let ack = &config.acknowledgements;
            let protocol = Hec {
                client,
                authorization: Secret::new(format!("Splunk {}", token.expose().trim())),
                channel: random_channel(),
                mode: config.mode,
                gzip: config.compression == HecCompression::Gzip,
                metadata,
                tenant_field: FieldPath::tenant(),
                acks: ack.enabled.then(|| AckPolicy {
                    poll_interval: Duration::from_millis(ack.poll_interval_ms.max(1)),
                    timeout: Duration::from_secs_f64(ack.timeout_secs.max(0.001)),
                }),
            };
            Ok(delivery::component(cx, protocol, config.delivery().settings()))
        }
        .boxed()
    }
}

/// A random (version 4) UUID: the request channel.
fn random_channel() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The metadata templates that are set, in envelope order.
#[derive(Debug, Clone)]
struct Metadata {
    fields: Vec<(&'static str, Template)>,
}

impl Metadata {
    fn is_constant(&self) -> bool {
        self.fields.iter().all(|(_, t)| t.is_constant())
    }

    /// Renders the record's metadata into `out` (cleared first), as the `mode` wants it
    /// in `send`: event mode, the envelope's keys as a JSON fragment
    /// (`"index":"main","host":"web-1"`); raw mode, a query string
    /// (`index=main&host=web-1`). Keys whose template renders empty are left out. The
    /// rendered index (empty: the token's default) is left in `index`.
    fn render(
        &self,
        mode: HecMode,
        record: &RecordRef<'_>,
        time: u64,
        value: &mut String,
        index: &mut String,
        out: &mut String,
    ) {
        out.clear();
        index.clear();
        for (key, template) in &self.fields {
            template.render(record, time, "", value);
            if *key == "index" {
                // From record fields: made a valid Splunk index name.
                destination::splunk_index(value);
                index.push_str(value);
            }
            if value.is_empty() {
                continue;
            }
            match mode {
                HecMode::Event => {
                    if !out.is_empty() {
                        out.push(',');
                    }
                    let _ = write!(out, "\"{key}\":");
                    // Serializing a &str cannot fail.
                    out.push_str(&serde_json::to_string(value.as_str()).unwrap_or_default());
                }
                HecMode::Raw => {
                    if !out.is_empty() {
                        out.push('&');
                    }
                    out.push_str(key);
                    out.push('=');
                    percent_encode(value, out);
                }
            }
        }
    }
}

/// Query-string encoding: unreserved characters as they are, the rest as `%XX`.
fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// The HEC protocol.
pub struct Hec {
    client: reqwest::Client,
    /// `Splunk <token>`.
    authorization: Secret,
    /// `X-Splunk-Request-Channel`.
    channel: String,
    mode: HecMode,
    gzip: bool,
    metadata: Metadata,
    /// Where a record's tenant is read from, for its `destinations.splunk_indexes`.
    tenant_field: FieldPath,
    acks: Option<AckPolicy>,
}

/// Writes `{"time":<secs.millis>,<route>,"event":<doc>}`.
fn write_envelope(body: &mut Vec<u8>, item: &Item) {
    let millis = item.time_unix_nano / 1_000_000;
    let _ = write!(body, "{{\"time\":{}.{:03},", millis / 1000, millis % 1000);
    if !item.route.is_empty() {
        body.extend_from_slice(item.route.as_bytes());
        body.push(b',');
    }
    body.extend_from_slice(b"\"event\":");
    body.extend_from_slice(&item.doc);
    body.push(b'}');
}

/// One HTTP request to make: its URL, its (uncompressed) body, and which of the items
/// sent it carries.
struct Post {
    url: String,
    body: Vec<u8>,
    items: Vec<usize>,
}

impl Hec {
    /// The requests `items` need: one in event mode, one per metadata combination in raw
    /// mode.
    fn posts(&self, base: &str, items: &[Item]) -> Vec<Post> {
        match self.mode {
            HecMode::Event => {
                let mut body = Vec::with_capacity(items.iter().map(|i| i.doc.len() + i.route.len() + 40).sum());
                items.iter().for_each(|i| write_envelope(&mut body, i));
                let url = format!("{base}/services/collector/event");
                vec![Post { url, body, items: (0..items.len()).collect() }]
            }
            HecMode::Raw => {
                let mut groups: Vec<Post> = Vec::new();
                let mut routes: Vec<&Arc<str>> = Vec::new();
                for (n, item) in items.iter().enumerate() {
                    let g = match routes.iter().position(|r| Arc::ptr_eq(r, &item.route) || **r == item.route) {
                        Some(g) => g,
                        None => {
                            let mut url = format!("{base}/services/collector/raw?channel={}", self.channel);
                            if !item.route.is_empty() {
                                url.push('&');
                                url.push_str(&item.route);
                            }
                            routes.push(&item.route);
                            groups.push(Post { url, body: Vec::new(), items: Vec::new() });
                            groups.len() - 1
                        }
                    };
                    let post = &mut groups[g];
                    if !post.body.is_empty() {
                        post.body.push(b'\n');
                    }
                    post.body.extend_from_slice(&item.doc);
                    post.items.push(n);
                }
                groups
            }
        }
    }

    fn request(&self, url: &str) -> reqwest::RequestBuilder {
        self.client
            .post(url)
            .header("authorization", self.authorization.expose())
            .header("x-splunk-request-channel", &self.channel)
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    let _ = e.write_all(body);
    e.finish().unwrap_or_default()
}

impl Protocol for Hec {
    fn encode(&self, batch: &Batch, items: &mut Vec<Item>) {
        let promote = batch.meta.promote.as_deref();
        let fallback = batch.meta.received_unix_nano;
        let received_at = batch.meta.received_at;
        // One buffer for the whole batch; each item's `doc` is a slice of it. The HEC
        // metadata is rendered here, once per record, into `route` in the form `send`
        // pastes into the request (see `Metadata::render`): `doc` stays the bare record
        // because it is what gets dead-lettered, and the rendered metadata in `route`
        // shows up in the dead-letter line too. Routes are shared (`Arc`) between the
        // records that render the same.
        let mut buf = Vec::with_capacity(batch.len() * 512);
        let mut spans = Vec::with_capacity(batch.len());
        let mut routes: HashMap<String, Arc<str>> = HashMap::new();
        let constant = self.metadata.is_constant();
        let mut shared: Option<Arc<str>> = None;
        let (mut value, mut index, mut route) = (String::new(), String::new(), String::new());
        // (`index` keeps the constant metadata's index once `shared` is set: nothing
        // renders into it after that.)
        let mut verdicts = destination::Verdicts::new(destination::Kind::SplunkIndex);
        batch.for_each(|r| {
            let time = match r.time_unix_nano() {
                0 => fallback,
                t => t,
            };
            let start = buf.len();
            encode::write_record(&mut buf, &r, promote, fallback);
            let route = match &shared {
                Some(s) => s.clone(),
                None => {
                    self.metadata.render(self.mode, &r, time, &mut value, &mut index, &mut route);
                    let a = match routes.get(route.as_str()) {
                        Some(a) => a.clone(),
                        None => routes.entry(route.clone()).or_insert_with(|| Arc::from(route.as_str())).clone(),
                    };
                    if constant {
                        shared = Some(a.clone());
                    }
                    a
                }
            };
            // An index outside the record's tenant's `destinations.splunk_indexes` is
            // refused: dead-lettered with why, never sent.
            let route = if verdicts.active() {
                let tenant = r.get(&self.tenant_field);
                verdicts.refused(tenant.as_ref().and_then(|v| v.as_str()), &index).unwrap_or(route)
            } else {
                route
            };
            spans.push((start, buf.len(), route, time));
        });
        let buf = Bytes::from(buf);
        items.extend(spans.into_iter().map(|(start, end, route, time_unix_nano)| Item {
            doc: buf.slice(start..end),
            route,
            id: None,
            time_unix_nano,
            received_at,
            origin: None,
            ack: None,
        }));
    }

    fn send(&self, endpoint: &Endpoint, items: &[Item]) -> BoxFuture<'static, Result<Sent, SendError>> {
        // Records whose index their tenant may not use are dead-lettered, unsent.
        let (items, sendable, refused) = destination::split_refused(items);
        if items.is_empty() {
            return futures::future::ready(Ok(destination::remap(Sent::default(), &[], refused))).boxed();
        }
        let items = &*items;
        let base = endpoint.url();
        let requests: Vec<(reqwest::RequestBuilder, Vec<usize>)> = self
            .posts(base, items)
            .into_iter()
            .map(|post| {
                let mut request = self.request(&post.url).header(
                    "content-type",
                    if self.mode == HecMode::Event { "application/json" } else { "text/plain" },
                );
                let body = if self.gzip {
                    request = request.header("content-encoding", "gzip");
                    gzip(&post.body)
                } else {
                    post.body
                };
                (request.body(body), post.items)
            })
            .collect();
        let acks = self.acks.map(|policy| (policy, self.request(&format!("{base}/services/collector/ack"))));
        let total = items.len();
        async move {
            let mut sent = Sent::default();
            let mut retryable: Option<SendError> = None;
            let mut failed = 0;
            for (request, members) in requests {
                let outcome = deliver(request, acks.as_ref()).await;
                match outcome {
                    Ok(()) => {}
                    Err(Refused {
                        error: e @ (SendError::Retryable(_) | SendError::Throttled { .. } | SendError::Unauthorized(_)),
                        ..
                    }) => {
                        failed += members.len();
                        sent.retry.extend(&members);
                        retryable = Some(e);
                    }
                    Err(Refused { error: SendError::Fatal(e), invalid_event }) => match invalid_event {
                        Some(k) if k < members.len() => {
                            sent.rejected.push((members[k], e));
                            sent.retry.extend(members.iter().enumerate().filter(|(n, _)| *n != k).map(|(_, m)| *m));
                        }
                        _ => sent.rejected.extend(members.iter().map(|m| (*m, e.clone()))),
                    },
                }
            }
            // Nothing got through and it may pass later: a failure of the endpoint (the
            // circuit breaker counts it), not of the records.
            match retryable {
                Some(e) if failed == total => Err(e),
                _ => Ok(destination::remap(sent, &sendable, refused)),
            }
        }
        .boxed()
    }

    fn health_check(&self, endpoint: &Endpoint) -> Option<BoxFuture<'static, bool>> {
        let request = self.client.get(format!("{}/services/collector/health", endpoint.url()));
        Some(async move { request.send().await.is_ok_and(|r| r.status().is_success()) }.boxed())
    }
}

#[cfg(test)]
mod tests;
