use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Value as Json, json};

use crate::util::{Lookout, read_ndjson, start_moto};

/// A CloudWatch Logs API call. moto does not check signatures; it only reads the
/// service from the credential scope.
async fn logs_api(moto: &str, action: &str, body: Json) -> Json {
    let resp = reqwest::Client::new()
        .post(format!("http://{moto}/"))
        .header("x-amz-target", format!("Logs_20140328.{action}"))
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{action}: HTTP {status}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Every (group, stream) and its events, oldest first, as GetLogEvents pages them.
async fn read_all(moto: &str) -> HashMap<(String, String), Vec<Json>> {
    let mut out = HashMap::new();
    let groups = logs_api(moto, "DescribeLogGroups", json!({})).await;
    for g in groups["logGroups"].as_array().unwrap() {
        let group = g["logGroupName"].as_str().unwrap().to_string();
        let streams = logs_api(moto, "DescribeLogStreams", json!({ "logGroupName": group })).await;
        for s in streams["logStreams"].as_array().unwrap() {
            let stream = s["logStreamName"].as_str().unwrap().to_string();
            let mut events = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut req = json!({ "logGroupName": group, "logStreamName": stream, "startFromHead": true });
                if let Some(t) = &token {
                    req["nextToken"] = json!(t);
                }
                let page = logs_api(moto, "GetLogEvents", req).await;
                let got = page["events"].as_array().unwrap();
                events.extend(got.iter().cloned());
                let next = page["nextForwardToken"].as_str().map(str::to_string);
                if got.is_empty() || next.is_none() || next == token {
                    break;
                }
                token = next;
            }
            out.insert((group.clone(), stream), events);
        }
    }
    out
}

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

/// One request: per (service, host), the records `seqs` at the times `time_ms(seq)`.
fn request(resources: &[(&str, &str, Vec<i64>)], time_ms: impl Fn(i64) -> i64) -> Vec<u8> {
    let resource_logs = resources
        .iter()
        .map(|(service, host, seqs)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", Value::StringValue(service.to_string())),
                    kv("host.name", Value::StringValue(host.to_string())),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: seqs
                    .iter()
                    .map(|&i| LogRecord {
                        time_unix_nano: time_ms(i) as u64 * 1_000_000,
                        body: Some(AnyValue { value: Some(Value::StringValue(format!("order {i}"))) }),
                        attributes: vec![kv("seq", Value::IntValue(i))],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }.encode_to_vec()
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

async fn metric(lookout: &Lookout, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", lookout.api)).await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l.contains("component_id=\"cw\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// `YYYY-MM-DD` (UTC) of a time in milliseconds (days to civil date, proleptic Gregorian).
fn ymd(ms: i64) -> String {
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn cw_pipeline(api: &str, grpc: &str, http: &str, dir: &Path, moto: &str) -> String {
    format!(
        r#"api: {{ address: {api} }}
data_dir: {data}
sources:
  otlp:
    type: otlp
    grpc: {{ address: {grpc} }}
    http: {{ address: {http} }}
sinks:
  cw:
    type: cloudwatch_logs
    inputs: [otlp]
    group: "/lookout/{{service.name}}"
    stream: "{{resource.host.name}}-%Y-%m-%d"
    endpoint: http://{moto}
    dead_letter: {dead}
    batch: {{ max_events: 700, timeout_ms: 100 }}
    request: {{ timeout_secs: 10, retry_initial_backoff_ms: 20, retry_max_backoff_secs: 0.5, retry_max_duration_secs: 60 }}
"#,
        data = dir.join("data").display(),
        dead = dir.join("dead.ndjson").display(),
    )
}

const N: i64 = 2500;

/// Every record arrives once, in the group and stream its templates name (both created
/// on the way), oldest first; a record 20 days old is dead-lettered, never sent.
#[tokio::test]
async fn delivers_every_record_once_in_order_and_dead_letters_stale_ones() {
    let moto = start_moto().await;
    let address = moto.address.clone();
    let env = [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_REGION", "us-east-1")];
    let mut lookout = Lookout::start_custom(|a, g, h, d| cw_pipeline(a, g, h, d, &address), &env).await;

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    // Times within 10 s of a minute ago, shuffled: CloudWatch (and moto) refuse a call
    // whose events are out of order, so the sink must sort them.
    let base = now - 60_000;
    let time = |i: i64| base + (i * 7919) % 10_000;
    let sites = [("shop", "web-1"), ("shop", "web-2"), ("cart", "web-1")];
    let site = |i: i64| sites[(i % 3) as usize];
    for chunk in 0..5 {
        let seqs: Vec<i64> = (chunk * N / 5..(chunk + 1) * N / 5).collect();
        let resources: Vec<(&str, &str, Vec<i64>)> =
            sites.iter().map(|&(s, h)| (s, h, seqs.iter().copied().filter(|&i| site(i) == (s, h)).collect())).collect();
        post(&lookout, request(&resources, time)).await;
    }
    let stale = now - 20 * 86_400_000;
    post(&lookout, request(&[("shop", "web-1", vec![N])], |_| stale)).await;

    let dead_path = lookout.dir.path().join("dead.ndjson");
    let deadline = Instant::now() + Duration::from_secs(60);
    let found = loop {
        let found = read_all(&moto.address).await;
        let total: usize = found.values().map(Vec::len).sum();
        assert!(total <= N as usize, "{total} events for {N} records: duplicates");
        if total == N as usize && !read_ndjson(&dead_path).is_empty() {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "{total} of {N} events, {} dead letters; log:\n{}",
            read_ndjson(&dead_path).len(),
            lookout.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let mut seen = vec![0u32; N as usize];
    for ((group, stream), events) in &found {
        let timestamps: Vec<i64> = events.iter().map(|e| e["timestamp"].as_i64().unwrap()).collect();
        assert!(timestamps.windows(2).all(|w| w[0] <= w[1]), "{group}/{stream} is not in timestamp order");
        for e in events {
            let doc: Json = serde_json::from_str(e["message"].as_str().unwrap()).unwrap();
            let seq = doc["attributes"]["seq"].as_i64().unwrap_or_else(|| panic!("no attributes.seq: {doc}"));
            let (service, host) = site(seq);
            assert_eq!(group, &format!("/lookout/{service}"), "{doc}");
            assert_eq!(stream, &format!("{host}-{}", ymd(time(seq))), "{doc}");
            assert_eq!(e["timestamp"].as_i64().unwrap(), time(seq), "{doc}");
            assert_eq!(doc["body"], format!("order {seq}"));
            seen[seq as usize] += 1;
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "every record exactly once");

    let dead = read_ndjson(&dead_path);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["sink"], "cw");
    assert_eq!(dead[0]["error"], "older than 14 days");
    assert_eq!(dead[0]["record"]["attributes"]["seq"], N);
    assert_eq!(dead[0]["route"], format!("/lookout/shop:web-1-{}", ymd(stale)));
    assert_eq!(metric(&lookout, "lookout_component_sent_events_total").await, N as f64);
    assert_eq!(metric(&lookout, "lookout_component_dead_letter_events_total").await, 1.0);
    assert!(lookout.stop().await.success());
}

/// A proxy in front of moto that answers the first `fail` PutLogEvents calls with
/// ThrottlingException and ServiceUnavailableException in turn.
async fn flaky_proxy(upstream: String, fail: usize) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (counter, client, upstream) = (counter.clone(), client.clone(), upstream.clone());
        async move {
            let put = req.headers().get("x-amz-target").is_some_and(|t| t.as_bytes().ends_with(b".PutLogEvents"));
            if put {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if n < fail {
                    let (status, kind) = if n % 2 == 0 {
                        (StatusCode::BAD_REQUEST, "ThrottlingException")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableException")
                    };
                    let body = json!({ "__type": kind, "message": "try again" }).to_string();
                    return (status, [("content-type", "application/x-amz-json-1.1")], body);
                }
            }
            let mut fwd = client.post(format!("http://{upstream}/"));
            for name in ["x-amz-target", "content-type", "authorization"] {
                if let Some(v) = req.headers().get(name) {
                    fwd = fwd.header(name, v.as_bytes());
                }
            }
            let body = axum::body::to_bytes(req.into_body(), 16 << 20).await.unwrap();
            let resp = fwd.body(body).send().await.unwrap();
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
            (status, [("content-type", "application/x-amz-json-1.1")], resp.text().await.unwrap())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, seen)
}

/// Throttling and 503s are retried until every record is in, once; nothing is lost.
#[tokio::test]
async fn retries_throttling_and_unavailable_without_duplicates() {
    let moto = start_moto().await;
    let (proxy, puts) = flaky_proxy(moto.address.clone(), 4).await;
    let env = [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_REGION", "us-east-1")];
    let mut lookout = Lookout::start_custom(|a, g, h, d| cw_pipeline(a, g, h, d, &proxy), &env).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let time = |i: i64| now - 5_000 + i;
    for chunk in 0..3 {
        post(&lookout, request(&[("shop", "web-1", (chunk * 200..(chunk + 1) * 200).collect())], time)).await;
    }
    let stream = ("/lookout/shop".to_string(), format!("web-1-{}", ymd(time(0))));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = read_all(&moto.address).await.get(&stream).map_or(0, Vec::len);
        assert!(n <= 600, "{n} events for 600 records: duplicates");
        if n == 600 {
            break;
        }
        assert!(Instant::now() < deadline, "{n} of 600 events; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(puts.load(Ordering::SeqCst) > 4, "the refused calls were sent again");
    assert!(metric(&lookout, "lookout_component_retries_total").await > 0.0);
    assert!(lookout.stop().await.success());
    let events = &read_all(&moto.address).await[&stream];
    let mut seqs: Vec<i64> = events
        .iter()
        .map(|e| {
            serde_json::from_str::<Json>(e["message"].as_str().unwrap()).unwrap()["attributes"]["seq"].as_i64().unwrap()
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..600).collect::<Vec<_>>(), "exactly once");
    assert!(read_ndjson(&lookout.dir.path().join("dead.ndjson")).is_empty());
}
