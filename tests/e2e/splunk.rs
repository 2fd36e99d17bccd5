use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value as Json;

use crate::hec_receiver::{HecReceiver, Options};
use crate::util::{Lookout, read_ndjson};

/// Records `first..first+n` (`attributes.seq`, body `order {i}` + `body_suffix(i)`),
/// service `shop` on host `web-1`, Nov 14 2023.
fn request(first: i64, n: i64, body_suffix: impl Fn(i64) -> &'static str) -> Vec<u8> {
    let kv =
        |k: &str, v: Value| KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() };
    let records = (first..first + n)
        .map(|i| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64 * 1_000_000,
            body: Some(AnyValue { value: Some(Value::StringValue(format!("order {i}{}", body_suffix(i)))) }),
            attributes: vec![kv("seq", Value::IntValue(i))],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", Value::StringValue("shop".into())),
                    kv("host.name", Value::StringValue("web-1".into())),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn plain(_: i64) -> &'static str {
    ""
}

/// otlp → enrich → splunk_hec, with `extra` sink keys.
fn hec_pipeline(api: &str, grpc: &str, http: &str, dir: &Path, hec: &str, extra: &str) -> String {
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
  splunk:
    type: splunk_hec
    inputs: [enrich]
    endpoint: {hec}
    token: test-token
    index: "idx-{{service.name}}"
    sourcetype: "otel:{{signal}}"
    host: "{{resource.host.name}}"
    source: lookout
    dead_letter: {dead}
    batch: {{ max_events: 200, timeout_ms: 100 }}
    request: {{ timeout_secs: 10, retry_initial_backoff_ms: 20, retry_max_backoff_secs: 0.5, retry_max_duration_secs: 60 }}
    circuit_breaker: {{ failures: 100, cooldown_secs: 1 }}
    health_check: {{ interval_secs: 0.5 }}
{extra}
"#,
        data = dir.join("data").display(),
        dead = dir.join("dead.ndjson").display(),
    )
}

async fn start(hec: &HecReceiver, extra: &str) -> Lookout {
    let url = hec.url.clone();
    let extra = extra.to_string();
    Lookout::start_custom(move |a, g, h, d| hec_pipeline(a, g, h, d, &url, &extra), &[]).await
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
        .find(|l| l.starts_with(name) && l.contains("component_id=\"splunk\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until the receiver holds `n` events, then returns them by `seq` (panics on a
/// duplicate or on more than `n`).
async fn wait_events(hec: &HecReceiver, n: usize, lookout: &Lookout) -> BTreeMap<i64, Json> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = hec.events();
        assert!(events.len() <= n, "{} events, more than the {n} sent: duplicates", events.len());
        if events.len() == n {
            let mut by_seq = BTreeMap::new();
            for e in events {
                let seq = e["event"]["attributes"]["seq"].as_i64().unwrap_or_else(|| panic!("no seq: {e}"));
                assert!(by_seq.insert(seq, e).is_none(), "seq {seq} arrived twice");
            }
            return by_seq;
        }
        assert!(Instant::now() < deadline, "{} of {n} events; log:\n{}", events.len(), lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn delivers_every_record_once_with_its_metadata() {
    let hec = HecReceiver::start(Options::default()).await;
    let mut lookout = start(&hec, "").await;
    for k in 0..5 {
        post(&lookout, request(k * 100, 100, plain)).await;
    }
    let events = wait_events(&hec, 500, &lookout).await;
    assert_eq!(events.keys().copied().collect::<Vec<_>>(), (0..500).collect::<Vec<_>>());
    let e = &events[&42];
    assert_eq!(e["index"], "idx-shop", "{e}");
    assert_eq!(e["sourcetype"], "otel:log", "{e}");
    assert_eq!(e["host"], "web-1", "{e}");
    assert_eq!(e["source"], "lookout", "{e}");
    assert_eq!(e["time"].as_f64().unwrap(), 1_700_000_000.042, "{e}");
    assert_eq!(e["event"]["body"], "order 42");
    assert_eq!(e["event"]["service.name"], "shop");
    assert_eq!(e["event"]["resource"]["deployment.environment"], "e2e");
    assert_eq!(metric(&lookout, "lookout_component_sent_events_total").await, 500.0);
    assert!(lookout.stop().await.success());
    assert_eq!(hec.events().len(), 500, "exactly once");
}

#[tokio::test]
async fn waits_for_indexer_acknowledgements() {
    let options = Options { acks: true, ack_delay: Some(Duration::from_millis(300)), ..Options::default() };
    let hec = HecReceiver::start(options).await;
    let mut lookout =
        start(&hec, "    acknowledgements: { enabled: true, poll_interval_ms: 50, timeout_secs: 5 }").await;
    for k in 0..3 {
        post(&lookout, request(k * 100, 100, plain)).await;
    }
    wait_events(&hec, 300, &lookout).await;
    // Delivered = acknowledged: the sink counts the records only once their acks are in.
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&lookout, "lookout_component_sent_events_total").await < 300.0 {
        assert!(Instant::now() < deadline, "acks not awaited; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(hec.unacked(), 0, "every ackId was polled until true");
    assert_eq!(hec.acked(), hec.data_requests());
    assert!(lookout.stop().await.success());
}

#[tokio::test]
async fn resends_when_acks_never_come() {
    let options = Options { acks: true, ack_delay: None, ..Options::default() };
    let hec = HecReceiver::start(options).await;
    let mut lookout =
        start(&hec, "    acknowledgements: { enabled: true, poll_interval_ms: 50, timeout_secs: 0.5 }").await;
    post(&lookout, request(0, 20, plain)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while hec.data_requests() < 2 {
        assert!(Instant::now() < deadline, "not resent after the ack timeout; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&lookout, "lookout_component_sent_events_total").await, 0.0, "not delivered without an ack");
    hec.set_ack_delay(Some(Duration::ZERO));
    while metric(&lookout, "lookout_component_sent_events_total").await < 20.0 {
        assert!(Instant::now() < deadline, "not delivered once acked; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // At least once: every record is there (resends are duplicates by design).
    let mut seqs: Vec<i64> = hec.events().iter().map(|e| e["event"]["attributes"]["seq"].as_i64().unwrap()).collect();
    assert!(seqs.len() >= 40, "sent at least twice: {}", seqs.len());
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs, (0..20).collect::<Vec<_>>());
    assert_eq!(metric(&lookout, "lookout_component_dead_letter_events_total").await, 0.0);
    assert!(lookout.stop().await.success());
}

#[tokio::test]
async fn retries_through_server_busy() {
    let hec = HecReceiver::start(Options::default()).await;
    hec.fail_next(3);
    let mut lookout = start(&hec, "").await;
    for k in 0..3 {
        post(&lookout, request(k * 100, 100, plain)).await;
    }
    wait_events(&hec, 300, &lookout).await;
    assert!(hec.data_requests() > 3, "the 503s were retried");
    assert!(metric(&lookout, "lookout_component_retries_total").await >= 3.0);
    assert_eq!(metric(&lookout, "lookout_component_dead_letter_events_total").await, 0.0);
    assert!(lookout.stop().await.success());
    assert_eq!(hec.events().len(), 300, "exactly once");
}

#[tokio::test]
async fn invalid_data_format_is_dead_lettered() {
    let options = Options { poison: Some("POISON".into()), ..Options::default() };
    let hec = HecReceiver::start(options).await;
    let mut lookout = start(&hec, "").await;
    post(&lookout, request(0, 10, |i| if i == 5 { " POISON" } else { "" })).await;
    let events = wait_events(&hec, 9, &lookout).await;
    assert!(!events.contains_key(&5));
    let dead_path = lookout.dir.path().join("dead.ndjson");
    let deadline = Instant::now() + Duration::from_secs(20);
    while read_ndjson(&dead_path).is_empty() {
        assert!(Instant::now() < deadline, "no dead letters; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = read_ndjson(&dead_path);
    assert_eq!(dead.len(), 1, "{dead:?}");
    let d = &dead[0];
    assert_eq!(d["sink"], "splunk");
    assert!(d["error"].as_str().unwrap().contains("HEC code 6 (Invalid data format)"), "{d}");
    assert!(d["route"].as_str().unwrap().contains(r#""index":"idx-shop""#), "{d}");
    assert_eq!(d["record"]["body"], "order 5 POISON", "{d}");
    assert_eq!(metric(&lookout, "lookout_component_dead_letter_events_total").await, 1.0);
    assert!(lookout.stop().await.success());
    assert_eq!(hec.events().len(), 9);
}

#[tokio::test]
async fn skips_an_endpoint_that_is_down() {
    let down = HecReceiver::start(Options::default()).await;
    down.set_down(true);
    let up = HecReceiver::start(Options::default()).await;
    let mut lookout = start(&down, &format!("    endpoints: [{}]", up.url)).await;
    for k in 0..4 {
        post(&lookout, request(k * 100, 100, plain)).await;
    }
    wait_events(&up, 400, &lookout).await;
    assert!(down.events().is_empty());
    assert_eq!(metric(&lookout, "lookout_component_dead_letter_events_total").await, 0.0);
    assert!(lookout.stop().await.success());
    assert_eq!(up.events().len(), 400, "exactly once");
}
