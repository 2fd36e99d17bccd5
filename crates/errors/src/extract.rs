//! Exceptions out of a batch, as the OpenTelemetry semantic conventions record them:
//!
//! - a span event named `exception` with `exception.type`, `exception.message`,
//!   `exception.stacktrace` (what `span.record_exception(e)` writes in every SDK);
//! - a log record with `exception.type` or `exception.message` among its attributes
//!   (what the SDKs' logging bridges write for `logger.exception(...)`).
//!
//! A `fingerprint` attribute on the event, the span or the log record overrides the
//! grouping. Service, release and environment come from the resource
//! (`service.name`, `service.version`, `deployment.environment` or
//! `deployment.environment.name`).

use lookout_event::otlp::common::v1::{KeyValue, any_value::Value};
use lookout_event::otlp::resource::v1::Resource;
use lookout_event::{Batch, RecordRef, hex};

use crate::fingerprint::Exception;
use crate::group::{MAX_MESSAGE_BYTES, MAX_TRACE_BYTES, Occurrence, truncate};

/// Every exception in `batch`, with its occurrence; `received_ms` stands in for a
/// missing timestamp.
pub fn exceptions(batch: &Batch, received_ms: i64) -> Vec<(Exception, Occurrence)> {
    let mut out = Vec::new();
    batch.for_each(|r| match r {
        RecordRef::Span { resource, span, .. } => {
            for event in span.events.iter().filter(|e| e.name == "exception") {
                let attrs = &event.attributes;
                let fingerprint = string(attrs, "fingerprint").or_else(|| string(&span.attributes, "fingerprint"));
                let time = if event.time_unix_nano != 0 { event.time_unix_nano } else { span.start_time_unix_nano };
                out.push(build(attrs, fingerprint, resource, &r, time, received_ms, "span"));
            }
        }
        RecordRef::Log { resource, record, .. } => {
            let attrs = &record.attributes;
            if string(attrs, "exception.type").is_some() || string(attrs, "exception.message").is_some() {
                let time = r.time_unix_nano();
                out.push(build(attrs, string(attrs, "fingerprint"), resource, &r, time, received_ms, "log"));
            }
        }
        RecordRef::Point { .. } => {}
    });
    out
}

fn build(
    attrs: &[KeyValue],
    fingerprint: Option<String>,
    resource: Option<&Resource>,
    r: &RecordRef<'_>,
    time_unix_nano: u64,
    received_ms: i64,
    source: &str,
) -> (Exception, Occurrence) {
    let resource_attrs = resource.map_or(&[][..], |res| res.attributes.as_slice());
    let e = Exception {
        r#type: string(attrs, "exception.type").unwrap_or_default(),
        message: string(attrs, "exception.message").unwrap_or_default(),
        stacktrace: string(attrs, "exception.stacktrace").filter(|s| !s.trim().is_empty()),
        fingerprint,
    };
    let time_ms = if time_unix_nano == 0 { received_ms } else { (time_unix_nano / 1_000_000) as i64 };
    let o = Occurrence {
        time_ms,
        service: string(resource_attrs, "service.name").unwrap_or_default(),
        release: string(resource_attrs, "service.version").unwrap_or_default(),
        environment: string(resource_attrs, "deployment.environment")
            .or_else(|| string(resource_attrs, "deployment.environment.name"))
            .unwrap_or_default(),
        r#type: e.r#type.clone(),
        message: truncate(e.message.clone(), MAX_MESSAGE_BYTES),
        stacktrace: e.stacktrace.clone().map(|s| truncate(s, MAX_TRACE_BYTES)),
        trace_id: r.trace_id().filter(|id| id.iter().any(|b| *b != 0)).map(hex),
        span_id: r.span_id().filter(|id| id.iter().any(|b| *b != 0)).map(hex),
        source: source.to_string(),
        tenant: string(resource_attrs, lookout_event::TENANT).unwrap_or_default(),
    };
    (e, o)
}

/// A string attribute (other scalars as text; arrays and maps are not names).
fn string(attrs: &[KeyValue], key: &str) -> Option<String> {
    let v = lookout_event::get_attribute(attrs, key)?.value.as_ref()?;
    match v {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use lookout_event::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, span::Event};

    use super::*;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue { key: k.into(), value: Some(lookout_event::any_string(v)), ..Default::default() }
    }

    fn resource() -> Option<Resource> {
        Some(Resource {
            attributes: vec![
                kv("service.name", "checkout"),
                kv("service.version", "1.4.2"),
                kv("deployment.environment.name", "production"),
                kv("tenant", "shop"),
            ],
            ..Default::default()
        })
    }

    #[test]
    fn exception_span_events_and_log_records_with_exception_attributes() {
        let span = Span {
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            start_time_unix_nano: 5_000_000_000,
            attributes: vec![kv("fingerprint", "from-span")],
            events: vec![
                Event { name: "retry".into(), ..Default::default() },
                Event {
                    name: "exception".into(),
                    time_unix_nano: 7_000_000_000,
                    attributes: vec![
                        kv("exception.type", "KeyError"),
                        kv("exception.message", "'x'"),
                        kv("exception.stacktrace", "Traceback ..."),
                    ],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let traces = Batch::traces(vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans { spans: vec![span, Span::default()], ..Default::default() }],
            ..Default::default()
        }]);
        let found = exceptions(&traces, 1);
        assert_eq!(found.len(), 1, "only the `exception` event");
        let (e, o) = &found[0];
        assert_eq!(
            (e.r#type.as_str(), e.message.as_str(), e.fingerprint.as_deref()),
            ("KeyError", "'x'", Some("from-span"))
        );
        assert_eq!((o.time_ms, o.service.as_str(), o.release.as_str()), (7000, "checkout", "1.4.2"));
        assert_eq!((o.environment.as_str(), o.tenant.as_str()), ("production", "shop"));
        assert_eq!(o.trace_id.as_deref(), Some("abababababababababababababababab"));
        assert_eq!(o.source, "span");

        let logs = Batch::logs(vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord { attributes: vec![kv("exception.type", "OSError")], ..Default::default() },
                    LogRecord { attributes: vec![kv("http.route", "/pay")], ..Default::default() },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        let found = exceptions(&logs, 42);
        assert_eq!(found.len(), 1, "a log without exception attributes is not one");
        assert_eq!((found[0].1.time_ms, found[0].1.source.as_str(), found[0].1.trace_id.clone()), (42, "log", None));
        assert_eq!(found[0].0.stacktrace, None);
    }
}
