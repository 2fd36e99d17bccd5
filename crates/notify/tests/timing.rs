use std::time::{Duration, Instant};

use crate::common::{Recorder, Running, alert, post_alerts};

fn config(url: &str, wait: &str, interval: &str, repeat: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: {wait}\n  group_interval: {interval}\n  repeat_interval: {repeat}\n\
         receivers:\n  - name: hook\n    webhook_configs:\n      - url: {url}\n        send_resolved: true\n"
    )
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[tokio::test]
async fn group_wait_then_group_interval_then_repeat() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let run = Running::start(&config(&rec.url, "300ms", "800ms", "1500ms"), dir.path()).await;
    let t0 = Instant::now();
    assert_eq!(
        post_alerts(&run.api, serde_json::json!([alert(&[("alertname", "A"), ("i", "1")], None, None)])).await,
        200
    );

    // First flush after group_wait.
    let first = rec.next(Duration::from_secs(3)).await.expect("first notification");
    let e = ms(first.at - t0);
    assert!((250..700).contains(&e), "first flush after {e} ms");
    assert_eq!(first.alerts(), vec![("alertname=A,i=1".into(), "firing".into())]);
    assert_eq!(first.group_key(), r#"{}:{alertname="A"}"#);

    // A second alert joins; it is notified at the next group_interval tick, not before.
    post_alerts(&run.api, serde_json::json!([alert(&[("alertname", "A"), ("i", "2")], None, None)])).await;
    let second = rec.next(Duration::from_secs(3)).await.expect("second notification");
    let e2 = ms(second.at - first.at);
    assert!((650..1300).contains(&e2), "second flush {e2} ms after the first");
    assert_eq!(second.alerts().len(), 2);

    // Nothing changes: the next ticks stay quiet until repeat_interval has passed since
    // the last notification, then the same notification repeats.
    let third = rec.next(Duration::from_secs(4)).await.expect("repeat notification");
    let e3 = ms(third.at - second.at);
    assert!((1500..2700).contains(&e3), "repeat {e3} ms after the last notification");
    assert_eq!(third.alerts(), second.alerts());
    run.stop().await;
}

#[tokio::test]
async fn old_alerts_skip_group_wait_and_resolution_is_notified() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let run = Running::start(&config(&rec.url, "5s", "600ms", "1h"), dir.path()).await;
    let t0 = Instant::now();
    // Started a minute ago: older than group_wait, so the group flushes at once.
    post_alerts(&run.api, serde_json::json!([alert(&[("alertname", "Old")], Some(-60), None)])).await;
    let first = rec.next(Duration::from_secs(3)).await.expect("immediate notification");
    assert!(ms(first.at - t0) < 1000, "took {} ms", ms(first.at - t0));
    assert_eq!(first.status(), "firing");

    // Resolve it: the next group_interval tick sends the resolved notification, once.
    post_alerts(&run.api, serde_json::json!([alert(&[("alertname", "Old")], Some(-60), Some(0))])).await;
    let resolved = rec.next(Duration::from_secs(3)).await.expect("resolved notification");
    assert_eq!(resolved.status(), "resolved");
    assert_eq!(resolved.alerts(), vec![("alertname=Old".into(), "resolved".into())]);
    assert!(ms(resolved.at - first.at) >= 500);
    rec.quiet(Duration::from_millis(1500)).await;
    run.stop().await;
}

#[tokio::test]
async fn alerts_resolve_after_resolve_timeout() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("global:\n  resolve_timeout: 1s\n{}", config(&rec.url, "100ms", "500ms", "1h"));
    let run = Running::start(&yaml, dir.path()).await;
    post_alerts(&run.api, serde_json::json!([alert(&[("alertname", "T")], None, None)])).await;
    assert_eq!(rec.next(Duration::from_secs(2)).await.unwrap().status(), "firing");
    // Not refreshed: after resolve_timeout it counts as resolved.
    let r = rec.next(Duration::from_secs(4)).await.expect("resolved by timeout");
    assert_eq!(r.status(), "resolved");
    run.stop().await;
}
