//! The topology: turns a checked pipeline file into running components wired by
//! bounded buffers, and takes them down in order on shutdown.
//!
//! - [`registry`] knows every component type (one `register` call per crate).
//! - [`check`] loads a pipeline file, parses every component with its own config
//!   struct and checks the graph, then the rule, routing and scaling policy files it
//!   names, collecting *all* errors as `FILE:LINE:COL: message`. `lookout check` and
//!   `lookout run` both go through it.
//! - [`start`] builds sinks first, then transforms, then sources, so nothing is
//!   accepted before there is somewhere to put it. Each sink reads its own bounded
//!   buffer (its `buffer:` settings); each transform reads a small blocking buffer, so
//!   a slow sink pushes back only on the paths that feed it.
//! - Shutdown is a cascade: sources stop and drop their outputs, each transform
//!   drains and drops its outputs, each sink drains its buffer, flushes and returns.
//!   At the deadline what is still running is aborted; a disk buffer keeps what its
//!   sink did not confirm for the next start.
//! - A component that fails or panics is marked failed and [`RunningTopology::failed`]
//!   fires, so the process can stop rather than serve 503 forever.
//! - [`replay_dead_letters`] sends a dead-letter file's log records through one sink.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod check;
mod files;
mod replay;
mod run;

pub use check::{CheckedPipeline, check, check_str};
pub use replay::{ReplayError, ReplayReport, replay_dead_letters};
pub use run::{RunningTopology, start};

use lookout_component::Registry;

/// Every component type Lookout knows.
pub fn registry() -> Registry {
    let mut registry = Registry::default();
    lookout_ingest::register(&mut registry);
    lookout_transform::register(&mut registry);
    lookout_sinks::register(&mut registry);
    lookout_errors::register(&mut registry);
    registry
}

#[cfg(test)]
mod tests;
