//! What the `elasticsearch` sink installs before its first write, as a user setting up
//! ELK would: a composable index template per index pattern with explicit mappings for
//! Lookout's document shape (docs/event-shape.md), and a lifecycle when `retention` is
//! set.
//!
//! | store | `mode: index` (dated index names) | `mode: data_stream` |
//! |---|---|---|
//! | Elasticsearch ≥ 8.11 | ILM policy: delete after `retention` | data stream lifecycle (`data_retention`) |
//! | Elasticsearch < 8.11 | ILM policy: delete after `retention` | ILM policy: rollover daily, delete after `retention` |
//! | OpenSearch | ISM policy: delete after `retention` | ISM policy: rollover daily, delete after `retention` |
//!
//! Dated indices (`logs-%Y.%m.%d`) roll over by name, so their policy only deletes.
//! Installation is idempotent: each object carries a hash of its body (`_meta` or the
//! ISM description) and is written only when missing or different, so a restart or a
//! second replica writes nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tracing::info;

use super::{Credentials, Mode};
use crate::delivery::{Endpoint, SendError};

/// Which store the endpoint is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// Asked of the store (`GET /`: OpenSearch names its `distribution`).
    #[default]
    Auto,
    /// Elasticsearch (ILM, data stream lifecycle).
    Elasticsearch,
    /// OpenSearch (ISM).
    Opensearch,
}

/// Above this version Elasticsearch has data stream lifecycles and `subobjects`.
const ES_DATA_STREAM_LIFECYCLE: (u32, u32) = (8, 11);
const ES_SUBOBJECTS: (u32, u32) = (8, 3);
/// Above Elasticsearch's built-in `logs-*-*` (100) and friends.
const TEMPLATE_PRIORITY: u32 = 200;

/// What to install, from the sink's configuration.
#[derive(Debug, Clone)]
pub(super) struct Setup {
    pub client: reqwest::Client,
    pub auth: Option<Credentials>,
    /// The sink's name: objects are called `lookout-<sink>[-<pattern>]`.
    pub sink: String,
    pub mode: Mode,
    pub flavor: Flavor,
    pub retention: Option<Duration>,
    /// Index patterns, one per distinct index template prefix.
    pub patterns: Vec<String>,
}

/// The store as `GET /` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Elasticsearch { major: u32, minor: u32 },
    Opensearch,
}

/// The index pattern an index name template writes to: its constant part up to the
/// first field or date, then `*` (`logs-{service.name}-%Y.%m.%d` → `logs-*`); the name
/// itself when it is constant. `None` when nothing is constant: a template for `*`
/// would capture every index of the cluster.
pub(super) fn index_pattern(template: &str) -> Option<String> {
    let end = template.find(['{', '%']).unwrap_or(template.len());
    let prefix = template[..end].to_lowercase();
    match (prefix.is_empty(), end == template.len()) {
        (true, _) => None,
        (false, true) => Some(prefix),
        (false, false) => Some(format!("{prefix}*")),
    }
}

/// Whether an index name template has a date in it (a new index per period).
pub(super) fn is_dated(template: &str) -> bool {
    template.contains('%')
}

/// Elasticsearch/OpenSearch time units for `d` (whole days, hours, minutes or seconds).
fn time_unit(d: Duration) -> String {
    let s = d.as_secs().max(1);
    match s {
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3_600) => format!("{}h", s / 3_600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// The mappings of Lookout's documents: timestamps as nanosecond dates, ids and other
/// strings as keywords, `body` as text with a keyword sub-field, numbers as numbers that
/// tolerate a malformed value rather than refusing the document.
fn mappings(subobjects: bool) -> Value {
    let keyword = json!({"type": "keyword", "ignore_above": 1024});
    let date = json!({"type": "date_nanos"});
    let mut attributes = json!({"type": "object"});
    if !subobjects {
        // `http.status_code` and `http` may both be attributes: keep dotted keys flat.
        attributes["subobjects"] = json!(false);
    }
    json!({
        "dynamic_templates": [
            {"longs": {"match_mapping_type": "long", "mapping": {"type": "long", "ignore_malformed": true}}},
            {"doubles": {"match_mapping_type": "double", "mapping": {"type": "double", "ignore_malformed": true}}},
            {"strings": {"match_mapping_type": "string", "mapping": keyword}},
        ],
        "properties": {
            "@timestamp": date, "observed_timestamp": date, "end_timestamp": date, "start_timestamp": date,
            "signal": keyword, "severity_text": keyword,
            "severity_number": {"type": "integer", "ignore_malformed": true},
            "body": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 8191}}},
            "event_name": keyword, "trace_id": keyword, "span_id": keyword, "parent_span_id": keyword,
            "trace_state": keyword, "flags": {"type": "long", "ignore_malformed": true},
            "name": keyword, "kind": keyword,
            "duration_ms": {"type": "double", "ignore_malformed": true},
            "status": {"properties": {"code": keyword, "message": {"type": "text"}}},
            "description": {"type": "text"}, "unit": keyword, "type": keyword, "temporality": keyword,
            "monotonic": {"type": "boolean"},
            "value": {"type": "double", "ignore_malformed": true},
            "count": {"type": "long", "ignore_malformed": true},
            "sum": {"type": "double", "ignore_malformed": true},
            "min": {"type": "double", "ignore_malformed": true},
            "max": {"type": "double", "ignore_malformed": true},
            "attributes": attributes, "resource": attributes,
            "scope": {"properties": {"name": keyword, "version": keyword}},
        }
    })
}

/// A short stable hash of a body (FNV-1a over its JSON), to tell ours apart from an edit.
fn hash(v: &Value) -> String {
    format!("{:016x}", crate::delivery::fnv1a(v.to_string().as_bytes()))
}

impl Setup {
    /// `lookout-<sink>` (the policy) and `lookout-<sink>-<pattern>` (templates), in the
    /// characters index template names allow.
    fn name(&self, pattern: Option<&str>) -> String {
        let mut n = format!("lookout-{}", self.sink);
        if let Some(p) = pattern {
            n.push('-');
            n.push_str(p.trim_end_matches('*').trim_end_matches(['-', '_', '.']));
        }
        n.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '_' })
            .collect()
    }

    /// The lifecycle, when `retention` is set: `(path, body)` for the store.
    fn policy(&self, store: Store) -> Option<(String, Value)> {
        let retention = time_unit(self.retention?);
        let data_stream = self.mode == Mode::DataStream;
        match store {
            Store::Elasticsearch { major, minor } => {
                if data_stream && (major, minor) >= ES_DATA_STREAM_LIFECYCLE {
                    return None; // in the template itself
                }
                let mut phases = json!({"delete": {"min_age": retention, "actions": {"delete": {}}}});
                if data_stream {
                    phases["hot"] =
                        json!({"actions": {"rollover": {"max_age": "1d", "max_primary_shard_size": "50gb"}}});
                }
                let mut body = json!({"policy": {"phases": phases}});
                body["policy"]["_meta"] = json!({"managed_by": "lookout", "hash": hash(&body)});
                Some((format!("_ilm/policy/{}", self.name(None)), body))
            }
            Store::Opensearch => {
                let hot_actions = if data_stream { json!([{"rollover": {"min_index_age": "1d"}}]) } else { json!([]) };
                let mut body = json!({"policy": {
                    "default_state": "hot",
                    "states": [
                        {"name": "hot", "actions": hot_actions,
                         "transitions": [{"state_name": "delete", "conditions": {"min_index_age": retention}}]},
                        {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
                    ],
                    "ism_template": [{"index_patterns": self.patterns, "priority": TEMPLATE_PRIORITY}],
                }});
                body["policy"]["description"] =
                    json!(format!("Lookout sink {}: delete after {retention} (lookout {})", self.sink, hash(&body)));
                Some((format!("_plugins/_ism/policies/{}", self.name(None)), body))
            }
        }
    }

    /// The composable index template for `pattern`.
    fn template(&self, store: Store, pattern: &str) -> Value {
        let subobjects = !matches!(store, Store::Elasticsearch { major, minor } if (major, minor) >= ES_SUBOBJECTS);
        let mut template = json!({"mappings": mappings(subobjects)});
        let data_stream = self.mode == Mode::DataStream;
        if let (Some(retention), Store::Elasticsearch { major, minor }) = (self.retention, store) {
            if data_stream && (major, minor) >= ES_DATA_STREAM_LIFECYCLE {
                template["lifecycle"] = json!({"data_retention": time_unit(retention)});
            } else {
                template["settings"] = json!({"index.lifecycle.name": self.name(None)});
            }
        }
        let mut body = json!({"index_patterns": [pattern], "priority": TEMPLATE_PRIORITY, "template": template});
        if data_stream {
            body["data_stream"] = json!({});
        }
        body["_meta"] = json!({"managed_by": "lookout", "sink": self.sink, "hash": hash(&body)});
        body
    }

    /// Installs what is missing or different on `endpoint`'s store.
    pub(super) fn install(&self, endpoint: &Endpoint) -> BoxFuture<'static, Result<(), SendError>> {
        let this = self.clone();
        let base = endpoint.url().trim_end_matches('/').to_string();
        async move {
            let store = this.store(&base).await?;
            if let Some((path, body)) = this.policy(store) {
                this.put_policy(&base, store, &path, &body).await?;
            }
            for pattern in &this.patterns {
                let name = this.name(Some(pattern));
                let body = this.template(store, pattern);
                let path = format!("_index_template/{name}");
                let current = this.get(&base, &path).await?;
                let theirs = current
                    .as_ref()
                    .and_then(|c| c["index_templates"].as_array()?.first().map(|t| t["index_template"]["_meta"]["hash"].clone()));
                if theirs.as_ref() == Some(&body["_meta"]["hash"]) {
                    continue;
                }
                this.put(&base, &path, &body, "index template", "manage_index_templates").await?;
                info!(sink = %this.sink, template = %name, pattern = %pattern, "Elasticsearch: index template installed.");
            }
            Ok(())
        }
        .boxed()
    }

    async fn store(&self, base: &str) -> Result<Store, SendError> {
        if self.flavor == Flavor::Opensearch {
            return Ok(Store::Opensearch);
        }
        let about = self.get(base, "").await?.unwrap_or(Value::Null);
        if self.flavor == Flavor::Auto && about["version"]["distribution"] == "opensearch" {
            return Ok(Store::Opensearch);
        }
        let number = about["version"]["number"].as_str().unwrap_or("8.0.0");
        let mut parts = number.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
        Ok(Store::Elasticsearch { major: parts.next().unwrap_or(8), minor: parts.next().unwrap_or(0) })
    }

    async fn put_policy(&self, base: &str, store: Store, path: &str, body: &Value) -> Result<(), SendError> {
        let current = self.get(base, path).await?;
        let mut path = path.to_string();
        match (store, &current) {
            (Store::Elasticsearch { .. }, Some(c)) => {
                let theirs = c.as_object().and_then(|o| o.values().next()).map(|p| &p["policy"]["_meta"]["hash"]);
                if theirs == Some(&body["policy"]["_meta"]["hash"]) {
                    return Ok(());
                }
            }
            (Store::Opensearch, Some(c)) => {
                if c["policy"]["description"] == body["policy"]["description"] {
                    return Ok(());
                }
                // ISM replaces a policy only at the version it was read at.
                path = format!("{path}?if_seq_no={}&if_primary_term={}", c["_seq_no"], c["_primary_term"]);
            }
            (_, None) => {}
        }
        let privilege =
            if store == Store::Opensearch { "cluster:admin/opendistro/ism/policy/write" } else { "manage_ilm" };
        self.put(base, &path, body, "lifecycle policy", privilege).await?;
        info!(sink = %self.sink, policy = %path, "Elasticsearch: lifecycle policy installed.");
        Ok(())
    }

    fn request(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request.header("accept", "application/json");
        match &self.auth {
            Some(auth) => auth.apply(request),
            None => request,
        }
    }

    /// `GET base/path`: the body, or `None` on 404.
    async fn get(&self, base: &str, path: &str) -> Result<Option<Value>, SendError> {
        let resp = self
            .request(self.client.get(format!("{base}/{path}")))
            .send()
            .await
            .map_err(|e| SendError::transport(&e))?;
        let status = resp.status().as_u16();
        let text = resp.bytes().await.map_err(|e| SendError::transport(&e))?;
        match status {
            404 => Ok(None),
            200..=299 => Ok(Some(serde_json::from_slice(&text).unwrap_or(Value::Null))),
            _ => Err(SendError::from_status(status, &String::from_utf8_lossy(&text)).prefixed(&format!("GET /{path}"))),
        }
    }

    async fn put(&self, base: &str, path: &str, body: &Value, what: &str, privilege: &str) -> Result<(), SendError> {
        let resp = self
            .request(self.client.put(format!("{base}/{path}")).json(body))
            .send()
            .await
            .map_err(|e| SendError::transport(&e))?;
        let status = resp.status().as_u16();
        let text = resp.bytes().await.map_err(|e| SendError::transport(&e))?;
        if (200..300).contains(&status) {
            return Ok(());
        }
        let reason = store_reason(&text);
        let name = path.split('?').next().unwrap_or(path).rsplit('/').next().unwrap_or(path);
        let mut message = format!("cannot install {what} `{name}`: HTTP {status}: {reason}");
        if status == 401 || status == 403 {
            message.push_str(&format!(
                "; the sink's user needs the `{privilege}` privilege, or set `manage_templates: false` \
                 where templates are managed elsewhere"
            ));
        }
        Err(match SendError::from_status(status, "") {
            SendError::Fatal(_) => SendError::Fatal(message),
            SendError::Unauthorized(_) => SendError::Unauthorized(message),
            SendError::Retryable(_) | SendError::Throttled { .. } => SendError::Retryable(message),
        })
    }
}

/// `type: reason` of an Elasticsearch error body, else its first 300 characters.
fn store_reason(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (v["error"]["type"].as_str(), v["error"]["reason"].as_str()) {
        (Some(t), Some(r)) => format!("{t}: {r}"),
        _ => String::from_utf8_lossy(body).chars().take(300).collect(),
    }
}

/// The distinct index patterns of the sink's three index templates (logs, traces,
/// metrics); templates with no constant prefix are left out (and said so).
pub(super) fn patterns(templates: [&str; 3]) -> (Vec<String>, Vec<String>) {
    let mut seen = BTreeSet::new();
    let (mut patterns, mut skipped) = (Vec::new(), Vec::new());
    for t in templates {
        match index_pattern(t) {
            Some(p) => {
                if seen.insert(p.clone()) {
                    patterns.push(p);
                }
            }
            None => skipped.push(t.to_string()),
        }
    }
    (patterns, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(mode: Mode, retention: Option<u64>) -> Setup {
        Setup {
            client: reqwest::Client::new(),
            auth: None,
            sink: "es".into(),
            mode,
            flavor: Flavor::Auto,
            retention: retention.map(|d| Duration::from_secs(d * 86_400)),
            patterns: vec!["logs-*".into(), "traces-*".into()],
        }
    }

    #[test]
    fn patterns_are_the_constant_prefix() {
        assert_eq!(index_pattern("logs-{service.name}-%Y.%m.%d").as_deref(), Some("logs-*"));
        assert_eq!(index_pattern("Logs-%Y").as_deref(), Some("logs-*"));
        assert_eq!(index_pattern("app-logs").as_deref(), Some("app-logs"));
        assert_eq!(index_pattern("{service.name}-logs"), None);
        let (p, skipped) = patterns(["logs-{x}", "logs-%Y", "{y}"]);
        assert_eq!(p, ["logs-*"]);
        assert_eq!(skipped, ["{y}"]);
        assert!(is_dated("a-%Y.%m.%d") && !is_dated("a-{b}"));
    }

    #[test]
    fn retention_in_store_units() {
        assert_eq!(time_unit(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(time_unit(Duration::from_secs(36 * 3_600)), "36h");
        assert_eq!(time_unit(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn lifecycle_follows_store_and_mode() {
        let es8 = Store::Elasticsearch { major: 8, minor: 15 };
        let es7 = Store::Elasticsearch { major: 7, minor: 17 };
        // Index mode on Elasticsearch: ILM delete only, referenced by the template.
        let s = setup(Mode::Index, Some(30));
        let (path, body) = s.policy(es8).unwrap();
        assert_eq!(path, "_ilm/policy/lookout-es");
        assert_eq!(body["policy"]["phases"]["delete"]["min_age"], "30d");
        assert!(body["policy"]["phases"].get("hot").is_none());
        let t = s.template(es8, "logs-*");
        assert_eq!(t["template"]["settings"]["index.lifecycle.name"], "lookout-es");
        assert_eq!(t["priority"], 200);
        assert!(t.get("data_stream").is_none());
        assert_eq!(t["template"]["mappings"]["properties"]["attributes"]["subobjects"], false);
        assert_eq!(
            s.template(es7, "logs-*")["template"]["mappings"]["properties"]["attributes"].get("subobjects"),
            None
        );
        // Data streams on Elasticsearch 8.11+: the data stream lifecycle, no ILM.
        let s = setup(Mode::DataStream, Some(7));
        assert!(s.policy(es8).is_none());
        let t = s.template(es8, "logs-*");
        assert_eq!(t["data_stream"], json!({}));
        assert_eq!(t["template"]["lifecycle"]["data_retention"], "7d");
        // … and ILM with rollover before it.
        let (_, body) = s.policy(es7).unwrap();
        assert_eq!(body["policy"]["phases"]["hot"]["actions"]["rollover"]["max_age"], "1d");
        // OpenSearch: ISM, attached by pattern.
        let (path, body) = s.policy(Store::Opensearch).unwrap();
        assert_eq!(path, "_plugins/_ism/policies/lookout-es");
        assert_eq!(body["policy"]["ism_template"][0]["index_patterns"], json!(["logs-*", "traces-*"]));
        assert_eq!(body["policy"]["states"][0]["actions"][0]["rollover"]["min_index_age"], "1d");
        assert_eq!(body["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"], "7d");
        // No retention: templates only.
        let s = setup(Mode::Index, None);
        assert!(s.policy(es8).is_none() && s.policy(Store::Opensearch).is_none());
        assert!(s.template(es8, "logs-*")["template"].get("settings").is_none());
    }

    #[test]
    fn bodies_carry_a_stable_hash_and_names_are_valid() {
        let s = setup(Mode::Index, Some(30));
        let es = Store::Elasticsearch { major: 8, minor: 15 };
        assert_eq!(s.template(es, "logs-*")["_meta"]["hash"], s.template(es, "logs-*")["_meta"]["hash"]);
        assert_ne!(s.template(es, "logs-*")["_meta"]["hash"], s.template(es, "traces-*")["_meta"]["hash"]);
        assert_eq!(s.name(Some("logs-*")), "lookout-es-logs");
        assert_eq!(s.name(Some("App.Logs")), "lookout-es-app_logs");
    }
}
