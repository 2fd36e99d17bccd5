//! The cloud instance-group actuators' settings, `gcp_mig` and `azure_vmss`: their public
//! types and the checks that build them from the raw `actuator:` block.
//!
//! Credentials follow each cloud's own conventions so that a pod or VM already set up for
//! the cloud's SDKs needs no extra settings: `GOOGLE_APPLICATION_CREDENTIALS` and the GCE
//! metadata server for Google; `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//! `AZURE_FEDERATED_TOKEN_FILE` and `AZURE_AUTHORITY_HOST` (what Azure Workload Identity
//! injects) for Azure. Relative file paths start at the policy file's directory.

use std::path::{Path, PathBuf};

use lookout_config::Secret;
use serde_saphyr::Spanned;

use super::raw::RawActuator;
use super::validate::Checker;

/// `actuator: { type: gcp_mig, ... }`: a Compute Engine managed instance group.
#[derive(Debug, Clone, PartialEq)]
pub struct GcpMigConfig {
    /// Project ID.
    pub project: String,
    /// Where the group lives: a zone (zonal group) or a region (regional group).
    pub location: GcpLocation,
    /// The managed instance group's name.
    pub group: String,
    /// Compute Engine API base URL (default `https://compute.googleapis.com`).
    pub endpoint: String,
    /// How to get an access token.
    pub credentials: GcpCredentials,
    /// Per-request timeout.
    pub timeout_seconds: u64,
    /// Retries of a throttled (429) or failed (5xx, no answer) request.
    pub max_retries: u32,
}

/// A zonal or a regional managed instance group.
#[derive(Debug, Clone, PartialEq)]
pub enum GcpLocation {
    /// `zones/{zone}`.
    Zone(String),
    /// `regions/{region}`.
    Region(String),
}

/// Where a `gcp_mig` actuator's access token comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum GcpCredentials {
    /// A service-account JSON key (`credentialsFile`, or `GOOGLE_APPLICATION_CREDENTIALS`):
    /// a signed JWT is exchanged for a token at the key's `token_uri`.
    ServiceAccountKey(PathBuf),
    /// A file holding an access token, re-read when the token is refreshed (`tokenFile`; e.g.
    /// written by a sidecar).
    TokenFile(PathBuf),
    /// The GCE / GKE metadata server (GKE Workload Identity); `GCE_METADATA_HOST` overrides
    /// `metadata.google.internal`.
    MetadataServer,
}

/// `actuator: { type: azure_vmss, ... }`: an Azure virtual machine scale set.
#[derive(Debug, Clone, PartialEq)]
pub struct AzureVmssConfig {
    /// Subscription ID.
    pub subscription_id: String,
    /// Resource group of the scale set.
    pub resource_group: String,
    /// The scale set's name.
    pub group: String,
    /// Azure Resource Manager base URL (default `https://management.azure.com`); the token's
    /// scope is `{endpoint}/.default`.
    pub endpoint: String,
    /// Microsoft Entra ID authority (default `AZURE_AUTHORITY_HOST` or
    /// `https://login.microsoftonline.com`).
    pub login_endpoint: String,
    /// Directory (tenant) ID.
    pub tenant_id: String,
    /// Application (client) ID of the service principal or managed identity.
    pub client_id: String,
    /// How the client proves who it is.
    pub credential: AzureCredential,
    /// Per-request timeout.
    pub timeout_seconds: u64,
    /// Retries of a throttled (429) or failed (5xx, no answer) request.
    pub max_retries: u32,
}

/// How an `azure_vmss` actuator authenticates to Microsoft Entra ID.
#[derive(Debug, Clone, PartialEq)]
pub enum AzureCredential {
    /// A client secret (`clientSecret`).
    ClientSecret(Secret),
    /// A file holding the client secret, re-read at each token request (`clientSecretFile`).
    ClientSecretFile(PathBuf),
    /// A federated token (Workload Identity) sent as `client_assertion`, re-read at each token
    /// request as it rotates (`federatedTokenFile` or `AZURE_FEDERATED_TOKEN_FILE`).
    FederatedTokenFile(PathBuf),
}

/// The raw keys only `gcp_mig` and `azure_vmss` take, `(name, present)` (`group`,
/// `endpoint` and `region`, shared with `aws_autoscaling`, are listed by `aws.rs`).
pub(crate) fn cloud_fields(r: &RawActuator) -> Vec<(&'static str, bool)> {
    vec![
        ("project", r.project.is_some()),
        ("zone", r.zone.is_some()),
        ("credentialsFile", r.credentials_file.is_some()),
        ("subscriptionId", r.subscription_id.is_some()),
        ("resourceGroup", r.resource_group.is_some()),
        ("tenantId", r.tenant_id.is_some()),
        ("clientId", r.client_id.is_some()),
        ("clientSecret", r.client_secret.is_some()),
        ("clientSecretFile", r.client_secret_file.is_some()),
        ("federatedTokenFile", r.federated_token_file.is_some()),
        ("loginEndpoint", r.login_endpoint.is_some()),
    ]
}

/// Whether an actuator of type `kind` takes the cloud-group key `key`.
pub(crate) fn accepts(kind: &str, key: &str) -> bool {
    let keys: &[&str] = match kind {
        "aws_autoscaling" => &["group", "region", "endpoint", "honor_cooldown"],
        "gcp_mig" => &["group", "endpoint", "project", "zone", "region", "credentialsFile"],
        "azure_vmss" => &[
            "group",
            "endpoint",
            "subscriptionId",
            "resourceGroup",
            "tenantId",
            "clientId",
            "clientSecret",
            "clientSecretFile",
            "federatedTokenFile",
            "loginEndpoint",
        ],
        _ => &[],
    };
    keys.contains(&key)
}

/// A required non-empty string, or an error at the block naming the key.
fn required(c: &mut Checker, a: &Spanned<RawActuator>, kind: &str, key: &str, v: &Option<Spanned<String>>) -> String {
    match v {
        Some(s) if !s.value.trim().is_empty() => s.value.trim().to_string(),
        Some(s) => {
            c.err(s, format!("`{key}` must not be empty"));
            String::new()
        }
        None => {
            c.err(a, format!("a {kind} actuator needs `{key}`"));
            String::new()
        }
    }
}

/// An http(s) base URL without its trailing slash.
fn base_url(c: &mut Checker, v: &Option<Spanned<String>>, key: &str, default: String) -> String {
    let Some(s) = v else { return default };
    match reqwest::Url::parse(&s.value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => s.value.trim_end_matches('/').to_string(),
        _ => {
            c.err(s, format!("invalid `{key}` (an http:// or https:// URL is expected)"));
            default
        }
    }
}

/// `path` as written, or relative to the policy file's directory.
fn resolve(c: &Checker, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    Path::new(&*c.file).parent().map(|d| d.join(p)).unwrap_or_else(|| p.to_path_buf())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Checks `type: gcp_mig`.
pub(crate) fn check_gcp_mig(
    c: &mut Checker,
    a: &Spanned<RawActuator>,
    timeout_seconds: u64,
    max_retries: u32,
) -> Option<GcpMigConfig> {
    let r = &a.value;
    let before = c.errors.len();
    let project = required(c, a, "gcp_mig", "project", &r.project);
    let group = required(c, a, "gcp_mig", "group", &r.group);
    let location = match (&r.zone, &r.region) {
        (Some(z), None) => GcpLocation::Zone(z.value.trim().to_string()),
        (None, Some(rg)) => GcpLocation::Region(rg.trim().to_string()),
        (Some(_), Some(_)) => {
            c.err(a, "a gcp_mig actuator takes `zone` (zonal group) or `region` (regional group), not both");
            return None;
        }
        (None, None) => {
            c.err(a, "a gcp_mig actuator needs `zone` (zonal group) or `region` (regional group)");
            return None;
        }
    };
    let endpoint = base_url(c, &r.endpoint, "endpoint", "https://compute.googleapis.com".to_string());
    let credentials = match (&r.credentials_file, &r.token_file) {
        (Some(_), Some(_)) => {
            c.err(a, "a gcp_mig actuator takes `credentialsFile` or `tokenFile`, not both");
            return None;
        }
        (Some(f), None) => GcpCredentials::ServiceAccountKey(resolve(c, &f.value)),
        (None, Some(f)) => GcpCredentials::TokenFile(resolve(c, f)),
        (None, None) => match env("GOOGLE_APPLICATION_CREDENTIALS") {
            Some(f) => GcpCredentials::ServiceAccountKey(PathBuf::from(f)),
            None => GcpCredentials::MetadataServer,
        },
    };
    (c.errors.len() == before).then_some(GcpMigConfig {
        project,
        location,
        group,
        endpoint,
        credentials,
        timeout_seconds,
        max_retries,
    })
}

/// Checks `type: azure_vmss`.
pub(crate) fn check_azure_vmss(
    c: &mut Checker,
    a: &Spanned<RawActuator>,
    timeout_seconds: u64,
    max_retries: u32,
) -> Option<AzureVmssConfig> {
    let r = &a.value;
    let before = c.errors.len();
    let subscription_id = required(c, a, "azure_vmss", "subscriptionId", &r.subscription_id);
    let resource_group = required(c, a, "azure_vmss", "resourceGroup", &r.resource_group);
    let group = required(c, a, "azure_vmss", "group", &r.group);
    let from_env = |v: &Option<Spanned<String>>, var: &str| {
        v.as_ref().map(|s| s.value.trim().to_string()).filter(|s| !s.is_empty()).or_else(|| env(var))
    };
    let Some(tenant_id) = from_env(&r.tenant_id, "AZURE_TENANT_ID") else {
        c.err(a, "an azure_vmss actuator needs `tenantId` (or AZURE_TENANT_ID in the environment)");
        return None;
    };
    let Some(client_id) = from_env(&r.client_id, "AZURE_CLIENT_ID") else {
        c.err(a, "an azure_vmss actuator needs `clientId` (or AZURE_CLIENT_ID in the environment)");
        return None;
    };
    let given = [r.client_secret.is_some(), r.client_secret_file.is_some(), r.federated_token_file.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        c.err(a, "an azure_vmss actuator takes one of `clientSecret`, `clientSecretFile`, `federatedTokenFile`");
        return None;
    }
    let credential = if let Some(s) = &r.client_secret {
        AzureCredential::ClientSecret(s.clone())
    } else if let Some(f) = &r.client_secret_file {
        AzureCredential::ClientSecretFile(resolve(c, &f.value))
    } else if let Some(f) = &r.federated_token_file {
        AzureCredential::FederatedTokenFile(resolve(c, &f.value))
    } else if let Some(f) = env("AZURE_FEDERATED_TOKEN_FILE") {
        AzureCredential::FederatedTokenFile(PathBuf::from(f))
    } else {
        c.err(
            a,
            "an azure_vmss actuator needs `clientSecret`, `clientSecretFile` or `federatedTokenFile` \
             (or AZURE_FEDERATED_TOKEN_FILE in the environment)",
        );
        return None;
    };
    let endpoint = base_url(c, &r.endpoint, "endpoint", "https://management.azure.com".to_string());
    let default_login = env("AZURE_AUTHORITY_HOST")
        .map(|h| h.trim_end_matches('/').to_string())
        .unwrap_or_else(|| "https://login.microsoftonline.com".to_string());
    let login_endpoint = base_url(c, &r.login_endpoint, "loginEndpoint", default_login);
    (c.errors.len() == before).then_some(AzureVmssConfig {
        subscription_id,
        resource_group,
        group,
        endpoint,
        login_endpoint,
        tenant_id,
        client_id,
        credential,
        timeout_seconds,
        max_retries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ActuatorConfig, parse_policy_file};

    fn actuator(block: &str) -> Result<ActuatorConfig, String> {
        let text = format!("scalers:\n  - name: api\n    maxReplicas: 3\n    actuator: {block}\n");
        parse_policy_file("conf/s.yml", &text).map(|f| f.scalers[0].actuator.clone()).map_err(|e| e.to_string())
    }

    #[test]
    fn gcp_mig_zonal_and_regional() {
        let a = actuator("{ type: gcp_mig, project: p, zone: europe-west1-b, group: g, credentialsFile: sa.json }");
        let ActuatorConfig::GcpMig(g) = a.unwrap() else { panic!("gcp_mig") };
        assert_eq!(g.location, GcpLocation::Zone("europe-west1-b".into()));
        assert_eq!(g.endpoint, "https://compute.googleapis.com");
        assert_eq!(g.credentials, GcpCredentials::ServiceAccountKey(PathBuf::from("conf/sa.json")));
        assert_eq!((g.timeout_seconds, g.max_retries), (15, 3));

        let a = actuator(
            "{ type: gcp_mig, project: p, region: europe-west1, group: g, token_file: /run/token, \
             endpoint: 'http://127.0.0.1:9/', maxRetries: 0 }",
        );
        let ActuatorConfig::GcpMig(g) = a.unwrap() else { panic!("gcp_mig") };
        assert_eq!(g.location, GcpLocation::Region("europe-west1".into()));
        assert_eq!(g.credentials, GcpCredentials::TokenFile(PathBuf::from("/run/token")));
        assert_eq!((g.endpoint.as_str(), g.max_retries), ("http://127.0.0.1:9", 0));
    }

    #[test]
    fn gcp_mig_errors_point_at_the_block_or_key() {
        let e = actuator("{ type: gcp_mig, project: p, zone: z, region: r, group: g }").unwrap_err();
        assert_eq!(
            e,
            "conf/s.yml:4:15: a gcp_mig actuator takes `zone` (zonal group) or `region` (regional group), not both"
        );
        let e = actuator("{ type: gcp_mig, zone: z, group: g, clientId: x }").unwrap_err();
        assert!(e.contains("`clientId` does not apply to a gcp_mig actuator"), "{e}");
        assert!(e.contains("a gcp_mig actuator needs `project`"), "{e}");
        let e = actuator("{ type: gcp_mig, project: p, zone: z, group: g, endpoint: 'ftp://x' }").unwrap_err();
        assert!(e.starts_with("conf/s.yml:4:73: invalid `endpoint`"), "{e}");
        let e = actuator("{ type: webhook, url: 'http://x', project: p }").unwrap_err();
        assert_eq!(e, "conf/s.yml:4:15: `project` does not apply to a webhook actuator");
    }

    #[test]
    fn azure_vmss_with_a_secret_that_never_prints() {
        let a = actuator(
            "{ type: azure_vmss, subscriptionId: s, resource_group: rg, group: vmss, tenantId: t, clientId: c, \
             clientSecret: PlantedVmssSecret1 }",
        );
        let cfg = a.unwrap();
        assert!(!format!("{cfg:?}").contains("PlantedVmssSecret1"));
        let ActuatorConfig::AzureVmss(v) = cfg else { panic!("azure_vmss") };
        assert_eq!((v.subscription_id.as_str(), v.resource_group.as_str(), v.group.as_str()), ("s", "rg", "vmss"));
        assert_eq!(v.endpoint, "https://management.azure.com");
        assert_eq!(v.credential, AzureCredential::ClientSecret(Secret::new("PlantedVmssSecret1")));

        let e = actuator(
            "{ type: azure_vmss, subscriptionId: s, resourceGroup: rg, group: g, tenantId: t, clientId: c, \
             clientSecret: x, federatedTokenFile: f }",
        )
        .unwrap_err();
        assert!(e.contains("takes one of `clientSecret`, `clientSecretFile`, `federatedTokenFile`"), "{e}");
        let e = actuator("{ type: azure_vmss, resourceGroup: rg, group: g, tenantId: t, clientId: c, zone: z }")
            .unwrap_err();
        assert!(e.contains("`zone` does not apply to a azure_vmss actuator"), "{e}");
        assert!(e.contains("needs `subscriptionId`"), "{e}");
    }
}
