//! The embedded series store survives `kill -9`: OTLP gauges land in the `metrics_store`
//! sink, Lookout is killed, a garbage WAL segment is planted, and the next start (with
//! rules this time, and no new data) fires alerts that only the restored samples can
//! fire, while the damage is skipped and reported on /metrics and /health.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::{Lookout, free_port};

/// Both alerts need every sample sent before the kill: the last value, and the count.
const RULES: &str = r#"groups:
  - name: restored
    interval: 200ms
    rules:
      - alert: RestoredLastValue
        expr: e2e_restored_depth == 4242
      - alert: RestoredEverySample
        expr: count_over_time(e2e_restored_depth[10m]) == 3
"#;

fn pipeline(dir: &Path, api: &str, http: &str, rules: bool) -> String {
    let rules = if rules { "rules:\n  files: [rules/*.yml]\n" } else { "" };
    format!(
        r#"api: {{ address: {api} }}
data_dir: {data}
storage:
  retention: 1h
  wal_fsync: interval
  wal_fsync_interval: 1h
sources:
  otlp:
    type: otlp
    http: {{ address: {http} }}
sinks:
  metrics:
    type: metrics_store
    inputs: [otlp]
{rules}"#,
        data = dir.join("data").display(),
    )
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn get_text(api: &str, path: &str) -> String {
    reqwest::get(format!("http://{api}{path}")).await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn samples_survive_kill_9_and_a_damaged_wal_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/restored.yml"), RULES).unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());

    // 1. Three points, then `kill -9` once the sink has taken them. The fsync timer is
    //    an hour: what survives is what each batch's commit wrote to the WAL.
    let mut first = Lookout::start_in(dir.path(), &pipeline(dir.path(), &api, &http, false), &api, &http).await;
    let now = now_ms();
    for (i, v) in [4240, 4241, 4242].into_iter().enumerate() {
        let t = (now - 2000 + 1000 * i as i64) * 1_000_000;
        let body = json!({"resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
            "scopeMetrics": [{"metrics": [{"name": "e2e.restored.depth", "gauge": {"dataPoints": [
                {"timeUnixNano": t.to_string(), "asInt": v.to_string()}
            ]}}]}]
        }]});
        let resp = reqwest::Client::new().post(format!("http://{http}/v1/metrics")).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = get_text(&api, "/metrics").await;
        if metrics.lines().any(|l| {
            l.starts_with("lookout_component_sent_events_total{")
                && l.contains("component_id=\"metrics\"")
                && l.ends_with(" 3")
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "the sink never stored the 3 points:\n{metrics}\n{}", first.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::process::Command::new("kill").arg("-KILL").arg(first.child.id().to_string()).status().unwrap();
    let _ = first.child.wait();

    // 2. A segment of garbage after the real ones (a torn write from another crash).
    let wal = dir.path().join("data/tsdb/wal");
    assert!(std::fs::read_dir(&wal).unwrap().count() >= 1, "no WAL in {}", wal.display());
    std::fs::write(wal.join("00009999"), b"\x02\xff\x00\x00\x00garbage, not a record").unwrap();

    // 3. Restart with rules and no new data: only restored samples can fire them.
    let second = Lookout::start_in(dir.path(), &pipeline(dir.path(), &api, &http, true), &api, &http).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = reqwest::get(format!("http://{api}/api/v1/alerts")).await.unwrap().json().await.unwrap();
        let alerts = v["data"]["alerts"].as_array().cloned().unwrap_or_default();
        let firing = |name: &str| alerts.iter().any(|a| a["labels"]["alertname"] == name && a["state"] == "firing");
        if firing("RestoredLastValue") && firing("RestoredEverySample") {
            break;
        }
        assert!(Instant::now() < deadline, "restored samples fired nothing: {v}\n{}", second.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = get_text(&api, "/metrics").await;
    let corruptions = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lookout_tsdb_wal_corruptions_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(corruptions.is_some_and(|n| n >= 1.0), "{metrics}");
    assert!(metrics.contains("lookout_tsdb_head_series 1"), "{metrics}");
    let health = get_text(&api, "/health").await;
    assert!(health.contains("00009999"), "the damaged segment is named on /health: {health}");
    assert!(second.log().contains("WAL is damaged"), "{}", second.log());
}
