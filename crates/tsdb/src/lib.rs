//! The embedded metrics store: telemetry as Prometheus time series.
//!
//! - [`Labels`]: a series' identity (`__name__` and label pairs, sorted).
//! - [`Store`]: the series store, selected with Prometheus label matchers
//!   ([`Matcher`]); what rule evaluation reads. In memory ([`Store::new`]: tests, rule
//!   unit tests, backtests) or on a directory ([`Store::open`]: a running Lookout), where
//!   it keeps a write-ahead log and immutable blocks like Prometheus's TSDB.
//! - [`otlp`]: OTLP metric points → Prometheus samples, following Prometheus's OTLP
//!   translation conventions (name normalisation, unit suffixes, `_total`, histogram
//!   `_bucket`/`_sum`/`_count`, `job`/`instance` and `target_info` from the resource).
//! - [`promql`]: a PromQL instant-query evaluator over the store (what rules run).
//! - [`metadata`]: each metric family's type, help and unit, for `/api/v1/metadata`.
//! - [`exemplars`]: bounded exemplar storage (trace ids, record pointers) beside the series.
//! - [`remote`]: a Prometheus-compatible remote store: query API client and remote write.
//! - [`StoreService`]: the store in a running Lookout — the pipeline file's limits,
//!   retention, self-metrics and remote write, started and stopped together.
//!
//! Inside: the head (`head`: recent samples per series in Gorilla-compressed chunks,
//! `chunk`), the WAL (`wal`), blocks (`block`) and their merging (`compact`), and one
//! postings index shape for head and blocks (`postings`).
//!
//! Reads are built for rule evaluation, which selects the same few series of many
//! jobs every interval: label sets are shared, not copied ([`Labels`]); the evaluator
//! reads each selected series in place ([`Store::for_each_series`]) instead of a copy;
//! and the head's series carry their rank in label order ([`Store::rank_series`]), so
//! a selection sorts by a number.
//!
//! Memory is bounded: a regular-interval sample costs about 1.6 bytes in the head
//! (`bench-store`); a series its labels once (shared with the index) plus one postings
//! entry per label; the head holds at most about 1.5 block windows, older data lives in
//! blocks on disk. Samples older than the retention window are dropped by
//! [`Store::gc`], and appends that would create series past `max_series` are refused
//! and counted ([`Store::series_limit_hits`]). Background work (fsync, head cuts,
//! merges, retention) runs in one place, [`StoreService`].
#![forbid(unsafe_code)]

mod block;
mod chunk;
mod compact;
#[cfg(test)]
mod disk_tests;
mod error;
pub mod exemplars;
mod head;
mod labels;
mod matcher;
pub mod metadata;
pub mod otlp;
mod postings;
pub mod promql;
pub mod remote;
mod service;
mod store;
mod tenants;
mod wal;

pub use error::Error;
pub use labels::Labels;
pub use matcher::{MatchOp, Matcher};
pub use service::{StoreService, StoreSettings};
pub use store::{AppendError, AppendHook, DiskOptions, DiskStats, OpenReport, Sample, SeriesData, Store, StoreConfig};
pub use tenants::{TENANT_LABEL, TenantSeriesStats};
pub use wal::FsyncPolicy;

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
