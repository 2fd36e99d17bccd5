use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::util::{Lookout, read_ndjson};

fn request(first: i64, n: i64) -> Vec<u8> {
    let kv =
        |k: &str, v: Value| KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() };
    let records = (first..first + n)
        .map(|i| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            body: Some(AnyValue { value: Some(Value::StringValue(format!("record {i} {}", "x".repeat(200)))) }),
            attributes: vec![kv("seq", Value::IntValue(i))],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", Value::StringValue("burst".into()))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[tokio::test]
async fn health_and_metrics_report_components() {
    let mut lookout = Lookout::start().await;
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("http://{}/v1/logs", lookout.http))
        .header("content-type", "application/x-protobuf")
        .body(request(0, 10))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    crate::util::wait_for(&lookout.out_path(), "10 records", |d| d.len() == 10).await;

    let health: serde_json::Value =
        client.get(format!("http://{}/health", lookout.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    for c in ["otlp", "enrich", "archive"] {
        assert_eq!(health["components"][c]["state"], "running", "{health}");
    }
    assert_eq!(client.get(format!("http://{}/health/live", lookout.api)).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("http://{}/health/ready", lookout.api)).send().await.unwrap().status(), 200);

    let line = |name: &str, id: &str, kind: &str, ty: &str| {
        format!(r#"{name}{{component_id="{id}",component_kind="{kind}",component_type="{ty}"}} 10"#)
    };
    let expected = [
        line("lookout_component_received_events_total", "otlp", "source", "otlp"),
        line("lookout_component_received_events_total", "enrich", "transform", "enrich"),
        line("lookout_component_sent_events_total", "archive", "sink", "file"),
    ];
    // The file sink counts a write once it returns, just after the lines reach the file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let metrics = loop {
        let metrics = client.get(format!("http://{}/metrics", lookout.api)).send().await.unwrap().text().await.unwrap();
        if expected.iter().all(|e| metrics.contains(e)) || std::time::Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    for expected in expected {
        assert!(metrics.contains(&expected), "missing `{expected}` in:\n{metrics}");
    }
    assert!(metrics.contains("lookout_buffer_max_events{"), "{metrics}");
    assert!(metrics.contains("lookout_component_latency_seconds_bucket{"), "{metrics}");
    assert!(lookout.stop().await.success());
}

#[tokio::test]
async fn sigterm_drains_every_buffer_then_exits_zero() {
    let mut lookout = Lookout::start().await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/logs", lookout.http);
    let requests = 40;
    let per = 500;
    for r in 0..requests {
        let resp = client
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .body(request(r * per, per))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    // Stop at once: every accepted record must still reach the file.
    let status = lookout.stop().await;
    assert!(status.success(), "exit {status}; log:\n{}", lookout.log());
    let docs = read_ndjson(&lookout.out_path());
    let mut seqs: Vec<i64> = docs.iter().map(|d| d["attributes"]["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (0..requests * per).collect::<Vec<_>>(), "every accepted record once, after SIGTERM");
}

#[tokio::test]
async fn sighup_with_a_broken_file_keeps_the_running_pipeline() {
    let mut lookout = Lookout::start().await;
    let config = lookout.dir.path().join("pipeline.yaml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, good.replace("type: file", "type: fiel")).unwrap();
    let pid = lookout.child.id().to_string();
    let hup = || std::process::Command::new("kill").arg("-HUP").arg(&pid).status().unwrap();
    hup();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(lookout.is_running());
    assert!(lookout.log().contains("Reload refused"), "{}", lookout.log());
    let client = reqwest::Client::new();
    let post = |first: i64| {
        client
            .post(format!("http://{}/v1/logs", lookout.http))
            .header("content-type", "application/x-protobuf")
            .body(request(first, 5))
            .send()
    };
    assert_eq!(post(0).await.unwrap().status(), 200, "old pipeline still accepts");
    crate::util::wait_for(&lookout.out_path(), "5 records", |d| d.len() == 5).await;

    // A valid change is applied: the new environment value shows up.
    std::fs::write(&config, good.replace("${ENVIRONMENT:-dev}", "reloaded")).unwrap();
    hup();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Records sent before the swap would (rightly) go through the old pipeline.
    while !lookout.log().contains("Reloaded.") {
        assert!(std::time::Instant::now() < deadline, "no reload; log:\n{}", lookout.log());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    loop {
        if let Ok(r) = post(100).await
            && r.status() == 200
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "new pipeline never accepted; log:\n{}", lookout.log());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let docs = crate::util::wait_for(&lookout.out_path(), "10 records", |d| d.len() >= 10).await;
    assert!(docs[..5].iter().all(|d| d["resource"]["deployment.environment"] == "e2e"));
    assert!(docs[5..].iter().all(|d| d["resource"]["deployment.environment"] == "reloaded"), "{docs:?}");
    assert!(lookout.stop().await.success());
}

/// `telemetry.otlp_traces_endpoint`: one Lookout exports its own spans over OTLP/gRPC to
/// another, which writes them like any other span.
#[tokio::test]
async fn own_spans_are_exported_over_otlp() {
    let mut collector = Lookout::start().await;
    let telemetry = format!("telemetry:\n  otlp_traces_endpoint: http://{}\n", collector.grpc);
    let mut lookout = Lookout::start_with(&telemetry, "enrich", &[("OTEL_BSP_SCHEDULE_DELAY", "200")]).await;
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/logs", lookout.http))
        .header("content-type", "application/x-protobuf")
        .body(request(0, 7))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let docs = crate::util::wait_for(&collector.out_path(), "Lookout's own export span", |d| {
        d.iter().any(|s| s["signal"] == "span" && s["name"] == "otlp.export")
    })
    .await;
    let span = docs.iter().find(|s| s["name"] == "otlp.export").unwrap();
    assert_eq!(span["resource"]["service.name"], "lookout", "{span}");
    assert_eq!(span["attributes"]["path"], "/v1/logs", "{span}");
    assert_eq!(span["attributes"]["records"], 7, "{span}");
    assert_eq!(span["attributes"]["outcome"], "accepted", "{span}");
    assert!(lookout.stop().await.success());
    assert!(collector.stop().await.success());
}
