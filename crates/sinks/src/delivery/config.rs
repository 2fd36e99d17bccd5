//! The delivery keys of a network sink's config, declared once.
//!
//! Every network sink accepts the same top-level keys for delivery (`endpoint`,
//! `endpoints`, `load_balance`, `hash_field`, `batch`, `request`, `circuit_breaker`,
//! `health_check`, `dead_letter`), flat beside its own keys. `#[serde(flatten)]` would
//! nest them in one struct but does not work with `deny_unknown_fields`, so
//! [`network_sink_config!`](crate::network_sink_config) writes the chosen keys into the
//! sink's struct, each with its one doc comment and default, and generates
//! `delivery()`, which gathers them into a [`DeliveryConfig`]. [`DeliveryConfig::settings`]
//! is the one conversion into what the driver runs on.

use super::settings::{
    BatchSettings, CircuitBreakerSettings, DeliverySettings, EndpointSpec, HealthCheckSettings, LoadBalance,
    RequestSettings,
};
use crate::Error;

/// A network sink's delivery keys as one value (a key a sink does not take has its
/// default).
#[derive(Debug, Clone, Default)]
pub struct DeliveryConfig {
    /// `endpoint`: one base URL.
    pub endpoint: Option<String>,
    /// `endpoints`: several, load-balanced, each with a circuit breaker.
    pub endpoints: Vec<EndpointSpec>,
    /// `load_balance`.
    pub load_balance: LoadBalance,
    /// `hash_field`: what `load_balance: consistent_hash` keys on.
    pub hash_field: Option<String>,
    /// `batch`.
    pub batch: BatchSettings,
    /// `request`: timeout, concurrency, retries.
    pub request: RequestSettings,
    /// `circuit_breaker`.
    pub circuit_breaker: CircuitBreakerSettings,
    /// `health_check`.
    pub health_check: HealthCheckSettings,
    /// `dead_letter`: the dead-letter file.
    pub dead_letter: Option<String>,
}

impl DeliveryConfig {
    /// `endpoint:` and `endpoints:` together, in that order.
    pub fn endpoint_specs(&self) -> Vec<EndpointSpec> {
        let mut specs: Vec<EndpointSpec> = self.endpoint.iter().map(|u| EndpointSpec::Url(u.clone())).collect();
        specs.extend(self.endpoints.iter().cloned());
        specs
    }

    /// Checks the endpoints: at least one, each an http(s) URL.
    pub fn check_endpoints(&self, sink_type: &'static str) -> Result<(), Error> {
        let specs = self.endpoint_specs();
        if specs.is_empty() {
            return Err(Error::NoEndpoint { sink_type });
        }
        match specs.iter().find(|e| !e.url().starts_with("http://") && !e.url().starts_with("https://")) {
            Some(bad) => Err(Error::EndpointScheme { url: lookout_config::redact_url(bad.url()).into_owned() }),
            None => Ok(()),
        }
    }

    /// What the driver runs on.
    pub fn settings(self) -> DeliverySettings {
        DeliverySettings {
            endpoints: self.endpoint_specs(),
            load_balance: self.load_balance,
            batch: self.batch,
            request: self.request,
            circuit_breaker: self.circuit_breaker,
            health_check: self.health_check,
            dead_letter: self.dead_letter,
            hash_field: self.hash_field,
        }
    }
}

/// Declares a network sink's config struct: its own fields, then the delivery keys named
/// in `delivery { ... }` (any of `endpoint`, `endpoints`, `load_balance`, `hash_field`,
/// `batch`, `request`, `circuit_breaker`, `health_check`, `dead_letter`), each with its
/// shared doc comment and default; and `fn delivery(&self) -> DeliveryConfig`.
///
/// ```ignore
/// network_sink_config! {
///     /// `type: example`
///     #[derive(Debug, Clone, Deserialize)]
///     #[serde(deny_unknown_fields)]
///     pub struct ExampleConfig {
///         /// The sink's own key.
///         pub token: String,
///     }
///     delivery { endpoint, endpoints, batch, request, dead_letter }
/// }
/// ```
#[macro_export]
macro_rules! network_sink_config {
    (
        $(#$meta:tt)*
        pub struct $name:ident { $($own:tt)* }
        delivery { $($key:ident),* $(,)? }
    ) => {
        $crate::network_sink_config!(@fields [$(#$meta)* $name] [$($own)*] [$($key)*] [$($key)*]);
    };
    (@fields $head:tt [$($acc:tt)*] [endpoint $($rest:ident)*] $keys:tt) => {
        $crate::network_sink_config!(@fields $head [$($acc)*
            /// One endpoint (base URL).
            #[serde(default)]
            pub endpoint: Option<String>,
        ] [$($rest)*] $keys);
    };
    (@fields $head:tt [$($acc:tt)*] [endpoints $($rest:ident)*] $keys:tt) => {
        $crate::network_sink_config!(@fields $head [$($acc)*
            /// Several endpoints (load-balanced, each with a circuit breaker).
            #[serde(default)]
            pub endpoints: Vec<$crate::delivery::EndpointSpec>,
        ] [$($rest)*] $keys);
    };
    (@fields $head:tt [$($acc:tt)*] [load_balance $($rest:ident)*] $keys:tt) => {
        $crate::network_sink_config!(@fields $head [$($acc)*
            /// Load balancing over `endpoints`.
            #[serde(default)]
            pub load_balance: $crate::delivery::LoadBalance,
        ] [$($rest)*] $keys);
    };
    (@fields $head:tt [$($acc:tt)*] [hash_field $($rest:ident)*] $keys:tt) => {
        $crate::network_sink_config!(@fields $head [$($acc)*
            /// The field `load_balance: consistent_hash` keys on (default `service.name`).
            #[serde(default)]
            pub hash_field: Option<String>,
        ] [$($rest)*] $keys);
    };
    (@fields $head:tt [$($acc:tt)*] [batch $($rest:ident)*] $keys:tt) => {
        $crate::network_sink_config!(@fields $head [$($acc)*
            /// Batching.
            #[serde(default)]
            pub batch: $crate::delivery::BatchSettings,
        ] [$($rest)*] $keys);
    };
    (@fields $head:tt [$($acc:tt)*] [request $($rest:ident)*] $keys:tt) => {
        $crate::network_sink_config!(@fields $head [$($acc)*
            /// Timeouts, concurrency, retries.
            #[serde(default)]
            pub request: $crate::delivery::RequestSettings,
        ] [$($rest)*] $keys);
    };
    (@fields $head:tt [$($acc:tt)*] [circuit_breaker $($rest:ident)*] $keys:tt) => {
        $crate::network_sink_config!(@fields $head [$($acc)*
            /// Per-endpoint circuit breaker.
            #[serde(default)]
            pub circuit_breaker: $crate::delivery::CircuitBreakerSettings,
        ] [$($rest)*] $keys);
    };
    (@fields $head:tt [$($acc:tt)*] [health_check $($rest:ident)*] $keys:tt) => {
        $crate::network_sink_config!(@fields $head [$($acc)*
            /// Per-endpoint active health check.
            #[serde(default)]
            pub health_check: $crate::delivery::HealthCheckSettings,
        ] [$($rest)*] $keys);
    };
    (@fields $head:tt [$($acc:tt)*] [dead_letter $($rest:ident)*] $keys:tt) => {
        $crate::network_sink_config!(@fields $head [$($acc)*
            /// Dead-letter file.
            #[serde(default)]
            pub dead_letter: Option<String>,
        ] [$($rest)*] $keys);
    };
    (@fields [$(#$meta:tt)* $name:ident] [$($acc:tt)*] [] [$($key:ident)*]) => {
        $(#$meta)*
        pub struct $name { $($acc)* }

        impl $name {
            /// The delivery keys (defaults for those this sink does not take).
            #[allow(clippy::needless_update)]
            pub fn delivery(&self) -> $crate::delivery::DeliveryConfig {
                $crate::delivery::DeliveryConfig { $($key: self.$key.clone(),)* ..Default::default() }
            }
        }
    };
}
