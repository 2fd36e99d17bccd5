//! The three OTLP export requests behind one trait, and their validation.
//!
//! Records with malformed ids are dropped and reported through OTLP partial success
//! (`rejected_log_records` / `rejected_spans` + `error_message`) instead of failing the
//! whole request, as the OTLP specification asks.

use lookout_event::Batch;
use lookout_event::otlp::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use lookout_event::otlp::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use lookout_event::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What was refused inside an otherwise accepted request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PartialSuccess {
    /// Records refused.
    pub rejected: i64,
    /// Why (empty when nothing was refused).
    pub message: String,
}

/// An OTLP export request of one signal.
pub trait OtlpRequest: prost::Message + Default + DeserializeOwned + Send + 'static {
    /// Its response message.
    type Response: prost::Message + Serialize + Default + Send + 'static;
    /// The OTLP/HTTP path.
    const PATH: &'static str;
    /// The name used in messages (`ExportLogsServiceRequest`).
    const NAME: &'static str;
    /// Validates and converts into a batch.
    fn into_batch(self) -> (Batch, PartialSuccess);
    /// The response for a request that was accepted.
    fn response(partial: PartialSuccess) -> Self::Response;
}

const TRACE_ID_LEN: usize = 16;
const SPAN_ID_LEN: usize = 8;

fn optional_id(id: &[u8], len: usize) -> bool {
    id.is_empty() || id.len() == len
}

fn partial(rejected: i64, what: &str, why: &str) -> PartialSuccess {
    if rejected == 0 {
        return PartialSuccess::default();
    }
    PartialSuccess { rejected, message: format!("{rejected} {what} rejected: {why}") }
}

impl OtlpRequest for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    const PATH: &'static str = "/v1/logs";
    const NAME: &'static str = "ExportLogsServiceRequest";

    fn into_batch(mut self) -> (Batch, PartialSuccess) {
        let mut rejected = 0i64;
        for scope in self.resource_logs.iter_mut().flat_map(|r| &mut r.scope_logs) {
            let before = scope.log_records.len();
            scope
                .log_records
                .retain(|l| optional_id(&l.trace_id, TRACE_ID_LEN) && optional_id(&l.span_id, SPAN_ID_LEN));
            rejected += (before - scope.log_records.len()) as i64;
        }
        let why = "trace_id must be empty or 16 bytes, span_id empty or 8 bytes";
        (Batch::logs(self.resource_logs), partial(rejected, "log records", why))
    }

    fn response(p: PartialSuccess) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: (p.rejected > 0)
                .then_some(ExportLogsPartialSuccess { rejected_log_records: p.rejected, error_message: p.message }),
        }
    }
}

impl OtlpRequest for ExportTraceServiceRequest {
    type Response = ExportTraceServiceResponse;
    const PATH: &'static str = "/v1/traces";
    const NAME: &'static str = "ExportTraceServiceRequest";

    fn into_batch(mut self) -> (Batch, PartialSuccess) {
        let mut rejected = 0i64;
        for scope in self.resource_spans.iter_mut().flat_map(|r| &mut r.scope_spans) {
            let before = scope.spans.len();
            scope.spans.retain(|s| {
                s.trace_id.len() == TRACE_ID_LEN
                    && s.span_id.len() == SPAN_ID_LEN
                    && optional_id(&s.parent_span_id, SPAN_ID_LEN)
            });
            rejected += (before - scope.spans.len()) as i64;
        }
        let why = "trace_id must be 16 bytes, span_id 8 bytes, parent_span_id empty or 8 bytes";
        (Batch::traces(self.resource_spans), partial(rejected, "spans", why))
    }

    fn response(p: PartialSuccess) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: (p.rejected > 0)
                .then_some(ExportTracePartialSuccess { rejected_spans: p.rejected, error_message: p.message }),
        }
    }
}

impl OtlpRequest for ExportMetricsServiceRequest {
    type Response = ExportMetricsServiceResponse;
    const PATH: &'static str = "/v1/metrics";
    const NAME: &'static str = "ExportMetricsServiceRequest";

    fn into_batch(mut self) -> (Batch, PartialSuccess) {
        // A metric without data carries no point: it is refused rather than kept empty.
        let mut rejected = 0i64;
        for scope in self.resource_metrics.iter_mut().flat_map(|r| &mut r.scope_metrics) {
            let before = scope.metrics.len();
            scope.metrics.retain(|m| m.data.is_some());
            rejected += (before - scope.metrics.len()) as i64;
        }
        (Batch::metrics(self.resource_metrics), partial(rejected, "metrics", "a metric must carry data"))
    }

    fn response(p: PartialSuccess) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: (p.rejected > 0)
                .then_some(ExportMetricsPartialSuccess { rejected_data_points: p.rejected, error_message: p.message }),
        }
    }
}
