//! NDJSON encoding: one JSON object per log record, span or metric point.
//!
//! The shape is documented for users in `docs/event-shape.md`; keep the two in step.
//! Documents are written straight into a reused byte buffer: no intermediate
//! `serde_json::Value`, no per-record allocation beyond hex ids.

use base64::Engine;

use crate::batch::{Batch, Promote};
use crate::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
use crate::otlp::metrics::v1::{Metric, metric::Data};
use crate::otlp::resource::v1::Resource;
use crate::record::{PointRef, RecordRef, hex, metric_type_name, span_kind_name, status_code_name};

/// Writes every record of `batch` as one JSON line into `out`.
pub fn write_ndjson(batch: &Batch, out: &mut Vec<u8>) {
    let promote = batch.meta.promote.as_deref();
    let fallback = batch.meta.received_unix_nano;
    batch.for_each(|r| {
        write_record(out, &r, promote, fallback);
        out.push(b'\n');
    });
}

/// Writes one record as a JSON object (no trailing newline). `fallback_time` is used
/// as `@timestamp` when the record carries no time.
pub fn write_record(out: &mut Vec<u8>, record: &RecordRef<'_>, promote: Option<&Promote>, fallback_time: u64) {
    let mut obj = Obj::open(out);
    let time = match record.time_unix_nano() {
        0 => fallback_time,
        t => t,
    };
    obj.key("@timestamp");
    write_time(obj.out, time);
    match *record {
        RecordRef::Log { record: log, .. } => {
            obj.str("signal", "log");
            if log.observed_time_unix_nano != 0 {
                obj.key("observed_timestamp");
                write_time(obj.out, log.observed_time_unix_nano);
            }
            obj.opt_str("severity_text", &log.severity_text);
            if log.severity_number != 0 {
                obj.num("severity_number", log.severity_number as i64);
            }
            if let Some(body) = log.body.as_ref().filter(|b| b.value.is_some()) {
                obj.key("body");
                write_any(obj.out, body);
            }
            obj.opt_str("event_name", &log.event_name);
            obj.id("trace_id", &log.trace_id);
            obj.id("span_id", &log.span_id);
            if log.flags != 0 {
                obj.num("flags", log.flags as i64);
            }
        }
        RecordRef::Span { span, .. } => {
            obj.str("signal", "span");
            obj.key("end_timestamp");
            write_time(obj.out, span.end_time_unix_nano);
            obj.float("duration_ms", span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) as f64 / 1e6);
            obj.id("trace_id", &span.trace_id);
            obj.id("span_id", &span.span_id);
            obj.id("parent_span_id", &span.parent_span_id);
            obj.opt_str("trace_state", &span.trace_state);
            obj.str("name", &span.name);
            obj.str("kind", span_kind_name(span.kind));
            obj.key("status");
            let mut status = Obj::open(obj.out);
            let (code, message) = span.status.as_ref().map_or((0, ""), |s| (s.code, s.message.as_str()));
            status.str("code", status_code_name(code));
            status.opt_str("message", message);
            status.close();
            if !span.events.is_empty() {
                obj.key("events");
                obj.out.push(b'[');
                for (i, e) in span.events.iter().enumerate() {
                    if i > 0 {
                        obj.out.push(b',');
                    }
                    let mut ev = Obj::open(obj.out);
                    ev.key("timestamp");
                    write_time(ev.out, e.time_unix_nano);
                    ev.str("name", &e.name);
                    ev.attrs("attributes", &e.attributes);
                    ev.close();
                }
                obj.out.push(b']');
            }
            if !span.links.is_empty() {
                obj.key("links");
                obj.out.push(b'[');
                for (i, l) in span.links.iter().enumerate() {
                    if i > 0 {
                        obj.out.push(b',');
                    }
                    let mut link = Obj::open(obj.out);
                    link.id("trace_id", &l.trace_id);
                    link.id("span_id", &l.span_id);
                    link.opt_str("trace_state", &l.trace_state);
                    link.attrs("attributes", &l.attributes);
                    link.close();
                }
                obj.out.push(b']');
            }
        }
        RecordRef::Point { metric, point, .. } => {
            obj.str("signal", "metric");
            if point.start_time_unix_nano() != 0 {
                obj.key("start_timestamp");
                write_time(obj.out, point.start_time_unix_nano());
            }
            write_point(&mut obj, metric, point);
        }
    }
    obj.attrs("attributes", record.attributes());
    if let Some(resource) = record.resource() {
        obj.attrs("resource", &resource.attributes);
    }
    if let Some(scope) = record.scope() {
        write_scope(&mut obj, scope);
    }
    if let (Some(promote), Some(resource)) = (promote, record.resource()) {
        write_promoted(&mut obj, promote, resource);
    }
    obj.close();
}

fn write_point(obj: &mut Obj<'_>, metric: &Metric, point: PointRef<'_>) {
    obj.str("name", &metric.name);
    obj.opt_str("description", &metric.description);
    obj.opt_str("unit", &metric.unit);
    obj.str("type", metric_type_name(metric.data.as_ref()));
    let temporality = match &metric.data {
        Some(Data::Sum(s)) => {
            obj.bool("monotonic", s.is_monotonic);
            s.aggregation_temporality
        }
        Some(Data::Histogram(h)) => h.aggregation_temporality,
        Some(Data::ExponentialHistogram(h)) => h.aggregation_temporality,
        _ => 0,
    };
    match temporality {
        1 => obj.str("temporality", "delta"),
        2 => obj.str("temporality", "cumulative"),
        _ => {}
    }
    match point {
        PointRef::Number(_) => {
            if let Some(v) = point.value() {
                obj.float("value", v);
            }
        }
        PointRef::Histogram(p) => {
            obj.num("count", p.count as i64);
            opt_float(obj, "sum", p.sum);
            opt_float(obj, "min", p.min);
            opt_float(obj, "max", p.max);
            obj.key("bucket_counts");
            serde_json::to_writer(&mut *obj.out, &p.bucket_counts).expect("vec write");
            obj.key("explicit_bounds");
            serde_json::to_writer(&mut *obj.out, &p.explicit_bounds).expect("vec write");
        }
        PointRef::ExponentialHistogram(p) => {
            obj.num("count", p.count as i64);
            opt_float(obj, "sum", p.sum);
            opt_float(obj, "min", p.min);
            opt_float(obj, "max", p.max);
            obj.num("scale", p.scale as i64);
            obj.num("zero_count", p.zero_count as i64);
            for (key, buckets) in [("positive", &p.positive), ("negative", &p.negative)] {
                if let Some(b) = buckets {
                    obj.key(key);
                    let mut o = Obj::open(obj.out);
                    o.num("offset", b.offset as i64);
                    o.key("bucket_counts");
                    serde_json::to_writer(&mut *o.out, &b.bucket_counts).expect("vec write");
                    o.close();
                }
            }
        }
        PointRef::Summary(p) => {
            obj.num("count", p.count as i64);
            obj.float("sum", p.sum);
            obj.key("quantiles");
            obj.out.push(b'[');
            for (i, q) in p.quantile_values.iter().enumerate() {
                if i > 0 {
                    obj.out.push(b',');
                }
                let mut o = Obj::open(obj.out);
                o.float("quantile", q.quantile);
                o.float("value", q.value);
                o.close();
            }
            obj.out.push(b']');
        }
    }
}

fn opt_float(obj: &mut Obj<'_>, key: &str, v: Option<f64>) {
    if let Some(v) = v {
        obj.float(key, v);
    }
}

fn write_scope(obj: &mut Obj<'_>, scope: &InstrumentationScope) {
    if scope.name.is_empty() && scope.version.is_empty() && scope.attributes.is_empty() {
        return;
    }
    obj.key("scope");
    let mut s = Obj::open(obj.out);
    s.opt_str("name", &scope.name);
    s.opt_str("version", &scope.version);
    s.attrs("attributes", &scope.attributes);
    s.close();
}

fn write_promoted(obj: &mut Obj<'_>, promote: &Promote, resource: &Resource) {
    for kv in &resource.attributes {
        if let Some(v) = kv.value.as_ref().filter(|_| promote.matches(&kv.key)) {
            obj.key(&kv.key);
            write_any(obj.out, v);
        }
    }
}

/// Writes an OTLP `AnyValue` as plain JSON (bytes as base64, maps as objects).
pub fn write_any(out: &mut Vec<u8>, v: &AnyValue) {
    match &v.value {
        None => out.extend_from_slice(b"null"),
        Some(Value::StringValue(s)) => write_str(out, s),
        Some(Value::BoolValue(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Some(Value::IntValue(i)) => write_int(out, *i),
        Some(Value::DoubleValue(d)) => write_float(out, *d),
        Some(Value::ArrayValue(a)) => {
            out.push(b'[');
            for (i, v) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_any(out, v);
            }
            out.push(b']');
        }
        Some(Value::KvlistValue(kvs)) => write_attrs(out, &kvs.values),
        Some(Value::BytesValue(b)) => {
            out.push(b'"');
            out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(b).as_bytes());
            out.push(b'"');
        }
        Some(Value::StringValueStrindex(i)) => write_int(out, *i as i64),
    }
}

fn write_attrs(out: &mut Vec<u8>, attrs: &[KeyValue]) {
    let mut o = Obj::open(out);
    for kv in attrs {
        o.key(&kv.key);
        match &kv.value {
            Some(v) => write_any(o.out, v),
            None => o.out.extend_from_slice(b"null"),
        }
    }
    o.close();
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaper is the fast, correct one; writing to a Vec cannot fail.
    serde_json::to_writer(out, s).expect("writing to a Vec cannot fail");
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    serde_json::to_writer(out, &i).expect("writing to a Vec cannot fail");
}

fn write_float(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        serde_json::to_writer(out, &f).expect("writing to a Vec cannot fail");
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Writes a Unix-nanosecond time as an RFC 3339 UTC string with nanoseconds.
pub fn write_time(out: &mut Vec<u8>, unix_nano: u64) {
    let secs = unix_nano / 1_000_000_000;
    let nanos = unix_nano % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut buf = *b"\"0000-00-00T00:00:00.000000000Z\"";
    put(&mut buf[1..5], y as u64);
    put(&mut buf[6..8], m as u64);
    put(&mut buf[9..11], d as u64);
    put(&mut buf[12..14], rem / 3600);
    put(&mut buf[15..17], rem / 60 % 60);
    put(&mut buf[18..20], rem % 60);
    put(&mut buf[21..30], nanos);
    out.extend_from_slice(&buf);
}

fn put(dst: &mut [u8], mut v: u64) {
    for b in dst.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A JSON object being written: tracks whether a comma is due.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(b':');
    }

    fn str(&mut self, key: &str, v: &str) {
        self.key(key);
        write_str(self.out, v);
    }

    fn opt_str(&mut self, key: &str, v: &str) {
        if !v.is_empty() {
            self.str(key, v);
        }
    }

    fn num(&mut self, key: &str, v: i64) {
        self.key(key);
        write_int(self.out, v);
    }

    fn float(&mut self, key: &str, v: f64) {
        self.key(key);
        write_float(self.out, v);
    }

    fn bool(&mut self, key: &str, v: bool) {
        self.key(key);
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
    }

    fn id(&mut self, key: &str, id: &[u8]) {
        if !id.is_empty() {
            self.key(key);
            self.out.push(b'"');
            self.out.extend_from_slice(hex(id).as_bytes());
            self.out.push(b'"');
        }
    }

    fn attrs(&mut self, key: &str, attrs: &[KeyValue]) {
        if !attrs.is_empty() {
            self.key(key);
            write_attrs(self.out, attrs);
        }
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use crate::value::any_string;
    use std::sync::Arc;

    #[test]
    fn formats_rfc3339_nanos() {
        let mut out = Vec::new();
        write_time(&mut out, 1_700_000_000_123_456_789);
        assert_eq!(out, b"\"2023-11-14T22:13:20.123456789Z\"");
        out.clear();
        write_time(&mut out, 951_782_400_000_000_000); // 2000-02-29
        assert_eq!(out, b"\"2000-02-29T00:00:00.000000000Z\"");
    }

    #[test]
    fn log_document_shape() {
        let kv = |k: &str, v: &str| KeyValue { key: k.into(), value: Some(any_string(v)), ..Default::default() };
        let mut batch = Batch::logs(vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "api"), kv("host.name", "h1")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope { name: "lib".into(), ..Default::default() }),
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_000,
                    severity_text: "ERROR".into(),
                    severity_number: 17,
                    body: Some(any_string("boom \"quoted\"")),
                    trace_id: vec![0xab; 16],
                    attributes: vec![kv("user", "u1")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        batch.meta.promote = Some(Arc::new(Promote::new(["service.name".to_string()])));
        let mut out = Vec::new();
        write_ndjson(&batch, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with('\n'));
        let doc: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(doc["@timestamp"], "2023-11-14T22:13:20.000000000Z");
        assert_eq!(doc["signal"], "log");
        assert_eq!(doc["severity_text"], "ERROR");
        assert_eq!(doc["severity_number"], 17);
        assert_eq!(doc["body"], "boom \"quoted\"");
        assert_eq!(doc["trace_id"], "ab".repeat(16));
        assert_eq!(doc["attributes"]["user"], "u1");
        assert_eq!(doc["resource"]["service.name"], "api");
        assert_eq!(doc["scope"]["name"], "lib");
        assert_eq!(doc["service.name"], "api");
        assert!(doc.get("host.name").is_none(), "only promoted keys are lifted");
    }
}
