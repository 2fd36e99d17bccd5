//! Retrying, done once for all of Lookout.
//!
//! # The job
//!
//! Every component that talks to a peer over the network (the sinks, the notification
//! receivers, the remote writer, the scaler's webhook actuator) needs the same answers:
//! how long to wait after a failure, which HTTP statuses are worth another attempt, what
//! a `Retry-After` header asks for, and when to give up. This crate holds those answers
//! so that each is written once.
//!
//! # Main types
//!
//! - [`Backoff`] with [`Jitter`]: exponential backoff, the cap doubling per failure.
//! - [`Retrier`]: the HTTP status rule (5xx and 429 retryable, a per-peer list of extra
//!   codes, everything else permanent), after Alertmanager's `notify.Retrier`.
//! - [`retry_after::parse`]: `Retry-After` as delta-seconds or an HTTP date.
//! - [`RetryPolicy`]: backoff plus limits (attempts, elapsed time, the longest
//!   `Retry-After` obeyed); failures say what they want through [`Retryable`] /
//!   [`Verdict`].
//! - [`Policy`] / [`layer`]: the policy as a `tower::retry::Policy` for services, with a
//!   [`Classify`] that judges each result (and may shrink the request to what failed).
//! - [`retry()`]: the same policy for callers that are not a `Service`.
//! - [`Error`]: the last failure and why retrying stopped ([`ErrorKind`]).
//!
//! # Why so
//!
//! Retrying is middleware, never component code: a component says what a failure
//! means ([`Retryable`], [`Classify`]) and the policy decides when to try again. A
//! peer's `Retry-After` replaces the backoff but is capped, so a confused peer cannot
//! stall a sender for hours. Time limits stop *before* a wait that would end past them,
//! rather than sleeping and then giving up.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use lookout_retry::{Backoff, Retrier, RetryPolicy, Retryable, Verdict, retry, retry_after};
//!
//! /// A failed HTTP request: its status and `Retry-After` header.
//! #[derive(Debug)]
//! struct Failed { status: u16, retry_after: Option<&'static str> }
//!
//! impl std::fmt::Display for Failed {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         write!(f, "status {}", self.status)
//!     }
//! }
//!
//! impl Retryable for Failed {
//!     fn verdict(&self) -> Verdict {
//!         if Retrier::DEFAULT.is_retryable(self.status) {
//!             Verdict::Retry { after: self.retry_after.and_then(retry_after::parse) }
//!         } else {
//!             Verdict::Permanent
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let policy = RetryPolicy::new(Backoff::new(Duration::from_millis(1), Duration::from_millis(10)))
//!     .max_attempts(5);
//! let mut answers = vec![Failed { status: 503, retry_after: Some("0") }, Failed { status: 429, retry_after: None }];
//! let result: Result<&str, _> = retry(&policy, || {
//!     let next = if answers.is_empty() { Ok("sent") } else { Err(answers.remove(0)) };
//!     async move { next }
//! })
//! .await;
//! assert_eq!(result.unwrap(), "sent");
//!
//! let refused: Result<(), _> = retry(&policy, || async { Err(Failed { status: 401, retry_after: None }) }).await;
//! let e = refused.unwrap_err();
//! assert_eq!(e.kind(), lookout_retry::ErrorKind::Permanent);
//! assert_eq!(e.attempts(), 1);
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod backoff;
mod error;
mod layer;
mod policy;
pub mod retry_after;
mod run;
mod status;

pub use backoff::{Backoff, Jitter};
pub use error::{Error, ErrorKind};
pub use layer::{ByError, Classify, Exhausted, Policy, layer};
pub use policy::{RetryPolicy, Retryable, Verdict};
pub use run::retry;
pub use status::{Retrier, StatusClass};
