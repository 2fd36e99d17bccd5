//! The `otlp` sink: forwards batches to another OTLP receiver (a Collector, another
//! Lookout, a vendor endpoint) over OTLP/HTTP (protobuf) or OTLP/gRPC.
//!
//! ```yaml
//! sinks:
//!   upstream:
//!     type: otlp
//!     inputs: [enrich]
//!     endpoint: http://collector:4318     # or `endpoints:`; gRPC: http://collector:4317
//!     protocol: http                      # or grpc
//!     compression: gzip                  # or none
//!     headers: { x-api-key: ${KEY} }
//!     dead_letter: ./data/dead/otlp.ndjson
//! ```
//!
//! Records keep their OTLP resource/scope grouping: every item points back at its batch
//! ([`Origin`]), and an attempt sends, per signal, the batch filtered down to the items
//! in it — so a retry after a partial failure sends exactly the records still owed.
//! Retry signals follow the OTLP specification: HTTP 429/502/503/504 and gRPC
//! UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, CANCELLED, DEADLINE_EXCEEDED, OUT_OF_RANGE,
//! DATA_LOSS are retried; other errors are not. A partial success (`rejected_*` > 0)
//! is final — OTLP says not to retry it — and is counted as failed (the receiver does not
//! say which records, so they cannot be dead-lettered one by one).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use indexmap::IndexMap;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentFuture, SinkConfig, SinkContext};
use lookout_config::{ComponentDecl, ConfigErrors, Secret};
use lookout_event::otlp::collector::logs::v1::logs_service_client::LogsServiceClient;
use lookout_event::otlp::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use lookout_event::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use lookout_event::otlp::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use lookout_event::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use lookout_event::otlp::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use lookout_event::{Batch, Payload};
use prost::Message;
use serde::Deserialize;

use crate::Error;
use crate::delivery::{self, Endpoint, HealthCheckSettings, Item, Origin, Protocol, SendError, Sent};

crate::network_sink_config! {
    /// `type: otlp` (sink).
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct OtlpSinkConfig {
        /// Transport.
        #[serde(default)]
        pub protocol: Transport,
        /// Request compression.
        #[serde(default = "default_gzip")]
        pub compression: crate::elasticsearch::Compression,
        /// Extra request headers (gRPC: metadata). Every value is a [`Secret`] (they carry
        /// API keys and `authorization`), as the Collector's `configopaque` headers.
        #[serde(default)]
        pub headers: IndexMap<String, Secret>,
        /// The sink's buffer.
        #[serde(default)]
        pub buffer: BufferConfig,
    }
    delivery { endpoint, endpoints, load_balance, hash_field, batch, request, circuit_breaker, dead_letter }
}

fn default_gzip() -> crate::elasticsearch::Compression {
    crate::elasticsearch::Compression::Gzip
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// OTLP/HTTP with protobuf bodies.
    #[default]
    Http,
    /// OTLP/gRPC.
    Grpc,
}

impl SinkConfig for OtlpSinkConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        self.delivery().check_endpoints("otlp").map_err(|e| ConfigErrors::from(decl.error(e.to_string())))?;
        Ok(())
    }

    fn buffer(&self) -> BufferConfig {
        self.buffer
    }

    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            let client = reqwest::Client::builder().build().map_err(Error::from)?;
            let protocol = Forward {
                client,
                transport: config.protocol,
                gzip: config.compression == crate::elasticsearch::Compression::Gzip,
                headers: config.headers.clone(),
                channels: Mutex::new(HashMap::new()),
            };
            // OTLP has no health endpoint: only the circuit breaker judges an endpoint.
            let delivery =
                delivery::DeliveryConfig { health_check: HealthCheckSettings::disabled(), ..config.delivery() };
            Ok(delivery::component(cx, protocol, delivery.settings()))
        }
        .boxed()
    }
}

/// The forwarding protocol.
pub struct Forward {
    client: reqwest::Client,
    transport: Transport,
    gzip: bool,
    headers: IndexMap<String, Secret>,
    channels: Mutex<HashMap<String, tonic::transport::Channel>>,
}

/// One export request of one signal, and the items (by index into the attempt) in it.
struct Export {
    payload: Payload,
    items: Vec<usize>,
}

/// A batch and, for each of its records in the attempt, (position in batch, item index).
type BatchMembers = (Arc<Batch>, Vec<(u32, usize)>);

/// Rebuilds, per signal, the records of `items` from their batches.
fn exports(items: &[Item]) -> Vec<Export> {
    let mut by_batch: Vec<BatchMembers> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(Origin { batch, index }) = &item.origin else { continue };
        match by_batch.iter_mut().find(|(b, _)| Arc::ptr_eq(b, batch)) {
            Some((_, v)) => v.push((*index, i)),
            None => by_batch.push((batch.clone(), vec![(*index, i)])),
        }
    }
    let mut out: Vec<Export> = Vec::new();
    for (batch, members) in by_batch {
        let mut keep = vec![false; batch.len()];
        for (index, _) in &members {
            if let Some(k) = keep.get_mut(*index as usize) {
                *k = true;
            }
        }
        let mut position = 0usize;
        let sub = batch.filtered(|_| {
            position += 1;
            keep[position - 1]
        });
        let indexes = members.into_iter().map(|(_, i)| i);
        match out.iter_mut().find(|e| e.payload.signal() == sub.payload.signal()) {
            Some(e) => {
                // Same signal, so the append cannot fail.
                let _ = e.payload.append(sub.payload);
                e.items.extend(indexes);
            }
            None => out.push(Export { payload: sub.payload, items: indexes.collect() }),
        }
    }
    out
}

/// What one export's answer means for its items.
enum Answer {
    Accepted { rejected: i64, message: String },
    Failed(SendError),
}

/// OTLP/HTTP's retryable statuses, exactly.
const OTLP_HTTP_RETRIER: lookout_retry::Retrier = lookout_retry::Retrier::exactly(&[429, 502, 503, 504]);

fn retryable_grpc(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(code, Unavailable | ResourceExhausted | Aborted | Cancelled | DeadlineExceeded | OutOfRange | DataLoss)
}

fn grpc_answer<T>(result: Result<tonic::Response<T>, tonic::Status>, partial: impl Fn(T) -> (i64, String)) -> Answer {
    match result {
        Ok(r) => {
            let (rejected, message) = partial(r.into_inner());
            Answer::Accepted { rejected, message }
        }
        Err(s) if retryable_grpc(s.code()) => {
            Answer::Failed(SendError::Retryable(format!("gRPC {:?}: {}", s.code(), s.message())))
        }
        Err(s) if matches!(s.code(), tonic::Code::Unauthenticated | tonic::Code::PermissionDenied) => {
            Answer::Failed(SendError::Unauthorized(format!("gRPC {:?}: {}", s.code(), s.message())))
        }
        Err(s) => Answer::Failed(SendError::Fatal(format!("gRPC {:?}: {}", s.code(), s.message()))),
    }
}

impl Forward {
    fn channel(&self, url: &str) -> Result<tonic::transport::Channel, SendError> {
        let mut channels = self.channels.lock().unwrap();
        if let Some(c) = channels.get(url) {
            return Ok(c.clone());
        }
        let c = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| SendError::Fatal(format!("invalid endpoint {}: {e}", lookout_config::redact_url(url))))?
            .connect_lazy();
        channels.insert(url.to_string(), c.clone());
        Ok(c)
    }

    fn grpc_request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()),
                tonic::metadata::MetadataValue::try_from(v.expose()),
            ) {
                request.metadata_mut().insert(k, v);
            }
        }
        request
    }

    fn export(&self, url: &str, payload: Payload) -> BoxFuture<'static, Answer> {
        match self.transport {
            Transport::Http => {
                let (path, body) = match payload {
                    Payload::Logs(r) => ("v1/logs", ExportLogsServiceRequest { resource_logs: r }.encode_to_vec()),
                    Payload::Traces(r) => {
                        ("v1/traces", ExportTraceServiceRequest { resource_spans: r }.encode_to_vec())
                    }
                    Payload::Metrics(r) => {
                        ("v1/metrics", ExportMetricsServiceRequest { resource_metrics: r }.encode_to_vec())
                    }
                };
                let mut request =
                    self.client.post(format!("{url}/{path}")).header("content-type", "application/x-protobuf");
                for (k, v) in &self.headers {
                    request = request.header(k, v.expose());
                }
                let body = if self.gzip {
                    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    let _ = e.write_all(&body);
                    request = request.header("content-encoding", "gzip");
                    e.finish().unwrap_or_default()
                } else {
                    body
                };
                let request = request.body(body);
                async move {
                    let resp = match request.send().await {
                        Ok(r) => r,
                        Err(e) => return Answer::Failed(SendError::transport(&e)),
                    };
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let bytes = resp.bytes().await.unwrap_or_default();
                    if (200..300).contains(&status) {
                        let (rejected, message) = http_partial(path, &bytes);
                        return Answer::Accepted { rejected, message };
                    }
                    let text = String::from_utf8_lossy(&bytes).chars().take(300).collect::<String>();
                    let message = format!("HTTP {status}: {text}");
                    Answer::Failed(if status == 401 || status == 403 {
                        SendError::Unauthorized(message)
                    } else if OTLP_HTTP_RETRIER.is_retryable(status) {
                        SendError::Retryable(message).with_retry_after(&headers)
                    } else {
                        SendError::Fatal(message)
                    })
                }
                .boxed()
            }
            Transport::Grpc => {
                let channel = match self.channel(url) {
                    Ok(c) => c,
                    Err(e) => return futures::future::ready(Answer::Failed(e)).boxed(),
                };
                let gzip = self.gzip;
                let compress = move |enc: tonic::codec::CompressionEncoding| if gzip { Some(enc) } else { None };
                let enc = compress(tonic::codec::CompressionEncoding::Gzip);
                match payload {
                    Payload::Logs(r) => {
                        let req = self.grpc_request(ExportLogsServiceRequest { resource_logs: r });
                        let mut c = LogsServiceClient::new(channel);
                        if let Some(e) = enc {
                            c = c.send_compressed(e);
                        }
                        async move {
                            grpc_answer(c.export(req).await, |r: ExportLogsServiceResponse| {
                                r.partial_success
                                    .map_or((0, String::new()), |p| (p.rejected_log_records, p.error_message))
                            })
                        }
                        .boxed()
                    }
                    Payload::Traces(r) => {
                        let req = self.grpc_request(ExportTraceServiceRequest { resource_spans: r });
                        let mut c = TraceServiceClient::new(channel);
                        if let Some(e) = enc {
                            c = c.send_compressed(e);
                        }
                        async move {
                            grpc_answer(c.export(req).await, |r: ExportTraceServiceResponse| {
                                r.partial_success.map_or((0, String::new()), |p| (p.rejected_spans, p.error_message))
                            })
                        }
                        .boxed()
                    }
                    Payload::Metrics(r) => {
                        let req = self.grpc_request(ExportMetricsServiceRequest { resource_metrics: r });
                        let mut c = MetricsServiceClient::new(channel);
                        if let Some(e) = enc {
                            c = c.send_compressed(e);
                        }
                        async move {
                            grpc_answer(c.export(req).await, |r: ExportMetricsServiceResponse| {
                                r.partial_success
                                    .map_or((0, String::new()), |p| (p.rejected_data_points, p.error_message))
                            })
                        }
                        .boxed()
                    }
                }
            }
        }
    }
}

/// The partial success of an OTLP/HTTP protobuf response.
fn http_partial(path: &str, body: &[u8]) -> (i64, String) {
    let p = match path {
        "v1/logs" => ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_log_records, p.error_message)),
        "v1/traces" => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_spans, p.error_message)),
        _ => ExportMetricsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_data_points, p.error_message)),
    };
    p.unwrap_or((0, String::new()))
}

impl Protocol for Forward {
    fn encode(&self, batch: &Batch, items: &mut Vec<Item>) {
        // The batch is kept whole (one copy, shared by its items); documents are only
        // rendered if a record ends up dead-lettered.
        let shared = Arc::new(batch.clone());
        let received_at = batch.meta.received_at;
        let mut index = 0u32;
        batch.for_each(|r| {
            items.push(Item {
                doc: bytes::Bytes::new(),
                route: Arc::from(""),
                id: None,
                time_unix_nano: r.time_unix_nano(),
                received_at,
                origin: Some(Origin { batch: shared.clone(), index }),
                ack: None,
            });
            index += 1;
        });
    }

    fn send(&self, endpoint: &Endpoint, items: &[Item]) -> BoxFuture<'static, Result<Sent, SendError>> {
        let calls: Vec<(Vec<usize>, BoxFuture<'static, Answer>)> =
            exports(items).into_iter().map(|e| (e.items, self.export(endpoint.url(), e.payload))).collect();
        async move {
            let mut sent = Sent::default();
            let mut last_error = None;
            let mut answered = false;
            for (indexes, call) in calls {
                match call.await {
                    Answer::Accepted { rejected, message } => {
                        answered = true;
                        if rejected > 0 {
                            tracing::warn!(rejected, message = %message, "OTLP receiver refused records (partial success).");
                            sent.refused_unidentified += rejected as u64;
                        }
                    }
                    Answer::Failed(SendError::Fatal(m)) => {
                        answered = true;
                        sent.rejected.extend(indexes.into_iter().map(|i| (i, m.clone())));
                    }
                    Answer::Failed(e) => {
                        sent.retry.extend(indexes);
                        last_error = Some(e);
                    }
                }
            }
            // Nothing got through: a failure of the endpoint (for its circuit breaker).
            match last_error {
                Some(e) if !answered => Err(e),
                _ => Ok(sent),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::logs;

    #[test]
    fn an_attempt_rebuilds_exactly_its_items() {
        let f = Forward {
            client: reqwest::Client::new(),
            transport: Transport::Http,
            gzip: false,
            headers: IndexMap::new(),
            channels: Mutex::default(),
        };
        let mut items = Vec::new();
        f.encode(&logs(5), &mut items);
        f.encode(&logs(3), &mut items);
        assert_eq!(items.len(), 8);
        // A retry of items 1, 3 (first batch) and 6 (second batch).
        let subset: Vec<Item> = [1, 3, 6].iter().map(|&i| items[i].clone()).collect();
        let out = exports(&subset);
        assert_eq!(out.len(), 1, "one signal, one request");
        assert_eq!(out[0].items, vec![0, 1, 2]);
        let batch = Batch { payload: out[0].payload.clone(), meta: Default::default() };
        let mut bodies = Vec::new();
        batch.for_each(|r| bodies.push(r.body().and_then(lookout_event::FieldValue::from_any).unwrap().to_string()));
        assert_eq!(bodies, vec!["log 1", "log 3", "log 1"]);
    }

    #[test]
    fn header_values_are_secrets() {
        let cfg: OtlpSinkConfig = serde_saphyr::from_str(
            "endpoint: http://c:4318\nheaders:\n  authorization: 'Bearer PlantedOtlpAuth1'\n  x-api-key: PlantedOtlpKey2\n",
        )
        .unwrap();
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("PlantedOtlp") && debug.contains("authorization"), "{debug}");
        assert_eq!(cfg.headers["x-api-key"].expose(), "PlantedOtlpKey2");
        let f = Forward {
            client: reqwest::Client::new(),
            transport: Transport::Grpc,
            gzip: false,
            headers: cfg.headers.clone(),
            channels: Mutex::default(),
        };
        let request = f.grpc_request(());
        assert_eq!(request.metadata().get("authorization").unwrap(), "Bearer PlantedOtlpAuth1");
    }
}
