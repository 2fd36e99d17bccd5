use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Lookout, logs_request, of_signal, python, wait_for, workspace_root};

const SHOP_TOKEN: &str = "shop-secret-token";
const BLOG_TOKEN: &str = "blog-secret-token";

fn sha256_hex(token: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(token.as_bytes())?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// The test pipeline with `auth:` and a tenants file next to it (a relative path);
/// `shop` may send 300 records/s (burst 300), `blog` is effectively unlimited.
async fn start(extra: &str) -> Lookout {
    let tenants = format!(
        "tenants:\n  shop:\n    tokens: [\"sha256:{}\"]\n    limits: {{ events_per_second: 300, bytes_per_second: 20MiB, max_series: 1000 }}\n  blog:\n    tokens: [\"sha256:{}\"]\n    limits: {{ events_per_second: 1000000 }}\n",
        sha256_hex(SHOP_TOKEN),
        sha256_hex(BLOG_TOKEN)
    );
    let extra = extra.to_string();
    Lookout::start_custom(
        move |api, grpc, http, dir| {
            std::fs::write(dir.join("tenants.yaml"), tenants).unwrap();
            let p = crate::util::pipeline(api, grpc, http, dir, &extra, "enrich");
            p.replace(
                "    max_request_size: 1048576\n",
                "    max_request_size: 1048576\n    auth: { tenants_file: tenants.yaml }\n",
            )
        },
        &[],
    )
    .await
}

async fn run_sdk(protocol: &str, endpoint: &str, headers: &str, logs: usize) {
    let script = workspace_root().join("tests/python/otlp_client.py");
    let n = logs.to_string();
    let out = tokio::process::Command::new(python())
        .arg(script)
        .args(["--protocol", protocol, "--endpoint", endpoint, "--logs", &n, "--spans", "5"])
        .env("OTEL_EXPORTER_OTLP_HEADERS", headers)
        // A client claiming another tenant in its resource is overruled by its token.
        .env("OTEL_RESOURCE_ATTRIBUTES", "tenant=blog")
        .output()
        .await
        .expect("run python");
    assert!(
        out.status.success(),
        "python client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn metrics(lookout: &Lookout) -> String {
    reqwest::get(format!("http://{}/metrics", lookout.api)).await.unwrap().text().await.unwrap()
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

#[tokio::test]
async fn python_sdk_with_a_token_over_grpc_and_http_gets_its_tenant() {
    let lookout = start("").await;
    let headers = format!("Authorization=Bearer%20{BLOG_TOKEN}");
    run_sdk("grpc", &format!("http://{}", lookout.grpc), &headers, 50).await;
    run_sdk("http", &format!("http://{}", lookout.http), &headers, 50).await;
    let docs = wait_for(&lookout.out_path(), "100 logs and 10 spans", |d| {
        of_signal(d, "log").len() >= 100 && of_signal(d, "span").len() >= 10
    })
    .await;
    for d in &docs {
        assert_eq!(d["resource"]["tenant"], "blog", "every record carries its token's tenant: {d}");
    }
    let m = metrics(&lookout).await;
    assert!(metric(&m, "lookout_tenant_accepted_events_total{tenant=\"blog\"}") >= 110.0, "{m}");
    assert!(metric(&m, "lookout_tenant_accepted_bytes_total{tenant=\"blog\"}") > 0.0);
}

#[tokio::test]
async fn missing_or_wrong_tokens_are_refused_and_nothing_is_delivered() {
    let lookout = start("").await;
    let client = reqwest::Client::new();
    let body = logs_request("intruder", 0, 3, |i| format!("nope {i}"), |_| vec![]);
    let url = format!("http://{}/v1/logs", lookout.http);
    for auth in [None, Some("Bearer wrong"), Some("Basic c2hvcDpzaG9w"), Some(&*format!("Bearer {SHOP_TOKEN}x"))] {
        let mut req = client.post(&url).header("content-type", "application/x-protobuf").body(body.clone());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{auth:?}: {e}; log:\n{}", lookout.log()));
        assert_eq!(resp.status(), 401, "{auth:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
    let resp = client.post(&url).header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let json: Value = resp.json().await.unwrap();
    assert_eq!(json["code"], 16, "google.rpc.Status UNAUTHENTICATED: {json}");

    // gRPC: the same token in metadata; UNAUTHENTICATED without it.
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    use prost::Message;
    let mut grpc = LogsServiceClient::connect(format!("http://{}", lookout.grpc)).await.unwrap();
    let request = ExportLogsServiceRequest::decode(&body[..]).unwrap();
    let status = grpc.export(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let mut wrong = tonic::Request::new(request.clone());
    wrong.metadata_mut().insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(grpc.export(wrong).await.unwrap_err().code(), tonic::Code::Unauthenticated);

    // A good token afterwards is the only thing delivered.
    let mut good = tonic::Request::new(logs_ok());
    good.metadata_mut().insert("authorization", format!("Bearer {SHOP_TOKEN}").parse().unwrap());
    grpc.export(good).await.unwrap();
    let docs = wait_for(&lookout.out_path(), "the authenticated record", |d| !d.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let docs = if docs.len() == 1 { crate::util::read_ndjson(&lookout.out_path()) } else { docs };
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["resource"]["tenant"], "shop");
    assert_eq!(docs[0]["resource"]["service.name"], "ok");

    let m = metrics(&lookout).await;
    assert_eq!(metric(&m, "lookout_ingest_auth_failures_total{source=\"otlp\",reason=\"missing\"}"), 4.0, "{m}");
    assert_eq!(metric(&m, "lookout_ingest_auth_failures_total{source=\"otlp\",reason=\"invalid\"}"), 3.0);
    let log = lookout.log();
    assert!(log.contains("lookout::audit") && log.contains("ingest_auth_failure"), "{log}");
    assert!(!log.contains("wrong") && !log.contains(SHOP_TOKEN), "tokens are never logged");
}

fn logs_ok() -> opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
    use prost::Message;
    let body = logs_request("ok", 0, 1, |_| "fine".into(), |_| vec![]);
    opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest::decode(&body[..]).unwrap()
}

/// `shop` floods far past its 300 records/s while `blog` sends steadily: `shop` gets
/// 429 + Retry-After (HTTP) and RESOURCE_EXHAUSTED (gRPC); every one of `blog`'s
/// requests succeeds and all its records arrive.
#[tokio::test]
async fn a_tenant_over_its_limit_never_slows_another() {
    let lookout = start("").await;
    let started = Instant::now();
    let url = format!("http://{}/v1/logs", lookout.http);
    let flood = {
        let url = url.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut ok, mut limited, mut retry_after) = (0, 0, Vec::new());
            for r in 0..60 {
                let body = logs_request("flood", r * 100, 100, |i| format!("flood {i}"), |_| vec![]);
                let resp = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .header("authorization", format!("Bearer {SHOP_TOKEN}"))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                match resp.status().as_u16() {
                    200 => ok += 1,
                    429 => {
                        limited += 1;
                        retry_after.push(resp.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap());
                    }
                    s => panic!("flood got {s}"),
                }
            }
            (ok, limited, retry_after)
        })
    };
    let steady = {
        let url = url.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut slowest = Duration::ZERO;
            for r in 0..40 {
                let body = logs_request("steady", r * 50, 50, |i| format!("steady {i}"), |_| vec![]);
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .header("authorization", format!("Bearer {BLOG_TOKEN}"))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                slowest = slowest.max(t.elapsed());
                assert_eq!(resp.status(), 200, "request {r} of the steady tenant");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            slowest
        })
    };
    let (ok, limited, retry_after) = flood.await.unwrap();
    let slowest = steady.await.unwrap();
    assert!(limited > 0 && ok > 0, "flood: {ok} accepted, {limited} limited");
    assert!(retry_after.iter().all(|s| (1..=2).contains(s)), "{retry_after:?}");
    assert!(slowest < Duration::from_secs(1), "the steady tenant's slowest request took {slowest:?}");

    // gRPC answers RESOURCE_EXHAUSTED for the flooding tenant.
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    let mut grpc = LogsServiceClient::connect(format!("http://{}", lookout.grpc)).await.unwrap();
    let mut codes = Vec::new();
    for _ in 0..20 {
        let body = logs_request("flood-grpc", 0, 100, |i| format!("g {i}"), |_| vec![]);
        let mut req = tonic::Request::new(
            <opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest as prost::Message>::decode(
                &body[..],
            )
            .unwrap(),
        );
        req.metadata_mut().insert("authorization", format!("Bearer {SHOP_TOKEN}").parse().unwrap());
        codes.push(grpc.export(req).await.err().map(|s| s.code()));
    }
    assert!(codes.contains(&Some(tonic::Code::ResourceExhausted)), "{codes:?}");

    let docs = wait_for(&lookout.out_path(), "every steady record", |d| {
        d.iter().filter(|x| x["resource"]["service.name"] == "steady").count() >= 2000
    })
    .await;
    let steady: Vec<&Value> = docs.iter().filter(|x| x["resource"]["service.name"] == "steady").collect();
    assert_eq!(steady.len(), 2000);
    assert!(steady.iter().all(|d| d["resource"]["tenant"] == "blog"));
    let flooded = docs.iter().filter(|x| x["resource"]["service.name"] == "flood").count();
    assert_eq!(flooded, ok * 100, "exactly the accepted flood requests arrive");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());

    let m = metrics(&lookout).await;
    assert_eq!(metric(&m, "lookout_tenant_accepted_events_total{tenant=\"blog\"}"), 2000.0, "{m}");
    assert!(
        metric(&m, "lookout_tenant_refused_requests_total{tenant=\"shop\",reason=\"events_per_second\"}")
            >= limited as f64
    );
    assert!(metric(&m, "lookout_tenant_refused_events_total{tenant=\"shop\"}") >= (limited * 100) as f64);
}

/// Tenants for the destination tests: `shop` may write only to indices `shop-*` (and
/// Splunk indexes `shop`, `shop-*`);
/// `blog` has no `destinations` (unrestricted, but names are still made valid).
fn destination_tenants() -> String {
    format!(
        "tenants:\n  shop:\n    tokens: [\"sha256:{}\"]\n    destinations: {{ indices: [\"shop-*\"], splunk_indexes: [shop, \"shop-*\"] }}\n  blog:\n    tokens: [\"sha256:{}\"]\n",
        sha256_hex(SHOP_TOKEN),
        sha256_hex(BLOG_TOKEN)
    )
}

/// Posts logs whose `attributes.app` are `apps`, with `token`; expects 200.
async fn post_apps(lookout: &Lookout, token: &str, apps: &[&str]) {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    let apps: Vec<String> = apps.iter().map(|a| a.to_string()).collect();
    let body = logs_request(
        "web",
        0,
        apps.len() as i64,
        |i| format!("record {i}"),
        |i| vec![("seq", Any::IntValue(i)), ("app", Any::StringValue(apps[i as usize].clone()))],
    );
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/logs", lookout.http))
        .header("content-type", "application/x-protobuf")
        .header("authorization", format!("Bearer {token}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", lookout.log());
}

/// Index name → documents, every index (hidden ones included) in the store.
async fn es_indices(es: &str) -> std::collections::BTreeMap<String, u64> {
    let cat: Value = reqwest::get(format!("http://{es}/_cat/indices?format=json&expand_wildcards=all"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    cat.as_array()
        .unwrap()
        .iter()
        .map(|i| (i["index"].as_str().unwrap().to_string(), i["docs.count"].as_str().unwrap().parse().unwrap()))
        .collect()
}

/// Lookout with the destination tenants' file and the sink YAML `sink(dead letter path)`
/// after the standard otlp → enrich pipeline.
async fn start_with_destination_tenants(sink: impl FnOnce(String) -> String + Send + 'static) -> Lookout {
    let tenants = destination_tenants();
    Lookout::start_custom(
        move |api, grpc, http, dir| {
            std::fs::write(dir.join("tenants.yaml"), tenants).unwrap();
            let p = crate::util::pipeline(api, grpc, http, dir, "", "enrich").replace(
                "    max_request_size: 1048576\n",
                "    max_request_size: 1048576\n    auth: { tenants_file: tenants.yaml }\n",
            );
            format!("{p}{}", sink(dir.join("dead.ndjson").display().to_string()))
        },
        &[],
    )
    .await
}

/// An `elasticsearch` sink whose index is the record's `attributes.app`, against
/// osmem-server: hostile names (`../../etc`, `*`, `UPPER Case`, `.security`) become valid,
/// non-hidden index names; a record of `shop` whose name falls outside its
/// `destinations.indices` is dead-lettered with the reason and indexed nowhere.
#[tokio::test]
async fn templated_indices_are_sanitised_and_held_to_the_tenants_allow_list() {
    let es = crate::util::start_osmem(crate::util::free_port()).await;
    let address = es.address.clone();
    let lookout = start_with_destination_tenants(move |dead| {
        format!(
            "  es:\n    type: elasticsearch\n    inputs: [enrich]\n    endpoint: http://{address}\n    index: \"{{attributes.app}}\"\n    dead_letter: {dead}\n    batch: {{ max_events: 100, timeout_ms: 100 }}\n    request: {{ timeout_secs: 5 }}\n"
        )
    })
    .await;
    let hostile = ["../../etc", "*", "UPPER Case", ".security"];
    // blog is unrestricted: every record is indexed, under a valid name.
    let mut blog = hostile.to_vec();
    blog.push("web");
    post_apps(&lookout, BLOG_TOKEN, &blog).await;
    // shop may only write `shop-*`: its normal records (any case) go there, the rest
    // are refused.
    let mut shop = hostile.to_vec();
    shop.extend(["shop-web", "Shop-WEB"]);
    post_apps(&lookout, SHOP_TOKEN, &shop).await;

    let dead_path = lookout.dir.path().join("dead.ndjson");
    let expected: std::collections::BTreeMap<String, u64> =
        [("etc", 1), ("unknown", 1), ("upper_case", 1), ("security", 1), ("web", 1), ("shop-web", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _ = reqwest::Client::new().post(format!("http://{}/_refresh", es.address)).send().await;
        let got = es_indices(&es.address).await;
        if got == expected && crate::util::read_ndjson(&dead_path).len() >= hostile.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "indices {got:?}, dead letters {:?}; log:\n{}",
            crate::util::read_ndjson(&dead_path),
            lookout.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Settle, then check nothing else arrived anywhere.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let indices = es_indices(&es.address).await;
    assert_eq!(indices, expected, "only sanitised names, none hidden, no path or wildcard");
    assert!(indices.keys().all(|i| !i.starts_with(['.', '_', '-', '+']) && !i.contains(['/', '*', ' '])));

    let dead = crate::util::read_ndjson(&dead_path);
    assert_eq!(dead.len(), hostile.len(), "{dead:?}");
    let mut refused: Vec<(String, String)> = dead
        .iter()
        .map(|d| {
            assert_eq!(d["sink"], "es", "{d}");
            assert_eq!(d["record"]["resource"]["tenant"], "shop", "{d}");
            (d["record"]["attributes"]["app"].as_str().unwrap().to_string(), d["error"].as_str().unwrap().to_string())
        })
        .collect();
    refused.sort();
    let why = |name: &str| format!("destination `{name}` is not in tenant `shop`'s destinations.indices");
    assert_eq!(
        refused,
        vec![
            ("*".to_string(), why("unknown")),
            ("../../etc".to_string(), why("etc")),
            (".security".to_string(), why("security")),
            ("UPPER Case".to_string(), why("upper_case")),
        ]
    );
    // (The counts above: each hostile name's index holds blog's one record, so none of
    // shop's refused records was indexed anywhere.)
    let m = metrics(&lookout).await;
    assert!(m.contains("lookout_component_dead_letter_events_total"), "{m}");
}

/// A `splunk_hec` sink whose `index` is the record's `attributes.app`: `shop`'s records
/// rendering an index outside its `destinations.splunk_indexes` are dead-lettered with
/// the reason and never reach HEC; `blog` (no list) is not restricted.
#[tokio::test]
async fn splunk_indexes_hold_a_tenants_hec_index() {
    use crate::hec_receiver::{HecReceiver, Options};
    let hec = HecReceiver::start(Options::default()).await;
    let url = hec.url.clone();
    let lookout = start_with_destination_tenants(move |dead| {
        format!(
            "  splunk:\n    type: splunk_hec\n    inputs: [enrich]\n    endpoint: {url}\n    token: test-token\n    index: \"{{attributes.app}}\"\n    dead_letter: {dead}\n    batch: {{ max_events: 100, timeout_ms: 100 }}\n"
        )
    })
    .await;
    post_apps(&lookout, SHOP_TOKEN, &["shop-web", "main", "_internal", "Shop"]).await;
    post_apps(&lookout, BLOG_TOKEN, &["main"]).await;

    let dead_path = lookout.dir.path().join("dead.ndjson");
    let deadline = Instant::now() + Duration::from_secs(30);
    while hec.events().len() < 3 || crate::util::read_ndjson(&dead_path).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "events {:?}, dead letters {:?}; log:\n{}",
            hec.events(),
            crate::util::read_ndjson(&dead_path),
            lookout.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut delivered: Vec<(String, String)> = hec
        .events()
        .iter()
        .map(|e| {
            let tenant = e["event"]["resource"]["tenant"].as_str().or(e["event"]["tenant"].as_str());
            (e["index"].as_str().unwrap_or_default().to_string(), tenant.unwrap_or_default().to_string())
        })
        .collect();
    delivered.sort();
    let pair = |i: &str, t: &str| (i.to_string(), t.to_string());
    assert_eq!(delivered, vec![pair("main", "blog"), pair("shop", "shop"), pair("shop-web", "shop")]);
    let mut refused: Vec<(String, String)> = crate::util::read_ndjson(&dead_path)
        .iter()
        .map(|d| {
            assert_eq!(d["sink"], "splunk", "{d}");
            (d["record"]["attributes"]["app"].as_str().unwrap().to_string(), d["error"].as_str().unwrap().to_string())
        })
        .collect();
    refused.sort();
    let why = |name: &str| format!("destination `{name}` is not in tenant `shop`'s destinations.splunk_indexes");
    assert_eq!(refused, vec![pair("_internal", &why("internal")), pair("main", &why("main"))]);
}
