//! The admission path both transports share: count, hand on, push back.

use std::sync::Arc;
use std::time::Duration;

use lookout_component::{ComponentMetrics, Fanout, FanoutError};
use lookout_event::{BatchNotifier, Finalizers};
use tracing::Instrument;

use super::request::OtlpRequest;
use crate::tenant::{self, Authenticated};

/// Why a request was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The body cannot be decoded (HTTP 400, gRPC INVALID_ARGUMENT).
    BadRequest(String),
    /// Larger than `max_request_size` (HTTP 413, gRPC RESOURCE_EXHAUSTED).
    TooLarge(String),
    /// A content type or encoding Lookout does not speak (HTTP 415).
    Unsupported(String),
    /// The pipeline stayed full (HTTP 503 + Retry-After, gRPC UNAVAILABLE): retry later.
    Full {
        /// Seconds the client should wait.
        retry_after: u64,
    },
    /// Lookout is shutting down (HTTP 503, gRPC UNAVAILABLE).
    ShuttingDown,
    /// With `acknowledgements: true`: a sink did not confirm the data in time, or could
    /// not deliver it (HTTP 503 + Retry-After, gRPC UNAVAILABLE): retry.
    NotDelivered {
        /// Seconds the client should wait.
        retry_after: u64,
    },
    /// The process is above `limits.memory` (HTTP 503 + Retry-After, gRPC
    /// RESOURCE_EXHAUSTED), refused before the body is read.
    OverMemory {
        /// Seconds the client should wait.
        retry_after: u64,
    },
    /// No token, or one no tenant has (HTTP 401, gRPC UNAUTHENTICATED).
    Unauthenticated(String),
    /// The tenant is over one of its rate limits (HTTP 429 + Retry-After, gRPC
    /// RESOURCE_EXHAUSTED with RetryInfo).
    RateLimited {
        /// Seconds until the request would fit.
        retry_after: u64,
        /// Which limit.
        message: String,
    },
}

impl Rejection {
    /// The message sent to the client.
    pub fn message(&self) -> String {
        match self {
            Rejection::BadRequest(m)
            | Rejection::TooLarge(m)
            | Rejection::Unsupported(m)
            | Rejection::Unauthenticated(m)
            | Rejection::RateLimited { message: m, .. } => m.clone(),
            Rejection::Full { retry_after } => {
                format!("the pipeline is full; retry after {retry_after}s")
            }
            Rejection::ShuttingDown => "Lookout is shutting down; retry against another instance".into(),
            Rejection::NotDelivered { retry_after } => {
                format!("the data was not confirmed delivered (acknowledgements are on); retry after {retry_after}s")
            }
            Rejection::OverMemory { retry_after } => {
                format!("Lookout is above its memory limit; retry after {retry_after}s")
            }
        }
    }

    /// The `Retry-After` to send, if the client should retry.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Rejection::Full { retry_after }
            | Rejection::NotDelivered { retry_after }
            | Rejection::OverMemory { retry_after }
            | Rejection::RateLimited { retry_after, .. } => Some(*retry_after),
            Rejection::ShuttingDown => Some(5),
            _ => None,
        }
    }

    /// Whether this is back-pressure (the pipeline or the process is busy) rather than
    /// a fault of the request.
    pub fn is_pressure(&self) -> bool {
        self.retry_after().is_some()
    }
}

/// Shared by every listener of one `otlp` source.
#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    out: Fanout,
    metrics: ComponentMetrics,
    max_request_size: usize,
    wait: Duration,
    retry_after: u64,
    /// `acknowledgements: true`: answer only once the sinks confirm, waiting at most this.
    ack_timeout: Option<Duration>,
}

impl Ingest {
    /// An admission path into `out`.
    pub fn new(
        out: Fanout,
        metrics: ComponentMetrics,
        max_request_size: usize,
        wait: Duration,
        retry_after: u64,
    ) -> Self {
        Ingest { inner: Arc::new(Inner { out, metrics, max_request_size, wait, retry_after, ack_timeout: None }) }
    }

    /// Answers only once every sink the batch reaches holds it durably or delivered it,
    /// waiting at most `timeout` (then 503 / UNAVAILABLE).
    pub fn with_acknowledgements(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.inner).ack_timeout = Some(timeout);
        self
    }

    /// Refuses new requests while the process is above its memory limit.
    pub fn check_memory(&self) -> Result<(), Rejection> {
        if lookout_component::memory::over_limit() {
            let rejection = Rejection::OverMemory { retry_after: self.inner.retry_after };
            self.refused(&rejection);
            return Err(rejection);
        }
        Ok(())
    }

    /// Largest request accepted, in bytes.
    pub fn max_request_size(&self) -> usize {
        self.inner.max_request_size
    }

    /// Counts a request refused before it was decoded.
    pub fn refused(&self, rejection: &Rejection) {
        self.inner.metrics.errors.inc();
        tracing::debug!(reason = %rejection.message(), "OTLP request refused");
    }

    /// Validates a decoded request, hands its records on, and returns the response.
    pub async fn accept<R: OtlpRequest>(&self, request: R, wire_bytes: usize) -> Result<R::Response, Rejection> {
        self.accept_as(request, wire_bytes, None).await
    }

    /// [`Ingest::accept`] for an authenticated tenant: its size, bytes and events limits
    /// are checked (bytes only if not already charged from `Content-Length`), and its
    /// name set on every record.
    pub async fn accept_as<R: OtlpRequest>(
        &self,
        request: R,
        wire_bytes: usize,
        tenant: Option<&Authenticated>,
    ) -> Result<R::Response, Rejection> {
        // One span per request (a batch), never per record: it is what Lookout exports
        // about itself when `telemetry.otlp_traces_endpoint` is set.
        let span = tracing::info_span!(
            "otlp.export",
            path = R::PATH,
            bytes = wire_bytes as i64,
            records = tracing::field::Empty,
            rejected = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let result = self.admit::<R>(request, wire_bytes, tenant, &span).instrument(span.clone()).await;
        span.record("outcome", if result.is_ok() { "accepted" } else { "refused" });
        result
    }

    async fn admit<R: OtlpRequest>(
        &self,
        request: R,
        wire_bytes: usize,
        tenant: Option<&Authenticated>,
        span: &tracing::Span,
    ) -> Result<R::Response, Rejection> {
        let inner = &self.inner;
        if let Some(t) = tenant {
            t.state.check_size(wire_bytes as u64)?;
            if !t.bytes_charged {
                t.state.take_bytes(wire_bytes as u64)?;
            }
        }
        let (mut batch, partial) = request.into_batch();
        let events = batch.len() as u64;
        if let Some(t) = tenant {
            t.state.take_events(events)?;
            tenant::stamp(&mut batch, &t.state.tenant.name);
        }
        span.record("records", events as i64);
        span.record("rejected", partial.rejected);
        inner.metrics.received_events.inc_by(events + partial.rejected as u64);
        inner.metrics.received_bytes.inc_by(wire_bytes as u64);
        if partial.rejected > 0 {
            inner.metrics.failed_events.inc_by(partial.rejected as u64);
        }
        if events > 0 {
            let outcome = inner.ack_timeout.map(|t| {
                let (notifier, outcome) = BatchNotifier::new();
                batch.meta.finalizers = Finalizers::new(notifier);
                (t, outcome)
            });
            let sent = inner.out.send_timeout(batch, inner.wait).await;
            if let Err(e) = sent {
                let rejection = match e {
                    FanoutError::Full => Rejection::Full { retry_after: inner.retry_after },
                    FanoutError::Closed => Rejection::ShuttingDown,
                };
                self.refused(&rejection);
                return Err(rejection);
            }
            if let Some((timeout, outcome)) = outcome {
                let confirmed = tokio::time::timeout(timeout, outcome.wait()).await;
                if !matches!(confirmed, Ok(status) if status.is_kept()) {
                    let rejection = Rejection::NotDelivered { retry_after: inner.retry_after };
                    self.refused(&rejection);
                    return Err(rejection);
                }
            }
            inner.metrics.sent_events.inc_by(events);
        }
        if let Some(t) = tenant {
            t.state.accepted(events, wire_bytes as u64);
        }
        Ok(R::response(partial))
    }
}
