//! How hard to try: a [`Backoff`], limits on attempts and time, and how much of a
//! peer's `Retry-After` to obey; and the [`Verdict`] a failure gets.

use std::time::Duration;

use crate::{Backoff, ErrorKind};

/// What one failed attempt says about the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Retrying cannot help.
    Permanent,
    /// Worth another attempt; `after` is the wait the peer asked for (`Retry-After`),
    /// which replaces the backoff (capped by [`RetryPolicy::max_retry_after`]).
    Retry {
        /// The wait asked for, if any.
        after: Option<Duration>,
    },
    /// An outage rather than bad data (401/403 while a credential is rotated): retried
    /// with backoff for as long as it lasts, never given up.
    Outage {
        /// The wait asked for, if any.
        after: Option<Duration>,
    },
}

impl Verdict {
    /// Retry after the backoff.
    pub const RETRY: Verdict = Verdict::Retry { after: None };
}

/// An error that knows whether another attempt may succeed.
pub trait Retryable {
    /// The verdict on this failure.
    fn verdict(&self) -> Verdict;
}

/// Backoff and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait between attempts.
    pub backoff: Backoff,
    /// Give up after this many attempts (`None`: unbounded).
    pub max_attempts: Option<u32>,
    /// Give up rather than wait past this much time since the first attempt started
    /// (`None`: unbounded).
    pub max_elapsed: Option<Duration>,
    /// The longest `Retry-After` obeyed; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// `backoff`, unbounded, `Retry-After` capped at the backoff's `max`.
    pub fn new(backoff: Backoff) -> RetryPolicy {
        RetryPolicy { backoff, max_attempts: None, max_elapsed: None, max_retry_after: backoff.max }
    }

    /// The same policy giving up after `attempts` attempts.
    pub fn max_attempts(self, attempts: u32) -> RetryPolicy {
        RetryPolicy { max_attempts: Some(attempts), ..self }
    }

    /// The same policy giving up rather than waiting past `elapsed` since the start.
    pub fn max_elapsed(self, elapsed: Duration) -> RetryPolicy {
        RetryPolicy { max_elapsed: Some(elapsed), ..self }
    }

    /// The same policy obeying `Retry-After` up to `max`.
    pub fn max_retry_after(self, max: Duration) -> RetryPolicy {
        RetryPolicy { max_retry_after: max, ..self }
    }

    /// The wait before retry number `failures`: `retry_after` (capped) or the backoff,
    /// without the attempt or time limits (an [`Verdict::Outage`]).
    pub fn wait(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(asked) => asked.min(self.max_retry_after),
            None => self.backoff.delay(failures),
        }
    }

    /// The wait before the next attempt after `failures` failed attempts (1-based), the
    /// first of which started `elapsed` ago, when the peer asked for `retry_after`; or
    /// why to give up instead.
    pub fn next_wait(
        &self,
        failures: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Result<Duration, ErrorKind> {
        if self.max_attempts.is_some_and(|max| failures >= max) {
            return Err(ErrorKind::Attempts);
        }
        let wait = match retry_after {
            Some(asked) => asked.min(self.max_retry_after),
            None => self.backoff.delay(failures),
        };
        if self.max_elapsed.is_some_and(|max| elapsed + wait > max) {
            return Err(ErrorKind::Elapsed);
        }
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Jitter;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn retry_after_replaces_the_backoff_up_to_its_cap() {
        let p = RetryPolicy::new(Backoff::new(s(1), s(10)).with_jitter(Jitter::None));
        assert_eq!(p.next_wait(1, s(0), None), Ok(s(1)));
        assert_eq!(p.next_wait(3, s(0), None), Ok(s(4)));
        assert_eq!(p.next_wait(1, s(0), Some(s(7))), Ok(s(7)));
        assert_eq!(p.next_wait(1, s(0), Some(s(70))), Ok(s(10)), "capped by the backoff's max");
        assert_eq!(p.max_retry_after(s(60)).next_wait(1, s(0), Some(s(70))), Ok(s(60)));
    }

    #[test]
    fn limits() {
        let p = RetryPolicy::new(Backoff::new(s(1), s(10)).with_jitter(Jitter::None)).max_attempts(3);
        assert!(p.next_wait(2, s(0), None).is_ok());
        assert_eq!(p.next_wait(3, s(0), None), Err(ErrorKind::Attempts));
        let p = RetryPolicy::new(Backoff::new(s(4), s(10)).with_jitter(Jitter::None)).max_elapsed(s(10));
        assert_eq!(p.next_wait(1, s(6), None), Ok(s(4)), "ends exactly at the limit");
        assert_eq!(p.next_wait(1, s(7), None), Err(ErrorKind::Elapsed), "would wait past it");
    }
}
