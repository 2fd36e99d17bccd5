use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::{Lookout, pipeline, start_prometheus};

/// Scale-out mode: the store is remote-written to Prometheus and a rule group evaluates
/// against Prometheus's query API; the alert fires from data that went OTLP → Lookout →
/// remote write → Prometheus → PromQL.
#[tokio::test]
async fn rules_evaluate_on_prometheus_fed_by_remote_write() {
    let Some(prom) = start_prometheus().await else { return };
    let prom_url = prom.url.clone();
    let lookout = Lookout::start_custom(
        move |api, grpc, http, dir| {
            std::fs::create_dir_all(dir.join("remote")).unwrap();
            std::fs::write(
                dir.join("remote/queue.yml"),
                "groups:\n  - name: remote\n    interval: 500ms\n    rules:\n      - record: job:queue_jobs_pending:max\n        expr: max by (job) (queue_jobs_pending)\n      - alert: QueueBacklog\n        expr: max by (job, queue) (queue_jobs_pending) > 1000\n        labels: { severity: warning }\n        annotations: { summary: '{{ $value }} jobs ({{ with query \"count(queue_jobs_pending)\" }}{{ . | first | value }}{{ end }} queues)' }\n",
            )
            .unwrap();
            format!(
                "{}  metrics:\n    type: metrics_store\n    inputs: [enrich]\nrules:\n  remote:\n    url: {prom_url}\n    files: [remote/*.yml]\n  remote_write:\n    url: {prom_url}/api/v1/write\n",
                pipeline(api, grpc, http, dir, "", "enrich")
            )
        },
        &[],
    )
    .await;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos().to_string();
        let body = json!({"resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
            "scopeMetrics": [{"metrics": [{"name": "queue.jobs.pending", "gauge": {"dataPoints": [
                {"timeUnixNano": now, "asInt": "4000", "attributes": [{"key": "queue", "value": {"stringValue": "invoices"}}]}
            ]}}]}]
        }]});
        let resp = client.post(format!("http://{}/v1/metrics", lookout.http)).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value =
            reqwest::get(format!("http://{}/api/v1/alerts", lookout.api)).await.unwrap().json().await.unwrap();
        if let Some(a) =
            v["data"]["alerts"].as_array().unwrap().iter().find(|a| a["labels"]["alertname"] == "QueueBacklog")
        {
            break a.clone();
        }
        assert!(Instant::now() < deadline, "no alert from the remote datasource: {v}\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(alert["labels"]["job"], "billing");
    assert_eq!(alert["labels"]["queue"], "invoices");
    assert_eq!(alert["annotations"]["summary"], "4000 jobs (1 queues)", "template query ran remotely too");

    // The recording rule's output went back through remote write and is queryable there.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = reqwest::get(format!("{}/api/v1/query?query=job:queue_jobs_pending:max", prom.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["data"]["result"][0]["value"][1] == "4000" {
            assert_eq!(v["data"]["result"][0]["metric"]["job"], "billing");
            break;
        }
        assert!(Instant::now() < deadline, "recorded series never reached Prometheus: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
