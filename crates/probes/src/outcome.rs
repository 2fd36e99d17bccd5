//! What one check of a probe found: success, timings, HTTP status, certificate expiry.

use std::time::Duration;

use serde::Serialize;

use crate::tls::CertExpiry;

/// Time spent in each HTTP phase, summed over redirects (blackbox_exporter's
/// `probe_http_duration_seconds{phase}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Phases {
    /// Name resolution.
    pub resolve: Duration,
    /// TCP connect.
    pub connect: Duration,
    /// TLS handshake.
    pub tls: Duration,
    /// From the request sent to the response's headers.
    pub processing: Duration,
    /// Reading the body.
    pub transfer: Duration,
}

impl Phases {
    /// `(phase label, seconds)`, in blackbox_exporter's order.
    pub fn labelled(&self) -> [(&'static str, f64); 5] {
        [
            ("resolve", self.resolve.as_secs_f64()),
            ("connect", self.connect.as_secs_f64()),
            ("tls", self.tls.as_secs_f64()),
            ("processing", self.processing.as_secs_f64()),
            ("transfer", self.transfer.as_secs_f64()),
        ]
    }
}

/// What a check measured so far; it survives a timeout, so a check that timed out
/// still reports the phases it finished.
#[derive(Debug, Default)]
pub(crate) struct Measure {
    pub(crate) phases: Phases,
    pub(crate) tls: Option<CertExpiry>,
    /// The final HTTP status (0: no response).
    pub(crate) status: Option<u16>,
    pub(crate) redirects: u32,
    /// The gRPC status of the health check (0 = OK).
    pub(crate) grpc_status: Option<i32>,
    /// The health check's `serving_status` (1 = SERVING).
    pub(crate) serving_status: Option<i32>,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// When it started (unix milliseconds).
    pub at_ms: i64,
    /// Whether it succeeded (`probe_success`).
    pub success: bool,
    /// How long it took (`probe_duration_seconds`).
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Why it failed.
    pub error: Option<String>,
    /// `http`: the phases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phases: Option<Phases>,
    /// `http`: the final status code (0 when no response came).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// `http`: redirects followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirects: Option<u32>,
    /// Over TLS: the certificates' expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<CertExpiry>,
    /// `grpc`: the gRPC status code of the health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<i32>,
    /// `grpc`: the health check's `serving_status` (1 = SERVING).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving_status: Option<i32>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Outcome {
    pub(crate) fn new(
        kind: crate::ProbeKind,
        at_ms: i64,
        duration: Duration,
        m: Measure,
        result: Result<(), String>,
    ) -> Outcome {
        let http = kind == crate::ProbeKind::Http;
        Outcome {
            at_ms,
            success: result.is_ok(),
            duration,
            error: result.err(),
            phases: http.then_some(m.phases),
            status_code: http.then_some(m.status.unwrap_or(0)),
            redirects: http.then_some(m.redirects),
            tls: m.tls,
            grpc_status: m.grpc_status,
            serving_status: m.serving_status,
        }
    }
}
