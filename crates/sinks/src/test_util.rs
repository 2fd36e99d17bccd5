//! Builders shared by this crate's unit tests.

use lookout_buffer::{BufferReceiver, WhenFull, memory};
use lookout_component::{ComponentMetrics, Health, SinkConfig, SinkContext};
use lookout_config::ConfigErrors;
use lookout_event::Batch;
use lookout_event::otlp::common::v1::KeyValue;
use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_event::otlp::resource::v1::Resource;
use lookout_event::{any_string, encode};

/// A batch of `n` logs with bodies `log 0`, `log 1`, ... from service `svc`.
pub fn logs(n: usize) -> Batch {
    let records = (0..n)
        .map(|i| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(any_string(format!("log {i}"))),
            ..Default::default()
        })
        .collect();
    Batch::logs(vec![ResourceLogs {
        resource: Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(any_string("svc")),
                ..Default::default()
            }],
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
        ..Default::default()
    }])
}

/// The NDJSON encoding of `batch`.
pub fn ndjson(batch: &Batch) -> String {
    let mut out = Vec::new();
    encode::write_ndjson(batch, &mut out);
    String::from_utf8(out).unwrap()
}

/// A sink context over a fresh buffer, with its health registry and metrics.
pub fn context(max_events: usize) -> (lookout_buffer::BufferSender, SinkContext, Health, ComponentMetrics) {
    let (tx, rx): (_, BufferReceiver) = memory(max_events, WhenFull::Block);
    let health = Health::default();
    let metrics = ComponentMetrics::detached();
    let cx = SinkContext {
        id: "out".into(),
        input: rx,
        health: health.register("out", "sink", "test"),
        metrics: metrics.clone(),
        data_dir: std::env::temp_dir(),
        store: Default::default(),
    };
    (tx, cx, health, metrics)
}

/// Parses `body` (the sink's keys, indented by four spaces) as sink `out` of type
/// `type_name` through the registry. The first body line is line 8.
pub fn parse(type_name: &str, body: &str) -> Result<Box<dyn SinkConfig>, ConfigErrors> {
    let yaml = format!("sources:\n  in:\n    type: x\nsinks:\n  out:\n    type: {type_name}\n    inputs: [in]\n{body}");
    let cfg = lookout_config::load_str("p.yaml", &yaml, &|_| None)?;
    let mut registry = lookout_component::Registry::default();
    crate::register(&mut registry);
    registry.parse_sink(&cfg.sinks["out"])
}
