//! The engine against the embedded store in real time, with short intervals.

use std::sync::Mutex as StdMutex;

use axum::body::Body;
use axum::http::Request;
use lookout_component::Health as HealthRegistry;
use lookout_tsdb::{Labels, StoreConfig};
use tower::ServiceExt;

use super::*;

const RULES: &str = r#"groups:
  - name: g
    interval: 100ms
    rules:
      - alert: QueueDeep
        expr: queue_depth > 10
        for: 300ms
        labels: { severity: warning }
        annotations: { summary: "depth {{ $value }} on {{ $labels.queue }}" }
      - record: queue:depth:max
        expr: max(queue_depth)
"#;

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<Store>,
    sent: Arc<StdMutex<Vec<OutgoingAlert>>>,
    health: HealthRegistry,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
        Fixture {
            dir,
            store: Arc::new(Store::new(StoreConfig::default())),
            sent: Arc::default(),
            health: HealthRegistry::default(),
        }
    }

    /// A new process over the same directory: empty store, fresh health.
    fn restarted(self) -> Fixture {
        Fixture {
            dir: self.dir,
            store: Arc::new(Store::new(StoreConfig::default())),
            sent: Arc::default(),
            health: HealthRegistry::default(),
        }
    }

    fn settings(&self) -> EngineSettings {
        EngineSettings {
            files: vec![format!("{}/*.yml", self.dir.path().display())],
            remote_files: Vec::new(),
            evaluation_interval_ms: 1000,
            external_labels: vec![("cluster".into(), "eu-1".into())],
            external_url: "http://lookout:8686".into(),
            resend_delay_ms: 60_000,
            outage_tolerance_ms: 3_600_000,
            restore_grace_ms: 500,
            watch: true,
            state_path: Some(persist::state_path(&self.dir.path().join("data"))),
            eval_options: EvalOptions::default(),
        }
    }

    fn start(&self) -> Engine {
        let sent = self.sent.clone();
        let sink: AlertSink = Arc::new(move |a| sent.lock().unwrap().extend(a));
        let mut registry = Registry::default();
        let health = self.health.register("rules", "engine", "rules");
        Engine::start(self.settings(), self.store.clone(), None, sink, &mut registry, Some(health)).unwrap()
    }

    /// Keeps `queue_depth{queue="jobs"}` at `v` (fresh samples, as a live source would).
    fn feed(&self, v: f64) {
        let l = Labels::new([("__name__".to_string(), "queue_depth".to_string()), ("queue".into(), "jobs".into())]);
        self.store.append(&l, now_ms(), v).unwrap();
    }
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool, feed: impl Fn()) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        feed();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get_json(engine: &Engine, uri: &str) -> serde_json::Value {
    let resp = engine.router().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200, "{uri}");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

fn firing(e: &Engine) -> bool {
    e.firing_alerts() == ["QueueDeep"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_serves_reloads_and_restores_state() {
    let fx = Fixture::new();
    let engine = fx.start();
    // The state shows firing just before the alert reaches the sink: wait for both.
    let sent_one = || !fx.sent.lock().unwrap().is_empty();
    wait_for("the alert to fire and reach the sink", || firing(&engine) && sent_one(), || fx.feed(42.0)).await;

    // Handed to the sink as Alertmanager expects: labels with alertname, rule and
    // external labels; annotations expanded; a generator URL.
    let sent = fx.sent.lock().unwrap()[0].clone();
    assert_eq!(sent.labels.get("alertname"), Some("QueueDeep"));
    assert_eq!(sent.labels.get("severity"), Some("warning"));
    assert_eq!(sent.labels.get("cluster"), Some("eu-1"));
    assert_eq!(sent.annotations, vec![("summary".to_string(), "depth 42 on jobs".to_string())]);
    assert!(sent.generator_url.starts_with("http://lookout:8686/graph?g0.expr="), "{}", sent.generator_url);
    assert!(sent.ends_at_ms > now_ms(), "a firing alert is valid for a while");

    // The Prometheus-shaped API.
    let rules = get_json(&engine, "/api/v1/rules").await;
    assert_eq!(rules["status"], "success");
    let group = &rules["data"]["groups"][0];
    assert_eq!(group["name"], "g");
    assert_eq!(group["interval"], 0.1);
    let alerting = &group["rules"][0];
    assert_eq!(alerting["type"], "alerting");
    assert_eq!(alerting["state"], "firing");
    assert_eq!(alerting["duration"], 0.3);
    assert_eq!(alerting["health"], "ok");
    assert_eq!(alerting["labels"]["severity"], "warning");
    assert_eq!(alerting["alerts"][0]["labels"]["queue"], "jobs");
    assert_eq!(alerting["alerts"][0]["value"], "4.2e+01");
    assert_eq!(group["rules"][1]["type"], "recording");
    assert_eq!(group["rules"][1]["name"], "queue:depth:max");
    let only_records = get_json(&engine, "/api/v1/rules?type=record").await;
    assert_eq!(only_records["data"]["groups"][0]["rules"].as_array().unwrap().len(), 1);
    let alerts = get_json(&engine, "/api/v1/alerts").await;
    assert_eq!(alerts["data"]["alerts"][0]["state"], "firing");
    assert_eq!(alerts["data"]["alerts"][0]["annotations"]["summary"], "depth 42 on jobs");

    // The recording rule's output is in the store.
    let recorded = lookout_tsdb::promql::instant_query(&*fx.store, "queue:depth:max", now_ms()).unwrap();
    assert!(matches!(recorded, lookout_tsdb::promql::Value::Vector(v) if v.len() == 1 && v[0].1 == 42.0));

    // A broken file never replaces the running rules; the failure shows on /health.
    let path = fx.dir.path().join("rules.yml");
    std::fs::write(&path, RULES.replace("queue_depth > 10", "queue_depth >")).unwrap();
    let err = engine.reload().unwrap_err();
    assert!(err.to_string().contains("rules.yml:6:15: "), "{err}");
    assert!(firing(&engine), "still evaluating the last good rules");
    let h = fx.health.snapshot();
    assert!(matches!(&h["rules"].state, ComponentState::Degraded(r) if r.contains("rule reload failed")), "{h:?}");

    // A good edit that keeps the rule keeps its state: still firing, no new pending phase.
    std::fs::write(&path, RULES.replace("summary: \"depth", "summary: \"now")).unwrap();
    engine.reload().unwrap();
    assert!(firing(&engine), "state carried over the reload");
    assert!(matches!(fx.health.snapshot()["rules"].state, ComponentState::Running));
    engine.stop().await;

    // A restart restores the firing alert from data_dir instead of starting over, and
    // waits out the grace period before evaluating, so an empty store resolves nothing.
    let fresh = fx.restarted();
    let restarted = fresh.start();
    assert!(firing(&restarted), "restored from the snapshot before any evaluation");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(firing(&restarted), "no evaluation during the grace period");
    wait_for(
        "the store to refill and evaluation to resume",
        || restarted.groups()[0].state.lock().unwrap().last_eval_ms.is_some_and(|t| t > now_ms() - 1000),
        || fresh.feed(42.0),
    )
    .await;
    assert!(firing(&restarted), "still firing on fresh data, without a new pending phase");
    restarted.stop().await;
}

/// An unreadable state file (here a directory where the file should be) is not corrupt:
/// the start stops with an error naming it, and it is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_state_file_stops_the_start_and_is_kept() {
    let fx = Fixture::new();
    let path = fx.settings().state_path.unwrap();
    std::fs::create_dir_all(path.join("inside")).unwrap();
    let sink: AlertSink = Arc::new(|_| {});
    let started = Engine::start(fx.settings(), fx.store.clone(), None, sink, &mut Registry::default(), None);
    let Err(errors) = started else { panic!("started over an unreadable state file") };
    let text = errors.to_string();
    assert!(text.starts_with(&format!("{}:1:1: cannot read", path.display())), "{text}");
    assert!(path.join("inside").is_dir(), "left in place");
}

/// Durability issue item 8: a corrupt `state.json` is moved aside, the engine starts
/// afresh and evaluates, `/health` says degraded with where the file went (also after a
/// reload), and the next start from the fresh snapshot is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_moved_aside_and_reported() {
    let fx = Fixture::new();
    let path = fx.settings().state_path.unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"{\"version\":1,\"saved_at_ms\":").unwrap();
    let engine = fx.start();
    let aside: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("state.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), b"{\"version\":1,\"saved_at_ms\":");
    let degraded = |h: &HealthRegistry| match &h.snapshot()["rules"].state {
        ComponentState::Degraded(reason) => reason.clone(),
        other => panic!("not degraded: {other:?}"),
    };
    let reason = degraded(&fx.health);
    assert!(reason.starts_with("state file was corrupt; moved to "), "{reason}");
    assert!(reason.contains(&aside[0].display().to_string()), "{reason}");
    // Readiness also waits for a source (the pipeline's): give it one.
    fx.health.register("in", "source", "otlp").ready();
    assert!(fx.health.is_ready(), "degraded is still ready");

    wait_for("the alert to fire", || firing(&engine), || fx.feed(42.0)).await;
    engine.reload().unwrap();
    assert_eq!(degraded(&fx.health), reason, "a reload does not hide the lost state");
    engine.stop().await;

    let fresh = fx.restarted();
    let restarted = fresh.start();
    assert!(firing(&restarted), "restored from the fresh snapshot");
    assert!(matches!(fresh.health.snapshot()["rules"].state, ComponentState::Running));
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_when_a_rule_file_changes() {
    let fx = Fixture::new();
    let engine = fx.start();
    assert_eq!(engine.counts(), (1, 2));
    // Let the watcher settle, then save through a temporary file and a rename, as editors do.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tmp = fx.dir.path().join(".rules.yml.swp");
    let more = format!("{RULES}      - record: queue:depth:sum\n        expr: sum(queue_depth)\n");
    std::fs::write(&tmp, more).unwrap();
    std::fs::rename(&tmp, fx.dir.path().join("rules.yml")).unwrap();
    wait_for("the watcher to reload", || engine.counts() == (1, 3), || {}).await;
    engine.stop().await;
}

#[test]
fn slots_are_aligned_and_stable() {
    assert_eq!(next_slot(1000, 100, 30), 1030);
    assert_eq!(next_slot(1030, 100, 30), 1130);
    assert_eq!(next_slot(-5, 100, 30), 30);
    let g = crate::file::parse_rule_file("f.yml", "groups:\n  - name: a\n    rules: []\n").unwrap().remove(0);
    assert_eq!(group_offset(&g, 60_000), group_offset(&g, 60_000));
    assert!(group_offset(&g, 60_000) < 60_000);
}

async fn post_json(engine: &Engine, uri: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let req = Request::post(uri).header("content-type", "application/json").body(Body::from(body.to_string())).unwrap();
    let resp = engine.router().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_endpoint_replays_loaded_or_posted_rules_over_the_store() {
    let f = Fixture::new();
    // Two minutes of history: deep from 60 s to 100 s ago, one sample every 10 s.
    // Whole seconds, so that `from` in Unix seconds is exactly `base`.
    let base = now_ms() / 1000 * 1000 - 120_000;
    let l =
        Labels::new([("__name__".to_string(), "queue_depth".to_string()), ("queue".to_string(), "jobs".to_string())]);
    for i in 0..=12 {
        let v = if (6..=10).contains(&i) { 50.0 } else { 1.0 };
        f.store.append(&l, base + i * 10_000, v).unwrap();
    }
    let engine = f.start();
    let from = (base / 1000).to_string();
    let to = ((base + 120_000) / 1000).to_string();
    // The loaded rule by name, at a 10 s step: pending at 60 s, firing from 70 s (the
    // 300 ms `for` is met at the next step), over at 110 s.
    let (status, body) = post_json(
        &engine,
        "/api/v1/rules/backtest",
        serde_json::json!({ "rule_names": ["QueueDeep"], "from": from, "to": to, "step": "10s" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let alerts = body["data"]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{body}");
    let rfc = |ms: i64| crate::backtest::render::rfc3339(ms);
    assert_eq!(alerts[0]["pending"]["from"], rfc(base + 60_000));
    assert_eq!(alerts[0]["firing"]["from"], rfc(base + 70_000));
    assert_eq!(alerts[0]["resolved_at"], rfc(base + 110_000));
    assert_eq!(alerts[0]["annotations"]["summary"], "depth 50 on jobs");

    // A rule being edited, posted as YAML: a higher threshold never fires.
    let rules = RULES.replace("queue_depth > 10", "queue_depth > 100");
    let (status, body) =
        post_json(&engine, "/api/v1/rules/backtest", serde_json::json!({ "rules": rules, "from": from, "to": to }))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["alerts"], serde_json::json!([]));

    // Bad requests name the problem.
    for (req, want) in [
        (serde_json::json!({ "from": "yesterday" }), "invalid time"),
        (serde_json::json!({ "from": to, "to": from }), "is after"),
        (serde_json::json!({ "rule_names": ["Nope"], "from": from }), "no loaded rule is named \"Nope\""),
        (serde_json::json!({ "rules": "groups: [", "from": from }), "request"),
        (serde_json::json!({ "from": from, "bogus": 1 }), "unknown field"),
    ] {
        let (status, body) = post_json(&engine, "/api/v1/rules/backtest", req.clone()).await;
        assert_eq!(status, 400, "{req}: {body}");
        assert!(body["error"].as_str().unwrap().contains(want), "{req}: {body}");
    }
    engine.stop().await;
}
