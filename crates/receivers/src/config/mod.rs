//! The receiver half of `alertmanager.yml`: `global` and `receivers[]`, with every field
//! name and default as in Alertmanager (`config/config.go`, `config/notifiers.go`), so
//! existing files load unchanged. Unknown fields are refused (`deny_unknown_fields`): a
//! setting Lookout does not implement fails the load instead of being ignored.

mod email;
mod http;
mod opsgenie;
mod pagerduty;
mod slack;
mod webhook;

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;

pub use email::EmailConfig;
pub(crate) use email::{canonical_header, split_host_port};
pub use http::{Authorization, BasicAuth, HttpClientConfig, TlsConfig};
pub use opsgenie::{OpsGenieConfig, OpsGenieResponder};
pub(crate) use pagerduty::pagerduty_default_details;
pub use pagerduty::{PagerdutyConfig, PagerdutyImage, PagerdutyLink};
pub use slack::{SlackAction, SlackConfig, SlackConfirmationField, SlackField};
pub use webhook::{ConsoleConfig, WebhookConfig};

/// `{{ template "NAME" . }}`: how Alertmanager's defaults point at its named templates.
fn tpl(name: &str) -> String {
    format!("{{{{ template \"{name}\" . }}}}")
}

/// A secret from the config: never printed (`Debug`/`Display` show `<secret>`).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether no value is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// Reads a `*_file` secret: the file's content without the trailing newline (as Alertmanager
/// does with `strings.TrimSpace`).
pub fn read_secret_file(path: &str, what: &str) -> Result<Secret, Error> {
    std::fs::read_to_string(path)
        .map(|s| Secret(s.trim().to_string()))
        .map_err(|e| Error::file(format!("cannot read {what} file {path}: {e}")))
}

pub use lookout_config::PromDuration;

/// `global:` in `alertmanager.yml`. Fields for integrations Lookout does not ship (WeChat,
/// VictorOps, Telegram, Webex) are accepted so existing files load; a receiver that uses
/// one of those integrations is refused instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // field names are Alertmanager's; see its configuration reference
pub struct GlobalConfig {
    /// Time after which an alert without `endsAt` is declared resolved (default 5m).
    pub resolve_timeout: PromDuration,
    /// Default HTTP client settings for every HTTP integration.
    pub http_config: HttpClientConfig,
    pub smtp_from: String,
    /// Default `localhost`.
    pub smtp_hello: String,
    pub smtp_smarthost: String,
    pub smtp_auth_username: String,
    pub smtp_auth_password: Secret,
    pub smtp_auth_password_file: String,
    pub smtp_auth_secret: Secret,
    pub smtp_auth_identity: String,
    /// Default `true`.
    pub smtp_require_tls: bool,
    pub smtp_tls_config: Option<TlsConfig>,
    pub slack_api_url: Option<Secret>,
    pub slack_api_url_file: String,
    /// Default `https://events.pagerduty.com/v2/enqueue`.
    pub pagerduty_url: String,
    /// Default `https://api.opsgenie.com/`.
    pub opsgenie_api_url: String,
    pub opsgenie_api_key: Secret,
    pub opsgenie_api_key_file: String,
    pub wechat_api_url: Option<String>,
    pub wechat_api_secret: Option<Secret>,
    pub wechat_api_corp_id: Option<String>,
    pub victorops_api_url: Option<String>,
    pub victorops_api_key: Option<Secret>,
    pub victorops_api_key_file: Option<String>,
    pub telegram_api_url: Option<String>,
    pub webex_api_url: Option<String>,
}

impl Default for GlobalConfig {
    fn default() -> GlobalConfig {
        GlobalConfig {
            resolve_timeout: PromDuration(Duration::from_secs(300)),
            http_config: HttpClientConfig::default(),
            smtp_from: String::new(),
            smtp_hello: "localhost".into(),
            smtp_smarthost: String::new(),
            smtp_auth_username: String::new(),
            smtp_auth_password: Secret::default(),
            smtp_auth_password_file: String::new(),
            smtp_auth_secret: Secret::default(),
            smtp_auth_identity: String::new(),
            smtp_require_tls: true,
            smtp_tls_config: None,
            slack_api_url: None,
            slack_api_url_file: String::new(),
            pagerduty_url: "https://events.pagerduty.com/v2/enqueue".into(),
            opsgenie_api_url: "https://api.opsgenie.com/".into(),
            opsgenie_api_key: Secret::default(),
            opsgenie_api_key_file: String::new(),
            wechat_api_url: None,
            wechat_api_secret: None,
            wechat_api_corp_id: None,
            victorops_api_url: None,
            victorops_api_key: None,
            victorops_api_key_file: None,
            telegram_api_url: None,
            webex_api_url: None,
        }
    }
}

/// A per-receiver rate limit (Lookout extension): at most `burst` requests at once, refilled
/// at `requests_per_second`. Attempts beyond it wait; they are never dropped.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained rate.
    pub requests_per_second: f64,
    /// Requests allowed at once (default 1).
    #[serde(default = "one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

/// One entry of `receivers:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique name, referenced by routes.
    pub name: String,
    /// Slack incoming webhooks.
    #[serde(default)]
    pub slack_configs: Vec<SlackConfig>,
    /// Email over SMTP.
    #[serde(default)]
    pub email_configs: Vec<EmailConfig>,
    /// PagerDuty Events API.
    #[serde(default)]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    /// OpsGenie Alert API.
    #[serde(default)]
    pub opsgenie_configs: Vec<OpsGenieConfig>,
    /// Generic webhooks (Alertmanager's version 4 payload).
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
    /// Lookout extension: each notification as one JSON line on stdout.
    #[serde(default)]
    pub console_configs: Vec<ConsoleConfig>,
    /// Lookout extension: a rate limit shared by this receiver's integrations.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
}

impl ReceiverConfig {
    /// A receiver with no integrations (Alertmanager's "blackhole").
    pub fn named(name: impl Into<String>) -> ReceiverConfig {
        ReceiverConfig {
            name: name.into(),
            slack_configs: Vec::new(),
            email_configs: Vec::new(),
            pagerduty_configs: Vec::new(),
            opsgenie_configs: Vec::new(),
            webhook_configs: Vec::new(),
            console_configs: Vec::new(),
            rate_limit: None,
        }
    }

    /// Checks what can be checked without I/O, with the global defaults applied (the
    /// errors Alertmanager reports at load, in its words where it has them).
    pub fn validate(&self, g: &GlobalConfig) -> Result<(), Error> {
        let ctx = |kind: &str, i: usize, e: Error| e.context(format_args!("receiver {:?}: {kind}[{i}]", self.name));
        for (i, c) in self.slack_configs.iter().enumerate() {
            c.validate(g).map_err(|e| ctx("slack_configs", i, e))?;
        }
        for (i, c) in self.email_configs.iter().enumerate() {
            c.validate(g).map_err(|e| ctx("email_configs", i, e))?;
        }
        for (i, c) in self.pagerduty_configs.iter().enumerate() {
            c.validate(g).map_err(|e| ctx("pagerduty_configs", i, e))?;
        }
        for (i, c) in self.opsgenie_configs.iter().enumerate() {
            c.validate(g).map_err(|e| ctx("opsgenie_configs", i, e))?;
        }
        for (i, c) in self.webhook_configs.iter().enumerate() {
            c.validate().map_err(|e| ctx("webhook_configs", i, e))?;
        }
        if let Some(r) = &self.rate_limit
            && !(r.requests_per_second > 0.0 && r.requests_per_second.is_finite() && r.burst > 0)
        {
            return Err(Error::config(format!(
                "receiver {:?}: rate_limit needs requests_per_second > 0 and burst > 0",
                self.name
            )));
        }
        Ok(())
    }
}

/// Checks an absolute http(s) URL.
pub(crate) fn check_url(what: &str, s: &str) -> Result<reqwest::Url, Error> {
    let u = reqwest::Url::parse(s).map_err(|e| Error::config(format!("invalid {what}: {e}")))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(Error::config(format!("invalid {what}: scheme must be http or https")));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(format!("invalid {what}: missing host")));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_prometheus() {
        assert_eq!(PromDuration::parse("5m").unwrap().0, Duration::from_secs(300));
        assert_eq!(PromDuration::parse("1h30m").unwrap().0, Duration::from_secs(5400));
        assert_eq!(PromDuration::parse("250ms").unwrap().0, Duration::from_millis(250));
        assert_eq!(PromDuration::parse("0").unwrap().0, Duration::ZERO);
        assert!(PromDuration::parse("30m1h").is_err());
        assert!(PromDuration::parse("5").is_err());
        assert!(PromDuration::parse("1.5h").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<secret> <secret>");
    }
}
