//! `web.yml`: the web configuration file of Prometheus's exporter-toolkit (the one
//! Prometheus and Alertmanager read with `--web.config.file`), plus Lookout's `roles`
//! and `bearer_tokens`.
//!
//! Parsed as exporter-toolkit parses it (`getConfig` in `web/tls_config.go`): strict
//! YAML (an unknown key is an error, like `yaml.UnmarshalStrict`), every
//! `basic_auth_users` value must be a bcrypt hash (`validateUsers`), the
//! `http_server_config.headers` are limited to the five security headers with their
//! enumerated values (`validateHeaderConfig`), `http2` defaults to true, and relative
//! paths in `tls_server_config` resolve against the directory of the file
//! (`TLSConfig.SetDirectory`). Errors point at `FILE:LINE:COL`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use lookout_config::{ConfigError, ConfigErrors, Position, TlsConfig};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Role;

/// A parsed, validated `web.yml`.
#[derive(Clone)]
pub struct WebConfig {
    /// The file it was read from.
    pub file: Arc<str>,
    /// `tls_server_config`, with relative paths already resolved against the file's
    /// directory; `None` when absent or empty (the API stays plain HTTP).
    pub tls: Option<TlsConfig>,
    /// `http_server_config`.
    pub http: HttpServerConfig,
    /// `rate_limit`, when its interval is not zero.
    pub rate_limit: Option<RateLimit>,
    /// `basic_auth_users`: user name → bcrypt hash.
    pub users: IndexMap<String, String>,
    /// `bearer_tokens`: name → SHA-256 of the token.
    pub tokens: IndexMap<String, [u8; 32]>,
    /// `roles`: user or token name → role; names absent here are viewers.
    pub roles: IndexMap<String, Role>,
    /// `basic_auth_excluded_paths`: exact paths served to anyone, without credentials.
    pub excluded_paths: Vec<String>,
}

impl std::fmt::Debug for WebConfig {
    // Hashes stay out of logs: a bcrypt hash of a weak password is one dictionary away.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("file", &self.file)
            .field("tls", &self.tls.is_some())
            .field("http", &self.http)
            .field("rate_limit", &self.rate_limit)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("tokens", &self.tokens.keys().collect::<Vec<_>>())
            .field("roles", &self.roles)
            .field("excluded_paths", &self.excluded_paths)
            .finish()
    }
}

impl WebConfig {
    /// Whether the file asks for authentication at all. Like exporter-toolkit, a file
    /// without users (and, here, without tokens) leaves every route open.
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty() || !self.tokens.is_empty()
    }

    /// The role of a user or token name.
    pub fn role_of(&self, name: &str) -> Role {
        self.roles.get(name).copied().unwrap_or(Role::Viewer)
    }
}

/// `http_server_config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpServerConfig {
    /// `http2` (default true); only meaningful with TLS, and read once at start.
    pub http2: bool,
    /// `headers`: added to every response.
    pub headers: IndexMap<String, String>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig { http2: true, headers: IndexMap::new() }
    }
}

/// `rate_limit`: a token bucket over every request (`rate.NewLimiter(rate.Every(interval), burst)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// One request is allowed per interval on average.
    pub interval: Duration,
    /// Requests allowed at once.
    pub burst: u32,
}

/// The headers exporter-toolkit lets a web.yml set, with their allowed values (empty:
/// any value). Private there "to ensure consistency in the Prometheus ecosystem".
const EXTRA_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    http_server_config: Option<RawHttpConfig>,
    #[serde(default)]
    rate_limit: Option<RawRateLimit>,
    #[serde(default)]
    basic_auth_users: Option<IndexMap<Spanned<String>, Spanned<String>>>,
    #[serde(default)]
    basic_auth_excluded_paths: Option<Vec<String>>,
    #[serde(default)]
    bearer_tokens: Option<IndexMap<Spanned<String>, Spanned<String>>>,
    #[serde(default)]
    roles: Option<IndexMap<Spanned<String>, Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpConfig {
    #[serde(default)]
    http2: Option<bool>,
    #[serde(default)]
    headers: Option<IndexMap<Spanned<String>, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    #[serde(default)]
    interval: Option<Spanned<String>>,
    #[serde(default)]
    burst: Option<u32>,
}

/// Reads and validates the web.yml at `path`.
pub fn load_web_config(path: &Path) -> Result<WebConfig, ConfigErrors> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            Position { file: file.clone(), line: 1, column: 1 },
            format!("cannot read web config file: {e}"),
        )
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_web_config(&file, &text, &dir)
}

/// Parses web.yml `text` (named `file` in errors); relative TLS paths resolve against `dir`.
pub fn parse_web_config(file: &str, text: &str, dir: &Path) -> Result<WebConfig, ConfigErrors> {
    let file: Arc<str> = Arc::from(file);
    let at = |loc: &serde_saphyr::Location| Position { file: file.clone(), line: loc.line(), column: loc.column() };
    // An empty file is an empty config, as for yaml.v2.
    let raw: RawWebConfig = if text.trim().is_empty() {
        RawWebConfig {
            tls_server_config: None,
            http_server_config: None,
            rate_limit: None,
            basic_auth_users: None,
            basic_auth_excluded_paths: None,
            bearer_tokens: None,
            roles: None,
        }
    } else {
        serde_saphyr::from_str(text).map_err(|e| ConfigError::from_yaml(&file, &e, None))?
    };
    let mut errors = Vec::new();

    let mut users = IndexMap::new();
    for (name, hash) in raw.basic_auth_users.unwrap_or_default() {
        if let Err(e) = hash.value.parse::<bcrypt::HashParts>() {
            errors.push(ConfigError::new(
                at(&hash.referenced),
                format!("basic_auth_users.{}: not a bcrypt hash ($2y$, $2a$ or $2b$): {e}", name.value),
            ));
        }
        users.insert(name.value, hash.value);
    }

    let mut tokens = IndexMap::new();
    for (name, digest) in raw.bearer_tokens.unwrap_or_default() {
        if users.contains_key(&name.value) {
            errors.push(ConfigError::new(
                at(&name.referenced),
                format!("bearer_tokens.{0}: `{0}` is also a basic_auth_users name; names must be unique", name.value),
            ));
        }
        match parse_sha256(&digest.value) {
            Some(d) => {
                tokens.insert(name.value, d);
            }
            None => errors.push(ConfigError::new(
                at(&digest.referenced),
                format!(
                    "bearer_tokens.{}: expected `sha256:` and 64 hex digits (the SHA-256 of the token, e.g. from `printf %s TOKEN | sha256sum`)",
                    name.value
                ),
            )),
        }
    }

    let mut roles = IndexMap::new();
    for (name, role) in raw.roles.unwrap_or_default() {
        if !users.contains_key(&name.value) && !tokens.contains_key(&name.value) {
            errors.push(ConfigError::new(
                at(&name.referenced),
                format!("roles.{}: no such user in basic_auth_users or bearer_tokens", name.value),
            ));
        }
        match Role::parse(&role.value) {
            Some(r) => {
                roles.insert(name.value, r);
            }
            None => errors.push(ConfigError::new(
                at(&role.referenced),
                format!("roles.{}: unknown role `{}`; expected viewer, editor or admin", name.value, role.value),
            )),
        }
    }

    let mut http = HttpServerConfig::default();
    if let Some(h) = raw.http_server_config {
        http.http2 = h.http2.unwrap_or(true);
        for (name, value) in h.headers.unwrap_or_default() {
            match EXTRA_HEADERS.iter().find(|(n, _)| *n == name.value) {
                None => errors.push(ConfigError::new(
                    at(&name.referenced),
                    format!("HTTP header {:?} can not be configured", name.value),
                )),
                Some((_, allowed)) if !allowed.is_empty() && !allowed.contains(&value.as_str()) => {
                    errors.push(ConfigError::new(
                        at(&name.referenced),
                        format!("invalid value for {}. Expected one of: {allowed:?}, but got: {value:?}", name.value),
                    ));
                }
                Some(_) => {
                    http.headers.insert(name.value, value);
                }
            }
        }
    }

    let mut rate_limit = None;
    if let Some(r) = raw.rate_limit {
        let interval = match &r.interval {
            None => Duration::ZERO,
            Some(s) => match lookout_config::PromDuration::parse(&s.value) {
                Ok(d) => d.std(),
                Err(e) => {
                    errors.push(ConfigError::new(at(&s.referenced), format!("rate_limit.interval: {e}")));
                    Duration::ZERO
                }
            },
        };
        if !interval.is_zero() {
            match r.burst {
                Some(burst) if burst > 0 => rate_limit = Some(RateLimit { interval, burst }),
                // Go's limiter with burst 0 refuses every request: surely not what was meant.
                _ => errors.push(ConfigError::new(
                    r.interval
                        .as_ref()
                        .map_or(Position { file: file.clone(), line: 1, column: 1 }, |s| at(&s.referenced)),
                    "rate_limit.burst must be at least 1 when rate_limit.interval is set",
                )),
            }
        }
    }

    // An empty section is no TLS (`TLSConfig.IsEnabled`); the keys are
    // lookout_config::TlsConfig's, the listener TLS every Lookout listener shares.
    let mut tls = None;
    if let Some(section) = raw.tls_server_config.filter(|s| !s.value.is_null() && s.value != serde_json::json!({})) {
        match serde_json::from_value::<TlsConfig>(section.value) {
            Ok(t) => {
                t.set_base_dir(dir);
                match t.validate() {
                    Ok(()) => tls = Some(t),
                    Err(e) => errors.push(ConfigError::new(at(&section.referenced), format!("tls_server_config: {e}"))),
                }
            }
            Err(e) => errors.push(ConfigError::new(at(&section.referenced), format!("tls_server_config: {e}"))),
        }
    }

    if !errors.is_empty() {
        return Err(ConfigErrors(errors).sorted());
    }
    let excluded_paths = raw.basic_auth_excluded_paths.unwrap_or_default();
    Ok(WebConfig { file, tls, http, rate_limit, users, tokens, roles, excluded_paths })
}

/// `sha256:<64 hex digits>` → the digest.
fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    let hex = s.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
