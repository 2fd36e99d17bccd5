//! The `kubernetes` actuator (cargo feature `kubernetes`): reads and patches a workload's
//! scale subresource, `/apis/apps/v1/namespaces/{ns}/{deployments|statefulsets|replicasets}/{name}/scale`
//! (an `autoscaling/v1` `Scale`: `spec.replicas`, `status.replicas`).
//!
//! Two plain HTTP calls over the workspace's reqwest rather than the `kube` crate: `kube` with
//! `k8s-openapi` adds a second HTTP stack, several hundred thousand lines of generated API types
//! and minutes to a cold 2-core CI build, for one GET and one PATCH. Authentication is the pod's
//! service-account token (re-read for each request, as projected tokens rotate) and CA bundle.

use std::time::Duration;

use serde::Deserialize;

use crate::policy::KubernetesConfig;

const SA_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
const SA_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// Why the scale subresource cannot be read or patched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The CA bundle cannot be read.
    #[error("cannot read CA file {path}: {source}")]
    ReadCa {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CA bundle is not PEM.
    #[error("invalid CA file {path}: {source}")]
    InvalidCa {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The HTTP client cannot be built.
    #[error("cannot build HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The service-account token cannot be read.
    #[error("cannot read token file {path}: {source}")]
    ReadToken {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No answer from the API server (the URL is left out).
    #[error("scale request failed: {0}")]
    Request(#[source] reqwest::Error),
    /// The API server refused, with its `Status` message.
    #[error("scale subresource answered {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: reqwest::StatusCode,
        /// The `Status` object's message.
        message: String,
    },
    /// The answer is not a `Scale` object.
    #[error("invalid Scale object: {0}")]
    InvalidScale(#[source] reqwest::Error),
}

/// Client for one workload's scale subresource.
pub struct ScaleClient {
    client: reqwest::Client,
    url: String,
    token_file: Option<String>,
}

#[derive(Deserialize)]
struct Scale {
    spec: ScaleSpec,
}

#[derive(Deserialize)]
struct ScaleSpec {
    #[serde(default)]
    replicas: i32,
}

impl ScaleClient {
    /// Builds the client (reads the CA bundle now).
    pub fn new(cfg: &KubernetesConfig) -> Result<ScaleClient, Error> {
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
        let ca = cfg.ca_file.clone().or_else(|| std::path::Path::new(SA_CA).exists().then(|| SA_CA.to_string()));
        if let Some(ca) = ca {
            let pem = std::fs::read(&ca).map_err(|source| Error::ReadCa { path: ca.clone(), source })?;
            let cert =
                reqwest::Certificate::from_pem(&pem).map_err(|source| Error::InvalidCa { path: ca.clone(), source })?;
            b = b.add_root_certificate(cert);
        }
        let client = b.build().map_err(Error::HttpClient)?;
        let token_file =
            cfg.token_file.clone().or_else(|| std::path::Path::new(SA_TOKEN).exists().then(|| SA_TOKEN.to_string()));
        let url = format!(
            "{}/apis/apps/v1/namespaces/{}/{}/{}/scale",
            cfg.api_server.trim_end_matches('/'),
            cfg.namespace,
            cfg.resource,
            cfg.name
        );
        Ok(ScaleClient { client, url, token_file })
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, Error> {
        match &self.token_file {
            Some(f) => {
                let t = std::fs::read_to_string(f).map_err(|source| Error::ReadToken { path: f.clone(), source })?;
                Ok(r.bearer_auth(t.trim()))
            }
            None => Ok(r),
        }
    }

    async fn check(resp: Result<reqwest::Response, reqwest::Error>) -> Result<reqwest::Response, Error> {
        let resp = resp.map_err(|e| Error::Request(e.without_url()))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        // The API server answers a `Status` object; its message says what is wrong.
        let message = resp
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_default();
        Err(Error::Refused { status, message })
    }

    /// `spec.replicas` of the scale subresource.
    pub async fn get_replicas(&self) -> Result<i32, Error> {
        let resp = Self::check(self.auth(self.client.get(&self.url))?.send().await).await?;
        let scale: Scale = resp.json().await.map_err(|e| Error::InvalidScale(e.without_url()))?;
        Ok(scale.spec.replicas)
    }

    /// Sets `spec.replicas` with a JSON merge patch.
    pub async fn set_replicas(&self, replicas: i32) -> Result<(), Error> {
        let body = serde_json::json!({"spec": {"replicas": replicas}});
        let req = self
            .client
            .patch(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/merge-patch+json")
            .body(body.to_string());
        Self::check(self.auth(req)?.send().await).await?;
        Ok(())
    }
}
