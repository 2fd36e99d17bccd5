//! A tenant's running state: its rate limiters and counter handles.
//!
//! Built on a tenant's first request and kept in a `moka` cache with a time-to-idle
//! (see [`super::Authenticator`]), so a tenant that stops sending costs nothing after a
//! while, and one that comes back starts with a full burst. Each tenant has its own
//! limiters: one tenant at its limit never takes capacity from another.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prometheus_client::metrics::counter::Counter;

use super::file::Tenant;
use super::metrics::{RefusedLabels, RefusedReason, TenantLabel, metrics};
use crate::otlp::Rejection;

/// A token bucket: `rate` per second, holding at most `burst`.
#[derive(Debug)]
struct Limiter {
    limiter: DefaultDirectRateLimiter,
    burst: NonZeroU32,
    rate: u64,
}

impl Limiter {
    fn new(rate: u64, burst: Option<u64>) -> Option<Limiter> {
        let clamp = |v: u64| NonZeroU32::new(v.min(u64::from(u32::MAX)) as u32);
        let rate_nz = clamp(rate)?;
        let burst = burst.and_then(clamp).unwrap_or(rate_nz);
        let quota = Quota::per_second(rate_nz).allow_burst(burst);
        Some(Limiter { limiter: RateLimiter::direct(quota), burst, rate })
    }

    /// Takes `n` from the bucket, or says how long until it could. A request larger
    /// than the whole burst takes the whole burst (rather than being refused forever).
    fn take(&self, n: u64) -> Result<(), Duration> {
        let Some(n) = NonZeroU32::new(n.min(u64::from(self.burst.get())) as u32) else { return Ok(()) };
        match self.limiter.check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
            // Cannot happen: `n` is at most the burst.
            Err(_) => Err(Duration::from_secs(1)),
        }
    }
}

/// `Retry-After` is in whole seconds: round up, and never say 0 (clients would retry at
/// once).
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.as_secs() == 0))
}

/// A tenant's limiters and counters.
#[derive(Debug)]
pub struct TenantState {
    /// The tenant.
    pub tenant: Arc<Tenant>,
    events: Option<Limiter>,
    bytes: Option<Limiter>,
    accepted_events: Counter,
    accepted_bytes: Counter,
    refused_events: Counter,
    refused: [Counter; 3],
}

impl TenantState {
    /// Fresh state (full buckets) for `tenant`.
    pub fn new(tenant: Arc<Tenant>) -> TenantState {
        let l = &tenant.limits;
        let m = metrics();
        let label = TenantLabel { tenant: tenant.name.to_string() };
        let refused =
            |reason| m.refused_requests.get_or_create(&RefusedLabels { tenant: label.tenant.clone(), reason }).clone();
        TenantState {
            events: l.events_per_second.and_then(|r| Limiter::new(r.into(), l.events_burst.map(u64::from))),
            bytes: l.bytes_per_second.and_then(|r| Limiter::new(r.bytes(), l.bytes_burst.map(|b| b.bytes()))),
            accepted_events: m.accepted_events.get_or_create(&label).clone(),
            accepted_bytes: m.accepted_bytes.get_or_create(&label).clone(),
            refused_events: m.refused_events.get_or_create(&label).clone(),
            refused: [
                refused(RefusedReason::events_per_second),
                refused(RefusedReason::bytes_per_second),
                refused(RefusedReason::max_request_size),
            ],
            tenant,
        }
    }

    /// Refuses a request larger than the tenant's `max_request_size`.
    pub fn check_size(&self, bytes: u64) -> Result<(), Rejection> {
        match self.tenant.limits.max_request_size {
            Some(max) if bytes > max.bytes() => {
                self.refused[2].inc();
                Err(Rejection::TooLarge(format!(
                    "request of {bytes} bytes exceeds tenant `{}`'s max_request_size ({} bytes)",
                    self.tenant.name,
                    max.bytes()
                )))
            }
            _ => Ok(()),
        }
    }

    /// Charges `bytes` (as sent) to the tenant's `bytes_per_second`.
    pub fn take_bytes(&self, bytes: u64) -> Result<(), Rejection> {
        let Some(l) = &self.bytes else { return Ok(()) };
        l.take(bytes).map_err(|wait| {
            self.refused[1].inc();
            self.limited("bytes_per_second", l.rate, wait)
        })
    }

    /// Charges `events` records to the tenant's `events_per_second`.
    pub fn take_events(&self, events: u64) -> Result<(), Rejection> {
        let Some(l) = &self.events else { return Ok(()) };
        l.take(events).map_err(|wait| {
            self.refused[0].inc();
            self.refused_events.inc_by(events);
            self.limited("events_per_second", l.rate, wait)
        })
    }

    fn limited(&self, limit: &str, rate: u64, wait: Duration) -> Rejection {
        let retry_after = retry_after_secs(wait);
        Rejection::RateLimited {
            retry_after,
            message: format!(
                "tenant `{}` is over its {limit} limit ({rate}); retry after {retry_after}s",
                self.tenant.name
            ),
        }
    }

    /// Counts an accepted request.
    pub fn accepted(&self, events: u64, bytes: u64) {
        self.accepted_events.inc_by(events);
        self.accepted_bytes.inc_by(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::file::{Destinations, Limits};
    use lookout_config::ByteSize;

    fn state(name: &str, limits: Limits) -> TenantState {
        TenantState::new(Arc::new(Tenant { name: Arc::from(name), limits, destinations: Destinations::default() }))
    }

    #[test]
    fn allows_a_burst_then_refuses_with_a_retry_after() {
        let s = state("lim-a", Limits { events_per_second: Some(100), events_burst: Some(250), ..Limits::default() });
        assert!(s.take_events(200).is_ok());
        assert!(s.take_events(50).is_ok());
        match s.take_events(60) {
            Err(Rejection::RateLimited { retry_after, message }) => {
                assert_eq!(retry_after, 1);
                assert!(message.contains("`lim-a` is over its events_per_second limit (100)"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // A request above the whole burst costs the whole burst: refused now, not forever.
        let s = state("lim-b", Limits { events_per_second: Some(10), ..Limits::default() });
        assert!(s.take_events(1000).is_ok());
        assert!(s.take_events(1).is_err());
    }

    #[test]
    fn tenants_do_not_share_buckets() {
        let limits = Limits { bytes_per_second: Some(ByteSize(1000)), ..Limits::default() };
        let (a, b) = (state("lim-c", limits), state("lim-d", limits));
        assert!(a.take_bytes(1000).is_ok());
        assert!(a.take_bytes(10).is_err());
        assert!(b.take_bytes(1000).is_ok());
    }

    #[test]
    fn request_size_and_no_limits() {
        let s = state("lim-e", Limits { max_request_size: Some(ByteSize(100)), ..Limits::default() });
        assert!(s.check_size(100).is_ok());
        assert!(matches!(s.check_size(101), Err(Rejection::TooLarge(_))));
        assert!(s.take_events(u64::MAX).is_ok() && s.take_bytes(u64::MAX).is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2100)), 3);
    }
}
