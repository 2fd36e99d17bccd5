//! The delivery settings every network sink accepts (same keys, same defaults).

use std::time::Duration;

use serde::Deserialize;

/// How records are grouped into requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    /// Records per request at most.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// Encoded bytes per request at most.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// A partial batch is sent after this long.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_max_events() -> usize {
    1000
}
fn default_max_bytes() -> usize {
    5 * 1024 * 1024
}
fn default_timeout_ms() -> u64 {
    1000
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            max_events: default_max_events(),
            max_bytes: default_max_bytes(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

/// Requests: timeout, concurrency, retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSettings {
    /// One attempt's time limit, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// First retry backoff (milliseconds); doubles per attempt, with full jitter.
    #[serde(default = "default_initial_backoff_ms")]
    pub retry_initial_backoff_ms: u64,
    /// Largest backoff (seconds).
    #[serde(default = "default_max_backoff_secs")]
    pub retry_max_backoff_secs: f64,
    /// After this long (seconds) since the first attempt a request is given up and its
    /// records dead-lettered.
    #[serde(default = "default_retry_max_duration_secs")]
    pub retry_max_duration_secs: f64,
}

fn default_timeout_secs() -> f64 {
    30.0
}
fn default_concurrency() -> usize {
    4
}
fn default_initial_backoff_ms() -> u64 {
    100
}
fn default_max_backoff_secs() -> f64 {
    30.0
}
fn default_retry_max_duration_secs() -> f64 {
    300.0
}

impl Default for RequestSettings {
    fn default() -> Self {
        RequestSettings {
            timeout_secs: default_timeout_secs(),
            concurrency: default_concurrency(),
            retry_initial_backoff_ms: default_initial_backoff_ms(),
            retry_max_backoff_secs: default_max_backoff_secs(),
            retry_max_duration_secs: default_retry_max_duration_secs(),
        }
    }
}

impl RequestSettings {
    /// One attempt's time limit.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_secs.max(0.001))
    }
}

/// The circuit breaker each endpoint has.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerSettings {
    /// Consecutive failed attempts that open the circuit.
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// Seconds an open circuit waits before letting one probe through (half-open).
    #[serde(default = "default_cooldown_secs")]
    pub cooldown_secs: f64,
}

fn default_failures() -> u32 {
    5
}
fn default_cooldown_secs() -> f64 {
    60.0
}

impl Default for CircuitBreakerSettings {
    fn default() -> Self {
        CircuitBreakerSettings { failures: default_failures(), cooldown_secs: default_cooldown_secs() }
    }
}

/// Active health checks of each endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSettings {
    /// Whether to check at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Seconds between checks.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: f64,
}

fn default_true() -> bool {
    true
}
fn default_interval_secs() -> f64 {
    10.0
}

impl Default for HealthCheckSettings {
    fn default() -> Self {
        HealthCheckSettings { enabled: true, interval_secs: default_interval_secs() }
    }
}

impl HealthCheckSettings {
    /// No active health check (sinks whose protocol has none to offer).
    pub fn disabled() -> Self {
        HealthCheckSettings { enabled: false, ..HealthCheckSettings::default() }
    }
}

/// How requests are spread over endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalance {
    /// In turn, each endpoint as often as its weight says.
    #[default]
    RoundRobin,
    /// The endpoint with the fewest requests in flight (relative to its weight).
    LeastOutstanding,
    /// The same value of `hash_field` always goes to the same endpoint while it is up
    /// (weighted rendezvous hashing: an endpoint going down moves only its own keys).
    ConsistentHash,
}

/// An endpoint: a URL, or `{ url, weight }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EndpointSpec {
    /// Just the URL (weight 1).
    Url(String),
    /// URL and weight.
    Weighted {
        /// Base URL.
        url: String,
        /// Relative share of requests.
        #[serde(default = "default_weight")]
        weight: u32,
    },
}

fn default_weight() -> u32 {
    1
}

impl EndpointSpec {
    /// The base URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        match self {
            EndpointSpec::Url(u) | EndpointSpec::Weighted { url: u, .. } => u.trim_end_matches('/'),
        }
    }

    /// The weight (at least 1).
    pub fn weight(&self) -> u32 {
        match self {
            EndpointSpec::Url(_) => 1,
            EndpointSpec::Weighted { weight, .. } => (*weight).max(1),
        }
    }
}

/// Everything the driver needs besides the protocol.
#[derive(Debug, Clone, Default)]
pub struct DeliverySettings {
    /// Endpoints.
    pub endpoints: Vec<EndpointSpec>,
    /// Load balancing.
    pub load_balance: LoadBalance,
    /// Batching.
    pub batch: BatchSettings,
    /// Requests.
    pub request: RequestSettings,
    /// Circuit breakers.
    pub circuit_breaker: CircuitBreakerSettings,
    /// Health checks.
    pub health_check: HealthCheckSettings,
    /// Dead-letter file path.
    pub dead_letter: Option<String>,
    /// The field `consistent_hash` hashes.
    pub hash_field: Option<String>,
}
