//! Scaling decisions from metrics and alerts, with Kubernetes HPA semantics, AWS step scaling,
//! schedules and alert-driven steps, handed to KEDA, Kubernetes, an EC2 Auto Scaling group or a
//! webhook.
//!
//! The job: every interval, for each scaler of a policy file, read its queries and the firing
//! alerts, decide a replica count, explain it ([`Decision::reasons`]), remember it (state and
//! history under `data_dir`) and deliver it.
//!
//! Main types:
//! - [`parse_policy_file`] → [`PolicyFile`] of [`ScalerPolicy`]s (errors as `FILE:LINE:COL`);
//!   [`load_policy_files`] merges the files a pipeline names;
//! - [`Scaler`], the running engine over a [`MetricSource`] (the embedded store and the rule
//!   engine), with [`Scaler::evaluate`], [`Scaler::history`], [`Scaler::run`] and
//!   [`Scaler::register_metrics`];
//! - [`leader`]: with `lease:`, only the lease holder among Lookout replicas actuates, and
//!   a new holder continues from the memory the previous one saved;
//! - [`router`] for `GET /api/v1/scaler`, [`actuator::keda::serve`] for KEDA;
//! - [`ScalerService`], the scaler in a running Lookout (engine, KEDA, API) over a
//!   [`StoreSource`] (the embedded store and the firing alerts);
//! - [`simulate`], the preview tool behind `lookout scale simulate FILE`.
//!
//! Why designed so: the decision itself ([`decide()`]) is a pure function of the policy, the
//! inputs, the time and a small persisted state, so the simulator, the tests and the live engine
//! run the same code, and timelines replay exactly. Kubernetes' algorithm is ported function by
//! function ([`hpa`]) and checked against its table tests; Lookout's additions (step policies,
//! schedules, alerts) are separate stages with a fixed, documented precedence (see [`mod@decide`]).
//!
//! ```
//! let text = "\
//! scalers:
//!   - name: api
//!     minReplicas: 2
//!     maxReplicas: 10
//!     metrics:
//!       - { name: rpm, query: 'sum(rate(http_requests_total[1m])) * 60', target: { type: AverageValue, averageValue: 1000 } }
//! timeline:
//!   - { at: 0, replicas: 2, metrics: { rpm: 5000 } }
//! ";
//! let mut out = Vec::new();
//! lookout_scaler::simulate("sim.yml", text, &mut out).unwrap();
//! let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
//! assert_eq!(line["desired"], 4); // ceil(5000 / 1000) = 5, limited to max(2 × 2, 4) per cycle
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod actuator;
pub mod alerts;
mod api;
#[cfg(feature = "aws")]
mod aws;
pub mod decide;
mod engine;
pub mod history;
pub mod hpa;
pub mod leader;
mod load;
pub mod policy;
pub mod quantity;
pub mod schedule;
mod service;
mod simulate;
mod source;
pub mod step;
#[cfg(feature = "aws")]
mod target_health;

pub use api::router;
pub use decide::{Decision, MetricReport, Reason, ScalerState, decide};
pub use engine::{Error, MetricSource, QueryError, Sample, Scaler};
pub use leader::LeaderView;
pub use load::load_policy_files;
pub use policy::{ActuatorConfig, KedaConfig, PolicyFile, ScalerPolicy, parse_policy_file};
pub use service::ScalerService;
pub use simulate::simulate;
pub use source::{FiringAlerts, StoreSource};
