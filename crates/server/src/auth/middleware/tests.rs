use super::*;
use axum::Extension;
use axum::body::Body;
use axum::routing::{get, post};
use base64::Engine;
use tower::ServiceExt;

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

async fn whoami(caller: Option<Extension<Caller>>) -> String {
    caller.map_or("none".into(), |c| format!("{} {}", c.user(), c.role()))
}

fn app(auth: &ApiAuth) -> Router {
    auth.layer(
        Router::new()
            .route("/health/live", get(whoami))
            .route("/metrics", get(whoami))
            .route("/api/v2/silences", get(whoami).post(whoami))
            .route("/api/v2/status", get(whoami))
            .route("/-/reload", post(whoami)),
    )
}

async fn call(app: &Router, method: &str, path: &str, auth: Option<&str>) -> (StatusCode, String, Response) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let resp = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (status, text, Response::from_parts(parts, Body::empty()))
}

fn web_yml(dir: &Path, extra: &str) -> PathBuf {
    let alice = bcrypt::hash("alice-pw", 4).unwrap();
    let bob = bcrypt::hash("bob-pw", 4).unwrap();
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "basic_auth_users:\n  alice: {alice}\n  bob: {bob}\nroles:\n  alice: editor\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n{extra}"
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn without_a_web_config_everything_is_open() {
    let app = app(&ApiAuth::open(AuditMetrics::new()));
    assert_eq!(call(&app, "POST", "/api/v2/silences", None).await.1, "anonymous admin");
    assert_eq!(call(&app, "POST", "/-/reload", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn roles_decide() {
    let dir = tempfile::tempdir().unwrap();
    let auth = ApiAuth::from_file(&web_yml(dir.path(), ""), AuditMetrics::new()).unwrap();
    let app = app(&auth);
    let (alice, bob) = (basic("alice", "alice-pw"), basic("bob", "bob-pw"));

    assert_eq!(call(&app, "GET", "/health/live", None).await.1, "anonymous viewer");
    let (status, body, resp) = call(&app, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"lookout\"");
    assert_eq!(resp.headers()["x-frame-options"], "deny", "configured headers go on refusals too");
    assert!(body.contains("authentication required"), "{body}");

    assert_eq!(call(&app, "GET", "/metrics", Some(&bob)).await.1, "bob viewer");
    let (status, body, _) = call(&app, "POST", "/api/v2/silences", Some(&bob)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("POST /api/v2/silences needs role editor; `bob` has role viewer"), "{body}");
    assert_eq!(call(&app, "POST", "/api/v2/silences", Some(&alice)).await.1, "alice editor");
    assert_eq!(call(&app, "GET", "/api/v2/status", Some(&alice)).await.0, StatusCode::FORBIDDEN);

    let (status, body, _) = call(&app, "GET", "/metrics", Some(&basic("alice", "wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("wrong user name or password"), "{body}");
    assert_eq!(call(&app, "GET", "/metrics", Some(&basic("mallory", "x"))).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, "GET", "/metrics", Some("Digest abc")).await.0, StatusCode::UNAUTHORIZED);

    let mut registry = prometheus_client::registry::Registry::default();
    auth.metrics().register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for line in [
        "lookout_api_authentication_failures_total{reason=\"no_credentials\"} 1",
        "lookout_api_authentication_failures_total{reason=\"wrong_password\"} 1",
        "lookout_api_authentication_failures_total{reason=\"unknown_user\"} 1",
        "lookout_api_authentication_failures_total{reason=\"malformed\"} 1",
        "lookout_api_authorization_refusals_total{required_role=\"editor\"} 1",
        "lookout_api_authorization_refusals_total{required_role=\"admin\"} 1",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

#[tokio::test]
async fn a_changed_file_is_reread_and_a_broken_one_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = web_yml(dir.path(), "");
    let auth = ApiAuth::from_file(&path, AuditMetrics::new()).unwrap();
    let app = app(&auth);
    let bob = basic("bob", "bob-pw");
    assert_eq!(call(&app, "POST", "/api/v2/silences", Some(&bob)).await.0, StatusCode::FORBIDDEN);

    // bob becomes an admin.
    let text = std::fs::read_to_string(&path).unwrap().replace("alice: editor", "alice: editor\n  bob: admin");
    std::fs::write(&path, text).unwrap();
    auth.reload().unwrap();
    assert_eq!(call(&app, "POST", "/api/v2/silences", Some(&bob)).await.1, "bob admin");

    // A broken file: refused, bob stays an admin.
    std::fs::write(&path, "basic_auth_users: [").unwrap();
    assert!(auth.reload().is_err());
    assert_eq!(call(&app, "POST", "/-/reload", Some(&bob)).await.1, "bob admin");
}

#[tokio::test]
async fn excluded_paths_and_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = web_yml(dir.path(), "basic_auth_excluded_paths: [/metrics]\nrate_limit:\n  interval: 1h\n  burst: 2\n");
    let app = app(&ApiAuth::from_file(&path, AuditMetrics::new()).unwrap());
    assert_eq!(call(&app, "GET", "/metrics", None).await.1, "anonymous viewer");
    assert_eq!(call(&app, "GET", "/metrics", None).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/metrics", None).await.0, StatusCode::TOO_MANY_REQUESTS);
}
