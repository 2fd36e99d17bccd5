//! OpsGenie Alert API v2, as Alertmanager drives it (`notify/opsgenie/opsgenie.go`):
//! firing → "Create Alert" (`POST {api_url}v2/alerts`), resolved → "Close Alert"
//! (`POST {api_url}v2/alerts/{alias}/close?identifierType=alias`), authenticated with
//! `Authorization: GenieKey <api_key>`. The `alias` is the SHA-256 of the group key, so
//! OpsGenie deduplicates repeated creates of one group and the close finds it.
//! Field rules from OpsGenie's Alert API docs: `message` ≤ 130 characters, `priority`
//! P1..P5, responders by id, name or username with a type.

use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Map, Value as Json, json};

use crate::alert::Notification;
use crate::config::{GlobalConfig, OpsGenieConfig, Secret, read_secret_file};
use crate::http::HttpSender;
use crate::integration::{Integration, NotifyError};
use crate::severity::{Level, group_level};
use crate::templates::{FieldRenderer, Templates, truncate_chars};

const MAX_MESSAGE: usize = 130;
/// OpsGenie refuses longer descriptions (422); cut rather than lose the alert.
const MAX_DESCRIPTION: usize = 15_000;

/// An `opsgenie_configs[]` entry, built.
pub struct OpsGenie {
    conf: OpsGenieConfig,
    api_url: String,
    key: Secret,
    key_file: String,
    templates: Arc<Templates>,
    http: HttpSender,
}

/// One request OpsGenie should get for a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `POST` or `PUT`.
    pub method: Method,
    /// Full URL.
    pub url: String,
    /// JSON body.
    pub body: Json,
}

/// Alertmanager's `safeSplit`: trim the whole string, split on `sep`, drop empty items
/// (items keep their own spaces, as Alertmanager sends them).
fn split_list(s: &str, sep: char) -> Vec<String> {
    s.trim().split(sep).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

fn put(o: &mut Map<String, Json>, k: &str, v: String) {
    if !v.is_empty() {
        o.insert(k.into(), Json::String(v));
    }
}

impl OpsGenie {
    /// From its config with the global defaults applied.
    pub fn new(
        c: &OpsGenieConfig,
        g: &GlobalConfig,
        templates: Arc<Templates>,
        client: reqwest::Client,
    ) -> Result<OpsGenie, crate::Error> {
        c.validate(g)?;
        let mut api_url = if c.api_url.is_empty() { g.opsgenie_api_url.clone() } else { c.api_url.clone() };
        // Alertmanager appends the API paths to the URL's path: make it end in '/'.
        if let Some(q) = api_url.find('?') {
            api_url.truncate(q);
        }
        if !api_url.ends_with('/') {
            api_url.push('/');
        }
        let (key, key_file) = if !c.api_key.is_empty() || !c.api_key_file.is_empty() {
            (c.api_key.clone(), c.api_key_file.clone())
        } else {
            (g.opsgenie_api_key.clone(), g.opsgenie_api_key_file.clone())
        };
        let http_config = c.http_config.clone().unwrap_or_else(|| g.http_config.clone());
        Ok(OpsGenie {
            conf: c.clone(),
            api_url,
            key,
            key_file,
            templates,
            http: HttpSender::new(http_config, client, None)?,
        })
    }

    /// The requests for `n`, in order.
    pub fn requests(&self, n: &Notification) -> Result<Vec<Request>, NotifyError> {
        let c = &self.conf;
        let alias = n.group_key_hash();
        let mut r = FieldRenderer::new(&self.templates, n);
        let source = r.field("source", &c.source);
        if !n.status_firing {
            r.finish("opsgenie")?;
            return Ok(vec![Request {
                method: Method::POST,
                url: format!("{}v2/alerts/{alias}/close?identifierType=alias", self.api_url),
                body: json!({ "source": source }),
            }]);
        }
        let (message, cut) = truncate_chars(&r.field("message", &c.message), MAX_MESSAGE);
        if cut {
            tracing::warn!(receiver = %n.receiver, "OpsGenie message truncated to {MAX_MESSAGE} characters.");
        }
        let (description, cut) = truncate_chars(&r.field("description", &c.description), MAX_DESCRIPTION);
        if cut {
            tracing::warn!(receiver = %n.receiver, "OpsGenie description truncated to {MAX_DESCRIPTION} characters.");
        }
        // As Alertmanager: the common labels, overridden by the configured details.
        let mut details: Map<String, Json> = n.common_labels().into_iter().map(|(k, v)| (k, Json::String(v))).collect();
        for (k, v) in &c.details {
            details.insert(k.clone(), Json::String(r.field(&format!("details.{k}"), v)));
        }
        let mut responders = Vec::new();
        for resp in &c.responders {
            let id = r.field("responders.id", &resp.id);
            let name = r.field("responders.name", &resp.name);
            let username = r.field("responders.username", &resp.username);
            let kind = r.field("responders.type", &resp.kind).to_ascii_lowercase();
            if id.is_empty() && name.is_empty() && username.is_empty() && kind.is_empty() {
                continue;
            }
            if kind == "teams" {
                // `teams` is a comma-separated list of team names, one responder each.
                for team in split_list(&name, ',') {
                    responders.push(json!({"name": team, "type": "team"}));
                }
                continue;
            }
            let mut o = Map::new();
            put(&mut o, "id", id);
            put(&mut o, "name", name);
            put(&mut o, "username", username);
            o.insert("type".into(), Json::String(kind));
            responders.push(Json::Object(o));
        }
        let tags = split_list(&r.field("tags", &c.tags), ',');
        let actions = split_list(&r.field("actions", &c.actions), ',');
        let note = r.field("note", &c.note);
        let entity = r.field("entity", &c.entity);
        let priority = self.priority(&mut r, n);
        r.finish("opsgenie")?;
        let mut body = Map::new();
        body.insert("alias".into(), json!(alias));
        body.insert("message".into(), json!(message));
        put(&mut body, "description", description.clone());
        body.insert("details".into(), Json::Object(details));
        body.insert("source".into(), json!(source));
        if !responders.is_empty() {
            body.insert("responders".into(), Json::Array(responders));
        }
        if !tags.is_empty() {
            body.insert("tags".into(), json!(tags));
        }
        put(&mut body, "note", note);
        if let Some(p) = priority {
            body.insert("priority".into(), json!(p));
        }
        put(&mut body, "entity", entity);
        if !actions.is_empty() {
            body.insert("actions".into(), json!(actions));
        }
        let mut out =
            vec![Request { method: Method::POST, url: format!("{}v2/alerts", self.api_url), body: Json::Object(body) }];
        if c.update_alerts {
            out.push(Request {
                method: Method::PUT,
                url: format!("{}v2/alerts/{alias}/message?identifierType=alias", self.api_url),
                body: json!({ "message": message }),
            });
            out.push(Request {
                method: Method::PUT,
                url: format!("{}v2/alerts/{alias}/description?identifierType=alias", self.api_url),
                body: json!({ "description": description }),
            });
        }
        Ok(out)
    }

    /// The configured priority template when it yields P1..P5; with none configured, the
    /// group's severity (critical P1, error P2, warning P3, info P5); otherwise left to
    /// OpsGenie's default (P3).
    fn priority(&self, r: &mut FieldRenderer<'_>, n: &Notification) -> Option<String> {
        if self.conf.priority.is_empty() {
            return group_level(n).map(|l| l.opsgenie().to_string());
        }
        let p = r.field("priority", &self.conf.priority).trim().to_ascii_uppercase();
        if matches!(p.as_str(), "P1" | "P2" | "P3" | "P4" | "P5") {
            return Some(p);
        }
        if !p.is_empty() {
            // A severity word is also understood, so `priority: '{{ .CommonLabels.severity }}'` works.
            if let Some(l) = Level::parse(&p) {
                return Some(l.opsgenie().to_string());
            }
            tracing::warn!(receiver = %n.receiver, priority = %p, "Invalid OpsGenie priority; leaving it to OpsGenie.");
        }
        None
    }

    fn key(&self) -> Result<Secret, NotifyError> {
        if self.key_file.is_empty() {
            Ok(self.key.clone())
        } else {
            read_secret_file(&self.key_file, "opsgenie api_key").map_err(NotifyError::from)
        }
    }
}

impl Integration for OpsGenie {
    fn name(&self) -> &'static str {
        "opsgenie"
    }

    fn send_resolved(&self) -> bool {
        self.conf.send_resolved
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let auth = Secret::new(format!("GenieKey {}", self.key()?.expose()));
            for req in self.requests(n)? {
                self.http.send_json(req.method, &req.url, Some(&auth), &req.body, "opsgenie").await?;
            }
            Ok(())
        })
    }
}
