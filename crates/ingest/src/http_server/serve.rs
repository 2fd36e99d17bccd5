//! The `POST` handler: read (bounded), inflate (bounded), decode whole, admit.
//! Errors are `{"error": "…"}` with the status the otlp source uses for the same cause.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lookout_event::otlp::collector::logs::v1::ExportLogsServiceRequest;

use super::decode::{self, BodyEncoding, FieldMap};
use crate::otlp::http::{gunzip, read_body};
use crate::otlp::{Ingest, Rejection};
use crate::tenant::{self, Authenticated, Authenticator, auth::Guard};

/// What one source's handler needs.
#[derive(Clone)]
pub struct Receiver {
    pub ingest: Ingest,
    pub encoding: BodyEncoding,
    pub fields: FieldMap,
}

/// `POST path`; with `auth`, every request is authenticated before its body is read.
pub fn router(path: &str, receiver: Receiver, auth: Option<Arc<Authenticator>>) -> Router {
    let router = Router::new().route(path, post(receive)).with_state(Arc::new(receiver));
    match auth {
        Some(auth) => {
            let guard = Guard { auth, transport: "http", reject: |r, _| error_response(r) };
            router.layer(axum::middleware::from_fn_with_state(guard, tenant::auth::guard))
        }
        None => router,
    }
}

/// Inflates a zstd body; the inflated size counts against `limit`.
fn unzstd(body: &[u8], limit: usize) -> Result<Vec<u8>, Rejection> {
    use std::io::Read;
    let decoder =
        zstd::stream::read::Decoder::new(body).map_err(|e| Rejection::BadRequest(format!("invalid zstd body: {e}")))?;
    let mut out = Vec::with_capacity((body.len() * 4).min(limit));
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Rejection::BadRequest(format!("invalid zstd body: {e}")))?;
    if out.len() > limit {
        return Err(Rejection::TooLarge(format!(
            "request body exceeds max_request_size ({limit} bytes) once inflated"
        )));
    }
    Ok(out)
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    tenant: Option<Extension<Authenticated>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ingest = &receiver.ingest;
    let result = async {
        ingest.check_memory()?;
        let limit = ingest.max_request_size();
        let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let raw = read_body(body, limit, declared).await?;
        let wire = raw.len();
        let ce = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity").trim();
        let inflated;
        let data: &[u8] = match ce {
            "" | "identity" => &raw,
            e if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => {
                inflated = gunzip(&raw, limit)?;
                &inflated
            }
            e if e.eq_ignore_ascii_case("zstd") => {
                inflated = unzstd(&raw, limit)?;
                &inflated
            }
            other => {
                return Err(Rejection::Unsupported(format!(
                    "unsupported content-encoding {other:?}: use gzip, zstd or none"
                )));
            }
        };
        let resource_logs =
            decode::decode(data, receiver.encoding, &receiver.fields, now_nanos()).map_err(Rejection::BadRequest)?;
        let request = ExportLogsServiceRequest { resource_logs };
        ingest.accept_as(request, wire, tenant.as_ref().map(|t| &t.0)).await
    }
    .await;
    match result {
        Ok(_) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        Err(rejection) => {
            if !rejection.is_pressure() {
                ingest.refused(&rejection);
            }
            error_response(&rejection)
        }
    }
}

fn error_response(rejection: &Rejection) -> Response {
    let status = match rejection {
        Rejection::BadRequest(_) => StatusCode::BAD_REQUEST,
        Rejection::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Rejection::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Rejection::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Rejection::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Rejection::Full { .. }
        | Rejection::ShuttingDown
        | Rejection::NotDelivered { .. }
        | Rejection::OverMemory { .. } => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = serde_json::json!({ "error": rejection.message() }).to_string();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(secs) = rejection.retry_after() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if matches!(rejection, Rejection::Unauthenticated(_)) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_inflation_is_bounded() {
        let packed = zstd::encode_all(&vec![b'a'; 10_000][..], 3).unwrap();
        assert_eq!(unzstd(&packed, 10_000).unwrap().len(), 10_000);
        assert!(matches!(unzstd(&packed, 9_999), Err(Rejection::TooLarge(_))));
        assert!(matches!(unzstd(b"not zstd", 100), Err(Rejection::BadRequest(_))));
    }
}
