//! The same config and the same alert sequence, posted to Lookout and to the real
//! Alertmanager 0.25 (Debian `prometheus-alertmanager`), must produce the same
//! notifications: receiver, group key, firing/resolved alert sets, in the same order per
//! group, at about the same time.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Received, Recorder, Running, alert, post_alerts};

struct Alertmanager {
    child: Child,
    api: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_alertmanager(yaml: &str) -> Alertmanager {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg, yaml).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager is installed");
    let api = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(r) = reqwest::get(format!("{api}/-/ready")).await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "alertmanager did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Alertmanager { child, api, _dir: dir }
}

fn config(url: &str) -> String {
    format!(
        "route:
  receiver: default
  group_by: [alertname]
  group_wait: 600ms
  group_interval: 1500ms
  repeat_interval: 2500ms
  routes:
    - matchers: ['severity=\"critical\"']
      receiver: pager
      continue: true
    - match: {{ team: db }}
      receiver: db
      group_by: ['...']
receivers:
  - name: default
    webhook_configs: [{{ url: '{url}/default' }}]
  - name: pager
    webhook_configs: [{{ url: '{url}/pager', send_resolved: false }}]
  - name: db
    webhook_configs: [{{ url: '{url}/db' }}]
inhibit_rules:
  - source_matchers: [alertname=DbDown]
    target_matchers: [alertname=DbSlow]
    equal: [cluster]
"
    )
}

/// What a notification means, without timestamps: receiver, group key, (labels, status).
type Meaning = (String, String, Vec<(String, String)>);

fn meaning(r: &Received) -> Meaning {
    (r.receiver().to_string(), r.group_key().to_string(), r.alerts())
}

/// Posts the scenario to one API; the start time is shared so both see the same alerts.
async fn scenario(api: &str, phase: u8, starts: &str) {
    let a = |labels: &[(&str, &str)], resolved: bool| {
        let mut v = alert(labels, None, if resolved { Some(0) } else { None });
        v["startsAt"] = json!(starts);
        v
    };
    let body = match phase {
        0 => json!([
            a(&[("alertname", "HighLatency"), ("service", "api")], false),
            a(&[("alertname", "HighLatency"), ("service", "web")], false),
            a(&[("alertname", "Outage"), ("severity", "critical"), ("service", "api")], false),
            a(&[("alertname", "DbDown"), ("team", "db"), ("cluster", "c1")], false),
            a(&[("alertname", "DbSlow"), ("team", "db"), ("cluster", "c1")], false),
            a(&[("alertname", "DbSlow"), ("team", "db"), ("cluster", "c2")], false),
        ]),
        1 => json!([
            a(&[("alertname", "HighLatency"), ("service", "web")], true),
            a(&[("alertname", "Outage"), ("severity", "critical"), ("service", "api")], true),
        ]),
        _ => json!([a(&[("alertname", "HighLatency"), ("service", "db")], false)]),
    };
    assert_eq!(post_alerts(api, body).await, 200);
}

async fn collect(rec: &Recorder, until: Instant) -> Vec<Received> {
    let mut out = Vec::new();
    while let Some(r) = rec.next(until.saturating_duration_since(Instant::now())).await {
        out.push(r);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_notifications_as_alertmanager() {
    let ours = Recorder::start().await;
    let theirs = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let run = Running::start(&config(&ours.url), dir.path()).await;
    let am = start_alertmanager(&config(&theirs.url)).await;

    let t0 = Instant::now();
    let starts = chrono::Utc::now().to_rfc3339();
    // Phases land between group ticks (0.6 s, 2.1 s, 3.6 s after creation) so neither side
    // races a flush.
    // A silence mutes DbSlow/c2 until it is expired at 1 s; its group then notifies at the
    // next tick on both sides.
    let client = reqwest::Client::new();
    let now = chrono::Utc::now();
    let sil = json!({
        "matchers": [{"name": "alertname", "value": "DbSlow", "isRegex": false},
                     {"name": "cluster", "value": "c[2-9]", "isRegex": true}],
        "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "diff", "comment": "muted until phase 1",
    });
    let mut silences = Vec::new();
    for api in [&run.api, &am.api] {
        let r = client.post(format!("{api}/api/v2/silences")).json(&sil).send().await.unwrap();
        silences.push((
            api.clone(),
            r.json::<serde_json::Value>().await.unwrap()["silenceID"].as_str().unwrap().to_string(),
        ));
    }
    for (phase, at_ms) in [(0u8, 0u64), (1, 1000), (2, 2700)] {
        tokio::time::sleep_until((t0 + Duration::from_millis(at_ms)).into()).await;
        tokio::join!(scenario(&run.api, phase, &starts), scenario(&am.api, phase, &starts));
        if phase == 1 {
            for (api, id) in &silences {
                assert_eq!(client.delete(format!("{api}/api/v2/silence/{id}")).send().await.unwrap().status(), 200);
            }
        }
    }
    // Ticks at about 0.6, 2.1, 3.6 and 5.1 s; unchanged groups repeat at 3.6 s.
    let until = t0 + Duration::from_millis(5800);
    let (mine, real) = tokio::join!(collect(&ours, until), collect(&theirs, until));

    // Per group: the sequence of notifications must be identical.
    let by_group = |v: &[Received]| {
        let mut m: BTreeMap<(String, String), Vec<(Meaning, Duration)>> = BTreeMap::new();
        for r in v {
            m.entry((r.receiver().to_string(), r.group_key().to_string())).or_default().push((meaning(r), r.at - t0));
        }
        m
    };
    let (mg, rg) = (by_group(&mine), by_group(&real));
    let strip = |m: &BTreeMap<(String, String), Vec<(Meaning, Duration)>>| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|(x, _)| x.clone()).collect::<Vec<_>>()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(strip(&mg), strip(&rg), "\nlookout: {mine:#?}\nalertmanager: {real:#?}");
    assert!(!mine.is_empty());
    // The scenario exercises grouping, continue, inhibition, resolution and repeats.
    let db_down = ("db".to_string(), r#"{}/{team="db"}:{alertname="DbDown", cluster="c1", team="db"}"#.to_string());
    assert_eq!(rg[&db_down].len(), 2, "Alertmanager repeated the unchanged group: {real:#?}");
    assert!(!rg.keys().any(|(_, k)| k.contains("DbSlow") && k.contains("c1")), "inhibited group was notified");
    let db_slow_c2 = ("db".to_string(), r#"{}/{team="db"}:{alertname="DbSlow", cluster="c2", team="db"}"#.to_string());
    assert!(
        rg[&db_slow_c2].iter().all(|(_, at)| *at > Duration::from_millis(1000)),
        "silenced group was notified early"
    );
    // Timing: each notification within 400 ms of Alertmanager's.
    for (k, v) in &mg {
        for ((_, ours_at), (_, theirs_at)) in v.iter().zip(&rg[k]) {
            let diff = ours_at.as_millis().abs_diff(theirs_at.as_millis());
            assert!(diff < 400, "{k:?}: lookout at {ours_at:?}, alertmanager at {theirs_at:?}");
        }
    }
    // Payload details beyond grouping agree too (fingerprints, common labels, version).
    let pick = |v: &[Received], key: &(String, String)| {
        v.iter().find(|r| r.receiver() == key.0 && r.group_key() == key.1).map(|r| r.body.clone()).unwrap()
    };
    for key in mg.keys() {
        let (a, b) = (pick(&mine, key), pick(&real, key));
        for field in ["version", "status", "groupLabels", "commonLabels", "commonAnnotations", "truncatedAlerts"] {
            assert_eq!(a[field], b[field], "{key:?}: {field}");
        }
        let fps = |v: &serde_json::Value| {
            let mut f: Vec<String> = v["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["fingerprint"].as_str().unwrap().to_string())
                .collect();
            f.sort();
            f
        };
        assert_eq!(fps(&a), fps(&b), "{key:?}: fingerprints");
        // Per alert, everything but the timestamps (each side stamped its own).
        let strip_times = |v: &serde_json::Value| {
            let mut out: Vec<serde_json::Value> = v["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| json!([a["fingerprint"], a["status"], a["labels"], a["annotations"], a["generatorURL"]]))
                .collect();
            out.sort_by_key(|x| x.to_string());
            out
        };
        assert_eq!(strip_times(&a), strip_times(&b), "{key:?}: alerts");
        // Firing alerts show Go's zero time as endsAt on both sides.
        for x in [&a, &b] {
            for al in x["alerts"].as_array().unwrap().iter().filter(|al| al["status"] == "firing") {
                assert_eq!(al["endsAt"], "0001-01-01T00:00:00Z", "{key:?}");
            }
        }
    }
    drop(am);
    run.stop().await;
}

/// The JSON structure (object keys and value kinds, recursively; arrays by their first
/// element) of a response: what clients such as amtool and Grafana depend on.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_responses_have_alertmanagers_shape() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(&rec.url);
    let run = Running::start(&yaml, dir.path()).await;
    let am = start_alertmanager(&yaml).await;
    let client = reqwest::Client::new();
    let now = chrono::Utc::now();
    let sil = json!({
        "matchers": [{"name": "alertname", "value": "DbSlow", "isRegex": false, "isEqual": true}],
        "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "diff", "comment": "shape",
    });
    let mut ids = Vec::new();
    for api in [&run.api, &am.api] {
        scenario(api, 0, &now.to_rfc3339()).await;
        let r: serde_json::Value =
            client.post(format!("{api}/api/v2/silences")).json(&sil).send().await.unwrap().json().await.unwrap();
        ids.push(r["silenceID"].as_str().unwrap().to_string());
    }
    for (path, compare_values) in [
        ("/api/v2/alerts", false),
        ("/api/v2/alerts?filter=alertname%3D%22DbSlow%22&silenced=true", false),
        ("/api/v2/alerts/groups", false),
        ("/api/v2/silences", false),
        ("/api/v2/receivers", true),
        ("/api/v2/status", false),
    ] {
        let get = |api: String| {
            let c = client.clone();
            async move { c.get(format!("{api}{path}")).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
        };
        let (ours, theirs) = tokio::join!(get(run.api.clone()), get(am.api.clone()));
        let (mut so, mut st) = (shape(&ours), shape(&theirs));
        if path == "/api/v2/status" {
            // A disabled cluster: Alertmanager omits name and peers entirely, we send them empty.
            for s in [&mut so, &mut st] {
                s["cluster"] = json!({"status": "string"});
            }
        }
        assert_eq!(so, st, "{path}\nlookout: {ours:#}\nalertmanager: {theirs:#}");
        if compare_values {
            assert_eq!(ours, theirs, "{path}");
        }
        if path.starts_with("/api/v2/alerts?") {
            // Same alerts, same status (silenced by one silence each).
            assert_eq!(ours.as_array().unwrap().len(), theirs.as_array().unwrap().len());
            for (o, t) in ours.as_array().unwrap().iter().zip(theirs.as_array().unwrap()) {
                for k in ["labels", "fingerprint", "receivers"] {
                    assert_eq!(o[k], t[k], "{path}: {k}");
                }
                assert_eq!(o["status"]["state"], t["status"]["state"]);
            }
        }
    }
    for (api, id) in [(&run.api, &ids[0]), (&am.api, &ids[1])] {
        assert_eq!(client.delete(format!("{api}/api/v2/silence/{id}")).send().await.unwrap().status(), 200);
        let s: serde_json::Value =
            client.get(format!("{api}/api/v2/silence/{id}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(s["status"]["state"], "expired", "{api}");
    }
    drop(am);
    run.stop().await;
}
