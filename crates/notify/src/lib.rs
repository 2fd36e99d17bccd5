//! Alertmanager-compatible notifier: routing, grouping, inhibition, silences and the
//! notification log, in process.
//!
//! The job: take alerts (from the rule engine in process, or from Prometheus over
//! `POST /api/v2/alerts`) and turn them into one notification per real problem, on the
//! right receiver, with a resolved message when it is over and never twice for the same
//! thing, also across a restart. An existing `alertmanager.yml` loads unchanged and the
//! HTTP API is Alertmanager's v2, so Prometheus and `amtool` work against it.
//!
//! Main types:
//! - [`AlertmanagerConfig`], from [`load_config`] / [`parse_config`] / [`default_config`]
//!   (errors as `FILE:LINE:COL: message`); [`check_config`] adds what `lookout check` needs;
//! - [`Notifier`], started with [`Notifier::start`] (or [`Notifier::start_with`] and
//!   [`NotifierMetrics`]): [`Notifier::put_alerts`] feeds it, [`Notifier::router`] (or
//!   [`Notifier::api_router`] without `/-/healthy` and `/-/ready`) serves the API,
//!   [`Notifier::reload`] swaps the config, [`Notifier::stopped`] waits for shutdown.
//!
//! Why it is built this way: the semantics are Alertmanager 0.25's, module by module
//! (`route`, `dispatch`, `pipeline` with `notify.go`'s stages, `inhibit`, `silence`,
//! `nflog`, `timeinterval`), because users' expectations and configs come from there. The
//! integrations themselves live in `lookout-receivers`; this crate decides *when* and
//! *what* to send. State that must survive a restart (silences, the notification log and
//! the alerts) is written through to redb under `data_dir`, so after a restart the log
//! suppresses what was already sent and replayed alerts flush whatever is still due.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tokio_util::sync::CancellationToken;
//! let cfg = lookout_notify::parse_config("am.yml", "route: {receiver: x}\nreceivers: [{name: x}]\n")
//!     .map_err(|e| e.to_string())?;
//! let mut registry = prometheus_client::registry::Registry::default();
//! let shutdown = CancellationToken::new();
//! let notifier =
//!     lookout_notify::Notifier::start(cfg, std::path::Path::new("./data"), &mut registry, shutdown.clone()).await?;
//! let app = notifier.router(); // serve it next to the rest of the API
//! # let _ = app;
//! shutdown.cancel();
//! notifier.stopped().await;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod alerts;
mod api;
mod cluster;
mod config;
mod dispatch;
mod error;
mod inhibit;
mod matcher;
mod metrics;
mod nflog;
mod notifier;
mod persist;
mod persisted;
mod pipeline;
mod route;
mod silence;
pub mod simulate;
mod status;
mod timeinterval;

pub use alerts::StoredAlert;
pub use cluster::{ClusterConfig, ClusterOptions, cluster_config, default_peer_name};
pub use config::{
    AlertmanagerConfig, DEFAULT_CONFIG_YAML, GroupBy, InhibitRuleConfig, RouteConfig, default_config, load_config,
    parse_config,
};
pub use error::{Error, MatcherError, StateError};
pub use lookout_config::PromDuration;
pub use matcher::{MatchType, Matcher, Matchers, parse_matcher, parse_matchers};
pub use notifier::{Notifier, NotifierMetrics, StartOptions, check_config};
pub use route::{GroupLabels, RouteOpts, RouteTree};
pub use silence::{Silence, SilenceMatcher, SilenceState};
pub use timeinterval::{Location, NamedTimeInterval, TimeInterval};
