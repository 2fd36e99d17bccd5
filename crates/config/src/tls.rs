//! `tls:` — a listener's TLS settings, in Lookout's words and in the Prometheus
//! exporter-toolkit's (`web.yml`'s `tls_server_config`), which are the same keys: a
//! `web.yml` section deserializes into [`TlsConfig`] unchanged.
//!
//! ```yaml
//! tls:
//!   cert_file: tls/lookout.crt
//!   key_file: tls/lookout.key
//!   client_ca_file: tls/clients-ca.crt   # optional: mTLS
//!   client_auth_type: RequireAndVerifyClientCert
//!   min_version: TLS12
//! ```
//!
//! Relative paths are resolved against the directory of the file the section is
//! written in ([`TlsConfig::set_base_dir`]). Files are read by the listener
//! (`lookout_server::listener::tls`), which re-reads them when they change.
//!
//! `cipher_suites`, `curve_preferences` and `prefer_server_cipher_suites` are accepted so
//! `web.yml` files work unchanged, and ignored: rustls offers only modern suites and
//! groups and always picks in its own (server) order.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer};

/// A listener's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain (server certificate first).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM CA certificates that client certificates are verified against (mTLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Whether and how client certificates are asked for; see [`ClientAuthType`].
    #[serde(default)]
    pub client_auth_type: Option<ClientAuthType>,
    /// Oldest protocol version accepted (default TLS 1.2).
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    /// Newest protocol version accepted (default TLS 1.3).
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
    /// Accepted for `web.yml` compatibility; ignored (rustls offers only modern suites).
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    /// Accepted for `web.yml` compatibility; ignored (rustls offers only modern groups).
    #[serde(default)]
    pub curve_preferences: Vec<String>,
    /// Accepted for `web.yml` compatibility; ignored (rustls always uses server order).
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    /// Where relative paths start: set once by whoever knows the config file's path.
    /// A cell because component configs are validated through `&self`, the one place
    /// that knows which file they came from.
    #[serde(skip)]
    base_dir: OnceLock<PathBuf>,
}

/// `client_auth_type`, with Go's `tls.ClientAuthType` names as the exporter-toolkit
/// spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ClientAuthType {
    /// No client certificate is asked for.
    NoClientCert,
    /// A client certificate is asked for, not required and not verified.
    RequestClientCert,
    /// A client certificate is required, not verified against a CA.
    RequireAnyClientCert,
    /// A client certificate is optional; one that is sent must verify against `client_ca_file`.
    VerifyClientCertIfGiven,
    /// A client certificate is required and must verify against `client_ca_file`.
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    /// Whether this mode checks certificates against `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(self, ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert)
    }
}

/// A TLS protocol version: `TLS12` / `TLS13` (exporter-toolkit) or `1.2` / `1.3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.0: parsed so the error can say why it is refused.
    Tls10,
    /// TLS 1.1: parsed so the error can say why it is refused.
    Tls11,
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls10 => "TLS10",
            TlsVersion::Tls11 => "TLS11",
            TlsVersion::Tls12 => "TLS12",
            TlsVersion::Tls13 => "TLS13",
        })
    }
}

impl std::str::FromStr for TlsVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let v = s.trim().to_ascii_uppercase();
        let v = v.strip_prefix("TLS").unwrap_or(&v).trim_start_matches(['v', 'V', ' ']);
        match v.replace('.', "").as_str() {
            "10" => Ok(TlsVersion::Tls10),
            "11" => Ok(TlsVersion::Tls11),
            "12" => Ok(TlsVersion::Tls12),
            "13" => Ok(TlsVersion::Tls13),
            _ => Err(format!("unknown TLS version {s:?}, expected TLS12 or TLS13 (or \"1.2\" / \"1.3\")")),
        }
    }
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A number (`1.2`) is accepted as well as a string: YAML reads `1.2` as a float.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            F(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::F(f) => format!("{f:.1}"),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A [`TlsConfig`] whose settings contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// `cert_file` or `key_file` is empty.
    #[error("tls: `{0}` must not be empty")]
    EmptyPath(&'static str),
    /// `min_version` / `max_version` below TLS 1.2.
    #[error("tls: `{key}: {version}` is not supported: Lookout speaks TLS 1.2 and 1.3 only")]
    OldVersion {
        /// `min_version` or `max_version`.
        key: &'static str,
        /// The version written.
        version: TlsVersion,
    },
    /// `min_version` above `max_version`.
    #[error("tls: `min_version` ({min}) is newer than `max_version` ({max})")]
    VersionRange {
        /// `min_version`.
        min: TlsVersion,
        /// `max_version`.
        max: TlsVersion,
    },
    /// A verifying `client_auth_type` without `client_ca_file`.
    #[error("tls: `client_auth_type: {0:?}` needs `client_ca_file` to verify client certificates against")]
    MissingClientCa(ClientAuthType),
    /// `client_ca_file` with a `client_auth_type` that never verifies against it.
    #[error("tls: `client_ca_file` is set but `client_auth_type: {0:?}` does not verify client certificates")]
    UnusedClientCa(ClientAuthType),
}

impl TlsConfig {
    /// Settings serving `cert_file` / `key_file`, everything else default.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> TlsConfig {
        TlsConfig {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
            client_auth_type: None,
            min_version: None,
            max_version: None,
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            prefer_server_cipher_suites: None,
            base_dir: OnceLock::new(),
        }
    }

    /// Resolves relative paths against `dir` from now on (the directory of the file the
    /// section was read from). The first call wins: a config read from one file keeps
    /// that file's directory.
    pub fn set_base_dir(&self, dir: &Path) {
        let _ = self.base_dir.set(dir.to_path_buf());
    }

    /// [`TlsConfig::set_base_dir`] with the directory of `file` (a config file's path).
    pub fn set_config_file(&self, file: &Path) {
        self.set_base_dir(file.parent().unwrap_or(Path::new("")));
    }

    /// `path` as the listener opens it: relative paths joined to the base directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        match self.base_dir.get() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// The certificate chain's path, resolved.
    pub fn cert_path(&self) -> PathBuf {
        self.resolve(&self.cert_file)
    }

    /// The private key's path, resolved.
    pub fn key_path(&self) -> PathBuf {
        self.resolve(&self.key_file)
    }

    /// The client CA file's path, resolved.
    pub fn client_ca_path(&self) -> Option<PathBuf> {
        self.client_ca_file.as_deref().map(|p| self.resolve(p))
    }

    /// The client authentication in effect: as written, else `RequireAndVerifyClientCert`
    /// when `client_ca_file` is set, else `NoClientCert`.
    pub fn client_auth(&self) -> ClientAuthType {
        self.client_auth_type.unwrap_or(if self.client_ca_file.is_some() {
            ClientAuthType::RequireAndVerifyClientCert
        } else {
            ClientAuthType::NoClientCert
        })
    }

    /// The oldest and newest versions in effect.
    pub fn versions(&self) -> (TlsVersion, TlsVersion) {
        (self.min_version.unwrap_or(TlsVersion::Tls12), self.max_version.unwrap_or(TlsVersion::Tls13))
    }

    /// Checks the settings against each other (files are read by the listener).
    pub fn validate(&self) -> Result<(), TlsConfigError> {
        if self.cert_file.as_os_str().is_empty() {
            return Err(TlsConfigError::EmptyPath("cert_file"));
        }
        if self.key_file.as_os_str().is_empty() {
            return Err(TlsConfigError::EmptyPath("key_file"));
        }
        for (key, v) in [("min_version", self.min_version), ("max_version", self.max_version)] {
            if let Some(version) = v.filter(|v| *v < TlsVersion::Tls12) {
                return Err(TlsConfigError::OldVersion { key, version });
            }
        }
        let (min, max) = self.versions();
        if min > max {
            return Err(TlsConfigError::VersionRange { min, max });
        }
        let auth = self.client_auth();
        match (auth.verifies(), self.client_ca_file.is_some()) {
            (true, false) => Err(TlsConfigError::MissingClientCa(auth)),
            // Go's exporter-toolkit refuses this too: a CA that is never used is a mistake.
            (false, true) if auth == ClientAuthType::NoClientCert => Err(TlsConfigError::UnusedClientCa(auth)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<TlsConfig, String> {
        serde_saphyr::from_str::<TlsConfig>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn lookout_keys() {
        let c = parse("cert_file: tls/a.crt\nkey_file: tls/a.key\nmin_version: \"1.3\"\n").unwrap();
        assert_eq!(c.cert_file, Path::new("tls/a.crt"));
        assert_eq!(c.versions(), (TlsVersion::Tls13, TlsVersion::Tls13));
        assert_eq!(c.client_auth(), ClientAuthType::NoClientCert);
        c.validate().unwrap();
    }

    #[test]
    fn exporter_toolkit_keys() {
        let c = parse(
            "cert_file: a.crt\nkey_file: a.key\nclient_ca_file: ca.crt\nclient_auth_type: VerifyClientCertIfGiven\n\
             min_version: TLS12\nmax_version: TLS13\ncipher_suites: [TLS_AES_128_GCM_SHA256]\n\
             curve_preferences: [X25519]\nprefer_server_cipher_suites: true\n",
        )
        .unwrap();
        assert_eq!(c.client_auth(), ClientAuthType::VerifyClientCertIfGiven);
        assert_eq!(c.versions(), (TlsVersion::Tls12, TlsVersion::Tls13));
        c.validate().unwrap();
    }

    #[test]
    fn numeric_version_and_unknown_keys() {
        assert_eq!(
            parse("cert_file: a\nkey_file: b\nmin_version: 1.2\n").unwrap().min_version,
            Some(TlsVersion::Tls12)
        );
        let e = parse("cert_file: a\nkey_file: b\nmin_version: TLS14\n").unwrap_err();
        assert!(e.contains("unknown TLS version"), "{e}");
        let e = parse("cert_file: a\nkey_file: b\ncert: inline\n").unwrap_err();
        assert!(e.contains("cert"), "{e}");
        let e = parse("cert_file: a\nkey_file: b\nclient_auth_type: Sometimes\n").unwrap_err();
        assert!(e.contains("Sometimes"), "{e}");
    }

    #[test]
    fn client_ca_defaults_to_require_and_verify() {
        let c = parse("cert_file: a\nkey_file: b\nclient_ca_file: ca\n").unwrap();
        assert_eq!(c.client_auth(), ClientAuthType::RequireAndVerifyClientCert);
        c.validate().unwrap();
    }

    #[test]
    fn contradictions_are_errors() {
        let check = |yaml: &str| parse(yaml).unwrap().validate().unwrap_err().to_string();
        assert!(check("cert_file: a\nkey_file: b\nmin_version: TLS10\n").contains("TLS 1.2 and 1.3 only"));
        assert!(check("cert_file: a\nkey_file: b\nmin_version: TLS13\nmax_version: TLS12\n").contains("newer than"));
        assert!(
            check("cert_file: a\nkey_file: b\nclient_auth_type: RequireAndVerifyClientCert\n")
                .contains("needs `client_ca_file`")
        );
        assert!(
            check("cert_file: a\nkey_file: b\nclient_ca_file: c\nclient_auth_type: NoClientCert\n")
                .contains("does not verify")
        );
        assert!(check("cert_file: \"\"\nkey_file: b\n").contains("`cert_file` must not be empty"));
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let c = parse("cert_file: tls/a.crt\nkey_file: /etc/a.key\nclient_ca_file: ca.crt\n").unwrap();
        assert_eq!(c.cert_path(), Path::new("tls/a.crt"));
        c.set_config_file(Path::new("/etc/lookout/pipeline.yaml"));
        c.set_config_file(Path::new("/elsewhere/x.yaml")); // the first file wins
        assert_eq!(c.cert_path(), Path::new("/etc/lookout/tls/a.crt"));
        assert_eq!(c.key_path(), Path::new("/etc/a.key"));
        assert_eq!(c.client_ca_path().unwrap(), Path::new("/etc/lookout/ca.crt"));
        // Clones (the running component's copy) keep the directory.
        assert_eq!(c.clone().cert_path(), Path::new("/etc/lookout/tls/a.crt"));
    }
}
