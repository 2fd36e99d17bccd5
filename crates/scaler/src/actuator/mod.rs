//! Actuators: where decisions go.
//!
//! - `dry_run`: nothing leaves Lookout; decisions are recorded, logged (by the engine) and
//!   exposed.
//! - `webhook`: a JSON POST of the [`Decision`], retried with backoff.
//! - `keda`: nothing is pushed; KEDA pulls through the external-scaler gRPC server ([`keda`]).
//! - `kubernetes` (cargo feature): the workload's scale subresource is read and patched.

pub mod keda;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
pub mod webhook;

use crate::ActuatorConfig;
use crate::decide::Decision;

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
        })
    }

    /// `dry_run`, `keda`, `webhook` or `kubernetes`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actuator::DryRun => "dry_run",
            Actuator::Keda => "keda",
            Actuator::Webhook(_) => "webhook",
            #[cfg(feature = "kubernetes")]
            Actuator::Kubernetes(_) => "kubernetes",
        }
    }

    /// The current replica count, for actuators that can read it.
    pub async fn observe(&self) -> Result<Option<i32>, ActuatorError> {
        match self {
            #[cfg(feature = "kubernetes")]
            Actuator::Kubernetes(k) => Ok(Some(k.get_replicas().await?)),
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
        }
    }
}
