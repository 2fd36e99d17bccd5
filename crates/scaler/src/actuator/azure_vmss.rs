//! The `azure_vmss` actuator: an Azure virtual machine scale set, over Azure Resource
//! Manager (`Microsoft.Compute/virtualMachineScaleSets`, api-version 2024-07-01).
//!
//! - observe: `GET {endpoint}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}?api-version=…`,
//!   whose `sku.capacity` is the scaler's current count;
//! - apply: `PATCH` of the same URL with `{"sku": {"capacity": N}}` ("Virtual Machine Scale
//!   Sets - Update"), answered `200` with the scale set or `202 Accepted` with
//!   `Azure-AsyncOperation` / `Location` headers.
//!
//! The long-running operation is not polled: ARM records the new `sku.capacity` on the
//! resource as soon as it accepts the PATCH, so the next evaluation's `GET` reads it, and
//! creating VMs takes minutes, longer than an evaluation interval. Refusals ARM decides up
//! front (quota, `OperationNotAllowed`, a conflicting operation: 409) are reported as such.
//!
//! Auth: the OAuth 2.0 client-credentials grant against Microsoft Entra ID,
//! `POST {login}/{tenant}/oauth2/v2.0/token` with `client_id`,
//! `scope={endpoint}/.default`, `grant_type=client_credentials` and either `client_secret`
//! or (Workload Identity) `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//! with the federated token as `client_assertion`. Secret and token files are re-read at each
//! token request, as both rotate.

use std::path::Path;
use std::time::Duration;

use lookout_config::Secret;
use lookout_retry::RetryPolicy;
use serde::Deserialize;

use super::cloud_http::{CloudClient, Error, retry_policy};
use super::oauth::{AccessToken, Credential, exchange};
use crate::policy::{AzureCredential, AzureVmssConfig};

/// The Compute resource provider's API version used.
pub const API_VERSION: &str = "2024-07-01";

/// A scale set's client.
pub struct AzureVmss {
    client: CloudClient<EntraCredential>,
    url: String,
}

/// A service principal's or workload identity's way to a token.
pub(crate) struct EntraCredential {
    token_url: String,
    client_id: String,
    scope: String,
    credential: AzureCredential,
}

/// The parts of a `VirtualMachineScaleSet` the actuator reads.
#[derive(Deserialize)]
struct ScaleSet {
    sku: Sku,
}

#[derive(Deserialize)]
struct Sku {
    #[serde(default)]
    capacity: Option<i64>,
}

fn read_secret(path: &Path, what: &str) -> Result<Secret, Error> {
    // The file error names the path; the content never appears.
    let s = lookout_config::read_secret_file(path).map_err(|e| Error::Credentials(format!("{what}: {e}")))?;
    if s.is_empty() {
        return Err(Error::Credentials(format!("{what} {} is empty", path.display())));
    }
    Ok(s)
}

impl Credential for EntraCredential {
    async fn fetch(&self, http: &reqwest::Client, policy: &RetryPolicy) -> Result<AccessToken, Error> {
        let mut form = vec![
            ("client_id", self.client_id.as_str()),
            ("scope", self.scope.as_str()),
            ("grant_type", "client_credentials"),
        ];
        let secret = match &self.credential {
            AzureCredential::ClientSecret(s) => s.clone(),
            AzureCredential::ClientSecretFile(p) => read_secret(p, "client secret file")?,
            AzureCredential::FederatedTokenFile(p) => read_secret(p, "federated token file")?,
        };
        if let AzureCredential::FederatedTokenFile(_) = self.credential {
            form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
            form.push(("client_assertion", secret.expose()));
        } else {
            form.push(("client_secret", secret.expose()));
        }
        exchange(http, policy, &self.token_url, &form).await
    }
}

impl AzureVmss {
    /// Builds the client.
    pub fn new(cfg: &AzureVmssConfig) -> Result<AzureVmss, Error> {
        AzureVmss::with_base_backoff(cfg, Duration::from_millis(500))
    }

    /// Builds the client with a shorter backoff (tests).
    pub fn with_base_backoff(cfg: &AzureVmssConfig, base: Duration) -> Result<AzureVmss, Error> {
        let credential = EntraCredential {
            token_url: format!("{}/{}/oauth2/v2.0/token", cfg.login_endpoint, cfg.tenant_id),
            client_id: cfg.client_id.clone(),
            scope: format!("{}/.default", cfg.endpoint),
            credential: cfg.credential.clone(),
        };
        let policy = retry_policy(cfg.max_retries, base);
        let client = CloudClient::new(credential, Duration::from_secs(cfg.timeout_seconds), policy)?;
        let url = format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachineScaleSets/{}?api-version={API_VERSION}",
            cfg.endpoint, cfg.subscription_id, cfg.resource_group, cfg.group
        );
        Ok(AzureVmss { client, url })
    }

    /// The scale set's `sku.capacity`.
    pub async fn capacity(&self) -> Result<i32, Error> {
        let resp = self.client.send("virtualMachineScaleSets get", |c| c.get(&self.url)).await?;
        let s: ScaleSet = resp.json().await.map_err(|e| Error::Invalid(format!("scale set: {}", e.without_url())))?;
        let c = s.sku.capacity.ok_or_else(|| Error::Invalid("scale set without sku.capacity".to_string()))?;
        i32::try_from(c).map_err(|_| Error::Invalid(format!("sku.capacity {c} out of range")))
    }

    /// Sets `sku.capacity` to `capacity`.
    pub async fn set_capacity(&self, capacity: i32) -> Result<(), Error> {
        let body = serde_json::json!({"sku": {"capacity": capacity}});
        let resp = self.client.send("virtualMachineScaleSets update", |c| c.patch(&self.url).json(&body)).await?;
        let status = resp.status();
        let operation = resp.headers().get("azure-asyncoperation").and_then(|v| v.to_str().ok()).map(str::to_string);
        tracing::debug!(status = status.as_u16(), async_operation = operation.is_some(), "Scale set update accepted.");
        Ok(())
    }
}
