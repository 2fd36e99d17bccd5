//! `slack_configs[]` (Alertmanager's `SlackConfig`, plus Lookout's `block_kit`).

use serde::Deserialize;

use super::{GlobalConfig, HttpClientConfig, Secret, check_url, tpl};
use crate::error::Error;

/// `slack_configs[].fields[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    /// Field title (templated).
    pub title: String,
    /// Field value (templated).
    pub value: String,
    /// Shown side by side with other short fields; default `short_fields`.
    #[serde(default)]
    pub short: Option<bool>,
}

/// `slack_configs[].actions[].confirm`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfirmationField {
    /// Body (templated).
    pub text: String,
    /// Title (templated).
    #[serde(default)]
    pub title: String,
    /// OK button (templated).
    #[serde(default)]
    pub ok_text: String,
    /// Dismiss button (templated).
    #[serde(default)]
    pub dismiss_text: String,
}

/// `slack_configs[].actions[]`: a button (with `url`) or a message action (with `name`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackAction {
    /// `button`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Label (templated).
    pub text: String,
    /// Link (templated).
    #[serde(default)]
    pub url: String,
    /// `default`, `primary` or `danger`.
    #[serde(default)]
    pub style: String,
    /// Message action name.
    #[serde(default)]
    pub name: String,
    /// Message action value.
    #[serde(default)]
    pub value: String,
    /// Confirmation dialog.
    #[serde(default)]
    pub confirm: Option<SlackConfirmationField>,
}

/// `slack_configs[]`: a Slack incoming webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // Alertmanager's field names; each string is a template
pub struct SlackConfig {
    /// Default false.
    pub send_resolved: bool,
    /// Default: `global.http_config`.
    pub http_config: Option<HttpClientConfig>,
    /// The webhook URL; default `global.slack_api_url`.
    pub api_url: Option<Secret>,
    pub api_url_file: String,
    pub channel: String,
    pub username: String,
    /// Default: `danger` firing (critical or unknown severity), `warning` firing warnings,
    /// blue for `info`, `good` resolved.
    pub color: String,
    pub title: String,
    pub title_link: String,
    pub pretext: String,
    pub text: String,
    pub fields: Vec<SlackField>,
    pub short_fields: bool,
    pub footer: String,
    pub fallback: String,
    pub callback_id: String,
    pub icon_emoji: String,
    pub icon_url: String,
    pub image_url: String,
    pub thumb_url: String,
    pub link_names: bool,
    pub mrkdwn_in: Vec<String>,
    pub actions: Vec<SlackAction>,
    /// Lookout extension: send Block Kit `blocks` (header, text, context) instead of an
    /// attachment.
    pub block_kit: bool,
}

/// Lookout's default colour: severity-aware where Alertmanager's is firing/resolved only.
pub(crate) const SLACK_DEFAULT_COLOR: &str = "{{ if eq .Status \"firing\" }}{{ if eq .CommonLabels.severity \"warning\" }}warning{{ else if eq .CommonLabels.severity \"info\" }}#439FE0{{ else }}danger{{ end }}{{ else }}good{{ end }}";

impl Default for SlackConfig {
    fn default() -> SlackConfig {
        SlackConfig {
            send_resolved: false,
            http_config: None,
            api_url: None,
            api_url_file: String::new(),
            channel: String::new(),
            username: tpl("slack.default.username"),
            color: SLACK_DEFAULT_COLOR.into(),
            title: tpl("slack.default.title"),
            title_link: tpl("slack.default.titlelink"),
            pretext: tpl("slack.default.pretext"),
            text: tpl("slack.default.text"),
            fields: Vec::new(),
            short_fields: false,
            footer: tpl("slack.default.footer"),
            fallback: tpl("slack.default.fallback"),
            callback_id: tpl("slack.default.callbackid"),
            icon_emoji: tpl("slack.default.iconemoji"),
            icon_url: tpl("slack.default.iconurl"),
            image_url: String::new(),
            thumb_url: String::new(),
            link_names: false,
            mrkdwn_in: Vec::new(),
            actions: Vec::new(),
            block_kit: false,
        }
    }
}

impl SlackConfig {
    pub(crate) fn validate(&self, g: &GlobalConfig) -> Result<(), Error> {
        if self.api_url.is_some() && !self.api_url_file.is_empty() {
            return Err(Error::config("at most one of api_url & api_url_file must be configured"));
        }
        if self.api_url.is_none() && self.api_url_file.is_empty() {
            if g.slack_api_url.is_none() && g.slack_api_url_file.is_empty() {
                return Err(Error::config("no global Slack API URL set either inline or in a file"));
            }
            if let Some(u) = &g.slack_api_url {
                check_url("global.slack_api_url", u.expose())
                    .map_err(|_| Error::config("invalid global.slack_api_url"))?;
            }
        }
        if let Some(u) = &self.api_url {
            // The message names the field, never the URL: it embeds the webhook's secret.
            check_url("api_url", u.expose()).map_err(|_| Error::config("invalid api_url"))?;
        }
        for a in &self.actions {
            if a.url.is_empty() && a.name.is_empty() {
                return Err(Error::config("missing name or url in Slack action configuration"));
            }
        }
        if let Some(h) = &self.http_config {
            h.validate()?;
        }
        Ok(())
    }
}

impl SlackConfig {
    pub(crate) fn template_fields(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![
            ("channel", self.channel.as_str()),
            ("username", &self.username),
            ("color", &self.color),
            ("title", &self.title),
            ("title_link", &self.title_link),
            ("pretext", &self.pretext),
            ("text", &self.text),
            ("footer", &self.footer),
            ("fallback", &self.fallback),
            ("callback_id", &self.callback_id),
            ("icon_emoji", &self.icon_emoji),
            ("icon_url", &self.icon_url),
            ("image_url", &self.image_url),
            ("thumb_url", &self.thumb_url),
        ];
        for f in &self.fields {
            v.extend([("fields.title", f.title.as_str()), ("fields.value", &f.value)]);
        }
        for a in &self.actions {
            v.extend([("actions.text", a.text.as_str()), ("actions.url", &a.url), ("actions.value", &a.value)]);
        }
        v
    }
}
