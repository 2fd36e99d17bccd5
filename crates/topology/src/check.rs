//! Loading and checking a pipeline file completely, before anything starts: its
//! components and graph, then the files it names ([`crate::files`]).

use std::path::Path;

use indexmap::IndexMap;
use lookout_component::{Registry, SinkConfig, SourceConfig, TransformConfig};
use lookout_config::{ComponentKind, ConfigError, ConfigErrors, GraphNode, PipelineConfig, check_graph};
use lookout_notify::AlertmanagerConfig;
use lookout_scaler::PolicyFile;

use crate::files::{CheckedFiles, check_files};

/// A pipeline file whose every component parsed and whose graph is sound.
pub struct CheckedPipeline {
    /// The file's top level.
    pub config: PipelineConfig,
    /// Sources by name, in file order.
    pub sources: IndexMap<String, Box<dyn SourceConfig>>,
    /// Transforms by name, in file order.
    pub transforms: IndexMap<String, Box<dyn TransformConfig>>,
    /// Sinks by name, in file order.
    pub sinks: IndexMap<String, Box<dyn SinkConfig>>,
    /// The graph, one node per component (sources, transforms, sinks).
    pub nodes: Vec<GraphNode>,
    /// Non-fatal findings (unset variables, unused sources), for the log.
    pub warnings: Vec<ConfigError>,
    /// The routing file `alerting.config` names, or the built-in default (everything to
    /// the console).
    pub routing: AlertmanagerConfig,
    /// `alerting.cluster`, checked: the notifier replicas this one shares its
    /// notification log and silences with.
    pub notifier_cluster: Option<lookout_notify::ClusterConfig>,
    /// The scaling policies `scaling.files` names, merged; `None` without `scaling:`.
    pub policies: Option<PolicyFile>,
    /// The uptime probes under `probes:`, checked.
    pub probes: Vec<lookout_probes::Probe>,
}

/// Loads `path` and checks it with `registry`, then the rule, routing and policy files
/// it names (those only once the pipeline itself is sound).
pub fn check(path: &Path, registry: &Registry) -> Result<CheckedPipeline, ConfigErrors> {
    finish(lookout_config::load(path)?, registry)
}

/// [`check`] on text, with a custom environment (for tests).
pub fn check_str(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    registry: &Registry,
) -> Result<CheckedPipeline, ConfigErrors> {
    finish(lookout_config::load_str(file, text, env)?, registry)
}

fn finish(config: PipelineConfig, registry: &Registry) -> Result<CheckedPipeline, ConfigErrors> {
    let mut errors = Vec::new();
    let mut nodes = Vec::new();
    let mut sources = IndexMap::new();
    let mut transforms = IndexMap::new();
    let mut sinks = IndexMap::new();
    let node = |decl: &lookout_config::ComponentDecl, named_outputs: Vec<String>, has_default_output: bool| GraphNode {
        name: decl.name.clone(),
        kind: decl.kind,
        position: decl.position.clone(),
        inputs: decl.inputs.clone(),
        named_outputs,
        has_default_output,
    };
    for decl in config.sources.values() {
        match registry.parse_source(decl) {
            Ok(c) => {
                sources.insert(decl.name.clone(), c);
            }
            Err(e) => errors.extend(e.0),
        }
        nodes.push(node(decl, Vec::new(), true));
    }
    for decl in config.transforms.values() {
        match registry.parse_transform(decl) {
            Ok(c) => {
                nodes.push(node(decl, c.named_outputs(), c.has_default_output()));
                transforms.insert(decl.name.clone(), c);
            }
            Err(e) => {
                errors.extend(e.0);
                // Keep the node so its consumers are still checked; accept any output.
                nodes.push(node(decl, Vec::new(), true));
            }
        }
    }
    for decl in config.sinks.values() {
        match registry.parse_sink(decl) {
            Ok(c) => {
                sinks.insert(decl.name.clone(), c);
            }
            Err(e) => errors.extend(e.0),
        }
        nodes.push(node(decl, Vec::new(), true));
    }
    if sources.is_empty() && config.sources.is_empty() {
        errors.push(ConfigError::new(
            lookout_config::Position { file: config.file.clone(), line: 1, column: 1 },
            "the pipeline has no sources",
        ));
    }
    if let Err(e) = check_graph(&nodes) {
        errors.extend(e.0);
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).sorted());
    }
    let mut warnings = config.warnings.clone();
    for n in nodes.iter().filter(|n| n.kind != ComponentKind::Sink) {
        let consumed = nodes.iter().any(|c| {
            c.inputs.iter().any(|i| i.name == n.name || i.name.rsplit_once('.').is_some_and(|(b, _)| b == n.name))
        });
        if !consumed {
            warnings.push(ConfigError::new(
                n.position.clone(),
                format!("{} `{}` feeds nothing; its events are dropped", n.kind.as_str(), n.name),
            ));
        }
    }
    let CheckedFiles { routing, notifier_cluster, policies, probes } = check_files(&config)?;
    Ok(CheckedPipeline {
        config,
        sources,
        transforms,
        sinks,
        nodes,
        warnings,
        routing,
        notifier_cluster,
        policies,
        probes,
    })
}
