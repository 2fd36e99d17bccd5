//! `lookout tap`: watch the records passing any component of a running pipeline, as
//! Vector's `vector tap` does.
//!
//! - [`router`] serves `GET /api/v1/tap?component=NAME&where=COND&limit=N&rate=R` on the
//!   API: one JSON document per line (the shape of `docs/event-shape.md`, written by the
//!   event crate's NDJSON encoder) for every record that leaves the component (a source
//!   or transform) or enters it (a sink) and matches the condition (the `filter`
//!   transform's syntax, `docs/conditions.md`), at most `rate` records a second, until
//!   `limit` records were sent or the client goes away.
//! - [`client::run`] is the CLI side: it streams that endpoint to stdout and reports on
//!   stderr what was skipped.
//!
//! The pipeline side (tap points, bounded per-subscriber queues, the limit of 16 open
//! taps) lives in `lookout_component::tap`, so that tapping costs the pipeline one
//! relaxed atomic load per batch while nobody watches. Filtering, rate limiting and
//! encoding happen here, in the request's own task, never in the pipeline's.
//!
//! ```
//! use lookout_tap::TapFilter;
//! let filter = TapFilter::new(Some(r#"severity_text == "ERROR""#), Some(10), Some(5.0)).unwrap();
//! assert_eq!(filter.limit(), Some(10));
//! assert!(TapFilter::new(Some("severity_text = 1"), None, None).is_err());
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api;
pub mod client;
mod filter;

pub use api::router;
pub use filter::{FilterError, TapFilter};
