//! A one-pass protobuf writer for OTLP logs, for the disk buffer's hot path.
//!
//! prost writes a nested message's length before its bytes, so it measures each
//! subtree first: a log record's attributes are measured once per enclosing level
//! (request, resource, scope, record) and written once, about four walks of every
//! batch. Here each message is written once and its length filled in afterwards: a
//! small message (a record and below) gets a one-byte length slot that grows, by moving
//! its few bytes, only when it is 128 bytes or more; a container (resource, scope) gets
//! a five-byte slot written as a padded varint, which every protobuf reader accepts, so
//! its (large) body never moves. The bytes decode with prost into the same values
//! (checked by the tests); resources and scopes themselves, small and once per group,
//! are written by prost.

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use crate::otlp::common::v1::any_value::Value;
use crate::otlp::common::v1::{AnyValue, KeyValue};
use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

/// Appends `ResourceLogs` as field 1 of an export request, as
/// `prost::encoding::message::encode(1, r, out)` would (lengths aside).
pub(crate) fn resource_logs(r: &ResourceLogs, out: &mut Vec<u8>) {
    padded(1, out, |out| {
        if let Some(res) = &r.resource {
            prost::encoding::message::encode(1, res, out);
        }
        for s in &r.scope_logs {
            padded(2, out, |out| scope_logs(s, out));
        }
        string(3, &r.schema_url, out);
    });
}

fn scope_logs(s: &ScopeLogs, out: &mut Vec<u8>) {
    if let Some(scope) = &s.scope {
        prost::encoding::message::encode(1, scope, out);
    }
    for r in &s.log_records {
        small(2, out, |out| log_record(r, out));
    }
    string(3, &s.schema_url, out);
}

fn log_record(r: &LogRecord, out: &mut Vec<u8>) {
    if r.time_unix_nano != 0 {
        encode_key(1, WireType::SixtyFourBit, out);
        out.extend_from_slice(&r.time_unix_nano.to_le_bytes());
    }
    if r.severity_number != 0 {
        encode_key(2, WireType::Varint, out);
        encode_varint(r.severity_number as i64 as u64, out);
    }
    string(3, &r.severity_text, out);
    if let Some(body) = &r.body {
        small(5, out, |out| any_value(body, out));
    }
    for kv in &r.attributes {
        small(6, out, |out| key_value(kv, out));
    }
    if r.dropped_attributes_count != 0 {
        encode_key(7, WireType::Varint, out);
        encode_varint(u64::from(r.dropped_attributes_count), out);
    }
    if r.flags != 0 {
        encode_key(8, WireType::ThirtyTwoBit, out);
        out.extend_from_slice(&r.flags.to_le_bytes());
    }
    bytes(9, &r.trace_id, out);
    bytes(10, &r.span_id, out);
    if r.observed_time_unix_nano != 0 {
        encode_key(11, WireType::SixtyFourBit, out);
        out.extend_from_slice(&r.observed_time_unix_nano.to_le_bytes());
    }
    string(12, &r.event_name, out);
}

fn key_value(kv: &KeyValue, out: &mut Vec<u8>) {
    string(1, &kv.key, out);
    if let Some(v) = &kv.value {
        small(2, out, |out| any_value(v, out));
    }
    if kv.key_strindex != 0 {
        encode_key(3, WireType::Varint, out);
        encode_varint(kv.key_strindex as i64 as u64, out);
    }
}

fn any_value(v: &AnyValue, out: &mut Vec<u8>) {
    // A oneof member is written even when it holds its default value.
    match &v.value {
        None => {}
        Some(Value::StringValue(s)) => {
            encode_key(1, WireType::LengthDelimited, out);
            encode_varint(s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Some(Value::BoolValue(b)) => {
            encode_key(2, WireType::Varint, out);
            out.push(u8::from(*b));
        }
        Some(Value::IntValue(i)) => {
            encode_key(3, WireType::Varint, out);
            encode_varint(*i as u64, out);
        }
        Some(Value::DoubleValue(d)) => {
            encode_key(4, WireType::SixtyFourBit, out);
            out.extend_from_slice(&d.to_le_bytes());
        }
        Some(Value::ArrayValue(a)) => small(5, out, |out| {
            for v in &a.values {
                small(1, out, |out| any_value(v, out));
            }
        }),
        Some(Value::KvlistValue(l)) => small(6, out, |out| {
            for kv in &l.values {
                small(1, out, |out| key_value(kv, out));
            }
        }),
        Some(Value::BytesValue(b)) => {
            encode_key(7, WireType::LengthDelimited, out);
            encode_varint(b.len() as u64, out);
            out.extend_from_slice(b);
        }
        // Any other member (a newer proto): prost writes it.
        Some(other) => other.encode(out),
    }
}

/// A non-empty string field (proto3 leaves empty ones out).
fn string(tag: u32, s: &str, out: &mut Vec<u8>) {
    bytes(tag, s.as_bytes(), out);
}

fn bytes(tag: u32, b: &[u8], out: &mut Vec<u8>) {
    if !b.is_empty() {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
}

/// A nested message whose body is usually small: a one-byte length, widened (moving
/// the body) when it is not enough.
fn small(tag: u32, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    encode_key(tag, WireType::LengthDelimited, out);
    let slot = out.len();
    out.push(0);
    body(out);
    let len = out.len() - slot - 1;
    if len < 0x80 {
        out[slot] = len as u8;
        return;
    }
    let width = encoded_len_varint(len as u64);
    let end = out.len();
    out.resize(end + width - 1, 0);
    out.copy_within(slot + 1..end, slot + width);
    let (mut v, mut i) = (len as u64, slot);
    while v >= 0x80 {
        out[i] = (v & 0x7f) as u8 | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
}

/// A nested message that may be large: a five-byte padded varint length, so the body
/// never moves (up to 32 GiB, far beyond any record).
fn padded(tag: u32, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    encode_key(tag, WireType::LengthDelimited, out);
    let slot = out.len();
    out.extend_from_slice(&[0; 5]);
    body(out);
    let mut len = (out.len() - slot - 5) as u64;
    for i in 0..5 {
        let more = if i < 4 { 0x80 } else { 0 };
        out[slot + i] = (len & 0x7f) as u8 | more;
        len >>= 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
    use crate::otlp::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use crate::otlp::resource::v1::Resource;
    use prost::Message;

    fn kv(k: &str, v: Value) -> KeyValue {
        KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
    }

    fn every_shape() -> Vec<ResourceLogs> {
        let long = "x".repeat(300);
        let nested = Value::KvlistValue(KeyValueList {
            values: vec![
                kv(
                    "a",
                    Value::ArrayValue(ArrayValue {
                        values: vec![
                            AnyValue { value: Some(Value::IntValue(-1)) },
                            AnyValue { value: Some(Value::StringValue(long.clone())) },
                            AnyValue { value: None },
                        ],
                    }),
                ),
                kv("empty", Value::StringValue(String::new())),
            ],
        });
        let record = LogRecord {
            time_unix_nano: 1_700_000_000_000_000_001,
            observed_time_unix_nano: 7,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(AnyValue { value: Some(Value::StringValue(long.repeat(100))) }),
            attributes: vec![
                kv("s", Value::StringValue("v".into())),
                kv("b", Value::BoolValue(false)),
                kv("i", Value::IntValue(i64::MIN)),
                kv("d", Value::DoubleValue(-0.5)),
                kv("bytes", Value::BytesValue(vec![0, 1, 2])),
                kv("n", nested),
                KeyValue { key: "no value".into(), value: None, key_strindex: 3 },
            ],
            dropped_attributes_count: 2,
            flags: 1,
            trace_id: vec![7; 16],
            span_id: vec![9; 8],
            event_name: "e".into(),
        };
        vec![
            ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", Value::StringValue("svc".into()))],
                    dropped_attributes_count: 1,
                    ..Default::default()
                }),
                scope_logs: vec![
                    ScopeLogs {
                        scope: Some(InstrumentationScope {
                            name: "lib".into(),
                            version: "1".into(),
                            ..Default::default()
                        }),
                        log_records: vec![record.clone(), LogRecord::default(), record],
                        schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
                    },
                    ScopeLogs::default(),
                ],
                schema_url: "s".into(),
            },
            ResourceLogs::default(),
        ]
    }

    #[test]
    fn decodes_with_prost_to_the_same_values() {
        let logs = every_shape();
        let mut out = Vec::new();
        logs.iter().for_each(|r| resource_logs(r, &mut out));
        let back = ExportLogsServiceRequest::decode(out.as_slice()).unwrap();
        assert_eq!(back.resource_logs, logs);
    }

    #[test]
    fn small_messages_get_minimal_lengths() {
        // Only the two container levels carry padded lengths: everything below is
        // byte-for-byte what prost writes.
        let record = every_shape()[0].scope_logs[0].log_records[0].clone();
        let mut ours = Vec::new();
        small(2, &mut ours, |out| log_record(&record, out));
        let mut prosts = Vec::new();
        prost::encoding::message::encode(2, &record, &mut prosts);
        assert_eq!(ours, prosts);
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use crate::otlp::common::v1::any_value::Value;
    use prost::Message;

    /// `cargo test --release -p lookout-event wire::timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn one_pass_against_prost() {
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(Value::StringValue(v.into())) }),
            ..Default::default()
        };
        let record = LogRecord {
            time_unix_nano: 1,
            body: Some(AnyValue { value: Some(Value::StringValue("x".repeat(256))) }),
            attributes: vec![kv("http.method", "GET"), kv("http.route", "/api/orders"), kv("user.id", "12345")],
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        };
        let logs = vec![ResourceLogs {
            resource: Some(Default::default()),
            scope_logs: vec![ScopeLogs { log_records: vec![record; 1000], ..Default::default() }],
            ..Default::default()
        }];
        let mut out = Vec::with_capacity(1 << 20);
        for (name, f) in [
            (
                "prost",
                &(|out: &mut Vec<u8>, l: &[ResourceLogs]| {
                    l.iter().for_each(|r| prost::encoding::message::encode(1, r, out));
                }) as &dyn Fn(&mut Vec<u8>, &[ResourceLogs]),
            ),
            ("one pass", &|out: &mut Vec<u8>, l: &[ResourceLogs]| l.iter().for_each(|r| resource_logs(r, out))),
        ] {
            let start = std::time::Instant::now();
            for _ in 0..500 {
                out.clear();
                f(&mut out, &logs);
            }
            println!("{name}: {:?} per 1000-record batch, {} bytes", start.elapsed() / 500, out.len());
        }
        let start = std::time::Instant::now();
        let mut n = 0;
        for _ in 0..500 {
            n += std::hint::black_box(&logs).iter().map(|r| r.encoded_len()).sum::<usize>();
        }
        println!("prost encoded_len: {:?} per batch ({n})", start.elapsed() / 500);
    }
}
