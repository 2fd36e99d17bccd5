//! Index templates and lifecycles the `elasticsearch` sink installs.
//!
//! Against osmem-server (OpenSearch-compatible, a real peer: it stores `_index_template`
//! and applies its mappings) and, for what osmem lacks (ILM, ISM, data streams, 403s),
//! against `FakeStore` below: a protocol-faithful receiver written from the Elasticsearch
//! and OpenSearch REST API references (`GET /`, `GET/PUT _index_template/{name}`,
//! `GET/PUT _ilm/policy/{name}`, `GET/PUT _plugins/_ism/policies/{id}` with
//! `if_seq_no`/`if_primary_term`, `POST _bulk` with gzip bodies and data streams that
//! only take `create`).

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde_json::{Value as Json, json};

use crate::util::{Lookout, free_port, start_osmem};

/// What the fake store holds and saw.
#[derive(Default)]
struct Stored {
    opensearch: bool,
    /// Answer every PUT with 403, as a user without the privilege gets.
    forbid_puts: bool,
    templates: HashMap<String, Json>,
    policies: HashMap<String, (Json, u64)>,
    /// `METHOD path` of every request but `_bulk`.
    calls: Vec<String>,
    /// `(action, index, document)` of every stored bulk item.
    docs: Vec<(String, String, Json)>,
    gzip_bulks: usize,
}

type Shared = Arc<Mutex<Stored>>;

struct FakeStore {
    address: String,
    stored: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeStore {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn error(status: StatusCode, kind: &str, reason: &str) -> Response {
    (status, axum::Json(json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status.as_u16()}))).into_response()
}

async fn root(State(s): State<Shared>) -> Response {
    let s = s.lock().unwrap();
    let version = if s.opensearch {
        json!({"distribution": "opensearch", "number": "2.17.0"})
    } else {
        json!({"number": "8.15.0", "build_flavor": "default"})
    };
    axum::Json(json!({"name": "fake", "cluster_name": "fake", "version": version, "tagline": "You Know, for Search"}))
        .into_response()
}

async fn template(State(s): State<Shared>, method: Method, UrlPath(name): UrlPath<String>, body: Bytes) -> Response {
    let mut s = s.lock().unwrap();
    s.calls.push(format!("{method} _index_template/{name}"));
    if method == Method::PUT {
        if s.forbid_puts {
            return error(
                StatusCode::FORBIDDEN,
                "security_exception",
                "action [indices:admin/index_template/put] is unauthorized for user [shipper] with effective roles [writer]",
            );
        }
        let body: Json = serde_json::from_slice(&body).unwrap();
        s.templates.insert(name, body);
        return axum::Json(json!({"acknowledged": true})).into_response();
    }
    match s.templates.get(&name) {
        Some(t) => axum::Json(json!({"index_templates": [{"name": name, "index_template": t}]})).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "resource_not_found_exception",
            &format!("index template matching [{name}] not found"),
        ),
    }
}

async fn ilm(State(s): State<Shared>, method: Method, UrlPath(name): UrlPath<String>, body: Bytes) -> Response {
    let mut s = s.lock().unwrap();
    s.calls.push(format!("{method} _ilm/policy/{name}"));
    if s.opensearch {
        return (StatusCode::BAD_REQUEST, format!("no handler found for uri [/_ilm/policy/{name}]")).into_response();
    }
    if method == Method::PUT {
        let body: Json = serde_json::from_slice(&body).unwrap();
        let version = s.policies.get(&name).map_or(1, |p| p.1 + 1);
        s.policies.insert(name, (body, version));
        return axum::Json(json!({"acknowledged": true})).into_response();
    }
    match s.policies.get(&name) {
        Some((p, v)) => axum::Json(
            json!({name.clone(): {"version": v, "modified_date": "2026-12-07T00:00:00Z", "policy": p["policy"]}}),
        )
        .into_response(),
        None => {
            error(StatusCode::NOT_FOUND, "resource_not_found_exception", &format!("Lifecycle policy not found: {name}"))
        }
    }
}

async fn ism(
    State(s): State<Shared>,
    method: Method,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut s = s.lock().unwrap();
    s.calls.push(format!("{method} _plugins/_ism/policies/{id}"));
    if method == Method::PUT {
        let body: Json = serde_json::from_slice(&body).unwrap();
        let seq = match (s.policies.get(&id), q.get("if_seq_no")) {
            (Some(_), None) => {
                return error(
                    StatusCode::CONFLICT,
                    "version_conflict_engine_exception",
                    &format!("[{id}]: version conflict, document already exists"),
                );
            }
            (Some((_, seq)), Some(asked)) if asked.parse::<u64>().ok() != Some(*seq) => {
                return error(
                    StatusCode::CONFLICT,
                    "version_conflict_engine_exception",
                    &format!("[{id}]: version conflict"),
                );
            }
            (Some((_, seq)), Some(_)) => seq + 1,
            (None, _) => 0,
        };
        s.policies.insert(id.clone(), (body, seq));
        return (StatusCode::CREATED, axum::Json(json!({"_id": id, "_seq_no": seq, "_primary_term": 1})))
            .into_response();
    }
    match s.policies.get(&id) {
        Some((p, seq)) => axum::Json(
            json!({"_id": id, "_version": seq + 1, "_seq_no": seq, "_primary_term": 1, "policy": p["policy"]}),
        )
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "status_exception", "Policy not found"),
    }
}

async fn bulk(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = s.lock().unwrap();
    let body = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        s.gzip_bulks += 1;
        let mut out = String::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut out).unwrap();
        out
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    let mut lines = body.lines();
    let mut items = Vec::new();
    let mut errors = false;
    while let (Some(action), Some(doc)) = (lines.next(), lines.next()) {
        let action: Json = serde_json::from_str(action).unwrap();
        let (op, meta) = action.as_object().unwrap().iter().next().unwrap();
        let index = meta["_index"].as_str().unwrap().to_string();
        let data_stream = s.templates.values().any(|t| {
            t.get("data_stream").is_some()
                && t["index_patterns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| index.starts_with(p.as_str().unwrap().trim_end_matches('*')))
        });
        if data_stream && op != "create" {
            errors = true;
            items.push(json!({op: {"_index": index, "status": 400, "error": {"type": "illegal_argument_exception", "reason": "only write ops with an op_type of create are allowed in data streams"}}}));
            continue;
        }
        s.docs.push((op.clone(), index.clone(), serde_json::from_str(doc).unwrap()));
        items.push(json!({op: {"_index": index, "status": 201, "result": "created"}}));
    }
    axum::Json(json!({"took": 1, "errors": errors, "items": items})).into_response()
}

async fn start_fake(opensearch: bool, forbid_puts: bool) -> FakeStore {
    let stored: Shared = Arc::new(Mutex::new(Stored { opensearch, forbid_puts, ..Stored::default() }));
    let app = Router::new()
        .route("/", get(root))
        .route("/_index_template/{name}", any(template))
        .route("/_ilm/policy/{name}", any(ilm))
        .route("/_plugins/_ism/policies/{id}", any(ism))
        .route("/_bulk", axum::routing::post(bulk))
        .with_state(stored.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    FakeStore { address, stored, server }
}

/// otlp → es, with `extra` YAML lines in the sink.
fn config(api: &str, http: &str, data: &std::path::Path, store: &str, extra: &str) -> String {
    format!(
        r#"api: {{ address: {api} }}
data_dir: {data}
sources:
  otlp:
    type: otlp
    grpc: {{ address: 127.0.0.1:{grpc} }}
    http: {{ address: {http} }}
sinks:
  es:
    type: elasticsearch
    inputs: [otlp]
    endpoints: [http://{store}]
    index: "logs-{{service.name}}-%Y.%m.%d"
    batch: {{ max_events: 100, timeout_ms: 50 }}
    request: {{ timeout_secs: 2, retry_initial_backoff_ms: 20, retry_max_backoff_secs: 0.2, retry_max_duration_secs: 30 }}
{extra}"#,
        data = data.display(),
        grpc = free_port(),
    )
}

async fn post(http: &str, first: i64, n: i64, count: impl Fn(i64) -> Value) {
    let body = crate::util::logs_request(
        "Shop",
        first,
        n,
        |i| format!("order {i}"),
        |i| vec![("seq", Value::IntValue(i)), ("count", count(i))],
    );
    let resp = reqwest::Client::new()
        .post(format!("http://{http}/v1/logs"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn wait(what: &str, lookout: &Lookout, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health(lookout: &Lookout) -> Json {
    reqwest::get(format!("http://{}/health", lookout.api)).await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn osmem_gets_the_template_and_applies_its_mappings() {
    let os = start_osmem(free_port()).await;
    let dir = tempfile::tempdir().unwrap();
    let (api, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let mut lookout =
        Lookout::start_in(dir.path(), &config(&api, &http, &dir.path().join("data"), &os.address, ""), &api, &http)
            .await;
    // A string where the template made a number: kept, the field ignored (ignore_malformed),
    // instead of the whole record refused.
    post(&http, 0, 3, Value::IntValue).await;
    post(&http, 3, 1, |_| Value::StringValue("many".into())).await;
    let count = || async {
        let r = reqwest::get(format!("http://{}/logs-shop-2023.11.14/_count", os.address)).await.unwrap();
        r.json::<Json>().await.map(|j| j["count"].as_u64().unwrap_or(0)).unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while count().await < 4 {
        assert!(Instant::now() < deadline, "documents missing; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t: Json = reqwest::get(format!("http://{}/_index_template/lookout-es-logs", os.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = &t["index_templates"][0]["index_template"];
    assert_eq!(t["index_patterns"], json!(["logs-*"]), "{t}");
    assert_eq!(t["template"]["mappings"]["properties"]["@timestamp"]["type"], "date_nanos", "{t}");
    assert_eq!(t["template"]["mappings"]["properties"]["body"]["fields"]["keyword"]["type"], "keyword", "{t}");
    assert_eq!(t["_meta"]["managed_by"], "lookout");
    let m: Json = reqwest::get(format!("http://{}/logs-shop-2023.11.14/_mapping", os.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let props = &m["logs-shop-2023.11.14"]["mappings"]["properties"];
    assert_eq!(props["trace_id"]["type"], "keyword", "{m}");
    assert_eq!(props["body"]["type"], "text", "{m}");
    assert!(lookout.dir.path().exists());
    let sink = &health(&lookout).await["components"]["es"];
    assert_eq!(sink["state"], "running", "{sink}");
    assert!(lookout.stop().await.success());
}

#[tokio::test]
async fn data_streams_with_gzip_and_a_lifecycle_on_elasticsearch_installed_once() {
    let store = start_fake(false, false).await;
    let dir = tempfile::tempdir().unwrap();
    let (api, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let yaml = config(
        &api,
        &http,
        &dir.path().join("data"),
        &store.address,
        "    mode: data_stream\n    compression: gzip\n    retention: 30d\n",
    );
    let mut lookout = Lookout::start_in(dir.path(), &yaml, &api, &http).await;
    post(&http, 0, 250, Value::IntValue).await;
    wait("250 documents", &lookout, || store.stored.lock().unwrap().docs.len() == 250).await;
    {
        let s = store.stored.lock().unwrap();
        assert!(s.docs.iter().all(|(op, index, _)| op == "create" && index == "logs-shop-2023.11.14"));
        assert!(s.gzip_bulks >= 3, "{} gzip bulks", s.gzip_bulks);
        let t = &s.templates["lookout-es-logs"];
        assert_eq!(t["data_stream"], json!({}));
        assert_eq!(t["priority"], 200, "above Elasticsearch's built-in logs-*-*");
        // 8.15 has the data stream lifecycle: no ILM policy.
        assert_eq!(t["template"]["lifecycle"]["data_retention"], "30d", "{t}");
        assert!(s.policies.is_empty());
        assert!(s.calls.iter().all(|c| !c.contains("_ilm")), "{:?}", s.calls);
        // Three index templates, one per signal's prefix.
        let mut names: Vec<_> = s.templates.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["lookout-es-logs", "lookout-es-metrics", "lookout-es-traces"]);
    }
    assert!(lookout.stop().await.success());
    // A restart finds everything in place: reads, writes nothing.
    let puts_before = store.stored.lock().unwrap().calls.iter().filter(|c| c.starts_with("PUT")).count();
    let mut lookout = Lookout::start_in(dir.path(), &yaml, &api, &http).await;
    post(&http, 1000, 10, Value::IntValue).await;
    wait("260 documents", &lookout, || store.stored.lock().unwrap().docs.len() == 260).await;
    {
        let s = store.stored.lock().unwrap();
        assert_eq!(s.calls.iter().filter(|c| c.starts_with("PUT")).count(), puts_before, "{:?}", s.calls);
    }
    assert!(lookout.stop().await.success());
}

#[tokio::test]
async fn ilm_for_dated_indices_and_ism_on_opensearch_updated_at_its_version() {
    // Elasticsearch, index mode: an ILM policy that deletes, named by the templates.
    let es = start_fake(false, false).await;
    let dir = tempfile::tempdir().unwrap();
    let (api, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let mut lookout = Lookout::start_in(
        dir.path(),
        &config(&api, &http, &dir.path().join("data"), &es.address, "    retention: 14d\n"),
        &api,
        &http,
    )
    .await;
    post(&http, 0, 5, Value::IntValue).await;
    wait("5 documents", &lookout, || es.stored.lock().unwrap().docs.len() == 5).await;
    {
        let s = es.stored.lock().unwrap();
        let (policy, _) = &s.policies["lookout-es"];
        assert_eq!(policy["policy"]["phases"]["delete"]["min_age"], "14d", "{policy}");
        assert_eq!(s.templates["lookout-es-logs"]["template"]["settings"]["index.lifecycle.name"], "lookout-es");
        assert!(s.docs.iter().all(|(op, _, _)| op == "index"));
        // The policy exists before any template names it.
        let policy_put = s.calls.iter().position(|c| c == "PUT _ilm/policy/lookout-es").unwrap();
        let template_put = s.calls.iter().position(|c| c.starts_with("PUT _index_template")).unwrap();
        assert!(policy_put < template_put, "{:?}", s.calls);
    }
    assert!(lookout.stop().await.success());

    // OpenSearch: ISM attached by pattern; a changed retention replaces it at the version read.
    let os = start_fake(true, false).await;
    let dir = tempfile::tempdir().unwrap();
    let (api, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let data = dir.path().join("data");
    let mut lookout =
        Lookout::start_in(dir.path(), &config(&api, &http, &data, &os.address, "    retention: 7d\n"), &api, &http)
            .await;
    post(&http, 0, 5, Value::IntValue).await;
    wait("5 documents", &lookout, || os.stored.lock().unwrap().docs.len() == 5).await;
    assert!(lookout.stop().await.success());
    {
        let s = os.stored.lock().unwrap();
        let (policy, seq) = &s.policies["lookout-es"];
        assert_eq!(*seq, 0);
        assert_eq!(policy["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"], "7d", "{policy}");
        assert_eq!(policy["policy"]["ism_template"][0]["index_patterns"], json!(["logs-*", "traces-*", "metrics-*"]));
        assert!(s.calls.iter().all(|c| !c.contains("_ilm")), "no ILM on OpenSearch: {:?}", s.calls);
        assert!(s.templates["lookout-es-logs"]["template"].get("settings").is_none());
    }
    let mut lookout =
        Lookout::start_in(dir.path(), &config(&api, &http, &data, &os.address, "    retention: 10d\n"), &api, &http)
            .await;
    post(&http, 10, 5, Value::IntValue).await;
    wait("10 documents", &lookout, || os.stored.lock().unwrap().docs.len() == 10).await;
    {
        let s = os.stored.lock().unwrap();
        let (policy, seq) = &s.policies["lookout-es"];
        assert_eq!(*seq, 1, "replaced at the version read");
        assert_eq!(policy["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"], "10d");
    }
    assert!(lookout.stop().await.success());
}

#[tokio::test]
async fn a_missing_privilege_is_said_plainly_and_records_still_flow() {
    let store = start_fake(false, true).await;
    let dir = tempfile::tempdir().unwrap();
    let (api, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    // Health checks every 100 ms: a passing check must not hide the failed preparation.
    let extra = "    health_check: { interval_secs: 0.1 }\n";
    let mut lookout = Lookout::start_in(
        dir.path(),
        &config(&api, &http, &dir.path().join("data"), &store.address, extra),
        &api,
        &http,
    )
    .await;
    post(&http, 0, 20, Value::IntValue).await;
    wait("20 documents", &lookout, || store.stored.lock().unwrap().docs.len() == 20).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let sink = &health(&lookout).await["components"]["es"];
    let state = sink.to_string();
    assert!(state.contains("degraded"), "{sink}");
    assert!(state.contains("cannot install index template `lookout-es-logs`: HTTP 403"), "{sink}");
    assert!(state.contains("manage_index_templates"), "{sink}");
    assert!(lookout.log().contains("manage_templates: false"), "{}", lookout.log());
    // Only one attempt: a missing privilege is not waited out.
    assert_eq!(store.stored.lock().unwrap().calls.iter().filter(|c| c.starts_with("PUT")).count(), 1);
    assert!(lookout.stop().await.success());
}

#[tokio::test]
async fn retention_on_an_undated_index_is_refused_at_check() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = config("127.0.0.1:1", "127.0.0.1:2", &dir.path().join("data"), "127.0.0.1:9", "    retention: 30d\n")
        .replace("logs-{service.name}-%Y.%m.%d", "app-logs");
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out =
        std::process::Command::new(crate::util::lookout_bin()).args(["check", "--config"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("pipeline.yaml:") && err.contains("`retention` deletes whole indices"), "{err}");
}
