//! The webhook payload, field by field, against Alertmanager's documented version 4
//! message (docs/configuration.md `<webhook_config>`; `notify/webhook/webhook.go`).

use axum::http::StatusCode;
use lookout_receivers::GlobalConfig;
use serde_json::json;

use crate::support::{Fake, fixture, one};

#[tokio::test]
async fn sends_alertmanager_version_4_payload() {
    let fake = Fake::always(StatusCode::OK, "").await;
    let w = one(&format!("name: ops\nwebhook_configs:\n  - url: {}\n", fake.url("/hook")), &GlobalConfig::default());
    assert_eq!(w.name(), "webhook");
    assert!(w.send_resolved(), "webhook send_resolved defaults to true");
    w.notify(&fixture()).await.unwrap();
    let reqs = fake.taken();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hook");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(
        body,
        json!({
            "receiver": "ops",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "HighLatency", "env": "prod", "instance": "api-1:9100", "severity": "critical"},
                    "annotations": {"description": "p99 is 3.1s on api-1", "summary": "p99 latency above 2s"},
                    "startsAt": "2023-11-14T22:13:20.5Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph?g0.expr=latency",
                    "fingerprint": body["alerts"][0]["fingerprint"],
                },
                {
                    "status": "firing",
                    "labels": {"alertname": "HighLatency", "env": "prod", "instance": "api-2:9100", "severity": "warning"},
                    "annotations": {"summary": "p99 latency above 2s"},
                    "startsAt": "2023-11-14T22:13:20.5Z",
                    // Still in the future: Alertmanager hides it (Go's zero time).
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "",
                    "fingerprint": body["alerts"][1]["fingerprint"],
                },
                {
                    "status": "resolved",
                    "labels": {"alertname": "HighLatency", "env": "prod", "instance": "api-3:9100", "severity": "warning"},
                    "annotations": {},
                    "startsAt": "2023-11-14T22:13:20.5Z",
                    "endsAt": "2023-11-14T22:15:20.5Z",
                    "generatorURL": "",
                    "fingerprint": body["alerts"][2]["fingerprint"],
                },
            ],
            "groupLabels": {"alertname": "HighLatency"},
            "commonLabels": {"alertname": "HighLatency", "env": "prod"},
            "commonAnnotations": {},
            "externalURL": "http://lookout.example:9093",
            "version": "4",
            "groupKey": "{}/{env=\"prod\"}:{alertname=\"HighLatency\"}",
            "truncatedAlerts": 0,
        })
    );
    for a in body["alerts"].as_array().unwrap() {
        let fp = a["fingerprint"].as_str().unwrap();
        assert_eq!(fp.len(), 16);
        assert!(fp.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
    assert_eq!(body["alerts"][0]["fingerprint"], json!(format!("{:016x}", fixture().alerts[0].fingerprint())));
}

#[tokio::test]
async fn max_alerts_truncates_and_counts() {
    let fake = Fake::always(StatusCode::OK, "").await;
    let w = one(
        &format!("name: ops\nwebhook_configs:\n  - url: {}\n    max_alerts: 2\n", fake.url("/hook")),
        &GlobalConfig::default(),
    );
    w.notify(&fixture()).await.unwrap();
    let body = fake.taken()[0].json();
    assert_eq!(body["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(body["truncatedAlerts"], 1);
}

#[tokio::test]
async fn basic_auth_and_bearer_from_http_config() {
    let fake = Fake::always(StatusCode::OK, "").await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let w = one(
        &format!(
            "name: ops\nwebhook_configs:\n  - url: {}\n    http_config:\n      basic_auth:\n        username: am\n        password_file: {}\n",
            fake.url("/a"),
            pw.display()
        ),
        &GlobalConfig::default(),
    );
    w.notify(&fixture()).await.unwrap();
    // base64("am:s3cret"): the file's trailing newline is not part of the password.
    assert_eq!(fake.taken()[0].header("authorization"), Some("Basic YW06czNjcmV0"));

    let w = one(
        &format!(
            "name: ops\nwebhook_configs:\n  - url: {}\n    http_config:\n      authorization:\n        credentials: tok\n",
            fake.url("/b")
        ),
        &GlobalConfig::default(),
    );
    w.notify(&fixture()).await.unwrap();
    assert_eq!(fake.taken()[1].header("authorization"), Some("Bearer tok"));

    // The global http_config applies when the webhook has none.
    let g: GlobalConfig = crate::support::global("http_config:\n  bearer_token: globaltok\n");
    let w = one(&format!("name: ops\nwebhook_configs:\n  - url: {}\n", fake.url("/c")), &g);
    w.notify(&fixture()).await.unwrap();
    assert_eq!(fake.taken()[2].header("authorization"), Some("Bearer globaltok"));
}

#[tokio::test]
async fn url_file_is_read_per_notification() {
    let fake = Fake::always(StatusCode::OK, "").await;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("url");
    std::fs::write(&f, format!("{}\n", fake.url("/first"))).unwrap();
    let w = one(&format!("name: ops\nwebhook_configs:\n  - url_file: {}\n", f.display()), &GlobalConfig::default());
    w.notify(&fixture()).await.unwrap();
    std::fs::write(&f, fake.url("/second")).unwrap();
    w.notify(&fixture()).await.unwrap();
    let paths: Vec<String> = fake.taken().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/first", "/second"]);
}

/// HTTPS with `http_config.tls_config` against a real TLS server (Python's `http.server`
/// behind `ssl`, with a throw-away CA): the CA file is trusted, an unknown CA is refused,
/// `insecure_skip_verify` accepts it.
#[tokio::test]
async fn https_with_tls_config() {
    let port = crate::support::free_port("127.0.0.1");
    let Some(srv) = crate::support::PyServer::start("https_server.py", &["127.0.0.1", &port.to_string()], port) else {
        return;
    };
    let url = format!("https://localhost:{port}/hook");
    let yaml = |tls: &str| format!("name: ops\nwebhook_configs:\n  - url: {url}\n{tls}");
    let g = GlobalConfig::default();
    one(&yaml(&format!("    http_config:\n      tls_config:\n        ca_file: {}\n", srv.ca())), &g)
        .notify(&fixture())
        .await
        .unwrap();
    let recs = srv.records("requests.jsonl", 1);
    assert_eq!(recs[0]["path"], "/hook");
    let sent: serde_json::Value = serde_json::from_str(recs[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["version"], "4");

    let e = one(&yaml(""), &g).notify(&fixture()).await.unwrap_err();
    assert!(e.retryable, "a TLS failure is a connection failure");
    assert!(e.message.starts_with("webhook: request failed"), "{}", e.message);

    one(&yaml("    http_config:\n      tls_config:\n        insecure_skip_verify: true\n"), &g)
        .notify(&fixture())
        .await
        .unwrap();
    assert_eq!(srv.records("requests.jsonl", 2).len(), 2);

    let e =
        crate::support::receiver(&yaml("    http_config:\n      tls_config:\n        ca_file: /nonexistent/ca.pem\n"));
    let err = lookout_receivers::build_integrations(
        &e,
        &g,
        std::sync::Arc::new(lookout_receivers::Templates::builtin()),
        reqwest::Client::new(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("cannot read ca_file /nonexistent/ca.pem"), "{err}");
    assert_eq!(err.kind(), lookout_receivers::ErrorKind::File);
}
