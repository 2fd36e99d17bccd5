//! Lookout's sinks: where batches leave the pipeline.
//!
//! # The job
//!
//! Each sink drains its buffer and delivers what it holds to one destination, counting
//! what was sent, what failed and why, and reporting its health. The sinks register
//! themselves with [`register`]; the topology builds them from config.
//!
//! - Byte streams, sharing one drain loop (`writer`: it coalesces what is queued into
//!   one write, flushes after every write, and flushes on shutdown once the buffer is
//!   drained): [`file`] (NDJSON files with strftime paths that rotate when the rendered
//!   path changes) and [`console`] (NDJSON or readable lines on stdout or stderr).
//! - Network sinks, sharing [`delivery`]: [`elasticsearch`] (`_bulk`), [`splunk_hec`]
//!   (HTTP Event Collector), [`otlp`] (OTLP/HTTP or gRPC to another receiver),
//!   [`prometheus_remote_write`] (metrics to Prometheus-compatible stores) and
//!   `cloudwatch_logs` (`PutLogEvents`; the default `cloudwatch` feature).
//! - [`nats`]: OTLP protobuf onto a NATS JetStream stream, confirmed after the publish ack.
//! - [`metrics_store`]: metric points into the embedded series store, as Prometheus
//!   series for the rules.
//!
//! # Main types
//!
//! - One `*Config` per sink: the user's YAML, validated at load, built into a running
//!   future. Network sinks declare theirs with [`network_sink_config!`], which adds the
//!   shared delivery keys ([`delivery::DeliveryConfig`]).
//! - [`delivery::Protocol`]: all a network sink writes (records → items, one attempt
//!   against one endpoint); batching, concurrency, retries (`lookout-retry`, honouring
//!   `Retry-After`), load balancing, circuit breakers, the attempt timeout and dead
//!   letters are [`delivery`]'s tower stack.
//! - [`template::Template`]: index / group / stream names from record fields and time.
//! - [`Error`]: why a sink cannot be configured, built or run; a failed request is a
//!   [`delivery::SendError`] (retryable or not) and never stops a sink.
//!
//! # Why so
//!
//! Every network sink gets the same delivery behaviour, the same keys with the same
//! defaults, and the same telemetry, because it is written once as layers; a new sink
//! only speaks its protocol.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "cloudwatch")]
pub mod cloudwatch_logs;
pub mod console;
pub mod delivery;
pub mod destination;
pub mod elasticsearch;
mod error;
pub mod file;
pub mod metrics_store;
pub mod nats;
pub mod otlp;
pub mod prometheus_remote_write;
pub mod splunk_hec;
pub mod template;
mod writer;

#[cfg(test)]
mod test_util;

pub use console::{ConsoleEncoding, ConsoleSinkConfig, ConsoleStream};
pub use error::Error;
pub use file::{FileEncoding, FileSinkConfig};

/// Registers this crate's component types.
pub fn register(registry: &mut lookout_component::Registry) {
    registry.sink::<FileSinkConfig>(
        "file",
        "NDJSON files; strftime paths (archive-%Y-%m-%d.ndjson) rotate when the rendered path changes",
    );
    registry.sink::<elasticsearch::ElasticsearchConfig>(
        "elasticsearch",
        "Elasticsearch/OpenSearch _bulk: index templates, per-item retries and dead letters",
    );
    registry.sink::<nats::NatsSinkConfig>(
        "nats",
        "NATS JetStream: OTLP protobuf per tenant subject, confirmed after the publish ack; creates the stream",
    );
    registry.sink::<otlp::OtlpSinkConfig>(
        "otlp",
        "forwards to another OTLP receiver over HTTP or gRPC, honouring partial success and retry signals",
    );
    registry.sink::<splunk_hec::SplunkHecConfig>(
        "splunk_hec",
        "Splunk HTTP Event Collector: event or raw mode, per-record index/sourcetype/host templates, indexer acks",
    );
    registry.sink::<prometheus_remote_write::PrometheusRemoteWriteConfig>(
        "prometheus_remote_write",
        "metrics to Prometheus/VictoriaMetrics/Mimir/Thanos via remote write 1.0: delta to cumulative, exemplars, metadata",
    );
    registry.sink::<metrics_store::MetricsStoreConfig>(
        "metrics_store",
        "metric points into the embedded series store as Prometheus series (what rules read)",
    );
    #[cfg(feature = "cloudwatch")]
    registry.sink::<cloudwatch_logs::CloudWatchLogsConfig>(
        "cloudwatch_logs",
        "Amazon CloudWatch Logs PutLogEvents: group/stream templates, AWS limits, dead letters for what AWS refuses",
    );
    registry.sink::<ConsoleSinkConfig>("console", "NDJSON or readable text lines on stdout or stderr");
}
