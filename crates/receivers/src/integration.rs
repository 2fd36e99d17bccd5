//! The one contract every integration meets ("send this notification; say whether a
//! failure is worth retrying"), after Alertmanager's `notify.Notifier` + `Retrier`.

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::alert::Notification;

/// A notification channel built from one `*_configs` entry.
pub trait Integration: Send + Sync {
    /// The integration kind: `"slack"`, `"email"`, `"pagerduty"`, `"opsgenie"`, `"webhook"`,
    /// `"console"` (the `integration` label of the metrics).
    fn name(&self) -> &'static str;

    /// Whether resolved notifications are wanted (`send_resolved`). The notifier skips a
    /// flush with only resolved alerts when false; mixed flushes are still sent.
    fn send_resolved(&self) -> bool;

    /// Sends one notification, once: retries belong to [`crate::deliver`].
    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>>;
}

/// Why a notification failed: the `reason` label of `lookout_notifications_failed_total`
/// (Alertmanager's `alertmanager_notifications_failed_total` reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureReason {
    /// The service refused the request (4xx, including 429).
    ClientError,
    /// The service failed (5xx).
    ServerError,
    /// No connection, or it broke.
    Connection,
    /// An attempt or the whole delivery ran out of time.
    Timeout,
    /// Delivery was cancelled (shutdown, config reload).
    Canceled,
    /// A template did not render or the config could not be applied.
    Config,
    /// Anything else.
    Other,
}

impl FailureReason {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::ClientError => "clientError",
            FailureReason::ServerError => "serverError",
            FailureReason::Connection => "connectionError",
            FailureReason::Timeout => "timeout",
            FailureReason::Canceled => "canceled",
            FailureReason::Config => "config",
            FailureReason::Other => "other",
        }
    }
}

/// A failed attempt. Messages never carry secrets (URLs with tokens, keys, passwords).
#[derive(Debug, Clone)]
pub struct NotifyError {
    /// Whether trying again may succeed (429, 5xx, connection errors, timeouts).
    pub retryable: bool,
    /// What happened, lowercase, without a trailing period.
    pub message: String,
    /// The wait the service asked for (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// The failure class, for metrics.
    pub reason: FailureReason,
}

impl NotifyError {
    /// A failure worth retrying.
    pub fn retryable(reason: FailureReason, message: impl Into<String>) -> NotifyError {
        NotifyError { retryable: true, message: message.into(), retry_after: None, reason }
    }

    /// A failure that will not go away by retrying.
    pub fn permanent(reason: FailureReason, message: impl Into<String>) -> NotifyError {
        NotifyError { retryable: false, message: message.into(), retry_after: None, reason }
    }

    /// A template or configuration problem (never retried).
    pub fn config(message: impl Into<String>) -> NotifyError {
        NotifyError::permanent(FailureReason::Config, message)
    }
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NotifyError {}
