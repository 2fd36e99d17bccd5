//! Prometheus rule files with Prometheus's semantics.
//!
//! - [`file`](mod@file): parsing and validation of rule files ([`parse_rule_file`],
//!   [`load_rule_files`]) into [`RuleGroup`]s of [`Rule`]s, every problem reported at
//!   its `FILE:LINE:COL` with `promtool check rules`'s message.
//! - [`group`]: one evaluation of a group ([`eval_group`]) against a [`Datasource`] and
//!   an [`Appender`], updating its [`GroupState`] (alerts, health, previous output) and
//!   returning the [`OutgoingAlert`]s due; [`GroupState::carry_over`] keeps state across
//!   reloads.
//! - [`alert`]: one alert instance ([`Alert`], [`AlertState`]) and its resend rule.
//! - [`datasource`]: the query/append seams and [`LocalDatasource`] over the embedded store.
//! - [`template`]: alert label/annotation templates (Go `text/template` via
//!   `lookout-template`, with Prometheus's `$labels`/`$value`/`$externalLabels`/
//!   `$externalURL` and functions; `query` goes to [`Datasource::template_query`]).
//!
//! Evaluation is a pure step function of (group, state, time) with I/O behind two
//! traits, so the engine owns scheduling, persistence and notification, and tests drive
//! time explicitly. The state machine, staleness handling, limits and resend timing are
//! Prometheus's (`rules/alerting.go`, `rules/recording.go`, `rules/group.go`), including
//! what its storage adds: within one evaluation the first write of a series wins.
//!
//! Names are checked with Prometheus's legacy (pre-UTF-8) rules, which is what
//! `promtool` 2.x enforces and what the PromQL evaluator can select.
#![deny(missing_docs)]

pub mod alert;
mod alerting;
pub mod backtest;
pub mod datasource;
pub mod engine;
mod error;
pub mod evidence;
pub use lookout_config::duration;
pub mod file;
pub mod group;
mod raw;
mod recording;
pub mod serde_labels;
pub mod template;

pub use alert::{Alert, AlertState, RESOLVED_RETENTION_MS};
pub use alerting::{query_escape, table_link};
pub use datasource::{Appender, Datasource, LocalDatasource};
pub use error::{Error, EvalError};
pub use file::{AlertingRule, RecordingRule, Rule, RuleGroup, load_rule_file, load_rule_files, parse_rule_file};
pub use group::{EvalContext, GroupState, Health, OutgoingAlert, RuleState, eval_group};
