//! `slack_configs[]` (Alertmanager's `SlackConfig`, plus Lookout's `block_kit`).

use serde::{Deserialize, Serialize};

use super::{GlobalConfig, HttpClientConfig, Secret, check_url, tpl};
use crate::error::Error;

/// `slack_configs[].fields[]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    /// Field title (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Field value (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Shown side by side with other short fields; default `short_fields`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short: Option<bool>,
}

/// `slack_configs[].actions[].confirm`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfirmationField {
    /// Body (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Title (templated).
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// OK button (templated).
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ok_text: String,
    /// Dismiss button (templated).
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dismiss_text: String,
}

/// `slack_configs[].actions[]`: a button (with `url`) or a message action (with `name`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackAction {
    /// `button`.
    #[serde(rename = "type")]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Label (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Link (templated).
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// `default`, `primary` or `danger`.
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub style: String,
    /// Message action name.
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Message action value.
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Confirmation dialog.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<SlackConfirmationField>,
}

/// `slack_configs[]`: a Slack incoming webhook.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // Alertmanager's field names; each string is a template
pub struct SlackConfig {
    /// Default false.
    pub send_resolved: bool,
    /// Default: `global.http_config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpClientConfig>,
    /// The webhook URL; default `global.slack_api_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<Secret>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_url_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// Default: `danger` firing (critical or unknown severity), `warning` firing warnings,
    /// blue for `info`, `good` resolved.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub color: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pretext: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<SlackField>,
    pub short_fields: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub footer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fallback: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub callback_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub thumb_url: String,
    pub link_names: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mrkdwn_in: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<SlackAction>,
    /// Lookout extension: send Block Kit `blocks` (header, text, context) instead of an
    /// attachment. Left out of the rendered config when off (Alertmanager does not know it).
    #[serde(skip_serializing_if = "super::is_false")]
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
