//! The `nats` sink: publishes batches to a NATS JetStream stream as OTLP protobuf
//! (`Export{Logs,Trace,Metrics}ServiceRequest`, so resource/scope grouping survives),
//! for `nats` sources on other Lookouts to consume.
//!
//! ```yaml
//! sinks:
//!   bus:
//!     type: nats
//!     inputs: [otlp]
//!     url: nats://127.0.0.1:4222
//!     stream: TELEMETRY             # created if missing
//!     subject: "telemetry.{tenant}" # {tenant}: the resource's tenant or `default`; {signal}
//!     retention: limits             # or workqueue
//!     stream_max_bytes: 1GiB
//!     stream_replicas: 3            # on a JetStream cluster: each message on 3 servers
//! ```
//!
//! Each message carries the header `Lookout-Signal: logs|traces|metrics` and a
//! `Nats-Msg-Id`, kept across retries, so the server drops a retry's duplicate. A batch
//! is confirmed (acknowledgements, disk buffers) only once JetStream's publish ack came
//! back for every message of it. A stream that is full (`discard: new`) or a server
//! that is away is retried with backoff until it takes the data — never dropped; the
//! sink then holds its buffer, which pushes back upstream.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentError, ComponentFuture, ComponentState, SinkConfig, SinkContext};
use lookout_config::{ByteSize, ComponentDecl, ConfigErrors, Secret};
use lookout_event::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_event::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_event::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_event::otlp::resource::v1::Resource;
use lookout_event::{Batch, Payload, PendingAck, Signal};
use lookout_ingest::nats::{NatsConnection, NatsTls, SIGNAL_HEADER};
use prost::Message;
use serde::Deserialize;
use tracing::{debug, info, warn};

/// `type: nats` (sink).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSinkConfig {
    /// Server URL(s), comma-separated.
    pub url: String,
    /// The JetStream stream (created if missing).
    pub stream: String,
    /// Subject template: `{tenant}` and `{signal}`.
    #[serde(default = "default_subject")]
    pub subject: String,
    /// Retention of a stream this sink creates.
    #[serde(default)]
    pub retention: Retention,
    /// Size limit of a stream this sink creates; when reached, publishes are refused
    /// (and retried) rather than old data dropped.
    #[serde(default = "default_max_bytes")]
    pub stream_max_bytes: ByteSize,
    /// Servers holding each message of a stream this sink creates (1 to 5; at most the
    /// cluster's size). With 3, a publish ack means a majority stored it, and the stream
    /// survives the loss of one server.
    #[serde(default = "default_replicas")]
    pub stream_replicas: usize,
    /// A `.creds` file.
    #[serde(default)]
    pub creds_file: Option<std::path::PathBuf>,
    /// A token.
    #[serde(default)]
    pub token: Option<Secret>,
    /// User name, with `password`.
    #[serde(default)]
    pub user: Option<Secret>,
    /// Password, with `user`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// TLS; present means required.
    #[serde(default)]
    pub tls: Option<NatsTls>,
    /// The sink's buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
}

fn default_subject() -> String {
    "telemetry.{tenant}".into()
}

fn default_max_bytes() -> ByteSize {
    ByteSize(1 << 30)
}

fn default_replicas() -> usize {
    1
}

/// `retention:` of the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// Kept until the size limit (several consumers may read it).
    #[default]
    Limits,
    /// Removed once a consumer acked it (one group of workers).
    Workqueue,
}

/// A parsed subject template.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Tenant,
    Signal,
}

/// A subject with `{tenant}` / `{signal}` placeholders.
#[derive(Debug, Clone)]
pub struct SubjectTemplate(Vec<Part>);

impl SubjectTemplate {
    /// Parses `template`; only `{tenant}` and `{signal}` are known.
    pub fn parse(template: &str) -> Result<SubjectTemplate, String> {
        if template.is_empty() || template.contains([' ', '\t', '*', '>']) {
            return Err(format!("`subject` `{template}` must be non-empty, without spaces, `*` or `>`"));
        }
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..].find('}').ok_or_else(|| format!("`subject` `{template}` has an unclosed `{{`"))?;
            parts.push(match &rest[open + 1..open + close] {
                "tenant" => Part::Tenant,
                "signal" => Part::Signal,
                other => {
                    return Err(format!(
                        "`subject` `{template}`: unknown placeholder `{{{other}}}` (use {{tenant}} or {{signal}})"
                    ));
                }
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        if template.split('.').any(str::is_empty) {
            return Err(format!("`subject` `{template}` has an empty token"));
        }
        Ok(SubjectTemplate(parts))
    }

    /// The subject for records of `tenant` (placeholder values are made subject-safe).
    pub fn render(&self, tenant: Option<&str>, signal: Signal) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Tenant => out.push_str(&token(tenant.filter(|t| !t.is_empty()).unwrap_or("default"))),
                Part::Signal => out.push_str(signal_name(signal)),
            }
        }
        out
    }

    /// The stream's subject filter: every placeholder a wildcard token.
    pub fn wildcard(&self) -> String {
        self.0.iter().map(|p| if let Part::Text(t) = p { t.as_str() } else { "*" }).collect()
    }
}

/// One subject token: `.`, wildcards and whitespace become `_`.
fn token(value: &str) -> String {
    value.chars().map(|c| if c == '.' || c == '*' || c == '>' || c.is_whitespace() { '_' } else { c }).collect()
}

fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Logs => "logs",
        Signal::Traces => "traces",
        Signal::Metrics => "metrics",
    }
}

fn tenant_of(resource: &Option<Resource>) -> Option<&str> {
    resource.as_ref()?.attributes.iter().find(|kv| kv.key == lookout_event::TENANT).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            lookout_event::otlp::common::v1::any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// Splits a batch into (subject, OTLP request bytes), one per distinct subject.
fn messages(template: &SubjectTemplate, payload: Payload) -> Vec<(String, Vec<u8>)> {
    fn group<R>(
        template: &SubjectTemplate,
        signal: Signal,
        resources: Vec<R>,
        resource: impl Fn(&R) -> &Option<Resource>,
        encode: impl Fn(Vec<R>) -> Vec<u8>,
    ) -> Vec<(String, Vec<u8>)> {
        let mut groups: Vec<(String, Vec<R>)> = Vec::new();
        for r in resources {
            let subject = template.render(tenant_of(resource(&r)), signal);
            match groups.iter_mut().find(|(s, _)| *s == subject) {
                Some((_, v)) => v.push(r),
                None => groups.push((subject, vec![r])),
            }
        }
        groups.into_iter().map(|(s, rs)| (s, encode(rs))).collect()
    }
    match payload {
        Payload::Logs(r) => group(
            template,
            Signal::Logs,
            r,
            |r| &r.resource,
            |rs| ExportLogsServiceRequest { resource_logs: rs }.encode_to_vec(),
        ),
        Payload::Traces(r) => group(
            template,
            Signal::Traces,
            r,
            |r| &r.resource,
            |rs| ExportTraceServiceRequest { resource_spans: rs }.encode_to_vec(),
        ),
        Payload::Metrics(r) => group(
            template,
            Signal::Metrics,
            r,
            |r| &r.resource,
            |rs| ExportMetricsServiceRequest { resource_metrics: rs }.encode_to_vec(),
        ),
    }
}

impl NatsSinkConfig {
    fn connection(&self) -> NatsConnection {
        NatsConnection {
            url: self.url.clone(),
            creds_file: self.creds_file.clone(),
            token: self.token.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            tls: self.tls.clone(),
        }
    }

    fn check(&self) -> Result<SubjectTemplate, String> {
        self.connection().check()?;
        if self.stream.is_empty() || self.stream.contains(['.', '*', '>', ' ']) {
            return Err(format!("`stream` `{}` must be a non-empty name without `.`, `*`, `>` or spaces", self.stream));
        }
        if self.stream_max_bytes.bytes() == 0 || self.stream_max_bytes.bytes() > i64::MAX as u64 {
            return Err("`stream_max_bytes` must be above zero".into());
        }
        if !(1..=5).contains(&self.stream_replicas) {
            return Err("`stream_replicas` must be between 1 and 5".into());
        }
        SubjectTemplate::parse(&self.subject)
    }
}

impl SinkConfig for NatsSinkConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        self.check().map(|_| ()).map_err(|e| decl.error(e).into())
    }

    fn buffer(&self) -> BufferConfig {
        self.buffer
    }

    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            let template = config.check().map_err(BuildError)?;
            let client = config.connection().connect(&format!("lookout sink {}", cx.id)).await.map_err(BuildError)?;
            let fut: ComponentFuture = Box::pin(run(config, template, jetstream::new(client), cx));
            Ok(fut)
        }
        .boxed()
    }
}

/// Creates the stream if missing, retrying until the server answers.
async fn ensure_stream(config: &NatsSinkConfig, template: &SubjectTemplate, js: &jetstream::Context, cx: &SinkContext) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let wanted = stream::Config {
            name: config.stream.clone(),
            subjects: vec![template.wildcard()],
            retention: match config.retention {
                Retention::Limits => stream::RetentionPolicy::Limits,
                Retention::Workqueue => stream::RetentionPolicy::WorkQueue,
            },
            max_bytes: config.stream_max_bytes.bytes() as i64,
            discard: stream::DiscardPolicy::New,
            num_replicas: config.stream_replicas,
            ..Default::default()
        };
        match js.get_or_create_stream(wanted).await {
            Ok(_) => return,
            Err(e) => {
                cx.health.set_state(ComponentState::Degraded(format!("cannot create stream {}: {e}", config.stream)));
                warn!(component = %cx.id, stream = %config.stream, error = %e, "Cannot create the NATS stream; retrying.");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn run(
    config: NatsSinkConfig,
    template: SubjectTemplate,
    js: jetstream::Context,
    mut cx: SinkContext,
) -> Result<(), ComponentError> {
    ensure_stream(&config, &template, &js, &cx).await;
    cx.health.ready();
    cx.health.set_state(ComponentState::Running);
    info!(component = %cx.id, stream = %config.stream, "NATS sink publishing");
    while let Some(mut batch) = cx.input.recv().await {
        let acks = PendingAck::new(batch.meta.finalizers.take());
        let events = batch.len() as u64;
        let received = batch.meta.received_at;
        cx.metrics.received_events.inc_by(events);
        let signal = signal_name(batch.signal());
        let mut bytes = 0u64;
        for (subject, body) in messages(&template, std::mem::replace(&mut batch, Batch::logs(Vec::new())).payload) {
            bytes += body.len() as u64;
            publish(&js, &cx, subject, signal, body.into()).await;
        }
        acks.delivered();
        cx.metrics.sent_events.inc_by(events);
        cx.metrics.sent_bytes.inc_by(bytes);
        cx.metrics.latency.observe(received.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Publishes one message and waits for its ack, retrying with backoff until it is
/// stored (the same message id each time, so a retry after a lost ack is deduplicated).
async fn publish(js: &jetstream::Context, cx: &SinkContext, subject: String, signal: &str, body: bytes::Bytes) {
    let id = format!("{:032x}", fastrand::u128(..));
    let mut headers = HeaderMap::new();
    headers.insert(SIGNAL_HEADER, signal);
    headers.insert("Content-Type", "application/x-protobuf");
    let mut backoff = Duration::from_millis(50);
    let mut degraded = false;
    loop {
        let message = PublishMessage::build().payload(body.clone()).headers(headers.clone()).message_id(id.as_str());
        let result = match js.send_publish(subject.clone(), message).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => {
                if degraded {
                    cx.health.set_state(ComponentState::Running);
                    debug!(component = %cx.id, "NATS publishes succeed again.");
                }
                return;
            }
            Err(e) => {
                cx.metrics.errors.inc();
                cx.metrics.retries.inc();
                if !degraded {
                    warn!(component = %cx.id, %subject, error = %e, "NATS publish not acknowledged; retrying (nothing is dropped).");
                }
                degraded = true;
                cx.health.set_state(ComponentState::Degraded(format!("publish to {subject}: {e}")));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::parse;

    #[test]
    fn subject_templates() {
        let t = SubjectTemplate::parse("telemetry.{tenant}").unwrap();
        assert_eq!(t.render(Some("acme"), Signal::Logs), "telemetry.acme");
        assert_eq!(t.render(None, Signal::Logs), "telemetry.default");
        assert_eq!(t.render(Some(""), Signal::Logs), "telemetry.default");
        assert_eq!(t.render(Some("a.b *>"), Signal::Logs), "telemetry.a_b___");
        assert_eq!(t.wildcard(), "telemetry.*");
        let t = SubjectTemplate::parse("t.{signal}.{tenant}.x").unwrap();
        assert_eq!(t.render(Some("z"), Signal::Metrics), "t.metrics.z.x");
        assert_eq!(t.wildcard(), "t.*.*.x");
        assert!(SubjectTemplate::parse("t.{host}").unwrap_err().contains("unknown placeholder `{host}`"));
        assert!(SubjectTemplate::parse("t.{tenant").is_err());
        assert!(SubjectTemplate::parse("t..x").is_err());
        assert!(SubjectTemplate::parse("t.>").is_err());
    }

    #[test]
    fn groups_resources_by_tenant_subject() {
        let mut batch = crate::test_util::logs(2);
        let Payload::Logs(r) = &mut batch.payload else { unreachable!() };
        let mut other = r[0].clone();
        lookout_event::set_attribute(
            &mut other.resource.as_mut().unwrap().attributes,
            lookout_event::TENANT,
            lookout_event::any_string("acme"),
            true,
        );
        r.push(other);
        let t = SubjectTemplate::parse("telemetry.{tenant}").unwrap();
        let out = messages(&t, batch.payload);
        assert_eq!(out.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["telemetry.default", "telemetry.acme"]);
        let back = ExportLogsServiceRequest::decode(out[1].1.as_slice()).unwrap();
        assert_eq!(back.resource_logs[0].scope_logs[0].log_records.len(), 2);
    }

    #[test]
    fn config_keys() {
        let ok = "    url: nats://127.0.0.1:4222\n    stream: TELEMETRY\n";
        parse("nats", ok).unwrap();
        parse("nats", &format!("{ok}    subject: \"t.{{tenant}}\"\n    retention: workqueue\n    stream_max_bytes: 64MiB\n    stream_replicas: 3\n    user: u\n    password: p\n")).unwrap();
        let err = parse("nats", &format!("{ok}    retention: forever\n")).unwrap_err().to_string();
        assert!(err.contains("p.yaml:10:"), "{err}");
        let err = parse("nats", &format!("{ok}    subject: \"t.{{host}}\"\n")).unwrap_err().to_string();
        assert!(err.contains("p.yaml:") && err.contains("unknown placeholder"), "{err}");
        let err = parse("nats", &format!("{ok}    stream_replicas: 7\n")).unwrap_err().to_string();
        assert!(err.contains("p.yaml:") && err.contains("`stream_replicas` must be between 1 and 5"), "{err}");
        let err = parse("nats", "    url: nats://x\n").unwrap_err().to_string();
        assert!(err.contains("stream"), "{err}");
    }
}
