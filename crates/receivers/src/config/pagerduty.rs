//! `pagerduty_configs[]` (Alertmanager's `PagerdutyConfig`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{GlobalConfig, HttpClientConfig, PromDuration, Secret, check_url, tpl};
use crate::error::Error;

/// `pagerduty_configs[].links[]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagerdutyLink {
    /// Target (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub href: String,
    /// Label (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
}

/// `pagerduty_configs[].images[]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagerdutyImage {
    /// Image URL (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub src: String,
    /// Alt text (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alt: String,
    /// Link (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub href: String,
}

/// `pagerduty_configs[]`: the PagerDuty Events API (v2 with `routing_key`, v1 with
/// `service_key`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // Alertmanager's field names; strings are templates
pub struct PagerdutyConfig {
    /// Default true.
    pub send_resolved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpClientConfig>,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub service_key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_key_file: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub routing_key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub routing_key_file: String,
    /// Default `global.pagerduty_url`.
    #[serde(skip_serializing_if = "String::is_empty", serialize_with = "lookout_config::serialize_url")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Merged over the defaults `firing`, `resolved`, `num_firing`, `num_resolved`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<PagerdutyImage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<PagerdutyLink>,
    /// Default: `client`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Default "": derived from the alerts' `severity` label (critical, error, warning, info).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub severity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Per-request timeout; 0 = none.
    #[serde(skip_serializing_if = "Option::is_none")]
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
    pub(crate) fn validate(&self, g: &GlobalConfig) -> Result<(), Error> {
        if self.routing_key.is_empty()
            && self.service_key.is_empty()
            && self.routing_key_file.is_empty()
            && self.service_key_file.is_empty()
        {
            return Err(Error::config("missing service or routing key in PagerDuty config"));
        }
        if !self.routing_key.is_empty() && !self.routing_key_file.is_empty() {
            return Err(Error::config("at most one of routing_key & routing_key_file must be configured"));
        }
        if !self.service_key.is_empty() && !self.service_key_file.is_empty() {
            return Err(Error::config("at most one of service_key & service_key_file must be configured"));
        }
        let url = if self.url.is_empty() { &g.pagerduty_url } else { &self.url };
        if url.is_empty() {
            return Err(Error::config("no global PagerDuty URL set"));
        }
        check_url("url", url)?;
        if let Some(h) = &self.http_config {
            h.validate()?;
        }
        Ok(())
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
