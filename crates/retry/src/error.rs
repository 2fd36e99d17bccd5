//! The error a retried operation ends with.

use std::time::Duration;

/// Why retrying stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The last failure was not retryable.
    Permanent,
    /// [`crate::RetryPolicy::max_attempts`] attempts were made.
    Attempts,
    /// The next wait would have ended past [`crate::RetryPolicy::max_elapsed`].
    Elapsed,
}

/// A retried operation that did not succeed: the last failure and why retrying stopped.
/// Its message is the last failure's, followed by how retrying ended when it gave up.
#[derive(Debug, thiserror::Error)]
#[error("{last}{}", self.suffix())]
pub struct Error<E> {
    last: E,
    kind: ErrorKind,
    attempts: u32,
    elapsed: Duration,
}

impl<E> Error<E> {
    pub(crate) fn new(last: E, kind: ErrorKind, attempts: u32, elapsed: Duration) -> Error<E> {
        Error { last, kind, attempts, elapsed }
    }

    fn suffix(&self) -> String {
        match self.kind {
            ErrorKind::Permanent => String::new(),
            ErrorKind::Attempts => format!(" (gave up after {} attempts)", self.attempts),
            ErrorKind::Elapsed => format!(" (gave up after {} attempts in {:.1?})", self.attempts, self.elapsed),
        }
    }

    /// Why retrying stopped.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time since the first attempt started.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The last failure.
    pub fn last(&self) -> &E {
        &self.last
    }

    /// The last failure, owned.
    pub fn into_last(self) -> E {
        self.last
    }
}
