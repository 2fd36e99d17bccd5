//! `email_configs[]` (Alertmanager's `EmailConfig`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{GlobalConfig, Secret, TlsConfig};
use crate::error::Error;

/// `email_configs[]`: email over SMTP.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // Alertmanager's field names
pub struct EmailConfig {
    /// Default false.
    pub send_resolved: bool,
    /// Recipients, comma-separated (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub to: String,
    /// Default `global.smtp_from` (templated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// Default `global.smtp_hello`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hello: String,
    /// `host:port`; default `global.smtp_smarthost`. Port 465 means implicit TLS.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub smarthost: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_username: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub auth_password: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_password_file: String,
    /// CRAM-MD5 secret: not offered by Lookout (refused at load).
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub auth_secret: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_identity: String,
    /// Extra headers (templated); `Subject` defaults to `email.default.subject`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Default `email.default.html`; "" = no HTML part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Default `email.default.text` (a Lookout addition: Alertmanager sends none);
    /// "" = no text part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// STARTTLS required; default `global.smtp_require_tls` (true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<bool>,
    /// Default `global.smtp_tls_config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
}

/// `textproto.CanonicalMIMEHeaderKey`: `x-priority` → `X-Priority`.
pub(crate) fn canonical_header(h: &str) -> String {
    let mut out = String::with_capacity(h.len());
    let mut upper = true;
    for c in h.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() });
        upper = c == '-';
    }
    out
}

impl EmailConfig {
    pub(crate) fn validate(&self, g: &GlobalConfig) -> Result<(), Error> {
        if self.to.is_empty() {
            return Err(Error::config("missing to address in email config"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for h in self.headers.keys() {
            if !seen.insert(canonical_header(h)) {
                return Err(Error::config(format!("duplicate header {:?} in email config", canonical_header(h))));
            }
        }
        let smarthost = if self.smarthost.is_empty() { &g.smtp_smarthost } else { &self.smarthost };
        if smarthost.is_empty() {
            return Err(Error::config("no global SMTP smarthost set"));
        }
        split_host_port(smarthost)?;
        if self.from.is_empty() && g.smtp_from.is_empty() {
            return Err(Error::config("no global SMTP from set"));
        }
        if !self.auth_password.is_empty() && !self.auth_password_file.is_empty() {
            return Err(Error::config("at most one of auth_password & auth_password_file must be configured"));
        }
        if !self.auth_secret.is_empty() || !g.smtp_auth_secret.is_empty() {
            return Err(Error::config("auth_secret (CRAM-MD5) is not supported; use auth_username/auth_password"));
        }
        Ok(())
    }
}

/// Splits `host:port` (IPv6 in brackets), as Alertmanager's `HostPort`.
pub(crate) fn split_host_port(s: &str) -> Result<(String, u16), Error> {
    let (host, port) =
        s.rsplit_once(':').ok_or_else(|| Error::config(format!("address {s:?}: missing port in address")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| Error::config(format!("address {s:?}: invalid port")))?;
    if host.is_empty() {
        return Err(Error::config(format!("address {s:?}: host cannot be empty")));
    }
    Ok((host.to_string(), port))
}

impl EmailConfig {
    pub(crate) fn template_fields(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![("to", self.to.as_str()), ("from", &self.from)];
        v.extend(self.headers.values().map(|h| ("headers", h.as_str())));
        v.extend(self.html.iter().map(|h| ("html", h.as_str())));
        v.extend(self.text.iter().map(|t| ("text", t.as_str())));
        v
    }
}
