use std::time::Duration;

use serde_json::json;

use crate::common::{Recorder, Running, alert, post_alerts};

fn config(url: &str) -> String {
    format!(
        "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 200ms\n  group_interval: 500ms\n  repeat_interval: 1h\n\
         receivers:\n  - name: r\n    webhook_configs:\n      - url: {url}\n"
    )
}

#[tokio::test]
async fn restart_neither_repeats_nor_forgets() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(&rec.url);

    // Run 1: notify A, create a silence.
    let run = Running::start(&yaml, dir.path()).await;
    post_alerts(&run.api, json!([alert(&[("alertname", "A")], None, None)])).await;
    assert_eq!(rec.next(Duration::from_secs(3)).await.expect("first notification").status(), "firing");
    let now = chrono::Utc::now();
    let sil = json!({
        "matchers": [{"name": "alertname", "value": "Quiet", "isRegex": false}],
        "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "test", "comment": "kept across restarts",
    });
    let id = reqwest::Client::new().post(format!("{}/api/v2/silences", run.api)).json(&sil).send().await.unwrap();
    let id = id.json::<serde_json::Value>().await.unwrap()["silenceID"].as_str().unwrap().to_string();
    run.stop().await;

    // Run 2: the alert is back, its group flushes at once, and the log suppresses it.
    let run = Running::start(&yaml, dir.path()).await;
    let alerts: serde_json::Value =
        reqwest::get(format!("{}/api/v2/alerts", run.api)).await.unwrap().json().await.unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1, "alerts survive the restart");
    let s: serde_json::Value =
        reqwest::get(format!("{}/api/v2/silence/{id}", run.api)).await.unwrap().json().await.unwrap();
    assert_eq!(s["comment"], "kept across restarts");
    assert_eq!(s["status"]["state"], "active");
    rec.quiet(Duration::from_millis(1200)).await;
    // Resolve it and stop before the next tick could notify.
    post_alerts(&run.api, json!([alert(&[("alertname", "A")], Some(-10), Some(0))])).await;
    run.stop().await;
    rec.quiet(Duration::from_millis(300)).await;

    // Run 3: the resolution that was due is sent, once.
    let run = Running::start(&yaml, dir.path()).await;
    let r = rec.next(Duration::from_secs(3)).await.expect("resolved notification after restart");
    assert_eq!(r.status(), "resolved");
    rec.quiet(Duration::from_millis(1200)).await;
    run.stop().await;
}
