//! What a retry means for a sink's request, as a [`lookout_retry::Classify`]: a partial
//! failure retries only the items that failed transiently, and what happened to every
//! item is kept in the request's [`Tally`], which the driver reads once the request is
//! done. Backoff (exponential, full jitter), `Retry-After` (capped by
//! `retry_max_backoff_secs`) and the `retry_max_duration` limit are `lookout-retry`'s.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lookout_event::DeliveryStatus;
use lookout_retry::{Backoff, Classify, Exhausted, Verdict};

use super::ack::Settler;
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
    /// Items whose retries ran out but that stay with whoever waits on them
    /// (acknowledgements, a disk buffer), to be sent again.
    pub kept: u64,
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
}

impl Attempt {
    /// A new request.
    pub fn new(items: Vec<Item>, key: Option<u64>) -> Attempt {
        Attempt { items, tally: Arc::default(), key }
    }
}

/// The `request` settings as a retry policy.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    policy: lookout_retry::RetryPolicy,
}

impl RetryPolicy {
    /// From the `request` settings.
    pub fn new(s: &RequestSettings) -> RetryPolicy {
        let backoff = Backoff::new(
            Duration::from_millis(s.retry_initial_backoff_ms.max(1)),
            Duration::from_secs_f64(s.retry_max_backoff_secs.max(0.001)),
        );
        let max_duration = Duration::from_secs_f64(s.retry_max_duration_secs.max(0.0));
        RetryPolicy { policy: lookout_retry::RetryPolicy::new(backoff).max_elapsed(max_duration) }
    }

    /// The policy itself, for one-off calls through [`lookout_retry::retry`].
    pub fn policy(&self) -> &lookout_retry::RetryPolicy {
        &self.policy
    }

    /// The tower layer.
    pub fn layer(&self) -> tower::retry::RetryLayer<lookout_retry::Policy<Items>> {
        lookout_retry::layer(self.policy, Items)
    }

    /// The wait after the `attempt`-th retry (0-based).
    #[cfg(test)]
    fn backoff(&self, attempt: u32) -> Duration {
        self.policy.backoff.delay(attempt + 1)
    }
}

/// Judges a sink's attempt item by item.
#[derive(Debug, Clone, Copy, Default)]
pub struct Items;

/// Items refused for good: dead letters, and their batches hear "rejected".
fn reject(req: &mut Attempt, tally: &mut Tally, why: &str) {
    let mut settler = Settler::default();
    for item in req.items.drain(..) {
        settler.settle(&item, DeliveryStatus::Rejected);
        tally.dead.push((item, why.to_string()));
    }
}

/// Items whose retries ran out on a transient failure: an outage, not bad data. Items
/// someone waits on (an acknowledging source, a disk buffer) stay unsettled, so their
/// batch reports "not delivered" and is sent again later; the others have nowhere to
/// wait and go to the dead letters.
fn keep_or_dead_letter(req: &mut Attempt, tally: &mut Tally, why: &str) {
    for item in req.items.drain(..) {
        if item.ack.is_some() {
            tally.kept += 1;
        } else {
            tally.dead.push((item, why.to_string()));
        }
    }
}

impl Classify<Attempt, Sent, SendError> for Items {
    fn classify(&mut self, req: &mut Attempt, result: &mut Result<Sent, SendError>) -> Verdict {
        let tally_handle = req.tally.clone();
        let mut tally = tally_handle.lock().unwrap();
        tally.attempts += 1;
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
                let mut settler = Settler::default();
                for (i, item) in req.items.drain(..).enumerate() {
                    if let Some(why) = reasons[i].take() {
                        settler.settle(&item, DeliveryStatus::Rejected);
                        tally.dead.push((item, why));
                    } else if retry[i] {
                        again.push(item);
                    } else {
                        settler.settle(&item, DeliveryStatus::Delivered);
                        tally.delivered += 1;
                        tally.delivered_bytes += item.doc.len();
                        let oldest = tally.oldest_delivered.get_or_insert(item.received_at);
                        *oldest = (*oldest).min(item.received_at);
                    }
                }
                req.items = again;
                if req.items.is_empty() { Verdict::Permanent } else { Verdict::RETRY }
            }
            Err(SendError::Fatal(e)) => {
                let why = e.clone();
                reject(req, &mut tally, &why);
                Verdict::Permanent
            }
            Err(e) => {
                tracing::debug!(error = %e, attempt = tally.attempts, "Request failed; retrying.");
                lookout_retry::Retryable::verdict(e)
            }
        }
    }

    fn give_up(&mut self, req: &mut Attempt, result: &mut Result<Sent, SendError>, exhausted: &Exhausted) {
        let elapsed = exhausted.elapsed;
        let why = match result {
            Ok(_) => format!(
                "retries exhausted after {elapsed:.1?}: the store kept refusing the item with a transient error"
            ),
            Err(e) => format!("retries exhausted after {elapsed:.1?}: {e}"),
        };
        let tally_handle = req.tally.clone();
        keep_or_dead_letter(req, &mut tally_handle.lock().unwrap(), &why);
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
