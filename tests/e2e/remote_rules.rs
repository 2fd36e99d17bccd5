use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::{Lookout, free_port, pipeline};

/// Debian's Prometheus with its remote-write receiver on, in a temp dir.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_prometheus() -> Option<Prometheus> {
    if Command::new("prometheus").arg("--version").output().is_err() {
        eprintln!("SKIPPED: `prometheus` is not installed (scripts/test.sh installs it)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), "global:\n  scrape_interval: 1m\n").unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let p = Prometheus { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if reqwest::get(format!("{}/-/ready", p.url)).await.is_ok_and(|r| r.status() == 200) {
            return Some(p);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("prometheus not ready");
}

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
