//! The policy file: `scalers:` in the shape of a Kubernetes HorizontalPodAutoscaler spec (so a
//! `behavior` block pastes unchanged), plus AWS-style `steps`, `schedules`, `alerts` and the
//! `actuator`. Parsed with positions; every problem is reported as `FILE:LINE:COL: message`.
//!
//! ```yaml
//! scalers:
//!   - name: api
//!     minReplicas: 2
//!     maxReplicas: 10
//!     replicas: { query: 'count(up{job="api"} == 1)' }
//!     metrics:
//!       - name: cpu
//!         query: 'avg(rate(process_cpu_seconds_total{job="api"}[1m])) * 100'
//!         target: { type: Utilization, averageUtilization: 70 }
//!     behavior:
//!       scaleDown: { stabilizationWindowSeconds: 600, policies: [{ type: Pods, value: 1, periodSeconds: 600 }] }
//!     steps:
//!       - { name: cpu-high, metric: cpu, comparison: GreaterThanThreshold, threshold: 70,
//!           adjustmentType: ChangeInCapacity, scalingAdjustment: 2, cooldown: 300 }
//!     schedules:
//!       - { name: office, start: '0 8 * * 1-5', end: '0 18 * * 1-5', timezone: Europe/Berlin, minReplicas: 4 }
//!     alerts:
//!       - { alert: HighCPU, add: 2 }
//!     actuator: { type: webhook, url: 'http://127.0.0.1:9000/scale' }
//! # several Lookout replicas: only the holder of this lease actuates
//! lease: { nats: { url: nats://127.0.0.1:4222, bucket: lookout-scaler }, ttl: 15s }
//! ```

//!
//! Layout: `raw` holds the YAML shapes as written, `validate` turns them into the public
//! types below, collecting every problem with its position.

mod aws;
mod cloud;
mod raw;
mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;

use lookout_config::{ConfigError, ConfigErrors, Secret};
use serde::Deserialize;

use crate::alerts::AlertStep;
use crate::hpa::{Behavior, Target, Tolerances};
use crate::schedule::Schedule;
use crate::step::StepPolicy;

pub use aws::{AwsApi, AwsAutoscalingConfig, TargetHealthConfig};
pub use cloud::{AzureCredential, AzureVmssConfig, GcpCredentials, GcpLocation, GcpMigConfig};
use raw::RawPolicyFile;
pub(crate) use raw::RawScaler;
pub(crate) use validate::{Checker, check_scalers};

/// A checked policy file.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    /// The scalers, in file order.
    pub scalers: Vec<ScalerPolicy>,
    /// `keda:` — where the KEDA external-scaler gRPC server listens, if any.
    pub keda: Option<KedaConfig>,
    /// `target_health:` — ALB target groups whose health is polled into series.
    pub target_health: Vec<TargetHealthConfig>,
    /// `lease:` — replicas of Lookout share the scaler: only the holder of this lease
    /// actuates (see [`crate::leader`]).
    pub lease: Option<lookout_cluster::LeaseConfig>,
}

/// `keda:` at the top of the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KedaConfig {
    /// Listen address of the gRPC server, e.g. `0.0.0.0:9095`.
    pub address: String,
    /// Serve TLS (mTLS with `client_ca_file`); relative paths start at the policy file's
    /// directory. Certificates reload on change and on SIGHUP.
    #[serde(default)]
    pub tls: Option<lookout_config::TlsConfig>,
}

/// One checked scaler.
#[derive(Debug, Clone)]
pub struct ScalerPolicy {
    /// Its name (the `target` label, the KEDA metric name).
    pub name: String,
    /// `minReplicas` (default 1, as in Kubernetes).
    pub min_replicas: i32,
    /// `maxReplicas`.
    pub max_replicas: i32,
    /// Seconds between evaluations (default 15, the HPA sync period).
    pub interval_seconds: i64,
    /// `replicas.query`: how many replicas there are now; without it the last decision is assumed.
    pub replicas_query: Option<String>,
    /// Target-tracking metrics.
    pub metrics: Vec<MetricPolicy>,
    /// `behavior` with defaults filled in; `None` selects the legacy path.
    pub behavior: Option<Behavior>,
    /// Tolerance band (from `behavior.*.tolerance`, default 0.1).
    pub tolerances: Tolerances,
    /// AWS step/simple scaling policies.
    pub steps: Vec<StepPolicy>,
    /// Min/max windows.
    pub schedules: Vec<Schedule>,
    /// Alert-driven floors.
    pub alerts: Vec<AlertStep>,
    /// Where decisions go.
    pub actuator: ActuatorConfig,
}

/// One target-tracking metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPolicy {
    /// Its name.
    pub name: String,
    /// PromQL returning one value.
    pub query: String,
    /// Its target.
    pub target: Target,
}

/// Where a scaler's decisions go.
#[derive(Debug, Clone, PartialEq)]
pub enum ActuatorConfig {
    /// Only record and expose decisions.
    DryRun,
    /// POST each changed decision as JSON.
    Webhook(WebhookConfig),
    /// Served to KEDA through the external-scaler gRPC server.
    Keda,
    /// PATCH the scale subresource of a workload (cargo feature `kubernetes`).
    Kubernetes(KubernetesConfig),
    /// `SetDesiredCapacity` on an EC2 Auto Scaling group (cargo feature `aws`).
    AwsAutoscaling(AwsAutoscalingConfig),
    /// Resize a Compute Engine managed instance group.
    GcpMig(GcpMigConfig),
    /// Set the capacity of an Azure virtual machine scale set.
    AzureVmss(AzureVmssConfig),
}

impl ActuatorConfig {
    /// The `type:` as written: `dry_run`, `webhook`, `keda`, `kubernetes`, `aws_autoscaling`,
    /// `gcp_mig`, `azure_vmss`.
    pub fn kind(&self) -> &'static str {
        match self {
            ActuatorConfig::DryRun => "dry_run",
            ActuatorConfig::Webhook(_) => "webhook",
            ActuatorConfig::Keda => "keda",
            ActuatorConfig::Kubernetes(_) => "kubernetes",
            ActuatorConfig::AwsAutoscaling(_) => "aws_autoscaling",
            ActuatorConfig::GcpMig(_) => "gcp_mig",
            ActuatorConfig::AzureVmss(_) => "azure_vmss",
        }
    }
}

/// `actuator: { type: webhook, ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// The URL (a secret, as Alertmanager's webhook `url`: it often embeds a token).
    pub url: Secret,
    /// Extra headers; every value is a secret (they carry `authorization` and API keys).
    pub headers: BTreeMap<String, Secret>,
    /// Per-attempt timeout.
    pub timeout_seconds: u64,
    /// Retries after the first attempt.
    pub max_retries: u32,
}

/// `actuator: { type: kubernetes, ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesConfig {
    /// API server URL.
    pub api_server: String,
    /// Namespace of the workload.
    pub namespace: String,
    /// `deployments`, `statefulsets` or `replicasets` (group `apps/v1`).
    pub resource: String,
    /// Workload name.
    pub name: String,
    /// Bearer token file.
    pub token_file: Option<String>,
    /// CA bundle for the API server.
    pub ca_file: Option<String>,
}

/// Parses and checks a policy file.
pub fn parse_policy_file(file: &str, text: &str) -> Result<PolicyFile, ConfigErrors> {
    let raw: RawPolicyFile = serde_saphyr::from_str(text)
        .map_err(|e| ConfigErrors::from(ConfigError::from_yaml(&Arc::from(file), &e, None)))?;
    let mut c = Checker::new(file);
    let scalers = check_scalers(&mut c, raw.scalers);
    let target_health = aws::check_target_health(&mut c, raw.target_health);
    if let Some(tls) = raw.keda.as_ref().and_then(|k| k.tls.as_ref()) {
        tls.set_config_file(std::path::Path::new(file));
    }
    if let Some(lease) = &raw.lease
        && let Err(e) = lease.value.check()
    {
        c.err(lease, format!("lease.{e}"));
    }
    c.finish(PolicyFile { scalers, keda: raw.keda, target_health, lease: raw.lease.map(|l| l.value) })
}

#[cfg(test)]
mod tests;
