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

use std::time::Duration;

use serde::{Deserialize, Serialize};

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

/// Every credential is `lookout_config`'s one secret type: never printed, serialized as
/// `<secret>`.
pub use lookout_config::Secret;

/// Reads a `*_file` secret: the file's content without surrounding whitespace (as
/// Alertmanager does with `strings.TrimSpace`); the error names `what` and the file,
/// never the content.
pub fn read_secret_file(path: &str, what: &str) -> Result<Secret, Error> {
    lookout_config::read_secret_file(path).map_err(|e| Error::file(format!("{what}: {e}")))
}

pub use lookout_config::PromDuration;

/// For `skip_serializing_if`: Lookout's own switches are rendered only when on.
fn is_false(b: &bool) -> bool {
    !*b
}

/// `global:` in `alertmanager.yml`. Fields for integrations Lookout does not ship (WeChat,
/// VictorOps, Telegram, Webex) are accepted so existing files load; a receiver that uses
/// one of those integrations is refused instead.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // field names are Alertmanager's; see its configuration reference
pub struct GlobalConfig {
    /// Time after which an alert without `endsAt` is declared resolved (default 5m).
    pub resolve_timeout: PromDuration,
    /// Default HTTP client settings for every HTTP integration.
    pub http_config: HttpClientConfig,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smtp_from: String,
    /// Default `localhost`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smtp_hello: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smtp_smarthost: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smtp_auth_username: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub smtp_auth_password: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smtp_auth_password_file: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub smtp_auth_secret: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smtp_auth_identity: String,
    /// Default `true`.
    pub smtp_require_tls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_tls_config: Option<TlsConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_api_url: Option<Secret>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub slack_api_url_file: String,
    /// Default `https://events.pagerduty.com/v2/enqueue`.
    #[serde(skip_serializing_if = "String::is_empty", serialize_with = "lookout_config::serialize_url")]
    pub pagerduty_url: String,
    /// Default `https://api.opsgenie.com/`.
    #[serde(skip_serializing_if = "String::is_empty", serialize_with = "lookout_config::serialize_url")]
    pub opsgenie_api_url: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub opsgenie_api_key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub opsgenie_api_key_file: String,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "lookout_config::serialize_opt_url")]
    pub wechat_api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_api_secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_api_corp_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "lookout_config::serialize_opt_url")]
    pub victorops_api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub victorops_api_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub victorops_api_key_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "lookout_config::serialize_opt_url")]
    pub telegram_api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "lookout_config::serialize_opt_url")]
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
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique name, referenced by routes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Slack incoming webhooks.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slack_configs: Vec<SlackConfig>,
    /// Email over SMTP.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email_configs: Vec<EmailConfig>,
    /// PagerDuty Events API.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    /// OpsGenie Alert API.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub opsgenie_configs: Vec<OpsGenieConfig>,
    /// Generic webhooks (Alertmanager's version 4 payload).
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhook_configs: Vec<WebhookConfig>,
    /// Lookout extension: each notification as one JSON line on stdout.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub console_configs: Vec<ConsoleConfig>,
    /// Lookout extension: a rate limit shared by this receiver's integrations.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
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
