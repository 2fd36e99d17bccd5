use std::time::Duration;

use serde_json::json;

use crate::common::{Recorder, Running, alert, post_alerts};

fn hook(name: &str, url: &str) -> String {
    format!("  - name: {name}\n    webhook_configs:\n      - url: {url}/{name}\n")
}

#[tokio::test]
async fn continue_and_group_by_all() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "route:\n  receiver: default\n  group_wait: 100ms\n  group_interval: 1s\n  routes:\n\
         \x20   - matchers: ['team=\"db\"']\n      receiver: db\n      group_by: ['...']\n      continue: true\n\
         \x20   - match_re: {{ severity: 'crit.*' }}\n      receiver: pager\n      group_by: [alertname]\n\
         receivers:\n{}{}{}",
        hook("default", &rec.url),
        hook("db", &rec.url),
        hook("pager", &rec.url)
    );
    let run = Running::start(&yaml, dir.path()).await;
    post_alerts(
        &run.api,
        json!([
            alert(&[("alertname", "Disk"), ("team", "db"), ("severity", "critical"), ("i", "1")], None, None),
            alert(&[("alertname", "Disk"), ("team", "db"), ("severity", "critical"), ("i", "2")], None, None),
            alert(&[("alertname", "Web"), ("team", "web")], None, None),
        ]),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let r = rec.next(Duration::from_secs(3)).await.expect("notification");
        got.push((r.receiver().to_string(), r.group_key().to_string(), r.alerts().len()));
    }
    got.sort();
    // `...` puts every distinct label set in its own group; `continue` lets the db alerts
    // reach the pager route as well, grouped by alertname there.
    assert_eq!(
        got,
        vec![
            ("db".into(), r#"{}/{team="db"}:{alertname="Disk", i="1", severity="critical", team="db"}"#.into(), 1),
            ("db".into(), r#"{}/{team="db"}:{alertname="Disk", i="2", severity="critical", team="db"}"#.into(), 1),
            ("default".into(), "{}:{}".into(), 1),
            ("pager".into(), r#"{}/{severity=~"crit.*"}:{alertname="Disk"}"#.into(), 2),
        ]
    );
    rec.quiet(Duration::from_millis(500)).await;
    run.stop().await;
}

#[tokio::test]
async fn inhibition_mutes_targets_with_equal_labels() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "route:\n  receiver: r\n  group_by: [alertname, cluster]\n  group_wait: 300ms\n  group_interval: 500ms\n\
         receivers:\n{}\
         inhibit_rules:\n  - source_matchers: [severity=critical]\n    target_match: {{ severity: warning }}\n    equal: [cluster]\n",
        hook("r", &rec.url)
    );
    let run = Running::start(&yaml, dir.path()).await;
    post_alerts(
        &run.api,
        json!([
            alert(&[("alertname", "Down"), ("severity", "critical"), ("cluster", "a")], None, None),
            alert(&[("alertname", "Slow"), ("severity", "warning"), ("cluster", "a")], None, None),
            alert(&[("alertname", "Slow"), ("severity", "warning"), ("cluster", "b")], None, None),
        ]),
    )
    .await;
    let mut keys = Vec::new();
    for _ in 0..2 {
        keys.push(rec.next(Duration::from_secs(3)).await.expect("notification").group_key().to_string());
    }
    keys.sort();
    assert_eq!(keys, vec![r#"{}:{alertname="Down", cluster="a"}"#, r#"{}:{alertname="Slow", cluster="b"}"#]);
    rec.quiet(Duration::from_millis(800)).await;

    // The API reports the muted alert as suppressed, inhibited by the critical one.
    let alerts: serde_json::Value =
        reqwest::get(format!("{}/api/v2/alerts?filter=cluster%3D%22a%22&filter=alertname%3DSlow", run.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["status"]["state"], "suppressed");
    assert_eq!(alerts[0]["status"]["inhibitedBy"].as_array().unwrap().len(), 1);

    // Once the source resolves, the target is notified.
    post_alerts(
        &run.api,
        json!([alert(&[("alertname", "Down"), ("severity", "critical"), ("cluster", "a")], Some(-1), Some(0))]),
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = rec.next(Duration::from_secs(3)).await.expect("notification after the source resolved");
        seen.push((r.group_key().to_string(), r.status().to_string()));
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (r#"{}:{alertname="Down", cluster="a"}"#.to_string(), "resolved".to_string()),
            (r#"{}:{alertname="Slow", cluster="a"}"#.to_string(), "firing".to_string()),
        ]
    );
    run.stop().await;
}

#[tokio::test]
async fn silences_mute_and_expire() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 200ms\n  group_interval: 400ms\n  repeat_interval: 1h\nreceivers:\n{}",
        hook("r", &rec.url)
    );
    let run = Running::start(&yaml, dir.path()).await;
    let client = reqwest::Client::new();
    let now = chrono::Utc::now();
    let sil = json!({
        "matchers": [{"name": "alertname", "value": "Noisy|Loud", "isRegex": true, "isEqual": true},
                     {"name": "env", "value": "dev", "isRegex": false, "isEqual": false}],
        "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "test", "comment": "maintenance",
    });
    let resp: serde_json::Value =
        client.post(format!("{}/api/v2/silences", run.api)).json(&sil).send().await.unwrap().json().await.unwrap();
    let id = resp["silenceID"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);

    post_alerts(
        &run.api,
        json!([
            alert(&[("alertname", "Noisy"), ("env", "prod")], None, None),
            alert(&[("alertname", "Noisy2"), ("env", "prod")], None, None),
            alert(&[("alertname", "Loud"), ("env", "dev")], None, None),
        ]),
    )
    .await;
    // Only the alert no silence covers is notified ("Loud" is excluded by `env!="dev"`).
    let mut keys = Vec::new();
    for _ in 0..2 {
        keys.push(rec.next(Duration::from_secs(3)).await.unwrap().group_key().to_string());
    }
    keys.sort();
    assert_eq!(keys, vec![r#"{}:{alertname="Loud"}"#, r#"{}:{alertname="Noisy2"}"#]);
    rec.quiet(Duration::from_millis(700)).await;

    let got: serde_json::Value =
        client.get(format!("{}/api/v2/silence/{id}", run.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["status"]["state"], "active");
    assert_eq!(got["createdBy"], "test");
    // Expire it: the muted alert is notified at the next tick.
    assert_eq!(client.delete(format!("{}/api/v2/silence/{id}", run.api)).send().await.unwrap().status(), 200);
    let r = rec.next(Duration::from_secs(3)).await.expect("notification after expiry");
    assert_eq!(r.group_key(), r#"{}:{alertname="Noisy"}"#);
    let got: serde_json::Value =
        client.get(format!("{}/api/v2/silence/{id}", run.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["status"]["state"], "expired");
    // Bad silences are refused with Alertmanager's messages.
    let mut bad = sil.clone();
    bad["endsAt"] = json!((now - chrono::Duration::hours(1)).to_rfc3339());
    bad["startsAt"] = json!((now - chrono::Duration::hours(2)).to_rfc3339());
    let resp = client.post(format!("{}/api/v2/silences", run.api)).json(&bad).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("end time can't be in the past"));
    run.stop().await;
}

#[tokio::test]
async fn mute_time_intervals_mute_and_active_ones_allow() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    // "always" covers every instant; "never" none (year 2000 only).
    let yaml = format!(
        "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 300ms\n  routes:\n\
         \x20   - matchers: [alertname=Muted]\n      mute_time_intervals: [always]\n\
         \x20   - matchers: [alertname=Inactive]\n      active_time_intervals: [never]\n\
         \x20   - matchers: [alertname=Active]\n      active_time_intervals: [always]\n\
         receivers:\n{}\
         time_intervals:\n  - name: always\n    time_intervals:\n      - times: [{{start_time: '00:00', end_time: '24:00'}}]\n\
         mute_time_intervals:\n  - name: never\n    time_intervals:\n      - years: ['2000']\n",
        hook("r", &rec.url)
    );
    let run = Running::start(&yaml, dir.path()).await;
    post_alerts(
        &run.api,
        json!([
            alert(&[("alertname", "Muted")], None, None),
            alert(&[("alertname", "Inactive")], None, None),
            alert(&[("alertname", "Active")], None, None),
        ]),
    )
    .await;
    let r = rec.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(r.group_key(), r#"{}/{alertname="Active"}:{alertname="Active"}"#);
    rec.quiet(Duration::from_millis(800)).await;
    run.stop().await;
}

#[tokio::test]
async fn invalid_alerts_are_refused_with_400() {
    let dir = tempfile::tempdir().unwrap();
    let run = Running::start("route: {receiver: r}\nreceivers: [{name: r}]\n", dir.path()).await;
    let status = post_alerts(&run.api, json!([{"labels": {}}, {"labels": {"a": "b"}}])).await;
    assert_eq!(status, 400);
    let alerts: serde_json::Value =
        reqwest::get(format!("{}/api/v2/alerts", run.api)).await.unwrap().json().await.unwrap();
    // The valid one is kept, as Alertmanager does.
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["receivers"][0]["name"], "r");
    run.stop().await;
}

#[tokio::test]
async fn the_default_config_starts_and_notifies_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let n =
        lookout_notify::Notifier::start(lookout_notify::default_config(), dir.path(), &mut registry, shutdown.clone())
            .await
            .unwrap();
    let mut a = lookout_receivers::Alert::new(
        [("alertname".to_string(), "X".to_string()), ("severity".to_string(), "critical".to_string())].into(),
        chrono::Utc::now() - chrono::Duration::minutes(5),
    );
    a.annotations.insert("summary".into(), "in process".into());
    n.put_alerts(vec![a]);
    // Older than group_wait: flushed at once to the console receiver.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        if out.contains("lookout_notifications_total{integration=\"console\"} 1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no console notification:\n{out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    n.stopped().await;
}

#[tokio::test]
async fn the_alert_limit_bounds_memory() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "route: {receiver: r}\nreceivers: [{name: r}]\n";
    let run = Running::start_with(yaml, dir.path(), |o| o.max_api_alerts = 2).await;
    let api = run.api.clone();
    let three =
        json!([alert(&[("a", "1")], None, None), alert(&[("a", "2")], None, None), alert(&[("a", "3")], None, None)]);
    // A full budget answers 429 Too Many Requests (the two that fit were stored).
    assert_eq!(post_alerts(&api, three).await, 429);
    // Updates of held alerts still go through.
    assert_eq!(post_alerts(&api, json!([alert(&[("a", "1")], None, None)])).await, 200);
    let held: serde_json::Value = reqwest::get(format!("{api}/api/v2/alerts")).await.unwrap().json().await.unwrap();
    assert_eq!(held.as_array().unwrap().len(), 2);
    run.stop().await;
}

/// Durability: alerts posted to the API and the rule engine's own alerts have separate
/// budgets, so a flood of posted alerts does not shut out a real alert from the rules (and
/// the other way round); refusals are counted per origin.
#[tokio::test]
async fn a_flood_of_posted_alerts_does_not_crowd_out_rule_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "route: {receiver: r}\nreceivers: [{name: r}]\n";
    let run = Running::start_with(yaml, dir.path(), |o| {
        o.max_api_alerts = 3;
        o.max_rule_alerts = 2;
    })
    .await;
    let (n, api) = (run.notifier.clone(), run.api.clone());

    // Fill the API budget, and overflow it.
    let flood: Vec<_> = (0..5).map(|i| alert(&[("alertname", "Flood"), ("i", &i.to_string())], None, None)).collect();
    let resp = reqwest::Client::new().post(format!("{api}/api/v2/alerts")).json(&flood).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.text().await.unwrap(), "\"alert limit of 3 reached;alert limit of 3 reached\"");
    assert_eq!(post_alerts(&api, json!([alert(&[("alertname", "Flood"), ("i", "9")], None, None)])).await, 429);

    // The rule engine's critical alert still gets in.
    let rule_alert = |name: &str| {
        lookout_receivers::Alert::new(
            [("alertname".to_string(), name.to_string()), ("severity".to_string(), "critical".to_string())].into(),
            chrono::Utc::now(),
        )
    };
    n.put_alerts(vec![rule_alert("DiskFull")]);
    let held: serde_json::Value = reqwest::get(format!("{api}/api/v2/alerts")).await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        held.as_array().unwrap().iter().map(|a| a["labels"]["alertname"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 4, "{held}");
    assert!(names.contains(&"DiskFull"), "{held}");

    // And the other way round: a full rule budget does not block posted updates or the
    // API's own budget.
    n.put_alerts(vec![rule_alert("Second"), rule_alert("Third")]);
    assert_eq!(post_alerts(&api, json!([alert(&[("alertname", "Flood"), ("i", "0")], None, None)])).await, 200);

    let m = run.metrics();
    for line in [
        "lookout_notifier_alerts_refused_total{origin=\"api\"} 3",
        "lookout_notifier_alerts_refused_total{origin=\"rules\"} 1",
        "lookout_notifier_alerts_invalid_total 0",
    ] {
        assert!(m.contains(line), "missing {line:?} in\n{m}");
    }
    run.stop().await;
}
