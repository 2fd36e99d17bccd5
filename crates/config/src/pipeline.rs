//! The pipeline file: top-level keys and component declarations.

use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

use crate::PromDuration;
use crate::error::{ConfigError, ConfigErrors, Position};

/// `api:` — the HTTP server for health, metrics and the API.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address, e.g. `127.0.0.1:8686`.
    #[serde(default = "default_api_address")]
    pub address: String,
}

fn default_api_address() -> String {
    "127.0.0.1:8686".to_string()
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { address: default_api_address() }
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
    /// The URL alerts link back to (`generatorURL`); default `http://<api.address>`.
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
    pub bearer_token: Option<String>,
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
    pub bearer_token: Option<String>,
}

/// `storage:` — the embedded series store's limits.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// How long samples are kept (default 6h).
    #[serde(default)]
    pub retention: Option<PromDuration>,
    /// Series beyond this are refused and counted (default 1,000,000).
    #[serde(default)]
    pub max_series: Option<usize>,
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

/// `alerting:` — the Alertmanager-format routing file.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Path of `alertmanager.yml`.
    pub config: Option<String>,
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
}

fn default_log_level() -> String {
    "info".to_string()
}

fn default_log_format() -> String {
    "text".to_string()
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig { log_level: default_log_level(), log_format: default_log_format(), otlp_traces_endpoint: None }
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
}

impl ComponentKind {
    /// `source`, `transform` or `sink`.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Source => "source",
            ComponentKind::Transform => "transform",
            ComponentKind::Sink => "sink",
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

#[derive(Debug, Clone)]
enum Body {
    /// The component's block with everything else blanked, at its original lines.
    Block(String),
    /// A flow mapping (`{ type: x, ... }`), parsed without positions.
    Flow(serde_json::Value),
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
}

impl PipelineConfig {
    /// Every component, sources first, then transforms, then sinks.
    pub fn components(&self) -> impl Iterator<Item = &ComponentDecl> {
        self.sources.values().chain(self.transforms.values()).chain(self.sinks.values())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    api: Option<ApiConfig>,
    #[serde(default)]
    data_dir: Option<String>,
    #[serde(default)]
    sources: Option<IndexMap<Spanned<String>, Spanned<RawComponent>>>,
    #[serde(default)]
    transforms: Option<IndexMap<Spanned<String>, Spanned<RawComponent>>>,
    #[serde(default)]
    sinks: Option<IndexMap<Spanned<String>, Spanned<RawComponent>>>,
    #[serde(default)]
    rules: Option<RulesConfig>,
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
            if let Some(first) = seen.get(&name.value) {
                errors.push(ConfigError::new(
                    position.clone(),
                    format!("component name `{}` is already used at {first}", name.value),
                ));
                continue;
            }
            seen.insert(name.value.clone(), position.clone());
            let body = component_body(&lines, &text, &comp, &name.value, kind);
            let position_of_comp = pos(&file, &comp);
            let inputs: Vec<InputRef> = comp
                .value
                .inputs
                .unwrap_or_default()
                .into_iter()
                .map(|i| InputRef { position: pos(&file, &i), name: i.value })
                .collect();
            if kind == ComponentKind::Source && !inputs.is_empty() {
                errors.push(ConfigError::new(inputs[0].position.clone(), "sources take no `inputs`"));
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
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).sorted());
    }
    Ok(PipelineConfig {
        file,
        api: raw.api.unwrap_or_default(),
        data_dir: raw.data_dir.unwrap_or_else(|| "./data".to_string()),
        sources,
        transforms,
        sinks,
        rules: raw.rules,
        alerting: raw.alerting,
        telemetry: raw.telemetry.unwrap_or_default(),
        storage: raw.storage.unwrap_or_default(),
        limits: raw.limits.unwrap_or_default(),
        scaling: raw.scaling,
        warnings,
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
}
