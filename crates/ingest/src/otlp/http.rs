//! OTLP/HTTP: `POST /v1/logs`, `/v1/traces`, `/v1/metrics` with protobuf or JSON
//! bodies, optionally gzip-compressed. Responses use the request's encoding; errors
//! carry a `google.rpc.Status` as the OTLP/HTTP specification asks.
//!
//! The body limit and gzip inflation are written here rather than taken from
//! `tower-http` (`RequestBodyLimitLayer`, `RequestDecompressionLayer`), because those
//! layers answer on their own and cannot keep what clients see today:
//! - a too-long `Content-Length` gets a `text/plain` "length limit exceeded" 413 and an
//!   unknown `Content-Encoding` an empty 415, where OTLP asks for a `google.rpc.Status`
//!   (RESOURCE_EXHAUSTED / INVALID_ARGUMENT) in the request's own encoding, and where
//!   Lookout counts the refusal in the source's metrics ([`Ingest::refused`]);
//! - a refused body is not drained, so a client still sending gets a reset connection
//!   instead of the 413 ([`DRAIN_CAP`]);
//! - bad gzip and an over-limit inflated body surface as one opaque body error, where
//!   today they are a 400 "invalid gzip body" and a 413 "once inflated".

use std::io::Read;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lookout_component::Shutdown;
use lookout_event::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_event::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_event::otlp::collector::trace::v1::ExportTraceServiceRequest;
use tokio::net::TcpListener;

use std::sync::Arc;

use super::ServeError;
use super::accept::{Ingest, Rejection};
use super::request::OtlpRequest;
use crate::tenant::{self, Authenticated, Authenticator, auth::Guard};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF,
            Encoding::Json => JSON,
        }
    }
}

/// The router for one source's HTTP listener; with `auth`, every request is
/// authenticated before its body is read.
pub fn router(ingest: Ingest, auth: Option<Arc<Authenticator>>) -> Router {
    let router = Router::new()
        .route(ExportLogsServiceRequest::PATH, post(export::<ExportLogsServiceRequest>))
        .route(ExportTraceServiceRequest::PATH, post(export::<ExportTraceServiceRequest>))
        .route(ExportMetricsServiceRequest::PATH, post(export::<ExportMetricsServiceRequest>))
        .with_state(ingest);
    match auth {
        Some(auth) => {
            let guard = Guard { auth, transport: "http", reject };
            router.layer(axum::middleware::from_fn_with_state(guard, tenant::auth::guard))
        }
        None => router,
    }
}

/// The authentication layer's answer, in the request's encoding.
fn reject(rejection: &Rejection, headers: &HeaderMap) -> Response {
    error_response(request_encoding(headers).unwrap_or(Encoding::Protobuf), rejection)
}

/// Serves OTLP/HTTP on `listener` (over TLS with `tls`) until `shutdown`, with the timeouts and caps every
/// Lookout listener has (`lookout_server::listener`); then closes idle connections and
/// lets requests in flight finish, for a bounded time.
pub async fn serve(
    listener: TcpListener,
    ingest: Ingest,
    auth: Option<Arc<Authenticator>>,
    tls: Option<lookout_server::listener::Tls>,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let stats = std::sync::Arc::new(lookout_server::listener::ListenerStats::default());
    let limits = lookout_server::listener::ListenerLimits::default();
    lookout_server::listener::serve(listener, router(ingest, auth), limits, stats, tls, shutdown)
        .await
        .map_err(ServeError::Http)
}

fn request_encoding(headers: &HeaderMap) -> Result<Encoding, Rejection> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case(PROTOBUF) {
        Ok(Encoding::Protobuf)
    } else if mime.eq_ignore_ascii_case(JSON) {
        Ok(Encoding::Json)
    } else {
        Err(Rejection::Unsupported(format!("unsupported content-type {ct:?}: OTLP/HTTP takes {PROTOBUF} or {JSON}")))
    }
}

fn too_large(limit: usize) -> Rejection {
    Rejection::TooLarge(format!("request body exceeds max_request_size ({limit} bytes)"))
}

/// Past `max_request_size`, up to this much more of a refused body is read and thrown
/// away so that the client, still sending, gets the 413 instead of a reset connection.
const DRAIN_CAP: usize = 64 * 1024 * 1024;

/// Reads the body, keeping at most `limit` bytes; a longer body is refused (and drained).
pub(crate) async fn read_body(mut body: Body, limit: usize, declared: Option<usize>) -> Result<Bytes, Rejection> {
    use http_body_util::BodyExt;
    let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    let mut total = 0usize;
    let drain = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Rejection::BadRequest(format!("could not read the request body: {e}")))?;
            let Ok(data) = frame.into_data() else { continue };
            total += data.len();
            if total <= limit {
                buf.extend_from_slice(&data);
            } else if total > limit + DRAIN_CAP {
                break;
            }
        }
        Ok(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), drain)
        .await
        .map_err(|_| Rejection::BadRequest("timed out reading the request body".into()))??;
    if total > limit {
        return Err(too_large(limit));
    }
    Ok(buf.freeze())
}

/// Inflates a gzip body; the inflated size counts against `limit` (no gzip bombs).
pub(crate) fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::with_capacity((body.len() * 4).min(limit));
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| Rejection::BadRequest(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(Rejection::TooLarge(format!(
            "request body exceeds max_request_size ({limit} bytes) once inflated"
        )));
    }
    Ok(out)
}

fn decode<R: OtlpRequest>(encoding: Encoding, data: &[u8]) -> Result<R, Rejection> {
    match encoding {
        Encoding::Protobuf => {
            R::decode(data).map_err(|e| Rejection::BadRequest(format!("invalid protobuf {}: {e}", R::NAME)))
        }
        Encoding::Json => serde_json::from_slice(data)
            .map_err(|e| Rejection::BadRequest(format!("invalid OTLP/JSON {}: {e}", R::NAME))),
    }
}

async fn export<R: OtlpRequest>(
    State(ingest): State<Ingest>,
    tenant: Option<Extension<Authenticated>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Until the content type is known, errors are answered in protobuf, the OTLP default.
    let mut encoding = Encoding::Protobuf;
    let result = async {
        encoding = request_encoding(&headers)?;
        // Above the memory limit, refuse before reading (allocating) the body.
        ingest.check_memory()?;
        let limit = ingest.max_request_size();
        let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let raw = read_body(body, limit, declared).await?;
        let wire = raw.len();
        let ce = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
        let request: R = match ce.trim() {
            "" | "identity" => decode(encoding, &raw)?,
            e if e.eq_ignore_ascii_case("gzip") => decode(encoding, &gunzip(&raw, limit)?)?,
            other => {
                return Err(Rejection::Unsupported(format!(
                    "unsupported content-encoding {other:?}: use gzip or none"
                )));
            }
        };
        ingest.accept_as(request, wire, tenant.as_ref().map(|t| &t.0)).await
    }
    .await;
    match result {
        Ok(response) => encode(StatusCode::OK, encoding, &response),
        Err(rejection) => {
            if !rejection.is_pressure() {
                ingest.refused(&rejection);
            }
            error_response(encoding, &rejection)
        }
    }
}

fn encode<M: prost::Message + serde::Serialize>(status: StatusCode, encoding: Encoding, message: &M) -> Response {
    let body = match encoding {
        Encoding::Protobuf => message.encode_to_vec(),
        // OTLP/JSON omits unset fields: `{}` rather than `{"partialSuccess":null}`.
        Encoding::Json => match serde_json::to_value(message) {
            Ok(serde_json::Value::Object(mut fields)) => {
                fields.retain(|_, v| !v.is_null());
                serde_json::to_vec(&fields).unwrap_or_else(|_| b"{}".to_vec())
            }
            _ => b"{}".to_vec(),
        },
    };
    (status, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
}

fn error_response(encoding: Encoding, rejection: &Rejection) -> Response {
    // gRPC codes in google.rpc.Status: 3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED,
    // 14 UNAVAILABLE, 16 UNAUTHENTICATED.
    let (status, code) = match rejection {
        Rejection::BadRequest(_) => (StatusCode::BAD_REQUEST, 3),
        Rejection::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, 16),
        Rejection::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, 8),
        Rejection::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, 8),
        Rejection::Unsupported(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 3),
        Rejection::Full { .. } | Rejection::ShuttingDown | Rejection::NotDelivered { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, 14)
        }
        Rejection::OverMemory { .. } => (StatusCode::SERVICE_UNAVAILABLE, 8),
    };
    let mut response = encode(status, encoding, &RpcStatus { code, message: rejection.message() });
    if let Some(secs) = rejection.retry_after() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if matches!(rejection, Rejection::Unauthenticated(_)) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
pub(super) fn gunzip_for_test(body: &[u8], limit: usize) -> Result<Vec<u8>, Rejection> {
    gunzip(body, limit)
}
