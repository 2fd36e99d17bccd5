//! [`ApiAuth`]: the API's authentication and authorization, as one axum layer over
//! every route ([`ApiAuth::layer`]).
//!
//! Per request, in this order: the web.yml is re-read if it changed (checked at most
//! once a second; a broken file is logged and the last good one kept, as
//! exporter-toolkit keeps serving with the one it has), `rate_limit` (429), the
//! route's [`Access`](super::Access), credentials (401 with `WWW-Authenticate: Basic
//! realm="lookout"`), the role (403 naming the role needed), then the handler with a
//! [`Caller`] in the request's extensions. `http_server_config.headers` go on every
//! response, refusals included.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use lookout_config::ConfigErrors;
use tracing::{error, info, warn};

use super::audit::{self, AuthFailure};
use super::credentials::{Credentials, Verifier};
use super::{Access, AuditMetrics, Caller, Role, WebConfig, load_web_config, required_access};

/// How often a request may look at the web.yml's modification time.
const RECHECK: Duration = Duration::from_secs(1);

/// The API's access control: a web.yml (or none: everything open) and its state.
#[derive(Clone)]
pub struct ApiAuth {
    inner: Arc<Inner>,
}

struct Inner {
    path: Option<PathBuf>,
    current: RwLock<Arc<Loaded>>,
    /// When the file was last looked at, and its (mtime, len) then.
    seen: Mutex<(Instant, Option<(SystemTime, u64)>)>,
    verifier: Verifier,
    metrics: AuditMetrics,
}

/// A web.yml ready to serve with.
struct Loaded {
    config: Option<WebConfig>,
    limiter: Option<DefaultDirectRateLimiter>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Loaded {
    fn new(config: Option<WebConfig>) -> Loaded {
        let limiter = config.as_ref().and_then(|c| c.rate_limit).map(|r| {
            let burst = NonZeroU32::new(r.burst).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(r.interval).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN));
            RateLimiter::direct(quota.allow_burst(burst))
        });
        let headers = config
            .iter()
            .flat_map(|c| &c.http.headers)
            .filter_map(|(k, v)| {
                Some((HeaderName::try_from(k.as_str()).ok()?, HeaderValue::try_from(v.as_str()).ok()?))
            })
            .collect();
        Loaded { config, limiter, headers }
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl ApiAuth {
    /// No web config: every route open, every caller an anonymous admin (what the API
    /// was before `api.web_config_file`).
    pub fn open(metrics: AuditMetrics) -> ApiAuth {
        ApiAuth::with(None, None, metrics)
    }

    /// Access control by the web.yml at `path`; an invalid file is an error here (at
    /// start), and only logged on later re-reads.
    pub fn from_file(path: &Path, metrics: AuditMetrics) -> Result<ApiAuth, ConfigErrors> {
        let seen = stamp(path);
        let config = load_web_config(path)?;
        if !config.requires_auth() {
            warn!(
                file = %path.display(),
                "The web config file has no basic_auth_users and no bearer_tokens: the API needs no credentials."
            );
        }
        Ok(ApiAuth::with(Some(path.to_path_buf()), Some(config), metrics).seen(seen))
    }

    fn with(path: Option<PathBuf>, config: Option<WebConfig>, metrics: AuditMetrics) -> ApiAuth {
        ApiAuth {
            inner: Arc::new(Inner {
                path,
                current: RwLock::new(Arc::new(Loaded::new(config))),
                seen: Mutex::new((Instant::now(), None)),
                verifier: Verifier::default(),
                metrics,
            }),
        }
    }

    fn seen(self, stamp: Option<(SystemTime, u64)>) -> ApiAuth {
        self.inner.seen.lock().expect("web config stamp").1 = stamp;
        self
    }

    /// The web config in effect (`None`: none configured).
    pub fn config(&self) -> Option<WebConfig> {
        self.current().config.clone()
    }

    /// The audit counters.
    pub fn metrics(&self) -> &AuditMetrics {
        &self.inner.metrics
    }

    /// Re-reads the web.yml now (`/-/reload`, SIGHUP). On error the running one stays,
    /// and the errors are returned (and logged).
    pub fn reload(&self) -> Result<(), ConfigErrors> {
        let Some(path) = &self.inner.path else { return Ok(()) };
        let stamp = stamp(path);
        self.inner.seen.lock().expect("web config stamp").1 = stamp;
        match load_web_config(path) {
            Ok(config) => {
                *self.inner.current.write().expect("web config") = Arc::new(Loaded::new(Some(config)));
                self.inner.metrics.web_config_reloaded(true);
                info!(file = %path.display(), "Web config file reloaded.");
                Ok(())
            }
            Err(errors) => {
                self.inner.metrics.web_config_reloaded(false);
                for e in &errors.0 {
                    error!(error = %e, "Web config file reload refused: keeping the running one.");
                }
                Err(errors)
            }
        }
    }

    fn current(&self) -> Arc<Loaded> {
        self.inner.current.read().expect("web config").clone()
    }

    /// The current config, re-read first if the file changed since last looked at.
    fn refreshed(&self) -> Arc<Loaded> {
        if let Some(path) = &self.inner.path {
            let changed = {
                let mut seen = self.inner.seen.lock().expect("web config stamp");
                if seen.0.elapsed() < RECHECK {
                    false
                } else {
                    seen.0 = Instant::now();
                    let now = stamp(path);
                    let changed = now.is_some() && now != seen.1;
                    if changed {
                        seen.1 = now;
                    }
                    changed
                }
            };
            if changed {
                let _ = self.reload();
            }
        }
        self.current()
    }

    /// `router` behind this access control.
    pub fn layer(&self, router: Router) -> Router {
        let auth = self.clone();
        router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            let auth = auth.clone();
            async move { auth.handle(req, next).await }
        }))
    }

    async fn handle(&self, mut req: Request, next: Next) -> Response {
        let loaded = self.refreshed();
        let remote = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let authorization = req.headers().get(header::AUTHORIZATION).map(|h| h.as_bytes().to_vec());
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let mut response = match self.decide(&loaded, &method, &path, authorization.as_deref(), remote).await {
            Ok(caller) => {
                req.extensions_mut().insert(caller);
                next.run(req).await
            }
            Err(refusal) => refusal,
        };
        for (k, v) in &loaded.headers {
            response.headers_mut().insert(k.clone(), v.clone());
        }
        response
    }

    /// The [`Caller`] when the request may go on, else the refusal.
    async fn decide(
        &self,
        loaded: &Loaded,
        method: &Method,
        path: &str,
        authorization: Option<&[u8]>,
        remote: Option<SocketAddr>,
    ) -> Result<Caller, Response> {
        let metrics = &self.inner.metrics;
        if let Some(limiter) = &loaded.limiter
            && limiter.check().is_err()
        {
            metrics.rate_limited();
            tracing::debug!(target: audit::TARGET, event = "rate_limited", remote = ?remote, path, "API request rate-limited.");
            return Err((StatusCode::TOO_MANY_REQUESTS, "429 Too Many Requests: web config rate_limit reached\n")
                .into_response());
        }
        let config = match &loaded.config {
            Some(c) if c.requires_auth() => c,
            // No web config, or one without users: open, as before web_config_file.
            _ => return Ok(Caller::new(None, Role::Admin, remote, metrics.clone())),
        };
        let required = match required_access(method, path) {
            Access::Anonymous => return Ok(Caller::new(None, Role::Viewer, remote, metrics.clone())),
            // exporter-toolkit's basic_auth_excluded_paths: open to anyone, whatever they do.
            Access::Role(r) if config.excluded_paths.iter().any(|p| *p == path) => {
                return Ok(Caller::new(None, r, remote, metrics.clone()));
            }
            Access::Role(r) => r,
        };
        let credentials = match authorization {
            None => {
                audit::authentication_failed(metrics, remote, None, AuthFailure::NoCredentials, method.as_str(), path);
                return Err(unauthorized(
                    "authentication required: send a user name and password (HTTP basic auth) or a bearer token",
                ));
            }
            Some(h) => match Credentials::parse(h) {
                Some(c) => c,
                None => {
                    audit::authentication_failed(metrics, remote, None, AuthFailure::Malformed, method.as_str(), path);
                    return Err(unauthorized(
                        "the Authorization header is neither `Basic <base64>` nor `Bearer <token>`",
                    ));
                }
            },
        };
        let name = match self.inner.verifier.verify(config, &credentials).await {
            Ok(name) => name,
            Err(reason) => {
                let attempted = match &credentials {
                    Credentials::Basic { user, .. } => Some(user.as_str()),
                    Credentials::Bearer(_) => None,
                };
                audit::authentication_failed(metrics, remote, attempted, reason, method.as_str(), path);
                let message = match reason {
                    AuthFailure::InvalidToken => "invalid bearer token",
                    _ => "wrong user name or password",
                };
                return Err(unauthorized(message));
            }
        };
        let caller = Caller::new(Some(&name), config.role_of(&name), remote, metrics.clone());
        if caller.role() < required {
            audit::authorization_refused(&caller, required, method.as_str(), path);
            let body = format!(
                "403 Forbidden: {method} {path} needs role {required}; `{name}` has role {} (set `roles: {{ {name}: {required} }}` in the web config file)\n",
                caller.role()
            );
            return Err((StatusCode::FORBIDDEN, body).into_response());
        }
        Ok(caller)
    }
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"lookout\""))],
        format!("401 Unauthorized: {message}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
