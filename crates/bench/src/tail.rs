//! Follows the file sink's output: counts lines and notes when each probe appears.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The attribute a probe record carries; its value is the probe's id.
pub const PROBE_KEY: &str = "bench.probe";

/// A background reader of the output file.
pub struct Tail {
    lines: Arc<AtomicU64>,
    seen: Arc<Mutex<HashMap<u64, Instant>>>,
    stop: Arc<AtomicBool>,
}

impl Tail {
    /// Starts following `path` (which may not exist yet).
    pub fn start(path: PathBuf) -> Tail {
        let tail = Tail {
            lines: Arc::new(AtomicU64::new(0)),
            seen: Arc::new(Mutex::new(HashMap::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (lines, seen, stop) = (tail.lines.clone(), tail.seen.clone(), tail.stop.clone());
        std::thread::spawn(move || follow(path, &lines, &seen, &stop));
        tail
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    /// Latency of every probe that was both sent and seen.
    pub fn probe_latencies(&self, sent: &HashMap<u64, Instant>) -> Vec<Duration> {
        let seen = self.seen.lock().unwrap();
        sent.iter().filter_map(|(id, at)| seen.get(id).map(|s| s.saturating_duration_since(*at))).collect()
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn follow(path: PathBuf, lines: &AtomicU64, seen: &Mutex<HashMap<u64, Instant>>, stop: &AtomicBool) {
    let marker = format!("\"{PROBE_KEY}\":\"");
    let finder = memchr::memmem::Finder::new(marker.as_bytes());
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
        lines.fetch_add(memchr::memchr_iter(b'\n', chunk).count() as u64, Ordering::Relaxed);
        // Probes are found in whole lines only: keep the unfinished tail for next time.
        let last_nl = memchr::memrchr(b'\n', chunk);
        let (complete, rest): (&[u8], &[u8]) = match last_nl {
            Some(i) => (&chunk[..=i], &chunk[i + 1..]),
            None => (&[], chunk),
        };
        if !complete.is_empty() {
            carry.extend_from_slice(complete);
            for at in finder.find_iter(&carry) {
                let start = at + marker.len();
                let end = carry[start..].iter().position(|&b| b == b'"').map_or(start, |e| start + e);
                if let Some(id) = std::str::from_utf8(&carry[start..end]).ok().and_then(|s| s.parse().ok()) {
                    seen.lock().unwrap().insert(id, now);
                }
            }
            carry.clear();
        }
        carry.extend_from_slice(rest);
    }
}
