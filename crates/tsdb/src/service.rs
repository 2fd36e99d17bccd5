//! The store in a running Lookout: the pipeline file's limits, retention, self-metrics
//! and remote write of every accepted sample, started together and stopped together.
//!
//! Retention runs here and only here: every minute samples older than the window and
//! series left empty are dropped ([`Store::gc`]), on a blocking thread because it walks
//! every series under the write lock.

use std::sync::Arc;
use std::time::Duration;

use lookout_config::PipelineConfig;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tracing::info;

use crate::remote::{RemoteWriter, RemoteWriterConfig};
use crate::{Error, Store, StoreConfig};

/// How often the self-metrics are refreshed.
const METRICS_EVERY: Duration = Duration::from_secs(5);
/// Retention runs every this many metric refreshes (one minute).
const GC_EVERY_ROUNDS: u64 = 12;

/// What the store runs with: the pipeline file's `storage:` and `rules.remote_write:`.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Retention window and series limit.
    pub limits: StoreConfig,
    /// Where every accepted sample is remote-written, if anywhere.
    pub remote_write: Option<RemoteWriterConfig>,
}

impl StoreSettings {
    /// From the pipeline file; unset limits keep [`StoreConfig::default`].
    pub fn from_config(config: &PipelineConfig) -> StoreSettings {
        let defaults = StoreConfig::default();
        let limits = StoreConfig {
            retention_ms: config.storage.retention.map_or(defaults.retention_ms, |d| d.ms()),
            max_series: config.storage.max_series.unwrap_or(defaults.max_series),
        };
        let remote_write = config.rules.as_ref().and_then(|r| r.remote_write.as_ref()).map(|rw| {
            let mut c = RemoteWriterConfig::new(&rw.url);
            c.bearer_token = rw.bearer_token.clone();
            c
        });
        StoreSettings { limits, remote_write }
    }
}

/// The store's background work; [`StoreService::stop`] ends it.
pub struct StoreService {
    store: Arc<Store>,
    maintenance: JoinHandle<()>,
    remote_writer: Option<(RemoteWriter, JoinHandle<()>)>,
}

impl StoreService {
    /// Applies `settings` to `store`, registers its `lookout_tsdb_*` metrics in
    /// `registry`, and starts retention and remote write. Call inside a Tokio runtime.
    pub fn start(store: Arc<Store>, settings: StoreSettings, registry: &mut Registry) -> Result<StoreService, Error> {
        store.set_limits(settings.limits);
        let metrics = StoreMetrics::default();
        metrics.register(registry);
        let remote_writer = match settings.remote_write {
            Some(config) => {
                let url = config.url.clone();
                let (writer, task) = RemoteWriter::start(config).map_err(|e| Error::RemoteWrite(e.to_string()))?;
                let w = writer.clone();
                store.set_append_hook(Some(Arc::new(move |l, t, v| {
                    w.push(l, t, v);
                })));
                info!(url = %url, "Remote-writing the series store.");
                Some((writer, task))
            }
            None => None,
        };
        let maintenance = tokio::spawn(maintain(store.clone(), metrics));
        Ok(StoreService { store, maintenance, remote_writer })
    }

    /// Stops retention and flushes remote write (at most 10 s).
    pub async fn stop(self) {
        self.maintenance.abort();
        if let Some((writer, task)) = self.remote_writer {
            self.store.set_append_hook(None);
            writer.close();
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// Refreshes the metrics every 5 s and runs retention every minute, forever.
async fn maintain(store: Arc<Store>, metrics: StoreMetrics) {
    let mut tick = tokio::time::interval(METRICS_EVERY);
    for round in 0u64.. {
        tick.tick().await;
        if round % GC_EVERY_ROUNDS == GC_EVERY_ROUNDS - 1 {
            let s = store.clone();
            let _ = tokio::task::spawn_blocking(move || s.gc(now_ms())).await;
        }
        metrics.update(&store);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The store's self-metrics.
#[derive(Default)]
struct StoreMetrics {
    series: Gauge,
    limit_hits: Counter,
    out_of_order: Counter,
}

impl StoreMetrics {
    fn register(&self, r: &mut Registry) {
        r.register("lookout_tsdb_series", "Series in the embedded store.", self.series.clone());
        r.register(
            "lookout_tsdb_series_limit_hits",
            "Samples refused because they would create a series past storage.max_series.",
            self.limit_hits.clone(),
        );
        r.register(
            "lookout_tsdb_out_of_order_samples",
            "Samples refused as older than their series' newest sample.",
            self.out_of_order.clone(),
        );
    }

    fn update(&self, store: &Store) {
        self.series.set(store.series_count() as i64);
        self.limit_hits.inc_by(store.series_limit_hits().saturating_sub(self.limit_hits.get()));
        self.out_of_order.inc_by(store.out_of_order().saturating_sub(self.out_of_order.get()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Labels;

    #[tokio::test]
    async fn applies_limits_and_exports_metrics() {
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut registry = Registry::default();
        let settings = StoreSettings { limits: StoreConfig { retention_ms: 1000, max_series: 1 }, remote_write: None };
        let service = StoreService::start(store.clone(), settings, &mut registry).unwrap();
        assert_eq!(store.limits().max_series, 1);
        let l = |n: &str| Labels::new([("__name__".to_string(), n.to_string())]);
        store.append(&l("a"), 1, 1.0).unwrap();
        assert!(store.append(&l("b"), 1, 1.0).is_err());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("lookout_tsdb_series 1"), "{text}");
        assert!(text.contains("lookout_tsdb_series_limit_hits_total 1"), "{text}");
        service.stop().await;
    }
}
