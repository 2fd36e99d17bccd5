//! The `gcp_mig` actuator: a Compute Engine managed instance group, over the Compute Engine
//! API v1 (`instanceGroupManagers` for zonal groups, `regionInstanceGroupManagers` for
//! regional ones).
//!
//! - observe: `GET {endpoint}/compute/v1/projects/{project}/{zones/{zone}|regions/{region}}/instanceGroupManagers/{group}`,
//!   whose `targetSize` is the scaler's current count (`status.isStable` and
//!   `currentActions` are logged at debug level);
//! - apply: `POST .../instanceGroupManagers/{group}/resize?size=N&requestId=UUID`. The answer
//!   is an `Operation`; one that is already `DONE` with an `error` is a refusal.
//!
//! The Operation is not polled: Google marks a resize `DONE` as soon as the creations or
//! deletions are *scheduled*, so polling would add calls without telling more than the
//! next evaluation's `GET` (whose `targetSize` shows the accepted size). The `requestId`
//! makes a retried resize idempotent on Google's side. Auth: [`super::gcp_auth`].

use std::time::Duration;

use serde::Deserialize;

use super::cloud_http::{CloudClient, Error, retry_policy};
use super::gcp_auth::GcpCredential;
use crate::policy::{GcpLocation, GcpMigConfig};

/// A managed instance group's client.
pub struct GcpMig {
    client: CloudClient<GcpCredential>,
    url: String,
}

/// The parts of an `InstanceGroupManager` the actuator reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceGroupManager {
    target_size: i32,
    #[serde(default)]
    status: Option<serde_json::Value>,
    #[serde(default)]
    current_actions: Option<serde_json::Value>,
}

/// The parts of an `Operation` the actuator reads.
#[derive(Deserialize)]
struct Operation {
    #[serde(default)]
    status: String,
    #[serde(default)]
    error: Option<OperationError>,
}

#[derive(Deserialize)]
struct OperationError {
    #[serde(default)]
    errors: Vec<OperationErrorItem>,
}

#[derive(Deserialize)]
struct OperationErrorItem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl GcpMig {
    /// Builds the client (reads the service-account key now).
    pub fn new(cfg: &GcpMigConfig) -> Result<GcpMig, Error> {
        GcpMig::with_base_backoff(cfg, Duration::from_millis(500))
    }

    /// Builds the client with a shorter backoff (tests).
    pub fn with_base_backoff(cfg: &GcpMigConfig, base: Duration) -> Result<GcpMig, Error> {
        let credential = GcpCredential::from_config(&cfg.credentials)?;
        let policy = retry_policy(cfg.max_retries, base);
        let client = CloudClient::new(credential, Duration::from_secs(cfg.timeout_seconds), policy)?;
        let scope = match &cfg.location {
            GcpLocation::Zone(z) => format!("zones/{z}"),
            GcpLocation::Region(r) => format!("regions/{r}"),
        };
        let url =
            format!("{}/compute/v1/projects/{}/{scope}/instanceGroupManagers/{}", cfg.endpoint, cfg.project, cfg.group);
        Ok(GcpMig { client, url })
    }

    /// The group's `targetSize`.
    pub async fn target_size(&self) -> Result<i32, Error> {
        let resp = self.client.send("instanceGroupManagers.get", |c| c.get(&self.url)).await?;
        let m: InstanceGroupManager =
            resp.json().await.map_err(|e| Error::Invalid(format!("instance group manager: {}", e.without_url())))?;
        tracing::debug!(
            target_size = m.target_size,
            status = %m.status.unwrap_or_default(),
            current_actions = %m.current_actions.unwrap_or_default(),
            "Read managed instance group."
        );
        Ok(m.target_size)
    }

    /// Resizes the group to `size`.
    pub async fn resize(&self, size: i32) -> Result<(), Error> {
        // Both values are URL-safe as they are. One requestId for every retry of this resize.
        let url = format!("{}/resize?size={size}&requestId={}", self.url, request_id());
        let resp = self.client.send("instanceGroupManagers.resize", |c| c.post(&url)).await?;
        let op: Operation = resp.json().await.map_err(|e| Error::Invalid(format!("operation: {}", e.without_url())))?;
        match op.error {
            Some(e) if op.status == "DONE" || !e.errors.is_empty() => {
                let first = e.errors.into_iter().next();
                Err(Error::Refused {
                    what: "instanceGroupManagers.resize operation",
                    status: reqwest::StatusCode::OK,
                    code: first.as_ref().map(|f| f.code.clone()).unwrap_or_default(),
                    message: first.map(|f| f.message).unwrap_or_default(),
                    attempts: 1,
                })
            }
            _ => Ok(()),
        }
    }
}

/// A random (version 4) UUID, the form Google expects for `requestId`.
fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_version_4_uuids() {
        let id = super::request_id();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, super::request_id());
    }
}
