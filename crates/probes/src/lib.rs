//! Uptime probes: check endpoints on a schedule and write the results into the series
//! store as blackbox_exporter's series, so the rules, dashboards and alerts written
//! for blackbox_exporter work on Lookout unchanged.
//!
//! - [`check_probes`] reads the pipeline file's `probes:` map (one [`ProbeConfig`] per
//!   probe, errors as `FILE:LINE:COL`) into [`Probe`]s; `lookout check` and
//!   `lookout run` both go through it.
//! - [`ProbeService`] runs them: one task per probe, the first check at a random
//!   point of the first interval, checks bounded by a semaphore
//!   ([`MAX_CONCURRENT_CHECKS`]) and each by its `timeout`, nothing shared with the
//!   pipeline but the store. [`ProbeService::reload`] swaps the set in place.
//! - Types: `http` (hyper's HTTP/1.1 client on a connection we open, so resolve,
//!   connect, TLS, processing and transfer are timed apart, as blackbox_exporter
//!   does), `tcp` (connect, optionally TLS) and `grpc` (`grpc.health.v1.Health/Check`
//!   over tonic). `icmp` is refused with a clear error: unprivileged ICMP needs
//!   raw-socket privileges.
//! - [`Tracker`] applies consecutive failure/success thresholds for
//!   `lookout_probe_up`, so one blip does not page.
//! - [`api::router`] serves `GET /api/v1/probes`.
//!
//! ```
//! let cfg = lookout_config::load_str(
//!     "pipeline.yaml",
//!     "sources:\n  in: { type: otlp }\nprobes:\n  shop:\n    type: http\n    url: http://127.0.0.1:9/health\n    interval: 10s\n    expect: { status: [200, 204] }\n",
//!     &|_| None,
//! ).unwrap();
//! let probes = lookout_probes::check_probes(&cfg.probes, std::path::Path::new(".")).unwrap();
//! assert_eq!(probes[0].target, "http://127.0.0.1:9/health");
//! assert_eq!((probes[0].failure_threshold, probes[0].timeout.as_secs()), (3, 5));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
mod config;
mod der;
mod grpc;
mod http;
mod net;
mod outcome;
mod series;
mod service;
mod threshold;
mod tls;

pub use config::{
    DEFAULT_FAILURE_THRESHOLD, DEFAULT_INTERVAL, DEFAULT_SUCCESS_THRESHOLD, DEFAULT_TIMEOUT, ExpectConfig,
    MAX_REDIRECTS, Probe, ProbeConfig, ProbeKind, ProbeTlsConfig, check_probe, check_probes,
};
pub use grpc::{HealthCheckRequest, HealthCheckResponse, SERVING};
pub use outcome::{Outcome, Phases};
pub use series::JOB;
pub use service::{HISTORY, MAX_CONCURRENT_CHECKS, ProbeService, ProbeState, check};
pub use threshold::{Thresholds, Tracker};
pub use tls::{CertExpiry, TlsSettings};
