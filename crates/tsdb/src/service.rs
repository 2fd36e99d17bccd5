//! The store in a running Lookout: the pipeline file's `storage:` (where, how long, how
//! much), its background work, self-metrics and remote write of every accepted sample,
//! started together and stopped together.
//!
//! Background work runs here and only here, on blocking threads (it walks every series
//! or writes files): WAL fsync every `wal_fsync_interval`; head cuts to blocks and block
//! merges ([`Store::compact`]); retention every minute ([`Store::gc`]: samples older
//! than the window, series left empty, blocks past the window or `max_size`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lookout_config::PipelineConfig;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tracing::info;

use crate::remote::{RemoteWriter, RemoteWriterConfig};
use crate::{DiskOptions, Error, FsyncPolicy, Store, StoreConfig};

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
    /// WAL, blocks and size retention of a store opened on disk.
    pub disk: DiskOptions,
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
            c.bearer_token_file = rw.bearer_token_file.as_ref().map(Into::into);
            c
        });
        let s = &config.storage;
        let interval = s.wal_fsync_interval.map_or(Duration::from_secs(1), |d| d.std());
        let d = DiskOptions::default();
        let disk = DiskOptions {
            fsync: match s.wal_fsync {
                Some(lookout_config::WalFsync::Always) => FsyncPolicy::Always,
                _ => FsyncPolicy::Interval(interval),
            },
            block_duration: s.block_duration.map_or(d.block_duration, |b| b.std()),
            wal_segment_size: s.wal_segment_size.map_or(d.wal_segment_size, |b| b.bytes()),
            max_size: s.max_size.map(|b| b.bytes()),
        };
        StoreSettings { limits, remote_write, disk }
    }

    /// Opens the store in `data_dir/tsdb/` (see [`Store::open`]).
    pub fn open(&self, data_dir: &Path) -> Result<Store, Error> {
        Store::open(&data_dir.join("tsdb"), self.limits, self.disk.clone())
    }
}

/// The store's background work; [`StoreService::stop`] ends it.
pub struct StoreService {
    store: Arc<Store>,
    maintenance: JoinHandle<()>,
    disk_work: Option<JoinHandle<()>>,
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
                let url = lookout_config::redact_url(&config.url).into_owned();
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
        let disk_work = store.dir().is_some().then(|| tokio::spawn(disk_work(store.clone(), settings.disk)));
        Ok(StoreService { store, maintenance, disk_work, remote_writer })
    }

    /// Stops the background work, fsyncs the WAL, and flushes remote write (at most
    /// 10 s).
    pub async fn stop(self) {
        self.maintenance.abort();
        if let Some(d) = self.disk_work {
            d.abort();
        }
        let s = self.store.clone();
        let _ = tokio::task::spawn_blocking(move || s.sync()).await;
        if let Some((writer, task)) = self.remote_writer {
            self.store.set_append_hook(None);
            writer.close();
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// Refreshes the metrics every 5 s, ranks series in label order when enough are new
/// (at least every minute while any are), and runs retention every minute, forever.
async fn maintain(store: Arc<Store>, metrics: StoreMetrics) {
    let mut tick = tokio::time::interval(METRICS_EVERY);
    for round in 0u64.. {
        tick.tick().await;
        let minute = round % GC_EVERY_ROUNDS == GC_EVERY_ROUNDS - 1;
        if minute {
            let s = store.clone();
            let _ = tokio::task::spawn_blocking(move || s.gc(now_ms())).await;
        }
        if store.ranking_due(minute) {
            let s = store.clone();
            let _ = tokio::task::spawn_blocking(move || s.rank_series()).await;
        }
        metrics.update(&store);
    }
}

/// WAL fsync on its interval, and head cuts and block merges (checked every
/// `block_duration / 4`, within 1 s..1 min), each on a blocking thread.
async fn disk_work(store: Arc<Store>, disk: DiskOptions) {
    let sync_every = match disk.fsync {
        FsyncPolicy::Interval(d) => d,
        // Batches commit (and fsync) themselves; derived series still need a writer.
        FsyncPolicy::Always => Duration::from_secs(1),
    };
    let compact_every = (disk.block_duration / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    // Nothing to do at start: the first ticks are one period away.
    let start = tokio::time::Instant::now();
    let mut sync = tokio::time::interval_at(start + sync_every, sync_every);
    let mut compact = tokio::time::interval_at(start + compact_every, compact_every);
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    compact.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let s = store.clone();
        tokio::select! {
            _ = sync.tick() => { let _ = tokio::task::spawn_blocking(move || s.sync()).await; }
            _ = compact.tick() => { let _ = tokio::task::spawn_blocking(move || s.compact()).await; }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `{tenant="..."}`.
type TenantLabel = [(&'static str, String); 1];

/// The store's self-metrics.
#[derive(Default)]
struct StoreMetrics {
    series: Gauge,
    limit_hits: Counter,
    out_of_order: Counter,
    /// Live series per tenant (series with a `tenant` label).
    tenant_series: Family<TenantLabel, Gauge>,
    /// New series refused by a tenant's `max_series`, per tenant.
    tenant_refused: Family<TenantLabel, Counter>,
    out_of_bounds: Counter,
    head_chunks: Gauge,
    head_samples: Gauge,
    head_bytes: Gauge,
    blocks: Gauge,
    storage_bytes: Gauge,
    wal_corruptions: Counter,
    block_corruptions: Counter,
    wal_fsyncs: Counter,
    wal_fsync_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    wal_write_errors: Counter,
    compactions: Counter,
    compactions_failed: Counter,
    blocks_removed: Counter,
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
        r.register(
            "lookout_tsdb_out_of_bounds_samples",
            "Samples refused as older than the newest block (that time range is immutable).",
            self.out_of_bounds.clone(),
        );
        r.register("lookout_tsdb_head_series", "Series in the head (in memory).", self.series.clone());
        r.register("lookout_tsdb_head_chunks", "Compressed chunks in the head.", self.head_chunks.clone());
        r.register("lookout_tsdb_head_samples", "Samples in the head.", self.head_samples.clone());
        r.register(
            "lookout_tsdb_head_chunk_bytes",
            "Bytes of compressed sample data in the head.",
            self.head_bytes.clone(),
        );
        r.register("lookout_tsdb_blocks_loaded", "Blocks on disk that queries read.", self.blocks.clone());
        r.register("lookout_tsdb_storage_bytes", "Bytes of blocks and WAL on disk.", self.storage_bytes.clone());
        r.register(
            "lookout_tsdb_wal_corruptions",
            "Torn or corrupt WAL records or segment tails skipped when the store was opened.",
            self.wal_corruptions.clone(),
        );
        r.register(
            "lookout_tsdb_block_corruptions",
            "Blocks set aside at open and damaged chunks skipped by queries.",
            self.block_corruptions.clone(),
        );
        r.register("lookout_tsdb_wal_fsyncs", "WAL fsyncs.", self.wal_fsyncs.clone());
        r.register(
            "lookout_tsdb_wal_fsync_duration_seconds",
            "Time spent in WAL fsyncs.",
            self.wal_fsync_seconds.clone(),
        );
        r.register("lookout_tsdb_wal_write_errors", "WAL writes or fsyncs that failed.", self.wal_write_errors.clone());
        r.register("lookout_tsdb_compactions", "Head cuts to blocks and block merges.", self.compactions.clone());
        r.register(
            "lookout_tsdb_compactions_failed",
            "Head cuts or block merges that failed (retried).",
            self.compactions_failed.clone(),
        );
        r.register(
            "lookout_tsdb_retention_blocks_removed",
            "Blocks dropped by storage.retention or storage.max_size.",
            self.blocks_removed.clone(),
        );
        r.register(
            "lookout_tenant_series",
            "Series in the embedded store carrying the tenant's label (counted against its limits.max_series).",
            self.tenant_series.clone(),
        );
        r.register(
            "lookout_tenant_series_refused",
            "Samples refused because they would create a series past their tenant's limits.max_series.",
            self.tenant_refused.clone(),
        );
    }

    fn update(&self, store: &Store) {
        self.series.set(store.series_count() as i64);
        self.limit_hits.inc_by(store.series_limit_hits().saturating_sub(self.limit_hits.get()));
        self.out_of_order.inc_by(store.out_of_order().saturating_sub(self.out_of_order.get()));
        self.out_of_bounds.inc_by(store.out_of_bounds().saturating_sub(self.out_of_bounds.get()));
        let (chunks, samples, bytes) = store.head_stats();
        self.head_chunks.set(chunks as i64);
        self.head_samples.set(samples as i64);
        self.head_bytes.set(bytes as i64);
        let d = store.disk_stats();
        self.blocks.set(d.blocks as i64);
        self.storage_bytes.set(d.bytes as i64);
        let up = |c: &Counter, v: u64| {
            c.inc_by(v.saturating_sub(c.get()));
        };
        up(&self.wal_corruptions, d.wal_corruptions);
        up(&self.block_corruptions, d.block_corruptions);
        up(&self.wal_fsyncs, d.fsyncs);
        up(&self.wal_write_errors, d.wal_write_errors);
        up(&self.compactions, d.compactions);
        up(&self.compactions_failed, d.compactions_failed);
        up(&self.blocks_removed, d.blocks_removed);
        let secs = d.fsync_time.as_secs_f64() - self.wal_fsync_seconds.get();
        if secs > 0.0 {
            self.wal_fsync_seconds.inc_by(secs);
        }
        // A tenant whose series are all gone reads 0 until the next refresh drops it.
        let stats = store.tenant_series();
        self.tenant_series.clear();
        for t in stats {
            let label = [("tenant", t.tenant)];
            self.tenant_series.get_or_create(&label).set(t.series as i64);
            let refused = self.tenant_refused.get_or_create(&label);
            refused.inc_by(t.refused.saturating_sub(refused.get()));
        }
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
        let settings = StoreSettings {
            limits: StoreConfig { retention_ms: 1000, max_series: 1 },
            remote_write: None,
            disk: Default::default(),
        };
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

    #[tokio::test]
    async fn exports_series_and_refusals_per_tenant() {
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut registry = Registry::default();
        let settings = StoreSettings {
            limits: StoreConfig { retention_ms: 60_000, max_series: 100 },
            remote_write: None,
            disk: Default::default(),
        };
        let service = StoreService::start(store.clone(), settings, &mut registry).unwrap();
        store.set_tenant_series_limits([("shop".to_string(), 2)].into());
        let l = |tenant: &str, n: usize| {
            Labels::new([
                ("__name__".to_string(), "up".to_string()),
                ("n".to_string(), n.to_string()),
                ("tenant".to_string(), tenant.to_string()),
            ])
        };
        for n in 0..4 {
            let _ = store.append(&l("shop", n), 1, 1.0);
        }
        store.append(&l("blog", 0), 1, 1.0).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("lookout_tenant_series{tenant=\"shop\"} 2"), "{text}");
        assert!(text.contains("lookout_tenant_series{tenant=\"blog\"} 1"), "{text}");
        assert!(text.contains("lookout_tenant_series_refused_total{tenant=\"shop\"} 2"), "{text}");
        assert!(text.contains("lookout_tenant_series_refused_total{tenant=\"blog\"} 0"), "{text}");
        service.stop().await;
    }
}
