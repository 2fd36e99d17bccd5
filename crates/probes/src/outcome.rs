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
    /// 4 or 6: the address family connected to.
    pub(crate) ip_protocol: Option<u8>,
    /// The TLS version negotiated (`TLS 1.3`).
    pub(crate) tls_version: Option<&'static str>,
    /// The final response's `Content-Length` (-1 when it has none).
    pub(crate) content_length: Option<i64>,
    /// Bytes of body read.
    pub(crate) body_length: Option<u64>,
    /// The final response's HTTP version (1.1).
    pub(crate) http_version: Option<f64>,
    /// The body did not match `body_regex`.
    pub(crate) failed_due_to_regex: bool,
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
    /// 4 or 6, once connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_protocol: Option<u8>,
    /// Over TLS: the version negotiated (`TLS 1.3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<&'static str>,
    /// `http`: the final response's `Content-Length` (-1 without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<i64>,
    /// `http`: bytes of body read (at most 1 MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_length: Option<u64>,
    /// `http`: the final response's HTTP version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_version: Option<f64>,
    /// `http`: the body did not match `body_regex`.
    pub failed_due_to_regex: bool,
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
            ip_protocol: m.ip_protocol,
            tls_version: m.tls_version,
            content_length: m.content_length,
            body_length: m.body_length,
            http_version: m.http_version,
            failed_due_to_regex: m.failed_due_to_regex,
        }
    }
}
