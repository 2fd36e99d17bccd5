//! `opsgenie_configs[]` (Alertmanager's `OpsGenieConfig`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{GlobalConfig, HttpClientConfig, Secret, check_url, tpl};
use crate::error::Error;

/// `opsgenie_configs[].responders[]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsGenieResponder {
    /// Responder id (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Name (templated); with `type: teams`, a comma-separated list of team names.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// User name (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// `team`, `teams`, `user`, `escalation` or `schedule` (may be a template).
    #[serde(rename = "type")]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

/// `opsgenie_configs[]`: the OpsGenie Alert API v2.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // Alertmanager's field names; strings are templates
pub struct OpsGenieConfig {
    /// Default true.
    pub send_resolved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpClientConfig>,
    /// Default `global.opsgenie_api_key`.
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub api_key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_key_file: String,
    /// Default `global.opsgenie_api_url`.
    #[serde(skip_serializing_if = "String::is_empty", serialize_with = "lookout_config::serialize_url")]
    pub api_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub entity: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub responders: Vec<OpsGenieResponder>,
    /// Comma-separated.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub actions: String,
    /// Comma-separated.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tags: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// `P1`..`P5`; default "": derived from the alerts' `severity` label.
    #[serde(skip_serializing_if = "String::is_empty")]
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
    pub(crate) fn validate(&self, g: &GlobalConfig) -> Result<(), Error> {
        if !self.api_key.is_empty() && !self.api_key_file.is_empty() {
            return Err(Error::config("at most one of api_key & api_key_file must be configured"));
        }
        if self.api_key.is_empty()
            && self.api_key_file.is_empty()
            && g.opsgenie_api_key.is_empty()
            && g.opsgenie_api_key_file.is_empty()
        {
            return Err(Error::config("no global OpsGenie API Key set either inline or in a file"));
        }
        let url = if self.api_url.is_empty() { &g.opsgenie_api_url } else { &self.api_url };
        check_url("api_url", url)?;
        for r in &self.responders {
            if r.id.is_empty() && r.username.is_empty() && r.name.is_empty() {
                return Err(Error::config(
                    "opsGenieConfig responder has to have at least one of id, username or name specified",
                ));
            }
            if !r.kind.contains("{{") {
                let k = r.kind.to_ascii_lowercase();
                if !matches!(k.as_str(), "team" | "teams" | "user" | "escalation" | "schedule") {
                    return Err(Error::config(format!(
                        "opsGenieConfig responder type {:?} does not match valid options ^(team|teams|user|escalation|schedule)$",
                        r.kind
                    )));
                }
            }
        }
        if let Some(h) = &self.http_config {
            h.validate()?;
        }
        Ok(())
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
