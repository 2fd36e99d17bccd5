//! The `vector.Vector` gRPC service: `PushEvents` (mapped, then admitted as OTLP) and
//! `HealthCheck`. Written against tonic's server primitives (no generated code).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::codec::CompressionEncoding;
use tonic::codegen::http;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::map;
use super::proto::{HealthCheckRequest, HealthCheckResponse, PushEventsRequest, PushEventsResponse, ServingStatus};
use crate::otlp::{Ingest, Rejection};
use crate::tenant::Authenticated;

/// The service, over one source's [`Ingest`].
#[derive(Clone)]
pub struct VectorService {
    ingest: Ingest,
}

impl VectorService {
    pub fn new(ingest: Ingest) -> Self {
        VectorService { ingest }
    }

    async fn push(&self, request: Request<PushEventsRequest>) -> Result<Response<PushEventsResponse>, Status> {
        let ingest = &self.ingest;
        let tenant = request.extensions().get::<Authenticated>().cloned();
        let result: Result<(), Rejection> = async {
            ingest.check_memory()?;
            let request = request.into_inner();
            let wire = prost::Message::encoded_len(&request);
            let mapped = map::map(request, now_nanos()).map_err(Rejection::BadRequest)?;
            if mapped.unsupported_metrics > 0 {
                tracing::debug!(
                    dropped = mapped.unsupported_metrics,
                    "vector source: metrics of kinds not stored (set, distribution, summary, sketch) dropped"
                );
            }
            // Size and byte limits are charged once, against the logs (or the metrics
            // when there are no logs).
            let mut wire_left = wire;
            if let Some(logs) = mapped.logs {
                ingest.accept_as(logs, std::mem::take(&mut wire_left), tenant.as_ref()).await?;
            }
            if let Some(metrics) = mapped.metrics {
                ingest.accept_as(metrics, wire_left, tenant.as_ref()).await?;
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(Response::new(PushEventsResponse {})),
            Err(rejection) => {
                if !rejection.is_pressure() {
                    ingest.refused(&rejection);
                }
                Err(crate::otlp::grpc_status(&rejection))
            }
        }
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

struct Push(VectorService);

impl UnaryService<PushEventsRequest> for Push {
    type Response = PushEventsResponse;
    type Future = BoxFuture<'static, Result<Response<PushEventsResponse>, Status>>;
    fn call(&mut self, request: Request<PushEventsRequest>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move { service.push(request).await })
    }
}

struct Health;

impl UnaryService<HealthCheckRequest> for Health {
    type Response = HealthCheckResponse;
    type Future = BoxFuture<'static, Result<Response<HealthCheckResponse>, Status>>;
    fn call(&mut self, _: Request<HealthCheckRequest>) -> Self::Future {
        Box::pin(async { Ok(Response::new(HealthCheckResponse { status: ServingStatus::Serving as i32 })) })
    }
}

/// The tower service tonic's router mounts at `/vector.Vector/*`.
#[derive(Clone)]
pub struct VectorServer {
    service: Arc<VectorService>,
    max_message_size: usize,
}

impl VectorServer {
    pub fn new(service: VectorService, max_message_size: usize) -> Self {
        VectorServer { service: Arc::new(service), max_message_size }
    }
}

impl NamedService for VectorServer {
    const NAME: &'static str = "vector.Vector";
}

impl<B> tower::Service<http::Request<B>> for VectorServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let limit = self.max_message_size;
        macro_rules! grpc {
            () => {
                Grpc::new(Codec::default())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(limit)
            };
        }
        match request.uri().path() {
            "/vector.Vector/PushEvents" => {
                let service = (*self.service).clone();
                Box::pin(async move { Ok(grpc!().unary(Push(service), request).await) })
            }
            "/vector.Vector/HealthCheck" => Box::pin(async move { Ok(grpc!().unary(Health, request).await) }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method of vector.Vector").into_http()) }),
        }
    }
}

/// prost over gRPC, where a request that does not decode is INVALID_ARGUMENT (tonic's
/// own codec answers INTERNAL, which clients take for a server fault).
struct Codec<E, D>(std::marker::PhantomData<fn(E) -> D>);

impl<E, D> Default for Codec<E, D> {
    fn default() -> Self {
        Codec(std::marker::PhantomData)
    }
}

struct Encoder<E>(std::marker::PhantomData<fn(E)>);
struct Decoder<D>(std::marker::PhantomData<fn() -> D>);

impl<E: prost::Message + Send + 'static, D: prost::Message + Default + Send + 'static> tonic::codec::Codec
    for Codec<E, D>
{
    type Encode = E;
    type Decode = D;
    type Encoder = Encoder<E>;
    type Decoder = Decoder<D>;

    fn encoder(&mut self) -> Encoder<E> {
        Encoder(std::marker::PhantomData)
    }

    fn decoder(&mut self) -> Decoder<D> {
        Decoder(std::marker::PhantomData)
    }
}

impl<E: prost::Message> tonic::codec::Encoder for Encoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst).map_err(|e| Status::internal(format!("cannot encode the response: {e}")))
    }
}

impl<D: prost::Message + Default> tonic::codec::Decoder for Decoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<D>, Status> {
        D::decode(src).map(Some).map_err(|e| Status::invalid_argument(format!("the request does not decode: {e}")))
    }
}
