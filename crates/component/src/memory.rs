//! The process memory limit (`limits.memory`), like the OpenTelemetry Collector's
//! `memory_limiter`: above it, ingest refuses new requests (503 / RESOURCE_EXHAUSTED)
//! before reading their bodies, so memory stops growing and clients retry later.
//!
//! The resident set size is read from `/proc/self/statm` at most every 50 ms, so the
//! check on each request is an atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static LIMIT: AtomicU64 = AtomicU64::new(0);
static RSS: AtomicU64 = AtomicU64::new(0);
static READ_AT_MS: AtomicU64 = AtomicU64::new(0);

const REFRESH_MS: u64 = 50;

/// Sets the limit in bytes (0: none).
pub fn set_limit(bytes: u64) {
    LIMIT.store(bytes, Ordering::Relaxed);
    READ_AT_MS.store(0, Ordering::Relaxed);
}

/// The limit in bytes (0: none).
pub fn limit() -> u64 {
    LIMIT.load(Ordering::Relaxed)
}

/// The resident set size in bytes, as last read (refreshed when older than 50 ms).
pub fn resident() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let at = READ_AT_MS.load(Ordering::Relaxed);
    if now.saturating_sub(at) >= REFRESH_MS
        && READ_AT_MS.compare_exchange(at, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        && let Some(rss) = read_rss()
    {
        RSS.store(rss, Ordering::Relaxed);
    }
    RSS.load(Ordering::Relaxed)
}

/// Whether the process is above its limit.
pub fn over_limit() -> bool {
    let limit = limit();
    limit > 0 && resident() > limit
}

fn read_rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_below_the_resident_size_is_exceeded() {
        assert!(!over_limit(), "no limit set");
        assert!(resident() > 1 << 20, "reads the resident size");
        set_limit(1 << 20);
        assert!(over_limit());
        set_limit(1 << 40);
        assert!(!over_limit());
        set_limit(0);
    }
}
