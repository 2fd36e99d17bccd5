//! The store on disk: restarts, crashes, head cuts, merges, retention, damage.

use std::path::Path;
use std::time::Duration;

use crate::{AppendError, DiskOptions, FsyncPolicy, Labels, Matcher, Sample, Store, StoreConfig};

fn l(job: &str) -> Labels {
    Labels::new([("__name__".to_string(), "up".to_string()), ("job".to_string(), job.to_string())])
}

fn options(block_ms: u64) -> DiskOptions {
    DiskOptions {
        fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
        block_duration: Duration::from_millis(block_ms),
        wal_segment_size: 1024,
        max_size: None,
    }
}

const LONG: StoreConfig = StoreConfig { retention_ms: 1 << 40, max_series: 1000 };

fn all(store: &Store) -> Vec<(String, Vec<Sample>)> {
    store
        .select(&[Matcher::equal("__name__", "up")], i64::MIN, i64::MAX)
        .into_iter()
        .map(|s| (s.labels.get("job").unwrap_or_default().to_string(), s.samples))
        .collect()
}

/// Appends `up{job=a|b|c}` every 100 ms over `[from, to)`, value = t / 100 (and a NaN
/// marker now and then, to check it survives bit-exact).
fn fill(store: &Store, from: i64, to: i64) {
    for t in (from..to).step_by(100) {
        for job in ["a", "b", "c"] {
            let v = if t % 1700 == 0 { crate::stale_nan() } else { (t / 100) as f64 };
            store.append(&l(job), t, v).unwrap();
        }
        // A batch per second of data, as a sink commits after each batch.
        if t % 1000 == 900 {
            store.commit();
        }
    }
    store.commit();
}

fn same(a: &[(String, Vec<Sample>)], b: &[(String, Vec<Sample>)]) {
    let bits = |x: &[(String, Vec<Sample>)]| -> Vec<(String, Vec<(i64, u64)>)> {
        x.iter().map(|(j, s)| (j.clone(), s.iter().map(|s| (s.t, s.v.to_bits())).collect())).collect()
    };
    assert_eq!(bits(a), bits(b));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_restart_and_a_crash_keep_committed_samples() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("tsdb"), LONG, options(3_600_000)).unwrap();
    fill(&store, 0, 5_000);
    let before = all(&store);
    assert_eq!(before.len(), 3);
    assert_eq!(before[0].1.len(), 50);
    // A second process cannot open the same directory.
    let err = Store::open(&dir.path().join("tsdb"), LONG, options(3_600_000)).err().unwrap();
    assert!(err.to_string().contains("in use by another Lookout process"), "{err}");
    // `kill -9` right after a commit: the files as they are now, no shutdown.
    copy_dir(&dir.path().join("tsdb"), &dir.path().join("crashed"));
    drop(store);
    let reopened = Store::open(&dir.path().join("tsdb"), LONG, options(3_600_000)).unwrap();
    same(&all(&reopened), &before);
    assert_eq!(reopened.open_report().replayed_samples, 150);
    let crashed = Store::open(&dir.path().join("crashed"), LONG, options(3_600_000)).unwrap();
    same(&all(&crashed), &before);
    assert!(crashed.open_report().corruptions.is_empty(), "{:?}", crashed.open_report().corruptions);
    // Appends go on where they stopped; older ones are still out of order.
    assert_eq!(crashed.append(&l("a"), 100, 1.0), Err(AppendError::OutOfOrder));
    crashed.append(&l("a"), 5_000, 1.0).unwrap();
}

#[test]
fn the_head_moves_to_blocks_and_the_wal_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tsdb");
    let store = Store::open(&path, LONG, options(1_000)).unwrap();
    fill(&store, 0, 10_000);
    let before = all(&store);
    let wal_before = crate::wal::dir_bytes(&path.join("wal"));
    let written = store.compact();
    assert!(written >= 7, "{written} blocks");
    let stats = store.disk_stats();
    assert!(stats.blocks >= 1 && stats.compactions >= 7, "{stats:?}");
    let (_, head_samples, _) = store.head_stats();
    assert!(head_samples < 60, "the head keeps about 1.5 windows: {head_samples}");
    same(&all(&store), &before);
    assert!(crate::wal::dir_bytes(&path.join("wal")) < wal_before, "WAL truncated");
    // Ranges inside a block and across block and head.
    let part = store.select(&[Matcher::equal("job", "b")], 2_950, 9_050);
    assert_eq!(part[0].samples.first().map(|s| s.t), Some(3_000));
    assert_eq!(part[0].samples.len(), 61);
    // Older than the newest block: refused, that range is immutable.
    assert_eq!(store.append(&l("a"), 1_000, 1.0), Err(AppendError::OutOfBounds));
    drop(store);
    let reopened = Store::open(&path, LONG, options(1_000)).unwrap();
    same(&all(&reopened), &before);
    assert!(reopened.open_report().blocks >= 1);
}

#[test]
fn finished_runs_of_blocks_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tsdb");
    let store = Store::open(&path, LONG, options(1_000)).unwrap();
    fill(&store, 0, 20_000);
    let before = all(&store);
    for _ in 0..10 {
        store.compact();
    }
    let blocks = store.blocks();
    // 1 s windows merge into 3 s, 9 s ranges: far fewer than the 18 cut.
    assert!(blocks.len() <= 6, "{} blocks", blocks.len());
    assert!(blocks.iter().any(|b| b.meta.level > 1));
    same(&all(&store), &before);
    let dirs = std::fs::read_dir(path.join("blocks")).unwrap().count();
    assert_eq!(dirs, blocks.len(), "merged sources are removed");
    drop(store);
    same(&all(&Store::open(&path, LONG, options(1_000)).unwrap()), &before);
}

#[test]
fn retention_by_time_and_by_size_drops_the_oldest_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tsdb");
    let store = Store::open(&path, StoreConfig { retention_ms: 4_000, max_series: 10 }, options(1_000)).unwrap();
    fill(&store, 0, 10_000);
    store.compact();
    let n = store.disk_stats().blocks;
    store.gc(10_000);
    let stats = store.disk_stats();
    assert!(stats.blocks < n && stats.blocks_removed > 0, "{stats:?}");
    let got = store.select(&[Matcher::equal("job", "a")], 0, i64::MAX);
    assert_eq!(got[0].samples.first().map(|s| s.t), Some(6_000), "nothing older than the window is seen");
    drop(store);

    let sized = dir.path().join("sized");
    let mut o = options(1_000);
    o.max_size = Some(1);
    let store = Store::open(&sized, LONG, o).unwrap();
    fill(&store, 0, 10_000);
    store.compact();
    assert!(store.disk_stats().blocks > 1);
    store.gc(10_000);
    assert_eq!(store.disk_stats().blocks, 1, "over max_size: all but the newest block go");
    assert_eq!(std::fs::read_dir(sized.join("blocks")).unwrap().count(), 1);
}

#[test]
fn a_damaged_wal_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tsdb");
    let store = Store::open(&path, LONG, options(3_600_000)).unwrap();
    fill(&store, 0, 20_000);
    drop(store);
    let (segments, _) = crate::wal::list(&path.join("wal")).unwrap();
    assert!(segments.len() >= 3, "{segments:?}");
    // Garbage in the middle of one segment, a torn tail on another.
    let first = path.join("wal").join(format!("{:08}", segments[0]));
    let mut bytes = std::fs::read(&first).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 8].copy_from_slice(b"garbage!");
    std::fs::write(&first, &bytes).unwrap();
    let second = path.join("wal").join(format!("{:08}", segments[1]));
    let len = std::fs::metadata(&second).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&second).unwrap().set_len(len - 5).unwrap();

    let store = Store::open(&path, LONG, options(3_600_000)).unwrap();
    let report = store.open_report();
    assert!(report.corruptions.len() >= 2, "{:?}", report.corruptions);
    assert_eq!(store.disk_stats().wal_corruptions, report.corruptions.len() as u64);
    // What the undamaged segments hold is back, and the store takes new samples.
    let got = all(&store);
    assert_eq!(got.len(), 3);
    assert!(got[0].1.len() > 100 && got[0].1.len() < 200, "{}", got[0].1.len());
    assert_eq!(got[0].1.last().map(|s| s.t), Some(19_900));
    store.append(&l("a"), 20_000, 1.0).unwrap();
}

#[test]
fn a_sample_from_the_far_future_does_not_freeze_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("tsdb"), LONG, options(1_000)).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    store.append(&l("a"), now - 500, 1.0).unwrap();
    store.append(&l("clock-skew"), now + 10 * 365 * 86_400_000, 1.0).unwrap();
    assert_eq!(store.compact(), 0, "nothing is old yet");
    store.append(&l("a"), now, 2.0).unwrap();
}
