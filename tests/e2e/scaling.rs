use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::{Lookout, lookout_bin, pipeline, workspace_root};

/// A scaling policy on the backlog series the tests send (also used by `state`).
pub(crate) const POLICY: &str = r#"scalers:
  - name: billing
    minReplicas: 2
    maxReplicas: 10
    intervalSeconds: 1
    metrics:
      - name: backlog
        query: 'sum(queue_jobs_pending{job="billing"})'
        target: { type: AverageValue, averageValue: 1000 }
    actuator: { type: dry_run }
"#;

/// A policy file next to the pipeline: the scaler reads the store the OTLP metrics land
/// in, decides with HPA semantics and serves the decision on /api/v1/scaler and /metrics.
#[tokio::test]
async fn scaler_decides_from_otlp_metrics_in_the_binary() {
    let lookout = Lookout::start_custom(
        |api, grpc, http, dir| {
            std::fs::write(dir.join("scaling.yml"), POLICY).unwrap();
            format!(
                "{}  metrics:\n    type: metrics_store\n    inputs: [enrich]\nscaling:\n  files: [scaling.yml]\n",
                pipeline(api, grpc, http, dir, "", "enrich")
            )
        },
        &[],
    )
    .await;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let decision = loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos().to_string();
        let body = json!({"resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
            "scopeMetrics": [{"metrics": [{"name": "queue.jobs.pending", "gauge": {"dataPoints": [
                {"timeUnixNano": now, "asInt": "3500"}
            ]}}]}]
        }]});
        let resp = client.post(format!("http://{}/v1/metrics", lookout.http)).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value =
            client.get(format!("http://{}/api/v1/scaler", lookout.api)).send().await.unwrap().json().await.unwrap();
        let text = v.to_string();
        if text.contains("\"desired\":4") {
            break v;
        }
        assert!(Instant::now() < deadline, "no decision to 4 replicas: {v}\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(decision["status"], "success", "{decision}");
    // ceil(3500 / 1000) = 4 wanted; the legacy scale-up limit max(2 × 2, 4) = 4 allows it.
    let metrics = client.get(format!("http://{}/metrics", lookout.api)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("lookout_scaler_desired_replicas{target=\"billing\"} 4"), "{metrics}");
}

/// `lookout scale simulate` on every shipped timeline: one JSON line per step, each
/// step's `expect` met (the tool exits 1 with FILE:LINE:COL otherwise).
#[test]
fn shipped_scaling_timelines_simulate_as_expected() {
    let root = workspace_root();
    let mut n = 0;
    for entry in std::fs::read_dir(root.join("scaling/tests")).unwrap() {
        let path = entry.unwrap().path();
        let out =
            Command::new(lookout_bin()).args(["scale", "simulate"]).arg(&path).current_dir(&root).output().unwrap();
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        let lines: Vec<Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(!lines.is_empty());
        for l in &lines {
            for key in ["at", "scaler", "current", "desired", "reasons"] {
                assert!(l.get(key).is_some(), "{}: {key} missing in {l}", path.display());
            }
        }
        n += 1;
    }
    assert!(n >= 3);
    // A broken file: FILE:LINE:COL and exit 1.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "scalers:\n  - name: x\n    minReplicas: two\n").unwrap();
    let out = Command::new(lookout_bin()).args(["scale", "simulate"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with(&format!("{}:3:", bad.display())), "{err}");
}
