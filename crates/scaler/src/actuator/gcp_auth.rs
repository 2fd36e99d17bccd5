//! Google access tokens for the `gcp_mig` actuator, three ways:
//!
//! - a **service-account JSON key**: Google's OAuth 2.0 service-account flow ("Using OAuth
//!   2.0 for Server to Server Applications"): a JWT `{"iss": client_email, "scope",
//!   "aud": token_uri, "iat", "exp": iat + 3600}` signed RS256 with the key's `private_key`
//!   (header `kid` = `private_key_id`), POSTed to `token_uri` as
//!   `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT`;
//! - the **metadata server** (GCE, GKE Workload Identity): `GET
//!   http://{GCE_METADATA_HOST|metadata.google.internal}/computeMetadata/v1/instance/service-accounts/default/token`
//!   with `Metadata-Flavor: Google`;
//! - a **token file** holding an access token (written by a sidecar), re-read at each refresh.
//!
//! RSA signing uses aws-lc-rs, already linked as rustls' crypto provider, rather than a JWT
//! crate: one signature over two base64url strings is all the flow needs.

use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use lookout_config::Secret;
use lookout_retry::RetryPolicy;
use serde::Deserialize;

use super::cloud_http::{Error, Failed, send_retried};
use super::oauth::{AccessToken, Credential, TokenResponse, exchange};
use crate::policy::GcpCredentials;

/// The scope asked for: Compute Engine's read-write scope covers `get` and `resize`.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/compute";
/// How long an assertion is valid (Google accepts at most one hour).
const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// A Google credential, ready to fetch tokens.
pub(crate) enum GcpCredential {
    ServiceAccount(ServiceAccountKey),
    TokenFile(PathBuf),
    Metadata { host: String },
}

impl GcpCredential {
    /// Reads and checks the key file now, so a broken key stops the start.
    pub(crate) fn from_config(c: &GcpCredentials) -> Result<GcpCredential, Error> {
        Ok(match c {
            GcpCredentials::ServiceAccountKey(p) => GcpCredential::ServiceAccount(ServiceAccountKey::read(p)?),
            GcpCredentials::TokenFile(p) => GcpCredential::TokenFile(p.clone()),
            GcpCredentials::MetadataServer => GcpCredential::Metadata {
                host: std::env::var("GCE_METADATA_HOST").unwrap_or_else(|_| "metadata.google.internal".to_string()),
            },
        })
    }
}

/// The fields of a service-account key file that the flow uses.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key: Secret,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_string()
}

/// A parsed service-account key.
pub(crate) struct ServiceAccountKey {
    client_email: String,
    key_id: Option<String>,
    token_uri: String,
    key: RsaKeyPair,
}

impl ServiceAccountKey {
    fn read(path: &Path) -> Result<ServiceAccountKey, Error> {
        let bad = |why: &str| Error::Credentials(format!("service-account key {}: {why}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(&format!("cannot read: {e}")))?;
        // serde_json's message names a position, never the content.
        let f: KeyFile = serde_json::from_str(&text).map_err(|e| bad(&format!("not a key file: {e}")))?;
        if f.kind != "service_account" {
            return Err(bad(&format!("type is `{}`, expected `service_account`", f.kind)));
        }
        let der = pem_to_der(f.private_key.expose()).ok_or_else(|| bad("private_key is not a PEM PRIVATE KEY"))?;
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|_| bad("private_key is not an RSA PKCS#8 key"))?;
        Ok(ServiceAccountKey { client_email: f.client_email, key_id: f.private_key_id, token_uri: f.token_uri, key })
    }

    /// The signed assertion for `now` (unix seconds).
    fn assertion(&self, now: i64) -> Result<String, Error> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.clone().into();
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut sig = vec![0; self.key.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key
            .sign(&RSA_PKCS1_SHA256, &rng, signing_input.as_bytes(), &mut sig)
            .map_err(|_| Error::Credentials("cannot sign the service-account assertion".to_string()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// The DER inside a `-----BEGIN PRIVATE KEY-----` block.
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem.split("-----BEGIN PRIVATE KEY-----").nth(1)?.split("-----END PRIVATE KEY-----").next()?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

/// A token file's token, trusted for five minutes (a 401 re-reads it sooner).
fn read_token_file(path: &Path) -> Result<AccessToken, Error> {
    let t = std::fs::read_to_string(path)
        .map_err(|e| Error::Credentials(format!("cannot read token file {}: {e}", path.display())))?;
    let t = t.trim();
    if t.is_empty() {
        return Err(Error::Credentials(format!("token file {} is empty", path.display())));
    }
    Ok(AccessToken::expiring_in(Secret::new(t), 300))
}

impl Credential for GcpCredential {
    async fn fetch(&self, http: &reqwest::Client, policy: &RetryPolicy) -> Result<AccessToken, Error> {
        match self {
            GcpCredential::ServiceAccount(k) => {
                let assertion = k.assertion(chrono::Utc::now().timestamp())?;
                let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)];
                exchange(http, policy, &k.token_uri, &form).await
            }
            GcpCredential::TokenFile(p) => read_token_file(p),
            GcpCredential::Metadata { host } => {
                let url = format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token");
                let resp = send_retried(policy, || async {
                    match http.get(&url).header("Metadata-Flavor", "Google").send().await {
                        Ok(r) if r.status().is_success() => Ok(r),
                        Ok(r) => Err(Failed::from_token_endpoint(r).await),
                        Err(e) => Err(Failed::no_answer("metadata server token request", e)),
                    }
                })
                .await?;
                let t: TokenResponse = resp
                    .json()
                    .await
                    .map_err(|e| Error::Invalid(format!("metadata server token: {}", e.without_url())))?;
                Ok(t.into_token())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    /// The assertion is a JWT Google would accept: header, claims and an RS256 signature
    /// that verifies with the key's public half.
    #[test]
    fn the_assertion_is_an_rs256_jwt_over_the_documented_claims() {
        let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8 = key.as_der().unwrap();
        let pem =
            format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(pkcs8.as_ref()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let file = serde_json::json!({"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com",
            "private_key": pem, "private_key_id": "k1", "token_uri": "http://127.0.0.1:9/token"});
        std::fs::write(&path, file.to_string()).unwrap();
        let sa = ServiceAccountKey::read(&path).unwrap();
        let jwt = sa.assertion(1_800_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}));
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "sa@p.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "http://127.0.0.1:9/token");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref());
        let signed = format!("{}.{}", parts[0], parts[1]);
        public.verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();

        // A broken key names the file and never prints the key.
        std::fs::write(&path, file.to_string().replace("service_account", "authorized_user")).unwrap();
        let e = ServiceAccountKey::read(&path).err().unwrap().to_string();
        assert!(e.contains("key.json") && e.contains("authorized_user") && !e.contains("PRIVATE"), "{e}");
    }
}
