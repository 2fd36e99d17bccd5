//! Request bodies → OTLP log records: JSON (objects, arrays, or several values in a
//! row), NDJSON and text lines, with the timestamp, message, service and severity taken
//! from configurable fields. A body is decoded whole or refused whole (400), so a
//! client's retry never duplicates the part that was already taken.

use indexmap::IndexMap;
use lookout_event::otlp::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value};
use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_event::otlp::resource::v1::Resource;
use serde::Deserialize;
use serde_json::{Map, Value};

/// How a body is framed (`encoding:`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    /// One JSON value, an array of them, or several in a row (whitespace between).
    #[default]
    Json,
    /// One JSON value per line; blank lines are skipped.
    Ndjson,
    /// One record per line, the line its message.
    Text,
}

/// Which fields carry the timestamp, message and service; `None` tries the usual names.
#[derive(Debug, Clone, Default)]
pub struct FieldMap {
    /// `timestamp_field`.
    pub timestamp: Option<String>,
    /// `message_field`.
    pub message: Option<String>,
    /// `service_field`.
    pub service: Option<String>,
}

const TIMESTAMP_FIELDS: &[&str] = &["timestamp", "@timestamp", "time", "date"];
const MESSAGE_FIELDS: &[&str] = &["message", "log", "msg"];
const SERVICE_FIELDS: &[&str] = &["service", "service.name"];
const SEVERITY_FIELDS: &[&str] = &["level", "severity"];

/// Decodes a whole body into log records grouped by service, stamped `now` (unix ns)
/// as observed time (and as time, where the record names none). Errors say where.
pub fn decode(body: &[u8], encoding: BodyEncoding, fields: &FieldMap, now: u64) -> Result<Vec<ResourceLogs>, String> {
    let mut records = Records::new(fields, now);
    match encoding {
        BodyEncoding::Json => {
            let mut any = false;
            for value in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
                let value = value.map_err(|e| format!("invalid JSON body: {e}"))?;
                any = true;
                match value {
                    Value::Array(items) => items.into_iter().for_each(|v| records.push_value(v)),
                    v => records.push_value(v),
                }
            }
            if !any {
                return Err("empty body: send a JSON object or an array of them".into());
            }
        }
        BodyEncoding::Ndjson => {
            for (n, line) in body.split(|b| *b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let value: Value =
                    serde_json::from_slice(line).map_err(|e| format!("invalid JSON on line {}: {e}", n + 1))?;
                records.push_value(value);
            }
        }
        BodyEncoding::Text => {
            let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8 text: {e}"))?;
            for line in text.lines() {
                if !line.trim().is_empty() {
                    records.push_value(Value::String(line.to_string()));
                }
            }
        }
    }
    Ok(records.finish())
}

struct Records<'a> {
    fields: &'a FieldMap,
    now: u64,
    /// Records by `service.name` (`None`: no service field), in arrival order.
    by_service: IndexMap<Option<String>, Vec<LogRecord>>,
}

impl<'a> Records<'a> {
    fn new(fields: &'a FieldMap, now: u64) -> Self {
        Records { fields, now, by_service: IndexMap::new() }
    }

    fn push_value(&mut self, value: Value) {
        let mut record =
            LogRecord { time_unix_nano: self.now, observed_time_unix_nano: self.now, ..Default::default() };
        let service = match value {
            Value::Object(object) => self.map_object(object, &mut record),
            // A bare value (a string in an array, a text line) is the message.
            other => {
                record.body = Some(any_value(other));
                None
            }
        };
        self.by_service.entry(service).or_default().push(record);
    }

    /// Moves the known fields onto the record; the rest become attributes.
    fn map_object(&self, mut object: Map<String, Value>, record: &mut LogRecord) -> Option<String> {
        let f = self.fields;
        if let Some((key, nanos)) = pick(&object, f.timestamp.as_deref(), TIMESTAMP_FIELDS)
            .and_then(|k| parse_timestamp(&object[&k]).map(|t| (k, t)))
        {
            record.time_unix_nano = nanos;
            object.remove(&key);
        }
        if let Some(key) = pick(&object, f.message.as_deref(), MESSAGE_FIELDS) {
            record.body = object.remove(&key).map(any_value);
        }
        let service = pick(&object, f.service.as_deref(), SERVICE_FIELDS)
            .filter(|k| object[k].is_string())
            .and_then(|k| object.remove(&k))
            .and_then(|v| v.as_str().map(str::to_string));
        if let Some(key) = pick(&object, None, SEVERITY_FIELDS).filter(|k| object[k].is_string()) {
            let text = object.remove(&key).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            record.severity_number = severity_number(&text);
            record.severity_text = text;
        }
        record.attributes =
            object.into_iter().filter(|(_, v)| !v.is_null()).map(|(key, v)| kv(key, any_value(v))).collect();
        service
    }

    fn finish(self) -> Vec<ResourceLogs> {
        let scope = InstrumentationScope { name: "lookout.http_server".into(), ..Default::default() };
        self.by_service
            .into_iter()
            .map(|(service, log_records)| ResourceLogs {
                resource: Some(Resource {
                    attributes: service.map(|s| kv("service.name".into(), string(s))).into_iter().collect(),
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs { scope: Some(scope.clone()), log_records, ..Default::default() }],
                ..Default::default()
            })
            .collect()
    }
}

/// The configured field if set (and present), else the first usual name present.
fn pick(object: &Map<String, Value>, configured: Option<&str>, usual: &[&str]) -> Option<String> {
    match configured {
        Some(name) => object.contains_key(name).then(|| name.to_string()),
        None => usual.iter().find(|k| object.contains_key(**k)).map(|k| k.to_string()),
    }
}

fn kv(key: String, value: AnyValue) -> KeyValue {
    KeyValue { key, value: Some(value), ..Default::default() }
}

fn string(s: String) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(s)) }
}

/// JSON → OTLP value; objects stay nested (kvlist), arrays stay arrays.
fn any_value(value: Value) -> AnyValue {
    use any_value::Value as V;
    let v = match value {
        Value::Null => None,
        Value::Bool(b) => Some(V::BoolValue(b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(V::IntValue(i)),
            None => n.as_f64().map(V::DoubleValue),
        },
        Value::String(s) => Some(V::StringValue(s)),
        Value::Array(items) => Some(V::ArrayValue(ArrayValue { values: items.into_iter().map(any_value).collect() })),
        Value::Object(fields) => Some(V::KvlistValue(KeyValueList {
            values: fields.into_iter().map(|(key, v)| kv(key, any_value(v))).collect(),
        })),
    };
    AnyValue { value: v }
}

/// RFC 3339 text, or epoch seconds / milliseconds / microseconds / nanoseconds told
/// apart by magnitude (as numbers or numeric strings); `None` leaves the field an
/// attribute.
pub fn parse_timestamp(value: &Value) -> Option<u64> {
    let text;
    let number = match value {
        Value::Number(n) => n,
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => return u64::try_from(t.timestamp_nanos_opt()?).ok(),
            Err(_) => {
                text = s.trim().parse::<serde_json::Number>().ok()?;
                &text
            }
        },
        _ => return None,
    };
    // Below 1e11 seconds is year 5138; above, the number counts smaller units.
    const S: u64 = 100_000_000_000;
    const MS: u64 = 100_000_000_000_000;
    const US: u64 = 100_000_000_000_000_000;
    if let Some(i) = number.as_u64() {
        // Integers exactly: f64 would round milliseconds × 1e6.
        return match i {
            i if i < S => i.checked_mul(1_000_000_000),
            i if i < MS => i.checked_mul(1_000_000),
            i if i < US => i.checked_mul(1_000),
            i => Some(i),
        };
    }
    let epoch = number.as_f64()?;
    if !epoch.is_finite() || epoch < 0.0 {
        return None;
    }
    let unit: u64 = if epoch < S as f64 {
        1_000_000_000
    } else if epoch < MS as f64 {
        1_000_000
    } else if epoch < US as f64 {
        1_000
    } else {
        1
    };
    // Whole units and the fraction apart, the fraction to the microsecond: an f64 of
    // epoch seconds holds no more, and `1714979294.25 * 1e9` would come out ….249999872.
    let whole = epoch.trunc();
    let fraction = if unit >= 1000 { ((epoch - whole) * unit as f64 / 1000.0).round() as u64 * 1000 } else { 0 };
    (whole < (u64::MAX / unit) as f64).then(|| whole as u64 * unit + fraction.min(unit))
}

/// Common level names → OTel severity numbers (0, unspecified, for unknown names).
pub fn severity_number(text: &str) -> i32 {
    match text.trim().to_ascii_lowercase().as_str() {
        "trace" => 1,
        "debug" | "dbg" => 5,
        "info" | "information" | "informational" => 9,
        "notice" => 10,
        "warn" | "warning" => 13,
        "error" | "err" => 17,
        "crit" | "critical" => 18,
        "alert" => 19,
        "fatal" | "emerg" | "emergency" | "panic" => 21,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str, encoding: BodyEncoding) -> Vec<ResourceLogs> {
        decode(body.as_bytes(), encoding, &FieldMap::default(), 7).unwrap()
    }

    fn records(r: &[ResourceLogs]) -> Vec<&LogRecord> {
        r.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records).collect()
    }

    fn body(r: &LogRecord) -> &str {
        match r.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s,
            other => panic!("not a string body: {other:?}"),
        }
    }

    #[test]
    fn json_object_maps_known_fields() {
        let r = one(
            r#"{"@timestamp":"2024-01-02T03:04:05.5Z","msg":"hi","service":"shop","level":"WARN","user":{"id":7},"tags":["a"],"n":null}"#,
            BodyEncoding::Json,
        );
        assert_eq!(r.len(), 1);
        let res = &r[0].resource.as_ref().unwrap().attributes;
        assert_eq!(res[0].key, "service.name");
        let rec = records(&r)[0];
        assert_eq!(body(rec), "hi");
        assert_eq!(rec.time_unix_nano, 1_704_164_645_500_000_000);
        assert_eq!(rec.observed_time_unix_nano, 7);
        assert_eq!((rec.severity_text.as_str(), rec.severity_number), ("WARN", 13));
        let keys: Vec<_> = rec.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["tags", "user"], "known fields moved, null dropped");
        assert!(matches!(rec.attributes[1].value.as_ref().unwrap().value, Some(any_value::Value::KvlistValue(_))));
    }

    #[test]
    fn json_array_and_concatenated_values_and_groups_by_service() {
        let r = one(
            r#"[{"message":"a","service":"x"},{"message":"b","service":"y"}] {"message":"c","service":"x"}"#,
            BodyEncoding::Json,
        );
        assert_eq!(r.len(), 2);
        assert_eq!(records(&r).iter().map(|r| body(r)).collect::<Vec<_>>(), ["a", "c", "b"]);
    }

    #[test]
    fn malformed_bodies_are_refused_whole() {
        let f = FieldMap::default();
        let err = decode(b"{\"message\":\"a\"}\n{oops\n", BodyEncoding::Ndjson, &f, 0).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(decode(b"[{\"a\":1},", BodyEncoding::Json, &f, 0).is_err());
        assert!(decode(b"  ", BodyEncoding::Json, &f, 0).is_err());
        assert!(decode(b"\xff\xfe", BodyEncoding::Text, &f, 0).is_err());
    }

    #[test]
    fn ndjson_and_text_lines() {
        let r = one("{\"log\":\"one\"}\r\n\n{\"log\":\"two\"}\n", BodyEncoding::Ndjson);
        assert_eq!(records(&r).iter().map(|r| body(r)).collect::<Vec<_>>(), ["one", "two"]);
        let r = one("first line\r\n\nsecond\n", BodyEncoding::Text);
        assert_eq!(records(&r).iter().map(|r| body(r)).collect::<Vec<_>>(), ["first line", "second"]);
    }

    #[test]
    fn configured_fields_win() {
        let f = FieldMap { timestamp: Some("ts".into()), message: Some("text".into()), service: Some("app".into()) };
        let r = decode(br#"{"ts":1700000000123,"text":"x","message":"kept","app":"a"}"#, BodyEncoding::Json, &f, 0)
            .unwrap();
        let rec = records(&r)[0];
        assert_eq!(body(rec), "x");
        assert_eq!(rec.time_unix_nano, 1_700_000_000_123_000_000);
        assert_eq!(rec.attributes[0].key, "message");
    }

    #[test]
    fn epoch_units_by_magnitude() {
        let t = |v: Value| parse_timestamp(&v);
        assert_eq!(t(serde_json::json!(1_700_000_000)), Some(1_700_000_000_000_000_000));
        assert_eq!(t(serde_json::json!(1_700_000_000.5)), Some(1_700_000_000_500_000_000));
        assert_eq!(t(serde_json::json!(1_700_000_000_000u64)), Some(1_700_000_000_000_000_000));
        assert_eq!(t(serde_json::json!(1_700_000_000_000_000u64)), Some(1_700_000_000_000_000_000));
        assert_eq!(t(serde_json::json!(1_700_000_000_000_000_000u64)), Some(1_700_000_000_000_000_000));
        assert_eq!(t(serde_json::json!("1700000000")), Some(1_700_000_000_000_000_000));
        assert_eq!(t(serde_json::json!(1_714_979_294.25)), Some(1_714_979_294_250_000_000));
        assert_eq!(t(serde_json::json!(1_714_979_294.123_456)), Some(1_714_979_294_123_456_000));
        assert_eq!(t(serde_json::json!("yesterday")), None);
        assert_eq!(t(serde_json::json!(-1)), None);
    }
}
