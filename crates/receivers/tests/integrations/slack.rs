//! Slack incoming webhooks against a fake written from Slack's published docs ("Sending
//! messages using incoming webhooks", "Reference: secondary message attachments", "Block
//! Kit" reference): it answers `200 ok`, `400 invalid_payload` for a body that is not
//! JSON, `400 no_text` when there is neither `text`, `attachments` nor `blocks`, and
//! `400 invalid_blocks` when a block breaks a documented limit (header plain_text ≤ 150,
//! section text ≤ 3000, ≤ 10 section fields).

use axum::http::StatusCode;
use lookout_receivers::GlobalConfig;
use serde_json::{Value, json};

use crate::support::{Captured, Fake, Reply, fixture, global, one, resolved_fixture};

fn slack(c: &Captured, _: usize) -> Reply {
    let bad = |e: &str| (StatusCode::BAD_REQUEST, vec![], e.to_string());
    let Ok(m) = serde_json::from_slice::<Value>(&c.body) else {
        return bad("invalid_payload");
    };
    if m.get("text").is_none() && m.get("attachments").is_none() && m.get("blocks").is_none() {
        return bad("no_text");
    }
    for b in m["blocks"].as_array().into_iter().flatten() {
        let ok = match b["type"].as_str() {
            Some("header") => {
                b["text"]["type"] == "plain_text"
                    && b["text"]["text"].as_str().is_some_and(|t| t.chars().count() <= 150)
            }
            Some("section") => {
                b["text"]["text"].as_str().is_none_or(|t| t.chars().count() <= 3000)
                    && b["fields"].as_array().is_none_or(|f| f.len() <= 10)
            }
            Some("context" | "actions" | "divider") => true,
            _ => false,
        };
        if !ok {
            return bad("invalid_blocks");
        }
    }
    (StatusCode::OK, vec![], "ok".into())
}

#[tokio::test]
async fn attachment_as_alertmanager_sends_it() {
    let fake = Fake::start(slack).await;
    let g = global(&format!("slack_api_url: {}\n", fake.url("/services/T000/B000/XXXX")));
    let s = one(
        "name: ops\nslack_configs:\n  - channel: '#alerts'\n    fields:\n      - title: Env\n        value: '{{ .CommonLabels.env }}'\n        short: true\n      - title: Count\n        value: '{{ len .Alerts }}'\n    actions:\n      - type: button\n        text: Runbook\n        url: 'https://runbooks/{{ .GroupLabels.alertname }}'\n        style: primary\n",
        &g,
    );
    assert!(!s.send_resolved(), "slack send_resolved defaults to false");
    s.notify(&fixture()).await.unwrap();
    let r = &fake.taken()[0];
    assert_eq!(r.path, "/services/T000/B000/XXXX");
    let m = r.json();
    assert_eq!(m["channel"], "#alerts");
    assert_eq!(m["username"], "Lookout");
    assert!(m.get("icon_emoji").is_none() && m.get("icon_url").is_none(), "empty fields are omitted");
    let a = &m["attachments"][0];
    assert_eq!(a["title"], "[FIRING:2] HighLatency (prod)");
    assert_eq!(a["title_link"], "http://lookout.example:9093/#/alerts?receiver=ops");
    assert_eq!(a["color"], "danger", "critical firing");
    assert_eq!(a["fallback"], "[FIRING:2] HighLatency (prod) | http://lookout.example:9093/#/alerts?receiver=ops");
    assert_eq!(a["callback_id"], "");
    assert_eq!(a["footer"], "Lookout");
    assert_eq!(a["mrkdwn_in"], json!(["fallback", "pretext", "text"]));
    let text = a["text"].as_str().unwrap();
    assert!(text.starts_with("*Firing*\n• p99 latency above 2s on api-1:9100\n  p99 is 3.1s on api-1\n"), "{text}");
    assert!(text.contains("*Resolved*\n• HighLatency on api-3:9100"), "{text}");
    assert_eq!(
        a["fields"],
        json!([{"title": "Env", "value": "prod", "short": true}, {"title": "Count", "value": "3", "short": false}])
    );
    assert_eq!(
        a["actions"],
        json!([{"type": "button", "text": "Runbook", "url": "https://runbooks/HighLatency", "style": "primary"}])
    );
}

#[tokio::test]
async fn colours_follow_status_and_severity() {
    let fake = Fake::start(slack).await;
    let s = one(
        &format!("name: ops\nslack_configs:\n  - api_url: {}\n    send_resolved: true\n", fake.url("/hook")),
        &GlobalConfig::default(),
    );
    let mut warning = fixture();
    warning.alerts.retain(|a| a.labels["severity"] == "warning");
    s.notify(&warning).await.unwrap();
    s.notify(&resolved_fixture()).await.unwrap();
    let colours: Vec<Value> = fake.taken().iter().map(|r| r.json()["attachments"][0]["color"].clone()).collect();
    assert_eq!(colours, [json!("warning"), json!("good")]);
}

#[tokio::test]
async fn block_kit_message() {
    let fake = Fake::start(slack).await;
    let s = one(
        &format!(
            "name: ops\nslack_configs:\n  - api_url: {}\n    block_kit: true\n    username: bot\n    icon_emoji: ':rotating_light:'\n    actions:\n      - type: button\n        text: Silence\n        url: http://silence\n        style: danger\n",
            fake.url("/hook")
        ),
        &GlobalConfig::default(),
    );
    s.notify(&fixture()).await.unwrap();
    let m = fake.taken()[0].json();
    assert!(m.get("attachments").is_none());
    assert_eq!(m["username"], "bot");
    assert_eq!(m["icon_emoji"], ":rotating_light:");
    assert_eq!(m["text"], "[FIRING:2] HighLatency (prod) | http://lookout.example:9093/#/alerts?receiver=ops");
    let blocks = m["blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0],
        json!({"type": "header", "text": {"type": "plain_text", "text": "🔴 [FIRING:2] HighLatency (prod)", "emoji": true}})
    );
    assert_eq!(blocks[1]["type"], "section");
    assert!(blocks[1]["text"]["text"].as_str().unwrap().starts_with("*Firing*"));
    assert_eq!(blocks[2]["type"], "actions");
    assert_eq!(blocks[2]["elements"][0]["url"], "http://silence");
    assert_eq!(blocks[2]["elements"][0]["style"], "danger");
    let ctx = blocks.last().unwrap();
    assert_eq!(ctx["type"], "context");
    assert_eq!(
        ctx["elements"][0]["text"],
        "Lookout · <http://lookout.example:9093/#/alerts?receiver=ops|Open in Lookout>"
    );
}

#[tokio::test]
async fn slack_refusals_are_permanent_and_templates_errors_are_reported() {
    let fake = Fake::always(StatusCode::NOT_FOUND, "no_team").await;
    let s = one(&format!("name: ops\nslack_configs:\n  - api_url: {}\n", fake.url("/hook")), &GlobalConfig::default());
    let e = s.notify(&fixture()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(e.message, "slack: unexpected status 404 Not Found: no_team");

    let fake = Fake::start(slack).await;
    let s = one(
        &format!(
            "name: ops\nslack_configs:\n  - api_url: {}\n    title: '{{{{ template \"missing\" . }}}}'\n",
            fake.url("/hook")
        ),
        &GlobalConfig::default(),
    );
    let e = s.notify(&fixture()).await.unwrap_err();
    assert_eq!(e.reason, lookout_receivers::FailureReason::Config);
    assert!(e.message.starts_with("slack: cannot render title: "), "{}", e.message);
    assert!(fake.taken().is_empty(), "nothing is sent when a template fails");
}

#[test]
fn needs_an_api_url() {
    let r = crate::support::receiver("name: ops\nslack_configs:\n  - channel: x\n");
    assert_eq!(
        r.validate(&GlobalConfig::default()).unwrap_err().to_string(),
        "receiver \"ops\": slack_configs[0]: no global Slack API URL set either inline or in a file"
    );
}
