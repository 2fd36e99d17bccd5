//! Vector events → OTLP requests, so they take the otlp source's admission path.
//!
//! Logs: `message` → body, `timestamp` → time, `service` → resource `service.name`,
//! `host` → resource `host.name`, `level`/`severity` → severity; every other field
//! (`source_type` included) → an attribute, maps kept nested. Metrics: the name is
//! `namespace_name`, tags are point attributes; counters are sums (absolute:
//! cumulative, incremental: delta), gauges gauges, aggregated histograms histograms.
//! Other metric kinds are counted as rejected; traces refuse the request.

use std::collections::HashMap;

use indexmap::IndexMap;
use lookout_event::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_event::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_event::otlp::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value};
use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_event::otlp::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, metric, number_data_point,
};
use lookout_event::otlp::resource::v1::Resource;

use super::proto::{self, Event, Kind, MetricKind, MetricValue};
use crate::http_server::decode::severity_number;

/// One `PushEvents` request, mapped.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Log records, grouped by (service, host); `None` without logs.
    pub logs: Option<ExportLogsServiceRequest>,
    /// Metrics; `None` without any that map.
    pub metrics: Option<ExportMetricsServiceRequest>,
    /// Metric events of kinds Lookout does not store (sets, distributions, summaries, sketches).
    pub unsupported_metrics: usize,
}

const SCOPE: &str = "lookout.vector";

/// Maps a whole request, `now` (unix ns) as observed time and as the time of events
/// without one. Trace events refuse the whole request (nothing of it is taken).
pub fn map(request: proto::PushEventsRequest, now: u64) -> Result<Mapped, String> {
    let mut logs: IndexMap<(Option<String>, Option<String>), Vec<LogRecord>> = IndexMap::new();
    let mut metrics = Vec::new();
    let mut unsupported_metrics = 0;
    for (i, wrapper) in request.events.into_iter().enumerate() {
        match wrapper.event {
            Some(Event::Log(log)) => {
                let (resource, record) = log_record(log, now)?;
                logs.entry(resource).or_default().push(record);
            }
            Some(Event::Metric(m)) => match metric(m, now) {
                Some(m) => metrics.push(m),
                None => unsupported_metrics += 1,
            },
            Some(Event::Trace(_)) => {
                return Err(format!(
                    "event {i} is a trace: the vector source takes logs and metrics; send traces over OTLP"
                ));
            }
            None => return Err(format!("event {i} carries no log, metric or trace")),
        }
    }
    let scope = || Some(InstrumentationScope { name: SCOPE.into(), ..Default::default() });
    let logs = (!logs.is_empty()).then(|| ExportLogsServiceRequest {
        resource_logs: logs
            .into_iter()
            .map(|((service, host), log_records)| ResourceLogs {
                resource: Some(resource(service, host)),
                scope_logs: vec![ScopeLogs { scope: scope(), log_records, ..Default::default() }],
                ..Default::default()
            })
            .collect(),
    });
    let metrics = (!metrics.is_empty()).then(|| ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource::default()),
            scope_metrics: vec![ScopeMetrics { scope: scope(), metrics, ..Default::default() }],
            ..Default::default()
        }],
    });
    Ok(Mapped { logs, metrics, unsupported_metrics })
}

fn resource(service: Option<String>, host: Option<String>) -> Resource {
    let attributes = [("service.name", service), ("host.name", host)]
        .into_iter()
        .filter_map(|(k, v)| Some(kv(k.into(), string(v?))))
        .collect();
    Resource { attributes, ..Default::default() }
}

fn kv(key: String, value: AnyValue) -> KeyValue {
    KeyValue { key, value: Some(value), ..Default::default() }
}

fn string(s: String) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(s)) }
}

fn timestamp_nanos(t: &proto::Timestamp) -> Option<u64> {
    let nanos = u32::try_from(t.nanos).ok().filter(|n| *n < 1_000_000_000)?;
    u64::try_from(t.seconds).ok()?.checked_mul(1_000_000_000)?.checked_add(u64::from(nanos))
}

fn rfc3339(t: &proto::Timestamp) -> String {
    match chrono::DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32) {
        Some(d) => d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => format!("{}.{:09}", t.seconds, t.nanos),
    }
}

/// Vector value → OTLP value: bytes that are UTF-8 become strings, timestamps RFC 3339
/// text, maps nested key-value lists.
fn any(value: proto::Value) -> AnyValue {
    use any_value::Value as V;
    let v = match value.kind {
        None | Some(Kind::Null(_)) => None,
        Some(Kind::RawBytes(b)) => Some(match String::from_utf8(b) {
            Ok(s) => V::StringValue(s),
            Err(e) => V::BytesValue(e.into_bytes()),
        }),
        Some(Kind::Timestamp(t)) => Some(V::StringValue(rfc3339(&t))),
        Some(Kind::Integer(i)) => Some(V::IntValue(i)),
        Some(Kind::Float(f)) => Some(V::DoubleValue(f)),
        Some(Kind::Boolean(b)) => Some(V::BoolValue(b)),
        Some(Kind::Map(m)) => Some(V::KvlistValue(KeyValueList { values: attributes(m.fields) })),
        Some(Kind::Array(a)) => Some(V::ArrayValue(ArrayValue { values: a.items.into_iter().map(any).collect() })),
    };
    AnyValue { value: v }
}

/// Fields → attributes, null fields left out, in key order (protobuf maps have none).
fn attributes(fields: HashMap<String, proto::Value>) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = fields
        .into_iter()
        .filter(|(_, v)| !matches!(v.kind, None | Some(Kind::Null(_))))
        .map(|(k, v)| kv(k, any(v)))
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

fn text(value: proto::Value) -> Option<String> {
    match value.kind {
        Some(Kind::RawBytes(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
        _ => None,
    }
}

type ResourceKey = (Option<String>, Option<String>);

fn log_record(log: proto::Log, now: u64) -> Result<(ResourceKey, LogRecord), String> {
    let mut fields = match log.value {
        Some(proto::Value { kind: Some(Kind::Map(m)) }) => m.fields,
        // A log whose whole value is not an object: that value is the message.
        Some(other) if other.kind.is_some() => HashMap::from([("message".to_string(), other)]),
        _ => log.fields,
    };
    let mut record = LogRecord { time_unix_nano: now, observed_time_unix_nano: now, ..Default::default() };
    if let Some(t) = fields.get("timestamp").and_then(|v| match &v.kind {
        Some(Kind::Timestamp(t)) => timestamp_nanos(t),
        Some(Kind::RawBytes(b)) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s.trim()).ok())
            .and_then(|d| u64::try_from(d.timestamp_nanos_opt()?).ok()),
        _ => None,
    }) {
        record.time_unix_nano = t;
        fields.remove("timestamp");
    }
    if let Some(message) = fields.remove("message") {
        record.body = Some(any(message));
    }
    let service = take_text(&mut fields, "service");
    let host = take_text(&mut fields, "host");
    for key in ["level", "severity"] {
        if let Some(level) = take_text(&mut fields, key) {
            record.severity_number = severity_number(&level);
            record.severity_text = level;
            break;
        }
    }
    record.attributes = attributes(fields);
    Ok(((service, host), record))
}

/// Removes a field only if it is text (a map-valued `host` stays an attribute).
fn take_text(fields: &mut HashMap<String, proto::Value>, key: &str) -> Option<String> {
    if matches!(fields.get(key)?.kind, Some(Kind::RawBytes(_))) { fields.remove(key).and_then(text) } else { None }
}

fn metric_name(m: &proto::Metric) -> String {
    if m.namespace.is_empty() { m.name.clone() } else { format!("{}_{}", m.namespace, m.name) }
}

/// Tags → point attributes: `tags_v2` (a tag may repeat: its last value wins, as
/// Vector's own Prometheus exporter does), else `tags_v1`; a bare tag is `""`.
fn tags(m: &mut proto::Metric) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = if m.tags_v2.is_empty() {
        std::mem::take(&mut m.tags_v1).into_iter().map(|(k, v)| kv(k, string(v))).collect()
    } else {
        std::mem::take(&mut m.tags_v2)
            .into_iter()
            .map(|(k, v)| (k, v.values.into_iter().last().and_then(|t| t.value).unwrap_or_default()))
            .map(|(k, v)| kv(k, string(v)))
            .collect()
    };
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// One metric event → an OTLP metric; `None` for kinds Lookout does not store.
fn metric(mut m: proto::Metric, now: u64) -> Option<Metric> {
    let name = metric_name(&m);
    let time = m.timestamp.as_ref().and_then(timestamp_nanos).unwrap_or(now);
    let attributes = tags(&mut m);
    let incremental = m.kind == MetricKind::Incremental as i32;
    let temporality =
        if incremental { AggregationTemporality::Delta } else { AggregationTemporality::Cumulative } as i32;
    // A delta point spans its interval; a cumulative one starts "unknown" (0).
    let start = if incremental { time.saturating_sub(u64::from(m.interval_ms) * 1_000_000) } else { 0 };
    let number = |value: f64| NumberDataPoint {
        attributes: attributes.clone(),
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    };
    let histogram = |buckets: Vec<(f64, u64)>, count: u64, sum: f64| {
        // Vector's buckets count per bucket, up to `upper_limit`; OTLP's explicit bounds
        // leave the overflow (above the last bound, or the +Inf bucket) as a last count.
        let mut bounds = Vec::with_capacity(buckets.len());
        let mut counts = Vec::with_capacity(buckets.len() + 1);
        for (upper, n) in buckets {
            if upper.is_finite() {
                bounds.push(upper);
                counts.push(n);
            }
        }
        let counted: u64 = counts.iter().sum();
        counts.push(count.saturating_sub(counted));
        metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: attributes.clone(),
                start_time_unix_nano: start,
                time_unix_nano: time,
                count,
                sum: Some(sum),
                bucket_counts: counts,
                explicit_bounds: bounds,
                ..Default::default()
            }],
            aggregation_temporality: temporality,
        })
    };
    let data = match m.value? {
        MetricValue::Counter(c) => metric::Data::Sum(Sum {
            data_points: vec![number(c.value)],
            aggregation_temporality: temporality,
            is_monotonic: true,
        }),
        // Vector's incremental gauges are rare (statsd `+n`); stored as the value sent.
        MetricValue::Gauge(g) => metric::Data::Gauge(Gauge { data_points: vec![number(g.value)] }),
        MetricValue::AggregatedHistogram3(h) => {
            histogram(h.buckets.iter().map(|b| (b.upper_limit, b.count)).collect(), h.count, h.sum)
        }
        MetricValue::AggregatedHistogram2(h) => histogram(
            h.buckets.iter().map(|b| (b.upper_limit, u64::from(b.count))).collect(),
            u64::from(h.count),
            h.sum,
        ),
        _ => return None,
    };
    Some(Metric { name, data: Some(data), ..Default::default() })
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
