//! The `grpc` probe against a real tonic server implementing `grpc.health.v1.Health`
//! (written here from the protocol's proto: the crate that ships it is not in the tree),
//! and the `tcp` probe with TLS, over 127.0.0.1.

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use lookout_probes::{HealthCheckRequest, HealthCheckResponse, Probe, check, check_probes};

/// Answers by the service asked about: `""` and `orders` SERVING (`orders` only with
/// `authorization: Bearer t0ken`), `billing` NOT_SERVING, anything else NOT_FOUND (what
/// the protocol says for an unknown service).
#[derive(Clone)]
struct Health;

impl tonic::server::UnaryService<HealthCheckRequest> for Health {
    type Response = HealthCheckResponse;
    type Future = std::future::Ready<Result<tonic::Response<HealthCheckResponse>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<HealthCheckRequest>) -> Self::Future {
        let token = request.metadata().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let answer = match request.get_ref().service.as_str() {
            "orders" if token != "Bearer t0ken" => Err(tonic::Status::unauthenticated("no token")),
            "" | "orders" => Ok(1),
            "billing" => Ok(2),
            other => Err(tonic::Status::not_found(format!("unknown service {other}"))),
        };
        std::future::ready(answer.map(|status| tonic::Response::new(HealthCheckResponse { status })))
    }
}

#[derive(Clone)]
struct HealthServer;

impl tonic::server::NamedService for HealthServer {
    const NAME: &'static str = "grpc.health.v1.Health";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<hyper::Request<tonic::body::Body>> for HealthServer {
    type Response = hyper::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: hyper::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() != "/grpc.health.v1.Health/Check" {
                return Ok(tonic::Status::unimplemented("only Check").into_http());
            }
            let codec = tonic_prost::ProstCodec::<HealthCheckResponse, HealthCheckRequest>::default();
            Ok(tonic::server::Grpc::new(codec).unary(Health, request).await)
        })
    }
}

async fn start_health_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(tonic::transport::Server::builder().add_service(HealthServer).serve_with_incoming(incoming));
    address
}

fn probes(yaml: &str) -> Vec<Probe> {
    let text = format!("sources:\n  in: {{ type: otlp }}\nprobes:\n{yaml}");
    let cfg = lookout_config::load_str("p.yaml", &text, &|_| None).unwrap();
    check_probes(&cfg.probes, Path::new(".")).unwrap()
}

#[tokio::test]
async fn grpc_health_check_serving_not_serving_unknown_and_closed() {
    let address = start_health_server().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let all = probes(&format!(
        "  whole: {{ type: grpc, address: '{address}', timeout: 2s }}
  orders: {{ type: grpc, address: '{address}', service: orders, timeout: 2s, bearer_token: t0ken }}
  billing: {{ type: grpc, address: '{address}', service: billing, timeout: 2s }}
  unknown: {{ type: grpc, address: '{address}', service: nope, timeout: 2s }}
  closed: {{ type: grpc, address: '{closed}', timeout: 2s }}
"
    ));
    let mut outcomes = Vec::new();
    for p in &all {
        outcomes.push((p.name.as_str(), check(p).await));
    }
    let by = |name: &str| &outcomes.iter().find(|(n, _)| *n == name).unwrap().1;
    for name in ["whole", "orders"] {
        let o = by(name);
        assert!(o.success, "{name}: {o:?}");
        assert_eq!((o.grpc_status, o.serving_status), (Some(0), Some(1)), "{name}");
    }
    let billing = by("billing");
    assert!(!billing.success);
    assert_eq!((billing.grpc_status, billing.serving_status), (Some(0), Some(2)));
    assert_eq!(billing.error.as_deref(), Some("the health check answered NOT_SERVING"));
    let unknown = by("unknown");
    assert!(!unknown.success);
    assert_eq!(unknown.grpc_status, Some(tonic::Code::NotFound as i32), "{unknown:?}");
    let closed = by("closed");
    assert!(!closed.success && closed.grpc_status.is_none(), "{closed:?}");
    assert!(closed.error.as_deref().unwrap().starts_with("cannot connect to"), "{closed:?}");
}

#[tokio::test]
async fn a_check_that_hangs_ends_at_its_timeout() {
    // Accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let all = probes(&format!(
        "  http: {{ type: http, url: 'http://{address}/', timeout: 300ms }}\n  \
         grpc: {{ type: grpc, address: '{address}', timeout: 300ms }}\n"
    ));
    for p in &all {
        let started = std::time::Instant::now();
        let o = check(p).await;
        let took = started.elapsed();
        assert!(!o.success, "{}", p.name);
        assert_eq!(o.error.as_deref(), Some("timed out after 300ms"), "{}", p.name);
        assert!(took >= std::time::Duration::from_millis(300) && took < std::time::Duration::from_secs(2), "{took:?}");
    }
    // The phases finished before the timeout are kept.
    let o = check(&all[0]).await;
    assert!(o.phases.unwrap().connect > std::time::Duration::ZERO, "{o:?}");
    assert_eq!(o.status_code, Some(0));
}
