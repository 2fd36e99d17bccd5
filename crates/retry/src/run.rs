//! The async helper for callers that are not a tower `Service`.

use std::future::Future;

use tokio::time::Instant;

use crate::{Error, ErrorKind, RetryPolicy, Retryable, Verdict};

/// Runs `attempt` until it succeeds, fails permanently or `policy` gives up, waiting
/// between attempts as `policy` says. Each retry is logged at debug level with the
/// error (run it inside a span to name the operation).
///
/// Cancel it by dropping the future (e.g. in `tokio::select!`).
pub async fn retry<T, E, F, Fut>(policy: &RetryPolicy, mut attempt: F) -> Result<T, Error<E>>
where
    E: Retryable + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let err = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let after = match err.verdict() {
            Verdict::Permanent => {
                return Err(Error::new(err, ErrorKind::Permanent, attempts, started.elapsed()));
            }
            Verdict::Outage { after } => {
                tokio::time::sleep(policy.wait(attempts, after)).await;
                continue;
            }
            Verdict::Retry { after } => after,
        };
        let wait = match policy.next_wait(attempts, started.elapsed(), after) {
            Ok(wait) => wait,
            Err(kind) => return Err(Error::new(err, kind, attempts, started.elapsed())),
        };
        tracing::debug!(attempt = attempts, error = %err, wait_ms = wait.as_millis() as u64, "Attempt failed; retrying.");
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use super::*;
    use crate::{Backoff, Jitter};

    #[derive(Debug, Clone)]
    struct E(Verdict);

    impl Retryable for E {
        fn verdict(&self) -> Verdict {
            self.0
        }
    }

    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("busy")
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::new(Backoff::new(Duration::from_secs(1), Duration::from_secs(8)).with_jitter(Jitter::None))
    }

    /// Runs a script of results; returns the outcome and when each attempt started.
    async fn script(p: &RetryPolicy, results: Vec<Result<u32, E>>) -> (Result<u32, Error<E>>, Vec<Duration>) {
        let t0 = Instant::now();
        let results = RefCell::new(results);
        let calls = RefCell::new(Vec::new());
        let r = retry(p, || {
            calls.borrow_mut().push(t0.elapsed());
            let next = results.borrow_mut().remove(0);
            async move { next }
        })
        .await;
        (r, calls.into_inner())
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_and_honours_retry_after() {
        let asked = E(Verdict::Retry { after: Some(Duration::from_secs(5)) });
        let (r, calls) =
            script(&policy(), vec![Err(E(Verdict::RETRY)), Err(asked), Err(E(Verdict::RETRY)), Ok(7)]).await;
        assert_eq!(r.unwrap(), 7);
        let s = Duration::from_secs;
        assert_eq!(calls, [s(0), s(1), s(6), s(10)]);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_stop_at_once() {
        let (r, calls) = script(&policy(), vec![Err(E(Verdict::Permanent)), Ok(1)]).await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Permanent);
        assert_eq!(e.to_string(), "busy");
        assert_eq!(calls.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_retried_past_every_limit() {
        let outage = || Err(E(Verdict::Outage { after: None }));
        let p = policy().max_attempts(2).max_elapsed(Duration::from_secs(5));
        let mut script_results: Vec<Result<u32, E>> = (0..6).map(|_| outage()).collect();
        script_results.push(Ok(3));
        let (r, calls) = script(&p, script_results).await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(calls.len(), 7);
        assert!(calls[6] > Duration::from_secs(5), "waited past max_elapsed with backoff");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_on_attempts_or_time() {
        let (r, _) = script(&policy().max_attempts(3), vec![Err(E(Verdict::RETRY)); 5]).await;
        let e = r.unwrap_err();
        assert_eq!((e.kind(), e.attempts()), (ErrorKind::Attempts, 3));
        assert_eq!(e.to_string(), "busy (gave up after 3 attempts)");

        let (r, calls) = script(&policy().max_elapsed(Duration::from_secs(10)), vec![Err(E(Verdict::RETRY)); 9]).await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Elapsed);
        assert_eq!(calls.last(), Some(&Duration::from_secs(7)), "waits 1, 2, 4; the next 8 would end past 10");
        assert_eq!(e.to_string(), "busy (gave up after 4 attempts in 7.0s)");
    }
}
