//! The scaler in HA: two Lookout processes with the same scaling policy and a `lease:` in
//! a real `nats-server -js`, each with a webhook actuator pointing at one receiver in this
//! test (the processes' policies differ only in an `x-replica` header, so the receiver
//! knows who called).
//!
//! The metric is a function of the clock (`time() < bool T`): high (5 replicas) before
//! `T`, low (1 replica) after, the same on both processes. A starts first and leads; B
//! starts after `T`, so B's own memory has only low recommendations and, deciding alone,
//! it would ask for 1 at once. A is killed with `kill -9` inside A's scale-down
//! stabilisation window: B must take over within TTL + margin, and its first call must
//! still be 5 (the window A began, loaded from the bucket), the scale-down to 1 coming
//! only when the window ends. About 25 s.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::nats_util::start_nats;
use crate::util::{Lookout, free_port};

/// Stabilisation window for scale-down, seconds.
const WINDOW: u64 = 14;
const TTL: Duration = Duration::from_secs(3);
const RENEW: Duration = Duration::from_secs(1);

/// One webhook call: when, from which replica, what it asked for.
#[derive(Debug, Clone)]
struct Call {
    at: Instant,
    replica: String,
    desired: i64,
}

async fn receiver() -> (u16, Arc<Mutex<Vec<Call>>>) {
    let calls = Arc::new(Mutex::new(Vec::<Call>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = calls.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let seen = seen.clone();
        async move {
            let replica = req.headers().get("x-replica").and_then(|v| v.to_str().ok()).unwrap_or("?").to_string();
            let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
            let decision: Value = serde_json::from_slice(&body).unwrap();
            let desired = decision["desired"].as_i64().expect("desired");
            seen.lock().unwrap().push(Call { at: Instant::now(), replica, desired });
            "ok"
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, calls)
}

fn policy(replica: &str, high_until_unix: u64, webhook: u16, nats: u16) -> String {
    format!(
        r#"scalers:
  - name: workers
    minReplicas: 1
    maxReplicas: 10
    intervalSeconds: 1
    metrics:
      - name: lag
        query: '(time() < bool {high_until_unix}) * 4500 + 500'
        target: {{ type: AverageValue, averageValue: 1000 }}
    behavior:
      scaleDown: {{ stabilizationWindowSeconds: {WINDOW} }}
    actuator:
      type: webhook
      url: http://127.0.0.1:{webhook}/scale
      headers: {{ x-replica: {replica} }}
lease:
  nats: {{ url: nats://127.0.0.1:{nats}, bucket: lookout-scaler }}
  ttl: {ttl}s
  renew_interval: {renew}s
"#,
        ttl = TTL.as_secs(),
        renew = RENEW.as_secs(),
    )
}

async fn start(dir: &Path, policy: &str) -> Lookout {
    let (api, http) = (free_port(), free_port());
    std::fs::write(dir.join("scaling.yml"), policy).unwrap();
    let config = format!(
        r#"api: {{ address: 127.0.0.1:{api} }}
data_dir: {data}
sources:
  otlp: {{ type: otlp, http: {{ address: 127.0.0.1:{http} }} }}
sinks:
  out: {{ type: file, inputs: [otlp], path: {out} }}
scaling:
  files: [scaling.yml]
"#,
        data = dir.join("data").display(),
        out = dir.join("out.ndjson").display(),
    );
    Lookout::start_in(dir, &config, &format!("127.0.0.1:{api}"), &format!("127.0.0.1:{http}")).await
}

async fn get(url: String) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// Waits until `pred` holds for the calls so far (at most `within`).
async fn calls_until(calls: &Mutex<Vec<Call>>, within: Duration, what: &str, pred: impl Fn(&[Call]) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        if pred(&calls.lock().unwrap()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; calls: {:?}", calls.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_lease_holder_actuates_and_a_new_leader_keeps_the_stabilisation_window() {
    let Some(nats) = start_nats().await else { return };
    let (webhook, calls) = receiver().await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // High for the next few seconds (A scales up), low from `t_low` on.
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let high_until = since_epoch.as_secs() + 6;
    let t_low = Instant::now() + (Duration::from_secs(high_until) - since_epoch);

    let mut a = start(a_dir.path(), &policy("a", high_until, webhook, nats.port)).await;
    calls_until(&calls, Duration::from_secs(10), "A scaling up to 5", |c| c.iter().any(|c| c.desired == 5)).await;

    // B joins after the metric dropped: alone it would ask for 1 now.
    tokio::time::sleep(t_low.saturating_duration_since(Instant::now()) + Duration::from_millis(500)).await;
    let b = start(b_dir.path(), &policy("b", high_until, webhook, nats.port)).await;
    let b_api = format!("http://{}/api/v1/scaler", b.api);
    let deadline = Instant::now() + Duration::from_secs(5);
    let b_view: Value = loop {
        let v: Value = serde_json::from_str(&get(b_api.clone()).await).unwrap();
        // B's first decision may come before it has read the lease (no holder known yet).
        if !v["data"]["scalers"][0]["decision"].is_null() && v["data"]["leader"]["holder"].is_string() {
            break v;
        }
        assert!(Instant::now() < deadline, "B made no decision knowing the holder: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let decision = &b_view["data"]["scalers"][0]["decision"];
    assert_eq!(decision["desired"], 1, "B's own memory has only the low metric: {b_view}");
    assert!(decision["reasons"].to_string().contains("NotLeader"), "{b_view}");
    assert_eq!(b_view["data"]["leader"]["leader"], false, "{b_view}");
    assert!(b_view["data"]["leader"]["holder"].is_string(), "{b_view}");
    let a_metrics = get(format!("http://{}/metrics", a.api)).await;
    assert!(a_metrics.contains("lookout_scaler_leader 1"), "{a_metrics}");
    let b_metrics = get(format!("http://{}/metrics", b.api)).await;
    assert!(b_metrics.contains("lookout_scaler_leader 0"), "{b_metrics}");

    // A few intervals with both running: only A has called, and only once (5).
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let c = calls.lock().unwrap();
        assert!(c.iter().all(|c| c.replica == "a"), "a follower actuated: {c:?}");
        assert_eq!(c.iter().map(|c| c.desired).collect::<Vec<_>>(), [5], "{c:?}");
    }

    // kill -9 the leader inside its scale-down window.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();
    assert!(killed < t_low + Duration::from_secs(WINDOW - 6), "the test ran too slowly to stay inside the window");
    calls_until(&calls, TTL + RENEW * 4, "B taking over", |c| c.iter().any(|c| c.replica == "b")).await;
    let first_b = calls.lock().unwrap().iter().find(|c| c.replica == "b").cloned().unwrap();
    let took = first_b.at - killed;
    // TTL after A's last renewal, B's look every RENEW, one evaluation interval.
    assert!(took <= TTL + RENEW * 3, "B took over {took:?} after the kill");
    assert!(took >= TTL - RENEW, "B acted {took:?} after the kill, before A's lease could expire");
    assert_eq!(first_b.desired, 5, "B dropped the stabilisation window A began: {:?}", calls.lock().unwrap());

    // The window A began ends, counted from A's last high recommendation (just before
    // t_low): then B scales down, and not before.
    calls_until(&calls, Duration::from_secs(WINDOW + 5), "B scaling down", |c| {
        c.iter().any(|c| c.replica == "b" && c.desired == 1)
    })
    .await;
    let down = calls.lock().unwrap().iter().find(|c| c.desired == 1).cloned().unwrap();
    let after_low = down.at.saturating_duration_since(t_low);
    // The last high recommendation is up to one interval before `t_low`.
    assert!(
        after_low >= Duration::from_secs(WINDOW - 2),
        "scaled down {after_low:?} after the drop, inside the window"
    );
    eprintln!("measured: takeover {took:?} after the kill; scale-down {after_low:?} after the metric dropped");
    {
        let c = calls.lock().unwrap();
        assert!(c.iter().filter(|c| c.at > killed).all(|c| c.replica == "b"), "{c:?}");
    }
    let b_view: Value = serde_json::from_str(&get(b_api).await).unwrap();
    assert_eq!(b_view["data"]["leader"]["leader"], true, "{b_view}");
    drop(b);
}
