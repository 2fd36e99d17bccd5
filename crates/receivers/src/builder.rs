//! From a `receivers[]` entry to ready integrations, and the one named place where the
//! per-attempt stack is composed.
//!
//! # Order
//!
//! ```text
//! deliver (retry, backoff, Retry-After, deadline, cancel)     ← crate::deliver / NotifyMetrics::deliver
//!   └─ RateLimited (one token per attempt, shared by the receiver)
//!        └─ Measured (counts each request that is really sent)
//!             └─ the integration (one HTTP request / SMTP transaction)
//! ```
//!
//! Retrying outside the rate limit makes every retry pay for a token, so a failing service
//! is not hammered; measuring inside it counts only requests that left the process.

use std::sync::Arc;

use crate::config::{GlobalConfig, ReceiverConfig};
use crate::email::Email;
use crate::integration::Integration;
use crate::metrics::{Measured, NotifyMetrics};
use crate::opsgenie::OpsGenie;
use crate::pagerduty::PagerDuty;
use crate::ratelimit::{RateLimited, SharedLimiter};
use crate::slack::Slack;
use crate::templates::Templates;
use crate::webhook::{Console, Webhook};

/// Builds one integration per `*_configs` entry, in the order Alertmanager lists them
/// (its `config/receiver` builder): webhook, email, pagerduty, opsgenie, slack, then
/// Lookout's console. Returns the first configuration error.
pub fn build_integrations(
    r: &ReceiverConfig,
    g: &GlobalConfig,
    t: Arc<Templates>,
    client: reqwest::Client,
) -> Result<Vec<Arc<dyn Integration>>, String> {
    r.validate(g)?;
    let ctx = |kind: &str, i: usize, e: String| format!("receiver {:?}: {kind}[{i}]: {e}", r.name);
    let mut out: Vec<Arc<dyn Integration>> = Vec::new();
    for (i, c) in r.webhook_configs.iter().enumerate() {
        out.push(Arc::new(Webhook::new(c, g, client.clone()).map_err(|e| ctx("webhook_configs", i, e))?));
    }
    for (i, c) in r.email_configs.iter().enumerate() {
        out.push(Arc::new(Email::new(c, g, t.clone()).map_err(|e| ctx("email_configs", i, e))?));
    }
    for (i, c) in r.pagerduty_configs.iter().enumerate() {
        out.push(Arc::new(
            PagerDuty::new(c, g, t.clone(), client.clone()).map_err(|e| ctx("pagerduty_configs", i, e))?,
        ));
    }
    for (i, c) in r.opsgenie_configs.iter().enumerate() {
        out.push(Arc::new(OpsGenie::new(c, g, t.clone(), client.clone()).map_err(|e| ctx("opsgenie_configs", i, e))?));
    }
    for (i, c) in r.slack_configs.iter().enumerate() {
        out.push(Arc::new(Slack::new(c, g, t.clone(), client.clone()).map_err(|e| ctx("slack_configs", i, e))?));
    }
    for c in &r.console_configs {
        out.push(Arc::new(Console::new(c.send_resolved)));
    }
    Ok(out)
}

/// [`build_integrations`] wrapped in the documented stack: each request measured, the
/// receiver's `rate_limit` (if any) shared by all its integrations. Deliver each with
/// [`NotifyMetrics::deliver`].
pub fn build_receiver(
    r: &ReceiverConfig,
    g: &GlobalConfig,
    t: Arc<Templates>,
    client: reqwest::Client,
    metrics: &NotifyMetrics,
) -> Result<Vec<Arc<dyn Integration>>, String> {
    let limiter =
        r.rate_limit.as_ref().map(SharedLimiter::new).transpose().map_err(|e| format!("receiver {:?}: {e}", r.name))?;
    let raw = build_integrations(r, g, t, client)?;
    Ok(raw
        .into_iter()
        .map(|i| {
            let measured: Arc<dyn Integration> = Arc::new(Measured::new(i, metrics.clone()));
            match &limiter {
                Some(l) => Arc::new(RateLimited::new(measured, l.clone())) as Arc<dyn Integration>,
                None => measured,
            }
        })
        .collect())
}
