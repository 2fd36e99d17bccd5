//! The endpoint set: load balancing, a circuit breaker and an active health check per
//! endpoint, as one tower `Service` over the per-endpoint stack (the attempt timeout,
//! then [`Deliver`]), so that a timed-out attempt counts against its endpoint.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_component::{ComponentState, HealthHandle};

use super::retry::Attempt;
use super::settings::{CircuitBreakerSettings, EndpointSpec, LoadBalance};
use super::stack::{self, PerEndpoint};
use super::{Item, Protocol, SendError, Sent};

/// One endpoint and its state.
#[derive(Debug)]
pub struct Endpoint {
    url: String,
    weight: u32,
    /// Consecutive failed attempts.
    failures: AtomicU32,
    /// When an open circuit lets the next probe through; `None` when closed.
    open_until: Mutex<Option<Instant>>,
    /// Requests in flight.
    outstanding: AtomicUsize,
    /// The last active health check's verdict.
    healthy: AtomicBool,
    /// A stable hash of the URL (consistent hashing).
    url_hash: u64,
    /// The URL as logs and errors show it: a password in it redacted.
    shown: String,
}

/// FNV-1a: stable across processes and platforms (unlike std's `RandomState`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A 64-bit finalizer (splitmix64) so that nearby keys spread out.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Endpoint {
    fn new(spec: &EndpointSpec) -> Endpoint {
        Endpoint {
            url: spec.url().to_string(),
            shown: lookout_config::redact_url(spec.url()).into_owned(),
            weight: spec.weight(),
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
            outstanding: AtomicUsize::new(0),
            healthy: AtomicBool::new(true),
            url_hash: fnv1a(spec.url().as_bytes()),
        }
    }

    /// The base URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL as it may be shown (logs, errors, dead letters): a password in its
    /// userinfo replaced by `<secret>`.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether a request may go here now. A half-open circuit lets one probe through
    /// and re-arms the cool-down, so a dead endpoint gets one attempt per cool-down.
    fn admit(&self, now: Instant, cooldown: Duration) -> bool {
        if !self.healthy.load(Ordering::Relaxed) {
            return false;
        }
        let mut open = self.open_until.lock().unwrap();
        match *open {
            None => true,
            Some(until) if now >= until => {
                *open = Some(now + cooldown);
                true
            }
            Some(_) => false,
        }
    }

    fn is_open(&self) -> bool {
        self.open_until.lock().unwrap().is_some()
    }

    fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
        *self.open_until.lock().unwrap() = None;
    }

    /// Returns true when this failure opened the circuit.
    fn failed(&self, breaker: &CircuitBreakerSettings, now: Instant) -> bool {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let mut open = self.open_until.lock().unwrap();
        if failures >= breaker.failures.max(1) {
            let was_closed = open.is_none();
            *open = Some(now + Duration::from_secs_f64(breaker.cooldown_secs));
            return was_closed;
        }
        false
    }
}

struct Shared<P> {
    protocol: Arc<P>,
    endpoints: Vec<Arc<Endpoint>>,
    /// Round robin: endpoint indexes, each repeated by its weight.
    schedule: Vec<usize>,
    next: AtomicUsize,
    balance: LoadBalance,
    breaker: CircuitBreakerSettings,
    timeout: Duration,
    health: HealthHandle,
    /// Why the store's one-time preparation failed, if it did: the sink stays degraded
    /// for it whatever the endpoints' circuits and health checks say.
    preparation: std::sync::Mutex<Option<String>>,
}

/// One attempt at one chosen endpoint: what the per-endpoint stack receives.
#[derive(Debug)]
pub struct ToEndpoint {
    /// The endpoint.
    pub endpoint: Arc<Endpoint>,
    /// What to send.
    pub items: Vec<Item>,
}

/// The innermost service: [`Protocol::send`].
pub struct Deliver<P>(pub(super) Arc<P>);

impl<P> Clone for Deliver<P> {
    fn clone(&self) -> Self {
        Deliver(self.0.clone())
    }
}

impl<P: Protocol> tower::Service<ToEndpoint> for Deliver<P> {
    type Response = Sent;
    type Error = SendError;
    type Future = BoxFuture<'static, Result<Sent, SendError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ToEndpoint) -> Self::Future {
        self.0.send(&req.endpoint, &req.items)
    }
}

/// An error of the per-endpoint stack, back as a [`SendError`]: a timeout is transient.
fn attempt_error(e: tower::BoxError, timeout: Duration) -> SendError {
    if e.is::<tower::timeout::error::Elapsed>() {
        return SendError::Retryable(format!("timed out after {timeout:?}"));
    }
    match e.downcast::<SendError>() {
        Ok(e) => *e,
        Err(e) => SendError::Retryable(e.to_string()),
    }
}

/// Load balancing and circuit breaking over the endpoints: picks an endpoint per attempt.
pub struct EndpointSet<P> {
    shared: Arc<Shared<P>>,
    inner: PerEndpoint<P>,
}

impl<P> Clone for EndpointSet<P> {
    fn clone(&self) -> Self {
        EndpointSet { shared: self.shared.clone(), inner: self.inner.clone() }
    }
}

impl<P: Protocol> EndpointSet<P> {
    /// A set over `specs`.
    pub fn new(
        protocol: P,
        specs: &[EndpointSpec],
        balance: LoadBalance,
        breaker: CircuitBreakerSettings,
        timeout: Duration,
        health: HealthHandle,
    ) -> Self {
        let endpoints: Vec<_> = specs.iter().map(|s| Arc::new(Endpoint::new(s))).collect();
        let schedule =
            endpoints.iter().enumerate().flat_map(|(i, e)| std::iter::repeat_n(i, e.weight as usize)).collect();
        let protocol = Arc::new(protocol);
        EndpointSet {
            inner: stack::per_endpoint(protocol.clone(), timeout),
            shared: Arc::new(Shared {
                protocol,
                endpoints,
                schedule,
                next: AtomicUsize::new(0),
                balance,
                breaker,
                timeout,
                health,
                preparation: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The endpoints (for health checks and tests).
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.shared.endpoints
    }

    /// The protocol.
    pub fn protocol(&self) -> &P {
        &self.shared.protocol
    }

    /// Endpoint indexes in rendezvous order for `key`: the first is its home; the next
    /// take over when it is down.
    pub fn rank(&self, key: u64) -> Vec<usize> {
        let s = &self.shared;
        let mut scored: Vec<(f64, usize)> = s
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let h = mix(key ^ e.url_hash);
                // Weighted rendezvous: -w / ln(u), u uniform in (0, 1).
                let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                (-(e.weight as f64) / u.ln(), i)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().map(|(_, i)| i).collect()
    }

    fn pick(&self, key: Option<u64>) -> Option<Arc<Endpoint>> {
        let s = &self.shared;
        let now = Instant::now();
        let cooldown = Duration::from_secs_f64(s.breaker.cooldown_secs);
        match s.balance {
            LoadBalance::ConsistentHash => self
                .rank(key.unwrap_or(0))
                .into_iter()
                .map(|i| &s.endpoints[i])
                .find(|e| e.admit(now, cooldown))
                .cloned(),
            LoadBalance::RoundRobin => {
                let start = s.next.fetch_add(1, Ordering::Relaxed);
                (0..s.schedule.len())
                    .map(|k| &s.endpoints[s.schedule[(start + k) % s.schedule.len()]])
                    .find(|e| e.admit(now, cooldown))
                    .cloned()
            }
            LoadBalance::LeastOutstanding => {
                let mut order: Vec<&Arc<Endpoint>> = s.endpoints.iter().collect();
                // Fewest in flight per unit of weight first.
                order.sort_by(|a, b| {
                    let la = a.outstanding.load(Ordering::Relaxed) as f64 / a.weight as f64;
                    let lb = b.outstanding.load(Ordering::Relaxed) as f64 / b.weight as f64;
                    la.total_cmp(&lb)
                });
                order.into_iter().find(|e| e.admit(now, cooldown)).cloned()
            }
        }
    }

    /// Records that the store's preparation failed (`Some(reason)`), or is settled
    /// (`None`), and reports health with it.
    pub fn set_preparation(&self, failure: Option<String>) {
        *self.shared.preparation.lock().unwrap_or_else(|e| e.into_inner()) = failure;
        self.report_health();
    }

    /// Reports `degraded` on /health while any circuit is open, an endpoint fails its
    /// health check, or the store's preparation failed.
    pub fn report_health(&self) {
        let s = &self.shared;
        let bad: Vec<&str> = s
            .endpoints
            .iter()
            .filter(|e| e.is_open() || !e.healthy.load(Ordering::Relaxed))
            .map(|e| e.shown.as_str())
            .collect();
        let preparation = s.preparation.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let state = match (bad.is_empty(), preparation) {
            (false, _) => ComponentState::Degraded(format!("circuit open: {}", bad.join(", "))),
            (true, Some(reason)) => ComponentState::Degraded(reason),
            (true, None) => ComponentState::Running,
        };
        s.health.set_state(state);
    }

    /// Runs the protocol's health check on every endpoint every `interval` until dropped.
    pub fn spawn_health_checks(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let set = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for e in set.endpoints() {
                    let Some(check) = set.protocol().health_check(e) else { return };
                    let ok = tokio::time::timeout(set.shared.timeout, check).await.unwrap_or(false);
                    let was = e.healthy.swap(ok, Ordering::Relaxed);
                    if was != ok {
                        tracing::warn!(endpoint = %e.shown, healthy = ok, "Endpoint health changed.");
                    }
                }
                set.report_health();
            }
        })
    }
}

impl<P: Protocol> tower::Service<Attempt> for EndpointSet<P> {
    type Response = Sent;
    type Error = SendError;
    type Future = BoxFuture<'static, Result<Sent, SendError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let timeout = self.shared.timeout;
        self.inner.poll_ready(cx).map_err(|e| attempt_error(e, timeout))
    }

    fn call(&mut self, attempt: Attempt) -> Self::Future {
        let Some(endpoint) = self.pick(attempt.key) else {
            let n = self.shared.endpoints.len();
            return futures::future::ready(Err(SendError::Retryable(format!(
                "no endpoint available: all {n} are down (circuit open or failing health checks)"
            ))))
            .boxed();
        };
        endpoint.outstanding.fetch_add(1, Ordering::Relaxed);
        let send = self.inner.call(ToEndpoint { endpoint: endpoint.clone(), items: attempt.items });
        let set = self.clone();
        let timeout = self.shared.timeout;
        async move {
            let result = send.await.map_err(|e| attempt_error(e, timeout));
            endpoint.outstanding.fetch_sub(1, Ordering::Relaxed);
            match &result {
                // The endpoint answered: even a per-item or a 4xx refusal says it is alive.
                Ok(_) | Err(SendError::Fatal(_)) => {
                    let was_open = endpoint.is_open();
                    endpoint.succeeded();
                    if was_open {
                        tracing::info!(endpoint = %endpoint.shown, "Circuit closed: endpoint answers again.");
                        set.report_health();
                    }
                }
                Err(e) => {
                    if endpoint.failed(&set.shared.breaker, Instant::now()) {
                        tracing::warn!(endpoint = %endpoint.shown, error = %e, "Circuit opened after consecutive failures.");
                        set.report_health();
                    }
                }
            }
            result.map_err(|e| e.prefixed(&endpoint.shown))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tower::{Service, ServiceExt};

    use super::*;
    use crate::delivery::Item;

    /// Fails every attempt against URLs in `down`; records who was called.
    struct Fake {
        down: Mutex<Vec<String>>,
        calls: Arc<Mutex<Vec<String>>>,
    }

    impl Protocol for Fake {
        fn encode(&self, _: &lookout_event::Batch, _: &mut Vec<Item>) {}
        fn send(&self, endpoint: &Endpoint, _: &[Item]) -> BoxFuture<'static, Result<Sent, SendError>> {
            self.calls.lock().unwrap().push(endpoint.url().to_string());
            let down = self.down.lock().unwrap().contains(&endpoint.url().to_string());
            async move { if down { Err(SendError::Retryable("refused".into())) } else { Ok(Sent::default()) } }.boxed()
        }
    }

    fn set(
        specs: &[EndpointSpec],
        balance: LoadBalance,
        down: &[&str],
    ) -> (EndpointSet<Fake>, Arc<Mutex<Vec<String>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake { down: Mutex::new(down.iter().map(|s| s.to_string()).collect()), calls: calls.clone() };
        let breaker = CircuitBreakerSettings { failures: 2, cooldown_secs: 0.2 };
        let health = lookout_component::HealthHandle::detached("t");
        (EndpointSet::new(fake, specs, balance, breaker, Duration::from_secs(1), health), calls)
    }

    async fn attempt(s: &mut EndpointSet<Fake>) -> Result<Sent, SendError> {
        s.ready().await.unwrap().call(Attempt::new(Vec::new(), None)).await
    }

    #[tokio::test]
    async fn weighted_round_robin() {
        let specs = [EndpointSpec::Weighted { url: "a".into(), weight: 2 }, EndpointSpec::Url("b".into())];
        let (mut s, calls) = set(&specs, LoadBalance::RoundRobin, &[]);
        for _ in 0..6 {
            attempt(&mut s).await.unwrap();
        }
        let calls = calls.lock().unwrap();
        assert_eq!(calls.iter().filter(|c| *c == "a").count(), 4);
        assert_eq!(calls.iter().filter(|c| *c == "b").count(), 2);
    }

    #[tokio::test]
    async fn circuit_opens_skips_then_half_opens() {
        let specs = [EndpointSpec::Url("dead".into()), EndpointSpec::Url("live".into())];
        let (mut s, calls) = set(&specs, LoadBalance::RoundRobin, &["dead"]);
        for _ in 0..10 {
            let _ = attempt(&mut s).await;
        }
        let dead_calls = calls.lock().unwrap().iter().filter(|c| *c == "dead").count();
        assert_eq!(dead_calls, 2, "open after 2 consecutive failures, then skipped");
        assert!(s.endpoints()[0].is_open());

        // After the cool-down one probe goes through; it succeeds and closes the circuit.
        s.shared.protocol.down.lock().unwrap().clear();
        tokio::time::sleep(Duration::from_millis(250)).await;
        calls.lock().unwrap().clear();
        for _ in 0..4 {
            attempt(&mut s).await.unwrap();
        }
        assert!(!s.endpoints()[0].is_open());
        assert_eq!(calls.lock().unwrap().iter().filter(|c| *c == "dead").count(), 2);
    }

    #[tokio::test]
    async fn all_open_is_a_retryable_error() {
        let (mut s, _) = set(&[EndpointSpec::Url("x".into())], LoadBalance::LeastOutstanding, &["x"]);
        let _ = attempt(&mut s).await;
        let _ = attempt(&mut s).await;
        match attempt(&mut s).await {
            Err(SendError::Retryable(m)) => assert!(m.contains("no endpoint available"), "{m}"),
            other => panic!("expected no endpoint: {other:?}"),
        }
    }

    #[tokio::test]
    async fn consistent_hash_is_stable_weighted_and_moves_only_a_dead_endpoints_keys() {
        let specs = [
            EndpointSpec::Url("a".into()),
            EndpointSpec::Url("b".into()),
            EndpointSpec::Weighted { url: "c".into(), weight: 2 },
        ];
        let (s, _) = set(&specs, LoadBalance::ConsistentHash, &[]);
        let homes: Vec<usize> = (0..4000u64).map(|k| s.rank(fnv1a(&k.to_le_bytes()))[0]).collect();
        let again: Vec<usize> = (0..4000u64).map(|k| s.rank(fnv1a(&k.to_le_bytes()))[0]).collect();
        assert_eq!(homes, again, "stable");
        let share = |i| homes.iter().filter(|h| **h == i).count();
        assert!((800..1200).contains(&share(0)), "a: {}", share(0));
        assert!((800..1200).contains(&share(1)), "b: {}", share(1));
        assert!((1800..2200).contains(&share(2)), "c has weight 2: {}", share(2));

        // Without `b`, only b's keys move.
        let (s2, _) = set(&[specs[0].clone(), specs[2].clone()], LoadBalance::ConsistentHash, &[]);
        for (k, home) in homes.iter().enumerate() {
            let now = s2.rank(fnv1a(&(k as u64).to_le_bytes()))[0];
            if *home == 0 {
                assert_eq!(now, 0);
            } else if *home == 2 {
                assert_eq!(now, 1, "c keeps its keys");
            }
        }
    }
}
