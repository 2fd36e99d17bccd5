//! Output documents back into OTLP log records: what `lookout replay dead-letter`
//! sends again. The inverse of [`encode`](crate::encode) for logs (`"signal": "log"`):
//! `@timestamp`, `observed_timestamp`, `severity_text`, `severity_number`, `body`,
//! `event_name`, `trace_id`, `span_id`, `flags`, `attributes`, `resource` and
//! `scope`. Attribute values come back with their JSON types (strings, integers,
//! floats, booleans, arrays, objects); bytes, which were written as base64, come back
//! as strings. Promoted top-level keys are copies of resource attributes and are
//! ignored.

use serde_json::Value;

use crate::Batch;
use crate::otlp::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value};
use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::otlp::resource::v1::Resource;

/// Why a document cannot become a log record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Not a JSON object.
    #[error("not a JSON object")]
    NotAnObject,
    /// A span or metric point: only logs can be replayed.
    #[error("a {0} document: only log records can be replayed")]
    NotALog(String),
    /// A field with the wrong type or format.
    #[error("field `{0}`: {1}")]
    Field(&'static str, String),
}

/// A JSON value as an OTLP attribute value.
pub fn any_value(v: &Value) -> Option<AnyValue> {
    let value = match v {
        Value::Null => return None,
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Array(a) => {
            any_value::Value::ArrayValue(ArrayValue { values: a.iter().filter_map(any_value).collect() })
        }
        Value::Object(o) => any_value::Value::KvlistValue(KeyValueList { values: key_values(o) }),
    };
    Some(AnyValue { value: Some(value) })
}

fn key_values(o: &serde_json::Map<String, Value>) -> Vec<KeyValue> {
    o.iter().map(|(k, v)| KeyValue { key: k.clone(), value: any_value(v), ..Default::default() }).collect()
}

fn object_field(doc: &serde_json::Map<String, Value>, name: &'static str) -> Result<Vec<KeyValue>, DocumentError> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(o)) => Ok(key_values(o)),
        Some(_) => Err(DocumentError::Field(name, "expected an object".into())),
    }
}

/// RFC 3339 (`2026-11-22T14:03:22.123456789Z`) as Unix nanoseconds.
fn time_field(doc: &serde_json::Map<String, Value>, name: &'static str) -> Result<u64, DocumentError> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| DocumentError::Field(name, format!("not an RFC 3339 time: {s:?}"))),
        Some(_) => Err(DocumentError::Field(name, "expected an RFC 3339 string".into())),
    }
}

fn hex_field(doc: &serde_json::Map<String, Value>, name: &'static str, len: usize) -> Result<Vec<u8>, DocumentError> {
    let Some(Value::String(s)) = doc.get(name) else { return Ok(Vec::new()) };
    if s.len() != len * 2 {
        return Err(DocumentError::Field(name, format!("expected {} hex characters", len * 2)));
    }
    (0..len)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| DocumentError::Field(name, "not hex".into()))
}

fn str_field(doc: &serde_json::Map<String, Value>, name: &str) -> String {
    doc.get(name).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// One log document as (resource attributes, scope, record).
pub fn log_record(doc: &Value) -> Result<LogParts, DocumentError> {
    let Value::Object(doc) = doc else { return Err(DocumentError::NotAnObject) };
    match doc.get("signal").and_then(Value::as_str) {
        Some("log") | None => {}
        Some(other) => return Err(DocumentError::NotALog(other.to_string())),
    }
    let scope = match doc.get("scope") {
        Some(Value::Object(s)) => Some(InstrumentationScope {
            name: str_field(s, "name"),
            version: str_field(s, "version"),
            attributes: object_field(s, "attributes")?,
            ..Default::default()
        }),
        _ => None,
    };
    let record = LogRecord {
        time_unix_nano: time_field(doc, "@timestamp")?,
        observed_time_unix_nano: time_field(doc, "observed_timestamp")?,
        severity_text: str_field(doc, "severity_text"),
        severity_number: doc.get("severity_number").and_then(Value::as_i64).unwrap_or(0) as i32,
        body: doc.get("body").and_then(any_value),
        event_name: str_field(doc, "event_name"),
        trace_id: hex_field(doc, "trace_id", 16)?,
        span_id: hex_field(doc, "span_id", 8)?,
        flags: doc.get("flags").and_then(Value::as_u64).unwrap_or(0) as u32,
        attributes: object_field(doc, "attributes")?,
        ..Default::default()
    };
    Ok((object_field(doc, "resource")?, scope, record))
}

/// A batch of the log documents `docs`, one `ResourceLogs` per document (so each keeps
/// its own resource and scope).
pub fn logs_batch(docs: &[Value]) -> Result<Batch, (usize, DocumentError)> {
    let records = docs.iter().enumerate().map(|(i, doc)| log_record(doc).map_err(|e| (i, e)));
    Ok(batch_of(records.collect::<Result<Vec<_>, _>>()?))
}

/// A log record as [`log_record`] gives it: resource attributes, scope, record.
pub type LogParts = (Vec<KeyValue>, Option<InstrumentationScope>, LogRecord);

/// A batch of decoded log records, one `ResourceLogs` each.
pub fn batch_of(records: Vec<LogParts>) -> Batch {
    let resources = records
        .into_iter()
        .map(|(attributes, scope, record)| ResourceLogs {
            resource: Some(Resource { attributes, ..Default::default() }),
            scope_logs: vec![ScopeLogs { scope, log_records: vec![record], ..Default::default() }],
            ..Default::default()
        })
        .collect();
    Batch::logs(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_round_trips_through_the_encoder() {
        let text = r#"{"@timestamp":"2026-11-22T14:03:22.123456789Z","signal":"log","observed_timestamp":"2026-11-22T14:03:22.123501000Z","severity_text":"ERROR","severity_number":17,"body":"payment failed","trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174","flags":1,"attributes":{"user.id":"u-42","http.status_code":502},"resource":{"service.name":"checkout","host.name":"web-1"},"scope":{"name":"checkout.payments"},"service.name":"checkout"}"#;
        let doc: Value = serde_json::from_str(text).unwrap();
        let batch = logs_batch(std::slice::from_ref(&doc)).unwrap();
        let mut out = Vec::new();
        crate::encode::write_ndjson(&batch, &mut out);
        let again: Value = serde_json::from_slice(&out).unwrap();
        let mut expected = doc.clone();
        expected.as_object_mut().unwrap().remove("service.name"); // promoted copies are not kept
        assert_eq!(again, expected);
    }

    #[test]
    fn spans_and_bad_fields_are_refused() {
        let span: Value = serde_json::json!({"signal": "span", "name": "x"});
        assert_eq!(log_record(&span).unwrap_err(), DocumentError::NotALog("span".into()));
        let bad: Value = serde_json::json!({"signal": "log", "@timestamp": "yesterday"});
        assert!(matches!(log_record(&bad).unwrap_err(), DocumentError::Field("@timestamp", _)));
        assert_eq!(log_record(&Value::Null).unwrap_err(), DocumentError::NotAnObject);
    }
}
