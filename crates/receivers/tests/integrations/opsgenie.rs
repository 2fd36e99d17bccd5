//! OpsGenie Alert API v2 against a fake written from OpsGenie's published docs
//! (docs.opsgenie.com "Alert API": Create Alert `POST /v2/alerts`, Close Alert
//! `POST /v2/alerts/{identifier}/close?identifierType=alias`, `Authorization: GenieKey`):
//! 401 without the key, 422 when `message` is missing or over 130 characters, an alias
//! over 512, more than 20 tags, a priority outside P1..P5 or a responder without
//! id/name/username or with an unknown type; otherwise 202 `{"result":"Request will be
//! processed",...}`.

use axum::http::StatusCode;
use lookout_receivers::GlobalConfig;
use serde_json::{Value, json};

use crate::support::{Captured, Fake, Reply, fixture, global, one, resolved_fixture};

fn opsgenie(c: &Captured, _: usize) -> Reply {
    let reply =
        |s: StatusCode, msg: &str| (s, vec![], json!({"message": msg, "took": 0.001, "requestId": "r"}).to_string());
    if c.header("authorization") != Some("GenieKey 8c3e-key") {
        return reply(StatusCode::UNAUTHORIZED, "Could not authenticate");
    }
    let Ok(b) = serde_json::from_slice::<Value>(&c.body) else {
        return reply(StatusCode::BAD_REQUEST, "Could not parse request body");
    };
    let accepted = (
        StatusCode::ACCEPTED,
        vec![],
        json!({"result": "Request will be processed", "took": 0.1, "requestId": "r"}).to_string(),
    );
    if c.path == "/v2/alerts" && c.method == "POST" {
        let msg = b["message"].as_str().unwrap_or_default();
        if msg.is_empty() || msg.chars().count() > 130 {
            return reply(StatusCode::UNPROCESSABLE_ENTITY, "Message can not be empty or longer than 130");
        }
        if b["alias"].as_str().is_some_and(|a| a.len() > 512) {
            return reply(StatusCode::UNPROCESSABLE_ENTITY, "Alias is too long");
        }
        if b["tags"].as_array().is_some_and(|t| t.len() > 20) {
            return reply(StatusCode::UNPROCESSABLE_ENTITY, "Too many tags");
        }
        if let Some(p) = b["priority"].as_str()
            && !["P1", "P2", "P3", "P4", "P5"].contains(&p)
        {
            return reply(StatusCode::UNPROCESSABLE_ENTITY, "Priority should be one of [P1, P2, P3, P4, P5]");
        }
        for r in b["responders"].as_array().into_iter().flatten() {
            let named = ["id", "name", "username"].iter().any(|k| r[k].as_str().is_some_and(|v| !v.is_empty()));
            let typed = ["team", "user", "escalation", "schedule"].contains(&r["type"].as_str().unwrap_or_default());
            if !named || !typed {
                return reply(StatusCode::UNPROCESSABLE_ENTITY, "Responder is invalid");
            }
        }
        return accepted;
    }
    if c.method == "POST" && c.path.starts_with("/v2/alerts/") && c.path.ends_with("/close") {
        return if c.query == "identifierType=alias" {
            accepted
        } else {
            reply(StatusCode::BAD_REQUEST, "identifierType")
        };
    }
    if c.method == "PUT" && c.path.starts_with("/v2/alerts/") && c.query == "identifierType=alias" {
        return accepted;
    }
    reply(StatusCode::NOT_FOUND, "not found")
}

#[tokio::test]
async fn create_then_close_by_alias() {
    let fake = Fake::start(opsgenie).await;
    let g = global(&format!("opsgenie_api_key: 8c3e-key\nopsgenie_api_url: {}\n", fake.url("/")));
    let og = one(
        "name: ops\nopsgenie_configs:\n  - tags: ' lookout,{{ .CommonLabels.env }},,latency '\n    note: first seen {{ len .Alerts.Firing }}\n    entity: '{{ .GroupLabels.alertname }}'\n    actions: restart,page\n    details:\n      env: '{{ .CommonLabels.env }}'\n    responders:\n      - name: sre\n        type: team\n      - name: 'db,web'\n        type: teams\n      - username: alice@example.com\n        type: user\n",
        &g,
    );
    assert!(og.send_resolved());
    og.notify(&fixture()).await.unwrap();
    og.notify(&resolved_fixture()).await.unwrap();
    let reqs = fake.taken();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let alias = fixture().group_key_hash();
    let c = reqs[0].json();
    assert_eq!(reqs[0].path, "/v2/alerts");
    assert_eq!(c["alias"], alias);
    assert_eq!(c["message"], "[FIRING:2] HighLatency (prod)");
    assert!(c["description"].as_str().unwrap().contains("Alerts Firing:\nLabels:\n - alertname = HighLatency"));
    assert_eq!(c["source"], "http://lookout.example:9093/#/alerts?receiver=ops");
    assert_eq!(c["priority"], "P1", "critical maps to P1");
    assert_eq!(c["tags"], json!(["lookout", "prod", "latency"]));
    assert_eq!(c["note"], "first seen 2");
    assert_eq!(c["entity"], "HighLatency");
    assert_eq!(c["actions"], json!(["restart", "page"]));
    // The common labels, then the configured details over them (Alertmanager's order).
    assert_eq!(c["details"], json!({"alertname": "HighLatency", "env": "prod"}));
    assert_eq!(
        c["responders"],
        json!([
            {"name": "sre", "type": "team"},
            {"name": "db", "type": "team"},
            {"name": "web", "type": "team"},
            {"username": "alice@example.com", "type": "user"},
        ])
    );
    assert_eq!(reqs[1].path, format!("/v2/alerts/{alias}/close"));
    assert_eq!(reqs[1].query, "identifierType=alias");
    assert_eq!(reqs[1].json(), json!({"source": "http://lookout.example:9093/#/alerts?receiver=ops"}));
}

#[tokio::test]
async fn priority_templates_and_update_alerts() {
    let fake = Fake::start(opsgenie).await;
    let yaml = |extra: &str| {
        format!("name: ops\nopsgenie_configs:\n  - api_key: 8c3e-key\n    api_url: {}\n{extra}", fake.url(""))
    };
    let g = GlobalConfig::default();
    one(&yaml("    priority: '{{ if eq .Status \"firing\" }}p2{{ end }}'\n"), &g).notify(&fixture()).await.unwrap();
    one(&yaml("    priority: '{{ .CommonLabels.nothing }}'\n"), &g).notify(&fixture()).await.unwrap();
    one(&yaml("    priority: warning\n"), &g).notify(&fixture()).await.unwrap();
    let p: Vec<Value> = fake.taken().iter().map(|r| r.json()["priority"].clone()).collect();
    assert_eq!(p, [json!("P2"), Value::Null, json!("P3")]);

    let before = fake.taken().len();
    one(&yaml("    update_alerts: true\n"), &g).notify(&fixture()).await.unwrap();
    let reqs = &fake.taken()[before..];
    let alias = fixture().group_key_hash();
    let paths: Vec<(String, String)> = reqs.iter().map(|r| (r.method.to_string(), r.path.clone())).collect();
    assert_eq!(
        paths,
        [
            ("POST".to_string(), "/v2/alerts".to_string()),
            ("PUT".to_string(), format!("/v2/alerts/{alias}/message")),
            ("PUT".to_string(), format!("/v2/alerts/{alias}/description")),
        ]
    );
    assert_eq!(reqs[1].json(), json!({"message": "[FIRING:2] HighLatency (prod)"}));
}

#[tokio::test]
async fn long_messages_fit_and_bad_keys_fail_without_leaking() {
    let fake = Fake::start(opsgenie).await;
    let og = one(
        &format!(
            "name: ops\nopsgenie_configs:\n  - api_key: 8c3e-key\n    api_url: {}\n    message: '{}'\n",
            fake.url("/"),
            "m".repeat(300)
        ),
        &GlobalConfig::default(),
    );
    og.notify(&fixture()).await.unwrap();
    assert_eq!(fake.taken()[0].json()["message"].as_str().unwrap().chars().count(), 130);

    let og = one(
        &format!("name: ops\nopsgenie_configs:\n  - api_key: wrong-secret-key\n    api_url: {}\n", fake.url("/")),
        &GlobalConfig::default(),
    );
    let e = og.notify(&fixture()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(e.message.starts_with("opsgenie: unexpected status 401"), "{}", e.message);
    assert!(!e.message.contains("wrong-secret-key"));
}

#[test]
fn responder_types_are_checked_at_load() {
    let r = crate::support::receiver(
        "name: ops\nopsgenie_configs:\n  - api_key: k\n    responders:\n      - name: x\n        type: squad\n",
    );
    let e = r.validate(&GlobalConfig::default()).unwrap_err();
    assert!(e.to_string().contains("does not match valid options"), "{e}");
}
