//! `webhook_configs[]` (Alertmanager's `WebhookConfig`) and Lookout's `console_configs[]`.

use serde::{Deserialize, Serialize};

use super::{HttpClientConfig, PromDuration, Secret, check_url};
use crate::error::Error;

fn yes() -> bool {
    true
}

/// `webhook_configs[]`: Alertmanager's generic webhook (payload version 4).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Default true.
    pub send_resolved: bool,
    /// Auth, TLS, proxy; default `global.http_config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpClientConfig>,
    /// Where to POST.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    /// File holding the URL.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url_file: String,
    /// At most this many alerts per message (0 = all); the rest are counted in
    /// `truncatedAlerts`.
    pub max_alerts: u64,
    /// Per-request timeout; 0 = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<PromDuration>,
}

impl Default for WebhookConfig {
    fn default() -> WebhookConfig {
        WebhookConfig {
            send_resolved: true,
            http_config: None,
            url: None,
            url_file: String::new(),
            max_alerts: 0,
            timeout: None,
        }
    }
}

impl WebhookConfig {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        match (&self.url, self.url_file.is_empty()) {
            (None, true) => return Err(Error::config("one of url or url_file must be configured")),
            (Some(_), false) => return Err(Error::config("at most one of url & url_file must be configured")),
            (Some(u), true) => {
                check_url("url", u.expose()).map_err(|_| Error::config("invalid url"))?;
            }
            (None, false) => {}
        }
        if let Some(h) = &self.http_config {
            h.validate()?;
        }
        Ok(())
    }
}

/// `console_configs[]` (Lookout extension): each notification as one JSON line (the
/// webhook payload) on stdout — what the embedded default config uses.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Default true.
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

impl Default for ConsoleConfig {
    fn default() -> ConsoleConfig {
        ConsoleConfig { send_resolved: true }
    }
}
