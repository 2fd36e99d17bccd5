//! Consumer lag of the `nats` source: every `lag_interval_secs` the consumer's info is
//! read from JetStream and its backlog published twice, as
//! `lookout_nats_consumer_pending{stream,consumer}` (messages not yet delivered to any
//! worker) and `lookout_nats_consumer_ack_pending{stream,consumer}` (delivered, not yet
//! acknowledged):
//!
//! - on `/metrics`, for Prometheus and dashboards;
//! - as series in the embedded store, written directly at the time of the read, so rules
//!   and scaler queries (`lookout_nats_consumer_pending{stream="TELEMETRY"}`) have them
//!   without `telemetry.self_scrape_interval` (the self-scrape skips these two names so
//!   they are not stored twice under other labels).
//!
//! The numbers are the consumer's, not this worker's: every worker sharing the consumer
//! reports the same backlog, so `max by (stream, consumer)` over several workers' series
//! is the backlog, not `sum`.

use std::sync::LazyLock;
use std::time::Duration;

use async_nats::jetstream::consumer::{Consumer, pull};
use lookout_component::Shutdown;
use lookout_tsdb::{Labels, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::debug;

/// The metric names (the self-scrape leaves them to this module).
pub const PENDING: &str = "lookout_nats_consumer_pending";
/// See [`PENDING`].
pub const ACK_PENDING: &str = "lookout_nats_consumer_ack_pending";

/// `stream="…", consumer="…"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabels {
    /// The JetStream stream.
    pub stream: String,
    /// The durable consumer.
    pub consumer: String,
}

/// The process-wide families (a source has no handle on the process's registry).
#[derive(Default)]
struct LagMetrics {
    pending: Family<ConsumerLabels, Gauge>,
    ack_pending: Family<ConsumerLabels, Gauge>,
}

fn metrics() -> &'static LagMetrics {
    static METRICS: LazyLock<LagMetrics> = LazyLock::new(LagMetrics::default);
    &METRICS
}

/// Registers the lag families (once per process, with the other ingest metrics).
pub fn register_metrics(registry: &mut Registry) {
    let m = metrics();
    registry.register(PENDING, "Messages of a JetStream consumer not yet delivered to any worker", m.pending.clone());
    registry.register(
        ACK_PENDING,
        "Messages of a JetStream consumer delivered but not yet acknowledged",
        m.ack_pending.clone(),
    );
}

/// One reading of the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// Not yet delivered.
    pub pending: u64,
    /// Delivered, not acknowledged.
    pub ack_pending: u64,
}

/// Reads the consumer's info and publishes it on `/metrics` and into `store` at `t_ms`.
pub async fn poll_once(
    consumer: &Consumer<pull::Config>,
    labels: &ConsumerLabels,
    store: &Store,
    t_ms: i64,
) -> Result<Lag, String> {
    let info = consumer.get_info().await.map_err(|e| e.to_string())?;
    let lag = Lag { pending: info.num_pending, ack_pending: info.num_ack_pending as u64 };
    let m = metrics();
    m.pending.get_or_create(labels).set(lag.pending as i64);
    m.ack_pending.get_or_create(labels).set(lag.ack_pending as i64);
    for (name, value) in [(PENDING, lag.pending), (ACK_PENDING, lag.ack_pending)] {
        let series = Labels::new([
            ("__name__".to_string(), name.to_string()),
            ("consumer".to_string(), labels.consumer.clone()),
            ("stream".to_string(), labels.stream.clone()),
        ]);
        // Refused only at the series limit or out of order; the next reading retries.
        let _ = store.append(&series, t_ms, value as f64);
    }
    store.commit();
    Ok(lag)
}

/// Polls every `interval` until `shutdown`.
pub async fn run(
    consumer: Consumer<pull::Config>,
    labels: ConsumerLabels,
    store: std::sync::Arc<Store>,
    interval: Duration,
    shutdown: Shutdown,
) {
    let mut ticker = lookout_component::Ticker::new(interval, shutdown);
    while ticker.tick().await {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        if let Err(e) = poll_once(&consumer, &labels, &store, now as i64).await {
            debug!(stream = %labels.stream, consumer = %labels.consumer, error = %e, "Cannot read the consumer's lag.");
        }
    }
}
