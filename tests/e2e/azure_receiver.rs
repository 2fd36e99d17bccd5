//! A **test double** of Microsoft Entra ID's token endpoint and Azure Resource Manager's
//! virtual machine scale sets, for the `azure_vmss` actuator's end-to-end tests. Azure cannot
//! run here, so this is written from Microsoft's published references ("Microsoft identity
//! platform and the OAuth 2.0 client credentials flow", "Workload identity federation",
//! "Virtual Machine Scale Sets - Get" and "- Update" (api-version 2024-07-01), "Track
//! asynchronous Azure operations", ARM's error-response and throttling docs); it is not
//! Azure. What it reproduces:
//!
//! - `POST /{tenant}/oauth2/v2.0/token`, form-encoded: `client_id`, `scope`
//!   (`{management}/.default`), `grant_type=client_credentials` and either `client_secret`
//!   or `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` +
//!   `client_assertion`. Errors as Entra sends them: `{"error", "error_description":
//!   "AADSTS…", "error_codes": [...]}` (`invalid_client` 401, `invalid_scope` /
//!   `unauthorized_client` / `unsupported_grant_type` 400); success `{"token_type":
//!   "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": ...}`.
//! - `GET /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}?api-version=…`:
//!   the scale set (`sku.capacity`, `properties.provisioningState`, ...); `PATCH` of it with
//!   `{"sku": {"capacity": N}}`: `200` with the updated scale set (`provisioningState:
//!   Updating`) and an `Azure-AsyncOperation` header, or — every other call — `202` with
//!   `Location`, `Azure-AsyncOperation` and `Retry-After`. The operation URLs are not served
//!   (the actuator does not poll them).
//! - ARM errors `{"error": {"code", "message"}}`: 400 `MissingApiVersionParameter`,
//!   401 `AuthenticationFailed` (no token) / `ExpiredAuthenticationToken`, 404
//!   `ResourceNotFound`, 400 `InvalidParameter` for a bad capacity, and a core quota: a
//!   capacity whose cores exceed it answers 409 `OperationNotAllowed` with ARM's quota text.
//!
//! Fault injection: [`AzureReceiver::expire_tokens`] (issued tokens answer 401
//! `ExpiredAuthenticationToken`), [`AzureReceiver::throttle_next`] (the next N ARM calls
//! answer 429 `SubscriptionRequestsThrottled` with `Retry-After: 1`),
//! [`AzureReceiver::set_core_quota`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Cores of one VM of the test SKU (`Standard_D2s_v3`).
const CORES_PER_VM: i64 = 2;

/// What the token endpoint accepts.
#[derive(Clone)]
pub struct Identity {
    /// Directory (tenant) ID.
    pub tenant_id: String,
    /// Application (client) ID.
    pub client_id: String,
    /// Accepted `client_secret`.
    pub client_secret: String,
    /// Accepted `client_assertion` (the federated token).
    pub federated_token: String,
}

struct State {
    base: String,
    identity: Identity,
    /// `(subscription, resource group, name)` → capacity.
    scale_sets: Mutex<HashMap<(String, String, String), i64>>,
    tokens: Mutex<HashSet<String>>,
    core_quota: AtomicI64,
    throttle_next: AtomicUsize,
    token_requests: Mutex<Vec<String>>,
    unauthorized: AtomicUsize,
    throttled: AtomicUsize,
    patches: AtomicUsize,
}

/// A running Entra ID + ARM test double on 127.0.0.1.
#[derive(Clone)]
pub struct AzureReceiver {
    /// Base URL, both the actuator's `endpoint` and its `loginEndpoint`.
    pub url: String,
    state: Arc<State>,
}

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

fn entra_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description} Trace ID: 0000 Correlation ID: 0000 Timestamp: 2026-12-07 12:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-12-07 12:00:00Z",
        "trace_id": "00000000-0000-0000-0000-000000000000",
        "correlation_id": "00000000-0000-0000-0000-000000000000",
    });
    (status, axum::Json(body)).into_response()
}

impl AzureReceiver {
    /// Starts listening on a free port.
    pub async fn start(identity: Identity) -> AzureReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            base: url.clone(),
            identity,
            scale_sets: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashSet::new()),
            core_quota: AtomicI64::new(i64::MAX),
            throttle_next: AtomicUsize::new(0),
            token_requests: Mutex::new(Vec::new()),
            unauthorized: AtomicUsize::new(0),
            throttled: AtomicUsize::new(0),
            patches: AtomicUsize::new(0),
        });
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let state = shared.clone();
            async move { state.handle(req).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        AzureReceiver { url, state }
    }

    /// Creates a scale set.
    pub fn add_scale_set(&self, subscription: &str, resource_group: &str, name: &str, capacity: i64) {
        let key = (subscription.to_string(), resource_group.to_string(), name.to_string());
        self.state.scale_sets.lock().unwrap().insert(key, capacity);
    }

    /// A scale set's `sku.capacity`.
    pub fn capacity(&self, subscription: &str, resource_group: &str, name: &str) -> Option<i64> {
        let key = (subscription.to_string(), resource_group.to_string(), name.to_string());
        self.state.scale_sets.lock().unwrap().get(&key).copied()
    }

    /// Issued tokens answer 401 `ExpiredAuthenticationToken` from now on.
    pub fn expire_tokens(&self) {
        self.state.tokens.lock().unwrap().clear();
    }

    /// The next `n` ARM calls answer 429.
    pub fn throttle_next(&self, n: usize) {
        self.state.throttle_next.store(n, Ordering::SeqCst);
    }

    /// The subscription's regional core quota for the scale sets' VM family.
    pub fn set_core_quota(&self, cores: i64) {
        self.state.core_quota.store(cores, Ordering::SeqCst);
    }

    /// The credential kind of every token issued: `client_secret` or `client_assertion`.
    pub fn token_requests(&self) -> Vec<String> {
        self.state.token_requests.lock().unwrap().clone()
    }

    /// ARM calls answered 401.
    pub fn unauthorized(&self) -> usize {
        self.state.unauthorized.load(Ordering::SeqCst)
    }

    /// ARM calls answered 429.
    pub fn throttled(&self) -> usize {
        self.state.throttled.load(Ordering::SeqCst)
    }
}

impl State {
    async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        let query: HashMap<String, String> = Query::try_from_uri(req.uri()).map(|Query(q)| q).unwrap_or_default();
        let (method, headers) = (req.method().clone(), req.headers().clone());
        let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
        if method == Method::POST
            && let Some(tenant) = path.strip_prefix('/').and_then(|p| p.strip_suffix("/oauth2/v2.0/token"))
        {
            return self.token(tenant, &body);
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let [
            "subscriptions",
            sub,
            "resourceGroups",
            rg,
            "providers",
            "Microsoft.Compute",
            "virtualMachineScaleSets",
            name,
        ] = parts.as_slice()
        else {
            return arm_error(StatusCode::NOT_FOUND, "InvalidResourceType", "The resource type could not be found.");
        };
        if !query.contains_key("api-version") {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            );
        }
        if let Err(r) = self.authorize(&headers) {
            return *r;
        }
        if self.throttle_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            self.throttled.fetch_add(1, Ordering::SeqCst);
            let msg = format!(
                "Number of requests for subscription '{sub}' and operation 'Microsoft.Compute/virtualMachineScaleSets' exceeded the backend storage limit. Please try again after '1' seconds."
            );
            let mut r = arm_error(StatusCode::TOO_MANY_REQUESTS, "SubscriptionRequestsThrottled", &msg);
            r.headers_mut().insert("retry-after", "1".parse().unwrap());
            return r;
        }
        let key = (sub.to_string(), rg.to_string(), name.to_string());
        let Some(capacity) = self.scale_sets.lock().unwrap().get(&key).copied() else {
            let msg = format!(
                "The Resource 'Microsoft.Compute/virtualMachineScaleSets/{name}' under resource group '{rg}' was not found."
            );
            return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", &msg);
        };
        let id = format!(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"
        );
        match method {
            Method::GET => axum::Json(scale_set(&id, name, capacity, "Succeeded")).into_response(),
            Method::PATCH => self.patch(key, &id, &body),
            _ => arm_error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "The method is not allowed."),
        }
    }

    fn patch(&self, key: (String, String, String), id: &str, body: &[u8]) -> Response {
        let Ok(patch) = serde_json::from_slice::<Value>(body) else {
            return arm_error(StatusCode::BAD_REQUEST, "InvalidRequestContent", "The request content was invalid.");
        };
        let Some(capacity) = patch["sku"]["capacity"].as_i64().filter(|c| (0..=1000).contains(c)) else {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "The value of parameter sku.capacity is invalid.",
            );
        };
        let quota = self.core_quota.load(Ordering::SeqCst);
        let current = self.scale_sets.lock().unwrap()[&key];
        let others: i64 = self.scale_sets.lock().unwrap().iter().filter(|(k, _)| **k != key).map(|(_, c)| c).sum();
        let needed = (others + capacity) * CORES_PER_VM;
        if capacity > current && needed > quota {
            let msg = format!(
                "Operation could not be completed as it results in exceeding approved standardDSv3Family Cores quota. \
                 Additional details - Deployment Model: Resource Manager, Location: westeurope, Current Limit: {quota}, \
                 Current Usage: {}, Additional Required: {}, (Minimum) New Limit Required: {needed}.",
                (others + current) * CORES_PER_VM,
                (capacity - current) * CORES_PER_VM
            );
            return arm_error(StatusCode::CONFLICT, "OperationNotAllowed", &msg);
        }
        self.scale_sets.lock().unwrap().insert(key.clone(), capacity);
        let n = self.patches.fetch_add(1, Ordering::SeqCst);
        let op = format!(
            "{}/subscriptions/{}/providers/Microsoft.Compute/locations/westeurope/operations/{:016x}?api-version=2024-07-01",
            self.base,
            key.0,
            fastrand::u64(..)
        );
        let mut r = if n.is_multiple_of(2) {
            axum::Json(scale_set(id, &key.2, capacity, "Updating")).into_response()
        } else {
            let mut r = StatusCode::ACCEPTED.into_response();
            r.headers_mut().insert("location", format!("{op}&monitor=true").parse().unwrap());
            r.headers_mut().insert("retry-after", "10".parse().unwrap());
            r
        };
        r.headers_mut().insert("azure-asyncoperation", op.parse().unwrap());
        r
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            self.unauthorized.fetch_add(1, Ordering::SeqCst);
            return Err(Box::new(arm_error(
                StatusCode::UNAUTHORIZED,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )));
        };
        let token = value.strip_prefix("Bearer ").unwrap_or_default();
        if self.tokens.lock().unwrap().contains(token) {
            return Ok(());
        }
        self.unauthorized.fetch_add(1, Ordering::SeqCst);
        Err(Box::new(arm_error(
            StatusCode::UNAUTHORIZED,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time '12/7/2026 11:00:00 AM' is earlier than current UTC time '12/7/2026 12:00:00 PM'.",
        )))
    }

    fn token(&self, tenant: &str, body: &[u8]) -> Response {
        let f: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
        let id = &self.identity;
        if tenant != id.tenant_id {
            let d = format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.");
            return entra_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, &d);
        }
        if get("grant_type") != "client_credentials" {
            let d = "The provided value for the input parameter 'grant_type' is not valid.";
            return entra_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003, d);
        }
        if get("client_id") != id.client_id {
            let d = format!(
                "Application with identifier '{}' was not found in the directory '{tenant}'.",
                get("client_id")
            );
            return entra_error(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, &d);
        }
        if get("scope") != format!("{}/.default", self.base) {
            let d = format!("The provided request must include a 'scope' input parameter. Got '{}'.", get("scope"));
            return entra_error(StatusCode::BAD_REQUEST, "invalid_scope", 70011, &d);
        }
        let kind = if f.contains_key("client_secret") {
            if get("client_secret") != id.client_secret {
                let d = format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                    id.client_id
                );
                return entra_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, &d);
            }
            "client_secret"
        } else {
            if get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
                let d = "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";
                return entra_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000218, d);
            }
            if get("client_assertion") != id.federated_token {
                let d = "AADSTS70021: No matching federated identity record found for presented assertion.";
                return entra_error(StatusCode::BAD_REQUEST, "invalid_request", 70021, d);
            }
            "client_assertion"
        };
        self.token_requests.lock().unwrap().push(kind.to_string());
        let token =
            format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        self.tokens.lock().unwrap().insert(token.clone());
        axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
            .into_response()
    }
}

fn scale_set(id: &str, name: &str, capacity: i64, provisioning_state: &str) -> Value {
    json!({
        "name": name,
        "id": id,
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": "westeurope",
        "sku": {"name": "Standard_D2s_v3", "tier": "Standard", "capacity": capacity},
        "properties": {
            "singlePlacementGroup": false,
            "orchestrationMode": "Uniform",
            "upgradePolicy": {"mode": "Manual"},
            "provisioningState": provisioning_state,
            "overprovision": true,
            "uniqueId": "b9e23088-6ffc-46e0-9e02-b0a6eeef47db",
            "timeCreated": "2026-12-01T09:00:00.0000000+00:00"
        }
    })
}
