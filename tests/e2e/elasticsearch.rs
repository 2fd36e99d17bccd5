use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde_json::Value as Json;

use crate::util::{Lookout, free_port, read_ndjson, start_osmem};

/// Records `first..first+n`, `attributes.count` = `count(i)`, service `Shop`, Nov 14 2023.
fn request(first: i64, n: i64, count: impl Fn(i64) -> Value) -> Vec<u8> {
    crate::util::logs_request(
        "Shop",
        first,
        n,
        |i| format!("order {i}"),
        |i| vec![("seq", Value::IntValue(i)), ("count", count(i))],
    )
}

fn es_pipeline(api: &str, grpc: &str, http: &str, dir: &Path, endpoints: &[String]) -> String {
    let endpoints = endpoints.iter().map(|e| format!("http://{e}")).collect::<Vec<_>>().join(", ");
    format!(
        r#"api: {{ address: {api} }}
data_dir: {data}
sources:
  otlp:
    type: otlp
    grpc: {{ address: {grpc} }}
    http: {{ address: {http} }}
transforms:
  enrich:
    type: enrich
    inputs: [otlp]
    set: {{ deployment.environment: e2e }}
sinks:
  es:
    type: elasticsearch
    inputs: [enrich]
    endpoints: [{endpoints}]
    index: "logs-{{service.name}}-%Y.%m.%d"
    id_field: attributes.seq
    dead_letter: {dead}
    batch: {{ max_events: 200, timeout_ms: 100 }}
    request: {{ timeout_secs: 2, retry_initial_backoff_ms: 20, retry_max_backoff_secs: 0.5, retry_max_duration_secs: 60 }}
    circuit_breaker: {{ failures: 3, cooldown_secs: 1 }}
    health_check: {{ interval_secs: 0.5 }}
"#,
        data = dir.join("data").display(),
        dead = dir.join("dead.ndjson").display(),
    )
}

async fn post(lookout: &Lookout, body: Vec<u8>) {
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/logs", lookout.http))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn count(es: &str, index: &str) -> u64 {
    match reqwest::get(format!("http://{es}/{index}/_count")).await {
        Ok(r) if r.status().is_success() => r.json::<Json>().await.unwrap()["count"].as_u64().unwrap_or(0),
        _ => 0,
    }
}

async fn wait_count(es: &str, index: &str, expected: u64, lookout: &Lookout) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = count(es, index).await;
        if n == expected {
            return;
        }
        assert!(n < expected, "{n} documents, more than the {expected} sent: duplicates");
        assert!(Instant::now() < deadline, "{n} of {expected} documents in {index}; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metric(lookout: &Lookout, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", lookout.api)).await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l.contains("component_id=\"es\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

const INDEX: &str = "logs-shop-2023.11.14";

#[tokio::test]
async fn delivers_every_record_and_dead_letters_mapping_conflicts() {
    let es = start_osmem(free_port()).await;
    let address = es.address.clone();
    // Without index templates: dynamic mapping makes `attributes.count` a long, and a
    // string there is a conflict (the template's `ignore_malformed` would keep it).
    let mut lookout = Lookout::start_custom(
        |a, g, h, d| {
            es_pipeline(a, g, h, d, std::slice::from_ref(&address))
                .replace("    id_field:", "    manage_templates: false\n    id_field:")
        },
        &[],
    )
    .await;
    for k in 0..5 {
        post(&lookout, request(k * 100, 100, Value::IntValue)).await;
    }
    wait_count(&es.address, INDEX, 500, &lookout).await;
    let doc: Json = reqwest::get(format!("http://{}/{INDEX}/_doc/42", es.address)).await.unwrap().json().await.unwrap();
    assert_eq!(doc["_source"]["body"], "order 42", "id_field makes the document id: {doc}");
    assert_eq!(doc["_source"]["service.name"], "Shop");

    // `attributes.count` is a long now: strings are a mapping conflict, refused for good.
    post(&lookout, request(1000, 3, |i| Value::StringValue(format!("many-{i}")))).await;
    let dead_path = lookout.dir.path().join("dead.ndjson");
    let deadline = Instant::now() + Duration::from_secs(20);
    while read_ndjson(&dead_path).len() < 3 {
        assert!(Instant::now() < deadline, "no dead letters; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = read_ndjson(&dead_path);
    assert_eq!(dead.len(), 3);
    for d in &dead {
        assert_eq!(d["sink"], "es");
        assert_eq!(d["route"], INDEX);
        assert!(d["error"].as_str().unwrap().contains("mapper_parsing_exception"), "{d}");
        assert!(d["record"]["attributes"]["count"].as_str().unwrap().starts_with("many-"), "{d}");
    }
    assert_eq!(count(&es.address, INDEX).await, 500);
    assert_eq!(metric(&lookout, "lookout_component_dead_letter_events_total").await, 3.0);
    assert_eq!(metric(&lookout, "lookout_component_sent_events_total").await, 500.0);
    assert!(lookout.stop().await.success());
}

/// A proxy in front of the store that answers the first `fail` `_bulk` requests with 503
/// and remembers the `Authorization` header it saw.
struct Proxy {
    address: String,
    bulk_requests: Arc<AtomicUsize>,
    authorization: Arc<std::sync::Mutex<Option<String>>>,
    server: tokio::task::JoinHandle<()>,
}

async fn flaky_proxy_on(listener: tokio::net::TcpListener, upstream: String, fail: usize) -> Proxy {
    let bulk_requests = Arc::new(AtomicUsize::new(0));
    let authorization = Arc::new(std::sync::Mutex::new(None));
    let (counter, auth) = (bulk_requests.clone(), authorization.clone());
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (counter, auth, client, upstream) = (counter.clone(), auth.clone(), client.clone(), upstream.clone());
        async move {
            let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
            if path.starts_with("/_bulk") {
                let header = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_string());
                *auth.lock().unwrap() = header;
                if counter.fetch_add(1, Ordering::SeqCst) < fail {
                    return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "overloaded".to_string());
                }
            }
            let method = req.method().clone();
            let ct = req.headers().get("content-type").cloned();
            let body = axum::body::to_bytes(req.into_body(), 64 << 20).await.unwrap();
            let mut fwd = client.request(method, format!("http://{upstream}{path}")).body(body);
            if let Some(ct) = ct {
                fwd = fwd.header("content-type", ct);
            }
            let resp = fwd.send().await.unwrap();
            let status = axum::http::StatusCode::from_u16(resp.status().as_u16()).unwrap();
            (status, resp.text().await.unwrap())
        }
    });
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Proxy { address, bulk_requests, authorization, server }
}

async fn flaky_proxy(upstream: String, fail: usize) -> Proxy {
    flaky_proxy_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), upstream, fail).await
}

#[tokio::test]
async fn retries_through_503s_and_skips_a_dead_endpoint() {
    let es = start_osmem(free_port()).await;
    let proxy = flaky_proxy(es.address.clone(), 4).await;
    let bulk_requests = proxy.bulk_requests.clone();
    let dead = format!("127.0.0.1:{}", free_port());
    let endpoints = [dead.clone(), proxy.address.clone()];
    let with_auth = |a: &str, g: &str, h: &str, d: &Path| {
        es_pipeline(a, g, h, d, &endpoints)
            .replace("    id_field:", "    auth: { user: elastic, password: s3cret }\n    id_field:")
    };
    let mut lookout = Lookout::start_custom(with_auth, &[]).await;
    for k in 0..10 {
        post(&lookout, request(k * 100, 100, Value::IntValue)).await;
    }
    wait_count(&es.address, INDEX, 1000, &lookout).await;
    assert!(bulk_requests.load(Ordering::SeqCst) > 4, "the 503s were retried");
    let auth = proxy.authorization.lock().unwrap().clone();
    assert_eq!(auth.as_deref(), Some("Basic ZWxhc3RpYzpzM2NyZXQ="), "basic auth: elastic:s3cret");
    assert!(metric(&lookout, "lookout_component_retries_total").await > 0.0);
    assert_eq!(metric(&lookout, "lookout_component_dead_letter_events_total").await, 0.0);
    let health: Json = reqwest::get(format!("http://{}/health", lookout.api)).await.unwrap().json().await.unwrap();
    let es_health = &health["components"]["es"];
    assert_eq!(es_health["state"], "degraded", "{health}");
    assert!(es_health["reason"].as_str().unwrap().contains(&dead), "{health}");
    assert!(lookout.stop().await.success());
    assert_eq!(count(&es.address, INDEX).await, 1000, "exactly once");
}

#[tokio::test]
async fn a_store_that_starts_late_gets_everything() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut lookout =
        Lookout::start_custom(|a, g, h, d| es_pipeline(a, g, h, d, std::slice::from_ref(&address)), &[]).await;
    for k in 0..3 {
        post(&lookout, request(k * 100, 100, Value::IntValue)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let es = start_osmem(port).await;
    assert_eq!(count(&es.address, INDEX).await, 0);
    // The circuit opened while the store was away; after its cool-down a probe goes
    // through, succeeds, and closes it.
    wait_count(&es.address, INDEX, 300, &lookout).await;
    assert!(lookout.stop().await.success());
}

/// A store that is down holds up only its own sink: the file sink next to it gets every
/// record, and the down sink's `drop_newest` buffer drops (and counts) what it cannot hold.
#[tokio::test]
async fn a_dead_store_never_stalls_the_other_sinks() {
    let dead = vec![format!("127.0.0.1:{}", free_port())];
    let mut lookout = Lookout::start_custom(
        |a, g, h, d| {
            let mut p = es_pipeline(a, g, h, d, &dead);
            p.push_str("    buffer: { max_events: 500, when_full: drop_newest }\n");
            p.push_str(&format!(
                "  archive:\n    type: file\n    inputs: [enrich]\n    path: {}\n",
                d.join("out.ndjson").display()
            ));
            p
        },
        &[],
    )
    .await;
    for k in 0..20 {
        post(&lookout, request(k * 100, 100, Value::IntValue)).await;
    }
    crate::util::wait_for(&lookout.out_path(), "all 2000 records in the file", |d| d.len() == 2000).await;
    let dropped = metric(&lookout, "lookout_component_dropped_events_total").await;
    // What the sink holds (requests retrying, the batch being built, its buffer) is bounded;
    // the rest of the 2000 was dropped and counted.
    assert!(dropped > 0.0 && dropped < 2000.0, "dropped {dropped}");
    assert!(lookout.is_running());
}

/// The store's front end dies mid-run and comes back on the same address: what was
/// accepted meanwhile is retried and arrives, once (document ids make retries idempotent).
#[tokio::test]
async fn a_store_that_dies_mid_run_gets_everything_once_it_is_back() {
    let es = start_osmem(free_port()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = listener.local_addr().unwrap().to_string();
    let proxy = flaky_proxy_on(listener, es.address.clone(), 0).await;
    let endpoints = [front.clone()];
    let with_key = |a: &str, g: &str, h: &str, d: &Path| {
        es_pipeline(a, g, h, d, &endpoints)
            .replace("    id_field:", "    auth: { api_key: a2V5OnNlY3JldA== }\n    id_field:")
    };
    let mut lookout = Lookout::start_custom(with_key, &[]).await;
    for k in 0..3 {
        post(&lookout, request(k * 100, 100, Value::IntValue)).await;
    }
    wait_count(&es.address, INDEX, 300, &lookout).await;
    assert_eq!(proxy.authorization.lock().unwrap().as_deref(), Some("ApiKey a2V5OnNlY3JldA=="));

    proxy.server.abort();
    let _ = proxy.server.await;
    for k in 3..6 {
        post(&lookout, request(k * 100, 100, Value::IntValue)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(&es.address, INDEX).await, 300, "nothing gets through while it is down");
    let back = tokio::net::TcpListener::bind(&front).await.expect("rebind the same address");
    let _proxy = flaky_proxy_on(back, es.address.clone(), 0).await;
    wait_count(&es.address, INDEX, 600, &lookout).await;
    assert!(lookout.stop().await.success());
    assert_eq!(count(&es.address, INDEX).await, 600, "exactly once");
}
