//! The `console` sink: records on stdout or stderr, as NDJSON or readable lines.
//!
//! ```yaml
//! sinks:
//!   console:
//!     type: console
//!     inputs: [enrich]
//!     encoding: text     # json (default): NDJSON as the file sink writes it; text: one line per record
//!     stream: stdout     # or stderr
//!     buffer: { max_events: 10000, when_full: drop_newest }
//! ```
//!
//! `text` lines read `TIME SIGNAL LEVEL [SERVICE] MESSAGE`:
//!
//! ```text
//! 2023-11-14T22:13:20.000Z log    ERROR [checkout] payment declined
//! 2023-11-14T22:13:20.250Z span   ERROR [checkout] POST /pay 12.500ms
//! 2023-11-14T22:13:21.000Z metric sum   [checkout] http.requests=42
//! ```
//!
//! where LEVEL is a log's severity, a span's status and a metric's type. Control
//! characters in messages are escaped so each record stays on one line.

use std::io::Write as _;

use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentFuture, SinkConfig, SinkContext};
use lookout_event::otlp::common::v1::any_value::Value;
use lookout_event::{Batch, FieldPath, FieldValue, RecordRef, encode, get_attribute};
use serde::Deserialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::writer::{self, Output};

/// `type: console`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSinkConfig {
    /// `json` (NDJSON) or `text` (one readable line per record).
    #[serde(default)]
    pub encoding: ConsoleEncoding,
    /// `stdout` or `stderr`.
    #[serde(default)]
    pub stream: ConsoleStream,
    /// The sink's buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
}

/// `encoding:` of the console sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleEncoding {
    /// One JSON object per line, as the file sink writes.
    #[default]
    Json,
    /// One human-readable line per record.
    Text,
}

/// `stream:` of the console sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleStream {
    /// Standard output.
    #[default]
    Stdout,
    /// Standard error.
    Stderr,
}

impl SinkConfig for ConsoleSinkConfig {
    fn buffer(&self) -> BufferConfig {
        self.buffer
    }

    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let encoding = self.encoding;
        let fut: ComponentFuture = match self.stream {
            ConsoleStream::Stdout => {
                Box::pin(writer::run(cx, StreamOutput::new(encoding, tokio::io::stdout(), "stdout")))
            }
            ConsoleStream::Stderr => {
                Box::pin(writer::run(cx, StreamOutput::new(encoding, tokio::io::stderr(), "stderr")))
            }
        };
        async move { Ok(fut) }.boxed()
    }
}

/// Records encoded onto any byte stream.
pub(crate) struct StreamOutput<W> {
    encoding: ConsoleEncoding,
    stream: W,
    name: &'static str,
}

impl<W: AsyncWrite + Unpin + Send> StreamOutput<W> {
    pub(crate) fn new(encoding: ConsoleEncoding, stream: W, name: &'static str) -> Self {
        StreamOutput { encoding, stream, name }
    }
}

impl<W: AsyncWrite + Unpin + Send> Output for StreamOutput<W> {
    fn encode(&mut self, batch: &Batch, out: &mut Vec<u8>) {
        match self.encoding {
            ConsoleEncoding::Json => encode::write_ndjson(batch, out),
            ConsoleEncoding::Text => write_text(batch, out),
        }
    }

    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(data).await?;
        self.stream.flush().await
    }

    async fn close(&mut self) -> std::io::Result<()> {
        self.stream.flush().await
    }

    fn describe(&self) -> String {
        self.name.to_string()
    }
}

/// Writes one readable line per record of `batch`.
pub(crate) fn write_text(batch: &Batch, out: &mut Vec<u8>) {
    let fallback = batch.meta.received_unix_nano;
    batch.for_each(|r| write_line(&r, fallback, out));
}

fn write_line(r: &RecordRef<'_>, fallback_time: u64, out: &mut Vec<u8>) {
    let time = match r.time_unix_nano() {
        0 => fallback_time,
        t => t,
    };
    let time = chrono::DateTime::from_timestamp_nanos(time as i64);
    let service = r.resource().and_then(|res| get_attribute(&res.attributes, "service.name"));
    let _ = write!(out, "{} ", time.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
    match *r {
        RecordRef::Log { record, .. } => {
            let level = match record.severity_text.as_str() {
                "" => severity_name(record.severity_number),
                s => s,
            };
            let _ = write!(out, "log    {level:<5} ");
            write_service(service, out);
            match record.body.as_ref().filter(|b| b.value.is_some()) {
                Some(body) => match &body.value {
                    Some(Value::StringValue(s)) => escape(s, out),
                    _ => {
                        let mut json = Vec::new();
                        encode::write_any(&mut json, body);
                        escape(&String::from_utf8_lossy(&json), out);
                    }
                },
                None => escape(&record.event_name, out),
            }
        }
        RecordRef::Span { span, .. } => {
            let status = status_name(span.status.as_ref().map_or(0, |s| s.code));
            let _ = write!(out, "span   {status:<5} ");
            write_service(service, out);
            escape(&span.name, out);
            let ms = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) as f64 / 1e6;
            let _ = write!(out, " {ms:.3}ms");
        }
        RecordRef::Point { metric, point, .. } => {
            let kind = r.get(&FieldPath::MetricType).map(|v| v.to_string()).unwrap_or_default();
            let _ = write!(out, "metric {kind:<5} ");
            write_service(service, out);
            escape(&metric.name, out);
            match point.value() {
                Some(v) => {
                    let _ = write!(out, "={v}");
                }
                None => out.extend_from_slice(b"=?"),
            }
            if !metric.unit.is_empty() && metric.unit != "1" {
                out.push(b' ');
                escape(&metric.unit, out);
            }
        }
    }
    out.push(b'\n');
}

fn write_service(service: Option<&lookout_event::otlp::common::v1::AnyValue>, out: &mut Vec<u8>) {
    out.push(b'[');
    match service.and_then(FieldValue::from_any) {
        Some(v) => escape(&v.to_string(), out),
        None => out.push(b'-'),
    }
    out.extend_from_slice(b"] ");
}

fn status_name(code: i32) -> &'static str {
    match code {
        1 => "OK",
        2 => "ERROR",
        _ => "UNSET",
    }
}

/// The OTLP severity range a number falls in.
fn severity_name(n: i32) -> &'static str {
    match n {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "-",
    }
}

/// Appends `s` with control characters escaped (`\n`, `\t`, `\u{..}`).
fn escape(s: &str, out: &mut Vec<u8>) {
    if !s.chars().any(char::is_control) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for c in s.chars() {
        match c {
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{context, logs, ndjson, parse};
    use lookout_event::otlp::metrics::v1::{
        Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
    };
    use lookout_event::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use tokio::io::AsyncReadExt;

    fn text(batch: &Batch) -> String {
        let mut out = Vec::new();
        write_text(batch, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_lines_for_every_signal() {
        let mut batch = logs(2);
        batch.for_each_mut(|mut r| {
            if let Some(body) = r.body_mut() {
                *body = Some(lookout_event::any_string("multi\nline"));
            }
        });
        assert_eq!(
            text(&batch),
            "2023-11-14T22:13:20.000Z log    INFO  [svc] multi\\nline\n\
             2023-11-14T22:13:20.000Z log    INFO  [svc] multi\\nline\n"
        );

        let span = Span {
            name: "GET /".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_012_500_000,
            status: Some(Status { code: 2, ..Default::default() }),
            ..Default::default()
        };
        let spans = Batch::traces(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
            ..Default::default()
        }]);
        assert_eq!(text(&spans), "2023-11-14T22:13:20.000Z span   ERROR [-] GET / 12.500ms\n");

        let point = NumberDataPoint {
            time_unix_nano: 1_700_000_001_000_000_000,
            value: Some(number_data_point::Value::AsInt(42)),
            ..Default::default()
        };
        let metric = Metric {
            name: "http.requests".into(),
            data: Some(Data::Sum(Sum { data_points: vec![point], ..Default::default() })),
            ..Default::default()
        };
        let metrics = Batch::metrics(vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics { metrics: vec![metric], ..Default::default() }],
            ..Default::default()
        }]);
        assert_eq!(text(&metrics), "2023-11-14T22:13:21.000Z metric sum   [-] http.requests=42\n");
    }

    #[test]
    fn config_keys() {
        assert!(parse("console", "    encoding: text\n    stream: stderr\n").is_ok());
        assert!(parse("console", "    encoding: json\n").is_ok());
        let err = parse("console", "    encoding: yaml\n").unwrap_err().to_string();
        assert!(err.contains("p.yaml:8:"), "{err}");
        let err = parse("console", "    stream: stdlog\n").unwrap_err().to_string();
        assert!(err.contains("p.yaml:8:"), "{err}");
        let err = parse("console", "    path: x\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `path`"), "{err}");
    }

    #[tokio::test]
    async fn writes_json_and_counts() {
        let (tx, cx, _health, metrics) = context(100);
        let (writer, mut reader) = tokio::io::duplex(1 << 16);
        let sink = tokio::spawn(writer::run(cx, StreamOutput::new(ConsoleEncoding::Json, writer, "test")));
        tx.send(logs(3)).await.unwrap();
        drop(tx);
        sink.await.unwrap().unwrap();
        let mut got = String::new();
        reader.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, ndjson(&logs(3)));
        assert_eq!(metrics.sent_events.get(), 3);
        assert_eq!(metrics.sent_bytes.get(), got.len() as u64);
    }
}
