//! The per-integration entries of a receiver (`slack_configs`, `email_configs`, ...), with
//! Alertmanager's field names and defaults (`config/notifiers.go`), plus the documented
//! Lookout extensions (`block_kit`, `console_configs`, severity-derived defaults).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{GlobalConfig, HttpClientConfig, PromDuration, Secret, TlsConfig, check_url};

fn yes() -> bool {
    true
}

fn tpl(name: &str) -> String {
    format!("{{{{ template \"{name}\" . }}}}")
}

// === Slack ===

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
    pub(crate) fn validate(&self, g: &GlobalConfig) -> Result<(), String> {
        if self.api_url.is_some() && !self.api_url_file.is_empty() {
            return Err("at most one of api_url & api_url_file must be configured".into());
        }
        if self.api_url.is_none() && self.api_url_file.is_empty() {
            if g.slack_api_url.is_none() && g.slack_api_url_file.is_empty() {
                return Err("no global Slack API URL set either inline or in a file".into());
            }
            if let Some(u) = &g.slack_api_url {
                check_url("global.slack_api_url", u.expose())
                    .map_err(|_| "invalid global.slack_api_url".to_string())?;
            }
        }
        if let Some(u) = &self.api_url {
            // The message names the field, never the URL: it embeds the webhook's secret.
            check_url("api_url", u.expose()).map_err(|_| "invalid api_url".to_string())?;
        }
        for a in &self.actions {
            if a.url.is_empty() && a.name.is_empty() {
                return Err("missing name or url in Slack action configuration".into());
            }
        }
        if let Some(h) = &self.http_config {
            h.validate()?;
        }
        Ok(())
    }
}

// === Email ===

/// `email_configs[]`: email over SMTP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // Alertmanager's field names
pub struct EmailConfig {
    /// Default false.
    pub send_resolved: bool,
    /// Recipients, comma-separated (templated).
    pub to: String,
    /// Default `global.smtp_from` (templated).
    pub from: String,
    /// Default `global.smtp_hello`.
    pub hello: String,
    /// `host:port`; default `global.smtp_smarthost`. Port 465 means implicit TLS.
    pub smarthost: String,
    pub auth_username: String,
    pub auth_password: Secret,
    pub auth_password_file: String,
    /// CRAM-MD5 secret: not offered by Lookout (refused at load).
    pub auth_secret: Secret,
    pub auth_identity: String,
    /// Extra headers (templated); `Subject` defaults to `email.default.subject`.
    pub headers: BTreeMap<String, String>,
    /// Default `email.default.html`; "" = no HTML part.
    pub html: Option<String>,
    /// Default `email.default.text` (a Lookout addition: Alertmanager sends none);
    /// "" = no text part.
    pub text: Option<String>,
    /// STARTTLS required; default `global.smtp_require_tls` (true).
    pub require_tls: Option<bool>,
    /// Default `global.smtp_tls_config`.
    pub tls_config: Option<TlsConfig>,
}

/// `textproto.CanonicalMIMEHeaderKey`: `x-priority` → `X-Priority`.
pub(crate) fn canonical_header(h: &str) -> String {
    let mut out = String::with_capacity(h.len());
    let mut upper = true;
    for c in h.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() });
        upper = c == '-';
    }
    out
}

impl EmailConfig {
    pub(crate) fn validate(&self, g: &GlobalConfig) -> Result<(), String> {
        if self.to.is_empty() {
            return Err("missing to address in email config".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for h in self.headers.keys() {
            if !seen.insert(canonical_header(h)) {
                return Err(format!("duplicate header {:?} in email config", canonical_header(h)));
            }
        }
        let smarthost = if self.smarthost.is_empty() { &g.smtp_smarthost } else { &self.smarthost };
        if smarthost.is_empty() {
            return Err("no global SMTP smarthost set".into());
        }
        split_host_port(smarthost)?;
        if self.from.is_empty() && g.smtp_from.is_empty() {
            return Err("no global SMTP from set".into());
        }
        if !self.auth_password.is_empty() && !self.auth_password_file.is_empty() {
            return Err("at most one of auth_password & auth_password_file must be configured".into());
        }
        if !self.auth_secret.is_empty() || !g.smtp_auth_secret.is_empty() {
            return Err("auth_secret (CRAM-MD5) is not supported; use auth_username/auth_password".into());
        }
        Ok(())
    }
}

/// Splits `host:port` (IPv6 in brackets), as Alertmanager's `HostPort`.
pub(crate) fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s.rsplit_once(':').ok_or_else(|| format!("address {s:?}: missing port in address"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| format!("address {s:?}: invalid port"))?;
    if host.is_empty() {
        return Err(format!("address {s:?}: host cannot be empty"));
    }
    Ok((host.to_string(), port))
}

// === PagerDuty ===

/// `pagerduty_configs[].links[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagerdutyLink {
    /// Target (templated).
    pub href: String,
    /// Label (templated).
    pub text: String,
}

/// `pagerduty_configs[].images[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagerdutyImage {
    /// Image URL (templated).
    pub src: String,
    /// Alt text (templated).
    pub alt: String,
    /// Link (templated).
    pub href: String,
}

/// `pagerduty_configs[]`: the PagerDuty Events API (v2 with `routing_key`, v1 with
/// `service_key`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // Alertmanager's field names; strings are templates
pub struct PagerdutyConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http_config: Option<HttpClientConfig>,
    pub service_key: Secret,
    pub service_key_file: String,
    pub routing_key: Secret,
    pub routing_key_file: String,
    /// Default `global.pagerduty_url`.
    pub url: String,
    pub client: String,
    pub client_url: String,
    pub description: String,
    /// Merged over the defaults `firing`, `resolved`, `num_firing`, `num_resolved`.
    pub details: BTreeMap<String, String>,
    pub images: Vec<PagerdutyImage>,
    pub links: Vec<PagerdutyLink>,
    /// Default: `client`.
    pub source: String,
    /// Default "": derived from the alerts' `severity` label (critical, error, warning, info).
    pub severity: String,
    pub class: String,
    pub component: String,
    pub group: String,
    /// Per-request timeout; 0 = none.
    pub timeout: Option<PromDuration>,
}

impl Default for PagerdutyConfig {
    fn default() -> PagerdutyConfig {
        PagerdutyConfig {
            send_resolved: true,
            http_config: None,
            service_key: Secret::default(),
            service_key_file: String::new(),
            routing_key: Secret::default(),
            routing_key_file: String::new(),
            url: String::new(),
            client: tpl("pagerduty.default.client"),
            client_url: tpl("pagerduty.default.clientURL"),
            description: tpl("pagerduty.default.description"),
            details: BTreeMap::new(),
            images: Vec::new(),
            links: Vec::new(),
            source: String::new(),
            severity: String::new(),
            class: String::new(),
            component: String::new(),
            group: String::new(),
            timeout: None,
        }
    }
}

/// The details every PagerDuty event carries unless overridden (`DefaultPagerdutyDetails`).
pub(crate) fn pagerduty_default_details() -> [(&'static str, &'static str); 4] {
    [
        ("firing", "{{ template \"pagerduty.default.instances\" .Alerts.Firing }}"),
        ("resolved", "{{ template \"pagerduty.default.instances\" .Alerts.Resolved }}"),
        ("num_firing", "{{ .Alerts.Firing | len }}"),
        ("num_resolved", "{{ .Alerts.Resolved | len }}"),
    ]
}

impl PagerdutyConfig {
    pub(crate) fn validate(&self, g: &GlobalConfig) -> Result<(), String> {
        if self.routing_key.is_empty()
            && self.service_key.is_empty()
            && self.routing_key_file.is_empty()
            && self.service_key_file.is_empty()
        {
            return Err("missing service or routing key in PagerDuty config".into());
        }
        if !self.routing_key.is_empty() && !self.routing_key_file.is_empty() {
            return Err("at most one of routing_key & routing_key_file must be configured".into());
        }
        if !self.service_key.is_empty() && !self.service_key_file.is_empty() {
            return Err("at most one of service_key & service_key_file must be configured".into());
        }
        let url = if self.url.is_empty() { &g.pagerduty_url } else { &self.url };
        if url.is_empty() {
            return Err("no global PagerDuty URL set".into());
        }
        check_url("url", url)?;
        if let Some(h) = &self.http_config {
            h.validate()?;
        }
        Ok(())
    }
}

// === OpsGenie ===

/// `opsgenie_configs[].responders[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsGenieResponder {
    /// Responder id (templated).
    pub id: String,
    /// Name (templated); with `type: teams`, a comma-separated list of team names.
    pub name: String,
    /// User name (templated).
    pub username: String,
    /// `team`, `teams`, `user`, `escalation` or `schedule` (may be a template).
    #[serde(rename = "type")]
    pub kind: String,
}

/// `opsgenie_configs[]`: the OpsGenie Alert API v2.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // Alertmanager's field names; strings are templates
pub struct OpsGenieConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http_config: Option<HttpClientConfig>,
    /// Default `global.opsgenie_api_key`.
    pub api_key: Secret,
    pub api_key_file: String,
    /// Default `global.opsgenie_api_url`.
    pub api_url: String,
    pub message: String,
    pub description: String,
    pub source: String,
    pub details: BTreeMap<String, String>,
    pub entity: String,
    pub responders: Vec<OpsGenieResponder>,
    /// Comma-separated.
    pub actions: String,
    /// Comma-separated.
    pub tags: String,
    pub note: String,
    /// `P1`..`P5`; default "": derived from the alerts' `severity` label.
    pub priority: String,
    /// Also update message and description of an existing alert.
    pub update_alerts: bool,
}

impl Default for OpsGenieConfig {
    fn default() -> OpsGenieConfig {
        OpsGenieConfig {
            send_resolved: true,
            http_config: None,
            api_key: Secret::default(),
            api_key_file: String::new(),
            api_url: String::new(),
            message: tpl("opsgenie.default.message"),
            description: tpl("opsgenie.default.description"),
            source: tpl("opsgenie.default.source"),
            details: BTreeMap::new(),
            entity: String::new(),
            responders: Vec::new(),
            actions: String::new(),
            tags: String::new(),
            note: String::new(),
            priority: String::new(),
            update_alerts: false,
        }
    }
}

impl OpsGenieConfig {
    pub(crate) fn validate(&self, g: &GlobalConfig) -> Result<(), String> {
        if !self.api_key.is_empty() && !self.api_key_file.is_empty() {
            return Err("at most one of api_key & api_key_file must be configured".into());
        }
        if self.api_key.is_empty()
            && self.api_key_file.is_empty()
            && g.opsgenie_api_key.is_empty()
            && g.opsgenie_api_key_file.is_empty()
        {
            return Err("no global OpsGenie API Key set either inline or in a file".into());
        }
        let url = if self.api_url.is_empty() { &g.opsgenie_api_url } else { &self.api_url };
        check_url("api_url", url)?;
        for r in &self.responders {
            if r.id.is_empty() && r.username.is_empty() && r.name.is_empty() {
                return Err(
                    "opsGenieConfig responder has to have at least one of id, username or name specified".into()
                );
            }
            if !r.kind.contains("{{") {
                let k = r.kind.to_ascii_lowercase();
                if !matches!(k.as_str(), "team" | "teams" | "user" | "escalation" | "schedule") {
                    return Err(format!(
                        "opsGenieConfig responder type {:?} does not match valid options ^(team|teams|user|escalation|schedule)$",
                        r.kind
                    ));
                }
            }
        }
        if let Some(h) = &self.http_config {
            h.validate()?;
        }
        Ok(())
    }
}

// === Webhook ===

/// `webhook_configs[]`: Alertmanager's generic webhook (payload version 4).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Default true.
    pub send_resolved: bool,
    /// Auth, TLS, proxy; default `global.http_config`.
    pub http_config: Option<HttpClientConfig>,
    /// Where to POST.
    pub url: Option<Secret>,
    /// File holding the URL.
    pub url_file: String,
    /// At most this many alerts per message (0 = all); the rest are counted in
    /// `truncatedAlerts`.
    pub max_alerts: u64,
    /// Per-request timeout; 0 = none.
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
    pub(crate) fn validate(&self) -> Result<(), String> {
        match (&self.url, self.url_file.is_empty()) {
            (None, true) => return Err("one of url or url_file must be configured".into()),
            (Some(_), false) => return Err("at most one of url & url_file must be configured".into()),
            (Some(u), true) => {
                check_url("url", u.expose()).map_err(|_| "invalid url".to_string())?;
            }
            (None, false) => {}
        }
        if let Some(h) = &self.http_config {
            h.validate()?;
        }
        Ok(())
    }
}

// === Console ===

/// `console_configs[]` (Lookout extension): each notification as one JSON line (the
/// webhook payload) on stdout — what the embedded default config uses.
#[derive(Debug, Clone, Deserialize)]
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

// === Template fields (checked at build so a typo fails the load, not the 3 am page) ===

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

impl EmailConfig {
    pub(crate) fn template_fields(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![("to", self.to.as_str()), ("from", &self.from)];
        v.extend(self.headers.values().map(|h| ("headers", h.as_str())));
        v.extend(self.html.iter().map(|h| ("html", h.as_str())));
        v.extend(self.text.iter().map(|t| ("text", t.as_str())));
        v
    }
}

impl PagerdutyConfig {
    pub(crate) fn template_fields(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![
            ("client", self.client.as_str()),
            ("client_url", &self.client_url),
            ("description", &self.description),
            ("source", &self.source),
            ("severity", &self.severity),
            ("class", &self.class),
            ("component", &self.component),
            ("group", &self.group),
        ];
        v.extend(self.details.values().map(|d| ("details", d.as_str())));
        for l in &self.links {
            v.extend([("links.href", l.href.as_str()), ("links.text", &l.text)]);
        }
        for i in &self.images {
            v.extend([("images.src", i.src.as_str()), ("images.alt", &i.alt), ("images.href", &i.href)]);
        }
        v
    }
}

impl OpsGenieConfig {
    pub(crate) fn template_fields(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![
            ("message", self.message.as_str()),
            ("description", &self.description),
            ("source", &self.source),
            ("entity", &self.entity),
            ("actions", &self.actions),
            ("tags", &self.tags),
            ("note", &self.note),
            ("priority", &self.priority),
        ];
        v.extend(self.details.values().map(|d| ("details", d.as_str())));
        for r in &self.responders {
            v.extend([
                ("responders.id", r.id.as_str()),
                ("responders.name", &r.name),
                ("responders.username", &r.username),
                ("responders.type", &r.kind),
            ]);
        }
        v
    }
}
