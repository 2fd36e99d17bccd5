//! Authentication of OTLP requests: the bearer token, checked before the body is read.
//!
//! One [`Authenticator`] per `otlp` source holds the loaded tenants file (re-read when
//! it changes, keeping the last good one), the per-tenant state cache, and the audit
//! trail of failures. [`guard`] is the axum middleware both listeners run first: HTTP
//! `Authorization: Bearer <token>` and gRPC metadata `authorization` are the same
//! HTTP/2 header, which is what OTel SDKs send from `OTEL_EXPORTER_OTLP_HEADERS`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use lookout_component::Shutdown;
use lookout_config::ConfigErrors;

use super::directory;
use super::file::Tenants;
use super::limits::TenantState;
use super::metrics::{AuthFailure, AuthLabels, metrics};
use crate::otlp::Rejection;

/// Idle tenants' state (limiters, counter handles) is dropped after this.
const TENANT_IDLE: Duration = Duration::from_secs(600);
/// How often the tenants file is checked for changes.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// A request that passed authentication: its tenant's state. Put in the request's
/// extensions by [`guard`] for the handlers.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The tenant's state.
    pub state: Arc<TenantState>,
    /// Whether the request's bytes were already charged from its `Content-Length`.
    pub bytes_charged: bool,
}

/// One `otlp` source's authentication.
pub struct Authenticator {
    source: String,
    path: PathBuf,
    owner: u64,
    /// Where the tenants' `max_series` apply.
    store: Arc<lookout_tsdb::Store>,
    tenants: RwLock<Arc<Tenants>>,
    /// The file's modification time and length when last read.
    seen: RwLock<Option<(SystemTime, u64)>>,
    states: moka::sync::Cache<Arc<str>, Arc<TenantState>>,
    /// Audit log events for failures: at most a few per second, the rest counted.
    audit: DefaultDirectRateLimiter,
    suppressed: AtomicU64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("source", &self.source).field("path", &self.path).finish()
    }
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Authenticator {
    /// Loads the tenants file at `path` for source `source`, whose tenants' series
    /// limits apply to `store`.
    pub fn load(
        source: &str,
        path: PathBuf,
        store: Arc<lookout_tsdb::Store>,
    ) -> Result<Arc<Authenticator>, ConfigErrors> {
        let seen = stamp(&path);
        let tenants = Arc::new(Tenants::load(&path)?);
        let owner = directory::owner_id();
        directory::publish(owner, tenants.clone(), &store);
        Ok(Arc::new(Authenticator {
            source: source.to_string(),
            path,
            owner,
            store,
            tenants: RwLock::new(tenants),
            seen: RwLock::new(seen),
            states: moka::sync::Cache::builder().time_to_idle(TENANT_IDLE).build(),
            audit: RateLimiter::direct(
                Quota::per_second(std::num::NonZeroU32::new(5).expect("5 > 0"))
                    .allow_burst(std::num::NonZeroU32::new(20).expect("20 > 0")),
            ),
            suppressed: AtomicU64::new(0),
        }))
    }

    /// Re-reads the tenants file; a file that does not load leaves the running table in
    /// place. Returns whether the table was replaced.
    pub fn reload(&self) -> bool {
        *self.seen.write().expect("seen lock") = stamp(&self.path);
        match Tenants::load(&self.path) {
            Ok(t) => {
                let t = Arc::new(t);
                directory::publish(self.owner, t.clone(), &self.store);
                *self.tenants.write().expect("tenants lock") = t;
                // New limits take effect with fresh state (counters continue: they
                // live in the metric families).
                self.states.invalidate_all();
                tracing::info!(source = %self.source, file = %self.path.display(), "Tenants file reloaded.");
                true
            }
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!(source = %self.source, error = %e, "Tenants file not reloaded: keeping the last good one.");
                }
                false
            }
        }
    }

    /// Re-reads the tenants file whenever it changes, until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: Shutdown) {
        let mut ticker = lookout_component::Ticker::new(WATCH_EVERY, shutdown);
        while ticker.tick().await {
            let now = stamp(&self.path);
            if now.is_some() && now != *self.seen.read().expect("seen lock") {
                self.reload();
            }
        }
    }

    /// The tenant whose token `headers` carry, with its state.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<TenantState>, AuthFailure> {
        let token = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            .and_then(|v| {
                let (scheme, rest) = v.split_at_checked(7)?;
                scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
            })
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty());
        let Some(token) = token else { return Err(AuthFailure::missing) };
        let tenant = self.tenants.read().expect("tenants lock").authenticate(token).cloned();
        let tenant = tenant.ok_or(AuthFailure::invalid)?;
        Ok(self.states.get_with_by_ref(&tenant.name, || Arc::new(TenantState::new(tenant.clone()))))
    }

    /// Counts a failure and writes it to the audit trail (rate-limited: the events
    /// left out are counted in the next one's `suppressed`).
    fn audit(&self, reason: AuthFailure, transport: &'static str, headers: &HeaderMap) {
        metrics().auth_failures.get_or_create(&AuthLabels { source: self.source.clone(), reason }).inc();
        if self.audit.check().is_err() {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
        tracing::warn!(
            target: "lookout::audit",
            event = "ingest_auth_failure",
            source = %self.source,
            transport,
            reason = ?reason,
            user_agent,
            suppressed = self.suppressed.swap(0, Ordering::Relaxed),
            "OTLP request refused: missing or unknown token."
        );
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        directory::withdraw(self.owner, &self.store);
    }
}

/// How a listener answers a refused request in its own protocol.
pub type Reject = fn(&Rejection, &HeaderMap) -> Response;

/// The middleware's state.
#[derive(Clone)]
pub struct Guard {
    /// The source's authenticator.
    pub auth: Arc<Authenticator>,
    /// `http` or `grpc` (audit events).
    pub transport: &'static str,
    /// The listener's error answer.
    pub reject: Reject,
}

/// Authenticates a request before its body is read, and refuses it early when its
/// `Content-Length` is over the tenant's `max_request_size` or `bytes_per_second`.
pub async fn guard(State(g): State<Guard>, mut request: Request, next: Next) -> Response {
    let state = match g.auth.authenticate(request.headers()) {
        Ok(s) => s,
        Err(reason) => {
            g.auth.audit(reason, g.transport, request.headers());
            let why = match reason {
                AuthFailure::missing => "missing bearer token: send `authorization: Bearer <token>`",
                AuthFailure::invalid => "invalid bearer token",
            };
            return (g.reject)(&Rejection::Unauthenticated(why.into()), request.headers());
        }
    };
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(len) = declared
        && let Err(r) = state.check_size(len).and_then(|()| state.take_bytes(len))
    {
        return (g.reject)(&r, request.headers());
    }
    request.extensions_mut().insert(Authenticated { state, bytes_charged: declared.is_some() });
    next.run(request).await
}
