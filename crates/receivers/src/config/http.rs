//! `http_config` and `tls_config`: the subset of `prometheus/common/config.HTTPClientConfig`
//! that Lookout implements (auth, TLS, proxy, redirects, HTTP/2). OAuth 2 and the rest are
//! refused at load rather than silently ignored.

use serde::{Deserialize, Serialize};

use super::{Secret, read_secret_file};
use crate::error::Error;

/// `basic_auth`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// Password.
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    /// File holding the password (instead of `password`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password_file: String,
}

/// `authorization`: `Authorization: <type> <credentials>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Authorization {
    /// Scheme, default `Bearer`.
    #[serde(rename = "type")]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The credentials.
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub credentials: Secret,
    /// File holding the credentials.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
}

impl Default for Authorization {
    fn default() -> Authorization {
        Authorization { kind: "Bearer".into(), credentials: Secret::default(), credentials_file: String::new() }
    }
}

/// `tls_config`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of CAs to trust (in addition to none: only these are trusted when set).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    /// PEM client certificate for mutual TLS.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    /// PEM private key for `cert_file`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    /// Server name to verify (SMTP only; HTTP verifies the URL's host).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    /// Skip certificate verification (tests and emergencies only).
    pub insecure_skip_verify: bool,
    /// `TLS12` or `TLS13`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub min_version: String,
}

impl TlsConfig {
    /// Whether every field is at its default.
    pub fn is_default(&self) -> bool {
        *self == TlsConfig::default()
    }
}

fn yes() -> bool {
    true
}

/// `http_config`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    /// Basic authentication.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization` header.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// Deprecated form of `authorization` (Bearer).
    #[serde(default)]
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub bearer_token: Secret,
    /// Deprecated form of `authorization.credentials_file`.
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bearer_token_file: String,
    /// TLS settings.
    #[serde(default)]
    #[serde(skip_serializing_if = "TlsConfig::is_default")]
    pub tls_config: TlsConfig,
    /// HTTP proxy for every request.
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty", serialize_with = "lookout_config::serialize_url")]
    pub proxy_url: String,
    /// Use `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` from the environment (default false, as in
    /// Prometheus's HTTP client config).
    // Left out when off: older Alertmanager configs (what amtool parses the rendered
    // config with) do not know the key.
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub proxy_from_environment: bool,
    /// Follow 3xx redirects (default true).
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Allow HTTP/2 (default true).
    #[serde(default = "yes")]
    pub enable_http2: bool,
}

impl Default for HttpClientConfig {
    fn default() -> HttpClientConfig {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            bearer_token: Secret::default(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            proxy_url: String::new(),
            proxy_from_environment: false,
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

impl HttpClientConfig {
    /// The load-time checks of `HTTPClientConfig.Validate`.
    pub fn validate(&self) -> Result<(), Error> {
        let auth_kinds = [
            self.basic_auth.is_some(),
            self.authorization.is_some(),
            !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty(),
        ];
        if auth_kinds.iter().filter(|b| **b).count() > 1 {
            return Err(Error::config(
                "at most one of basic_auth, authorization and bearer_token(_file) must be configured",
            ));
        }
        if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            return Err(Error::config("at most one of bearer_token & bearer_token_file must be configured"));
        }
        if let Some(b) = &self.basic_auth
            && !b.password.is_empty()
            && !b.password_file.is_empty()
        {
            return Err(Error::config("at most one of basic_auth password & password_file must be configured"));
        }
        if let Some(a) = &self.authorization {
            if !a.credentials.is_empty() && !a.credentials_file.is_empty() {
                return Err(Error::config(
                    "at most one of authorization credentials & credentials_file must be configured",
                ));
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err(Error::config("authorization type cannot be set to \"basic\", use \"basic_auth\" instead"));
            }
        }
        if !self.proxy_url.is_empty() {
            reqwest::Url::parse(&self.proxy_url).map_err(|e| Error::config(format!("invalid proxy_url: {e}")))?;
            if self.proxy_from_environment {
                return Err(Error::config("if proxy_from_environment is configured, proxy_url must not be configured"));
            }
        }
        match self.tls_config.min_version.as_str() {
            "" | "TLS12" | "TLS13" => {}
            v => return Err(Error::config(format!("unsupported tls_config.min_version {v:?} (TLS12 or TLS13)"))),
        }
        if self.tls_config.cert_file.is_empty() != self.tls_config.key_file.is_empty() {
            return Err(Error::config("tls_config needs both cert_file and key_file, or neither"));
        }
        Ok(())
    }

    /// Whether requests need a client of their own (anything beyond headers differs from
    /// the shared default client).
    pub fn needs_own_client(&self) -> bool {
        !self.tls_config.is_default()
            || !self.proxy_url.is_empty()
            || self.proxy_from_environment
            || !self.follow_redirects
            || !self.enable_http2
    }

    /// The `Authorization` header value, reading `*_file` secrets now (they may rotate).
    pub fn authorization_header(&self) -> Result<Option<Secret>, Error> {
        use base64::Engine as _;
        if let Some(b) = &self.basic_auth {
            let password = if b.password_file.is_empty() {
                b.password.clone()
            } else {
                read_secret_file(&b.password_file, "basic_auth password")?
            };
            let raw = format!("{}:{}", b.username, password.expose());
            return Ok(Some(Secret::new(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)))));
        }
        if let Some(a) = &self.authorization {
            let cred = if a.credentials_file.is_empty() {
                a.credentials.clone()
            } else {
                read_secret_file(&a.credentials_file, "authorization credentials")?
            };
            let kind = if a.kind.is_empty() { "Bearer" } else { &a.kind };
            return Ok(Some(Secret::new(format!("{kind} {}", cred.expose()))));
        }
        if !self.bearer_token.is_empty() {
            return Ok(Some(Secret::new(format!("Bearer {}", self.bearer_token.expose()))));
        }
        if !self.bearer_token_file.is_empty() {
            let t = read_secret_file(&self.bearer_token_file, "bearer_token")?;
            return Ok(Some(Secret::new(format!("Bearer {}", t.expose()))));
        }
        Ok(None)
    }

    /// Builds a client for these settings.
    pub fn build_client(&self) -> Result<reqwest::Client, Error> {
        let mut b = reqwest::Client::builder().user_agent(concat!("Lookout/", env!("CARGO_PKG_VERSION")));
        let tls = &self.tls_config;
        if !tls.ca_file.is_empty() {
            let pem = std::fs::read(&tls.ca_file)
                .map_err(|e| Error::file(format!("cannot read ca_file {}: {e}", tls.ca_file)))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::file(format!("ca_file {}: not a PEM certificate bundle: {e}", tls.ca_file)))?;
            b = b.tls_certs_only(certs);
        }
        if !tls.cert_file.is_empty() {
            let mut pem = std::fs::read(&tls.cert_file)
                .map_err(|e| Error::file(format!("cannot read cert_file {}: {e}", tls.cert_file)))?;
            let key = std::fs::read(&tls.key_file)
                .map_err(|e| Error::file(format!("cannot read key_file {}: {e}", tls.key_file)))?;
            pem.push(b'\n');
            pem.extend_from_slice(&key);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| Error::file(format!("client certificate: {e}")))?;
            b = b.identity(id);
        }
        if tls.insecure_skip_verify {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        match tls.min_version.as_str() {
            "TLS12" => b = b.tls_version_min(reqwest::tls::Version::TLS_1_2),
            "TLS13" => b = b.tls_version_min(reqwest::tls::Version::TLS_1_3),
            _ => {}
        }
        if !self.proxy_url.is_empty() {
            b = b.proxy(
                reqwest::Proxy::all(&self.proxy_url).map_err(|e| Error::config(format!("invalid proxy_url: {e}")))?,
            );
        } else if !self.proxy_from_environment {
            b = b.no_proxy();
        }
        if !self.follow_redirects {
            b = b.redirect(reqwest::redirect::Policy::none());
        }
        if !self.enable_http2 {
            b = b.http1_only();
        }
        b.build().map_err(|e| Error::config(format!("cannot build HTTP client: {e}")))
    }
}
