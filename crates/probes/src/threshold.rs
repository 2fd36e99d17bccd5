//! `lookout_probe_up`: consecutive failure and success thresholds, so a single blip
//! does not page and a flapping endpoint does not resolve on one lucky answer.
//!
//! A new probe counts as up until it fails `failure_threshold` times in a row; a down
//! probe counts as up again after `success_threshold` successes in a row (Kubernetes'
//! `failureThreshold` / `successThreshold`).

use serde::Serialize;

/// The thresholds of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failures that turn an up probe down.
    pub failure: u32,
    /// Consecutive successes that turn a down probe up.
    pub success: u32,
}

/// Where a probe stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tracker {
    /// Up (`lookout_probe_up` 1) or down.
    pub up: bool,
    /// Since when it is in that state (unix milliseconds).
    pub since_ms: i64,
    /// Successes in a row (0 after a failure).
    pub consecutive_successes: u32,
    /// Failures in a row (0 after a success).
    pub consecutive_failures: u32,
    /// Checks done.
    pub checks_total: u64,
    /// Checks that failed.
    pub failures_total: u64,
}

impl Tracker {
    /// A probe that has not run yet: up.
    pub fn new(now_ms: i64) -> Tracker {
        Tracker {
            up: true,
            since_ms: now_ms,
            consecutive_successes: 0,
            consecutive_failures: 0,
            checks_total: 0,
            failures_total: 0,
        }
    }

    /// Counts one check; true when it changed the state.
    pub fn record(&mut self, success: bool, at_ms: i64, thresholds: Thresholds) -> bool {
        self.checks_total += 1;
        let flip = if success {
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
            !self.up && self.consecutive_successes >= thresholds.success
        } else {
            self.failures_total += 1;
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
            self.up && self.consecutive_failures >= thresholds.failure
        };
        if flip {
            self.up = !self.up;
            self.since_ms = at_ms;
        }
        flip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `checks` ('o' success, 'x' failure) and returns the state after each
    /// ('U' up, 'D' down).
    fn run(checks: &str, failure: u32, success: u32) -> String {
        let mut t = Tracker::new(0);
        let th = Thresholds { failure, success };
        checks
            .chars()
            .enumerate()
            .map(|(i, c)| {
                t.record(c == 'o', i as i64, th);
                if t.up { 'U' } else { 'D' }
            })
            .collect()
    }

    #[test]
    fn thresholds_table() {
        for (checks, failure, success, expected) in [
            ("xxxxo", 1, 1, "DDDDU"),
            ("xoxxoxxx", 3, 2, "UUUUUUUD"),
            ("xxxoxoo", 3, 2, "UUDDDDU"),
            ("xxxooxoo", 3, 2, "UUDDUUUU"),
            ("xxxoooo", 3, 3, "UUDDDUU"),
            ("oooo", 3, 2, "UUUU"),
            ("xxoxx", 3, 1, "UUUUU"),
        ] {
            assert_eq!(run(checks, failure, success), expected, "{checks} failure={failure} success={success}");
        }
    }

    #[test]
    fn counts_and_since() {
        let mut t = Tracker::new(5);
        let th = Thresholds { failure: 2, success: 1 };
        assert!(!t.record(false, 10, th));
        assert!(t.record(false, 20, th));
        assert_eq!((t.up, t.since_ms, t.consecutive_failures, t.failures_total, t.checks_total), (false, 20, 2, 2, 2));
        assert!(t.record(true, 30, th));
        assert_eq!((t.up, t.since_ms, t.consecutive_successes, t.consecutive_failures), (true, 30, 1, 0));
    }
}
