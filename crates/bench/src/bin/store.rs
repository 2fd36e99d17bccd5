//! `bench-store`: what the embedded series store costs per sample and per series, in
//! memory and on disk (not a test).
//!
//! Writes `--series` series of 5 labels (half counters growing by 0-19 a scrape, half
//! byte gauges that move one scrape in ten, the kind of values exporters produce), one
//! sample every `--interval` seconds (± `--jitter-ms`) for `--hours`, into a store
//! opened on a temp dir with 2 h blocks;
//! then cuts every finished window to blocks. Prints one JSON line:
//! - head: bytes of compressed sample data per sample (what Prometheus's 1.3 B/sample
//!   compares with), and the process's resident bytes per series after loading
//!   (labels, index, chunks, allocator overhead: everything);
//! - disk: block bytes (chunks + index + meta) per sample, WAL bytes per sample, and the
//!   time to open the store again (blocks loaded, WAL replayed).

use std::time::{Duration, Instant};

use clap::Parser;
use lookout_tsdb::{DiskOptions, FsyncPolicy, Labels, Matcher, Store, StoreConfig};

#[derive(Parser, Debug)]
#[command(about = "Measure the series store's bytes per sample and per series, as a JSON line")]
struct Args {
    /// Series to create.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Hours of data.
    #[arg(long, default_value_t = 6)]
    hours: i64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 15)]
    interval: i64,
    /// Scrape timestamps wander by up to this many ms either way (Prometheus's own
    /// scrapes: a few ms).
    #[arg(long, default_value_t = 2)]
    jitter_ms: i64,
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn labels(i: usize) -> Labels {
    let kind = if i.is_multiple_of(2) { "http_requests_total" } else { "process_resident_memory_bytes" };
    Labels::new([
        ("__name__".to_string(), kind.to_string()),
        ("job".to_string(), format!("job-{}", i / 100)),
        ("instance".to_string(), format!("10.0.{}.{}:8080", (i / 250) % 250, i % 250)),
        ("route".to_string(), format!("/api/v1/r{}", i % 7)),
        ("code".to_string(), ["200", "404", "500"][i % 3].to_string()),
    ])
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let options = DiskOptions {
        fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
        block_duration: Duration::from_secs(2 * 3600),
        wal_segment_size: 128 << 20,
        max_size: None,
    };
    let config = StoreConfig { retention_ms: (args.hours + 1) * 3_600_000, max_series: args.series * 2 };
    let start = 1_700_000_000_000i64 - 1_700_000_000_000i64 % 7_200_000;
    let steps = args.hours * 3600 / args.interval;
    let all: Vec<Labels> = (0..args.series).map(labels).collect();
    let mut values: Vec<f64> = (0..args.series).map(|i| (i * 37 % 1000) as f64).collect();
    // After the bench's own copies of the labels: what follows is the store's.
    let before = rss_bytes();
    let store = Store::open(&dir.path().join("tsdb"), config, options.clone())?;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let t0 = Instant::now();
    for step in 0..steps {
        let base = start + step * args.interval * 1000;
        for (i, l) in all.iter().enumerate() {
            let jitter = (next() % (2 * args.jitter_ms as u64 + 1)) as i64 - args.jitter_ms;
            values[i] = if i.is_multiple_of(2) {
                values[i] + (next() % 20) as f64
            } else if next().is_multiple_of(10) {
                (100_000_000 + (next() % 50_000) * 4096) as f64
            } else {
                values[i]
            };
            store.append(l, base + jitter, values[i])?;
        }
        store.commit();
    }
    let append_secs = t0.elapsed().as_secs_f64();
    let samples = (steps as u64) * args.series as u64;
    let (_, head_samples, head_bytes) = store.head_stats();
    let loaded = rss_bytes().saturating_sub(before);
    let wal_bytes = dir_bytes(&dir.path().join("tsdb/wal"));

    let t1 = Instant::now();
    let blocks_written = store.compact();
    let compact_secs = t1.elapsed().as_secs_f64();
    let block_bytes = dir_bytes(&dir.path().join("tsdb/blocks"));
    let (_, head_after, _) = store.head_stats();
    let block_samples = samples - head_after as u64;
    let q = Instant::now();
    let got = store.select(&[Matcher::equal("job", "job-3")], i64::MIN, i64::MAX);
    let query_ms = q.elapsed().as_secs_f64() * 1000.0;
    let read: usize = got.iter().map(|s| s.samples.len()).sum();
    anyhow::ensure!(read as i64 == 100.min(args.series as i64) * steps, "read back {read} samples");
    drop(store);
    let t2 = Instant::now();
    let reopened = Store::open(&dir.path().join("tsdb"), config, options)?;
    let reopen_secs = t2.elapsed().as_secs_f64();
    anyhow::ensure!(reopened.series_count() > 0, "nothing after reopening");

    let line = serde_json::json!({
        "series": args.series,
        "samples": samples,
        "append_samples_per_sec": (samples as f64 / append_secs).round(),
        "head_chunk_bytes_per_sample": head_bytes as f64 / head_samples.max(1) as f64,
        "resident_bytes_per_series": loaded / args.series as u64,
        "wal_bytes_per_sample": wal_bytes as f64 / samples as f64,
        "blocks_written": blocks_written,
        "block_bytes_per_sample": block_bytes as f64 / block_samples.max(1) as f64,
        "compact_secs": compact_secs,
        "select_one_job_ms": query_ms,
        "reopen_secs": reopen_secs,
    });
    println!("{line}");
    Ok(())
}
