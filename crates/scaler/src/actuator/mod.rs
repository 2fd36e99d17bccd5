//! Actuators: where decisions go.
//!
//! - `dry_run`: nothing leaves Lookout; decisions are recorded, logged and exposed.
//! - `webhook`: a JSON POST of the [`Decision`], retried with backoff.
//! - `keda`: nothing is pushed; KEDA pulls through the external-scaler gRPC server ([`keda`]).
//! - `kubernetes` (cargo feature): the workload's scale subresource is read and patched.

pub mod keda;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
pub mod webhook;

use crate::decide::Decision;
use crate::policy::ActuatorConfig;

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
    /// Builds the actuator of scaler `name`.
    pub fn from_config(name: &str, cfg: &ActuatorConfig) -> Result<Actuator, String> {
        let _ = name;
        Ok(match cfg {
            ActuatorConfig::DryRun => Actuator::DryRun,
            ActuatorConfig::Keda => Actuator::Keda,
            ActuatorConfig::Webhook(w) => Actuator::Webhook(webhook::Webhook::new(w)?),
            #[cfg(feature = "kubernetes")]
            ActuatorConfig::Kubernetes(k) => Actuator::Kubernetes(kubernetes::ScaleClient::new(k)?),
            #[cfg(not(feature = "kubernetes"))]
            ActuatorConfig::Kubernetes(_) => {
                return Err("the kubernetes actuator is not compiled in (cargo feature `kubernetes`)".to_string());
            }
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
    pub async fn observe(&self) -> Result<Option<i32>, String> {
        match self {
            #[cfg(feature = "kubernetes")]
            Actuator::Kubernetes(k) => k.get_replicas().await.map(Some),
            _ => Ok(None),
        }
    }

    /// Hands a decision over.
    pub async fn apply(&self, d: &Decision) -> Result<(), String> {
        match self {
            Actuator::DryRun => {
                if d.desired != d.current {
                    tracing::info!(scaler = %d.scaler, from = d.current, to = d.desired, "Dry run: would scale.");
                }
                Ok(())
            }
            Actuator::Keda => Ok(()),
            Actuator::Webhook(w) => w.send(d).await,
            #[cfg(feature = "kubernetes")]
            Actuator::Kubernetes(k) => {
                if d.desired == d.current {
                    return Ok(());
                }
                k.set_replicas(d.desired).await
            }
        }
    }
}
