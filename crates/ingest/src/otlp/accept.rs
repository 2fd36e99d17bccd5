//! The admission path both transports share: count, hand on, push back.

use std::sync::Arc;
use std::time::Duration;

use lookout_component::{ComponentMetrics, Fanout, FanoutError};
use tracing::Instrument;

use super::request::OtlpRequest;

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
}

impl Rejection {
    /// The message sent to the client.
    pub fn message(&self) -> String {
        match self {
            Rejection::BadRequest(m) | Rejection::TooLarge(m) | Rejection::Unsupported(m) => m.clone(),
            Rejection::Full { retry_after } => {
                format!("the pipeline is full; retry after {retry_after}s")
            }
            Rejection::ShuttingDown => "Lookout is shutting down; retry against another instance".into(),
        }
    }
}

/// Shared by every listener of one `otlp` source.
#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

struct Inner {
    out: Fanout,
    metrics: ComponentMetrics,
    max_request_size: usize,
    wait: Duration,
    retry_after: u64,
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
        Ingest { inner: Arc::new(Inner { out, metrics, max_request_size, wait, retry_after }) }
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
        let result = self.admit::<R>(request, wire_bytes, &span).instrument(span.clone()).await;
        span.record("outcome", if result.is_ok() { "accepted" } else { "refused" });
        result
    }

    async fn admit<R: OtlpRequest>(
        &self,
        request: R,
        wire_bytes: usize,
        span: &tracing::Span,
    ) -> Result<R::Response, Rejection> {
        let inner = &self.inner;
        let (batch, partial) = request.into_batch();
        let events = batch.len() as u64;
        span.record("records", events as i64);
        span.record("rejected", partial.rejected);
        inner.metrics.received_events.inc_by(events + partial.rejected as u64);
        inner.metrics.received_bytes.inc_by(wire_bytes as u64);
        if partial.rejected > 0 {
            inner.metrics.failed_events.inc_by(partial.rejected as u64);
        }
        if events > 0 {
            let sent = inner.out.send_timeout(batch, inner.wait).await;
            if let Err(e) = sent {
                let rejection = match e {
                    FanoutError::Full => Rejection::Full { retry_after: inner.retry_after },
                    FanoutError::Closed => Rejection::ShuttingDown,
                };
                self.refused(&rejection);
                return Err(rejection);
            }
            inner.metrics.sent_events.inc_by(events);
        }
        Ok(R::response(partial))
    }
}
