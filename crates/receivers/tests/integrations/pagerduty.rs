//! PagerDuty Events API v2 against a fake written from PagerDuty's published docs
//! ("Send an Alert Event", developer.pagerduty.com events-API-v2): it accepts an event
//! only when `routing_key` is present, `event_action` is trigger/acknowledge/resolve,
//! `dedup_key` ≤ 255 characters, and a trigger carries `payload.summary` (≤ 1024),
//! `payload.source` and `payload.severity` ∈ {critical, error, warning, info}; images need
//! `src`, links need `href`. It answers 202 `{"status":"success",...}` or 400
//! `{"status":"invalid event",...}` as the docs show.

use axum::http::StatusCode;
use lookout_receivers::GlobalConfig;
use serde_json::{Value, json};

use crate::support::{Captured, Fake, Reply, fixture, one, resolved_fixture};

fn validate(e: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let s = |v: &Value| v.as_str().map(str::to_string);
    if s(&e["routing_key"]).is_none_or(|k| k.is_empty()) {
        errs.push("'routing_key' is missing".into());
    }
    let action = s(&e["event_action"]).unwrap_or_default();
    if !["trigger", "acknowledge", "resolve"].contains(&action.as_str()) {
        errs.push("'event_action' is invalid".into());
    }
    if s(&e["dedup_key"]).is_some_and(|d| d.chars().count() > 255) {
        errs.push("'dedup_key' is too long".into());
    }
    if action == "trigger" {
        let p = &e["payload"];
        match s(&p["summary"]) {
            Some(x) if !x.is_empty() && x.chars().count() <= 1024 => {}
            _ => errs.push("'payload.summary' is missing or too long".into()),
        }
        if s(&p["source"]).is_none_or(|x| x.is_empty()) {
            errs.push("'payload.source' is missing".into());
        }
        if !["critical", "error", "warning", "info"].contains(&s(&p["severity"]).unwrap_or_default().as_str()) {
            errs.push("'payload.severity' is invalid".into());
        }
        if !p["custom_details"].is_null() && !p["custom_details"].is_object() {
            errs.push("'payload.custom_details' must be an object".into());
        }
    }
    for i in e["images"].as_array().into_iter().flatten() {
        if s(&i["src"]).is_none_or(|x| x.is_empty()) {
            errs.push("image 'src' is missing".into());
        }
    }
    for l in e["links"].as_array().into_iter().flatten() {
        if s(&l["href"]).is_none_or(|x| x.is_empty()) {
            errs.push("link 'href' is missing".into());
        }
    }
    errs
}

fn pagerduty(c: &Captured, _: usize) -> Reply {
    if c.method != "POST" || c.path != "/v2/enqueue" {
        return (StatusCode::NOT_FOUND, vec![], String::new());
    }
    let Ok(e) = serde_json::from_slice::<Value>(&c.body) else {
        return (
            StatusCode::BAD_REQUEST,
            vec![],
            json!({"status": "invalid event", "message": "Event object is invalid"}).to_string(),
        );
    };
    let errs = validate(&e);
    if errs.is_empty() {
        let reply = json!({"status": "success", "message": "Event processed", "dedup_key": e["dedup_key"]});
        (StatusCode::ACCEPTED, vec![], reply.to_string())
    } else {
        let reply = json!({"status": "invalid event", "message": "Event object is invalid", "errors": errs});
        (StatusCode::BAD_REQUEST, vec![], reply.to_string())
    }
}

#[tokio::test]
async fn trigger_then_resolve_share_the_dedup_key() {
    let fake = Fake::start(pagerduty).await;
    let g: GlobalConfig = crate::support::global(&format!("pagerduty_url: {}\n", fake.url("/v2/enqueue")));
    let pd = one(
        "name: ops\npagerduty_configs:\n  - routing_key: 0123456789abcdef0123456789abcdef\n    class: latency\n    component: api\n    group: prod\n    links:\n      - href: '{{ .ExternalURL }}/runbooks/{{ .GroupLabels.alertname }}'\n        text: Runbook\n      - href: ''\n    images:\n      - src: https://grafana.example/render.png\n        alt: latency\n    details:\n      team: '{{ .CommonLabels.env }}'\n",
        &g,
    );
    assert!(pd.send_resolved(), "pagerduty send_resolved defaults to true");
    pd.notify(&fixture()).await.unwrap();
    pd.notify(&resolved_fixture()).await.unwrap();
    let reqs = fake.taken();
    assert_eq!(reqs.len(), 2);
    let trig = reqs[0].json();
    assert_eq!(trig["routing_key"], "0123456789abcdef0123456789abcdef");
    assert_eq!(trig["event_action"], "trigger");
    let dedup = trig["dedup_key"].as_str().unwrap();
    assert_eq!(dedup, fixture().group_key_hash(), "dedup_key is the hashed group key");
    assert_eq!(dedup.len(), 64);
    let p = &trig["payload"];
    assert_eq!(p["summary"], "[FIRING:2] HighLatency (prod)");
    assert_eq!(p["source"], "Lookout", "source defaults to the client");
    // One critical among the firing alerts: the group pages as critical.
    assert_eq!(p["severity"], "critical");
    assert_eq!(p["timestamp"], "2023-11-14T22:13:20.5Z");
    assert_eq!(p["class"], "latency");
    assert_eq!(p["component"], "api");
    assert_eq!(p["group"], "prod");
    let details = p["custom_details"].as_object().unwrap();
    assert_eq!(details["team"], "prod");
    assert_eq!(details["num_firing"], "2");
    assert_eq!(details["num_resolved"], "1");
    assert!(details["firing"].as_str().unwrap().contains(" - instance = api-1:9100"));
    assert!(details["resolved"].as_str().unwrap().contains(" - instance = api-3:9100"));
    assert_eq!(trig["client"], "Lookout");
    assert_eq!(trig["client_url"], "http://lookout.example:9093/#/alerts?receiver=ops");
    assert_eq!(trig["links"], json!([{"href": "http://lookout.example:9093/runbooks/HighLatency", "text": "Runbook"}]));
    assert_eq!(trig["images"], json!([{"src": "https://grafana.example/render.png", "alt": "latency"}]));

    let res = reqs[1].json();
    assert_eq!(res["event_action"], "resolve");
    assert_eq!(res["dedup_key"], dedup);
    assert_eq!(res["payload"]["summary"], "[RESOLVED] HighLatency (prod)");
}

#[tokio::test]
async fn severity_template_and_mapping() {
    let fake = Fake::start(pagerduty).await;
    let g = GlobalConfig::default();
    let yaml = |sev: &str| {
        format!(
            "name: ops\npagerduty_configs:\n  - routing_key: k\n    url: {}\n    severity: '{sev}'\n",
            fake.url("/v2/enqueue")
        )
    };
    one(&yaml("warn"), &g).notify(&fixture()).await.unwrap();
    one(&yaml("{{ .CommonLabels.nothing }}"), &g).notify(&fixture()).await.unwrap();
    one(&yaml("bogus"), &g).notify(&fixture()).await.unwrap();
    let sev: Vec<Value> = fake.taken().iter().map(|r| r.json()["payload"]["severity"].clone()).collect();
    // "warn" maps to PagerDuty's "warning"; empty and unknown fall back to "error".
    assert_eq!(sev, [json!("warning"), json!("error"), json!("error")]);
}

#[tokio::test]
async fn invalid_events_are_not_retried_and_summary_is_cut_to_the_limit() {
    let fake = Fake::start(pagerduty).await;
    let long = "x".repeat(2000);
    let pd = one(
        &format!(
            "name: ops\npagerduty_configs:\n  - routing_key: k\n    url: {}\n    description: '{long}'\n",
            fake.url("/v2/enqueue")
        ),
        &GlobalConfig::default(),
    );
    pd.notify(&fixture()).await.unwrap();
    let summary = fake.taken()[0].json()["payload"]["summary"].as_str().unwrap().to_string();
    assert_eq!(summary.chars().count(), 1024);
    assert!(summary.ends_with('…'));

    // A routing key that renders empty is refused by PagerDuty (400): permanent.
    let pd = one(
        &format!(
            "name: ops\npagerduty_configs:\n  - routing_key: '{{{{ .CommonLabels.nokey }}}}'\n    url: {}\n",
            fake.url("/v2/enqueue")
        ),
        &GlobalConfig::default(),
    );
    let e = pd.notify(&fixture()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(e.message.contains("'routing_key' is missing"), "{}", e.message);
}

#[tokio::test]
async fn legacy_v1_service_key() {
    let fake = Fake::always(StatusCode::OK, "{\"status\":\"success\"}").await;
    let pd = one(
        &format!(
            "name: ops\npagerduty_configs:\n  - service_key: svc\n    url: {}\n",
            fake.url("/generic/2010-04-15/create_event.json")
        ),
        &GlobalConfig::default(),
    );
    pd.notify(&fixture()).await.unwrap();
    let e = fake.taken()[0].json();
    assert_eq!(e["service_key"], "svc");
    assert_eq!(e["event_type"], "trigger");
    assert_eq!(e["incident_key"], fixture().group_key_hash());
    assert_eq!(e["description"], "[FIRING:2] HighLatency (prod)");
    assert_eq!(e["client"], "Lookout");
}

#[test]
fn config_errors_read_like_alertmanager() {
    let r = crate::support::receiver("name: ops\npagerduty_configs:\n  - url: http://x\n");
    let e = r.validate(&GlobalConfig::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "receiver \"ops\": pagerduty_configs[0]: missing service or routing key in PagerDuty config"
    );
}

#[tokio::test]
async fn v1_retries_403_v2_does_not() {
    // PagerDuty's v1 API answers 403 when rate limiting; v2 uses 429 and a 403 is final.
    let fake = Fake::always(StatusCode::FORBIDDEN, "").await;
    let v1 = one(
        &format!("name: ops\npagerduty_configs:\n  - service_key: s\n    url: {}\n", fake.url("/v1")),
        &GlobalConfig::default(),
    );
    assert!(v1.notify(&fixture()).await.unwrap_err().retryable);
    let v2 = one(
        &format!("name: ops\npagerduty_configs:\n  - routing_key: r\n    url: {}\n", fake.url("/v2")),
        &GlobalConfig::default(),
    );
    assert!(!v2.notify(&fixture()).await.unwrap_err().retryable);
}
