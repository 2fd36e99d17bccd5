//! OTLP/gRPC: the `opentelemetry.proto.collector.{logs,trace,metrics}.v1` services,
//! gzip and zstd accepted.

use axum::http::{HeaderValue, Response};
use lookout_component::Shutdown;
use lookout_event::otlp::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use lookout_event::otlp::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use lookout_event::otlp::collector::metrics::v1::metrics_service_server::{MetricsService, MetricsServiceServer};
use lookout_event::otlp::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use lookout_event::otlp::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use lookout_event::otlp::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Status};

use lookout_server::listener::{self, ListenerLimits, ListenerStats, Tls};

use std::sync::Arc;

use prost::Message;

use super::ServeError;
use super::accept::{Ingest, Rejection};
use super::request::OtlpRequest;
use crate::tenant::{self, Authenticated, Authenticator, auth::Guard};

/// The three collector services over one [`Ingest`].
#[derive(Clone)]
struct Collector {
    ingest: Ingest,
}

impl Collector {
    async fn export<R: OtlpRequest>(&self, request: Request<R>) -> Result<tonic::Response<R::Response>, Status> {
        self.ingest.check_memory().map_err(|r| status(&r))?;
        // Set by the authentication layer (`auth:`); tonic keeps the HTTP extensions.
        let tenant = request.extensions().get::<Authenticated>().cloned();
        let request = request.into_inner();
        let wire = request.encoded_len();
        self.ingest.accept_as(request, wire, tenant.as_ref()).await.map(tonic::Response::new).map_err(|r| status(&r))
    }
}

pub(crate) fn status(rejection: &Rejection) -> Status {
    let message = rejection.message();
    match rejection {
        Rejection::Unauthenticated(_) => Status::unauthenticated(message),
        // OTLP exporters retry RESOURCE_EXHAUSTED only when RetryInfo is present.
        Rejection::RateLimited { retry_after, .. } => {
            Status::with_details(tonic::Code::ResourceExhausted, message.clone(), retry_info(8, &message, *retry_after))
        }
        Rejection::BadRequest(_) | Rejection::Unsupported(_) => Status::invalid_argument(message),
        Rejection::TooLarge(_) | Rejection::OverMemory { .. } => Status::resource_exhausted(message),
        // UNAVAILABLE is the code OTLP exporters always retry.
        Rejection::Full { .. } | Rejection::ShuttingDown | Rejection::NotDelivered { .. } => {
            Status::unavailable(message)
        }
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, Status> {
        Collector::export(self, request).await
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
        Collector::export(self, request).await
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, Status> {
        Collector::export(self, request).await
    }
}

/// `google.rpc.Status` with one `google.rpc.RetryInfo` detail, the
/// `grpc-status-details-bin` OTLP exporters read the retry delay from.
fn retry_info(code: i32, message: &str, secs: u64) -> bytes::Bytes {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Duration {
        #[prost(int64, tag = "1")]
        seconds: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        retry_delay: Option<Duration>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Any {
        #[prost(string, tag = "1")]
        type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<Any>,
    }
    let info = RetryInfo { retry_delay: Some(Duration { seconds: secs as i64 }) };
    let detail = Any { type_url: "type.googleapis.com/google.rpc.RetryInfo".into(), value: info.encode_to_vec() };
    RpcStatus { code, message: message.into(), details: vec![detail] }.encode_to_vec().into()
}

/// The authentication layer's answer: the gRPC status as HTTP/2 headers.
pub(crate) fn reject(rejection: &Rejection, _: &axum::http::HeaderMap) -> axum::response::Response {
    status(rejection).into_http::<axum::body::Body>()
}

/// tonic answers a message over its decoding limit with OUT_OF_RANGE; OTLP clients and
/// the gRPC spec expect RESOURCE_EXHAUSTED for "request too large".
pub(crate) fn oversize_is_resource_exhausted<B>(mut response: Response<B>) -> Response<B> {
    let headers = response.headers_mut();
    if headers.get("grpc-status").is_some_and(|v| v == "11") {
        headers.insert("grpc-status", HeaderValue::from_static("8"));
    }
    response
}

/// Serves OTLP/gRPC on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    ingest: Ingest,
    auth: Option<Arc<Authenticator>>,
    tls: Option<Tls>,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let limit = ingest.max_request_size();
    let collector = Collector { ingest };
    macro_rules! service {
        ($server:ident) => {
            $server::new(collector.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limit)
        };
    }
    let routes = tonic::service::Routes::new(service!(LogsServiceServer))
        .add_service(service!(TraceServiceServer))
        .add_service(service!(MetricsServiceServer));
    let mut router = routes.into_axum_router();
    if let Some(auth) = auth {
        let guard = Guard { auth, transport: "grpc", reject };
        router = router.layer(axum::middleware::from_fn_with_state(guard, tenant::auth::guard));
    }
    let router = router.layer(tower::util::MapResponseLayer::new(oversize_is_resource_exhausted));
    let stats = std::sync::Arc::new(ListenerStats::default());
    listener::serve(listener, router, ListenerLimits::default(), stats, tls, shutdown).await.map_err(ServeError::Http)
}
