//! Per-record views over a batch: one shape for logs, spans and metric points.

use std::borrow::Cow;

use crate::field::FieldPath;
use crate::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use crate::otlp::logs::v1::LogRecord;
use crate::otlp::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint, metric::Data,
    number_data_point,
};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::Span;
use crate::value::{FieldValue, get_attribute};

/// One metric data point, whatever the metric's type.
#[derive(Debug, Clone, Copy)]
pub enum PointRef<'a> {
    /// A gauge or sum point.
    Number(&'a NumberDataPoint),
    /// An explicit-bucket histogram point.
    Histogram(&'a HistogramDataPoint),
    /// An exponential histogram point.
    ExponentialHistogram(&'a ExponentialHistogramDataPoint),
    /// A summary point.
    Summary(&'a SummaryDataPoint),
}

impl<'a> PointRef<'a> {
    /// Calls `f` with every point of a metric's data.
    pub fn each(data: &'a Data, mut f: impl FnMut(PointRef<'a>)) {
        match data {
            Data::Gauge(g) => g.data_points.iter().for_each(|p| f(PointRef::Number(p))),
            Data::Sum(s) => s.data_points.iter().for_each(|p| f(PointRef::Number(p))),
            Data::Histogram(h) => h.data_points.iter().for_each(|p| f(PointRef::Histogram(p))),
            Data::ExponentialHistogram(h) => h.data_points.iter().for_each(|p| f(PointRef::ExponentialHistogram(p))),
            Data::Summary(s) => s.data_points.iter().for_each(|p| f(PointRef::Summary(p))),
        }
    }

    /// The point's attributes.
    pub fn attributes(&self) -> &'a [KeyValue] {
        match self {
            PointRef::Number(p) => &p.attributes,
            PointRef::Histogram(p) => &p.attributes,
            PointRef::ExponentialHistogram(p) => &p.attributes,
            PointRef::Summary(p) => &p.attributes,
        }
    }

    /// The point's timestamp (Unix nanoseconds).
    pub fn time_unix_nano(&self) -> u64 {
        match self {
            PointRef::Number(p) => p.time_unix_nano,
            PointRef::Histogram(p) => p.time_unix_nano,
            PointRef::ExponentialHistogram(p) => p.time_unix_nano,
            PointRef::Summary(p) => p.time_unix_nano,
        }
    }

    /// The point's start timestamp (Unix nanoseconds; 0 if unset).
    pub fn start_time_unix_nano(&self) -> u64 {
        match self {
            PointRef::Number(p) => p.start_time_unix_nano,
            PointRef::Histogram(p) => p.start_time_unix_nano,
            PointRef::ExponentialHistogram(p) => p.start_time_unix_nano,
            PointRef::Summary(p) => p.start_time_unix_nano,
        }
    }

    /// The value of a gauge/sum point, or the sum of a histogram/summary point.
    pub fn value(&self) -> Option<f64> {
        match self {
            PointRef::Number(p) => match p.value? {
                number_data_point::Value::AsDouble(d) => Some(d),
                number_data_point::Value::AsInt(i) => Some(i as f64),
            },
            PointRef::Histogram(p) => p.sum,
            PointRef::ExponentialHistogram(p) => p.sum,
            PointRef::Summary(p) => Some(p.sum),
        }
    }
}

pub(crate) fn points_len(data: &Data) -> usize {
    match data {
        Data::Gauge(g) => g.data_points.len(),
        Data::Sum(s) => s.data_points.len(),
        Data::Histogram(h) => h.data_points.len(),
        Data::ExponentialHistogram(h) => h.data_points.len(),
        Data::Summary(s) => s.data_points.len(),
    }
}

pub(crate) fn retain_points(metric: &mut Metric, mut keep: impl FnMut(&Metric, PointRef<'_>) -> bool) {
    // The predicate sees the metric (name, unit) alongside each point, so the data is
    // taken out while its points are filtered and put back after.
    let Some(mut data) = metric.data.take() else { return };
    match &mut data {
        Data::Gauge(g) => g.data_points.retain(|p| keep(metric, PointRef::Number(p))),
        Data::Sum(s) => s.data_points.retain(|p| keep(metric, PointRef::Number(p))),
        Data::Histogram(h) => h.data_points.retain(|p| keep(metric, PointRef::Histogram(p))),
        Data::ExponentialHistogram(h) => h.data_points.retain(|p| keep(metric, PointRef::ExponentialHistogram(p))),
        Data::Summary(s) => s.data_points.retain(|p| keep(metric, PointRef::Summary(p))),
    }
    metric.data = Some(data);
}

/// A read-only view of one record with its resource and scope.
#[derive(Debug, Clone, Copy)]
pub enum RecordRef<'a> {
    /// A log record.
    Log {
        /// The record's resource.
        resource: Option<&'a Resource>,
        /// The record's instrumentation scope.
        scope: Option<&'a InstrumentationScope>,
        /// The record.
        record: &'a LogRecord,
    },
    /// A span.
    Span {
        /// The span's resource.
        resource: Option<&'a Resource>,
        /// The span's instrumentation scope.
        scope: Option<&'a InstrumentationScope>,
        /// The span.
        span: &'a Span,
    },
    /// A metric data point.
    Point {
        /// The point's resource.
        resource: Option<&'a Resource>,
        /// The point's instrumentation scope.
        scope: Option<&'a InstrumentationScope>,
        /// The metric the point belongs to.
        metric: &'a Metric,
        /// The point.
        point: PointRef<'a>,
    },
}

/// Lowercase hex of `bytes` (how OTLP/JSON and Prometheus exemplars spell trace and
/// span ids).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn non_empty(s: &str) -> Option<FieldValue<'_>> {
    (!s.is_empty()).then_some(FieldValue::Str(Cow::Borrowed(s)))
}

fn non_empty_id(id: &[u8]) -> Option<FieldValue<'static>> {
    (!id.is_empty()).then(|| FieldValue::Str(Cow::Owned(hex(id))))
}

/// The name of a span kind as written in output documents.
pub fn span_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

/// The name of a span status code as written in output documents.
pub fn status_code_name(code: i32) -> &'static str {
    match code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}

/// The name of a metric's type as written in output documents.
pub fn metric_type_name(data: Option<&Data>) -> &'static str {
    match data {
        Some(Data::Gauge(_)) => "gauge",
        Some(Data::Sum(_)) => "sum",
        Some(Data::Histogram(_)) => "histogram",
        Some(Data::ExponentialHistogram(_)) => "exponential_histogram",
        Some(Data::Summary(_)) => "summary",
        None => "empty",
    }
}

impl<'a> RecordRef<'a> {
    /// The record's resource.
    pub fn resource(&self) -> Option<&'a Resource> {
        match *self {
            RecordRef::Log { resource, .. } | RecordRef::Span { resource, .. } | RecordRef::Point { resource, .. } => {
                resource
            }
        }
    }

    /// The record's instrumentation scope.
    pub fn scope(&self) -> Option<&'a InstrumentationScope> {
        match *self {
            RecordRef::Log { scope, .. } | RecordRef::Span { scope, .. } | RecordRef::Point { scope, .. } => scope,
        }
    }

    /// The record's own attributes.
    pub fn attributes(&self) -> &'a [KeyValue] {
        match *self {
            RecordRef::Log { record, .. } => &record.attributes,
            RecordRef::Span { span, .. } => &span.attributes,
            RecordRef::Point { point, .. } => point.attributes(),
        }
    }

    /// The record's trace id, if it has one (logs and spans).
    pub fn trace_id(&self) -> Option<&'a [u8]> {
        let id = match *self {
            RecordRef::Log { record, .. } => &record.trace_id,
            RecordRef::Span { span, .. } => &span.trace_id,
            RecordRef::Point { .. } => return None,
        };
        (!id.is_empty()).then_some(id.as_slice())
    }

    /// The record's span id, if it has one (logs and spans).
    pub fn span_id(&self) -> Option<&'a [u8]> {
        let id = match *self {
            RecordRef::Log { record, .. } => &record.span_id,
            RecordRef::Span { span, .. } => &span.span_id,
            RecordRef::Point { .. } => return None,
        };
        (!id.is_empty()).then_some(id.as_slice())
    }

    /// The log body, if this is a log record with one.
    pub fn body(&self) -> Option<&'a AnyValue> {
        match *self {
            RecordRef::Log { record, .. } => record.body.as_ref(),
            _ => None,
        }
    }

    /// The record's timestamp in Unix nanoseconds (a log's time, else its observed time;
    /// a span's start; a point's time). 0 when the sender set none.
    pub fn time_unix_nano(&self) -> u64 {
        match *self {
            RecordRef::Log { record, .. } => {
                if record.time_unix_nano != 0 {
                    record.time_unix_nano
                } else {
                    record.observed_time_unix_nano
                }
            }
            RecordRef::Span { span, .. } => span.start_time_unix_nano,
            RecordRef::Point { point, .. } => point.time_unix_nano(),
        }
    }

    /// Reads a field; `None` when the record does not have it.
    pub fn get(&self, path: &FieldPath) -> Option<FieldValue<'a>> {
        use FieldPath as F;
        match (path, *self) {
            (F::Signal, _) => Some(FieldValue::Str(Cow::Borrowed(match self {
                RecordRef::Log { .. } => "log",
                RecordRef::Span { .. } => "span",
                RecordRef::Point { .. } => "metric",
            }))),
            (F::Timestamp, r) => Some(FieldValue::Int(r.time_unix_nano() as i64)),
            (F::Attribute(k), r) => get_attribute(r.attributes(), k).and_then(FieldValue::from_any),
            (F::Resource(k), r) => {
                r.resource().and_then(|res| get_attribute(&res.attributes, k)).and_then(FieldValue::from_any)
            }
            (F::ScopeName, r) => r.scope().and_then(|s| non_empty(&s.name)),
            (F::ScopeVersion, r) => r.scope().and_then(|s| non_empty(&s.version)),
            (F::Auto(k), r) => get_attribute(r.attributes(), k)
                .or_else(|| r.resource().and_then(|res| get_attribute(&res.attributes, k)))
                .and_then(FieldValue::from_any),
            (F::TraceId, r) => r.trace_id().and_then(non_empty_id),
            (F::SpanId, RecordRef::Log { record, .. }) => non_empty_id(&record.span_id),
            (F::SpanId, RecordRef::Span { span, .. }) => non_empty_id(&span.span_id),
            (F::Body, RecordRef::Log { record, .. }) => record.body.as_ref().and_then(FieldValue::from_any),
            (F::SeverityText, RecordRef::Log { record, .. }) => non_empty(&record.severity_text),
            (F::SeverityNumber, RecordRef::Log { record, .. }) => Some(FieldValue::Int(record.severity_number as i64)),
            (F::EventName, RecordRef::Log { record, .. }) => non_empty(&record.event_name),
            (F::Flags, RecordRef::Log { record, .. }) => Some(FieldValue::Int(record.flags as i64)),
            (F::Flags, RecordRef::Span { span, .. }) => Some(FieldValue::Int(span.flags as i64)),
            (F::Name, RecordRef::Span { span, .. }) => non_empty(&span.name),
            (F::Name, RecordRef::Point { metric, .. }) => non_empty(&metric.name),
            (F::ParentSpanId, RecordRef::Span { span, .. }) => non_empty_id(&span.parent_span_id),
            (F::Kind, RecordRef::Span { span, .. }) => Some(FieldValue::Str(Cow::Borrowed(span_kind_name(span.kind)))),
            (F::StatusCode, RecordRef::Span { span, .. }) => {
                Some(FieldValue::Str(Cow::Borrowed(status_code_name(span.status.as_ref().map_or(0, |s| s.code)))))
            }
            (F::StatusMessage, RecordRef::Span { span, .. }) => {
                span.status.as_ref().and_then(|s| non_empty(&s.message))
            }
            (F::DurationMs, RecordRef::Span { span, .. }) => {
                Some(FieldValue::Double(span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) as f64 / 1e6))
            }
            (F::Unit, RecordRef::Point { metric, .. }) => non_empty(&metric.unit),
            (F::Description, RecordRef::Point { metric, .. }) => non_empty(&metric.description),
            (F::MetricType, RecordRef::Point { metric, .. }) => {
                Some(FieldValue::Str(Cow::Borrowed(metric_type_name(metric.data.as_ref()))))
            }
            (F::Value, RecordRef::Point { point, .. }) => point.value().map(FieldValue::Double),
            _ => None,
        }
    }
}

/// Mutable access to one record, for transforms that edit records in place.
#[derive(Debug)]
pub enum RecordMut<'a> {
    /// A log record.
    Log {
        /// The record's resource (read-only: edit resources with `Batch::for_each_resource_mut`).
        resource: Option<&'a Resource>,
        /// The record.
        record: &'a mut LogRecord,
    },
    /// A span.
    Span {
        /// The span's resource.
        resource: Option<&'a Resource>,
        /// The span.
        span: &'a mut Span,
    },
    /// A metric data point (only its attributes are editable).
    Point {
        /// The point's resource.
        resource: Option<&'a Resource>,
        /// The metric's name.
        name: &'a str,
        /// The point's attributes.
        attributes: &'a mut Vec<KeyValue>,
    },
}

impl RecordMut<'_> {
    /// The record's attributes, for editing.
    pub fn attributes_mut(&mut self) -> &mut Vec<KeyValue> {
        match self {
            RecordMut::Log { record, .. } => &mut record.attributes,
            RecordMut::Span { span, .. } => &mut span.attributes,
            RecordMut::Point { attributes, .. } => attributes,
        }
    }

    /// The log body, for editing (`None` for spans and points).
    pub fn body_mut(&mut self) -> Option<&mut Option<AnyValue>> {
        match self {
            RecordMut::Log { record, .. } => Some(&mut record.body),
            _ => None,
        }
    }

    /// The record's resource.
    pub fn resource(&self) -> Option<&Resource> {
        match self {
            RecordMut::Log { resource, .. } | RecordMut::Span { resource, .. } | RecordMut::Point { resource, .. } => {
                *resource
            }
        }
    }
}
