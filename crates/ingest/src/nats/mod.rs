//! The `nats` source: a durable JetStream pull consumer that many Lookouts share
//! (work-queue semantics: each message goes to one of them), decoding the OTLP protobuf
//! bodies the `nats` sink publishes.
//!
//! ```yaml
//! sources:
//!   bus:
//!     type: nats
//!     url: nats://127.0.0.1:4222
//!     stream: TELEMETRY
//!     consumer: processors        # durable; created if missing, shared by every worker
//!     ack_wait_secs: 30
//!     max_in_flight: 64
//!     acknowledgements: true
//!     lag_interval_secs: 15       # lookout_nats_consumer_pending / _ack_pending (0: off)
//! ```
//!
//! With `acknowledgements: true` a message is acked only once every sink on its paths
//! confirmed delivery, and NAKed (redelivered, maybe to another worker) when one did
//! not; a worker killed mid-way leaves its messages unacked, and JetStream redelivers
//! them after `ack_wait_secs`. Without it a message is acked once the pipeline took it.
//! A body that is not OTLP is terminated (never redelivered) and counted as an error.
//! At most `max_in_flight` messages are unacked at once (also the consumer's
//! `max_ack_pending`).
//!
//! The consumer's backlog is read every `lag_interval_secs` and kept as series ([`lag`]).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::{FutureExt, StreamExt, future::BoxFuture};
use lookout_component::{BuildError, ComponentError, ComponentFuture, ComponentState, SourceConfig, SourceContext};
use lookout_config::{ComponentDecl, ConfigErrors, Secret};
use lookout_event::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_event::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_event::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_event::{Batch, BatchNotifier, Finalizers};
use prost::Message as _;
use serde::Deserialize;
use tracing::{info, warn};

pub mod lag;

pub use lookout_cluster::{NatsConnection, NatsTls};

/// The header that says which signal a message's OTLP protobuf body holds.
pub const SIGNAL_HEADER: &str = "Lookout-Signal";

/// `type: nats` (source).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSourceConfig {
    /// Server URL(s), comma-separated.
    pub url: String,
    /// The JetStream stream to consume.
    pub stream: String,
    /// The durable consumer's name, shared by every worker.
    pub consumer: String,
    /// Only subjects matching this (e.g. `telemetry.acme`); default: the whole stream.
    #[serde(default)]
    pub filter_subject: Option<String>,
    /// How long the server waits for an ack before redelivering.
    #[serde(default = "default_ack_wait")]
    pub ack_wait_secs: f64,
    /// Unacked messages at most.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// Ack only after the sinks confirmed delivery.
    #[serde(default)]
    pub acknowledgements: bool,
    /// How often the consumer's backlog is read into `lookout_nats_consumer_pending` and
    /// `lookout_nats_consumer_ack_pending` (`0`: never).
    #[serde(default = "default_lag_interval")]
    pub lag_interval_secs: f64,
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
}

fn default_ack_wait() -> f64 {
    30.0
}

fn default_in_flight() -> usize {
    64
}

fn default_lag_interval() -> f64 {
    15.0
}

impl NatsSourceConfig {
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

    fn check(&self) -> Result<(), String> {
        self.connection().check()?;
        if self.stream.is_empty() || self.stream.contains(['.', '*', '>', ' ']) {
            return Err(format!("`stream` `{}` must be a non-empty name without `.`, `*`, `>` or spaces", self.stream));
        }
        if self.consumer.is_empty() || self.consumer.contains(['.', '*', '>', ' ']) {
            return Err(format!(
                "`consumer` `{}` must be a non-empty name without `.`, `*`, `>` or spaces",
                self.consumer
            ));
        }
        if !(self.ack_wait_secs.is_finite() && self.ack_wait_secs >= 0.1) {
            return Err("`ack_wait_secs` must be at least 0.1".into());
        }
        if self.max_in_flight == 0 {
            return Err("`max_in_flight` must be at least 1".into());
        }
        if !(self.lag_interval_secs == 0.0 || (self.lag_interval_secs.is_finite() && self.lag_interval_secs >= 0.1)) {
            return Err("`lag_interval_secs` must be 0 (off) or at least 0.1".into());
        }
        Ok(())
    }
}

impl SourceConfig for NatsSourceConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        self.check().map_err(|e| decl.error(e).into())
    }

    fn build(&self, cx: SourceContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            config.check().map_err(BuildError)?;
            let client = config.connection().connect(&format!("lookout source {}", cx.id)).await.map_err(BuildError)?;
            let fut: ComponentFuture = Box::pin(run(config, client, cx));
            Ok(fut)
        }
        .boxed()
    }
}

/// Decodes one message body by its signal header.
pub fn decode(signal: &str, body: &[u8]) -> Result<Batch, String> {
    match signal {
        "logs" => ExportLogsServiceRequest::decode(body).map(|r| Batch::logs(r.resource_logs)),
        "traces" => ExportTraceServiceRequest::decode(body).map(|r| Batch::traces(r.resource_spans)),
        "metrics" => ExportMetricsServiceRequest::decode(body).map(|r| Batch::metrics(r.resource_metrics)),
        other => return Err(format!("unknown {SIGNAL_HEADER} `{other}`")),
    }
    .map_err(|e| format!("not an OTLP {signal} request: {e}"))
}

/// Finds (or creates) the consumer, retrying while the stream does not exist yet.
async fn consumer(
    config: &NatsSourceConfig,
    js: &jetstream::Context,
    cx: &SourceContext,
) -> Option<jetstream::consumer::Consumer<pull::Config>> {
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = async {
            let stream = js.get_stream(&config.stream).await.map_err(|e| e.to_string())?;
            stream
                .get_or_create_consumer(
                    &config.consumer,
                    pull::Config {
                        durable_name: Some(config.consumer.clone()),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait: Duration::from_secs_f64(config.ack_wait_secs),
                        max_ack_pending: config.max_in_flight as i64,
                        filter_subject: config.filter_subject.clone().unwrap_or_default(),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| e.to_string())
        };
        match attempt.await {
            Ok(c) => return Some(c),
            Err(e) => {
                cx.health.set_state(ComponentState::Degraded(format!("stream/consumer not ready: {e}")));
                warn!(source = %cx.id, stream = %config.stream, error = %e, "NATS consumer not ready; retrying.");
            }
        }
        tokio::select! {
            _ = cx.shutdown.cancelled() => return None,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn run(config: NatsSourceConfig, client: async_nats::Client, cx: SourceContext) -> Result<(), ComponentError> {
    let js = jetstream::new(client);
    let Some(consumer) = consumer(&config, &js, &cx).await else { return Ok(()) };
    if config.lag_interval_secs > 0.0 {
        let labels = lag::ConsumerLabels { stream: config.stream.clone(), consumer: config.consumer.clone() };
        let every = Duration::from_secs_f64(config.lag_interval_secs);
        tokio::spawn(lag::run(consumer.clone(), labels, cx.store.clone(), every, cx.shutdown.clone()));
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight));
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(config.max_in_flight.min(256))
        .messages()
        .await
        .map_err(|e| ComponentError::new(format!("cannot consume {}/{}: {e}", config.stream, config.consumer)))?;
    cx.health.ready();
    cx.health.set_state(ComponentState::Running);
    info!(source = %cx.id, stream = %config.stream, consumer = %config.consumer, "NATS source consuming");
    loop {
        let permit = tokio::select! {
            _ = cx.shutdown.cancelled() => break,
            p = permits.clone().acquire_owned() => p.map_err(ComponentError::new)?,
        };
        let next = tokio::select! {
            _ = cx.shutdown.cancelled() => break,
            m = messages.next() => m,
        };
        let message = match next {
            None => return Err(ComponentError::new("the NATS message stream ended")),
            Some(Err(e)) => {
                cx.metrics.errors.inc();
                warn!(source = %cx.id, error = %e, "NATS consume error");
                continue;
            }
            Some(Ok(m)) => m,
        };
        let signal = message
            .headers
            .as_ref()
            .and_then(|h| h.get(SIGNAL_HEADER))
            .map(|v| v.as_str().to_string())
            .unwrap_or_else(|| "logs".into());
        cx.metrics.received_bytes.inc_by(message.payload.len() as u64);
        let mut batch = match decode(&signal, &message.payload) {
            Ok(b) => b,
            Err(e) => {
                cx.metrics.errors.inc();
                warn!(source = %cx.id, subject = %message.subject, error = %e, "Dropping a NATS message that is not OTLP.");
                let _ = message.ack_with(AckKind::Term).await;
                continue;
            }
        };
        cx.metrics.received_events.inc_by(batch.len() as u64);
        let outcome = if config.acknowledgements {
            let (notifier, outcome) = BatchNotifier::new();
            batch.meta.finalizers = Finalizers::new(notifier);
            Some(outcome)
        } else {
            None
        };
        if cx.out.send(batch).await.is_err() {
            // The pipeline is closing: leave it for redelivery.
            let _ = message.ack_with(AckKind::Nak(None)).await;
            break;
        }
        let id = cx.id.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let kept = match outcome {
                Some(outcome) => outcome.wait().await.is_kept(),
                None => true,
            };
            let result = if kept { message.ack().await } else { message.ack_with(AckKind::Nak(None)).await };
            if let Err(e) = result {
                warn!(source = %id, error = %e, "Cannot ack a NATS message; it will be redelivered.");
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
