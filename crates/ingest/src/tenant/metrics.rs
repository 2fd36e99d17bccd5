//! Per-tenant counters and authentication failures, on `/metrics`.
//!
//! They live in one process-wide set of families (a source has no handle on the
//! process's registry) that the binary registers once with [`register_metrics`]. A
//! tenant's counter handles are looked up once per tenant state (see
//! [`super::limits::TenantState`]), not per request.

use std::sync::LazyLock;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// `tenant="…"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    /// The tenant's name.
    pub tenant: String,
}

/// Why a tenant's request was refused.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum RefusedReason {
    /// Over `events_per_second`.
    events_per_second,
    /// Over `bytes_per_second`.
    bytes_per_second,
    /// Over `max_request_size`.
    max_request_size,
}

/// `tenant="…", reason="…"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    /// The tenant's name.
    pub tenant: String,
    /// Why.
    pub reason: RefusedReason,
}

/// Why a request failed authentication.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AuthFailure {
    /// No `authorization` header (or not a bearer token).
    missing,
    /// A token no tenant has.
    invalid,
}

/// `source="…", reason="…"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    /// The source's name.
    pub source: String,
    /// Why.
    pub reason: AuthFailure,
}

/// The families.
#[derive(Default)]
pub struct TenantMetrics {
    /// Records accepted into the pipeline.
    pub accepted_events: Family<TenantLabel, Counter>,
    /// Request bytes (as sent) of accepted requests.
    pub accepted_bytes: Family<TenantLabel, Counter>,
    /// Requests refused by a tenant limit.
    pub refused_requests: Family<RefusedLabels, Counter>,
    /// Records in requests refused by a tenant limit (when they were counted).
    pub refused_events: Family<TenantLabel, Counter>,
    /// Requests refused for want of a valid token.
    pub auth_failures: Family<AuthLabels, Counter>,
}

/// The process-wide families.
pub fn metrics() -> &'static TenantMetrics {
    static METRICS: LazyLock<TenantMetrics> = LazyLock::new(TenantMetrics::default);
    &METRICS
}

/// Registers the per-tenant and authentication families in `registry` (once per
/// process, where the binary builds its registry).
pub fn register_metrics(registry: &mut Registry) {
    let m = metrics();
    registry.register(
        "lookout_tenant_accepted_events",
        "Records a tenant sent that were accepted into the pipeline.",
        m.accepted_events.clone(),
    );
    registry.register(
        "lookout_tenant_accepted_bytes",
        "Request bytes (as sent) of a tenant's accepted requests.",
        m.accepted_bytes.clone(),
    );
    registry.register(
        "lookout_tenant_refused_requests",
        "A tenant's requests refused by one of its limits (429 / RESOURCE_EXHAUSTED, 413).",
        m.refused_requests.clone(),
    );
    registry.register(
        "lookout_tenant_refused_events",
        "Records in a tenant's requests refused by its events_per_second limit.",
        m.refused_events.clone(),
    );
    registry.register(
        "lookout_ingest_auth_failures",
        "OTLP requests refused for a missing or unknown token (401 / UNAUTHENTICATED).",
        m.auth_failures.clone(),
    );
}
