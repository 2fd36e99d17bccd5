//! The policy file as written: serde shapes with positions ([`Spanned`]), before any check.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::KedaConfig;
use super::aws::RawTargetHealth;
use crate::quantity::Quantity;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicyFile {
    pub(crate) scalers: Vec<Spanned<RawScaler>>,
    #[serde(default)]
    pub(crate) keda: Option<KedaConfig>,
    #[serde(default)]
    pub(crate) target_health: Vec<Spanned<RawTargetHealth>>,
    pub(crate) lease: Option<Spanned<lookout_cluster::LeaseConfig>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawScaler {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) min_replicas: Option<Spanned<i64>>,
    pub(crate) max_replicas: Spanned<i64>,
    #[serde(default)]
    pub(crate) interval_seconds: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) replicas: Option<RawReplicas>,
    #[serde(default)]
    pub(crate) metrics: Vec<Spanned<RawMetric>>,
    #[serde(default)]
    pub(crate) behavior: Option<RawBehavior>,
    #[serde(default)]
    pub(crate) steps: Vec<Spanned<RawStep>>,
    #[serde(default)]
    pub(crate) schedules: Vec<Spanned<RawSchedule>>,
    #[serde(default)]
    pub(crate) alerts: Vec<Spanned<RawAlert>>,
    #[serde(default)]
    pub(crate) actuator: Option<Spanned<RawActuator>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReplicas {
    pub(crate) query: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetric {
    pub(crate) name: Spanned<String>,
    pub(crate) query: Spanned<String>,
    pub(crate) target: Spanned<RawTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawTarget {
    #[serde(rename = "type")]
    pub(crate) kind: Spanned<String>,
    #[serde(default)]
    pub(crate) average_utilization: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) average_value: Option<Spanned<Quantity>>,
    #[serde(default)]
    pub(crate) value: Option<Spanned<Quantity>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawBehavior {
    #[serde(default)]
    pub(crate) scale_up: Option<RawRules>,
    #[serde(default)]
    pub(crate) scale_down: Option<RawRules>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawRules {
    #[serde(default)]
    pub(crate) stabilization_window_seconds: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) select_policy: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) policies: Option<Spanned<Vec<Spanned<RawScalingPolicy>>>>,
    #[serde(default)]
    pub(crate) tolerance: Option<Spanned<Quantity>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawScalingPolicy {
    #[serde(rename = "type")]
    pub(crate) kind: Spanned<String>,
    pub(crate) value: Spanned<i64>,
    pub(crate) period_seconds: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawStep {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) metric: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) query: Option<Spanned<String>>,
    pub(crate) comparison: Spanned<String>,
    pub(crate) threshold: Spanned<f64>,
    pub(crate) adjustment_type: Spanned<String>,
    #[serde(default)]
    pub(crate) scaling_adjustment: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) cooldown: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) step_adjustments: Option<Spanned<Vec<Spanned<RawStepAdjustment>>>>,
    #[serde(default)]
    pub(crate) estimated_instance_warmup: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) min_adjustment_magnitude: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawStepAdjustment {
    #[serde(default)]
    pub(crate) metric_interval_lower_bound: Option<f64>,
    #[serde(default)]
    pub(crate) metric_interval_upper_bound: Option<f64>,
    pub(crate) scaling_adjustment: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawSchedule {
    pub(crate) name: Spanned<String>,
    pub(crate) start: Spanned<String>,
    pub(crate) end: Spanned<String>,
    #[serde(default)]
    pub(crate) timezone: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) min_replicas: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) max_replicas: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawAlert {
    pub(crate) alert: Spanned<String>,
    #[serde(default)]
    pub(crate) add: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) at_least: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawActuator {
    #[serde(rename = "type")]
    pub(crate) kind: Spanned<String>,
    #[serde(default)]
    pub(crate) url: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) headers: Option<BTreeMap<String, lookout_config::Secret>>,
    #[serde(default)]
    pub(crate) timeout_seconds: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) max_retries: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) api_server: Option<String>,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) resource: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default, alias = "token_file")]
    pub(crate) token_file: Option<String>,
    #[serde(default)]
    pub(crate) ca_file: Option<String>,
    #[serde(default)]
    pub(crate) group: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) region: Option<String>,
    #[serde(default)]
    pub(crate) endpoint: Option<Spanned<String>>,
    // As the issue writes it; the camelCase spelling of the other keys is accepted too.
    #[serde(default, rename = "honor_cooldown", alias = "honorCooldown")]
    pub(crate) honor_cooldown: Option<bool>,
    // GCP and Azure instance groups (`gcp_mig`, `azure_vmss`, checked in `cloud.rs`; they
    // share `group`, `endpoint` and GCP `region` above). Multi-word keys are also accepted
    // in snake_case, the spelling the clouds' own tools use.
    #[serde(default)]
    pub(crate) project: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) zone: Option<Spanned<String>>,
    #[serde(default, alias = "credentials_file")]
    pub(crate) credentials_file: Option<Spanned<String>>,
    #[serde(default, alias = "subscription_id")]
    pub(crate) subscription_id: Option<Spanned<String>>,
    #[serde(default, alias = "resource_group")]
    pub(crate) resource_group: Option<Spanned<String>>,
    #[serde(default, alias = "tenant_id")]
    pub(crate) tenant_id: Option<Spanned<String>>,
    #[serde(default, alias = "client_id")]
    pub(crate) client_id: Option<Spanned<String>>,
    #[serde(default, alias = "client_secret")]
    pub(crate) client_secret: Option<lookout_config::Secret>,
    #[serde(default, alias = "client_secret_file")]
    pub(crate) client_secret_file: Option<Spanned<String>>,
    #[serde(default, alias = "federated_token_file")]
    pub(crate) federated_token_file: Option<Spanned<String>>,
    #[serde(default, alias = "login_endpoint")]
    pub(crate) login_endpoint: Option<Spanned<String>>,
}
