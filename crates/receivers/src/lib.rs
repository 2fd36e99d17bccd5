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
//! - [`Error`]: why templates or integrations could not be built ([`ErrorKind`] tells
//!   config, template and file problems apart).
//! - [`NotifyMetrics`]: `lookout_notifications_total` and friends; its
//!   [`NotifyMetrics::deliver`] is what the notifier calls per integration and flush.
//! - [`Alert`] / [`Notification`]: Alertmanager's data model; [`Notification::template_data`]
//!   is Alertmanager's `template.Data` for [`Templates`] (defaults under Alertmanager's
//!   template names plus the user's `templates:` files).
//!
//! # Lookout additions (all optional; everything else is Alertmanager's behaviour)
//!
//! - `slack_configs[].block_kit: true` sends Block Kit `blocks`; the default Slack colour
//!   is severity-aware (`warning` for warnings) and the default text lists the alerts.
//! - Email sends a text part next to the HTML part by default (`text: ''` turns it off).
//! - Without a configured `severity` (PagerDuty) or `priority` (OpsGenie), the most severe
//!   `severity` label among the firing alerts decides; PagerDuty events carry
//!   `payload.timestamp` (the first firing alert's start).
//! - `console_configs` prints each notification as one JSON line; `rate_limit` on a
//!   receiver shares one token bucket among its integrations.
//!
//! The integration tests prove the rest against the real thing: the same config and alerts
//! sent through Debian's Alertmanager 0.25 produce the same webhook, Slack, PagerDuty,
//! OpsGenie requests and the same email (`tests/integrations/alertmanager.rs`).
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
//! # async fn run(n: lookout_receivers::Notification) -> Result<(), Box<dyn std::error::Error>> {
//! let receiver: ReceiverConfig = serde_saphyr::from_str(
//!     "name: team\nwebhook_configs:\n  - url: http://127.0.0.1:5001/hook\n",
//! )?;
//! let metrics = NotifyMetrics::new();
//! let integrations =
//!     build_integrations(&receiver, &GlobalConfig::default(), Arc::new(Templates::builtin()), reqwest::Client::new())?;
//! let cancel = tokio_util::sync::CancellationToken::new();
//! for i in &integrations {
//!     metrics.deliver(i.as_ref(), &n, &RetryPolicy::default(), &cancel).await?;
//! }
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod alert;
pub mod builder;
pub mod config;
pub mod email;
mod error;
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

pub use alert::{Alert, Evidence, Notification, labels_fingerprint};
pub use builder::build_integrations;
pub use config::{GlobalConfig, RateLimitConfig, ReceiverConfig, Secret};
pub use error::{Error, ErrorKind};
pub use integration::{FailureReason, Integration, NotifyError};
pub use metrics::NotifyMetrics;
pub use ratelimit::{RateLimited, SharedLimiter};
pub use retry::{RetryPolicy, deliver};
pub use templates::{DEFAULT_TEMPLATES, Templates};
