//! The component model: what every source, transform and sink implements, and what
//! it is given to run.
//!
//! - A **source** config builds a future that produces batches into a [`Fanout`]
//!   until [`Shutdown`] fires ([`SourceConfig`], [`SourceContext`]).
//! - A **transform** is a synchronous batch function with one default output and
//!   optionally named outputs ([`TransformConfig`], [`Transform`]); the topology
//!   runs it in its own task. Keeping transforms synchronous keeps them cheap to test
//!   and impossible to stall on I/O.
//! - A **sink** config builds a future that drains its own bounded buffer until it
//!   closes, then flushes and returns ([`SinkConfig`], [`SinkContext`]).
//!
//! Components register by type name in a [`Registry`]: adding a sink is one module
//! plus one `registry.sink::<MyConfig>(...)` line in its crate's `register`.
//! Every component reports through [`ComponentMetrics`] and [`HealthHandle`], which
//! the API server exposes on `/metrics` and `/health`.
//! Every [`Fanout`] publishes to a [`Tap`], so `lookout tap` can watch any component
//! ([`tap`]).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod fanout;
mod health;
pub mod memory;
mod metrics;
mod registry;
pub mod tap;
mod ticker;

use std::path::PathBuf;
use std::sync::Arc;

pub use fanout::{Fanout, FanoutError};
pub use health::{ComponentHealth, ComponentState, Health, HealthHandle};
pub use metrics::{BufferFill, ComponentCounters, ComponentLabels, ComponentMetrics, Telemetry};
pub use registry::{
    BuildError, ComponentError, ComponentFuture, Registry, SinkConfig, SourceConfig, Transform, TransformConfig,
    TransformOutput, position_of, spanned_error,
};
pub use tap::{MAX_TAPS, Subscription, Tap, TapError, Taps};
pub use ticker::Ticker;
pub use tokio_util::sync::CancellationToken as Shutdown;

/// What a running source is given.
pub struct SourceContext {
    /// The component's name.
    pub id: String,
    /// Where its batches go.
    pub out: Fanout,
    /// Fires when Lookout is shutting down: stop accepting, return.
    pub shutdown: Shutdown,
    /// Report state and readiness (ready = listening).
    pub health: HealthHandle,
    /// The component's counters.
    pub metrics: ComponentMetrics,
    /// `data_dir` from the pipeline file.
    pub data_dir: PathBuf,
    /// The embedded series store (the one handle of the running process).
    pub store: Arc<lookout_tsdb::Store>,
}

/// What a running sink is given.
pub struct SinkContext {
    /// The component's name.
    pub id: String,
    /// Its buffer: drain it until it returns `None`, then flush and return.
    pub input: lookout_buffer::BufferReceiver,
    /// Report state.
    pub health: HealthHandle,
    /// The component's counters.
    pub metrics: ComponentMetrics,
    /// `data_dir` from the pipeline file.
    pub data_dir: PathBuf,
    /// The embedded series store (the one handle of the running process).
    pub store: Arc<lookout_tsdb::Store>,
}

/// What a transform is built with.
pub struct TransformContext {
    /// The component's name.
    pub id: String,
    /// The embedded series store, for transforms that derive series (`log_to_metric`,
    /// `span_metrics`).
    pub store: Arc<lookout_tsdb::Store>,
}

impl TransformContext {
    /// A context over a fresh in-memory store, for tests and tools that build a
    /// transform outside a running pipeline.
    pub fn detached(id: &str) -> TransformContext {
        TransformContext { id: id.to_string(), store: Arc::new(lookout_tsdb::Store::new(Default::default())) }
    }
}
