//! Slack incoming webhooks: the message Alertmanager sends (`notify/slack/slack.go`: one
//! attachment with title, title_link, pretext, text, fallback, callback_id, fields,
//! actions, image/thumb URLs, footer, color, mrkdwn_in; top-level channel, username,
//! icon_emoji/icon_url, link_names), or with the Lookout option `block_kit: true` a Block
//! Kit message (header, text section, fields, buttons, context) with the same content.
//! Field meanings: Slack's "Reference: Secondary message attachments" and "Block Kit" docs.

use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Map, Value as Json, json};

use crate::alert::Notification;
use crate::config::{GlobalConfig, Secret, SlackConfig, read_secret_file};
use crate::http::HttpSender;
use crate::integration::{FailureReason, Integration, NotifyError};
use crate::templates::{FieldRenderer, Templates, truncate_chars};

/// Slack truncates longer titles; Alertmanager cuts at 1024 characters.
const MAX_TITLE: usize = 1024;
/// Block Kit limits (Slack "Block Kit" reference: header text 150, section text 3000,
/// section fields 10 of 2000 each, 25 elements in an actions block).
const MAX_HEADER: usize = 150;
const MAX_SECTION: usize = 3000;
const MAX_FIELDS: usize = 10;
const MAX_FIELD: usize = 2000;
const MAX_ACTIONS: usize = 25;

/// A `slack_configs[]` entry, built.
pub struct Slack {
    conf: SlackConfig,
    url: Option<Secret>,
    url_file: String,
    templates: Arc<Templates>,
    http: HttpSender,
}

impl Slack {
    /// From its config with the global defaults applied.
    pub fn new(
        c: &SlackConfig,
        g: &GlobalConfig,
        templates: Arc<Templates>,
        client: reqwest::Client,
    ) -> Result<Slack, crate::Error> {
        c.validate(g)?;
        let (url, url_file) = if c.api_url.is_some() || !c.api_url_file.is_empty() {
            (c.api_url.clone(), c.api_url_file.clone())
        } else {
            (g.slack_api_url.clone(), g.slack_api_url_file.clone())
        };
        let http_config = c.http_config.clone().unwrap_or_else(|| g.http_config.clone());
        Ok(Slack { conf: c.clone(), url, url_file, templates, http: HttpSender::new(http_config, client, None)? })
    }

    /// The JSON body for `n`.
    pub fn message(&self, n: &Notification) -> Result<Json, NotifyError> {
        let c = &self.conf;
        let mut r = FieldRenderer::new(&self.templates, n);
        let (title, cut) = truncate_chars(&r.field("title", &c.title), MAX_TITLE);
        if cut {
            tracing::warn!(receiver = %n.receiver, "Slack title truncated to {MAX_TITLE} characters.");
        }
        let title_link = r.field("title_link", &c.title_link);
        let pretext = r.field("pretext", &c.pretext);
        let text = r.field("text", &c.text);
        let fallback = r.field("fallback", &c.fallback);
        let callback_id = r.field("callback_id", &c.callback_id);
        let footer = r.field("footer", &c.footer);
        let color = r.field("color", &c.color);
        let image_url = r.field("image_url", &c.image_url);
        let thumb_url = r.field("thumb_url", &c.thumb_url);
        let fields: Vec<(String, String, bool)> = c
            .fields
            .iter()
            .map(|f| {
                (
                    r.field("fields.title", &f.title),
                    r.field("fields.value", &f.value),
                    f.short.unwrap_or(c.short_fields),
                )
            })
            .collect();
        let actions: Vec<Json> = c
            .actions
            .iter()
            .map(|a| {
                let mut o = Map::new();
                put(&mut o, "type", r.field("actions.type", &a.kind));
                put(&mut o, "text", r.field("actions.text", &a.text));
                put(&mut o, "url", r.field("actions.url", &a.url));
                put(&mut o, "style", r.field("actions.style", &a.style));
                put(&mut o, "name", r.field("actions.name", &a.name));
                put(&mut o, "value", r.field("actions.value", &a.value));
                if let Some(cf) = &a.confirm {
                    let mut co = Map::new();
                    put(&mut co, "text", r.field("actions.confirm.text", &cf.text));
                    put(&mut co, "title", r.field("actions.confirm.title", &cf.title));
                    put(&mut co, "ok_text", r.field("actions.confirm.ok_text", &cf.ok_text));
                    put(&mut co, "dismiss_text", r.field("actions.confirm.dismiss_text", &cf.dismiss_text));
                    o.insert("confirm".into(), Json::Object(co));
                }
                Json::Object(o)
            })
            .collect();
        let mut top = Map::new();
        put(&mut top, "channel", r.field("channel", &c.channel));
        put(&mut top, "username", r.field("username", &c.username));
        put(&mut top, "icon_emoji", r.field("icon_emoji", &c.icon_emoji));
        put(&mut top, "icon_url", r.field("icon_url", &c.icon_url));
        r.finish("slack")?;
        if c.link_names {
            top.insert("link_names".into(), Json::Bool(true));
        }
        if c.block_kit {
            top.insert("text".into(), Json::String(fallback));
            let blocks = blocks(&BlockParts { title, title_link, pretext, text, footer, color, fields, actions });
            top.insert("blocks".into(), Json::Array(blocks));
            return Ok(Json::Object(top));
        }
        let mut att = Map::new();
        put(&mut att, "title", title);
        put(&mut att, "title_link", title_link);
        put(&mut att, "pretext", pretext);
        att.insert("text".into(), Json::String(text));
        att.insert("fallback".into(), Json::String(fallback));
        att.insert("callback_id".into(), Json::String(callback_id));
        if !fields.is_empty() {
            let f = fields.into_iter().map(|(t, v, s)| json!({"title": t, "value": v, "short": s})).collect();
            att.insert("fields".into(), Json::Array(f));
        }
        if !actions.is_empty() {
            att.insert("actions".into(), Json::Array(actions));
        }
        put(&mut att, "image_url", image_url);
        put(&mut att, "thumb_url", thumb_url);
        att.insert("footer".into(), Json::String(footer));
        put(&mut att, "color", color);
        let mrkdwn_in: Vec<String> = if c.mrkdwn_in.is_empty() {
            // Alertmanager's default: markdown in the fields its default templates fill.
            vec!["fallback".into(), "pretext".into(), "text".into()]
        } else {
            c.mrkdwn_in.clone()
        };
        att.insert("mrkdwn_in".into(), json!(mrkdwn_in));
        top.insert("attachments".into(), Json::Array(vec![Json::Object(att)]));
        Ok(Json::Object(top))
    }
}

/// Inserts `v` unless empty (Go's `omitempty`).
fn put(o: &mut Map<String, Json>, k: &str, v: String) {
    if !v.is_empty() {
        o.insert(k.into(), Json::String(v));
    }
}

struct BlockParts {
    title: String,
    title_link: String,
    pretext: String,
    text: String,
    footer: String,
    color: String,
    fields: Vec<(String, String, bool)>,
    actions: Vec<Json>,
}

/// The Block Kit rendering: blocks have no colour bar, so the colour becomes a status
/// emoji in front of the header.
fn blocks(p: &BlockParts) -> Vec<Json> {
    let mut out = Vec::new();
    let dot = match p.color.as_str() {
        "danger" => "🔴 ",
        "warning" => "🟠 ",
        "good" => "🟢 ",
        "" => "",
        _ => "🔵 ",
    };
    if !p.title.is_empty() {
        let (h, _) = truncate_chars(&format!("{dot}{}", p.title), MAX_HEADER);
        out.push(json!({"type": "header", "text": {"type": "plain_text", "text": h, "emoji": true}}));
    }
    if !p.pretext.is_empty() {
        out.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate_chars(&p.pretext, MAX_SECTION).0}]}));
    }
    if !p.text.trim().is_empty() {
        out.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(&p.text, MAX_SECTION).0}}),
        );
    }
    if !p.fields.is_empty() {
        let fields: Vec<Json> = p
            .fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(t, v, _)| json!({"type": "mrkdwn", "text": truncate_chars(&format!("*{t}*\n{v}"), MAX_FIELD).0}))
            .collect();
        out.push(json!({"type": "section", "fields": fields}));
    }
    let buttons: Vec<Json> = p
        .actions
        .iter()
        .filter(|a| a.get("url").is_some())
        .take(MAX_ACTIONS)
        .map(|a| {
            let mut b = json!({
                "type": "button",
                "text": {"type": "plain_text", "text": a["text"].as_str().unwrap_or_default(), "emoji": true},
                "url": a["url"],
            });
            if let Some(style @ ("primary" | "danger")) = a.get("style").and_then(Json::as_str) {
                b["style"] = json!(style);
            }
            b
        })
        .collect();
    if !buttons.is_empty() {
        out.push(json!({"type": "actions", "elements": buttons}));
    }
    let mut context = p.footer.clone();
    if !p.title_link.is_empty() {
        if !context.is_empty() {
            context.push_str(" · ");
        }
        context.push_str(&format!("<{}|Open in Lookout>", p.title_link));
    }
    if !context.is_empty() {
        out.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}));
    }
    out
}

impl Integration for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn send_resolved(&self) -> bool {
        self.conf.send_resolved
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let body = self.message(n)?;
            let url = match &self.url {
                Some(u) => u.clone(),
                None => read_secret_file(&self.url_file, "slack api_url").map_err(NotifyError::from)?,
            };
            let answer = self.http.send_json(Method::POST, url.expose(), None, &body, "slack").await?;
            check_answer(&answer)
        })
    }
}

/// Incoming webhooks answer `ok`; the Web API answers `{"ok": false, "error": "..."}` with
/// status 200, which is a failure all the same (never retried: the request is wrong).
fn check_answer(body: &[u8]) -> Result<(), NotifyError> {
    if let Ok(Json::Object(o)) = serde_json::from_slice::<Json>(body)
        && o.get("ok") == Some(&Json::Bool(false))
    {
        let err = o.get("error").and_then(Json::as_str).unwrap_or("unknown error");
        return Err(NotifyError::permanent(FailureReason::ClientError, format!("slack: {err}")));
    }
    Ok(())
}
