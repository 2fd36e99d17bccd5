//! The series store: the head (recent samples in memory, compressed), and, when opened
//! on a directory, its write-ahead log and immutable blocks.
//!
//! Locks: `blocks` before `head` whenever both are held, so a query sees a head cut to
//! a block either wholly before or wholly after the cut. The slow parts of a cut or a
//! merge (reading and writing files) hold neither.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::block::{self, Block};
use crate::exemplars::ExemplarStore;
use crate::head::Head;
use crate::metadata::MetadataStore;
use crate::tenants::TenantSeriesStats;
use crate::wal::{self, FsyncPolicy, Record, Wal};
use crate::{Error, Labels, Matcher};

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix milliseconds.
    pub t: i64,
    /// The value (a staleness marker is a special NaN).
    pub v: f64,
}

/// A selected series and its samples in the asked range.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// Its labels.
    pub labels: Labels,
    /// Its samples, oldest first.
    pub samples: Vec<Sample>,
}

/// Limits.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// How long samples are kept, in milliseconds.
    pub retention_ms: i64,
    /// Series beyond this are refused.
    pub max_series: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { retention_ms: 6 * 3600 * 1000, max_series: 1_000_000 }
    }
}

/// Why an append was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The series would exceed `max_series`.
    #[error("series limit ({0}) reached")]
    SeriesLimit(usize),
    /// The series would exceed its tenant's `max_series`.
    #[error("series limit ({limit}) of tenant `{tenant}` reached")]
    TenantSeriesLimit {
        /// The `tenant` label.
        tenant: String,
        /// Its `max_series`.
        limit: usize,
    },
    /// Older than the series' newest sample (Prometheus refuses these too).
    #[error("out of order sample")]
    OutOfOrder,
    /// Older than the newest block: that time range is written and immutable
    /// (Prometheus's "out of bounds").
    #[error("sample older than the newest block")]
    OutOfBounds,
}

/// Called with every accepted sample (e.g. to remote-write what the store receives).
pub type AppendHook = std::sync::Arc<dyn Fn(&Labels, i64, f64) + Send + Sync>;

/// How a store opened on a directory keeps its data.
#[derive(Debug, Clone)]
pub struct DiskOptions {
    /// When the WAL is fsynced.
    pub fsync: FsyncPolicy,
    /// The time window of the head cut to one block (Prometheus: 2h).
    pub block_duration: Duration,
    /// WAL segments are cut past this size.
    pub wal_segment_size: u64,
    /// Blocks are dropped, oldest first, while blocks and WAL together exceed this.
    pub max_size: Option<u64>,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            block_duration: Duration::from_secs(2 * 3600),
            wal_segment_size: 128 << 20,
            max_size: None,
        }
    }
}

/// What opening a store found on disk.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Blocks loaded.
    pub blocks: usize,
    /// Series and samples rebuilt from the WAL.
    pub replayed_series: u64,
    /// Samples rebuilt from the WAL.
    pub replayed_samples: u64,
    /// Damage skipped: torn or corrupt WAL records, blocks set aside.
    pub corruptions: Vec<String>,
}

/// Counters of the on-disk side, for the self-metrics.
#[derive(Debug, Clone, Default)]
pub struct DiskStats {
    /// Blocks loaded.
    pub blocks: usize,
    /// Bytes of blocks and WAL.
    pub bytes: u64,
    /// WAL fsyncs and their total time.
    pub fsyncs: u64,
    /// Total fsync time.
    pub fsync_time: Duration,
    /// WAL writes that failed.
    pub wal_write_errors: u64,
    /// Corrupt WAL records or segment tails met at open.
    pub wal_corruptions: u64,
    /// Damaged block chunks met by queries, and blocks set aside at open.
    pub block_corruptions: u64,
    /// Head cuts to blocks and block merges done.
    pub compactions: u64,
    /// Head cuts or merges that failed.
    pub compactions_failed: u64,
    /// Blocks dropped by time or size retention.
    pub blocks_removed: u64,
}

struct Disk {
    dir: PathBuf,
    wal: Wal,
    options: DiskOptions,
    /// One cut or merge at a time.
    compacting: Mutex<()>,
    _lock: std::fs::File,
}

/// The store. Appends and selects may come from many tasks.
pub struct Store {
    // Atomics so a running store can take new limits.
    retention_ms: AtomicI64,
    max_series: AtomicUsize,
    max_size: AtomicU64,
    head: RwLock<Head>,
    blocks: RwLock<Vec<Arc<Block>>>,
    disk: Option<Disk>,
    /// Samples older than this were dropped by retention: queries do not see them even
    /// while their chunk still holds them.
    min_time: AtomicI64,
    series_limit_hits: AtomicU64,
    out_of_order: AtomicU64,
    out_of_bounds: AtomicU64,
    pub(crate) counters: Counters,
    open_report: OpenReport,
    exemplars: ExemplarStore,
    metadata: MetadataStore,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) compactions: AtomicU64,
    pub(crate) compactions_failed: AtomicU64,
    pub(crate) blocks_removed: AtomicU64,
    block_corruptions_at_open: AtomicU64,
    wal_corruptions: AtomicU64,
}

impl Default for Store {
    /// An empty in-memory store with the default limits.
    fn default() -> Store {
        Store::new(StoreConfig::default())
    }
}

const WINDOW_IN_MEMORY: i64 = 2 * 3600 * 1000;

impl Store {
    /// An empty in-memory store (nothing survives the process).
    pub fn new(config: StoreConfig) -> Store {
        Store {
            retention_ms: config.retention_ms.into(),
            max_series: config.max_series.into(),
            max_size: AtomicU64::new(0),
            head: RwLock::new(Head::new()),
            blocks: RwLock::default(),
            disk: None,
            min_time: AtomicI64::new(i64::MIN),
            series_limit_hits: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            out_of_bounds: AtomicU64::new(0),
            counters: Counters::default(),
            open_report: OpenReport::default(),
            exemplars: ExemplarStore::default(),
            metadata: MetadataStore::default(),
        }
    }

    /// Opens (or creates) the store in `dir`: loads its blocks, replays its WAL into the
    /// head, and takes an exclusive lock on the directory (a second process fails here).
    /// Damage is skipped and reported in [`Store::open_report`], never a refusal.
    pub fn open(dir: &Path, config: StoreConfig, options: DiskOptions) -> Result<Store, Error> {
        let io = |what: &str, e: std::io::Error| Error::Storage(format!("{what} {}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create", e))?;
        let lock = std::fs::File::create(dir.join("lock")).map_err(|e| io("cannot create the lock file in", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Storage(format!("{} is in use by another Lookout process", dir.display())));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("cannot lock", e)),
        }
        let mut store = Store::new(config);
        store.max_size.store(options.max_size.unwrap_or(0), Ordering::Relaxed);
        let mut report = OpenReport::default();

        let (blocks, problems) =
            block::open_all(&dir.join("blocks")).map_err(|e| io("cannot read the blocks of", e))?;
        for p in &problems {
            tracing::error!(problem = %p, "A block of the series store is damaged; set aside as *.broken.");
        }
        store.counters.block_corruptions_at_open.store(problems.len() as u64, Ordering::Relaxed);
        report.corruptions.extend(problems);
        report.blocks = blocks.len();
        let blocks_max = blocks.iter().map(|b| b.meta.max_t).max();

        let wal_dir = dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(|e| io("cannot create", e))?;
        let window = options.block_duration.as_millis().max(1) as i64;
        let replayed = {
            let head = store.head.get_mut().expect("store lock");
            if let Some(t) = blocks_max {
                head.min_valid_t = t + 1;
            }
            replay(&wal_dir, head, config.max_series, window, &mut report)
                .map_err(|e| io("cannot read the WAL in", e))?
        };
        store.counters.wal_corruptions.store(replayed.corruptions as u64, Ordering::Relaxed);
        for c in &report.corruptions[report.corruptions.len() - replayed.corruptions..] {
            tracing::error!(problem = %c, "The series store's WAL is damaged; the damaged part was skipped.");
        }
        let wal = Wal::create(&wal_dir, options.wal_segment_size, replayed.max_t)
            .map_err(|e| io("cannot start a WAL segment in", e))?;
        *store.blocks.get_mut().expect("store lock") = blocks.into_iter().map(Arc::new).collect();
        store.disk = Some(Disk { dir: dir.to_path_buf(), wal, options, compacting: Mutex::new(()), _lock: lock });
        store.open_report = report;
        Ok(store)
    }

    /// The exemplars kept beside the series (evidence of what their samples counted).
    pub fn exemplars(&self) -> &ExemplarStore {
        &self.exemplars
    }

    /// What each metric family is (type, help, unit), as senders described it.
    pub fn metadata(&self) -> &MetadataStore {
        &self.metadata
    }

    /// What [`Store::open`] found (empty for an in-memory store).
    pub fn open_report(&self) -> &OpenReport {
        &self.open_report
    }

    /// The directory of a store opened on disk.
    pub fn dir(&self) -> Option<&Path> {
        self.disk.as_ref().map(|d| d.dir.as_path())
    }

    /// Changes the retention window and the series limit (existing series stay).
    pub fn set_limits(&self, config: StoreConfig) {
        self.retention_ms.store(config.retention_ms, Ordering::Relaxed);
        self.max_series.store(config.max_series, Ordering::Relaxed);
    }

    /// The limits in force.
    pub fn limits(&self) -> StoreConfig {
        StoreConfig {
            retention_ms: self.retention_ms.load(Ordering::Relaxed),
            max_series: self.max_series.load(Ordering::Relaxed),
        }
    }

    fn window(&self) -> i64 {
        self.disk.as_ref().map_or(WINDOW_IN_MEMORY, |d| d.options.block_duration.as_millis().max(1) as i64)
    }

    /// Appends a sample; an equal timestamp replaces the last sample.
    pub fn append(&self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        let max_series = self.max_series.load(Ordering::Relaxed);
        let window = self.window();
        let pending = {
            let mut head = self.head.write().expect("store lock");
            let appended = match head.append(labels, t, v, max_series, window, None) {
                Ok(a) => a,
                Err(e) => {
                    let counter = match e {
                        AppendError::SeriesLimit(_) | AppendError::TenantSeriesLimit { .. } => &self.series_limit_hits,
                        AppendError::OutOfOrder => &self.out_of_order,
                        AppendError::OutOfBounds => &self.out_of_bounds,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            };
            // Logged under the head's lock, so the WAL has a series before its samples
            // and each series' samples in order.
            let pending = self.disk.as_ref().map(|d| {
                if let Some(l) = &appended.created {
                    d.wal.series(appended.wal_ref, l);
                }
                d.wal.sample(appended.wal_ref, t, v)
            });
            if let Some(hook) = &head.hook {
                hook(labels, t, v);
            }
            pending
        };
        if let (Some(d), Some(n)) = (&self.disk, pending)
            && n >= wal::FLUSH_AT
            && let Err(e) = d.wal.flush(false)
        {
            tracing::error!(error = %e, "Cannot write the series store's WAL.");
        }
        Ok(())
    }

    /// Writes what was appended so far to the WAL, and fsyncs it with
    /// `wal_fsync: always`; what a sink calls after each batch. A no-op in memory.
    pub fn commit(&self) {
        if let Some(d) = &self.disk
            && let Err(e) = d.wal.flush(d.options.fsync == FsyncPolicy::Always)
        {
            tracing::error!(error = %e, "Cannot write the series store's WAL.");
        }
    }

    /// Writes and fsyncs the WAL (the `wal_fsync_interval` timer and shutdown).
    pub fn sync(&self) {
        if let Some(d) = &self.disk
            && let Err(e) = d.wal.flush(true)
        {
            tracing::error!(error = %e, "Cannot write or fsync the series store's WAL.");
        }
    }

    /// The WAL fsync policy (`None` in memory).
    pub fn fsync_policy(&self) -> Option<FsyncPolicy> {
        self.disk.as_ref().map(|d| d.options.fsync)
    }

    /// Installs (or with `None` removes) a hook called with every accepted sample. It
    /// runs under the store's write lock: it must be quick and must not use the store.
    pub fn set_append_hook(&self, hook: Option<AppendHook>) {
        self.head.write().expect("store lock").hook = hook;
    }

    /// Series matching every matcher, with their samples in `[mint, maxt]`, from the
    /// blocks and the head.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData> {
        let mint = mint.max(self.min_time.load(Ordering::Relaxed));
        let (blocks, head) = {
            let blocks = self.blocks.read().expect("store lock");
            let head = self.head.read().expect("store lock").select(matchers, mint, maxt);
            let overlapping: Vec<Arc<Block>> =
                blocks.iter().filter(|b| b.meta.max_t >= mint && b.meta.min_t <= maxt).cloned().collect();
            (overlapping, head)
        };
        if blocks.is_empty() {
            // The head hands its series out in label order.
            return head.into_iter().map(|(labels, samples)| SeriesData { labels, samples }).collect();
        }
        let mut merged: BTreeMap<Arc<Labels>, Vec<Sample>> = BTreeMap::new();
        // Oldest blocks first, the head last: concatenation is time order unless
        // blocks overlap.
        let head = head.into_iter().map(|(l, samples)| (Arc::new(l), samples));
        for (labels, samples) in blocks.iter().flat_map(|b| b.select(matchers, mint, maxt)).chain(head) {
            merged.entry(labels).or_default().extend(samples);
        }
        merged
            .into_iter()
            .map(|(l, mut samples)| {
                if !samples.windows(2).all(|w| w[0].t < w[1].t) {
                    // Overlapping sources: the later one (the head) wins a tie.
                    samples.reverse();
                    samples.sort_by_key(|s| s.t);
                    samples.dedup_by_key(|s| s.t);
                }
                SeriesData { labels: (*l).clone(), samples }
            })
            .collect()
    }

    /// [`Store::select`] without copying: `visit` gets each matching series' labels
    /// and its samples in `[mint, maxt]`, in label order. From the head alone, each
    /// series is decoded into one reused buffer under the read lock, so `visit` must
    /// not use the store; when blocks overlap the range, this falls back to `select`.
    pub fn for_each_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        visit: &mut dyn FnMut(&Labels, &[Sample]),
    ) {
        let mint = mint.max(self.min_time.load(Ordering::Relaxed));
        {
            let blocks = self.blocks.read().expect("store lock");
            if !blocks.iter().any(|b| b.meta.max_t >= mint && b.meta.min_t <= maxt) {
                // Taken before the blocks' lock is let go, so no cut lands in between.
                let head = self.head.read().expect("store lock");
                drop(blocks);
                head.for_each_series(matchers, mint, maxt, visit);
                return;
            }
        }
        for s in self.select(matchers, mint, maxt) {
            visit(&s.labels, &s.samples);
        }
    }

    /// Ranks the head's series in label order, so selections sort by a number (what
    /// [`StoreService`](crate::StoreService) does every few seconds while new series
    /// appear). The sort runs outside the lock; series created meanwhile stay unranked
    /// and sort by their labels until the next ranking.
    ///
    /// Series ranked before keep their order (sorted by rank, numbers only); the new
    /// ones are sorted by labels and merged in by binary search, so labels are compared
    /// about `new × log(all)` times rather than `all × log(all)`.
    pub fn rank_series(&self) {
        let (snapshot, unranked) = {
            let head = self.head.read().expect("store lock");
            (head.rank_snapshot(), head.unranked)
        };
        let (mut ranked, mut fresh): (Vec<_>, Vec<_>) =
            snapshot.into_iter().partition(|(_, _, rank)| *rank != u32::MAX);
        ranked.sort_unstable_by_key(|(_, _, rank)| *rank);
        fresh.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        let mut sorted = Vec::with_capacity(ranked.len() + fresh.len());
        let mut from = 0;
        for new in fresh {
            let at = from + ranked[from..].partition_point(|old| old.1 < new.1);
            sorted.extend(ranked[from..at].iter().map(|(id, labels, _)| (*id, labels.clone())));
            sorted.push((new.0, new.1));
            from = at;
        }
        sorted.extend(ranked[from..].iter().map(|(id, labels, _)| (*id, labels.clone())));
        self.head.write().expect("store lock").set_ranks(&sorted, unranked);
    }

    /// Whether enough series appeared since the last [`Store::rank_series`] to make
    /// ranking worth its sort: one in a hundred, or any once `stale` is set (the
    /// caller's "a while has passed").
    pub fn ranking_due(&self, stale: bool) -> bool {
        let head = self.head.read().expect("store lock");
        head.unranked > 0 && (stale || head.unranked * 100 >= head.series_count())
    }

    /// Drops samples older than the retention window before `now_ms`, series left
    /// empty, and blocks wholly older than the window or past `max_size`.
    pub fn gc(&self, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(self.retention_ms.load(Ordering::Relaxed));
        self.min_time.fetch_max(cutoff, Ordering::Relaxed);
        self.head.write().expect("store lock").gc(cutoff);
        let Some(disk) = &self.disk else { return };
        let max_size = self.max_size.load(Ordering::Relaxed);
        let removed: Vec<Arc<Block>> = {
            let mut blocks = self.blocks.write().expect("store lock");
            let mut removed = Vec::new();
            blocks.retain(|b| {
                let old = b.meta.max_t < cutoff;
                if old {
                    removed.push(b.clone());
                }
                !old
            });
            if max_size > 0 {
                let mut total = disk.wal.disk_bytes() + blocks.iter().map(|b| b.bytes).sum::<u64>();
                // Oldest first; the newest block stays (the head and WAL need a floor).
                while total > max_size && blocks.len() > 1 {
                    let b = blocks.remove(0);
                    total -= b.bytes;
                    removed.push(b);
                }
            }
            removed
        };
        for b in removed {
            tracing::info!(block = %b.meta.id, min_t = b.meta.min_t, max_t = b.meta.max_t, "Block dropped by retention.");
            if let Err(e) = std::fs::remove_dir_all(&b.dir) {
                tracing::error!(block = %b.dir.display(), error = %e, "Cannot remove a block dropped by retention.");
            }
            self.counters.blocks_removed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Cuts the head's oldest window to a block when the head spans more than one and
    /// a half windows (as Prometheus does), then merges finished runs of small blocks.
    /// Slow work holds no lock appends or queries need; call from a blocking thread.
    /// Returns the blocks written.
    pub fn compact(&self) -> usize {
        let Some(disk) = &self.disk else { return 0 };
        let _one = disk.compacting.lock().expect("compaction lock");
        let window = self.window();
        let mut written = 0;
        loop {
            let end = {
                let head = self.head.read().expect("store lock");
                // A sample from the far future must not cut every window up to it (and
                // then refuse today's samples as older than the newest block).
                let newest = head.max_t.min(wall_clock_ms());
                if head.max_t == i64::MIN || newest.saturating_sub(head.min_t) <= window + window / 2 {
                    break;
                }
                (head.min_t.div_euclid(window) + 1) * window
            };
            match self.cut_head(disk, end, window) {
                Ok(n) => written += n,
                Err(e) => {
                    self.counters.compactions_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "Cannot write the head's oldest window to a block; will retry.");
                    return written;
                }
            }
        }
        match crate::compact::merge_blocks(self, &disk.dir.join("blocks"), window) {
            Ok(n) => written += n,
            Err(e) => {
                self.counters.compactions_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "Cannot merge blocks; will retry.");
            }
        }
        written
    }

    fn cut_head(&self, disk: &Disk, end: i64, window: i64) -> std::io::Result<usize> {
        self.head.write().expect("store lock").cut_before(end, window);
        let chunks = self.head.read().expect("store lock").chunks_before(end);
        let block = block::write(&disk.dir.join("blocks"), 1, Vec::new(), chunks.into_iter().map(Ok))?;
        let written = usize::from(block.is_some());
        {
            let mut blocks = self.blocks.write().expect("store lock");
            let mut head = self.head.write().expect("store lock");
            if let Some(b) = block {
                tracing::info!(block = %b.meta.id, series = b.meta.series, samples = b.meta.samples, "Head cut to a block.");
                blocks.push(Arc::new(b));
                blocks.sort_by_key(|b| (b.meta.min_t, b.meta.max_t));
                self.counters.compactions.fetch_add(1, Ordering::Relaxed);
            }
            head.drop_before(end);
        }
        // A WAL write error here leaves the segments in place for the next cut.
        let live = self.head.read().expect("store lock").live();
        disk.wal.flush(true)?;
        let dropped = disk.wal.truncate(end, &live)?;
        tracing::debug!(segments = dropped, "WAL truncated after a head cut.");
        Ok(written)
    }

    pub(crate) fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().expect("store lock").clone()
    }

    /// Replaces `old` blocks by `new` (a merge's result).
    pub(crate) fn swap_blocks(&self, old: &[Arc<Block>], new: Block) {
        let mut blocks = self.blocks.write().expect("store lock");
        blocks.retain(|b| !old.iter().any(|o| Arc::ptr_eq(o, b)));
        blocks.push(Arc::new(new));
        blocks.sort_by_key(|b| (b.meta.min_t, b.meta.max_t));
    }

    /// Live series.
    pub fn series_count(&self) -> usize {
        self.head.read().expect("store lock").series_count()
    }

    /// Chunks, samples, and bytes of sample data in the head.
    pub fn head_stats(&self) -> (usize, usize, usize) {
        self.head.read().expect("store lock").stats()
    }

    /// The on-disk side's state (all zero in memory).
    pub fn disk_stats(&self) -> DiskStats {
        let Some(disk) = &self.disk else { return DiskStats::default() };
        let blocks = self.blocks();
        let (fsyncs, fsync_time) = disk.wal.fsync_stats();
        DiskStats {
            blocks: blocks.len(),
            bytes: disk.wal.disk_bytes() + blocks.iter().map(|b| b.bytes).sum::<u64>(),
            fsyncs,
            fsync_time,
            wal_write_errors: disk.wal.write_errors(),
            wal_corruptions: self.counters.wal_corruptions.load(Ordering::Relaxed),
            block_corruptions: self.counters.block_corruptions_at_open.load(Ordering::Relaxed)
                + blocks.iter().map(|b| b.corrupt_chunks.load(Ordering::Relaxed)).sum::<u64>(),
            compactions: self.counters.compactions.load(Ordering::Relaxed),
            compactions_failed: self.counters.compactions_failed.load(Ordering::Relaxed),
            blocks_removed: self.counters.blocks_removed.load(Ordering::Relaxed),
        }
    }

    /// Sets the per-tenant series limits (tenant name → `max_series`); tenants not named
    /// are limited only by the store's own `max_series`.
    pub fn set_tenant_series_limits(&self, limits: HashMap<String, usize>) {
        self.head.write().expect("store lock").tenants.set_limits(limits);
    }

    /// Live series and refusals of every tenant seen.
    pub fn tenant_series(&self) -> Vec<TenantSeriesStats> {
        self.head.read().expect("store lock").tenants.stats()
    }

    /// Appends refused by the series limit (global or a tenant's).
    pub fn series_limit_hits(&self) -> u64 {
        self.series_limit_hits.load(Ordering::Relaxed)
    }

    /// Appends refused as out of order.
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order.load(Ordering::Relaxed)
    }

    /// Appends refused as older than the newest block.
    pub fn out_of_bounds(&self) -> u64 {
        self.out_of_bounds.load(Ordering::Relaxed)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.sync();
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(i64::MAX, |d| d.as_millis() as i64)
}

/// What a replay leaves for the WAL writer.
struct Replayed {
    /// Each segment's newest sample timestamp.
    max_t: Vec<(u64, i64)>,
    /// Corruptions added to the report.
    corruptions: usize,
}

/// Rebuilds `head` from the WAL in `dir`: the newest checkpoint, then every segment
/// after it, in order.
fn replay(
    dir: &Path,
    head: &mut Head,
    max_series: usize,
    window: i64,
    report: &mut OpenReport,
) -> std::io::Result<Replayed> {
    let (segments, checkpoint) = wal::list(dir)?;
    let first = checkpoint.as_ref().map_or(0, |c| c.0);
    let mut files: Vec<(Option<u64>, PathBuf)> = checkpoint.map(|c| (None, c.1)).into_iter().collect();
    files.extend(segments.iter().filter(|n| **n >= first).map(|n| (Some(*n), dir.join(format!("{n:08}")))));
    // WAL id → head id (None: refused by the series limits), so a sample costs no
    // label hashing.
    let mut refs: HashMap<u64, Option<u32>> = HashMap::new();
    let mut max_t = Vec::new();
    let mut corruptions = 0;
    let mut unknown = 0u64;
    for (segment, path) in files {
        let bytes = std::fs::read(&path)?;
        let out = wal::read_records(&path.display().to_string(), &bytes);
        corruptions += out.corruptions.len();
        report.corruptions.extend(out.corruptions);
        let mut newest = i64::MIN;
        for record in out.records {
            match record {
                Record::Series(series) => {
                    for (r, labels) in series {
                        let id = head.create(&labels, max_series, Some(r)).ok().map(|(id, _)| id);
                        report.replayed_series += u64::from(id.is_some());
                        refs.insert(r, id);
                    }
                }
                Record::Samples(samples) => {
                    for (r, t, v) in samples {
                        newest = newest.max(t);
                        let id = match refs.get(&r) {
                            Some(Some(id)) => *id,
                            Some(None) => continue,
                            None => {
                                unknown += 1;
                                continue;
                            }
                        };
                        // Out of bounds (already in a block) is expected after a cut.
                        if head.append_id(id, t, v, window) {
                            report.replayed_samples += 1;
                        }
                    }
                }
            }
        }
        if let Some(n) = segment {
            max_t.push((n, newest));
        }
    }
    if unknown > 0 {
        report.corruptions.push(format!("{unknown} WAL samples of series whose record was lost; skipped"));
        corruptions += 1;
    }
    Ok(Replayed { max_t, corruptions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MatchOp;

    fn l(name: &str, job: &str) -> Labels {
        Labels::new([("__name__".to_string(), name.to_string()), ("job".to_string(), job.to_string())])
    }

    #[test]
    fn append_select_retention_and_limits() {
        let store = Store::new(StoreConfig { retention_ms: 1000, max_series: 2 });
        store.append(&l("up", "api"), 100, 1.0).unwrap();
        store.append(&l("up", "api"), 200, 0.0).unwrap();
        store.append(&l("up", "db"), 200, 1.0).unwrap();
        assert_eq!(store.append(&l("up", "api"), 150, 5.0), Err(AppendError::OutOfOrder));
        assert_eq!(store.append(&l("other", "x"), 200, 1.0), Err(AppendError::SeriesLimit(2)));
        assert_eq!(store.series_limit_hits(), 1);

        let api = store.select(&[Matcher::equal("__name__", "up"), Matcher::equal("job", "api")], 0, 1000);
        assert_eq!(api.len(), 1);
        assert_eq!(api[0].samples, vec![Sample { t: 100, v: 1.0 }, Sample { t: 200, v: 0.0 }]);
        let re = Matcher::new("job", MatchOp::Regex, "a.*").unwrap();
        assert_eq!(store.select(&[re], 150, 1000)[0].samples.len(), 1, "range and anchored regex");
        let not = Matcher::new("job", MatchOp::NotRegex, "a").unwrap();
        assert_eq!(store.select(&[Matcher::equal("__name__", "up"), not], 0, 1000).len(), 2, "`a` is anchored");

        store.gc(1150);
        assert_eq!(store.select(&[Matcher::equal("__name__", "up")], 0, 2000)[0].samples.len(), 1);
        store.gc(5000);
        assert_eq!(store.series_count(), 0);
        store.append(&l("other", "x"), 6000, 1.0).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        store.set_append_hook(Some(std::sync::Arc::new(move |l: &Labels, t, v| {
            sink.lock().unwrap().push((l.clone(), t, v));
        })));
        store.append(&l("other", "x"), 7000, 2.0).unwrap();
        let _ = store.append(&l("other", "x"), 6500, 3.0);
        store.set_append_hook(None);
        store.append(&l("other", "x"), 8000, 4.0).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![(l("other", "x"), 7000, 2.0)], "accepted samples only, until removed");
        assert_eq!(format!("{}", l("up", "a\"b")), "up{job=\"a\\\"b\"}");
    }
}
