//! Library-level tests over real sockets on 127.0.0.1: the shipped examples, the engine with
//! persistence and self-metrics, `/api/v1/scaler`, the webhook actuator against a local
//! receiver, the KEDA external scaler with a real tonic client and (feature `kubernetes`) the
//! scale subresource against a local server speaking its JSON.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use lookout_scaler::actuator::keda::externalscaler::external_scaler_client::ExternalScalerClient;
use lookout_scaler::actuator::keda::externalscaler::{GetMetricsRequest, ScaledObjectRef};
use lookout_scaler::{MetricSource, QueryError, Scaler, parse_policy_file, simulate};
use tokio_util::sync::CancellationToken;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Query results by query text, and the firing alerts.
#[derive(Default)]
struct FakeSource {
    values: Mutex<HashMap<String, f64>>,
    firing: Mutex<Vec<String>>,
}

impl FakeSource {
    fn set(&self, q: &str, v: f64) {
        self.values.lock().unwrap().insert(q.to_string(), v);
    }
}

impl MetricSource for FakeSource {
    fn query(&self, promql: &str, _t_ms: i64) -> Result<Option<f64>, QueryError> {
        Ok(self.values.lock().unwrap().get(promql).copied())
    }
    fn firing_alerts(&self) -> Vec<String> {
        self.firing.lock().unwrap().clone()
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

const POLICY: &str = "\
scalers:
  - name: api
    minReplicas: 2
    maxReplicas: 10
    replicas: { query: replicas }
    metrics:
      - { name: rpm, query: rpm, target: { type: AverageValue, averageValue: 1000 } }
    behavior:
      scaleDown: { stabilizationWindowSeconds: 600 }
";

#[test]
fn shipped_policy_has_the_seed_settings() {
    let path = repo().join("scaling/api.yml");
    let f = parse_policy_file("scaling/api.yml", &std::fs::read_to_string(path).unwrap()).unwrap();
    let api = &f.scalers[0];
    assert_eq!((api.min_replicas, api.max_replicas), (2, 10));
    let targets: Vec<String> = api.metrics.iter().map(|m| format!("{}={:?}", m.name, m.target)).collect();
    assert_eq!(
        targets,
        [
            "cpu=Utilization { average_utilization: 70 }",
            "memory=Utilization { average_utilization: 75 }",
            "rpm=AverageValue { average_value: Quantity(1000000) }"
        ]
    );
    let b = api.behavior.as_ref().unwrap();
    assert_eq!((b.scale_up.policies[0].period_seconds, b.scale_down.policies[0].period_seconds), (300, 600));
    assert_eq!(api.steps.len(), 2);
}

#[test]
fn the_readme_example_parses() {
    let readme = std::fs::read_to_string(repo().join("scaling/README.md")).unwrap();
    let start = readme.find("```yaml\n").unwrap() + 8;
    let end = start + readme[start..].find("```").unwrap();
    let f = parse_policy_file("README.md", &readme[start..end]).unwrap();
    assert_eq!(f.keda.unwrap().address, "0.0.0.0:9095");
    assert_eq!(f.scalers[0].schedules.len(), 1);
    assert_eq!(f.scalers[0].tolerances.scale_down, 0.05);
}

#[test]
fn shipped_timelines_meet_their_expectations() {
    let dir = repo().join("scaling/tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "yml"));
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut out = Vec::new();
        let name = f.display().to_string();
        if let Err(e) = simulate(&name, &text, &mut out) {
            panic!("{name}:\n{e}\noutput:\n{}", String::from_utf8_lossy(&out));
        }
        let steps = text.lines().filter(|l| l.trim_start().starts_with("- at:")).count();
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), steps, "{name}: one line per step (one scaler per file)");
        for l in &lines {
            for k in ["at", "scaler", "current", "desired", "reasons"] {
                assert!(l.get(k).is_some(), "{name}: {k} missing in {l}");
            }
        }
    }
}

#[test]
fn engine_persists_state_and_history_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let src = Arc::new(FakeSource::default());
    let t0 = 1_800_000_000_000i64;
    {
        let s = Scaler::new(parse_policy_file("p.yml", POLICY).unwrap(), dir.path(), src.clone()).unwrap();
        src.set("replicas", 4.0);
        src.set("rpm", 8000.0);
        let d = s.evaluate(t0);
        assert_eq!((d[0].current, d[0].desired), (4, 8));
        let mut r = prometheus_client::registry::Registry::default();
        s.register_metrics(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(text.contains("lookout_scaler_desired_replicas{target=\"api\"} 8"), "{text}");
        assert!(text.contains("lookout_scaler_metric_value{target=\"api\",metric=\"rpm\"} 8000.0"), "{text}");
        assert!(text.contains("lookout_scaler_evaluations_total{target=\"api\"} 1"), "{text}");
    }
    // A restart 60 s later: the 10-minute window still remembers the recommendation of 8.
    let s = Scaler::new(parse_policy_file("p.yml", POLICY).unwrap(), dir.path(), src.clone()).unwrap();
    assert_eq!(s.history("api").len(), 1);
    src.set("replicas", 8.0);
    src.set("rpm", 1000.0);
    let d = s.evaluate(t0 + 60_000);
    assert_eq!(d[0].desired, 8, "{:?}", d[0].reasons);
    assert!(d[0].reasons.iter().any(|r| r.code == "ScaleDownStabilized"));
    // Without a replicas query result, the last decision is assumed and said so.
    src.values.lock().unwrap().remove("replicas");
    let d = s.evaluate(t0 + 61_000);
    assert_eq!(d[0].current, 8);
    assert!(d[0].reasons.iter().any(|r| r.code == "ReplicasQueryFailed"), "{:?}", d[0].reasons);
    assert_eq!(s.history("api").len(), 3);
}

#[tokio::test]
async fn api_lists_decisions_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let src = Arc::new(FakeSource::default());
    src.set("replicas", 2.0);
    src.set("rpm", 3000.0);
    let s = Arc::new(Scaler::new(parse_policy_file("p.yml", POLICY).unwrap(), dir.path(), src.clone()).unwrap());
    s.evaluate(1_000_000);
    s.evaluate(1_015_000);
    let base = serve(lookout_scaler::router(s.clone())).await;
    let v: serde_json::Value = reqwest::get(format!("{base}/api/v1/scaler")).await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "success");
    let api = &v["data"]["scalers"][0];
    assert_eq!(api["name"], "api");
    assert_eq!(api["actuator"], "dry_run");
    assert_eq!(api["decision"]["desired"], 3);
    assert_eq!(api["history"].as_array().unwrap().len(), 2);
    assert_eq!(api["history"][0]["at_ms"], 1_015_000, "newest first");
    let v: serde_json::Value =
        reqwest::get(format!("{base}/api/v1/scaler?scaler=api&limit=1")).await.unwrap().json().await.unwrap();
    assert_eq!(v["data"]["scalers"][0]["history"].as_array().unwrap().len(), 1);
    let r = reqwest::get(format!("{base}/api/v1/scaler?scaler=nope")).await.unwrap();
    assert_eq!(r.status(), 404);
}

#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    fail_first: Arc<Mutex<u32>>,
    status: Arc<Mutex<u16>>,
}

async fn receive(State(r): State<Receiver>, body: axum::Json<serde_json::Value>) -> StatusCode {
    r.bodies.lock().unwrap().push(body.0);
    let mut f = r.fail_first.lock().unwrap();
    if *f > 0 {
        *f -= 1;
        return StatusCode::from_u16(*r.status.lock().unwrap()).unwrap();
    }
    StatusCode::OK
}

fn webhook(url: &str, retries: u32) -> lookout_scaler::actuator::webhook::Webhook {
    let cfg = lookout_scaler::policy::WebhookConfig {
        url: url.into(),
        headers: [("x-token".to_string(), "t".into())].into(),
        timeout_seconds: 5,
        max_retries: retries,
    };
    lookout_scaler::actuator::webhook::Webhook::new(&cfg).unwrap().with_base_backoff(Duration::from_millis(10))
}

fn decision(desired: i32) -> lookout_scaler::Decision {
    lookout_scaler::Decision {
        scaler: "api".into(),
        at_ms: 1,
        time: "1970-01-01T00:00:00.001Z".into(),
        current: 2,
        desired,
        min_replicas: 2,
        max_replicas: 10,
        metrics: vec![],
        reasons: vec![],
    }
}

#[tokio::test]
async fn webhook_retries_server_errors_not_client_errors() {
    let rx = Receiver::default();
    let base = serve(Router::new().route("/scale", post(receive)).with_state(rx.clone())).await;
    *rx.fail_first.lock().unwrap() = 2;
    *rx.status.lock().unwrap() = 503;
    webhook(&format!("{base}/scale"), 3).send(&decision(4)).await.unwrap();
    {
        let bodies = rx.bodies.lock().unwrap();
        assert_eq!(bodies.len(), 3, "two 503s, then 200");
        assert_eq!(bodies[2]["desired"], 4);
        assert_eq!(bodies[2]["scaler"], "api");
    }
    rx.bodies.lock().unwrap().clear();
    *rx.fail_first.lock().unwrap() = 5;
    *rx.status.lock().unwrap() = 400;
    let e = webhook(&format!("{base}/scale"), 3).send(&decision(4)).await.unwrap_err();
    assert_eq!(e, "webhook answered 400 Bad Request (after 1 attempt)");
    assert_eq!(rx.bodies.lock().unwrap().len(), 1);
    *rx.status.lock().unwrap() = 500;
    let e = webhook(&format!("{base}/scale"), 1).send(&decision(4)).await.unwrap_err();
    assert_eq!(e, "webhook answered 500 Internal Server Error (after 2 attempts)");
    // Connection refused, and the error does not leak the URL (which may carry credentials).
    let e = webhook("http://user:secret@127.0.0.1:9/x", 0).send(&decision(4)).await.unwrap_err();
    assert!(e.starts_with("webhook request failed:") && !e.contains("secret"), "{e}");
}

/// An `api` scaler (2..10, 3000 rpm at 1000 each: 3 wanted) posting to `{base}/scale` with the
/// webhook keys `extra`, run until `done` holds (5 s at most).
async fn run_webhook_scaler(base: &str, extra: &str, done: impl Fn(&Scaler) -> bool) -> Arc<Scaler> {
    let policy = format!(
        "scalers:\n  - name: api\n    minReplicas: 2\n    maxReplicas: 10\n    intervalSeconds: 1\n    metrics:\n      - {{ name: rpm, query: rpm, target: {{ type: AverageValue, averageValue: 1000 }} }}\n    actuator: {{ type: webhook, url: '{base}/scale'{extra} }}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let src = Arc::new(FakeSource::default());
    src.set("rpm", 3000.0);
    let s = Arc::new(Scaler::new(parse_policy_file("p.yml", &policy).unwrap(), dir.path(), src).unwrap());
    let stop = CancellationToken::new();
    let task = tokio::spawn(s.clone().run(stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done(&s) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.unwrap().unwrap();
    s
}

#[tokio::test]
async fn run_delivers_decisions_to_the_webhook() {
    let rx = Receiver::default();
    let base = serve(Router::new().route("/scale", post(receive)).with_state(rx.clone())).await;
    run_webhook_scaler(&base, "", |_| !rx.bodies.lock().unwrap().is_empty()).await;
    let bodies = rx.bodies.lock().unwrap();
    assert_eq!(bodies[0]["current"], 2, "minReplicas assumed at first");
    assert_eq!(bodies[0]["desired"], 3);
}

/// A decision the actuator refuses keeps its reasons plus an `ActuationFailed` one (on the
/// API and in the history) and counts on `lookout_scaler_actuation_failures_total`.
#[tokio::test]
async fn a_refused_actuation_is_recorded_in_the_decision_and_counted() {
    let rx = Receiver::default();
    let base = serve(Router::new().route("/scale", post(receive)).with_state(rx.clone())).await;
    *rx.fail_first.lock().unwrap() = 100;
    *rx.status.lock().unwrap() = 400;
    let failed = |s: &Scaler| s.history("api").iter().any(|d| d.reasons.iter().any(|r| r.code == "ActuationFailed"));
    let s = run_webhook_scaler(&base, ", maxRetries: 0", failed).await;
    let mut registry = prometheus_client::registry::Registry::default();
    s.register_metrics(&mut registry);
    let d = s.history("api").into_iter().find(|d| d.reasons.iter().any(|r| r.code == "ActuationFailed")).unwrap();
    assert_eq!(d.desired, 3);
    let last = d.reasons.last().unwrap();
    assert_eq!(
        (last.code.as_str(), last.message.as_str()),
        ("ActuationFailed", "webhook did not apply 3: webhook answered 400 Bad Request (after 1 attempt)")
    );
    assert_eq!(d.reasons[0].code, "ReplicasAssumed", "the decision's own reasons stay: {:?}", d.reasons);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(
            "lookout_scaler_actuation_failures_total{target=\"api\",actuator=\"webhook\",reason=\"WebhookFailed\"}"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn keda_external_scaler_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let src = Arc::new(FakeSource::default());
    let policy = "scalers:\n  - name: api\n    minReplicas: 0\n    maxReplicas: 10\n    metrics:\n      - { name: rpm, query: rpm, target: { type: AverageValue, averageValue: 1000 } }\n    actuator: { type: keda }\n";
    let s = Arc::new(Scaler::new(parse_policy_file("p.yml", policy).unwrap(), dir.path(), src.clone()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(lookout_scaler::actuator::keda::serve(listener, s.clone(), None, stop.clone()));
    let mut client = ExternalScalerClient::connect(format!("http://{addr}")).await.unwrap();
    let obj = |name: &str| ScaledObjectRef {
        name: name.to_string(),
        namespace: "default".to_string(),
        scaler_metadata: [("scaler".to_string(), "api".to_string())].into(),
    };
    // Before any decision: unavailable, so KEDA keeps its fallback.
    let e = client.is_active(obj("web")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable);
    src.set("rpm", 0.0);
    s.evaluate(1_000);
    assert!(!client.is_active(obj("web")).await.unwrap().into_inner().result, "0 replicas: inactive");
    let mut stream = client.stream_is_active(obj("web")).await.unwrap().into_inner();
    assert!(!stream.message().await.unwrap().unwrap().result, "the current state is sent at once");
    src.set("rpm", 4200.0);
    s.evaluate(16_000);
    let flipped = tokio::time::timeout(Duration::from_secs(5), stream.message()).await.unwrap().unwrap().unwrap();
    assert!(flipped.result);
    let spec = client.get_metric_spec(obj("web")).await.unwrap().into_inner();
    assert_eq!(spec.metric_specs[0].metric_name, "api");
    assert_eq!(spec.metric_specs[0].target_size_float, 1.0);
    let m = client
        .get_metrics(GetMetricsRequest { scaled_object_ref: Some(obj("web")), metric_name: "api".to_string() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.metric_values[0].metric_value, 4, "ceil(4200 / 1000) = 5, limited to max(2 x 0, 4) from 0");
    assert_eq!(m.metric_values[0].metric_value_float, 4.0);
    let unknown = ScaledObjectRef { name: "nope".into(), namespace: "default".into(), scaler_metadata: HashMap::new() };
    assert_eq!(client.get_metric_spec(unknown).await.unwrap_err().code(), tonic::Code::NotFound);
    stop.cancel();
    server.await.unwrap().unwrap();
}

/// The external scaler over mTLS: KEDA with a client certificate from the configured CA
/// gets answers; one without is refused during the handshake.
#[tokio::test]
async fn keda_external_scaler_over_mtls() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    let ca = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        (cert.der().clone(), cert.pem(), Issuer::new(params, key))
    };
    let leaf = |issuer: &Issuer<'static, KeyPair>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_ca, _, server_issuer) = ca("server ca");
    let (_, clients_pem, clients_issuer) = ca("keda clients");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = leaf(&server_issuer);
    std::fs::create_dir(dir.path().join("tls")).unwrap();
    std::fs::write(dir.path().join("tls/keda.crt"), cert).unwrap();
    std::fs::write(dir.path().join("tls/keda.key"), key).unwrap();
    std::fs::write(dir.path().join("tls/clients.crt"), clients_pem).unwrap();
    let policy = "scalers:\n  - name: api\n    minReplicas: 0\n    maxReplicas: 10\n    metrics:\n      - { name: rpm, query: rpm, target: { type: AverageValue, averageValue: 1000 } }\n    actuator: { type: keda }\n\
                  keda:\n  address: 127.0.0.1:0\n  tls: { cert_file: tls/keda.crt, key_file: tls/keda.key, client_ca_file: tls/clients.crt }\n";
    let file = dir.path().join("policy.yml");
    let policies = parse_policy_file(&file.display().to_string(), policy).unwrap();
    let tls = lookout_server::listener::Tls::new(policies.keda.clone().unwrap().tls.unwrap()).unwrap();
    let src = Arc::new(FakeSource::default());
    let s = Arc::new(Scaler::new(policies, dir.path(), src.clone()).unwrap());
    src.set("rpm", 2500.0);
    s.evaluate(1_000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(lookout_scaler::actuator::keda::serve(listener, s.clone(), Some(tls), stop.clone()));

    // A gRPC channel over our own TLS connection (tonic is built without a TLS backend).
    let connect = |identity: Option<(String, String)>| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(server_ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let service = tower::service_fn(move |_: tonic::transport::Uri| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        });
        async move {
            let channel =
                tonic::transport::Endpoint::from_static("http://localhost").connect_with_connector(service).await?;
            Ok::<_, tonic::transport::Error>(ExternalScalerClient::new(channel))
        }
    };
    let obj = ScaledObjectRef {
        name: "web".to_string(),
        namespace: "default".to_string(),
        scaler_metadata: [("scaler".to_string(), "api".to_string())].into(),
    };
    let mut keda = connect(Some(leaf(&clients_issuer))).await.unwrap();
    assert!(keda.is_active(obj.clone()).await.unwrap().into_inner().result);

    let refused = match connect(None).await {
        Err(_) => true,
        Ok(mut c) => c.is_active(obj.clone()).await.is_err(),
    };
    assert!(refused, "a client without a certificate is refused");
    stop.cancel();
    server.await.unwrap().unwrap();
}

/// A local server speaking the scale subresource's JSON (autoscaling/v1 `Scale`, JSON merge
/// patch), written from the Kubernetes API reference.
#[cfg(feature = "kubernetes")]
#[tokio::test]
async fn kubernetes_scale_subresource() {
    use axum::http::HeaderMap;
    use axum::routing::get;

    #[derive(Clone, Default)]
    struct Api {
        replicas: Arc<Mutex<i32>>,
        seen: Arc<Mutex<Vec<String>>>,
    }
    fn scale(n: i32) -> serde_json::Value {
        serde_json::json!({
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": "api", "namespace": "prod"},
            "spec": {"replicas": n}, "status": {"replicas": n, "selector": "app=api"}
        })
    }
    async fn get_scale(State(a): State<Api>, h: HeaderMap) -> (StatusCode, axum::Json<serde_json::Value>) {
        a.seen.lock().unwrap().push(format!("GET {}", h["authorization"].to_str().unwrap()));
        (StatusCode::OK, axum::Json(scale(*a.replicas.lock().unwrap())))
    }
    async fn patch_scale(
        State(a): State<Api>,
        h: HeaderMap,
        body: String,
    ) -> (StatusCode, axum::Json<serde_json::Value>) {
        let ct = h["content-type"].to_str().unwrap().to_string();
        a.seen.lock().unwrap().push(format!("PATCH {ct}"));
        if ct != "application/merge-patch+json" {
            let status = serde_json::json!({"kind": "Status", "status": "Failure", "message": "unsupported media type", "code": 415});
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, axum::Json(status));
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let n = v["spec"]["replicas"].as_i64().unwrap() as i32;
        *a.replicas.lock().unwrap() = n;
        (StatusCode::OK, axum::Json(scale(n)))
    }
    let api = Api::default();
    *api.replicas.lock().unwrap() = 3;
    let base = serve(
        Router::new()
            .route("/apis/apps/v1/namespaces/prod/deployments/api/scale", get(get_scale).patch(patch_scale))
            .with_state(api.clone()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "sekret\n").unwrap();
    let cfg = lookout_scaler::policy::KubernetesConfig {
        api_server: base.clone(),
        namespace: "prod".into(),
        resource: "deployments".into(),
        name: "api".into(),
        token_file: Some(token.display().to_string()),
        ca_file: None,
    };
    let k = lookout_scaler::actuator::kubernetes::ScaleClient::new(&cfg).unwrap();
    assert_eq!(k.get_replicas().await.unwrap(), 3);
    k.set_replicas(6).await.unwrap();
    assert_eq!(*api.replicas.lock().unwrap(), 6);
    assert_eq!(k.get_replicas().await.unwrap(), 6);
    let seen = api.seen.lock().unwrap().clone();
    assert_eq!(seen, ["GET Bearer sekret", "PATCH application/merge-patch+json", "GET Bearer sekret"]);
    let missing = lookout_scaler::policy::KubernetesConfig { name: "nope".into(), ..cfg };
    let e = lookout_scaler::actuator::kubernetes::ScaleClient::new(&missing)
        .unwrap()
        .get_replicas()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("scale subresource answered 404"), "{e}");
}
