//! Retries as a tower `Policy`: exponential backoff with full jitter, bounded by
//! `retry_max_duration`; a partial failure retries only the items that failed
//! transiently. What happened to every item is kept in the request's [`Tally`], which
//! the driver reads once the request is done.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::settings::RequestSettings;
use super::{Item, SendError, Sent};

/// The outcome of one request, across all its attempts.
#[derive(Debug, Default)]
pub struct Tally {
    /// Items the store accepted.
    pub delivered: usize,
    /// Their encoded bytes.
    pub delivered_bytes: usize,
    /// Items given up, with why.
    pub dead: Vec<(Item, String)>,
    /// Attempts made.
    pub attempts: u32,
    /// Records refused without being named (OTLP partial success).
    pub refused_unidentified: u64,
    /// When the oldest delivered item entered Lookout (ingest → store latency).
    pub oldest_delivered: Option<Instant>,
}

/// One request as it goes through the layers (cloned per attempt: items are cheap
/// `Bytes` clones; the tally is shared).
#[derive(Debug, Clone)]
pub struct Attempt {
    /// What is still to send.
    pub items: Vec<Item>,
    /// Shared outcome.
    pub tally: Arc<Mutex<Tally>>,
    /// The consistent-hash key of its items, when `load_balance: consistent_hash`.
    pub key: Option<u64>,
    started: Instant,
}

impl Attempt {
    /// A new request.
    pub fn new(items: Vec<Item>, key: Option<u64>) -> Attempt {
        Attempt { items, tally: Arc::default(), key, started: Instant::now() }
    }
}

/// The retry policy.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    initial: Duration,
    max_backoff: Duration,
    max_duration: Duration,
}

impl RetryPolicy {
    /// From the `request` settings.
    pub fn new(s: &RequestSettings) -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(s.retry_initial_backoff_ms.max(1)),
            max_backoff: Duration::from_secs_f64(s.retry_max_backoff_secs.max(0.001)),
            max_duration: Duration::from_secs_f64(s.retry_max_duration_secs.max(0.0)),
        }
    }

    /// Full jitter: uniformly in [0, min(max_backoff, initial × 2^attempt)].
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self.initial.saturating_mul(1u32 << attempt.min(20)).min(self.max_backoff);
        cap.mul_f64(fastrand::f64())
    }

    fn give_up(req: &mut Attempt, tally: &mut Tally, why: &str) {
        tally.dead.extend(req.items.drain(..).map(|i| (i, why.to_string())));
    }
}

impl tower::retry::Policy<Attempt, Sent, SendError> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, req: &mut Attempt, result: &mut Result<Sent, SendError>) -> Option<Self::Future> {
        let tally_handle = req.tally.clone();
        let mut tally = tally_handle.lock().unwrap();
        tally.attempts += 1;
        let elapsed = req.started.elapsed();
        let out_of_time = elapsed >= self.max_duration;
        match result {
            Ok(sent) => {
                tally.refused_unidentified += sent.refused_unidentified;
                let mut retry = vec![false; req.items.len()];
                for &i in &sent.retry {
                    if let Some(r) = retry.get_mut(i) {
                        *r = true;
                    }
                }
                let mut reasons: Vec<Option<String>> = vec![None; req.items.len()];
                for (i, why) in sent.rejected.drain(..) {
                    if let Some(r) = reasons.get_mut(i) {
                        *r = Some(why);
                    }
                }
                let mut again = Vec::new();
                for (i, item) in req.items.drain(..).enumerate() {
                    if let Some(why) = reasons[i].take() {
                        tally.dead.push((item, why));
                    } else if retry[i] {
                        again.push(item);
                    } else {
                        tally.delivered += 1;
                        tally.delivered_bytes += item.doc.len();
                        let oldest = tally.oldest_delivered.get_or_insert(item.received_at);
                        *oldest = (*oldest).min(item.received_at);
                    }
                }
                req.items = again;
                if req.items.is_empty() {
                    return None;
                }
                if out_of_time {
                    let why = format!(
                        "retries exhausted after {elapsed:.1?}: the store kept refusing the item with a transient error"
                    );
                    Self::give_up(req, &mut tally, &why);
                    return None;
                }
            }
            Err(SendError::Fatal(e)) => {
                let why = e.clone();
                Self::give_up(req, &mut tally, &why);
                return None;
            }
            Err(SendError::Retryable(e)) => {
                if out_of_time {
                    let why = format!("retries exhausted after {elapsed:.1?}: {e}");
                    Self::give_up(req, &mut tally, &why);
                    return None;
                }
                tracing::debug!(error = %e, attempt = tally.attempts, "Request failed; retrying.");
            }
        }
        let wait = self.backoff(tally.attempts - 1);
        Some(tokio::time::sleep(wait))
    }

    fn clone_request(&mut self, req: &Attempt) -> Option<Attempt> {
        Some(req.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy::new(&RequestSettings {
            retry_initial_backoff_ms: 100,
            retry_max_backoff_secs: 1.0,
            ..Default::default()
        });
        for attempt in 0..30 {
            let cap = Duration::from_millis(100 * (1u64 << attempt.min(20))).min(Duration::from_secs(1));
            let samples: Vec<Duration> = (0..200).map(|_| p.backoff(attempt)).collect();
            assert!(samples.iter().all(|d| *d <= cap), "attempt {attempt}");
            let distinct: std::collections::HashSet<_> = samples.iter().collect();
            assert!(distinct.len() > 100, "full jitter spreads the waits");
        }
    }
}
