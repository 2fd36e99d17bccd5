//! Who may call the API: `api.web_config_file`, a `web.yml` in the format of
//! Prometheus's exporter-toolkit (what Prometheus and Alertmanager read with
//! `--web.config.file`), with Lookout's `roles` and `bearer_tokens` added.
//!
//! ```yaml
//! tls_server_config: { cert_file: tls/lookout.crt, key_file: tls/lookout.key }
//! basic_auth_users: { alice: $2y$10$..., bob: $2y$10$... }   # bcrypt hashes
//! bearer_tokens: { ci-bot: "sha256:<hex of the SHA-256 of the token>" }
//! roles: { alice: admin, ci-bot: editor }                    # default: viewer
//! ```
//!
//! * [`config`]: parsing and validating the file, exactly as exporter-toolkit does.
//! * [`routes`]: the role every route needs ([`required_access`]).
//! * [`credentials`]: checking a basic-auth password (bcrypt, cached) or a bearer token.
//! * [`middleware`]: the axum layer over the whole API ([`ApiAuth::layer`]): 401 with
//!   `WWW-Authenticate` for missing or wrong credentials, 403 naming the role needed,
//!   the caller put into the request's extensions as a [`Caller`], the file re-read
//!   when it changes (the last good one kept when the new one is broken).
//! * [`audit`]: the audit trail (target `lookout::audit`) and its counters.
//! * [`reload`]: `POST`/`PUT /-/reload`, admin only, audited.
//!
//! Without `api.web_config_file` the layer still runs, so every request carries a
//! [`Caller`] (anonymous, admin) and the audit trail still records who did what.

pub mod audit;
pub mod config;
pub mod credentials;
pub mod middleware;
pub mod reload;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

pub use audit::AuditMetrics;
pub use config::{HttpServerConfig, RateLimit, WebConfig, load_web_config, parse_web_config};
pub use middleware::ApiAuth;
pub use routes::{Access, required_access};

/// What a caller may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Every read (`GET`/`HEAD`).
    Viewer,
    /// Viewer, plus posting alerts and creating, updating and expiring silences.
    Editor,
    /// Editor, plus reloading and the status and configuration routes.
    Admin,
}

impl Role {
    /// `viewer`, `editor` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// The role named `s` (`viewer`, `editor`, `admin`).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a request, put into its extensions by [`ApiAuth::layer`] so handlers can
/// record "by whom" (`Option<axum::Extension<Caller>>` in a handler's arguments).
#[derive(Clone)]
pub struct Caller {
    user: Option<Arc<str>>,
    role: Role,
    remote: Option<SocketAddr>,
    metrics: AuditMetrics,
}

impl Caller {
    /// A caller for `user` (`None`: anonymous) with `role`.
    pub fn new(user: Option<&str>, role: Role, remote: Option<SocketAddr>, metrics: AuditMetrics) -> Caller {
        Caller { user: user.map(Arc::from), role, remote, metrics }
    }

    /// The user or token name, or `anonymous` (no web config, or an open route).
    pub fn user(&self) -> &str {
        self.user.as_deref().unwrap_or("anonymous")
    }

    /// Whether the caller proved who they are.
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's address, when the listener recorded it.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// The audit counters.
    pub fn metrics(&self) -> &AuditMetrics {
        &self.metrics
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("user", &self.user())
            .field("role", &self.role)
            .field("remote", &self.remote)
            .finish()
    }
}
