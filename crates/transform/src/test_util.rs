//! Builders shared by this crate's unit tests: records, batches, and transforms
//! parsed from YAML through the real registry (so positions are checked too).

use lookout_component::{Registry, Transform, TransformConfig, TransformOutput};
use lookout_config::ConfigErrors;
use lookout_event::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_event::otlp::resource::v1::Resource;
use lookout_event::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use lookout_event::{Batch, FieldPath, RecordRef, any_string, encode};

/// A string, int, float or bool attribute value.
pub enum V<'a> {
    S(&'a str),
    I(i64),
    F(f64),
    B(bool),
}

pub fn any(v: &V<'_>) -> AnyValue {
    match *v {
        V::S(s) => any_string(s),
        V::I(i) => AnyValue { value: Some(Value::IntValue(i)) },
        V::F(f) => AnyValue { value: Some(Value::DoubleValue(f)) },
        V::B(b) => AnyValue { value: Some(Value::BoolValue(b)) },
    }
}

pub fn kvs(attrs: &[(&str, V<'_>)]) -> Vec<KeyValue> {
    attrs.iter().map(|(k, v)| KeyValue { key: k.to_string(), value: Some(any(v)), ..Default::default() }).collect()
}

pub fn resource(attrs: &[(&str, V<'_>)]) -> Option<Resource> {
    Some(Resource { attributes: kvs(attrs), ..Default::default() })
}

/// A log record with a string body (empty = no body), severity and attributes.
pub fn log(body: &str, severity: i32, attrs: &[(&str, V<'_>)]) -> LogRecord {
    LogRecord {
        body: (!body.is_empty()).then(|| any_string(body)),
        severity_number: severity,
        attributes: kvs(attrs),
        ..Default::default()
    }
}

/// A batch with one resource and one scope holding `records`.
pub fn logs(res: Option<Resource>, records: Vec<LogRecord>) -> Batch {
    Batch::logs(vec![ResourceLogs {
        resource: res,
        scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
        ..Default::default()
    }])
}

/// A span of trace `trace` (16 bytes derived from the number) with attributes.
pub fn span(trace: u64, name: &str, attrs: &[(&str, V<'_>)]) -> Span {
    let mut trace_id = trace.to_be_bytes().to_vec();
    trace_id.extend_from_slice(&trace.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    Span { trace_id, span_id: vec![1; 8], name: name.to_string(), attributes: kvs(attrs), ..Default::default() }
}

pub fn spans(res: Option<Resource>, spans: Vec<Span>) -> Batch {
    Batch::traces(vec![ResourceSpans {
        resource: res,
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }])
}

/// Parses `body` (the component's keys, indented by four spaces) as transform `t` of
/// type `type_name`, through the registry. Errors display as `p.yaml:LINE:COL: ...`;
/// the first body line is line 8.
pub fn parse(type_name: &str, body: &str) -> Result<Box<dyn TransformConfig>, ConfigErrors> {
    parse_env(type_name, body, &|_| None)
}

/// [`parse`] with `${VAR}` read from `env`.
pub fn parse_env(
    type_name: &str,
    body: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Box<dyn TransformConfig>, ConfigErrors> {
    let yaml =
        format!("sources:\n  in:\n    type: x\ntransforms:\n  t:\n    type: {type_name}\n    inputs: [in]\n{body}");
    let cfg = lookout_config::load_str("p.yaml", &yaml, env)?;
    let mut registry = Registry::default();
    crate::register(&mut registry);
    registry.parse_transform(&cfg.transforms["t"])
}

/// Parses and builds, panicking on errors.
pub fn build(type_name: &str, body: &str) -> Box<dyn Transform> {
    let config = parse(type_name, body).unwrap_or_else(|e| panic!("{e}"));
    config.build(&lookout_component::TransformContext::detached("t")).unwrap()
}

/// Runs one batch through a transform.
pub fn run(t: &mut dyn Transform, batch: Batch) -> TransformOutput {
    let mut out = TransformOutput::default();
    t.transform(batch, &mut out);
    out
}

/// Encodes a batch as NDJSON and parses each line.
pub fn docs(batch: &Batch) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    encode::write_ndjson(batch, &mut out);
    String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The string bodies of a batch's log records.
pub fn bodies(batch: &Batch) -> Vec<String> {
    let mut v = Vec::new();
    batch.for_each(|r: RecordRef<'_>| v.push(r.get(&FieldPath::Body).map(|b| b.to_string()).unwrap_or_default()));
    v
}
