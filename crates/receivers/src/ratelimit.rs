//! A rate limit in front of an integration: each attempt waits for a token from a
//! `governor` bucket, which a receiver's integrations share. Waiting, not dropping:
//! a notification held back a second is better than one lost, and the retry layer's
//! deadline still bounds the wait.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::alert::Notification;
use crate::config::RateLimitConfig;
use crate::integration::{Integration, NotifyError};

/// A token bucket shared by the integrations of one receiver.
#[derive(Clone)]
pub struct SharedLimiter(Arc<DefaultDirectRateLimiter>);

impl SharedLimiter {
    /// `burst` at once, refilled at `per_second`.
    pub fn new(c: &RateLimitConfig) -> Result<SharedLimiter, crate::Error> {
        if !(c.requests_per_second > 0.0 && c.requests_per_second.is_finite()) {
            return Err(crate::Error::config("rate_limit.requests_per_second must be a positive number"));
        }
        let period = Duration::from_secs_f64(1.0 / c.requests_per_second);
        let burst =
            NonZeroU32::new(c.burst).ok_or_else(|| crate::Error::config("rate_limit.burst must be at least 1"))?;
        let quota = Quota::with_period(period)
            .ok_or_else(|| crate::Error::config("rate_limit.requests_per_second is too high"))?
            .allow_burst(burst);
        Ok(SharedLimiter(Arc::new(RateLimiter::direct(quota))))
    }
}

/// Waits for a token before each attempt.
pub struct RateLimited {
    inner: Arc<dyn Integration>,
    limiter: SharedLimiter,
}

impl RateLimited {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Integration>, limiter: SharedLimiter) -> RateLimited {
        RateLimited { inner, limiter }
    }
}

impl Integration for RateLimited {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn send_resolved(&self) -> bool {
        self.inner.send_resolved()
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            self.limiter.0.until_ready().await;
            self.inner.notify(n).await
        })
    }
}
