//! The request stack of every network sink, composed here and only here.
//!
//! # Order
//!
//! ```text
//! ConcurrencyLimit ─> Retry ─> EndpointSet ─> Timeout ─> Deliver (Protocol::send)
//! ```
//!
//! - **Concurrency limit outermost:** a request holds its slot through all its retries,
//!   so `request.concurrency` bounds what is in flight, waiting retries included, and a
//!   full stack is the back-pressure on the sink's buffer.
//! - **Retry above the endpoint set:** every attempt picks an endpoint again, so a retry
//!   moves off a failing endpoint (and honours its `Retry-After`).
//! - **Timeout below the endpoint set:** it limits one attempt, not a request with its
//!   retries, and the set sees a timeout as that endpoint's failure, for its circuit
//!   breaker.

use std::sync::Arc;
use std::time::Duration;

use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimit;
use tower::retry::Retry;
use tower::timeout::Timeout;

use super::Protocol;
use super::endpoints::{Deliver, EndpointSet};
use super::retry::{Items, RetryPolicy};
use super::settings::RequestSettings;

/// What the driver sends requests through.
pub(super) type Requests<P> = ConcurrencyLimit<Retry<lookout_retry::Policy<Items>, EndpointSet<P>>>;

/// What the endpoint set sends one attempt through.
pub(super) type PerEndpoint<P> = Timeout<Deliver<P>>;

/// The stack above the endpoint set.
pub(super) fn requests<P: Protocol>(request: &RequestSettings, endpoints: EndpointSet<P>) -> Requests<P> {
    ServiceBuilder::new()
        .concurrency_limit(request.concurrency.max(1))
        .layer(RetryPolicy::new(request).layer())
        .service(endpoints)
}

/// The stack below the endpoint set.
pub(super) fn per_endpoint<P: Protocol>(protocol: Arc<P>, timeout: Duration) -> PerEndpoint<P> {
    ServiceBuilder::new().timeout(timeout).service(Deliver(protocol))
}
