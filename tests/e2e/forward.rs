use std::path::Path;

use crate::util::{Lookout, of_signal, run_python_client, wait_for};

fn forwarder(api: &str, grpc: &str, http: &str, dir: &Path, target: &str, protocol: &str) -> String {
    format!(
        r#"api: {{ address: {api} }}
data_dir: {data}
sources:
  otlp:
    type: otlp
    grpc: {{ address: {grpc} }}
    http: {{ address: {http} }}
transforms:
  tag:
    type: enrich
    inputs: [otlp]
    set: {{ lookout.hop: edge }}
sinks:
  upstream:
    type: otlp
    inputs: [tag]
    endpoint: http://{target}
    protocol: {protocol}
    batch: {{ max_events: 100, timeout_ms: 100 }}
    request: {{ retry_initial_backoff_ms: 20, retry_max_backoff_secs: 0.5 }}
    circuit_breaker: {{ failures: 3, cooldown_secs: 1 }}
"#,
        data = dir.join("data").display(),
    )
}

async fn forward_through(protocol: &str) {
    let mut collector = Lookout::start().await;
    let target = if protocol == "grpc" { collector.grpc.clone() } else { collector.http.clone() };
    let mut edge = Lookout::start_custom(|a, g, h, d| forwarder(a, g, h, d, &target, protocol), &[]).await;
    run_python_client(&[
        "--protocol",
        "http",
        "--endpoint",
        &format!("http://{}", edge.http),
        "--logs",
        "250",
        "--spans",
        "20",
    ])
    .await;
    let docs = wait_for(&collector.out_path(), "every record forwarded", |d| {
        of_signal(d, "log").len() >= 250 && of_signal(d, "span").len() >= 20 && of_signal(d, "metric").len() >= 2
    })
    .await;
    assert!(edge.stop().await.success());
    assert!(collector.stop().await.success());
    let docs_after = crate::util::read_ndjson(&collector.out_path());
    assert_eq!(docs_after.len(), docs.len(), "nothing more arrived: no duplicates");
    let logs = of_signal(&docs_after, "log");
    assert_eq!(logs.len(), 250, "each log once");
    let mut seqs: Vec<i64> = logs.iter().map(|d| d["attributes"]["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (0..250).collect::<Vec<_>>());
    for d in &logs {
        assert_eq!(d["resource"]["lookout.hop"], "edge", "enriched at the edge: {d}");
        assert_eq!(d["resource"]["deployment.environment"], "e2e", "and by the collector");
        assert_eq!(d["scope"]["name"], "e2e", "OTLP grouping kept: {d}");
    }
}

#[tokio::test]
async fn forwards_over_http() {
    forward_through("http").await;
}

#[tokio::test]
async fn forwards_over_grpc() {
    forward_through("grpc").await;
}
