//! Follows the file sink's output: counts lines and notes when each probe appears.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The attribute a probe record carries; its value is the probe's id.
pub const PROBE_KEY: &str = "bench.probe";

/// What arrived at the sink side: records, and when each probe showed up.
#[derive(Default)]
pub struct Observed {
    records: AtomicU64,
    seen: Mutex<HashMap<u64, Instant>>,
}

impl Observed {
    /// Records that arrived so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Counts `n` records.
    pub fn add_records(&self, n: u64) {
        self.records.fetch_add(n, Ordering::Relaxed);
    }

    /// Notes the probes found in `complete` (whole lines only), seen at `now`.
    pub fn scan(&self, complete: &[u8], now: Instant) {
        let marker = format!("\"{PROBE_KEY}\":\"");
        for at in memchr::memmem::find_iter(complete, marker.as_bytes()) {
            let start = at + marker.len();
            let end = complete[start..].iter().position(|&b| b == b'"').map_or(start, |e| start + e);
            if let Some(id) = std::str::from_utf8(&complete[start..end]).ok().and_then(|s| s.parse().ok()) {
                self.seen.lock().unwrap().insert(id, now);
            }
        }
    }

    /// Latency of every probe that was both sent and seen.
    pub fn probe_latencies(&self, sent: &HashMap<u64, Instant>) -> Vec<Duration> {
        let seen = self.seen.lock().unwrap();
        sent.iter().filter_map(|(id, at)| seen.get(id).map(|s| s.saturating_duration_since(*at))).collect()
    }
}

/// A background reader of the output file.
pub struct Tail {
    stop: Arc<AtomicBool>,
}

impl Tail {
    /// Starts following `path` (which may not exist yet), reporting into `observed`.
    pub fn start(path: PathBuf, observed: Arc<Observed>) -> Tail {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || follow(path, &observed, &flag));
        Tail { stop }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn follow(path: PathBuf, observed: &Observed, stop: &AtomicBool) {
    let mut file = None;
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if file.is_none() {
            file = std::fs::File::open(&path).ok();
        }
        let n = match file.as_mut().map(|f| f.read(&mut buf)) {
            Some(Ok(n)) if n > 0 => n,
            _ => {
                std::thread::sleep(Duration::from_micros(500));
                continue;
            }
        };
        let now = Instant::now();
        let chunk = &buf[..n];
        observed.add_records(memchr::memchr_iter(b'\n', chunk).count() as u64);
        // Probes are found in whole lines only: keep the unfinished tail for next time.
        let last_nl = memchr::memrchr(b'\n', chunk);
        let (complete, rest): (&[u8], &[u8]) = match last_nl {
            Some(i) => (&chunk[..=i], &chunk[i + 1..]),
            None => (&[], chunk),
        };
        if !complete.is_empty() {
            carry.extend_from_slice(complete);
            observed.scan(&carry, now);
            carry.clear();
        }
        carry.extend_from_slice(rest);
    }
}
