//! A **test double** of Google's OAuth 2.0 token endpoint and the Compute Engine API's
//! managed instance groups, for the `gcp_mig` actuator's end-to-end tests. Google's services
//! cannot run here, so this is written from Google's published references ("Using OAuth 2.0
//! for Server to Server Applications", Compute Engine API v1 `instanceGroupManagers.get` /
//! `.resize`, `regionInstanceGroupManagers.get` / `.resize`, the `Operation` resource and
//! the JSON error format); it is not Google. What it reproduces:
//!
//! - `POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and
//!   `assertion=JWT`: the JWT's RS256 signature is verified against the service account's
//!   public key, its header (`alg`, `kid`) and claims (`iss` = the account, `aud` = this
//!   token URL, a compute scope, `exp - iat` ≤ 3600, `iat` near now) checked. Bad
//!   assertions get `400 {"error": "invalid_grant", "error_description": ...}`; good ones
//!   `{"access_token": "ya29.…", "expires_in": 3599, "token_type": "Bearer"}`.
//! - `GET /compute/v1/projects/{p}/{zones/{z}|regions/{r}}/instanceGroupManagers/{name}`:
//!   an `InstanceGroupManager` (`targetSize`, `currentActions`, `status.isStable`, ...);
//!   `POST .../{name}/resize?size=N[&requestId=UUID]`: an `Operation`
//!   (`compute.instanceGroupManagers.resize`, `RUNNING`), the group's `targetSize` set; a
//!   repeated `requestId` returns the first operation without acting again.
//! - Errors in Google's shape `{"error": {"code", "message", "errors": [{"message",
//!   "domain", "reason"}], "status"}}`: 401 `authError` / `UNAUTHENTICATED` without a valid
//!   bearer token, 404 `notFound`, 400 `invalid` for a bad `size`.
//!
//! Fault injection: [`GcpReceiver::revoke_tokens`] (every issued token answers 401),
//! [`GcpReceiver::throttle_next`] (the next N API calls answer 429 `rateLimitExceeded` /
//! `RESOURCE_EXHAUSTED` with `Retry-After: 1`), [`GcpReceiver::set_not_ready`] (resizes
//! answer 400 `resourceNotReady`, as while another operation runs on the group).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

struct State {
    base: String,
    client_email: String,
    /// DER RSAPublicKey of the service account's key.
    public_key: Vec<u8>,
    /// `(project, "zones/z" | "regions/r", name)` → targetSize.
    groups: Mutex<HashMap<(String, String, String), i64>>,
    tokens: Mutex<HashSet<String>>,
    request_ids: Mutex<HashMap<String, Value>>,
    throttle_next: AtomicUsize,
    not_ready: AtomicBool,
    token_requests: AtomicUsize,
    rejected_assertions: AtomicUsize,
    unauthorized: AtomicUsize,
    throttled: AtomicUsize,
    resizes: Mutex<Vec<(String, i64)>>,
}

/// A running Google OAuth + Compute Engine test double on 127.0.0.1.
#[derive(Clone)]
pub struct GcpReceiver {
    /// Base URL (the actuator's `endpoint`), e.g. `http://127.0.0.1:40123`.
    pub url: String,
    state: Arc<State>,
}

fn google_error(status: StatusCode, reason: &str, status_name: &str, message: &str) -> Response {
    let body = json!({"error": {
        "code": status.as_u16(),
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": status_name,
    }});
    (status, axum::Json(body)).into_response()
}

fn token_error(description: &str) -> Response {
    let body = json!({"error": "invalid_grant", "error_description": description});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

impl GcpReceiver {
    /// Starts listening on a free port; `public_key` is the DER RSAPublicKey of
    /// `client_email`'s key.
    pub async fn start(client_email: &str, public_key: Vec<u8>) -> GcpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            base: url.clone(),
            client_email: client_email.to_string(),
            public_key,
            groups: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashSet::new()),
            request_ids: Mutex::new(HashMap::new()),
            throttle_next: AtomicUsize::new(0),
            not_ready: AtomicBool::new(false),
            token_requests: AtomicUsize::new(0),
            rejected_assertions: AtomicUsize::new(0),
            unauthorized: AtomicUsize::new(0),
            throttled: AtomicUsize::new(0),
            resizes: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let state = shared.clone();
            async move { state.handle(req).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GcpReceiver { url, state }
    }

    /// Creates a group; `location` is `zones/{zone}` or `regions/{region}`.
    pub fn add_group(&self, project: &str, location: &str, name: &str, target_size: i64) {
        let key = (project.to_string(), location.to_string(), name.to_string());
        self.state.groups.lock().unwrap().insert(key, target_size);
    }

    /// A group's `targetSize`.
    pub fn target_size(&self, project: &str, location: &str, name: &str) -> Option<i64> {
        let key = (project.to_string(), location.to_string(), name.to_string());
        self.state.groups.lock().unwrap().get(&key).copied()
    }

    /// Every issued token stops working (401).
    pub fn revoke_tokens(&self) {
        self.state.tokens.lock().unwrap().clear();
    }

    /// The next `n` API calls answer 429.
    pub fn throttle_next(&self, n: usize) {
        self.state.throttle_next.store(n, Ordering::SeqCst);
    }

    /// While set, resizes answer 400 `resourceNotReady`.
    pub fn set_not_ready(&self, on: bool) {
        self.state.not_ready.store(on, Ordering::SeqCst);
    }

    /// Tokens issued.
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// Assertions refused (bad signature or claims).
    pub fn rejected_assertions(&self) -> usize {
        self.state.rejected_assertions.load(Ordering::SeqCst)
    }

    /// API calls answered 401.
    pub fn unauthorized(&self) -> usize {
        self.state.unauthorized.load(Ordering::SeqCst)
    }

    /// API calls answered 429.
    pub fn throttled(&self) -> usize {
        self.state.throttled.load(Ordering::SeqCst)
    }

    /// Applied resizes, `(group path, size)`, in order.
    pub fn resizes(&self) -> Vec<(String, i64)> {
        self.state.resizes.lock().unwrap().clone()
    }
}

impl State {
    async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        let query: HashMap<String, String> = Query::try_from_uri(req.uri()).map(|Query(q)| q).unwrap_or_default();
        let (method, headers) = (req.method().clone(), req.headers().clone());
        let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
        if path == "/token" && method == Method::POST {
            return self.token(&body);
        }
        let Some(rest) = path.strip_prefix("/compute/v1/projects/") else {
            return google_error(StatusCode::NOT_FOUND, "notFound", "NOT_FOUND", "Not Found");
        };
        // {project}/{zones|regions}/{loc}/instanceGroupManagers/{name}[/resize]
        let parts: Vec<&str> = rest.split('/').collect();
        let (project, location, name, action) = match parts.as_slice() {
            [p, kind @ ("zones" | "regions"), loc, "instanceGroupManagers", name] => {
                (*p, format!("{kind}/{loc}"), *name, None)
            }
            [p, kind @ ("zones" | "regions"), loc, "instanceGroupManagers", name, action] => {
                (*p, format!("{kind}/{loc}"), *name, Some(*action))
            }
            _ => return google_error(StatusCode::NOT_FOUND, "notFound", "NOT_FOUND", "Not Found"),
        };
        if let Err(r) = self.authorize(&headers) {
            return *r;
        }
        if self.throttle_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            self.throttled.fetch_add(1, Ordering::SeqCst);
            let mut r = google_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rateLimitExceeded",
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'compute.googleapis.com'.",
            );
            r.headers_mut().insert("retry-after", "1".parse().unwrap());
            return r;
        }
        let key = (project.to_string(), location.clone(), name.to_string());
        let self_link = format!("{}/compute/v1/projects/{project}/{location}/instanceGroupManagers/{name}", self.base);
        let Some(size) = self.groups.lock().unwrap().get(&key).copied() else {
            let msg =
                format!("The resource 'projects/{project}/{location}/instanceGroupManagers/{name}' was not found");
            return google_error(StatusCode::NOT_FOUND, "notFound", "NOT_FOUND", &msg);
        };
        match (method, action) {
            (Method::GET, None) => {
                let mut igm = json!({
                    "kind": "compute#instanceGroupManager",
                    "id": "4589613425371263123",
                    "name": name,
                    "baseInstanceName": name,
                    "instanceTemplate": format!("{}/compute/v1/projects/{project}/global/instanceTemplates/{name}-template", self.base),
                    "instanceGroup": format!("{}/compute/v1/projects/{project}/{location}/instanceGroups/{name}", self.base),
                    "targetSize": size,
                    "currentActions": {"none": size, "creating": 0, "creatingWithoutRetries": 0, "deleting": 0,
                        "abandoning": 0, "recreating": 0, "refreshing": 0, "restarting": 0, "verifying": 0},
                    "status": {"isStable": true, "versionTarget": {"isReached": true}},
                    "updatePolicy": {"type": "OPPORTUNISTIC"},
                    "selfLink": self_link,
                });
                let (kind, loc) = location.split_once('/').unwrap();
                igm[if kind == "zones" { "zone" } else { "region" }] =
                    format!("{}/compute/v1/projects/{project}/{kind}/{loc}", self.base).into();
                axum::Json(igm).into_response()
            }
            (Method::POST, Some("resize")) => self.resize(key, &location, &self_link, &query),
            _ => google_error(StatusCode::NOT_FOUND, "notFound", "NOT_FOUND", "Not Found"),
        }
    }

    fn resize(
        &self,
        key: (String, String, String),
        location: &str,
        self_link: &str,
        query: &HashMap<String, String>,
    ) -> Response {
        let size = match query.get("size").map(|s| s.parse::<i64>()) {
            Some(Ok(n)) if n >= 0 => n,
            Some(_) => {
                let msg =
                    format!("Invalid value for field 'size': '{}'. Must be greater than or equal to 0.", query["size"]);
                return google_error(StatusCode::BAD_REQUEST, "invalid", "INVALID_ARGUMENT", &msg);
            }
            None => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "required",
                    "INVALID_ARGUMENT",
                    "Required field 'size' not specified",
                );
            }
        };
        if let Some(id) = query.get("requestId")
            && let Some(op) = self.request_ids.lock().unwrap().get(id)
        {
            return axum::Json(op.clone()).into_response();
        }
        if self.not_ready.load(Ordering::SeqCst) {
            let msg =
                format!("The resource 'projects/{}/{location}/instanceGroupManagers/{}' is not ready", key.0, key.2);
            return google_error(StatusCode::BAD_REQUEST, "resourceNotReady", "FAILED_PRECONDITION", &msg);
        }
        self.groups.lock().unwrap().insert(key.clone(), size);
        self.resizes.lock().unwrap().push((format!("{location}/{}", key.2), size));
        let id = fastrand::u64(..).to_string();
        let (kind, loc) = location.split_once('/').unwrap();
        let mut op = json!({
            "kind": "compute#operation",
            "id": id,
            "name": format!("operation-{id}"),
            "operationType": "compute.instanceGroupManagers.resize",
            "targetLink": self_link,
            "targetId": "4589613425371263123",
            "status": "RUNNING",
            "user": self.client_email,
            "progress": 0,
            "insertTime": "2026-12-07T05:00:00.000-08:00",
            "startTime": "2026-12-07T05:00:00.100-08:00",
            "selfLink": format!("{}/compute/v1/projects/{}/{location}/operations/operation-{id}", self.base, key.0),
        });
        op[if kind == "zones" { "zone" } else { "region" }] =
            format!("{}/compute/v1/projects/{}/{kind}/{loc}", self.base, key.0).into();
        if let Some(rid) = query.get("requestId") {
            self.request_ids.lock().unwrap().insert(rid.clone(), op.clone());
        }
        axum::Json(op).into_response()
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if token.is_some_and(|t| self.tokens.lock().unwrap().contains(t)) {
            return Ok(());
        }
        self.unauthorized.fetch_add(1, Ordering::SeqCst);
        Err(Box::new(google_error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        )))
    }

    fn token(&self, body: &[u8]) -> Response {
        let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "})),
            )
                .into_response();
        }
        if let Err(why) = self.check_assertion(form.get("assertion").map(String::as_str).unwrap_or_default()) {
            self.rejected_assertions.fetch_add(1, Ordering::SeqCst);
            return token_error(&why);
        }
        self.token_requests.fetch_add(1, Ordering::SeqCst);
        let token = format!("ya29.c.{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        self.tokens.lock().unwrap().insert(token.clone());
        axum::Json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})).into_response()
    }

    /// Checks a service-account assertion as Google's token endpoint documents it.
    fn check_assertion(&self, jwt: &str) -> Result<(), String> {
        let parts: Vec<&str> = jwt.split('.').collect();
        let [h, c, s] = parts.as_slice() else { return Err("Invalid JWT: Token must be a short-lived token".into()) };
        let decode = |p: &str| -> Result<Value, String> {
            let bytes = URL_SAFE_NO_PAD.decode(p).map_err(|_| "Invalid JWT: not base64url".to_string())?;
            serde_json::from_slice(&bytes).map_err(|_| "Invalid JWT: not JSON".to_string())
        };
        let header = decode(h)?;
        if header["alg"] != "RS256" || header["typ"] != "JWT" || !header["kid"].is_string() {
            return Err(format!("Invalid JWT header: {header}"));
        }
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| "Invalid JWT Signature.".to_string())?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.public_key)
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| "Invalid JWT Signature.".to_string())?;
        let claims = decode(c)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
        if claims["iss"] != self.client_email.as_str() {
            return Err(format!("Invalid JWT: unknown issuer {}", claims["iss"]));
        }
        if claims["aud"] != format!("{}/token", self.base).as_str() {
            return Err(format!("Invalid JWT: audience {} is not the token URL", claims["aud"]));
        }
        let scope = claims["scope"].as_str().unwrap_or_default();
        let scopes = ["https://www.googleapis.com/auth/compute", "https://www.googleapis.com/auth/cloud-platform"];
        if !scope.split(' ').any(|s| scopes.contains(&s)) {
            return Err(format!("Invalid JWT: no Compute Engine scope in `{scope}`"));
        }
        if (iat - now).abs() > 300 || exp <= iat || exp - iat > 3600 {
            return Err("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.".into());
        }
        Ok(())
    }
}
