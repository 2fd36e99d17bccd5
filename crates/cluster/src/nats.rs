//! How a Lookout process reaches NATS: URL, TLS and credentials, shared by the `nats`
//! source and sink, the notifier cluster and the scaler's lease so all take the same keys.

use std::path::PathBuf;

use lookout_config::Secret;
use serde::Deserialize;

/// TLS towards the server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsTls {
    /// PEM roots to trust (else the system's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// The connection keys both `nats` components take (each config repeats them: serde's
/// `flatten` cannot be combined with `deny_unknown_fields`).
#[derive(Debug, Clone)]
pub struct NatsConnection {
    /// `nats://host:port` (or `tls://`), or several separated by commas.
    pub url: String,
    /// A `.creds` file (JWT + NKey seed).
    pub creds_file: Option<PathBuf>,
    /// A token.
    pub token: Option<Secret>,
    /// User name, with `password`.
    pub user: Option<Secret>,
    /// Password, with `user`.
    pub password: Option<Secret>,
    /// TLS; present means required.
    pub tls: Option<NatsTls>,
}

impl NatsConnection {
    /// Checks that the keys fit together; the message is for the user.
    pub fn check(&self) -> Result<(), String> {
        if self.url.trim().is_empty() {
            return Err("`url` must not be empty".into());
        }
        for url in self.url.split(',') {
            let url = url.trim();
            let scheme = url.split_once("://").map(|(s, _)| s);
            if !matches!(scheme, Some("nats" | "tls" | "ws" | "wss")) {
                return Err(format!("`url` `{url}` must start with nats:// or tls://"));
            }
        }
        if self.user.is_some() != self.password.is_some() {
            return Err("`user` and `password` go together".into());
        }
        let methods = [self.creds_file.is_some(), self.token.is_some(), self.user.is_some()];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err("use one of `creds_file`, `token`, `user`/`password`".into());
        }
        if let Some(tls) = &self.tls
            && tls.cert_file.is_some() != tls.key_file.is_some()
        {
            return Err("`tls.cert_file` and `tls.key_file` go together".into());
        }
        Ok(())
    }

    /// Connects; retries in the background if the server is not up yet, so a start
    /// does not depend on the bus being there first.
    pub async fn connect(&self, name: &str) -> Result<async_nats::Client, String> {
        let mut options = match &self.creds_file {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| format!("cannot read `creds_file` `{}`: {e}", path.display()))?,
            None => async_nats::ConnectOptions::new(),
        };
        if let Some(token) = &self.token {
            options = options.token(token.expose().to_string());
        }
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            options = options.user_and_password(user.expose().to_string(), password.expose().to_string());
        }
        if let Some(tls) = &self.tls {
            options = options.require_tls(true);
            if let Some(ca) = &tls.ca_file {
                options = options.add_root_certificates(ca.clone());
            }
            if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                options = options.add_client_certificate(cert.clone(), key.clone());
            }
        }
        let urls: Vec<&str> = self.url.split(',').map(str::trim).collect();
        options
            .name(name)
            .retry_on_initial_connect()
            .connect(urls)
            .await
            .map_err(|e| format!("cannot connect to NATS at {}: {e}", lookout_config::redact_url(&self.url)))
    }
}
