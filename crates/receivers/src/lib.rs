//! Notification integrations for Lookout's notifier: Slack, email (SMTP), PagerDuty,
//! OpsGenie, generic webhooks and the console, speaking exactly what Alertmanager sends
//! so receivers, dashboards and runbooks built for Alertmanager keep working.
//!
//! # The job
//!
//! The notifier (`lookout-notify`) decides *when* a group of alerts is sent and *to whom*;
//! this crate turns one [`Notification`] into the request a service expects and gets it
//! there. Everything here is per notification; no routing or grouping state lives here.
//!
//! # Main types
//!
//! - [`ReceiverConfig`] / [`GlobalConfig`]: the `receivers:` and `global:` parts of
//!   `alertmanager.yml`, field for field (unknown fields are refused).
//! - [`Integration`]: the one contract ("send this; say if a failure is retryable"),
//!   built by [`build_integrations`].
//! - [`deliver`] with a [`RetryPolicy`]: backoff with jitter on 429/5xx/connection errors,
//!   `Retry-After` honoured, never on other 4xx, cancellable.
//! - [`NotifyMetrics`]: `lookout_notifications_total` and friends.
//!
//! # Why so
//!
//! Retry, rate limiting and measuring are wrappers around the integration rather than
//! flags inside each one ([`builder`] documents the order), so every integration gets the
//! same behaviour and a new one only writes its request. Status-code rules live in one
//! place (the `http` module), as do the secret-free error messages.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use lookout_receivers::{GlobalConfig, NotifyMetrics, ReceiverConfig, RetryPolicy, Templates, build_integrations};
//!
//! # async fn run(n: lookout_receivers::Notification) -> Result<(), String> {
//! let receiver: ReceiverConfig = serde_saphyr::from_str(
//!     "name: team\nwebhook_configs:\n  - url: http://127.0.0.1:5001/hook\n",
//! ).map_err(|e| e.to_string())?;
//! let metrics = NotifyMetrics::new();
//! let integrations =
//!     build_integrations(&receiver, &GlobalConfig::default(), Arc::new(Templates::builtin()), reqwest::Client::new())?;
//! let cancel = tokio_util::sync::CancellationToken::new();
//! for i in &integrations {
//!     metrics.deliver(i.as_ref(), &n, &RetryPolicy::default(), &cancel).await.map_err(|e| e.message)?;
//! }
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod alert;
pub mod builder;
pub mod config;
pub mod email;
mod http;
mod integration;
mod metrics;
pub mod opsgenie;
pub mod pagerduty;
mod ratelimit;
mod retry;
pub mod severity;
pub mod slack;
mod templates;
pub mod timefmt;
pub mod webhook;

pub use alert::{Alert, Notification, labels_fingerprint};
pub use builder::build_integrations;
pub use config::{GlobalConfig, RateLimitConfig, ReceiverConfig, Secret};
pub use integration::{FailureReason, Integration, NotifyError};
pub use metrics::NotifyMetrics;
pub use ratelimit::{RateLimited, SharedLimiter};
pub use retry::{RetryPolicy, deliver};
pub use templates::{DEFAULT_TEMPLATES, Templates};
