//! The notifier cluster (issue 16, item 2): two Lookout replicas that share a real
//! `nats-server -js` key-value bucket and are both sent every alert (as Prometheus sends
//! to every Alertmanager replica) notify once per group and repeat interval; a silence
//! made on one replica mutes on the other; `/api/v2/status` lists both peers; after
//! `kill -9` of the replica that sent, the other one notifies — once; a replica that
//! joins later with an empty `data_dir` reads the log and the silences from the bucket;
//! cut off from the bus, each replica notifies on its own.
//!
//! Timing: `group_wait` 1s, `group_interval` 1s, `repeat_interval` 5s, `peer_timeout`
//! 1s, heartbeats every 300ms (a peer is gone after 900ms). About 20 s in all.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::nats_util::start_nats;
use crate::util::{Lookout, free_port};

/// What the webhook receiver got: when, and the body.
type Received = Arc<Mutex<Vec<(Instant, Value)>>>;

async fn start_hook() -> (String, Received) {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let sink = sink.clone();
        async move {
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                sink.lock().unwrap().push((Instant::now(), v));
            }
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, got)
}

/// The notifications of one group (by `alertname`): when, and which replica sent it
/// (its `externalURL`).
fn of_group(got: &Received, alertname: &str) -> Vec<(Instant, String)> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|(_, v)| v["groupLabels"]["alertname"] == alertname)
        .map(|(t, v)| (*t, v["externalURL"].as_str().unwrap_or_default().to_string()))
        .collect()
}

fn replica_config(dir: &Path, api: u16, nats: u16, hook: &str) -> String {
    std::fs::write(
        dir.join("alertmanager.yml"),
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 5s\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: http://{hook}/\n        send_resolved: false\n"
        ),
    )
    .unwrap();
    format!(
        r#"api: {{ address: 127.0.0.1:{api} }}
data_dir: {data}
sources:
  otlp: {{ type: otlp, http: {{ address: 127.0.0.1:0 }} }}
sinks:
  out: {{ type: console, inputs: [otlp] }}
alerting:
  config: alertmanager.yml
  cluster: {{ nats: {{ url: nats://127.0.0.1:{nats}, bucket: lookout-notify }}, peer_timeout: 1s, heartbeat_interval: 300ms }}
"#,
        data = dir.join("data").display(),
    )
}

/// RFC 3339 for a Unix time in milliseconds (UTC).
fn rfc3339(millis: u64) -> String {
    let (secs, ms) = (millis / 1000, millis % 1000);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

async fn get_json(api: &str, path: &str) -> Value {
    reqwest::get(format!("http://{api}{path}")).await.unwrap().json().await.unwrap()
}

/// POSTs firing alerts to a replica, as Prometheus does. `startsAt` is to the
/// millisecond: a time rounded down by up to a second could make one replica flush at
/// once (`startsAt` older than `group_wait`) and the other a `group_wait` later, and two
/// replicas whose group ticks are a `peer_timeout` apart race at every repeat (as
/// Alertmanager's do).
async fn post_alerts(api: &str, names: &[&str]) {
    let starts = rfc3339(now_millis());
    let alerts: Vec<Value> =
        names.iter().map(|n| json!({ "labels": { "alertname": n, "severity": "page" }, "startsAt": starts })).collect();
    let r = reqwest::Client::new().post(format!("http://{api}/api/v2/alerts")).json(&alerts).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Polls `what` until `done` holds for it, or panics after `within`.
async fn eventually<T: std::fmt::Debug, F: Future<Output = T>>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let v = probe().await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} not reached within {within:?}; last: {v:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sleep_until(t: Instant) {
    tokio::time::sleep(t.saturating_duration_since(Instant::now())).await;
}

/// No two notifications of a group closer than the repeat interval (less a tick's slack).
fn assert_spaced(sent: &[(Instant, String)], what: &str) {
    for pair in sent.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= Duration::from_millis(4500), "{what}: two notifications {gap:?} apart: {sent:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_notify_once_share_silences_and_survive_a_kill_9() {
    let Some(nats) = start_nats().await else { return };
    let (hook, got) = start_hook().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let ports = [free_port(), free_port()];
    let mut replicas = Vec::new();
    for (dir, port) in dirs.iter().zip(ports) {
        let config = replica_config(dir.path(), port, nats.port, &hook);
        replicas.push(Lookout::start_in(dir.path(), &config, &format!("127.0.0.1:{port}"), "").await);
    }
    let apis: Vec<String> = replicas.iter().map(|r| r.api.clone()).collect();
    // Names default to HOST:PORT of the API; position 0 is the first sorted name.
    let first = if apis[0] < apis[1] { 0 } else { 1 };
    let (sender, other) = (apis[first].clone(), apis[1 - first].clone());

    // Both see the cluster ready with both peers, in Alertmanager's ClusterStatus shape.
    let mut want_peers: Vec<Value> = apis.iter().map(|a| json!({ "name": a, "address": a })).collect();
    want_peers.sort_by_key(|p| p["name"].as_str().unwrap().to_string());
    for api in &apis {
        let status = eventually(
            Duration::from_secs(10),
            &format!("{api}: cluster ready with 2 peers"),
            || get_json(api, "/api/v2/status"),
            |s| s["cluster"]["status"] == "ready" && s["cluster"]["peers"].as_array().is_some_and(|p| p.len() == 2),
        )
        .await;
        assert_eq!(status["cluster"], json!({ "name": api, "status": "ready", "peers": want_peers }), "{api}");
    }

    // A silence made on the replica that will be killed reaches the other one.
    let silence = json!({
        "matchers": [{ "name": "alertname", "value": "Silenced", "isRegex": false, "isEqual": true }],
        "startsAt": rfc3339(now_millis()), "endsAt": rfc3339(now_millis() + 3_600_000),
        "createdBy": "e2e", "comment": "muted everywhere",
    });
    let r =
        reqwest::Client::new().post(format!("http://{sender}/api/v2/silences")).json(&silence).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["silenceID"].as_str().unwrap().to_string();
    let listed = eventually(
        Duration::from_secs(5),
        "the silence listed by the other replica",
        || get_json(&other, "/api/v2/silences"),
        |l| l.as_array().is_some_and(|l| l.iter().any(|s| s["id"] == id.as_str())),
    )
    .await;
    let copy = listed.as_array().unwrap().iter().find(|s| s["id"] == id.as_str()).unwrap().clone();
    assert_eq!(copy["status"]["state"], "active");
    assert_eq!(copy["comment"], "muted everywhere");

    // Both replicas get the same alerts.
    for api in &apis {
        post_alerts(api, &["Paging", "Silenced"]).await;
    }
    let sent = eventually(
        Duration::from_secs(10),
        "the first Paging notification",
        || async { of_group(&got, "Paging") },
        |s| !s.is_empty(),
    )
    .await;
    let t_first = sent[0].0;
    // One repeat interval and a bit: the first notification and one repeat, both from
    // position 0 (the other replica waited a peer timeout and found them in the log).
    sleep_until(t_first + Duration::from_millis(8000)).await;
    let paging = of_group(&got, "Paging");
    assert_eq!(paging.len(), 2, "once per repeat interval with both replicas up: {paging:?}");
    assert!(paging.iter().all(|(_, from)| from == &format!("http://{sender}")), "position 0 sends: {paging:?}");
    assert_spaced(&paging, "Paging, both up");

    // kill -9 the replica that sent; a new group goes to the survivor only.
    let killed = replicas.remove(first);
    let mut killed = killed;
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let t_kill = Instant::now();
    post_alerts(&other, &["Paging", "AfterKill"]).await;
    sleep_until(t_kill + Duration::from_millis(4500)).await;
    let after_kill = of_group(&got, "AfterKill");
    assert_eq!(after_kill.len(), 1, "the survivor notifies a new group once: {after_kill:?}");
    assert_eq!(after_kill[0].1, format!("http://{other}"));
    // The repeat of the old group now comes from the survivor, still once per interval.
    let paging = of_group(&got, "Paging");
    assert!(
        paging.iter().any(|(t, from)| *t > t_kill && from == &format!("http://{other}")),
        "survivor repeats: {paging:?}"
    );
    assert_spaced(&paging, "Paging across the kill");
    // The survivor is alone now, and says so.
    let status = get_json(&other, "/api/v2/status").await;
    assert_eq!(status["cluster"]["peers"], json!([{ "name": other, "address": other }]), "{status}");
    // Replication is counted.
    let metrics = metrics_of(&other).await;
    let value = |name: &str| metric(&metrics, name);
    assert!(value("lookout_notifier_cluster_messages_received_total{msg_type=\"nflog\"}") >= 2.0, "{metrics}");
    assert!(value("lookout_notifier_cluster_messages_received_total{msg_type=\"silence\"}") >= 1.0, "{metrics}");
    assert!(value("lookout_notifier_cluster_messages_sent_total{msg_type=\"nflog\"}") >= 1.0, "{metrics}");
    assert_eq!(value("lookout_notifier_cluster_members"), 1.0, "{metrics}");
    assert_eq!(value("lookout_notifier_cluster_bus_up"), 1.0, "{metrics}");

    // A new replica with an empty data_dir reads the bucket before it is ready: it knows
    // the silence made before it existed (and mutes with it) and the log entries.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh_port = free_port();
    let config = replica_config(fresh_dir.path(), fresh_port, nats.port, &hook);
    let fresh = Lookout::start_in(fresh_dir.path(), &config, &format!("127.0.0.1:{fresh_port}"), "").await;
    eventually(
        Duration::from_secs(10),
        "the new replica ready with 2 peers",
        || get_json(&fresh.api, "/api/v2/status"),
        |s| s["cluster"]["status"] == "ready" && s["cluster"]["peers"].as_array().is_some_and(|p| p.len() == 2),
    )
    .await;
    let listed = get_json(&fresh.api, "/api/v2/silences").await;
    assert!(listed.as_array().unwrap().iter().any(|s| s["id"] == id.as_str()), "{listed}");
    let metrics = metrics_of(&fresh.api).await;
    assert!(
        metric(&metrics, "lookout_notifier_cluster_messages_received_total{msg_type=\"nflog\"}") >= 2.0,
        "{metrics}"
    );
    post_alerts(&fresh.api, &["Silenced"]).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Nothing was ever sent for the silenced alert, by any replica.
    assert_eq!(of_group(&got, "Silenced"), Vec::new());
}

async fn metrics_of(api: &str) -> String {
    reqwest::get(format!("http://{api}/metrics")).await.unwrap().text().await.unwrap()
}

/// A sample's value in a Prometheus text exposition (0 when absent).
fn metric(exposition: &str, sample: &str) -> f64 {
    exposition
        .lines()
        .find(|l| l.starts_with(sample))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Partition: both replicas lose the bus. Each acts alone at position 0 and sends — a
/// duplicate, never a miss — and says so on `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_cut_off_from_the_bus_each_notify() {
    let Some(nats) = start_nats().await else { return };
    let (hook, got) = start_hook().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut replicas = Vec::new();
    for dir in &dirs {
        let port = free_port();
        let config = replica_config(dir.path(), port, nats.port, &hook);
        replicas.push(Lookout::start_in(dir.path(), &config, &format!("127.0.0.1:{port}"), "").await);
    }
    for r in &replicas {
        eventually(
            Duration::from_secs(10),
            "cluster ready with 2 peers",
            || get_json(&r.api, "/api/v2/status"),
            |s| s["cluster"]["status"] == "ready" && s["cluster"]["peers"].as_array().is_some_and(|p| p.len() == 2),
        )
        .await;
    }
    drop(nats);
    for r in &replicas {
        eventually(
            Duration::from_secs(10),
            "bus_up 0",
            || async { metric(&metrics_of(&r.api).await, "lookout_notifier_cluster_bus_up") },
            |v| *v == 0.0,
        )
        .await;
    }
    for r in &replicas {
        post_alerts(&r.api, &["Partitioned"]).await;
    }
    let sent = eventually(
        Duration::from_secs(10),
        "a notification from each replica",
        || async { of_group(&got, "Partitioned") },
        |s| s.len() >= 2,
    )
    .await;
    let mut senders: Vec<String> = sent.iter().map(|(_, from)| from.clone()).collect();
    senders.sort();
    let mut want: Vec<String> = replicas.iter().map(|r| format!("http://{}", r.api)).collect();
    want.sort();
    assert_eq!(senders, want, "each replica sent once: {sent:?}");
}
