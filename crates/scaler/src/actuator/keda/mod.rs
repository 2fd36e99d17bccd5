//! The `keda` actuator: a KEDA external scaler (`externalscaler.proto`) serving Lookout's
//! decisions, so a `ScaledObject` with an `external` or `external-push` trigger lets KEDA and the
//! HPA it manages act on them.
//!
//! The scaler is picked by the trigger's `scalerMetadata.scaler` (default: the ScaledObject's
//! name). `GetMetricSpec` answers one metric named after the scaler with target 1 and
//! `GetMetrics` answers the desired replica count, so the HPA's AverageValue arithmetic
//! (`ceil(value / target)`) lands on Lookout's number. `IsActive` is `desired > 0` (scale to and
//! from zero); `StreamIsActive` sends the current state at once and again whenever it flips.
//!
//! ```yaml
//! triggers:
//!   - type: external-push
//!     metadata: { scalerAddress: lookout.monitoring:9095, scaler: api }
//! ```
//!
//! Lookout has already applied `behavior`, windows and limits, so give the HPA that KEDA creates
//! a permissive behavior (`advanced.horizontalPodAutoscalerConfig.behavior`: scale-up and
//! scale-down windows 0, large policies) and, on clusters with `HPAConfigurableTolerance`,
//! `tolerance: 0` in both directions: otherwise the HPA's own 10 % tolerance swallows changes
//! of less than a tenth of the current count.
//!
//! KEDA talks to the scaler over TLS (and mTLS) when the policy file's `keda:` section has
//! a `tls:` block (the keys of every Lookout listener); on KEDA's side the trigger's `caCert`
//! trusts Lookout's certificate and `tlsClientCert` / `tlsClientKey` are its client's:
//!
//! ```yaml
//! keda:
//!   address: 0.0.0.0:9095
//!   tls: { cert_file: tls/lookout.crt, key_file: tls/lookout.key, client_ca_file: tls/keda-ca.crt }
//! ```

#[allow(missing_docs, clippy::all, unreachable_pub)]
#[rustfmt::skip] // generated: kept byte for byte as tonic-prost-build wrote it
pub mod externalscaler;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use lookout_server::listener::{self, ListenerLimits, ListenerStats, Tls};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use externalscaler::external_scaler_server::{ExternalScaler, ExternalScalerServer};
use externalscaler::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec, MetricValue,
    ScaledObjectRef,
};

use crate::engine::Scaler;

/// The gRPC service over a [`Scaler`].
#[derive(Clone)]
pub struct KedaService {
    scaler: Arc<Scaler>,
    shutdown: CancellationToken,
}

impl KedaService {
    /// A service answering from `scaler`'s latest decisions; open `StreamIsActive` streams end
    /// on `shutdown` (a graceful server shutdown waits for them).
    pub fn new(scaler: Arc<Scaler>, shutdown: CancellationToken) -> Self {
        KedaService { scaler, shutdown }
    }

    /// As a tonic service, to add to a server.
    pub fn into_server(self) -> ExternalScalerServer<KedaService> {
        ExternalScalerServer::new(self)
    }

    fn resolve(&self, r: &ScaledObjectRef) -> Result<String, Status> {
        let name = r.scaler_metadata.get("scaler").cloned().unwrap_or_else(|| r.name.clone());
        if self.scaler.policies().iter().any(|p| p.name == name) {
            Ok(name)
        } else {
            Err(Status::not_found(format!("no scaler named `{name}` (set the trigger's `scaler` metadata)")))
        }
    }

    fn desired(&self, name: &str) -> Result<i32, Status> {
        self.scaler
            .decision(name)
            .map(|d| d.desired)
            .ok_or_else(|| Status::unavailable(format!("scaler `{name}` has not decided yet")))
    }
}

type ActiveStream = Pin<Box<dyn Stream<Item = Result<IsActiveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalScaler for KedaService {
    async fn is_active(&self, req: Request<ScaledObjectRef>) -> Result<Response<IsActiveResponse>, Status> {
        let name = self.resolve(req.get_ref())?;
        Ok(Response::new(IsActiveResponse { result: self.desired(&name)? > 0 }))
    }

    type StreamIsActiveStream = ActiveStream;

    async fn stream_is_active(&self, req: Request<ScaledObjectRef>) -> Result<Response<ActiveStream>, Status> {
        let name = self.resolve(req.get_ref())?;
        let rx = self.scaler.subscribe();
        let scaler = self.scaler.clone();
        let shutdown = self.shutdown.clone();
        // State: (receiver, last state sent). The first item goes out at once when a decision exists.
        let stream = futures::stream::unfold((rx, None::<bool>), move |(mut rx, last)| {
            let scaler = scaler.clone();
            let name = name.clone();
            let shutdown = shutdown.clone();
            async move {
                loop {
                    let active = scaler.decision(&name).map(|d| d.desired > 0);
                    if let Some(a) = active
                        && last != Some(a)
                    {
                        return Some((Ok(IsActiveResponse { result: a }), (rx, Some(a))));
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        r = rx.changed() => {
                            if r.is_err() {
                                return None;
                            }
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_metric_spec(&self, req: Request<ScaledObjectRef>) -> Result<Response<GetMetricSpecResponse>, Status> {
        let name = self.resolve(req.get_ref())?;
        Ok(Response::new(GetMetricSpecResponse {
            metric_specs: vec![MetricSpec { metric_name: name, target_size: 1, target_size_float: 1.0 }],
        }))
    }

    async fn get_metrics(&self, req: Request<GetMetricsRequest>) -> Result<Response<GetMetricsResponse>, Status> {
        let r = req.get_ref();
        let obj =
            r.scaled_object_ref.as_ref().ok_or_else(|| Status::invalid_argument("scaledObjectRef is required"))?;
        let name = self.resolve(obj)?;
        let desired = self.desired(&name)?;
        let metric_name = if r.metric_name.is_empty() { name } else { r.metric_name.clone() };
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name,
                metric_value: desired as i64,
                metric_value_float: desired as f64,
            }],
        }))
    }
}

/// The external scaler's gRPC server failed.
#[derive(Debug, thiserror::Error)]
#[error("KEDA external scaler server failed: {0}")]
pub struct ServeError(#[source] std::io::Error);

/// Serves the external scaler on `listener` (over TLS with `tls`) until `shutdown`, through
/// [`lookout_server::listener`] like every Lookout listener: the same header timeout,
/// connection and request caps, and bounded drain.
pub async fn serve(
    listener: TcpListener,
    scaler: Arc<Scaler>,
    tls: Option<Tls>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let routes = tonic::service::Routes::new(KedaService::new(scaler, shutdown.clone()).into_server());
    let limits = ListenerLimits {
        // A `StreamIsActive` stream is silent until the state flips, which may take hours:
        // the usual idle timeout would cut KEDA's push stream every minute and a half.
        idle_timeout: Duration::from_secs(3600),
        ..ListenerLimits::default()
    };
    let stats = Arc::new(ListenerStats::default());
    listener::serve(listener, routes.into_axum_router(), limits, stats, tls, shutdown).await.map_err(ServeError)
}
