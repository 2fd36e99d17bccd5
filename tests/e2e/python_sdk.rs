use std::collections::BTreeSet;

use serde_json::Value;

use crate::util::{Lookout, of_signal, run_python_client, wait_for};

const LOGS: usize = 300;
const SPANS: usize = 30;

fn seqs(docs: &[&Value]) -> Vec<i64> {
    let mut v: Vec<i64> = docs.iter().map(|d| d["attributes"]["seq"].as_i64().expect("seq attribute")).collect();
    v.sort();
    v
}

async fn sdk_round_trip(protocol: &str) {
    let mut lookout = Lookout::start().await;
    let endpoint = match protocol {
        "grpc" => format!("http://{}", lookout.grpc),
        _ => format!("http://{}", lookout.http),
    };
    let logs = LOGS.to_string();
    let spans = SPANS.to_string();
    run_python_client(&["--protocol", protocol, "--endpoint", &endpoint, "--logs", &logs, "--spans", &spans]).await;

    let docs = wait_for(&lookout.out_path(), "every log, span and metric point", |d| {
        of_signal(d, "log").len() >= LOGS && of_signal(d, "span").len() >= SPANS && of_signal(d, "metric").len() >= 2
    })
    .await;

    // Every record exactly once.
    let logs = of_signal(&docs, "log");
    assert_eq!(seqs(&logs), (0..LOGS as i64).collect::<Vec<_>>(), "each log record once");
    let spans = of_signal(&docs, "span");
    assert_eq!(seqs(&spans), (0..SPANS as i64).collect::<Vec<_>>(), "each span once");

    // Enriched and shaped as documented.
    for log in &logs {
        assert_eq!(log["resource"]["deployment.environment"], "e2e", "enrich set from ${{ENVIRONMENT}}: {log}");
        assert_eq!(log["resource"]["service.name"], "checkout");
        assert_eq!(log["service.name"], "checkout", "service.name promoted to the top level: {log}");
        assert!(log["@timestamp"].as_str().unwrap().ends_with('Z'));
        let seq = log["attributes"]["seq"].as_i64().unwrap();
        let expected = if seq % 10 == 0 { "ERROR" } else { "INFO" };
        assert_eq!(log["severity_text"], expected);
        assert!(log["body"].as_str().unwrap().ends_with(&format!("#{seq}")), "{log}");
    }
    let errors = spans.iter().filter(|s| s["status"]["code"] == "error").count();
    assert_eq!(errors, SPANS / 5);
    for s in &spans {
        assert_eq!(s["trace_id"].as_str().unwrap().len(), 32, "hex trace id: {s}");
        assert_eq!(s["span_id"].as_str().unwrap().len(), 16);
        assert_eq!(s["scope"]["name"], "e2e-tracer");
        assert!(s["name"].as_str().unwrap().starts_with("op-"));
    }
    let metrics = of_signal(&docs, "metric");
    let counter = metrics.iter().find(|m| m["name"] == "e2e.requests").expect("counter point");
    assert_eq!(counter["type"], "sum");
    assert_eq!(counter["value"], 5.0);
    assert_eq!(counter["monotonic"], true);
    let hist = metrics.iter().find(|m| m["name"] == "e2e.duration").expect("histogram point");
    assert_eq!(hist["type"], "histogram");
    assert_eq!(hist["count"], 5);
    assert_eq!(hist["sum"], 150.0);

    let status = lookout.stop().await;
    assert!(status.success(), "exit status {status}; log:\n{}", lookout.log());
    // Nothing more, nothing less after shutdown.
    let after = crate::util::read_ndjson(&lookout.out_path());
    let unique: BTreeSet<String> = after.iter().map(|d| d.to_string()).collect();
    assert_eq!(unique.len(), after.len(), "no duplicate documents");
    assert_eq!(of_signal(&after, "log").len(), LOGS);
}

#[tokio::test]
async fn python_sdk_over_grpc_with_gzip() {
    sdk_round_trip("grpc").await;
}

#[tokio::test]
async fn python_sdk_over_http_with_gzip() {
    sdk_round_trip("http").await;
}
