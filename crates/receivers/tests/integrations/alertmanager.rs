//! Differential test against the real Alertmanager (Debian `prometheus-alertmanager` 0.25):
//! the same receiver config and the same alerts go to both; the webhook, Slack, PagerDuty
//! and OpsGenie requests each one sends to a local fake must be equal, field for field,
//! apart from the documented Lookout additions (PagerDuty `payload.timestamp`).
//!
//! Every template field is set explicitly where Lookout's default wording differs from
//! Alertmanager's on purpose (Slack text, names); defaults that are meant to be identical
//! (the subject line, the PagerDuty instance lists, the OpsGenie description) are left
//! default and so are compared too.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lookout_receivers::{Alert, GlobalConfig, Notification, Templates, build_integrations};
use serde_json::{Value, json};

use crate::support::{Captured, Fake, ls};

struct Am(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Am {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn receiver_yaml(base: &str) -> String {
    format!(
        r#"name: all
webhook_configs:
  - url: {base}/webhook
slack_configs:
  - api_url: {base}/slack
    send_resolved: true
    channel: '#alerts'
    username: '{{{{ .Receiver }}}}'
    color: '{{{{ if eq .Status "firing" }}}}danger{{{{ else }}}}good{{{{ end }}}}'
    title: '{{{{ template "slack.default.title" . }}}}'
    title_link: 'https://example.com/{{{{ .GroupLabels.alertname }}}}'
    pretext: 'pre {{{{ .CommonLabels.env }}}}'
    text: '{{{{ range .Alerts }}}}{{{{ .Labels.instance }}}} {{{{ .Status }}}}; {{{{ end }}}}'
    fallback: 'fb {{{{ len .Alerts.Firing }}}}'
    callback_id: cb
    footer: foot
    icon_emoji: ':fire:'
    fields:
      - title: env
        value: '{{{{ .CommonLabels.env }}}}'
        short: true
    actions:
      - type: button
        text: Runbook
        url: 'https://runbooks/{{{{ .GroupLabels.alertname }}}}'
        style: primary
pagerduty_configs:
  - routing_key: 0123456789abcdef0123456789abcdef
    url: {base}/pd/v2/enqueue
    client: Lookout-diff
    client_url: 'https://lookout/{{{{ .Receiver }}}}'
    severity: warning
    class: latency
    component: api
    group: prod
    links:
      - href: https://runbooks/x
        text: runbook
opsgenie_configs:
  - api_key: og-key
    api_url: {base}/og/
    message: '{{{{ .GroupLabels.alertname }}}} is {{{{ .Status }}}}'
    source: lookout-diff
    details:
      env: '{{{{ .CommonLabels.env }}}}'
    tags: 'a, b ,c'
    note: note
    entity: api
    priority: P2
    responders:
      - name: sre
        type: team
"#
    )
}

/// Runs Alertmanager with one route (group by alertname, group_wait 3s, group_interval 1s)
/// to `receiver`; returns it and its API port.
fn start_am(receiver: &str) -> (Am, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port("127.0.0.1");
    let config = format!(
        "route:\n  receiver: {}\n  group_by: [alertname]\n  group_wait: 3s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - {}\n",
        receiver.lines().next().unwrap().trim_start_matches("name: "),
        receiver.replace('\n', "\n    ").trim_end()
    );
    std::fs::write(dir.path().join("am.yml"), &config).unwrap();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", dir.path().join("am.yml").display()))
        .arg(format!("--storage.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.external-url=http://am.example:9093")
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    (Am(child, dir), port)
}

/// POSTs alerts to Alertmanager's API v2, retrying while it starts.
async fn post_alerts(port: u16, alerts: &[Value]) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = client.post(format!("http://127.0.0.1:{port}/api/v2/alerts")).json(&alerts).send().await;
        if r.as_ref().is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "Alertmanager did not accept alerts: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn wait_for(fake: &Fake, paths: &[&str]) -> Vec<Captured> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = fake.taken();
        if paths.iter().all(|p| got.iter().any(|r| r.path == *p)) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn body(reqs: &[Captured], path: &str) -> Value {
    reqs.iter().find(|r| r.path == path).unwrap_or_else(|| panic!("no request to {path}: {reqs:?}")).json()
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    if s.starts_with("0001-") {
        return None;
    }
    Some(DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_requests_as_alertmanager() {
    if Command::new("prometheus-alertmanager").arg("--version").output().is_err() {
        eprintln!("\n!!! SKIPPED: prometheus-alertmanager not installed; no differential check of the receivers !!!\n");
        return;
    }
    let ok = |c: &Captured, _: usize| {
        let status =
            if c.path.starts_with("/pd") || c.path.starts_with("/og") { StatusCode::ACCEPTED } else { StatusCode::OK };
        (status, vec![], if c.path == "/slack" { "ok".to_string() } else { "{}".to_string() })
    };
    let am_fake = Fake::start(ok).await;
    let our_fake = Fake::start(ok).await;

    let receiver = receiver_yaml(&am_fake.url(""));
    let (_am, port) = start_am(&receiver);

    // Younger than group_wait, so Alertmanager waits for all three before its first flush.
    let starts = Utc::now() - chrono::Duration::seconds(2);
    let starts = DateTime::from_timestamp_millis(starts.timestamp_millis()).unwrap();
    let resolved_at = starts + chrono::Duration::seconds(1);
    let mk = |inst: &str, sev: &str| {
        let mut a = Alert::new(
            ls(&[("alertname", "DiffTest"), ("env", "prod"), ("instance", inst), ("severity", sev)]),
            starts,
        );
        a.annotations = ls(&[("summary", "latency high"), ("runbook", "https://r/x")]);
        a.generator_url = format!("http://prometheus:9090/graph?{inst}");
        a
    };
    let mut alerts = vec![mk("a:1", "critical"), mk("b:1", "warning"), mk("c:1", "warning")];
    alerts[2].ends_at = Some(resolved_at);
    let post: Vec<Value> = alerts
        .iter()
        .map(|a| {
            let mut v = json!({
                "labels": a.labels, "annotations": a.annotations,
                "startsAt": starts.to_rfc3339(), "generatorURL": a.generator_url,
            });
            if let Some(e) = a.ends_at {
                v["endsAt"] = json!(e.to_rfc3339());
            }
            v
        })
        .collect();
    post_alerts(port, &post).await;
    let paths = ["/webhook", "/slack", "/pd/v2/enqueue", "/og/v2/alerts"];
    let am_fake = Arc::new(am_fake);
    let f = am_fake.clone();
    let am = tokio::task::spawn_blocking(move || wait_for(&f, &paths)).await.unwrap();

    // The same notification from Lookout: the group key and alert order are the notifier's
    // business, so take them from Alertmanager's webhook payload.
    let hook = body(&am, "/webhook");
    let order: Vec<String> = hook["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["instance"].as_str().unwrap().to_string())
        .collect();
    alerts.sort_by_key(|a| order.iter().position(|o| *o == a.labels["instance"]).unwrap());
    for (a, h) in alerts.iter().zip(hook["alerts"].as_array().unwrap()) {
        assert_eq!(parse_time(&h["startsAt"]), Some(a.starts_at));
        assert_eq!(parse_time(&h["endsAt"]), a.ends_at);
    }
    let mut n = Notification {
        receiver: "all".into(),
        status_firing: true,
        group_key: hook["groupKey"].as_str().unwrap().to_string(),
        group_labels: ls(&[("alertname", "DiffTest")]),
        alerts,
        external_url: hook["externalURL"].as_str().unwrap().to_string(),
        truncated_alerts: 0,
        now: Utc::now(),
    };
    let r = crate::support::receiver(&receiver_yaml(&our_fake.url("")));
    for i in build_integrations(&r, &GlobalConfig::default(), Arc::new(Templates::builtin()), reqwest::Client::new())
        .unwrap()
    {
        i.notify(&n).await.unwrap_or_else(|e| panic!("{}: {e}", i.name()));
    }
    let ours = our_fake.taken();

    // Alertmanager formats startsAt with the zone it parsed; compare instants, then bodies.
    let mut theirs = hook.clone();
    let mine = body(&ours, "/webhook");
    for (t, m) in theirs["alerts"].as_array_mut().unwrap().iter_mut().zip(mine["alerts"].as_array().unwrap()) {
        assert_eq!(parse_time(&t["startsAt"]), parse_time(&m["startsAt"]));
        t["startsAt"] = m["startsAt"].clone();
    }
    assert_eq!(mine, theirs, "webhook payloads differ");

    assert_eq!(body(&ours, "/slack"), body(&am, "/slack"), "slack payloads differ");

    let mut pd = body(&ours, "/pd/v2/enqueue");
    assert!(pd["payload"]["timestamp"].is_string(), "Lookout adds payload.timestamp");
    pd["payload"].as_object_mut().unwrap().remove("timestamp");
    assert_eq!(pd, body(&am, "/pd/v2/enqueue"), "pagerduty events differ");

    let og_ours = ours.iter().find(|r| r.path == "/og/v2/alerts").unwrap();
    let og_am = am.iter().find(|r| r.path == "/og/v2/alerts").unwrap();
    assert_eq!(og_ours.json(), og_am.json(), "opsgenie create requests differ");
    assert_eq!(og_ours.header("authorization"), og_am.header("authorization"));

    // Then everything resolves: the next flush carries the resolved notifications
    // (PagerDuty resolve, OpsGenie close, Slack and webhook "resolved").
    let before_am = am_fake.taken().len();
    let before_ours = our_fake.taken().len();
    let ended = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let resolve: Vec<Value> = post
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if p.get("endsAt").is_none() {
                p["endsAt"] = json!(ended.to_rfc3339());
            }
            p
        })
        .collect();
    post_alerts(port, &resolve).await;
    let og_close = format!("/og/v2/alerts/{}/close", n.group_key_hash());
    let f = am_fake.clone();
    let close = og_close.clone();
    let am = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got: Vec<Captured> = f.taken()[before_am..].to_vec();
            let want = ["/webhook", "/slack", "/pd/v2/enqueue", close.as_str()];
            if want.iter().all(|p| got.iter().any(|r| r.path == *p)) || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    for a in &mut n.alerts {
        a.ends_at.get_or_insert(ended);
    }
    n.status_firing = false;
    n.now = Utc::now();
    let r = crate::support::receiver(&receiver_yaml(&our_fake.url("")));
    for i in build_integrations(&r, &GlobalConfig::default(), Arc::new(Templates::builtin()), reqwest::Client::new())
        .unwrap()
    {
        i.notify(&n).await.unwrap_or_else(|e| panic!("{}: {e}", i.name()));
    }
    let ours: Vec<Captured> = our_fake.taken()[before_ours..].to_vec();
    let mut theirs = body(&am, "/webhook");
    let mine = body(&ours, "/webhook");
    for (t, m) in theirs["alerts"].as_array_mut().unwrap().iter_mut().zip(mine["alerts"].as_array().unwrap()) {
        assert_eq!(parse_time(&t["startsAt"]), parse_time(&m["startsAt"]));
        assert_eq!(parse_time(&t["endsAt"]), parse_time(&m["endsAt"]));
        t["startsAt"] = m["startsAt"].clone();
        t["endsAt"] = m["endsAt"].clone();
    }
    assert_eq!(mine, theirs, "resolved webhook payloads differ");
    assert_eq!(body(&ours, "/slack"), body(&am, "/slack"), "resolved slack payloads differ");
    let pd = body(&ours, "/pd/v2/enqueue");
    assert_eq!(pd["event_action"], "resolve");
    assert!(pd["payload"].get("timestamp").is_none(), "no firing alert, no timestamp");
    assert_eq!(pd, body(&am, "/pd/v2/enqueue"), "pagerduty resolve events differ");
    assert_eq!(body(&ours, &og_close), body(&am, &og_close), "opsgenie close requests differ");
    let q = |reqs: &[Captured]| reqs.iter().find(|r| r.path == og_close).map(|r| r.query.clone());
    assert_eq!(q(&ours), q(&am));
}

/// Email: the same receiver sends through Alertmanager and Lookout to two aiosmtpd servers;
/// envelope, headers, MIME structure and both decoded parts must match, including
/// Alertmanager's html/template escaping of the HTML part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_email_as_alertmanager() {
    if Command::new("prometheus-alertmanager").arg("--version").output().is_err() {
        eprintln!("\n!!! SKIPPED: prometheus-alertmanager not installed; no differential check of email !!!\n");
        return;
    }
    let (p1, p2) = (crate::support::free_port("127.0.0.1"), crate::support::free_port("127.0.0.1"));
    let Some(am_smtp) =
        crate::support::PyServer::start("smtp_server.py", &["127.0.0.1", &p1.to_string(), "plain", "none"], p1)
    else {
        return;
    };
    let Some(our_smtp) =
        crate::support::PyServer::start("smtp_server.py", &["127.0.0.1", &p2.to_string(), "plain", "none"], p2)
    else {
        return;
    };
    let yaml = |port: u16| {
        format!(
            r#"name: mail
email_configs:
  - to: 'oncall@example.com, Two <two@example.com>'
    from: 'Lookout <lookout@example.com>'
    smarthost: 127.0.0.1:{port}
    require_tls: false
    headers:
      X-Team: '{{{{ .CommonLabels.env }}}}'
    html: '<p>{{{{ range .Alerts }}}}<b>{{{{ .Annotations.summary }}}}</b> {{{{ .Labels.instance }}}}<br>{{{{ end }}}}</p>'
    text: '{{{{ range .Alerts }}}}{{{{ .Labels.instance }}}} {{{{ .Status }}}}: {{{{ .Annotations.summary }}}}
      {{{{ end }}}}'
"#
        )
    };
    let (_am, port) = start_am(&yaml(p1));
    let starts =
        DateTime::from_timestamp_millis((Utc::now() - chrono::Duration::seconds(1)).timestamp_millis()).unwrap();
    let mut alerts: Vec<Alert> = ["x:1", "y:1"]
        .iter()
        .map(|i| {
            let mut a = Alert::new(ls(&[("alertname", "DiffMail"), ("env", "prod"), ("instance", i)]), starts);
            a.annotations = ls(&[("summary", "disk <90%> & \"rising\" 'fast'")]);
            a
        })
        .collect();
    let post: Vec<Value> = alerts
        .iter()
        .map(|a| json!({"labels": a.labels, "annotations": a.annotations, "startsAt": a.starts_at.to_rfc3339()}))
        .collect();
    post_alerts(port, &post).await;
    let theirs = tokio::task::spawn_blocking(move || {
        let m = am_smtp.records("messages.jsonl", 1);
        (m, am_smtp)
    })
    .await
    .unwrap()
    .0;
    assert_eq!(theirs.len(), 1, "Alertmanager sent no email");
    let theirs = &theirs[0];

    alerts.sort_by(|a, b| a.labels["instance"].cmp(&b.labels["instance"]));
    let n = Notification {
        receiver: "mail".into(),
        status_firing: true,
        group_key: "{}:{alertname=\"DiffMail\"}".into(),
        group_labels: ls(&[("alertname", "DiffMail")]),
        alerts,
        external_url: "http://am.example:9093".into(),
        truncated_alerts: 0,
        now: Utc::now(),
    };
    let r = crate::support::receiver(&yaml(p2));
    let i = build_integrations(&r, &GlobalConfig::default(), Arc::new(Templates::builtin()), reqwest::Client::new())
        .unwrap();
    i[0].notify(&n).await.unwrap();
    let ours = our_smtp.records("messages.jsonl", 1);
    let ours = &ours[0];

    assert_eq!(ours["mail_from"], theirs["mail_from"]);
    assert_eq!(ours["rcpt_tos"], theirs["rcpt_tos"]);
    let header = |m: &Value, name: &str| {
        m["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|h| h[1].clone())
    };
    for h in ["Subject", "From", "To", "X-Team", "MIME-Version"] {
        assert_eq!(header(ours, h), header(theirs, h), "header {h} differs");
    }
    assert_eq!(ours["content_type"], theirs["content_type"]);
    let parts = |m: &Value| -> Vec<(String, String)> {
        m["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (p["content_type"].as_str().unwrap().to_string(), p["body"].as_str().unwrap().replace("\r\n", "\n"))
            })
            .collect()
    };
    let theirs_parts = parts(theirs);
    assert_eq!(theirs_parts.len(), 2, "{theirs_parts:?}");
    assert!(
        theirs_parts[1].1.contains("<b>disk &lt;90%&gt; &amp; &#34;rising&#34; &#39;fast&#39;</b>"),
        "{theirs_parts:?}"
    );
    assert_eq!(parts(ours), theirs_parts, "MIME parts differ");
}
