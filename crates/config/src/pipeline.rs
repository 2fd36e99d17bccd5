//! The pipeline file: top-level keys and component declarations.

use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

use crate::error::{ConfigError, ConfigErrors, Position};
use crate::{PromDuration, Secret};

/// `api:` — the HTTP server for health, metrics and the API.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address, e.g. `127.0.0.1:8686`.
    #[serde(default = "default_api_address")]
    pub address: String,
    /// A `web.yml` in Prometheus's exporter-toolkit format (`tls_server_config`,
    /// `basic_auth_users`, ...) plus Lookout's `roles` and `bearer_tokens`: TLS, users
    /// and roles for the API. Without it the API is open to anyone who can reach it.
    #[serde(default)]
    pub web_config_file: Option<String>,
    /// The URL people reach Lookout's UI at, which every link in a notification starts
    /// with (`generatorURL`, the Slack title's `/#/alerts?receiver=…`). Default:
    /// `rules.external_url` if set, else `http(s)://<api.address>` with the machine's
    /// hostname in place of a wildcard address ([`ApiConfig::external_url`]).
    #[serde(default)]
    pub external_url: Option<String>,
}

fn default_api_address() -> String {
    "127.0.0.1:8686".to_string()
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { address: default_api_address(), web_config_file: None, external_url: None }
    }
}

/// `http://host...` or `https://host...`: what a link in a notification can open.
fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

impl ApiConfig {
    /// The URL links in notifications start with, without a trailing `/`: `external_url`,
    /// else `rules_external_url` (`rules.external_url`, the older key), else the API's
    /// own address: `https` when it serves TLS, and the machine's hostname instead of
    /// `0.0.0.0` / `[::]`, which no browser can open.
    pub fn external_url(&self, rules_external_url: Option<&str>, tls: bool) -> String {
        if let Some(u) = self.external_url.as_deref().or(rules_external_url).filter(|u| !u.trim().is_empty()) {
            return u.trim().trim_end_matches('/').to_string();
        }
        let scheme = if tls { "https" } else { "http" };
        let (host, port) = match self.address.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (self.address.as_str(), None),
        };
        let host = match host {
            "" | "0.0.0.0" | "[::]" | "::" => {
                hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".to_string())
            }
            h => h.to_string(),
        };
        match port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        }
    }
}

/// `rules:` — Prometheus rule files (evaluated by the alert engine).
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Globs of rule files (relative to the working directory).
    #[serde(default)]
    pub files: Vec<String>,
    /// How often groups without their own `interval` run (Prometheus's
    /// `global.evaluation_interval`; default 1m).
    #[serde(default)]
    pub evaluation_interval: Option<PromDuration>,
    /// Labels added to every alert that lacks them (Prometheus's `external_labels`).
    #[serde(default)]
    pub external_labels: IndexMap<String, String>,
    /// The URL alerts link back to (`generatorURL`); `api.external_url` wins, and
    /// without either it is derived from `api.address` ([`ApiConfig::external_url`]).
    #[serde(default)]
    pub external_url: Option<String>,
    /// How often a firing alert is re-sent to the notifier (default 1m).
    #[serde(default)]
    pub resend_delay: Option<PromDuration>,
    /// After a restart, saved alert state older than this is discarded (default 1h,
    /// Prometheus's `rules.alert.for-outage-tolerance`).
    #[serde(default)]
    pub outage_tolerance: Option<PromDuration>,
    /// After a restart, groups whose alerts were restored wait this long before their
    /// first evaluation, so the (in-memory) store refills from the apps first instead of
    /// the restored alerts resolving on an empty store (default 1m: OpenTelemetry SDKs
    /// export metrics every 60 s).
    #[serde(default)]
    pub restore_grace: Option<PromDuration>,
    /// Re-read the rule files when they change (default true); SIGHUP always does.
    #[serde(default)]
    pub watch: Option<bool>,
    /// Evaluate against a Prometheus-compatible query API instead of the embedded store.
    #[serde(default)]
    pub remote: Option<RemoteRulesConfig>,
    /// Remote-write what the embedded store receives (OTLP metrics, derived series,
    /// recording rules, `ALERTS`) to a Prometheus-compatible endpoint.
    #[serde(default)]
    pub remote_write: Option<RemoteWriteConfig>,
}

/// `rules.remote:` — a Prometheus / VictoriaMetrics / Mimir query API.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteRulesConfig {
    /// Base URL, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    /// Globs of the rule files evaluated there; empty = every file under `rules.files`
    /// (then `rules.files` may be left empty and these are the only files).
    #[serde(default)]
    pub files: Vec<String>,
    /// `Authorization: Bearer` token.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// File holding the bearer token, re-read for every request (it may rotate).
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    /// Per-query timeout (default 30s).
    #[serde(default)]
    pub timeout: Option<PromDuration>,
}

/// `rules.remote_write:` — a remote-write 1.0 endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// e.g. `http://127.0.0.1:9090/api/v1/write`.
    pub url: String,
    /// `Authorization: Bearer` token.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// File holding the bearer token, re-read for every request (it may rotate).
    #[serde(default)]
    pub bearer_token_file: Option<String>,
}

/// `storage:` — the embedded series store: where it keeps data, how long, how much.
///
/// The store lives in `data_dir/tsdb/`: a write-ahead log (`wal/`) and immutable
/// blocks (`blocks/`), as Prometheus's TSDB does.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// How long samples are kept (default 6h); Prometheus's `--storage.tsdb.retention.time`.
    #[serde(default, deserialize_with = "positive_duration")]
    pub retention: Option<PromDuration>,
    /// Bytes of blocks and WAL kept, oldest blocks dropped first (default: no limit);
    /// Prometheus's `--storage.tsdb.retention.size`.
    #[serde(default, deserialize_with = "positive_size")]
    pub max_size: Option<crate::ByteSize>,
    /// Series beyond this are refused and counted (default 1,000,000).
    #[serde(default)]
    pub max_series: Option<usize>,
    /// When the WAL reaches the disk: `interval` (default; a crash of the process loses
    /// nothing committed, a power failure at most `wal_fsync_interval`) or `always`
    /// (fsync after every batch).
    #[serde(default)]
    pub wal_fsync: Option<WalFsync>,
    /// How often the WAL is fsynced with `wal_fsync: interval` (default 1s).
    #[serde(default, deserialize_with = "positive_duration")]
    pub wal_fsync_interval: Option<PromDuration>,
    /// WAL segment size (default 128MiB); Prometheus's `--storage.tsdb.wal-segment-size`.
    #[serde(default, deserialize_with = "positive_size")]
    pub wal_segment_size: Option<crate::ByteSize>,
    /// The time span of the head written to one block (default 2h); Prometheus's
    /// `--storage.tsdb.min-block-duration`.
    #[serde(default, deserialize_with = "positive_duration")]
    pub block_duration: Option<PromDuration>,
}

/// `storage.wal_fsync`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WalFsync {
    /// After every committed batch.
    Always,
    /// Every `wal_fsync_interval`.
    Interval,
}

fn positive_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PromDuration>, D::Error> {
    let v = PromDuration::deserialize(d)?;
    if v.0.is_zero() {
        return Err(serde::de::Error::custom("must be greater than 0"));
    }
    Ok(Some(v))
}

fn positive_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<crate::ByteSize>, D::Error> {
    let v = crate::ByteSize::deserialize(d)?;
    if v.0 == 0 {
        return Err(serde::de::Error::custom("must be greater than 0"));
    }
    Ok(Some(v))
}

/// `limits:` — process-wide bounds.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Above this resident memory, ingest refuses new requests (503 /
    /// RESOURCE_EXHAUSTED) before reading them, like the Collector's memory_limiter.
    #[serde(default)]
    pub memory: Option<crate::ByteSize>,
}

/// `scaling:` — scaling policy files (see `crates/scaler`).
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ScalingConfig {
    /// Globs of policy files (`scalers:` lists, HPA-shaped).
    #[serde(default)]
    pub files: Vec<String>,
}

/// `alerting:` — the Alertmanager-format routing file, and the notifier cluster.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Path of `alertmanager.yml`.
    pub config: Option<String>,
    /// `cluster:` — present when several notifiers share one notification log and their
    /// silences. Only its presence is recorded here: its type belongs to `lookout-notify`
    /// (which depends on this crate), which reads it with [`PipelineConfig::parse_whole`].
    #[serde(default)]
    pub cluster: Option<serde::de::IgnoredAny>,
}

/// `telemetry:` — Lookout's own logs and traces.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Log filter in `RUST_LOG` syntax (`info`, `lookout=debug,warn`); `RUST_LOG` wins.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// `text` or `json` log lines on stderr.
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// When set, Lookout's own spans are exported over OTLP/gRPC to this endpoint.
    #[serde(default)]
    pub otlp_traces_endpoint: Option<String>,
    /// When set (and not `0`), Lookout stores its own `/metrics` in its series store
    /// this often, as `{job="lookout", instance=API_ADDRESS}` (for `dashboards/`).
    #[serde(default)]
    pub self_scrape_interval: Option<crate::PromDuration>,
}

fn default_log_level() -> String {
    "info".to_string()
}

fn default_log_format() -> String {
    "text".to_string()
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_level: default_log_level(),
            log_format: default_log_format(),
            otlp_traces_endpoint: None,
            self_scrape_interval: None,
        }
    }
}

/// Which section a component is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    /// `sources:`
    Source,
    /// `transforms:`
    Transform,
    /// `sinks:`
    Sink,
    /// `probes:` — uptime probes: declared like components (a name, a `type` and the
    /// type's own keys) but not part of the graph (see `crates/probes`).
    Probe,
}

impl ComponentKind {
    /// `source`, `transform` or `sink`.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Source => "source",
            ComponentKind::Transform => "transform",
            ComponentKind::Sink => "sink",
            ComponentKind::Probe => "probe",
        }
    }
}

/// One entry of an `inputs:` list.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRef {
    /// `component` or `component.output`.
    pub name: String,
    /// Where it is written.
    pub position: Position,
}

/// A source, transform or sink as declared: name, `type`, `inputs`, and its YAML block
/// for the component's own config struct.
#[derive(Debug, Clone)]
pub struct ComponentDecl {
    /// The component's name (its key in the section).
    pub name: String,
    /// The section it is declared in.
    pub kind: ComponentKind,
    /// Its `type`.
    pub type_name: String,
    /// Where its `type` value is written.
    pub type_position: Position,
    /// Where the component's block starts.
    pub position: Position,
    /// Its `inputs` (empty for sources).
    pub inputs: Vec<InputRef>,
    body: Body,
}

// Debug by hand: the block is the raw YAML, credentials included.
#[derive(Clone)]
enum Body {
    /// The component's block with everything else blanked, at its original lines.
    Block(String),
    /// A flow mapping (`{ type: x, ... }`), parsed without positions.
    Flow(serde_json::Value),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Block(text) => write!(f, "Block(<{} bytes>)", text.len()),
            Body::Flow(_) => f.write_str("Flow(<value>)"),
        }
    }
}

impl ComponentDecl {
    /// Deserializes the component's own keys (everything but `type` and `inputs`)
    /// into `T`; errors point into the original file.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigErrors> {
        match &self.body {
            Body::Block(text) => serde_saphyr::from_str::<T>(text)
                .map_err(|e| ConfigError::from_yaml(&self.position.file, &e, Some(&self.position)).into()),
            Body::Flow(value) => serde_json::from_value::<T>(value.clone())
                .map_err(|e| ConfigError::new(self.position.clone(), e.to_string()).into()),
        }
    }

    /// An error about this component, at its `type`.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.type_position.clone(), message)
    }
}

/// A loaded pipeline file.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The file it came from.
    pub file: Arc<str>,
    /// `api:`
    pub api: ApiConfig,
    /// `data_dir:` — embedded state lives here.
    pub data_dir: String,
    /// `sources:` in file order.
    pub sources: IndexMap<String, ComponentDecl>,
    /// `transforms:` in file order.
    pub transforms: IndexMap<String, ComponentDecl>,
    /// `sinks:` in file order.
    pub sinks: IndexMap<String, ComponentDecl>,
    /// `probes:` in file order (their own name space; each parsed by `lookout-probes`).
    pub probes: IndexMap<String, ComponentDecl>,
    /// `rules:`
    pub rules: Option<RulesConfig>,
    /// `alerting:`
    pub alerting: Option<AlertingConfig>,
    /// `storage:`
    pub storage: StorageConfig,
    /// `limits:`
    pub limits: LimitsConfig,
    /// `scaling:`
    pub scaling: Option<ScalingConfig>,
    /// `telemetry:`
    pub telemetry: TelemetryConfig,
    /// Non-fatal findings (unset environment variables).
    pub warnings: Vec<ConfigError>,
    /// The file's text after `${VAR}` interpolation (credentials included, hence a
    /// `Secret`: never printed).
    text: Secret,
}

impl PipelineConfig {
    /// Deserializes the whole (interpolated) file into `T`, for a crate that owns the type
    /// of one section and cannot be known here (the notifier cluster's `alerting.cluster`):
    /// `T` names the path down to its section and leaves everything else to serde's
    /// default of ignoring unknown keys. Errors point into the file, as every other.
    pub fn parse_whole<T: DeserializeOwned>(&self) -> Result<T, ConfigErrors> {
        serde_saphyr::from_str::<T>(self.text.expose()).map_err(|e| ConfigError::from_yaml(&self.file, &e, None).into())
    }

    /// Every component, sources first, then transforms, then sinks.
    pub fn components(&self) -> impl Iterator<Item = &ComponentDecl> {
        self.sources.values().chain(self.transforms.values()).chain(self.sinks.values())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    api: Option<Spanned<ApiConfig>>,
    #[serde(default)]
    data_dir: Option<String>,
    #[serde(default)]
    sources: Option<IndexMap<Spanned<String>, Spanned<RawComponent>>>,
    #[serde(default)]
    transforms: Option<IndexMap<Spanned<String>, Spanned<RawComponent>>>,
    #[serde(default)]
    sinks: Option<IndexMap<Spanned<String>, Spanned<RawComponent>>>,
    #[serde(default)]
    probes: Option<IndexMap<Spanned<String>, Spanned<RawComponent>>>,
    #[serde(default)]
    rules: Option<Spanned<RulesConfig>>,
    #[serde(default)]
    alerting: Option<AlertingConfig>,
    #[serde(default)]
    telemetry: Option<TelemetryConfig>,
    #[serde(default)]
    storage: Option<StorageConfig>,
    #[serde(default)]
    limits: Option<LimitsConfig>,
    #[serde(default)]
    scaling: Option<ScalingConfig>,
}

// No deny_unknown_fields: the component's own keys are checked by its own struct.
#[derive(Deserialize)]
struct RawComponent {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    inputs: Option<Vec<Spanned<String>>>,
}

/// Reads and checks the top level of a pipeline file, interpolating `${VAR}` from the
/// process environment.
pub fn load(path: &Path) -> Result<PipelineConfig, ConfigErrors> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(Position { file: file.clone(), line: 1, column: 1 }, format!("cannot read file: {e}"))
    })?;
    load_str(&file, &text, &|k| std::env::var(k).ok())
}

/// [`load`] from a string, with a custom environment.
pub fn load_str(file: &str, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<PipelineConfig, ConfigErrors> {
    let file: Arc<str> = Arc::from(file);
    let (text, warnings) = crate::interpolate(&file, text, env)?;
    let raw: RawPipeline = serde_saphyr::from_str(&text).map_err(|e| ConfigError::from_yaml(&file, &e, None))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut errors = Vec::new();
    let mut seen: IndexMap<String, Position> = IndexMap::new();
    let mut section = |entries: Option<IndexMap<Spanned<String>, Spanned<RawComponent>>>, kind: ComponentKind| {
        let mut out = IndexMap::new();
        for (name, comp) in entries.unwrap_or_default() {
            let position = pos(&file, &name);
            // Probes have their own name space (one map: the YAML parser refuses a
            // repeated key), so a probe may share a component's name.
            if kind != ComponentKind::Probe
                && let Some(first) = seen.get(&name.value)
            {
                errors.push(ConfigError::new(
                    position.clone(),
                    format!("component name `{}` is already used at {first}", name.value),
                ));
                continue;
            }
            if kind != ComponentKind::Probe {
                seen.insert(name.value.clone(), position.clone());
            }
            let body = component_body(&lines, &text, &comp, &name.value, kind);
            let position_of_comp = pos(&file, &comp);
            let inputs: Vec<InputRef> = comp
                .value
                .inputs
                .unwrap_or_default()
                .into_iter()
                .map(|i| InputRef { position: pos(&file, &i), name: i.value })
                .collect();
            if matches!(kind, ComponentKind::Source | ComponentKind::Probe) && !inputs.is_empty() {
                let message = format!("{}s take no `inputs`", kind.as_str());
                errors.push(ConfigError::new(inputs[0].position.clone(), message));
            }
            out.insert(
                name.value.clone(),
                ComponentDecl {
                    name: name.value,
                    kind,
                    type_position: pos(&file, &comp.value.kind),
                    type_name: comp.value.kind.value,
                    position: position_of_comp,
                    inputs,
                    body,
                },
            );
        }
        out
    };
    let sources = section(raw.sources, ComponentKind::Source);
    let transforms = section(raw.transforms, ComponentKind::Transform);
    let sinks = section(raw.sinks, ComponentKind::Sink);
    let probes = section(raw.probes, ComponentKind::Probe);
    if let Some(rules) = &raw.rules {
        let r = &rules.value;
        let tokens = [
            ("rules.remote", r.remote.as_ref().map(|c| (&c.bearer_token, &c.bearer_token_file))),
            ("rules.remote_write", r.remote_write.as_ref().map(|c| (&c.bearer_token, &c.bearer_token_file))),
        ];
        for (what, token) in tokens {
            if let Some((Some(_), Some(_))) = token {
                let msg = format!("{what}: at most one of `bearer_token` and `bearer_token_file` must be configured");
                errors.push(ConfigError::new(pos(&file, rules), msg));
            }
        }
    }
    if let Some(api) = &raw.api
        && let Some(url) = &api.value.external_url
        && !is_http_url(url)
    {
        let msg = format!("api.external_url: {url:?} is not an http:// or https:// URL with a host");
        errors.push(ConfigError::new(pos(&file, api), msg));
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).sorted());
    }
    Ok(PipelineConfig {
        file,
        api: raw.api.map(|a| a.value).unwrap_or_default(),
        data_dir: raw.data_dir.unwrap_or_else(|| "./data".to_string()),
        sources,
        transforms,
        sinks,
        probes,
        rules: raw.rules.map(|r| r.value),
        alerting: raw.alerting,
        telemetry: raw.telemetry.unwrap_or_default(),
        storage: raw.storage.unwrap_or_default(),
        limits: raw.limits.unwrap_or_default(),
        scaling: raw.scaling,
        warnings,
        text: Secret::new(text),
    })
}

fn pos<T>(file: &Arc<str>, s: &Spanned<T>) -> Position {
    Position { file: file.clone(), line: s.referenced.line(), column: s.referenced.column() }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_filler(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// Cuts a component's block out of the file, keeping line numbers and columns: lines
/// before it become empty, and its `type` and `inputs` entries are blanked.
fn component_body(lines: &[&str], text: &str, comp: &Spanned<RawComponent>, name: &str, kind: ComponentKind) -> Body {
    let line = comp.referenced.line() as usize;
    let col = comp.referenced.column() as usize;
    let first = lines.get(line.wrapping_sub(1)).copied().unwrap_or("");
    let starts_flow = first.chars().skip(col.saturating_sub(1)).find(|c| !c.is_whitespace()) == Some('{');
    if starts_flow || line == 0 {
        return flow_body(text, name, kind);
    }
    let indent = col - 1;
    let mut out = String::with_capacity(text.len());
    for _ in 1..line {
        out.push('\n');
    }
    let mut blanking = false;
    for l in &lines[line - 1..] {
        if !is_filler(l) {
            let ind = indent_of(l);
            if ind < indent {
                break;
            }
            if ind == indent {
                let rest = &l[ind..];
                let continues_list = blanking && (rest == "-" || rest.starts_with("- "));
                if !continues_list {
                    blanking = ["type:", "type :", "inputs:", "inputs :"].iter().any(|k| rest.starts_with(k));
                }
            }
        }
        if !blanking {
            out.push_str(l);
        }
        out.push('\n');
    }
    Body::Block(out)
}

fn flow_body(text: &str, name: &str, kind: ComponentKind) -> Body {
    let section = match kind {
        ComponentKind::Source => "sources",
        ComponentKind::Transform => "transforms",
        ComponentKind::Sink => "sinks",
        ComponentKind::Probe => "probes",
    };
    let mut value = serde_saphyr::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get(section).and_then(|s| s.get(name)).cloned())
        .unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("type");
        map.remove("inputs");
    }
    Body::Flow(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_url_defaults_to_an_address_a_browser_can_open() {
        let api = |address: &str, external: Option<&str>| ApiConfig {
            address: address.into(),
            web_config_file: None,
            external_url: external.map(Into::into),
        };
        assert_eq!(api("127.0.0.1:8686", None).external_url(None, false), "http://127.0.0.1:8686");
        assert_eq!(api("lookout.internal:9000", None).external_url(None, true), "https://lookout.internal:9000");
        let host = hostname::get().unwrap().into_string().unwrap();
        assert_eq!(api("0.0.0.0:8686", None).external_url(None, false), format!("http://{host}:8686"));
        assert_eq!(api("[::]:8686", None).external_url(None, false), format!("http://{host}:8686"));
        assert_eq!(api(":8686", None).external_url(None, false), format!("http://{host}:8686"));
        // Configured: as written, without a trailing slash; api's before rules'.
        let set = api("0.0.0.0:8686", Some("https://lookout.example.com/"));
        assert_eq!(set.external_url(Some("http://old"), false), "https://lookout.example.com");
        assert_eq!(api("0.0.0.0:8686", None).external_url(Some("http://old/x/"), false), "http://old/x");
    }

    #[test]
    fn external_url_must_be_a_link() {
        let ok = load("api:\n  address: 0.0.0.0:8686\n  external_url: https://lookout.example.com\n").unwrap();
        assert_eq!(ok.api.external_url.as_deref(), Some("https://lookout.example.com"));
        for bad in ["lookout.example.com", "ftp://x", "http://", "https:///x", "http://a b"] {
            let err = load(&format!("api:\n  address: 0.0.0.0:8686\n  external_url: \"{bad}\"\n")).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("api.external_url") && text.contains(":2:"), "{bad}: {text}");
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct FileSink {
        path: String,
        #[serde(default)]
        when_full: Option<String>,
    }

    const EXAMPLE: &str = "\
api:
  address: 127.0.0.1:8686
data_dir: ./data
sources:
  otlp:
    type: otlp
    grpc: { address: 127.0.0.1:4317 }
transforms:
  enrich:
    type: enrich
    inputs: [otlp]
    set:
      deployment.environment: ${ENVIRONMENT:-dev}
sinks:
  archive:
    type: file
    inputs:
      - enrich
    path: ./data/archive.ndjson
  other:
    inputs:
    - enrich
    type: file
    path: x
    bogus: 1
";

    fn load(text: &str) -> Result<PipelineConfig, ConfigErrors> {
        load_str("p.yaml", text, &|_| None)
    }

    #[test]
    fn reads_declarations_with_positions() {
        let cfg = load(EXAMPLE).unwrap();
        assert_eq!(cfg.api.address, "127.0.0.1:8686");
        let enrich = &cfg.transforms["enrich"];
        assert_eq!(enrich.type_name, "enrich");
        assert_eq!(enrich.inputs[0].name, "otlp");
        assert_eq!(enrich.inputs[0].position.to_string(), "p.yaml:11:14");
        let archive = &cfg.sinks["archive"];
        assert_eq!(archive.parse::<FileSink>().unwrap().path, "./data/archive.ndjson");
    }

    #[test]
    fn component_errors_point_into_the_file() {
        let cfg = load(EXAMPLE).unwrap();
        let err = cfg.sinks["other"].parse::<FileSink>().unwrap_err();
        assert_eq!(err.to_string(), "p.yaml:25:5: unknown field `bogus`, expected one of path, when_full");
    }

    #[test]
    fn flow_components_parse() {
        let cfg = load("sinks:\n  c: { type: file, inputs: [a], path: p }\n").unwrap();
        assert_eq!(cfg.sinks["c"].parse::<FileSink>().unwrap().path, "p");
        assert_eq!(cfg.sinks["c"].inputs[0].name, "a");
    }

    #[test]
    fn top_level_errors() {
        let err = load("api:\n  address: x\nsorces: {}\n").unwrap_err();
        assert!(err.to_string().starts_with("p.yaml:3:1: unknown field `sorces`"), "{err}");
        let err = load("sources:\n  a:\n    grpc: {}\n").unwrap_err();
        assert!(err.to_string().contains("missing field `type`"), "{err}");
        let err = load("sources:\n  a:\n    type: otlp\nsinks:\n  a:\n    type: console\n").unwrap_err();
        assert!(err.to_string().starts_with("p.yaml:5:3: component name `a` is already used at p.yaml:2:3"), "{err}");
    }

    #[test]
    fn probes_are_declared_in_their_own_name_space() {
        let text = "sources:\n  web:\n    type: otlp\nprobes:\n  web:\n    type: http\n    url: http://x\n";
        let cfg = load(text).unwrap();
        let probe = &cfg.probes["web"];
        assert_eq!((probe.kind, probe.type_name.as_str()), (ComponentKind::Probe, "http"));
        assert_eq!(probe.type_position.to_string(), "p.yaml:6:11");
        assert_eq!(probe.parse::<FileSinkLike>().unwrap().url, "http://x");
        let e = load("probes:\n  a:\n    type: tcp\n    inputs: [x]\n").unwrap_err().to_string();
        assert_eq!(e, "p.yaml:4:14: probes take no `inputs`");
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FileSinkLike {
        url: String,
    }

    #[test]
    fn remote_bearer_tokens_are_secrets() {
        let text = "rules:\n  remote:\n    url: http://prom:9090\n    bearer_token: 'PlantedRemoteRead1'\n  \
                    remote_write:\n    url: http://prom:9090/api/v1/write\n    bearer_token: PlantedRemoteWrite2\n\
                    sinks:\n  out:\n    type: x\n    password: PlantedSinkBody3\n";
        let cfg = load_str("p.yaml", text, &|_| None).unwrap();
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("Planted"), "{debug}");
        let rules = cfg.rules.as_ref().unwrap();
        assert_eq!(rules.remote.as_ref().unwrap().bearer_token.as_ref().unwrap().expose(), "PlantedRemoteRead1");
        assert_eq!(rules.remote_write.as_ref().unwrap().bearer_token.as_ref().unwrap().expose(), "PlantedRemoteWrite2");

        let both = "rules:\n  remote_write:\n    url: http://p\n    bearer_token: t\n    bearer_token_file: /f\n";
        let e = load_str("p.yaml", both, &|_| None).unwrap_err().to_string();
        assert_eq!(
            e,
            "p.yaml:2:3: rules.remote_write: at most one of `bearer_token` and `bearer_token_file` must be configured"
        );
    }

    #[test]
    fn storage_keys_parse_and_bad_values_point_at_themselves() {
        let text = "storage:\n  retention: 15d\n  max_size: 10GiB\n  max_series: 5\n  wal_fsync: always\n  \
                    wal_fsync_interval: 2s\n  wal_segment_size: 1MiB\n  block_duration: 30m\n";
        let s = load(text).unwrap().storage;
        assert_eq!(s.retention.map(|d| d.ms()), Some(15 * 86_400_000));
        assert_eq!(s.max_size, Some(crate::ByteSize(10 << 30)));
        assert_eq!(s.wal_fsync, Some(WalFsync::Always));
        assert_eq!(s.wal_fsync_interval.map(|d| d.ms()), Some(2000));
        assert_eq!(s.wal_segment_size, Some(crate::ByteSize(1 << 20)));
        assert_eq!(s.block_duration.map(|d| d.ms()), Some(1_800_000));
        for (bad, at) in [
            ("storage:\n  block_duration: 0s\n", "p.yaml:2:19"),
            ("storage:\n  max_size: 0\n", "p.yaml:2:13"),
            ("storage:\n  wal_fsync: sometimes\n", "p.yaml:2:14"),
            ("storage:\n  retention: 5x\n", "p.yaml:2:14"),
        ] {
            let e = load(bad).unwrap_err().to_string();
            assert!(e.starts_with(at), "{bad}: {e}");
        }
    }
}
