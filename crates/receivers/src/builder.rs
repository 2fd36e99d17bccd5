//! From a `receivers[]` entry to ready integrations, and the one named place where the
//! per-attempt stack is documented.
//!
//! # Order
//!
//! ```text
//! NotifyMetrics::deliver (counts and times the notification)
//!   └─ deliver (retry, backoff, Retry-After, deadline, cancel, panic guard)
//!        └─ measured attempt (lookout_notification_requests_total / _failed_total)
//!             └─ RateLimited (one token per attempt, shared by the receiver; built here)
//!                  └─ the integration (one HTTP request or SMTP transaction)
//! ```
//!
//! Retrying outside the rate limit makes every retry pay for a token, so a failing service
//! is not hammered while it recovers.

use std::sync::Arc;

use crate::config::{GlobalConfig, ReceiverConfig};
use crate::email::Email;
use crate::error::{Error, ErrorKind};
use crate::integration::Integration;
use crate::opsgenie::OpsGenie;
use crate::pagerduty::PagerDuty;
use crate::ratelimit::{RateLimited, SharedLimiter};
use crate::slack::Slack;
use crate::templates::Templates;
use crate::webhook::{Console, Webhook};

/// Builds one integration per `*_configs` entry, in the order Alertmanager lists them
/// (its `config/receiver` builder): webhook, email, pagerduty, opsgenie, slack, then
/// Lookout's console; with the receiver's `rate_limit`, all of them share one token
/// bucket. Returns the first configuration error. Deliver each with
/// [`NotifyMetrics::deliver`](crate::NotifyMetrics::deliver).
pub fn build_integrations(
    r: &ReceiverConfig,
    g: &GlobalConfig,
    t: Arc<Templates>,
    client: reqwest::Client,
) -> Result<Vec<Arc<dyn Integration>>, Error> {
    r.validate(g)?;
    let ctx = |kind: &str, i: usize, e: Error| e.context(format_args!("receiver {:?}: {kind}[{i}]", r.name));
    let check = |kind: &str, i: usize, fields: Vec<(&str, &str)>| -> Result<(), Error> {
        for (field, text) in fields {
            t.check(text).map_err(|e| ctx(kind, i, Error::new(ErrorKind::Template, format!("{field}: {e}"))))?;
        }
        Ok(())
    };
    for (i, c) in r.slack_configs.iter().enumerate() {
        check("slack_configs", i, c.template_fields())?;
    }
    for (i, c) in r.email_configs.iter().enumerate() {
        check("email_configs", i, c.template_fields())?;
    }
    for (i, c) in r.pagerduty_configs.iter().enumerate() {
        check("pagerduty_configs", i, c.template_fields())?;
    }
    for (i, c) in r.opsgenie_configs.iter().enumerate() {
        check("opsgenie_configs", i, c.template_fields())?;
    }
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
    if let Some(rl) = &r.rate_limit {
        let limiter = SharedLimiter::new(rl).map_err(|e| e.context(format_args!("receiver {:?}", r.name)))?;
        out = out.into_iter().map(|i| Arc::new(RateLimited::new(i, limiter.clone())) as Arc<dyn Integration>).collect();
    }
    Ok(out)
}
