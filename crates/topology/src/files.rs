//! The files a pipeline names besides itself — rule files (`rules.files`), the routing
//! file (`alerting.config`, with the notifier cluster of `alerting.cluster`) and scaling policies (`scaling.files`) — loaded and checked
//! with the pipeline, so `lookout check` and `lookout run` refuse the same mistakes;
//! and its `probes:` (with the `ca_file`s they name).

use std::path::Path;

use lookout_config::{ConfigError, ConfigErrors, PipelineConfig, Position};
use lookout_notify::AlertmanagerConfig;
use lookout_rules::engine::{EngineSettings, load_groups};
use lookout_scaler::PolicyFile;

/// What the named files hold, once checked.
pub(crate) struct CheckedFiles {
    pub(crate) routing: AlertmanagerConfig,
    pub(crate) notifier_cluster: Option<lookout_notify::ClusterConfig>,
    pub(crate) policies: Option<PolicyFile>,
    pub(crate) probes: Vec<lookout_probes::Probe>,
}

/// Loads and checks every file `config` names; all problems at once.
pub(crate) fn check_files(config: &PipelineConfig) -> Result<CheckedFiles, ConfigErrors> {
    let mut errors = Vec::new();
    let routing_file = config.alerting.as_ref().and_then(|a| a.config.as_deref());
    let routing = match routing_file {
        Some(path) => lookout_notify::load_config(Path::new(path)),
        None => Ok(lookout_notify::default_config()),
    };
    let routing = match routing {
        Err(e) => {
            errors.extend(e.0);
            None
        }
        // Templates and integrations are built too (no network I/O).
        Ok(cfg) => {
            if let Err(e) = lookout_notify::check_config(&cfg) {
                let position = Position { file: routing_file.unwrap_or_default().into(), line: 1, column: 1 };
                errors.push(ConfigError::new(position, e.to_string()));
            }
            Some(cfg)
        }
    };
    let notifier_cluster = lookout_notify::cluster_config(config).unwrap_or_else(|e| {
        errors.extend(e.0);
        None
    });
    if let Some(Err(e)) = EngineSettings::from_pipeline(config).map(|s| load_groups(&s)) {
        errors.extend(e.0);
    }
    let policies = match &config.scaling {
        None => None,
        Some(scaling) => match lookout_scaler::load_policy_files(&scaling.files, &config.file) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.extend(e.0);
                None
            }
        },
    };
    // Relative `ca_file`s are read from the pipeline file's directory.
    let base_dir = Path::new(&*config.file).parent().unwrap_or(Path::new(""));
    let probes = lookout_probes::check_probes(&config.probes, base_dir).unwrap_or_else(|e| {
        errors.extend(e.0);
        Vec::new()
    });
    match routing {
        Some(routing) if errors.is_empty() => Ok(CheckedFiles { routing, notifier_cluster, policies, probes }),
        _ => Err(ConfigErrors(errors)),
    }
}
