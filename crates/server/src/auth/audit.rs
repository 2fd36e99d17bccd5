//! The audit trail: who changed silences, who reloaded, who failed to sign in, who was
//! refused. Each is one structured `tracing` event with target `lookout::audit` (so a
//! log pipeline can route them with `RUST_LOG`-style filters or by target) and one
//! counter on `/metrics`, logged and counted together by the functions here.
//!
//! | event (`event` field) | level | fields | counter |
//! |---|---|---|---|
//! | `silence_created`, `silence_updated`, `silence_expired` | INFO | `user`, `remote`, `silence_id`, `matchers`, `created_by` | `lookout_audit_silence_changes_total{action}` |
//! | `reload` | INFO / ERROR | `user`, `remote`, `result`, `error` | `lookout_audit_reloads_total{result}` |
//! | `authentication_failed` | WARN | `remote`, `user` (attempted), `reason`, `method`, `path` | `lookout_api_authentication_failures_total{reason}` |
//! | `authorization_refused` | WARN | `user`, `role`, `required_role`, `remote`, `method`, `path` | `lookout_api_authorization_refusals_total{required_role}` |
//! | `rate_limited` | DEBUG | `remote`, `path` | `lookout_api_rate_limited_requests_total` |

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::{error, info, warn};

use super::{Caller, Role};

/// The target of every audit event.
pub const TARGET: &str = "lookout::audit";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabel {
    required_role: &'static str,
}

#[derive(Default)]
struct Families {
    silences: Family<ActionLabel, Counter>,
    reloads: Family<ResultLabel, Counter>,
    auth_failures: Family<ReasonLabel, Counter>,
    refusals: Family<RoleLabel, Counter>,
    rate_limited: Counter,
    web_config_reloads: Family<ResultLabel, Counter>,
    web_config_ok: Gauge,
}

/// The audit counters; clones share them.
#[derive(Clone, Default)]
pub struct AuditMetrics {
    f: Arc<Families>,
}

impl AuditMetrics {
    /// Fresh, unregistered counters.
    pub fn new() -> AuditMetrics {
        let m = AuditMetrics::default();
        m.f.web_config_ok.set(1);
        m
    }

    /// Registers every family in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let f = &self.f;
        registry.register(
            "lookout_audit_silence_changes",
            "Silences created, updated or expired through the API, by action.",
            f.silences.clone(),
        );
        registry.register("lookout_audit_reloads", "Reloads requested through the API, by result.", f.reloads.clone());
        registry.register(
            "lookout_api_authentication_failures",
            "API requests refused with 401, by reason (no_credentials, unknown_user, wrong_password, invalid_token, malformed).",
            f.auth_failures.clone(),
        );
        registry.register(
            "lookout_api_authorization_refusals",
            "API requests refused with 403 (authenticated, role too low), by the role the route needs.",
            f.refusals.clone(),
        );
        registry.register(
            "lookout_api_rate_limited_requests",
            "API requests refused with 429 by web.yml's rate_limit.",
            f.rate_limited.clone(),
        );
        registry.register(
            "lookout_api_web_config_reloads",
            "Re-reads of api.web_config_file after it changed, by result.",
            f.web_config_reloads.clone(),
        );
        registry.register(
            "lookout_api_web_config_last_reload_successful",
            "1 when the last read of api.web_config_file succeeded (0: running the last good one).",
            f.web_config_ok.clone(),
        );
    }

    pub(crate) fn web_config_reloaded(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.f.web_config_reloads.get_or_create(&ResultLabel { result }).inc();
        self.f.web_config_ok.set(i64::from(ok));
    }

    pub(crate) fn rate_limited(&self) {
        self.f.rate_limited.inc();
    }
}

/// What happened to a silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceAction {
    /// A new silence.
    Created,
    /// An existing silence changed (`POST` with its id).
    Updated,
    /// A silence expired (`DELETE`).
    Expired,
}

impl SilenceAction {
    fn as_str(self) -> &'static str {
        match self {
            SilenceAction::Created => "created",
            SilenceAction::Updated => "updated",
            SilenceAction::Expired => "expired",
        }
    }
}

fn remote(r: Option<SocketAddr>) -> String {
    r.map_or_else(|| "-".to_string(), |a| a.to_string())
}

/// Records a silence change by `caller` (`None`: the API ran without the auth layer).
/// `matchers` is the silence's matchers as `{a="b", c=~"d"}`; `created_by` what the
/// request body claimed, kept apart from the authenticated `user`.
pub fn silence(caller: Option<&Caller>, action: SilenceAction, silence_id: &str, matchers: &str, created_by: &str) {
    let user = caller.map_or("anonymous", Caller::user);
    info!(
        target: TARGET,
        event = %format_args!("silence_{}", action.as_str()),
        user,
        remote = %remote(caller.and_then(Caller::remote)),
        silence_id,
        matchers,
        created_by,
        "Silence {} by {user}.", action.as_str()
    );
    if let Some(c) = caller {
        c.metrics.f.silences.get_or_create(&ActionLabel { action: action.as_str() }).inc();
    }
}

/// Records a reload requested by `caller`, and how it went.
pub fn reload(caller: Option<&Caller>, result: Result<(), &str>) {
    let user = caller.map_or("anonymous", Caller::user);
    let remote = remote(caller.and_then(Caller::remote));
    if let Err(e) = result {
        error!(
            target: TARGET, event = "reload", user, remote, result = "failure", error = e,
            "Reload requested by {user} failed; the running configuration stays."
        );
    } else {
        info!(target: TARGET, event = "reload", user, remote, result = "success", "Reload requested by {user}: done.");
    }
    if let Some(c) = caller {
        let result = if result.is_ok() { "success" } else { "failure" };
        c.metrics.f.reloads.get_or_create(&ResultLabel { result }).inc();
    }
}

/// Why a request got 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    NoCredentials,
    /// An `Authorization` header that is neither `Basic` nor `Bearer`, or not decodable.
    Malformed,
    /// A basic-auth user name not in `basic_auth_users`.
    UnknownUser,
    /// A known user with the wrong password.
    WrongPassword,
    /// A bearer token matching no `bearer_tokens` entry.
    InvalidToken,
}

impl AuthFailure {
    /// The `reason` label and field.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::NoCredentials => "no_credentials",
            AuthFailure::Malformed => "malformed",
            AuthFailure::UnknownUser => "unknown_user",
            AuthFailure::WrongPassword => "wrong_password",
            AuthFailure::InvalidToken => "invalid_token",
        }
    }
}

pub(crate) fn authentication_failed(
    metrics: &AuditMetrics,
    remote_addr: Option<SocketAddr>,
    attempted_user: Option<&str>,
    reason: AuthFailure,
    method: &str,
    path: &str,
) {
    metrics.f.auth_failures.get_or_create(&ReasonLabel { reason: reason.as_str() }).inc();
    // A request without credentials is how browsers and most clients start: not worth a
    // warning each time.
    if reason == AuthFailure::NoCredentials {
        info!(
            target: TARGET, event = "authentication_failed", remote = %remote(remote_addr), reason = reason.as_str(),
            method, path, "API request without credentials refused."
        );
    } else {
        warn!(
            target: TARGET, event = "authentication_failed", remote = %remote(remote_addr),
            user = attempted_user.unwrap_or("-"), reason = reason.as_str(), method, path,
            "API authentication failed."
        );
    }
}

pub(crate) fn authorization_refused(caller: &Caller, required: Role, method: &str, path: &str) {
    caller.metrics.f.refusals.get_or_create(&RoleLabel { required_role: required.as_str() }).inc();
    warn!(
        target: TARGET, event = "authorization_refused", user = caller.user(), role = caller.role.as_str(),
        required_role = required.as_str(), remote = %remote(caller.remote), method, path,
        "API request refused: role too low."
    );
}
