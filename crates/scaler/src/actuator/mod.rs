//! Actuators: where decisions go.
//!
//! - `dry_run`: nothing leaves Lookout; decisions are recorded, logged (by the engine) and
//!   exposed.
//! - `webhook`: a JSON POST of the [`Decision`], retried with backoff.
//! - `keda`: nothing is pushed; KEDA pulls through the external-scaler gRPC server ([`keda`]).
//! - `kubernetes` (cargo feature): the workload's scale subresource is read and patched.
//! - `aws_autoscaling` (cargo feature `aws`): an EC2 Auto Scaling group is read and resized.
//! - `gcp_mig`, `azure_vmss`: a Compute Engine managed instance group's size or an Azure
//!   scale set's capacity is read and set over the cloud's REST API ([`gcp_mig`],
//!   [`azure_vmss`]; shared HTTP, retry and token code in `cloud_http` and `oauth`).

#[cfg(feature = "aws")]
pub mod aws_autoscaling;
pub mod azure_vmss;
mod cloud_http;
mod gcp_auth;
pub mod gcp_mig;
pub mod keda;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
mod oauth;
pub mod webhook;

pub use cloud_http::Error as CloudError;

use crate::ActuatorConfig;
use crate::Sample;
use crate::decide::{Decision, GroupLimits};

/// What an actuator read about what it scales.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Replicas now (the scaler's `current` when the policy has no `replicas` query).
    pub replicas: i32,
    /// The group's own size limits, if it has any: the decision stays within them.
    pub limits: Option<GroupLimits>,
    /// What was read, for the decision's reasons (`Observed`).
    pub note: Option<String>,
    /// Series to write into the store (instance counts and the like); the engine adds the
    /// `scaler` label.
    pub series: Vec<Sample>,
}

impl Observation {
    /// Only a replica count.
    pub fn replicas(replicas: i32) -> Observation {
        Observation { replicas, limits: None, note: None, series: Vec::new() }
    }
}

/// Why an actuator cannot be built or could not deliver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActuatorError {
    /// The webhook client cannot be built or the POST failed (after its retries).
    #[error("{0}")]
    Webhook(String),
    /// The scale subresource cannot be read or patched.
    #[cfg(feature = "kubernetes")]
    #[error(transparent)]
    Kubernetes(#[from] kubernetes::Error),
    /// The policy asks for the `kubernetes` actuator, built without it.
    #[cfg(not(feature = "kubernetes"))]
    #[error("the kubernetes actuator is not compiled in (cargo feature `kubernetes`)")]
    KubernetesNotCompiled,
    /// The Auto Scaling group cannot be read or resized.
    #[cfg(feature = "aws")]
    #[error(transparent)]
    AwsAutoscaling(Box<aws_autoscaling::Error>),
    /// The policy asks for the `aws_autoscaling` actuator, built without it.
    #[cfg(not(feature = "aws"))]
    #[error("the aws_autoscaling actuator is not compiled in (cargo feature `aws`)")]
    AwsNotCompiled,
    /// A GCP or Azure instance group cannot be read or resized.
    #[error(transparent)]
    Cloud(#[from] cloud_http::Error),
}

#[cfg(feature = "aws")]
impl From<Box<aws_autoscaling::Error>> for ActuatorError {
    fn from(e: Box<aws_autoscaling::Error>) -> Self {
        ActuatorError::AwsAutoscaling(e)
    }
}

impl ActuatorError {
    /// A short code for why (the `reason` label of `lookout_scaler_actuation_failures_total`):
    /// AWS's error code for `aws_autoscaling` (`ScalingActivityInProgress`, `Throttling`, …),
    /// Google's or Azure's for `gcp_mig` and `azure_vmss` (`resourceNotReady`,
    /// `OperationNotAllowed`, …).
    pub fn reason(&self) -> String {
        match self {
            ActuatorError::Webhook(_) => "WebhookFailed".to_string(),
            #[cfg(feature = "aws")]
            ActuatorError::AwsAutoscaling(e) => e.failure.code.clone(),
            ActuatorError::Cloud(e) => e.reason(),
            _ => "Failed".to_string(),
        }
    }
}

/// A built actuator.
pub enum Actuator {
    /// Record only.
    DryRun,
    /// Served to KEDA.
    Keda,
    /// JSON POST.
    Webhook(webhook::Webhook),
    /// Scale subresource.
    #[cfg(feature = "kubernetes")]
    Kubernetes(kubernetes::ScaleClient),
    /// EC2 Auto Scaling group.
    #[cfg(feature = "aws")]
    AwsAutoscaling(aws_autoscaling::AutoScalingGroupClient),
    /// Compute Engine managed instance group.
    GcpMig(gcp_mig::GcpMig),
    /// Azure virtual machine scale set.
    AzureVmss(azure_vmss::AzureVmss),
}

impl Actuator {
    /// Builds an actuator.
    pub fn from_config(cfg: &ActuatorConfig) -> Result<Actuator, ActuatorError> {
        Ok(match cfg {
            ActuatorConfig::DryRun => Actuator::DryRun,
            ActuatorConfig::Keda => Actuator::Keda,
            ActuatorConfig::Webhook(w) => {
                Actuator::Webhook(webhook::Webhook::new(w).map_err(|e| ActuatorError::Webhook(e.to_string()))?)
            }
            #[cfg(feature = "kubernetes")]
            ActuatorConfig::Kubernetes(k) => Actuator::Kubernetes(kubernetes::ScaleClient::new(k)?),
            #[cfg(not(feature = "kubernetes"))]
            ActuatorConfig::Kubernetes(_) => return Err(ActuatorError::KubernetesNotCompiled),
            #[cfg(feature = "aws")]
            ActuatorConfig::AwsAutoscaling(a) => {
                Actuator::AwsAutoscaling(aws_autoscaling::AutoScalingGroupClient::new(a))
            }
            #[cfg(not(feature = "aws"))]
            ActuatorConfig::AwsAutoscaling(_) => return Err(ActuatorError::AwsNotCompiled),
            ActuatorConfig::GcpMig(g) => Actuator::GcpMig(gcp_mig::GcpMig::new(g)?),
            ActuatorConfig::AzureVmss(a) => Actuator::AzureVmss(azure_vmss::AzureVmss::new(a)?),
        })
    }

    /// `dry_run`, `keda`, `webhook`, `kubernetes`, `aws_autoscaling`, `gcp_mig` or `azure_vmss`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actuator::DryRun => "dry_run",
            Actuator::Keda => "keda",
            Actuator::Webhook(_) => "webhook",
            #[cfg(feature = "kubernetes")]
            Actuator::Kubernetes(_) => "kubernetes",
            #[cfg(feature = "aws")]
            Actuator::AwsAutoscaling(_) => "aws_autoscaling",
            Actuator::GcpMig(_) => "gcp_mig",
            Actuator::AzureVmss(_) => "azure_vmss",
        }
    }

    /// The current replica count and what else the actuator reads, for actuators that can.
    pub async fn observe(&self) -> Result<Option<Observation>, ActuatorError> {
        match self {
            #[cfg(feature = "kubernetes")]
            Actuator::Kubernetes(k) => Ok(Some(Observation::replicas(k.get_replicas().await?))),
            #[cfg(feature = "aws")]
            Actuator::AwsAutoscaling(a) => Ok(Some(a.observe().await.map_err(Box::new)?)),
            Actuator::GcpMig(g) => Ok(Some(Observation::replicas(g.target_size().await?))),
            Actuator::AzureVmss(a) => Ok(Some(Observation::replicas(a.capacity().await?))),
            _ => Ok(None),
        }
    }

    /// Hands a decision over (the engine has already logged it).
    pub async fn apply(&self, d: &Decision) -> Result<(), ActuatorError> {
        match self {
            Actuator::DryRun | Actuator::Keda => Ok(()),
            Actuator::Webhook(w) => w.send(d).await.map_err(|e| ActuatorError::Webhook(e.to_string())),
            #[cfg(feature = "kubernetes")]
            Actuator::Kubernetes(k) => {
                if d.desired == d.current {
                    return Ok(());
                }
                Ok(k.set_replicas(d.desired).await?)
            }
            #[cfg(feature = "aws")]
            Actuator::AwsAutoscaling(a) => {
                if d.desired == d.current {
                    return Ok(());
                }
                Ok(a.set_desired_capacity(d.desired).await.map_err(Box::new)?)
            }
            Actuator::GcpMig(_) | Actuator::AzureVmss(_) if d.desired == d.current => Ok(()),
            Actuator::GcpMig(g) => Ok(g.resize(d.desired).await?),
            Actuator::AzureVmss(a) => Ok(a.set_capacity(d.desired).await?),
        }
    }
}
