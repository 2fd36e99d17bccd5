//! The `grpc` probe: `grpc.health.v1.Health/Check` (the standard gRPC health checking
//! protocol) over tonic, on a connection opened (and timed) by [`crate::net`].

use std::sync::{Arc, Mutex};
use std::time::Instant;

use hyper::http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;

use crate::Probe;
use crate::net::connect;
use crate::outcome::Measure;

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckRequest {
    /// The service asked about; empty = the server as a whole.
    #[prost(string, tag = "1")]
    pub service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckResponse {
    /// `ServingStatus`: 0 UNKNOWN, 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN.
    #[prost(int32, tag = "1")]
    pub status: i32,
}

/// `HealthCheckResponse.ServingStatus.SERVING`.
pub const SERVING: i32 = 1;

const CHECK: &str = "/grpc.health.v1.Health/Check";

fn serving_status_name(status: i32) -> &'static str {
    match status {
        0 => "UNKNOWN",
        1 => "SERVING",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "an unknown status",
    }
}

/// Runs the check; what it measured goes into `m` (kept on timeout).
pub(crate) async fn probe_grpc(probe: &Probe, m: &mut Measure) -> Result<(), String> {
    let (host, port) = crate::config::split_host_port(&probe.target).ok_or("address is not host:port")?;
    let tls = probe.tls.as_ref().map(|t| (t, &t.h2));
    let stream = connect(host, port, tls, m).await?;
    // tonic asks a connector for the connection; ours hands over the one just opened.
    let slot = Arc::new(Mutex::new(Some(stream)));
    let connector = tower::service_fn(move |_: hyper::Uri| {
        let stream = slot.lock().ok().and_then(|mut s| s.take());
        async move { stream.map(TokioIo::new).ok_or_else(|| std::io::Error::other("the probe's connection is gone")) }
    });
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", probe.target))
        .map_err(|e| format!("invalid address: {e}"))?;
    let channel =
        endpoint.connect_with_connector(connector).await.map_err(|e| format!("gRPC connection failed: {e}"))?;
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.map_err(|e| format!("gRPC connection failed: {e}"))?;
    let mut request = tonic::Request::new(HealthCheckRequest { service: probe.service.clone() });
    if let Some(token) = &probe.bearer_token {
        let value = format!("Bearer {}", token.expose()).parse().map_err(|_| "bearer_token is not a valid header")?;
        request.metadata_mut().insert("authorization", value);
    }
    let started = Instant::now();
    let codec = tonic_prost::ProstCodec::<HealthCheckRequest, HealthCheckResponse>::default();
    let response = client.unary(request, PathAndQuery::from_static(CHECK), codec).await;
    m.phases.processing += started.elapsed();
    match response {
        Ok(r) => {
            let status = r.into_inner().status;
            m.grpc_status = Some(0);
            m.serving_status = Some(status);
            if status == SERVING {
                Ok(())
            } else {
                Err(format!("the health check answered {}", serving_status_name(status)))
            }
        }
        Err(s) => {
            m.grpc_status = Some(s.code() as i32);
            Err(format!("the health check failed: {:?}: {}", s.code(), s.message()))
        }
    }
}
