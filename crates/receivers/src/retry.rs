//! Delivering one notification through one integration: attempts with exponential backoff
//! and jitter while the failure is retryable (429, 5xx, connection errors, timeouts),
//! honouring `Retry-After`, until it succeeds, fails for good, runs out of time or is
//! cancelled. Like Alertmanager's `RetryStage`, but the policy is data, not a context.

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::Duration;

use futures::FutureExt as _;
use lookout_retry::{Backoff, Jitter, Verdict};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::alert::Notification;
use crate::integration::{FailureReason, Integration, NotifyError};

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// The first backoff (doubled after each failure).
    pub initial_backoff: Duration,
    /// The longest backoff between two attempts.
    pub max_backoff: Duration,
    /// Give up once this much time has passed since the first attempt (`None`: only
    /// cancellation stops it).
    pub max_elapsed: Option<Duration>,
    /// Give up after this many attempts (`None`: unbounded).
    pub max_attempts: Option<u32>,
    /// Longest `Retry-After` obeyed; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// Time limit of one attempt.
    pub attempt_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    /// 500 ms doubling to 30 s, for at most 5 minutes, 30 s per attempt.
    fn default() -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Some(Duration::from_secs(300)),
            max_attempts: None,
            max_retry_after: Duration::from_secs(300),
            attempt_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): "equal jitter", uniformly in
    /// [cap/2, cap] with cap = min(max_backoff, initial × 2^(retry-1)), so waits grow
    /// for sure while simultaneous failures still spread out.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.schedule().backoff.delay(retry)
    }

    /// As `lookout-retry` runs it.
    fn schedule(&self) -> lookout_retry::RetryPolicy {
        lookout_retry::RetryPolicy {
            backoff: Backoff::new(self.initial_backoff, self.max_backoff).with_jitter(Jitter::Equal),
            max_attempts: self.max_attempts,
            max_elapsed: self.max_elapsed,
            max_retry_after: self.max_retry_after,
        }
    }
}

impl lookout_retry::Retryable for NotifyError {
    fn verdict(&self) -> Verdict {
        if self.retryable { Verdict::Retry { after: self.retry_after } } else { Verdict::Permanent }
    }
}

fn canceled(last: Option<String>) -> NotifyError {
    let mut e = NotifyError::permanent(FailureReason::Canceled, "delivery canceled");
    if let Some(l) = last {
        e.message = format!("delivery canceled; last error: {l}");
    }
    e
}

/// Sends `n` through `integration`, retrying as `policy` says. Returns the last error
/// when it gives up (its message says after how many attempts).
pub async fn deliver(
    integration: &dyn Integration,
    n: &Notification,
    policy: &RetryPolicy,
    cancel: &CancellationToken,
) -> Result<(), NotifyError> {
    if cancel.is_cancelled() {
        return Err(canceled(None));
    }
    // The failure being waited on, for the message when cancelled during the wait.
    let waiting_on: Mutex<Option<String>> = Mutex::new(None);
    let waiting_on = &waiting_on;
    let attempt = || async move {
        *waiting_on.lock().unwrap() = None;
        // A panicking integration fails this notification, not the notifier.
        let guarded = AssertUnwindSafe(integration.notify(n)).catch_unwind().map(|r| {
            r.unwrap_or_else(|_| {
                Err(NotifyError::permanent(
                    FailureReason::Other,
                    format!("{}: integration panicked", integration.name()),
                ))
            })
        });
        let result = match policy.attempt_timeout {
            Some(t) => tokio::time::timeout(t, guarded).await.unwrap_or_else(|_| {
                Err(NotifyError::retryable(FailureReason::Timeout, format!("attempt timed out after {t:?}")))
            }),
            None => guarded.await,
        };
        if let Err(e) = &result {
            *waiting_on.lock().unwrap() = Some(e.message.clone());
        }
        result
    };
    let span = tracing::debug_span!("notify", integration = integration.name(), receiver = %n.receiver);
    let schedule = policy.schedule();
    let retrying = lookout_retry::retry(&schedule, attempt).instrument(span);
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(canceled(waiting_on.lock().unwrap().take())),
        r = retrying => r.map_err(|e| {
            let message = e.to_string();
            NotifyError { message, ..e.into_last() }
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::future::BoxFuture;

    use super::*;

    /// A scripted integration: pops one result per attempt and records when it was called.
    struct Script {
        results: Mutex<Vec<Result<(), NotifyError>>>,
        calls: Mutex<Vec<tokio::time::Instant>>,
    }

    impl Integration for Script {
        fn name(&self) -> &'static str {
            "script"
        }
        fn send_resolved(&self) -> bool {
            true
        }
        fn notify<'a>(&'a self, _n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
            self.calls.lock().unwrap().push(tokio::time::Instant::now());
            let r = self.results.lock().unwrap().remove(0);
            Box::pin(async move { r })
        }
    }

    fn script(results: Vec<Result<(), NotifyError>>) -> Script {
        Script { results: Mutex::new(results), calls: Mutex::new(Vec::new()) }
    }

    fn n() -> Notification {
        Notification {
            receiver: "r".into(),
            status_firing: true,
            group_key: "{}".into(),
            group_labels: Default::default(),
            alerts: vec![],
            external_url: String::new(),
            truncated_alerts: 0,
            now: chrono::Utc::now(),
        }
    }

    fn busy() -> Result<(), NotifyError> {
        Err(NotifyError::retryable(FailureReason::ServerError, "503"))
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_exponentially_then_succeeds() {
        let s = script(vec![busy(), busy(), busy(), Ok(())]);
        let p = RetryPolicy { initial_backoff: Duration::from_secs(1), ..RetryPolicy::default() };
        deliver(&s, &n(), &p, &CancellationToken::new()).await.unwrap();
        let calls = s.calls.lock().unwrap();
        assert_eq!(calls.len(), 4);
        let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
        for (i, g) in gaps.iter().enumerate() {
            let cap = Duration::from_secs(1 << i);
            assert!(*g >= cap / 2 && *g <= cap, "gap {i} = {g:?}, want within [{:?}, {cap:?}]", cap / 2);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let s = script(vec![Err(NotifyError::permanent(FailureReason::ClientError, "400")), Ok(())]);
        let e = deliver(&s, &n(), &RetryPolicy::default(), &CancellationToken::new()).await.unwrap_err();
        assert_eq!(e.message, "400");
        assert_eq!(s.calls.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_replaces_backoff() {
        let mut e = NotifyError::retryable(FailureReason::ClientError, "429");
        e.retry_after = Some(Duration::from_secs(7));
        let s = script(vec![Err(e), Ok(())]);
        deliver(&s, &n(), &RetryPolicy::default(), &CancellationToken::new()).await.unwrap();
        let calls = s.calls.lock().unwrap();
        assert_eq!(calls[1] - calls[0], Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_when_out_of_time_or_attempts() {
        let s = script(vec![busy(); 10]);
        let p = RetryPolicy { max_attempts: Some(3), ..RetryPolicy::default() };
        let e = deliver(&s, &n(), &p, &CancellationToken::new()).await.unwrap_err();
        assert!(e.message.contains("gave up after 3 attempts"), "{}", e.message);
        assert!(e.retryable);

        let s = script(vec![busy(); 20]);
        let p = RetryPolicy { max_elapsed: Some(Duration::from_secs(10)), ..RetryPolicy::default() };
        let t0 = tokio::time::Instant::now();
        deliver(&s, &n(), &p, &CancellationToken::new()).await.unwrap_err();
        assert!(t0.elapsed() <= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_stops_the_wait() {
        let s = script(vec![busy(), Ok(())]);
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c2.cancel();
        });
        let p = RetryPolicy { initial_backoff: Duration::from_secs(60), ..RetryPolicy::default() };
        let e = deliver(&s, &n(), &p, &cancel).await.unwrap_err();
        assert_eq!(e.reason, FailureReason::Canceled);
        assert!(e.message.contains("last error: 503"));
        assert_eq!(s.calls.lock().unwrap().len(), 1);
    }
}
