//! Sources: how telemetry gets into Lookout.
//!
//! [`http_server`] (JSON/NDJSON/text log records over HTTP), [`syslog`] (RFC 5424 /
//! 3164 over TCP, TLS or UDP), [`vector`] (Vector's native gRPC protocol) and [`file`]
//! (tailed log files) go through the same admission path. The main source is [`otlp`]: the OpenTelemetry Protocol over gRPC
//! (`opentelemetry.proto.collector.{logs,trace,metrics}.v1`) and HTTP
//! (`POST /v1/logs|traces|metrics`, protobuf or JSON, optionally gzip). Both transports
//! decode into the same [`lookout_event::Batch`] and share one admission path
//! ([`otlp::accept`]): validation with OTLP partial-success, size limits, and
//! push-back (HTTP 503 + `Retry-After`, gRPC `UNAVAILABLE`) when the pipeline is full.
#![forbid(unsafe_code)]

pub mod file;
pub mod http_server;
pub mod nats;
pub mod otlp;
pub mod syslog;
pub mod tenant;
pub mod vector;

/// Registers the ingest families — per-tenant counters, authentication failures, the
/// `nats` source's consumer lag — in `registry` (once per process).
pub fn register_metrics(registry: &mut prometheus_client::registry::Registry) {
    tenant::register_metrics(registry);
    nats::lag::register_metrics(registry);
}

/// Registers this crate's component types.
pub fn register(registry: &mut lookout_component::Registry) {
    registry.source::<otlp::OtlpSourceConfig>(
        "otlp",
        "OTLP logs, traces and metrics over gRPC and HTTP (protobuf/JSON, gzip)",
    );
    registry.source::<http_server::HttpServerSourceConfig>(
        "http_server",
        "log records POSTed as JSON, NDJSON or text lines (gzip, zstd)",
    );
    registry.source::<file::FileSourceConfig>(
        "file",
        "tails log files by glob (rotation, multi-line records, checkpoints after acknowledgement)",
    );
    registry.source::<syslog::SyslogSourceConfig>(
        "syslog",
        "RFC 5424 / RFC 3164 syslog over TCP (octet-counted or newline, TLS) or UDP",
    );
    registry.source::<nats::NatsSourceConfig>(
        "nats",
        "a durable JetStream pull consumer shared by many workers: OTLP protobuf messages, acked after delivery",
    );
    registry.source::<vector::VectorSourceConfig>(
        "vector",
        "Vector's native v2 protocol (a Vector agent's `vector` sink): logs and metrics over gRPC",
    );
}
