//! Pipeline configuration: read a YAML pipeline file, interpolate `${VAR}`, and check
//! it with every error pointing at `FILE:LINE:COL`.
//!
//! Loading happens in two steps so that each component's own config struct (which
//! lives next to the component's code) is checked with exact positions:
//!
//! 1. [`load`] reads the file's top level: `api`, `data_dir`, and for each source,
//!    transform and sink its name, `type` and `inputs`, as [`ComponentDecl`]s (and
//!    each of the `probes:` the same way, parsed by `lookout-probes`);
//! 2. the component registry calls [`ComponentDecl::parse`] with the struct for that
//!    `type`, which deserializes only that component's YAML block (with `type` and
//!    `inputs` blanked out) at its original line numbers, so an unknown key or a wrong
//!    type is reported where it is written.
//!
//! Graph checks (inputs that name nothing, cycles) need every component's outputs and
//! are done by [`check_graph`] once the components are parsed.
//!
//! ```
//! let cfg = lookout_config::load_str(
//!     "pipeline.yaml",
//!     "sources:\n  in:\n    type: otlp\nsinks:\n  out:\n    type: console\n    inputs: [in]\n",
//!     &|_| None,
//! ).unwrap();
//! assert_eq!(cfg.sinks["out"].inputs[0].name, "in");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod bytesize;
pub mod duration;
mod error;
mod graph;
mod interpolate;
mod pipeline;
mod secret;
mod tls;

pub use bytesize::{ByteSize, ByteSizeError};
pub use duration::{DurationError, PromDuration};
pub use error::{ConfigError, ConfigErrors, Position};
pub use graph::{GraphNode, InputError, check_graph, resolve as graph_resolve};
pub use interpolate::interpolate;
pub use pipeline::WalFsync;
pub use pipeline::{
    AlertingConfig, ApiConfig, ComponentDecl, ComponentKind, InputRef, LimitsConfig, PipelineConfig, RemoteRulesConfig,
    RemoteWriteConfig, RulesConfig, ScalingConfig, StorageConfig, TelemetryConfig, load, load_str,
};
pub use secret::{
    REDACTED, Secret, SecretFileError, SecretSourceError, read_secret_file, redact_url, secret_or_file,
    serialize_opt_url, serialize_url,
};
pub use tls::{ClientAuthType, TlsConfig, TlsConfigError, TlsVersion};
