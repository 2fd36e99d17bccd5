//! The embedded metrics store: telemetry as Prometheus time series.
//!
//! - [`Labels`]: a series' identity (`__name__` and label pairs, sorted).
//! - [`Store`]: an in-memory series store with a retention window and a series limit,
//!   selected with Prometheus label matchers ([`Matcher`]); what rule evaluation reads.
//! - [`otlp`]: OTLP metric points → Prometheus samples, following Prometheus's OTLP
//!   translation conventions (name normalisation, unit suffixes, `_total`, histogram
//!   `_bucket`/`_sum`/`_count`, `job`/`instance` and `target_info` from the resource).
//! - [`promql`]: a PromQL instant-query evaluator over the store (what rules run).
//! - [`remote`]: a Prometheus-compatible remote store: query API client and remote write.
//! - [`StoreService`]: the store in a running Lookout — the pipeline file's limits,
//!   retention, self-metrics and remote write, started and stopped together.
//!
//! Memory is bounded: a sample costs 16 bytes (`i64` ms + `f64`, in a ring buffer that
//! grows by doubling); a series its label strings twice (the series and the label-set
//! index) plus one postings entry per label — measured by `bench-rules` at ~2.4 KB per
//! series of 5 labels with 40 samples. Samples older than the retention window are
//! dropped by [`Store::gc`], and appends that would create series past `max_series` are
//! refused and counted ([`Store::series_limit_hits`]). Retention runs in one place,
//! [`StoreService`].
#![forbid(unsafe_code)]

mod error;
mod labels;
mod matcher;
pub mod otlp;
pub mod promql;
pub mod remote;
mod service;
mod store;

pub use error::Error;
pub use labels::Labels;
pub use matcher::{MatchOp, Matcher};
pub use service::{StoreService, StoreSettings};
pub use store::{AppendError, AppendHook, Sample, SeriesData, Store, StoreConfig};

/// The process-wide store: what the `metrics_store` sink writes and rules read.
pub fn shared() -> std::sync::Arc<Store> {
    static SHARED: std::sync::OnceLock<std::sync::Arc<Store>> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| std::sync::Arc::new(Store::new(StoreConfig::default()))).clone()
}

/// The NaN bit pattern Prometheus uses as a staleness marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is a staleness marker (not just any NaN).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}
