//! The `probes:` map of the pipeline file: one [`ProbeConfig`] per probe, checked into
//! a [`Probe`] (defaults applied, regex compiled, TLS roots read) before anything runs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use lookout_config::{ComponentDecl, ConfigErrors, PromDuration, Secret};
use serde::{Deserialize, Deserializer};

use crate::tls::{TlsSettings, client_config};

/// Default time between two checks of a probe.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default time one check may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default consecutive failures before a probe counts as down (Kubernetes' default).
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// Default consecutive successes before a down probe counts as up again.
pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 1;
/// Redirects followed at most (Go's `net/http` default, which blackbox_exporter uses).
pub const MAX_REDIRECTS: u32 = 10;

/// One probe as written under `probes:` (its `type` is read by the config crate).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// `http`: the URL requested (`http://` or `https://`).
    #[serde(default)]
    pub url: Option<String>,
    /// `tcp`, `grpc`: `host:port` to connect to.
    #[serde(default)]
    pub address: Option<String>,
    /// `grpc`: the service name sent in the `grpc.health.v1.Health/Check` request
    /// (default empty: the server's overall health).
    #[serde(default)]
    pub service: Option<String>,
    /// Time between two checks (default 30s).
    #[serde(default, deserialize_with = "positive_duration")]
    pub interval: Option<PromDuration>,
    /// Time one check may take, at most `interval` (default 5s or `interval`, whichever is less).
    #[serde(default, deserialize_with = "positive_duration")]
    pub timeout: Option<PromDuration>,
    /// `http`: what a successful answer looks like.
    #[serde(default)]
    pub expect: Option<ExpectConfig>,
    /// Consecutive failed checks before `lookout_probe_up` turns 0 (default 3).
    #[serde(default, deserialize_with = "at_least_one")]
    pub failure_threshold: Option<u32>,
    /// Consecutive successful checks before `lookout_probe_up` turns 1 again (default 1).
    #[serde(default, deserialize_with = "at_least_one")]
    pub success_threshold: Option<u32>,
    /// Labels added to every series of the probe.
    #[serde(default)]
    pub labels: IndexMap<String, String>,
    /// `http`: request headers.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// `http`, `grpc`: sent as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// `http`: follow 3xx redirects (default true, at most 10).
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// `http` (https URLs), `tcp`, `grpc`: connect over TLS (`tcp`, `grpc`: when set).
    #[serde(default)]
    pub tls: Option<ProbeTlsConfig>,
}

/// `expect:` of an `http` probe.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExpectConfig {
    /// Accepted status codes (default: any 2xx), blackbox_exporter's `valid_status_codes`.
    #[serde(default)]
    pub status: Vec<u16>,
    /// The body must match this regular expression (`fail_if_body_not_matches_regexp`).
    #[serde(default, deserialize_with = "regex")]
    pub body_regex: Option<regex::Regex>,
}

/// `tls:` of a probe: how the server's certificate is checked.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProbeTlsConfig {
    /// PEM file of the CA certificates to trust instead of the system's (relative to the
    /// pipeline file's directory).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Accept any certificate (expiry is still reported). Off by default.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// The name checked against the certificate (default: the host probed).
    #[serde(default)]
    pub server_name: Option<String>,
}

fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PromDuration>, D::Error> {
    let v = PromDuration::deserialize(d)?;
    if v.0.is_zero() {
        return Err(serde::de::Error::custom("must be greater than 0"));
    }
    Ok(Some(v))
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = u32::deserialize(d)?;
    if v == 0 {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(Some(v))
}

fn regex<'de, D: Deserializer<'de>>(d: D) -> Result<Option<regex::Regex>, D::Error> {
    let text = String::deserialize(d)?;
    regex::Regex::new(&text).map(Some).map_err(|e| {
        // The regex crate's message spans lines (the pattern, a caret, the reason).
        let message = e.to_string();
        let reason = message.lines().last().unwrap_or_default().trim_start_matches("error: ").to_string();
        serde::de::Error::custom(format!("invalid body_regex `{text}`: {reason}"))
    })
}

/// What a probe checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// An HTTP(S) request.
    Http,
    /// A TCP connect (and TLS handshake with `tls:`).
    Tcp,
    /// `grpc.health.v1.Health/Check`.
    Grpc,
}

impl ProbeKind {
    /// The `type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Http => "http",
            ProbeKind::Tcp => "tcp",
            ProbeKind::Grpc => "grpc",
        }
    }
}

/// A checked probe, ready to run.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Its key under `probes:`.
    pub name: String,
    /// Its `type`.
    pub kind: ProbeKind,
    /// The URL (`http`) or `host:port`; the `instance` label.
    pub target: String,
    /// Time between checks.
    pub interval: Duration,
    /// Time one check may take.
    pub timeout: Duration,
    /// Accepted HTTP status codes (empty: any 2xx).
    pub expect_status: Vec<u16>,
    /// The body must match it.
    pub body_regex: Option<regex::Regex>,
    /// Consecutive failures before down.
    pub failure_threshold: u32,
    /// Consecutive successes before up again.
    pub success_threshold: u32,
    /// Extra labels on every series.
    pub labels: IndexMap<String, String>,
    /// HTTP request headers.
    pub headers: Vec<(String, String)>,
    /// `Authorization: Bearer`.
    pub bearer_token: Option<Secret>,
    /// Follow redirects.
    pub follow_redirects: bool,
    /// TLS client settings (`None`: plain TCP, except for `https://` URLs).
    pub tls: Option<TlsSettings>,
    /// `grpc`: the service checked.
    pub service: String,
    /// The TLS settings for `https://` URLs, built whether or not `tls:` is set (the
    /// system's roots by default), and for redirects to `https://`.
    pub https: TlsSettings,
    /// What a reload compares to decide whether a running probe changed.
    pub(crate) fingerprint: Fingerprint,
}

/// The whole config of a probe, secret included, as one string: compared, never shown.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint(Arc<str>);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprint(..)")
    }
}

impl Probe {
    /// Whether two probes check the same thing the same way (a reload keeps the state
    /// of a probe whose config did not change).
    pub fn same_as(&self, other: &Probe) -> bool {
        self.fingerprint == other.fingerprint
    }
}

/// Parses and checks every probe under `probes:`; all problems at once. Relative
/// `ca_file`s are read from `base_dir` (the pipeline file's directory).
pub fn check_probes(decls: &IndexMap<String, ComponentDecl>, base_dir: &Path) -> Result<Vec<Probe>, ConfigErrors> {
    let mut probes = Vec::new();
    let mut errors = Vec::new();
    for decl in decls.values() {
        match check_probe(decl, base_dir) {
            Ok(p) => probes.push(p),
            Err(e) => errors.extend(e.0),
        }
    }
    if errors.is_empty() { Ok(probes) } else { Err(ConfigErrors(errors).sorted()) }
}

/// Parses and checks one probe declaration.
pub fn check_probe(decl: &ComponentDecl, base_dir: &Path) -> Result<Probe, ConfigErrors> {
    let name = &decl.name;
    let kind = match decl.type_name.as_str() {
        "http" => ProbeKind::Http,
        "tcp" => ProbeKind::Tcp,
        "grpc" => ProbeKind::Grpc,
        "icmp" => {
            return Err(decl
                .error(format!(
                    "probe `{name}`: type `icmp` is not supported: sending ICMP echo needs raw-socket privileges \
                     (CAP_NET_RAW) that Lookout does not ask for; probe a TCP port of the host instead (type: tcp)"
                ))
                .into());
        }
        other => {
            return Err(decl
                .error(format!("probe `{name}`: unknown probe type `{other}`, expected one of http, tcp, grpc"))
                .into());
        }
    };
    let cfg: ProbeConfig = decl.parse()?;
    let mut errors = Vec::new();
    let mut err = |m: String| errors.push(decl.error(format!("probe `{name}`: {m}")));
    let not_for = |key: &str, set: bool, err: &mut dyn FnMut(String)| {
        if set {
            err(format!("`{key}` does not apply to {} probes", kind.as_str()));
        }
    };
    let target = match kind {
        ProbeKind::Http => {
            not_for("address", cfg.address.is_some(), &mut err);
            not_for("service", cfg.service.is_some(), &mut err);
            match cfg.url.as_deref() {
                None => {
                    err("an http probe needs `url`".to_string());
                    String::new()
                }
                Some(url) => {
                    if let Err(m) = crate::http::check_url(url) {
                        err(format!("url `{url}`: {m}"));
                    }
                    url.to_string()
                }
            }
        }
        ProbeKind::Tcp | ProbeKind::Grpc => {
            not_for("url", cfg.url.is_some(), &mut err);
            not_for("expect", cfg.expect.is_some(), &mut err);
            not_for("headers", !cfg.headers.is_empty(), &mut err);
            not_for("follow_redirects", cfg.follow_redirects.is_some(), &mut err);
            if kind == ProbeKind::Tcp {
                not_for("service", cfg.service.is_some(), &mut err);
                not_for("bearer_token", cfg.bearer_token.is_some(), &mut err);
            }
            match cfg.address.as_deref() {
                None => {
                    err(format!("a {} probe needs `address` (host:port)", kind.as_str()));
                    String::new()
                }
                Some(a) => {
                    if split_host_port(a).is_none() {
                        err(format!("address `{a}` is not host:port"));
                    }
                    a.to_string()
                }
            }
        }
    };
    let interval = cfg.interval.map_or(DEFAULT_INTERVAL, PromDuration::std);
    let timeout = cfg.timeout.map_or(DEFAULT_TIMEOUT.min(interval), PromDuration::std);
    if timeout > interval {
        err(format!(
            "timeout ({}) must not be longer than interval ({})",
            PromDuration(timeout),
            PromDuration(interval)
        ));
    }
    let expect = cfg.expect.clone().unwrap_or_default();
    if let Some(bad) = expect.status.iter().find(|s| !(100..=599).contains(*s)) {
        err(format!("expect.status: {bad} is not an HTTP status code"));
    }
    for label in cfg.labels.keys() {
        if !is_label_name(label) || label.starts_with("__") {
            err(format!("labels: `{label}` is not a valid label name"));
        }
    }
    for (header, value) in &cfg.headers {
        if hyper::header::HeaderName::try_from(header.as_str()).is_err() {
            err(format!("headers: `{header}` is not a valid header name"));
        } else if hyper::header::HeaderValue::try_from(value.as_str()).is_err() {
            err(format!("headers: the value of `{header}` is not a valid header value"));
        }
    }
    if cfg.bearer_token.as_ref().is_some_and(|t| hyper::header::HeaderValue::try_from(t.expose()).is_err()) {
        err("bearer_token: not a valid header value".to_string());
    }
    let tls_cfg = cfg.tls.clone();
    let https = match client_config(tls_cfg.as_ref(), base_dir) {
        Ok(t) => Some(t),
        Err(e) => {
            err(format!("tls: {e}"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let https = https.expect("checked above");
    let fingerprint = format!(
        "{}|{:?}|{}",
        decl.type_name,
        cfg_fingerprint(&cfg),
        cfg.bearer_token.as_ref().map_or("", |t| t.expose())
    );
    Ok(Probe {
        name: name.clone(),
        kind,
        target,
        interval,
        timeout,
        expect_status: expect.status,
        body_regex: expect.body_regex,
        failure_threshold: cfg.failure_threshold.unwrap_or(DEFAULT_FAILURE_THRESHOLD),
        success_threshold: cfg.success_threshold.unwrap_or(DEFAULT_SUCCESS_THRESHOLD),
        labels: cfg.labels.clone(),
        headers: cfg.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        bearer_token: cfg.bearer_token.clone(),
        follow_redirects: cfg.follow_redirects.unwrap_or(true),
        tls: cfg.tls.is_some().then(|| https.clone()),
        service: cfg.service.clone().unwrap_or_default(),
        https,
        fingerprint: Fingerprint(Arc::from(fingerprint)),
    })
}

/// Everything but the secret (Debug redacts it), for [`Probe::same_as`].
fn cfg_fingerprint(cfg: &ProbeConfig) -> String {
    format!("{cfg:?}")
}

/// `host:port` (IPv6 as `[::1]:port`) → host and port.
pub(crate) fn split_host_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port: u16 = port.parse().ok()?;
    (!host.is_empty() && port != 0).then_some((host, port))
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
