//! PagerDuty: Events API v2 (`routing_key`; POST `url`, default
//! `https://events.pagerduty.com/v2/enqueue`) and the legacy v1 generic events API
//! (`service_key`), with the message Alertmanager sends (`notify/pagerduty/pagerduty.go`).
//!
//! One aggregation group is one PagerDuty alert: `dedup_key` is the SHA-256 of the group
//! key, so a later `resolve` closes exactly what the `trigger` opened, also after a restart.
//! Field rules from PagerDuty's "Events API v2 Overview" / "Send an Alert Event": `summary`
//! ≤ 1024 characters, `severity` one of critical/error/warning/info, events ≤ 512 KB.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Map, Value as Json, json};

use crate::alert::Notification;
use crate::config::{GlobalConfig, PagerdutyConfig, Secret, read_secret_file};
use crate::http::{HttpSender, check_status};
use crate::integration::{Integration, NotifyError};
use crate::severity::{Level, group_level};
use crate::templates::{FieldRenderer, Templates, truncate_chars};

/// The v1 endpoint Alertmanager uses for `service_key`.
const V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
const MAX_SUMMARY: usize = 1024;
/// PagerDuty refuses events over 512 KB.
const MAX_EVENT_BYTES: usize = 512 * 1024;

/// A `pagerduty_configs[]` entry, built.
pub struct PagerDuty {
    conf: PagerdutyConfig,
    details: BTreeMap<String, String>,
    source: String,
    url: String,
    v1: bool,
    templates: Arc<Templates>,
    http: HttpSender,
}

impl PagerDuty {
    /// From its config with the global defaults applied.
    pub fn new(
        c: &PagerdutyConfig,
        g: &GlobalConfig,
        templates: Arc<Templates>,
        client: reqwest::Client,
    ) -> Result<PagerDuty, crate::Error> {
        c.validate(g)?;
        let v1 = c.routing_key.is_empty() && c.routing_key_file.is_empty();
        let url = match (v1, c.url.is_empty()) {
            (_, false) => c.url.clone(),
            (true, true) => V1_URL.to_string(),
            (false, true) => g.pagerduty_url.clone(),
        };
        let mut details: BTreeMap<String, String> = crate::config::pagerduty_default_details()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        details.extend(c.details.iter().map(|(k, v)| (k.clone(), v.clone())));
        let source = if c.source.is_empty() { c.client.clone() } else { c.source.clone() };
        let http_config = c.http_config.clone().unwrap_or_else(|| g.http_config.clone());
        let timeout = c.timeout.map(|d| d.0);
        Ok(PagerDuty {
            conf: c.clone(),
            details,
            source,
            url,
            v1,
            templates,
            http: HttpSender::new(http_config, client, timeout)?,
        })
    }

    fn key(&self) -> Result<Secret, NotifyError> {
        let c = &self.conf;
        let (inline, file, what) = if self.v1 {
            (&c.service_key, &c.service_key_file, "service_key")
        } else {
            (&c.routing_key, &c.routing_key_file, "routing_key")
        };
        if file.is_empty() { Ok(inline.clone()) } else { read_secret_file(file, what).map_err(NotifyError::from) }
    }

    /// The event for `n` (with the key in it: never log it).
    pub fn event(&self, n: &Notification) -> Result<Json, NotifyError> {
        let c = &self.conf;
        let key = self.key()?;
        let mut r = FieldRenderer::new(&self.templates, n);
        let key = r.field("routing_key", key.expose());
        let (summary, cut) = truncate_chars(&r.field("description", &c.description), MAX_SUMMARY);
        if cut {
            tracing::warn!(receiver = %n.receiver, "PagerDuty summary truncated to {MAX_SUMMARY} characters.");
        }
        let details: Map<String, Json> =
            self.details.iter().map(|(k, v)| (k.clone(), Json::String(r.field(&format!("details.{k}"), v)))).collect();
        let client = r.field("client", &c.client);
        let client_url = r.field("client_url", &c.client_url);
        let action = if n.status_firing { "trigger" } else { "resolve" };
        let dedup = n.group_key_hash();
        if self.v1 {
            let mut m = Map::new();
            m.insert("service_key".into(), json!(key));
            m.insert("event_type".into(), json!(action));
            m.insert("incident_key".into(), json!(dedup));
            m.insert("description".into(), json!(summary));
            m.insert("details".into(), Json::Object(details));
            if n.status_firing {
                put(&mut m, "client", client);
                put(&mut m, "client_url", client_url);
            }
            r.finish("pagerduty")?;
            return Ok(Json::Object(m));
        }
        let source = r.field("source", &self.source);
        let severity = self.severity(&mut r, n);
        let class = r.field("class", &c.class);
        let component = r.field("component", &c.component);
        let group = r.field("group", &c.group);
        let images: Vec<Json> = c
            .images
            .iter()
            .map(|i| (r.field("images.src", &i.src), r.field("images.alt", &i.alt), r.field("images.href", &i.href)))
            .filter(|(src, _, _)| !src.is_empty())
            .map(|(src, alt, href)| {
                let mut o = Map::new();
                o.insert("src".into(), json!(src));
                put(&mut o, "alt", alt);
                put(&mut o, "href", href);
                Json::Object(o)
            })
            .collect();
        let links: Vec<Json> = c
            .links
            .iter()
            .map(|l| (r.field("links.href", &l.href), r.field("links.text", &l.text)))
            .filter(|(href, _)| !href.is_empty())
            .map(|(href, text)| {
                let mut o = Map::new();
                o.insert("href".into(), json!(href));
                put(&mut o, "text", text);
                Json::Object(o)
            })
            .collect();
        r.finish("pagerduty")?;
        let mut payload = Map::new();
        payload.insert("summary".into(), json!(summary));
        payload.insert("source".into(), json!(source));
        payload.insert("severity".into(), json!(severity));
        if let Some(first) = n.firing().map(|a| a.starts_at).min() {
            payload.insert("timestamp".into(), json!(crate::timefmt::rfc3339_nano(Some(first))));
        }
        put(&mut payload, "class", class);
        put(&mut payload, "component", component);
        put(&mut payload, "group", group);
        payload.insert("custom_details".into(), Json::Object(details));
        let mut m = Map::new();
        m.insert("routing_key".into(), json!(key));
        m.insert("event_action".into(), json!(action));
        m.insert("dedup_key".into(), json!(dedup));
        m.insert("payload".into(), Json::Object(payload));
        put(&mut m, "client", client);
        put(&mut m, "client_url", client_url);
        if !images.is_empty() {
            m.insert("images".into(), Json::Array(images));
        }
        if !links.is_empty() {
            m.insert("links".into(), Json::Array(links));
        }
        let mut event = Json::Object(m);
        if serde_json::to_vec(&event).map_or(0, |b| b.len()) > MAX_EVENT_BYTES {
            // As Alertmanager does: keep the event, drop what made it too big.
            tracing::warn!(receiver = %n.receiver, "PagerDuty event over 512 KB; custom details removed.");
            event["payload"]["custom_details"] = json!({
                "error": "Custom details have been removed because the original event exceeds the maximum size of 512KB"
            });
        }
        Ok(event)
    }

    /// The configured severity template, or the group's `severity` label; anything PagerDuty
    /// does not accept becomes its nearest level, unknown ones `error` (Alertmanager's default).
    fn severity(&self, r: &mut FieldRenderer<'_>, n: &Notification) -> &'static str {
        let level = if self.conf.severity.is_empty() {
            group_level(n)
        } else {
            let s = r.field("severity", &self.conf.severity);
            let l = Level::parse(&s);
            if l.is_none() && !s.is_empty() {
                tracing::warn!(receiver = %n.receiver, severity = %s, "Unknown PagerDuty severity; sending \"error\".");
            }
            l
        };
        level.map_or("error", Level::pagerduty)
    }
}

fn put(o: &mut Map<String, Json>, k: &str, v: String) {
    if !v.is_empty() {
        o.insert(k.into(), Json::String(v));
    }
}

impl Integration for PagerDuty {
    fn name(&self) -> &'static str {
        "pagerduty"
    }

    fn send_resolved(&self) -> bool {
        self.conf.send_resolved
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let event = self.event(n)?;
            let answer = self.http.send(Method::POST, &self.url, None, &event, "pagerduty").await?;
            match check_status("pagerduty", answer.status, answer.retry_after, &answer.body) {
                // v1 answers 403 when rate limited (PagerDuty's v1 docs); Alertmanager retries it.
                Err(mut e) if self.v1 && answer.status == reqwest::StatusCode::FORBIDDEN => {
                    e.retryable = true;
                    Err(e)
                }
                r => r,
            }
        })
    }
}
