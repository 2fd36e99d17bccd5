//! Lookout's sinks: where batches leave the pipeline.
//!
//! - [`file`]: NDJSON files, one object per log record, span or metric point, with
//!   strftime paths (`archive-%Y-%m-%d.ndjson`) that rotate when the rendered path
//!   changes.
//! - [`console`]: NDJSON or one readable line per record on stdout or stderr.
//!
//! Both are byte streams and share one drain loop (`writer`): it coalesces whatever
//! is already queued in the sink's buffer into one write, flushes after every write
//! so readers see data promptly, records `sent_events`/`sent_bytes`/latency (or
//! `errors`/`failed_events` and a `degraded` state on a failed write) and flushes on
//! shutdown once the buffer is drained.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "cloudwatch")]
pub mod cloudwatch_logs;
pub mod console;
pub mod delivery;
pub mod elasticsearch;
pub mod file;
pub mod metrics_store;
pub mod otlp;
pub mod splunk_hec;
pub mod template;
mod writer;

#[cfg(test)]
mod test_util;

pub use console::{ConsoleEncoding, ConsoleSinkConfig, ConsoleStream};
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
    registry.sink::<otlp::OtlpSinkConfig>(
        "otlp",
        "forwards to another OTLP receiver over HTTP or gRPC, honouring partial success and retry signals",
    );
    registry.sink::<splunk_hec::SplunkHecConfig>(
        "splunk_hec",
        "Splunk HTTP Event Collector: event or raw mode, per-record index/sourcetype/host templates, indexer acks",
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
