//! Error tracking: exceptions recorded on spans and in logs, grouped Sentry-style into
//! error groups that rules can page on and the API and UI list.
//!
//! # The job
//!
//! The `error_groups` sink ([`sink`]) reads the telemetry already arriving. Every
//! exception (an `exception` span event, or a log record with `exception.*`
//! attributes: [`extract`]) gets a fingerprint ([`fingerprint`]): the type and the top
//! in-app frames of its stack trace ([`frames`]: Python, Java/JVM, JavaScript/Node, Go,
//! .NET), else the type and its message with ids replaced by placeholders
//! ([`normalize`]); a `fingerprint` attribute or a config rule overrides both. Occurrences
//! with one fingerprint are one [`ErrorGroup`]: count, first and last seen, services,
//! releases, environments, a few samples with trace ids, and a state (open, resolved,
//! ignored) a user sets on the API ([`api`]).
//!
//! # Main types
//!
//! - [`ErrorGroupsConfig`]: `type: error_groups`, registered by [`register`].
//! - [`ErrorGroups`]: the groups of one `data_dir`, persisted in
//!   `data_dir/errors/groups.redb`, bounded by `max_groups`.
//! - [`Fingerprinter`]: exception → [`Identity`] (fingerprint, title, culprit).
//! - [`series`]: `lookout_error_group_events_total`, `…_new_total` and
//!   `…_regressions_total`, the counters the shipped `alert-rules/errors.yml` reads.
//!
//! # Why so
//!
//! Groups live beside the pipeline rather than in a log store so an alert can say
//! "a new kind of error" within a scrape interval, with the fingerprint to open it by.
//! The frames that identify a bug are function and file, never line numbers or paths,
//! which change with every release while the bug does not. A resolved group seen
//! again *in a release it was not seen in before* is a regression; seen again in an
//! old release (instances not yet rolled over) it is only counted.
//!
//! # Example
//!
//! ```
//! use lookout_errors::{Exception, Fingerprinter};
//!
//! let f = Fingerprinter::new(Vec::new(), 3);
//! let err = |id: u32| Exception {
//!     r#type: "KeyError".into(),
//!     message: format!("'order {id} not found'"),
//!     stacktrace: Some(format!(
//!         "Traceback (most recent call last):\n  File \"/app/orders.py\", line {id}, in load_order\n    raise KeyError(id)\n"
//!     )),
//!     fingerprint: None,
//! };
//! let (a, b) = (f.identify(&err(17)), f.identify(&err(18)));
//! assert_eq!(a.fingerprint, b.fingerprint, "another id and line: the same bug");
//! assert_eq!(a.culprit, "load_order (orders.py:17)");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
pub mod extract;
pub mod fingerprint;
pub mod frames;
pub mod group;
pub mod groups;
pub mod metrics;
pub mod normalize;
pub mod series;
pub mod sink;

pub use fingerprint::{Basis, Exception, FingerprintRule, Fingerprinter, Identity};
pub use group::{Change, ErrorGroup, GroupState, Occurrence};
pub use groups::ErrorGroups;
pub use metrics::register_metrics;
pub use sink::ErrorGroupsConfig;

/// Registers the `error_groups` sink.
pub fn register(registry: &mut lookout_component::Registry) {
    registry.sink::<ErrorGroupsConfig>(
        "error_groups",
        "Group exceptions from spans and logs into error groups (API, UI, series for rules).",
    );
}
