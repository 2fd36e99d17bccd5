//! Delivery machinery shared by every network sink (Elasticsearch, Splunk HEC, ...).
//!
//! A network sink only says how to turn records into [`Item`]s and how to send a slice of
//! them to one endpoint ([`Protocol`]), and declares its config with
//! [`network_sink_config!`](crate::network_sink_config) (the shared keys, gathered into a
//! [`DeliveryConfig`]); everything else is here: the driver batches the buffer into
//! requests and drives them through the tower stack that `stack` composes (its docs give
//! the order and why):
//!
//! ```text
//! buffer ─> batcher (max_events / max_bytes / timeout_ms)
//!        ─> ConcurrencyLimit (request.concurrency)
//!        ─> Retry (lookout-retry: exponential backoff, full jitter, Retry-After,
//!                  retry_max_duration; partial failures retry only the failed items)
//!        ─> EndpointSet (load balancing over `endpoints`, a circuit breaker and an active
//!                  health check per endpoint)
//!        ─> Timeout (request.timeout_secs, per attempt)
//!        ─> Protocol::send
//! ```
//!
//! Items refused for good (an Elasticsearch mapping conflict, a 400) and items whose
//! retries ran out go to the sink's dead-letter file ([`dead_letter`]) with the reason.

mod ack;
mod config;
pub mod dead_letter;
mod driver;
mod endpoints;
mod pool;
mod retry;
mod settings;
mod stack;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use lookout_event::Batch;

pub use ack::BatchAck;
pub use config::DeliveryConfig;
pub use dead_letter::DeadLetters;
pub use driver::{component, run};
pub use endpoints::{Endpoint, fnv1a};
pub use pool::BufferPool;
pub use retry::Tally;
pub use settings::{
    BatchSettings, CircuitBreakerSettings, DeliverySettings, EndpointSpec, HealthCheckSettings, LoadBalance,
    RequestSettings,
};

/// One record, encoded, ready to be sent (and dead-lettered if refused).
#[derive(Debug, Clone)]
pub struct Item {
    /// The record as a JSON document (a slice of the batch's one buffer: no per-record
    /// allocation).
    pub doc: Bytes,
    /// Where the record goes inside the store: index, log group/stream, HEC index.
    pub route: Arc<str>,
    /// A document id (Elasticsearch `id_field`), so retries do not duplicate.
    pub id: Option<Arc<str>>,
    /// The record's time.
    pub time_unix_nano: u64,
    /// When the batch entered Lookout (latency).
    pub received_at: Instant,
    /// The batch the record came from and its position in it, for sinks that forward
    /// OTLP structure rather than documents (the `otlp` sink); `None` elsewhere.
    pub origin: Option<Origin>,
    /// The acknowledgement of the batch the record came from, when someone waits on it
    /// (set by the driver).
    pub ack: Option<Arc<BatchAck>>,
}

impl Item {
    /// Records this item's outcome in its batch's acknowledgement.
    pub fn settle(&self, status: lookout_event::DeliveryStatus) {
        if let Some(a) = &self.ack {
            a.settle(status);
        }
    }
}

/// Where an item's record sits: the batch (shared by all its items) and the record's
/// position in `Batch::for_each` order.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The batch.
    pub batch: Arc<Batch>,
    /// The record's position.
    pub index: u32,
}

/// What one attempt to send a slice of items achieved, when the endpoint answered.
#[derive(Debug, Default)]
pub struct Sent {
    /// Indexes (into the slice sent) of items to send again (per-item 429/5xx).
    pub retry: Vec<usize>,
    /// Indexes of items refused for good, with the store's reason.
    pub rejected: Vec<(usize, String)>,
    /// Records the store refused without saying which (OTLP partial success): counted
    /// as failed, not retried, not dead-lettered.
    pub refused_unidentified: u64,
}

/// Status rules of the stores here: 408, 429 and 5xx are transient, other 4xx are not.
pub const STORE_RETRIER: lookout_retry::Retrier = lookout_retry::Retrier::with_codes(&[408, 429]);

/// Why an attempt failed as a whole. Messages never carry credentials.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth retrying (connection error, timeout, 429, 5xx); counts against the endpoint's
    /// circuit breaker.
    #[error("{0}")]
    Retryable(String),
    /// Worth retrying, and the store said when (`Retry-After`); otherwise as `Retryable`.
    #[error("{message}")]
    Throttled {
        /// What happened.
        message: String,
        /// The wait asked for.
        after: Duration,
    },
    /// Retrying cannot help (400, 413): the items are dead-lettered.
    #[error("{0}")]
    Fatal(String),
    /// The store refuses the credentials (401, 403): an outage while a credential is
    /// rotated, not bad data. Retried with backoff for as long as it lasts (the sink is
    /// degraded and its buffer fills), never dead-lettered.
    #[error("{0}")]
    Unauthorized(String),
}

impl SendError {
    /// Classifies an HTTP status by [`STORE_RETRIER`].
    pub fn from_status(status: u16, body: &str) -> SendError {
        let message = format!("HTTP {status}: {}", body.chars().take(500).collect::<String>());
        if status == 401 || status == 403 {
            SendError::Unauthorized(message)
        } else if STORE_RETRIER.is_retryable(status) {
            SendError::Retryable(message)
        } else {
            SendError::Fatal(message)
        }
    }

    /// A transport error (connection refused, reset, timeout) is transient. reqwest's
    /// message ends with the request's URL: a password in it is redacted.
    pub fn transport(e: &reqwest::Error) -> SendError {
        let mut message = format!("request failed: {e}");
        if let Some(url) = e.url() {
            message = message.replace(url.as_str(), &lookout_config::redact_url(url.as_str()));
        }
        SendError::Retryable(message)
    }

    /// A retryable error becomes [`SendError::Throttled`] when the answer carried a
    /// readable `Retry-After`.
    pub fn with_retry_after(self, headers: &reqwest::header::HeaderMap) -> SendError {
        let after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(lookout_retry::retry_after::parse);
        match (self, after) {
            (SendError::Retryable(message), Some(after)) => SendError::Throttled { message, after },
            (e, _) => e,
        }
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SendError::Fatal(_))
    }

    /// The same error with `prefix: ` before its message.
    pub fn prefixed(self, prefix: &str) -> SendError {
        match self {
            SendError::Retryable(m) => SendError::Retryable(format!("{prefix}: {m}")),
            SendError::Throttled { message, after } => {
                SendError::Throttled { message: format!("{prefix}: {message}"), after }
            }
            SendError::Fatal(m) => SendError::Fatal(format!("{prefix}: {m}")),
            SendError::Unauthorized(m) => SendError::Unauthorized(format!("{prefix}: {m}")),
        }
    }
}

impl lookout_retry::Retryable for SendError {
    fn verdict(&self) -> lookout_retry::Verdict {
        match self {
            SendError::Retryable(_) => lookout_retry::Verdict::RETRY,
            SendError::Throttled { after, .. } => lookout_retry::Verdict::Retry { after: Some(*after) },
            SendError::Fatal(_) => lookout_retry::Verdict::Permanent,
            SendError::Unauthorized(_) => lookout_retry::Verdict::Outage { after: None },
        }
    }
}

/// What a network sink implements.
pub trait Protocol: Send + Sync + 'static {
    /// Appends one [`Item`] per record of `batch`.
    fn encode(&self, batch: &Batch, items: &mut Vec<Item>);
    /// One attempt to deliver `items` to `endpoint`. The request body is built before the
    /// returned future runs, so the future owns everything it needs.
    fn send(&self, endpoint: &Endpoint, items: &[Item]) -> BoxFuture<'static, Result<Sent, SendError>>;
    /// An active health check of `endpoint` (`None`: only the circuit breaker decides).
    fn health_check(&self, _endpoint: &Endpoint) -> Option<BoxFuture<'static, bool>> {
        None
    }
    /// Work done once against the store before the first request (e.g. installing index
    /// templates), or `None`. Retried on transient errors like a request; an error that
    /// stays leaves the sink degraded with its message, and delivery goes on.
    fn prepare(&self, _endpoint: &Endpoint) -> Option<BoxFuture<'static, Result<(), SendError>>> {
        None
    }
}
