use std::time::Duration;

use serde_json::json;

use crate::common::{Recorder, Running, alert, post_alerts};

fn config(url: &str, group_by: &str) -> String {
    format!(
        "route:\n  receiver: r\n  group_by: [{group_by}]\n  group_wait: 200ms\n  group_interval: 500ms\n  repeat_interval: 1h\n\
         receivers:\n  - name: r\n    webhook_configs:\n      - url: {url}\n"
    )
}

#[tokio::test]
async fn reload_keeps_the_log_and_regroups() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let run = Running::start(&config(&rec.url, "alertname"), dir.path()).await;
    post_alerts(
        &run.api,
        json!([
            alert(&[("alertname", "A"), ("dc", "x")], None, None),
            alert(&[("alertname", "A"), ("dc", "y")], None, None)
        ]),
    )
    .await;
    assert_eq!(rec.next(Duration::from_secs(3)).await.unwrap().alerts().len(), 2);

    // The same config again: groups are rebuilt, and the log knows they were notified.
    let same = lookout_notify::parse_config("am.yml", &config(&rec.url, "alertname")).unwrap();
    run.notifier.reload(same).await.unwrap();
    rec.quiet(Duration::from_millis(1000)).await;

    // Group by dc instead: two new groups, each notified once.
    let by_dc = lookout_notify::parse_config("am.yml", &config(&rec.url, "dc")).unwrap();
    run.notifier.reload(by_dc).await.unwrap();
    let mut keys = Vec::new();
    for _ in 0..2 {
        keys.push(rec.next(Duration::from_secs(3)).await.expect("regrouped notification").group_key().to_string());
    }
    keys.sort();
    assert_eq!(keys, vec![r#"{}:{dc="x"}"#, r#"{}:{dc="y"}"#]);
    rec.quiet(Duration::from_millis(800)).await;

    // The groups endpoint shows the new grouping.
    let groups: serde_json::Value =
        reqwest::get(format!("{}/api/v2/alerts/groups", run.api)).await.unwrap().json().await.unwrap();
    let groups = groups.as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["labels"], json!({"dc": "x"}));
    assert_eq!(groups[0]["receiver"]["name"], "r");
    assert_eq!(groups[0]["alerts"].as_array().unwrap().len(), 1);
    run.stop().await;
}

#[tokio::test]
async fn metrics_count_alerts_notifications_and_silences() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let run = Running::start(&config(&rec.url, "alertname"), dir.path()).await;
    post_alerts(&run.api, json!([alert(&[("alertname", "A")], None, None), {"labels": {}}])).await;
    rec.next(Duration::from_secs(3)).await.expect("notification");
    let now = chrono::Utc::now();
    let sil = json!({
        "matchers": [{"name": "alertname", "value": "A", "isRegex": false}],
        "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "t", "comment": "c",
    });
    reqwest::Client::new().post(format!("{}/api/v2/silences", run.api)).json(&sil).send().await.unwrap();
    // Gauges refresh on the maintenance tick (200 ms in tests).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = run.metrics();
    for line in [
        "lookout_notifier_alerts_received_total{status=\"firing\"} 2",
        "lookout_notifier_alerts_invalid_total 1",
        "lookout_notifier_alerts{state=\"suppressed\"} 1",
        "lookout_notifier_silences{state=\"active\"} 1",
        "lookout_notifier_nflog_entries 1",
        "lookout_notifier_aggregation_groups 1",
        "lookout_notifications_total{integration=\"webhook\"} 1",
    ] {
        assert!(m.contains(line), "missing {line:?} in\n{m}");
    }
    run.stop().await;
}

#[tokio::test]
async fn a_failed_start_can_be_retried_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let bad =
        lookout_notify::parse_config("am.yml", "route: {receiver: r}\nreceivers: [{name: r}]\ntemplates: ['[']\n")
            .unwrap();
    let err = lookout_notify::Notifier::start(bad, dir.path(), &mut registry, shutdown.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("template"), "{err}");
    let good = lookout_notify::parse_config("am.yml", "route: {receiver: r}\nreceivers: [{name: r}]\n").unwrap();
    let n = lookout_notify::Notifier::start(good, dir.path(), &mut registry, shutdown.clone()).await.unwrap();
    shutdown.cancel();
    n.stopped().await;
}
