//! What a tap passes on: the records matching its condition, within its rate and limit,
//! encoded as NDJSON.

use std::time::Instant;

use lookout_event::Batch;
use lookout_event::encode::write_record;
use lookout_transform::Condition;

/// A bad `where`, `limit` or `rate`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// The condition does not parse.
    #[error("where: {0}")]
    Condition(String),
    /// `limit` is 0.
    #[error("limit must be at least 1")]
    Limit,
    /// `rate` is not a positive number.
    #[error("rate must be a positive number of records per second, got {0}")]
    Rate(f64),
}

/// A tap's condition, rate limit (a token bucket holding one second's worth) and limit.
#[derive(Debug)]
pub struct TapFilter {
    condition: Option<Condition>,
    limit: Option<u64>,
    rate: Option<f64>,
    tokens: f64,
    refilled: Instant,
    sent: u64,
}

/// What [`TapFilter::encode`] did with one batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// Records written.
    pub written: u64,
    /// Records that matched but were over the rate.
    pub over_rate: u64,
}

impl TapFilter {
    /// A filter from the query's `where`, `limit` and `rate`.
    pub fn new(condition: Option<&str>, limit: Option<u64>, rate: Option<f64>) -> Result<TapFilter, FilterError> {
        let condition = match condition.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => Some(Condition::parse(c).map_err(|e| FilterError::Condition(e.to_string()))?),
            None => None,
        };
        if limit == Some(0) {
            return Err(FilterError::Limit);
        }
        if let Some(r) = rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(FilterError::Rate(r));
        }
        let tokens = rate.map_or(0.0, |r| r.max(1.0));
        Ok(TapFilter { condition, limit, rate, tokens, refilled: Instant::now(), sent: 0 })
    }

    /// The most records this tap sends.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Whether the limit has been reached.
    pub fn done(&self) -> bool {
        self.limit.is_some_and(|l| self.sent >= l)
    }

    /// Writes the records of `batch` that pass into `out`, one JSON object per line.
    pub fn encode(&mut self, batch: &Batch, out: &mut Vec<u8>) -> Encoded {
        if let Some(rate) = self.rate {
            let now = Instant::now();
            let elapsed = now.duration_since(self.refilled).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
            self.refilled = now;
        }
        let promote = batch.meta.promote.as_deref();
        let fallback = batch.meta.received_unix_nano;
        let mut encoded = Encoded::default();
        batch.for_each(|r| {
            if self.done() || self.condition.as_ref().is_some_and(|c| !c.matches(&r)) {
                return;
            }
            if self.rate.is_some() {
                if self.tokens < 1.0 {
                    encoded.over_rate += 1;
                    return;
                }
                self.tokens -= 1.0;
            }
            write_record(out, &r, promote, fallback);
            out.push(b'\n');
            self.sent += 1;
            encoded.written += 1;
        });
        encoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    fn batch(severities: &[&str]) -> Batch {
        let records = severities
            .iter()
            .map(|s| LogRecord { severity_text: s.to_string(), time_unix_nano: 1, ..Default::default() })
            .collect();
        Batch::logs(vec![ResourceLogs {
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }])
    }

    fn lines(out: &[u8]) -> Vec<serde_json::Value> {
        out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
    }

    #[test]
    fn condition_and_limit() {
        let mut f = TapFilter::new(Some(r#"severity_text == "ERROR""#), Some(3), None).unwrap();
        let mut out = Vec::new();
        let e = f.encode(&batch(&["INFO", "ERROR", "ERROR", "WARN"]), &mut out);
        assert_eq!(e, Encoded { written: 2, over_rate: 0 });
        assert!(!f.done());
        f.encode(&batch(&["ERROR", "ERROR"]), &mut out);
        assert!(f.done());
        let docs = lines(&out);
        assert_eq!(docs.len(), 3);
        assert!(docs.iter().all(|d| d["severity_text"] == "ERROR" && d["signal"] == "log"), "{docs:?}");
    }

    #[test]
    fn rate_skips_and_counts() {
        let mut f = TapFilter::new(None, None, Some(2.0)).unwrap();
        let mut out = Vec::new();
        let e = f.encode(&batch(&["A", "B", "C", "D", "E"]), &mut out);
        assert_eq!(e, Encoded { written: 2, over_rate: 3 });
        assert_eq!(lines(&out).len(), 2);
    }

    #[test]
    fn bad_parameters_are_clear_errors() {
        let e = TapFilter::new(Some("severity_number = 17"), None, None).unwrap_err();
        assert_eq!(e.to_string(), "where: `=` is not an operator; use `==` to compare at column 17");
        assert_eq!(TapFilter::new(None, Some(0), None).unwrap_err(), FilterError::Limit);
        assert_eq!(
            TapFilter::new(None, None, Some(-1.0)).unwrap_err().to_string(),
            "rate must be a positive number of records per second, got -1"
        );
    }
}
