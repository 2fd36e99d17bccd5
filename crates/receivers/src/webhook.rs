//! The generic webhook: Alertmanager's version "4" JSON message (`notify/webhook/webhook.go`:
//! `template.Data` plus `version`, `groupKey`, `truncatedAlerts`), POSTed to `url`, with
//! `max_alerts` truncation and `http_config` auth. The console integration prints the
//! same message, so what a user sees on stdout is what a webhook would receive.

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Value as Json, json};

use crate::alert::{Alert, Notification};
use crate::config::{GlobalConfig, Secret, WebhookConfig, read_secret_file};
use crate::http::HttpSender;
use crate::integration::{Integration, NotifyError};
use crate::timefmt::rfc3339_nano;

/// One alert as the webhook payload shows it.
pub fn alert_json(a: &Alert, now: chrono::DateTime<chrono::Utc>) -> Json {
    let mut v = json!({
        "status": a.status_at(now),
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": rfc3339_nano(Some(a.starts_at)),
        "endsAt": rfc3339_nano(a.visible_ends_at(now)),
        "generatorURL": a.generator_url,
        "fingerprint": a.fingerprint_hex(),
    });
    // Lookout's addition (receivers ignore fields they do not know): what made it fire.
    if !a.evidence.is_empty() {
        v["evidence"] = a.evidence.iter().map(crate::alert::Evidence::to_json).collect();
    }
    v
}

/// The version 4 message, keeping at most `max_alerts` alerts (0 = all).
pub fn message(n: &Notification, max_alerts: usize) -> Json {
    let keep = if max_alerts == 0 { n.alerts.len() } else { n.alerts.len().min(max_alerts) };
    let alerts: Vec<Json> = n.alerts[..keep].iter().map(|a| alert_json(a, n.now)).collect();
    json!({
        "receiver": n.receiver,
        "status": n.status(),
        "alerts": alerts,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels(),
        "commonAnnotations": n.common_annotations(),
        "externalURL": n.external_url,
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": n.truncated_alerts + (n.alerts.len() - keep),
    })
}

/// `webhook_configs[]` entry, built.
pub struct Webhook {
    url: Option<Secret>,
    url_file: String,
    max_alerts: usize,
    send_resolved: bool,
    http: HttpSender,
}

impl Webhook {
    /// From its config (global defaults applied).
    pub fn new(c: &WebhookConfig, g: &GlobalConfig, client: reqwest::Client) -> Result<Webhook, crate::Error> {
        c.validate()?;
        let http_config = c.http_config.clone().unwrap_or_else(|| g.http_config.clone());
        let timeout = c.timeout.map(|d| d.0);
        Ok(Webhook {
            url: c.url.clone(),
            url_file: c.url_file.clone(),
            max_alerts: usize::try_from(c.max_alerts).unwrap_or(usize::MAX),
            send_resolved: c.send_resolved,
            http: HttpSender::new(http_config, client, timeout)?,
        })
    }
}

impl Integration for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let url = match &self.url {
                Some(u) => u.clone(),
                // Read per notification, as Alertmanager does, so a rotated file applies.
                None => read_secret_file(&self.url_file, "webhook url").map_err(NotifyError::from)?,
            };
            let body = message(n, self.max_alerts);
            self.http.send_json(Method::POST, url.expose(), None, &body, "webhook").await.map(drop)
        })
    }
}

/// `console_configs[]` entry, built: one JSON line per notification on stdout.
pub struct Console {
    send_resolved: bool,
}

impl Console {
    /// From its `send_resolved`.
    pub fn new(send_resolved: bool) -> Console {
        Console { send_resolved }
    }
}

impl Integration for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            use std::io::Write as _;
            let mut line = message(n, 0).to_string();
            line.push('\n');
            // One write of the whole line keeps concurrent notifications from interleaving.
            let mut out = std::io::stdout().lock();
            out.write_all(line.as_bytes()).and_then(|()| out.flush()).map_err(|e| {
                NotifyError::permanent(crate::integration::FailureReason::Other, format!("console: cannot write: {e}"))
            })
        })
    }
}
