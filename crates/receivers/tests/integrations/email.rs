//! Email against a real SMTP server: aiosmtpd (Python), started per test by
//! `tests/smtp_server.py` with a throw-away CA, in plain, STARTTLS and implicit-TLS modes
//! with AUTH PLAIN or LOGIN required. The server parses each message with Python's
//! `email` package, so headers and MIME parts are checked by an independent parser.
//!
//! The Python comes from `LOOKOUT_TEST_PYTHON`, else the workspace's `.venv`, else
//! `/work/main/.venv`; with none of them the tests are skipped with a loud message.

use std::io::Write as _;

use lookout_receivers::GlobalConfig;
use serde_json::Value;

use crate::support::{PyServer, fixture, free_port, global, one};

/// aiosmtpd on `host:port` in `mode` with `auth`; `None` (after a loud message) without Python.
fn smtp(host: &str, port: u16, mode: &str, auth: &str) -> Option<PyServer> {
    PyServer::start("smtp_server.py", &[host, &port.to_string(), mode, auth], port)
}

/// The messages received so far, waiting up to 5 s for at least `n`.
fn messages(s: &PyServer, n: usize) -> Vec<Value> {
    s.records("messages.jsonl", n)
}

fn header<'a>(m: &'a Value, name: &str) -> Option<&'a str> {
    m["headers"].as_array()?.iter().find(|h| h[0].as_str().is_some_and(|k| k.eq_ignore_ascii_case(name)))?[1].as_str()
}

#[tokio::test]
async fn plain_smtp_sends_both_parts_with_headers() {
    let port = free_port("127.0.0.1");
    let Some(smtp) = smtp("127.0.0.1", port, "plain", "none") else { return };
    let g = global(&format!(
        "smtp_smarthost: 127.0.0.1:{port}\nsmtp_from: Lookout <lookout@example.com>\nsmtp_require_tls: false\n"
    ));
    let e = one(
        "name: ops\nemail_configs:\n  - to: 'oncall@example.com, Backup Person <backup@example.com>'\n    headers:\n      x-team: '{{ .CommonLabels.env }}'\n      X-Note: 'ünïcode · {{ .Status }}'\n",
        &g,
    );
    assert!(!e.send_resolved(), "email send_resolved defaults to false");
    let mut n = fixture();
    n.alerts[0].annotations.insert("description".into(), "p99 > 3s <b>now</b> · ünïcode".into());
    e.notify(&n).await.unwrap();
    let msgs = messages(&smtp, 1);
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m["mail_from"], "lookout@example.com");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["oncall@example.com", "backup@example.com"]));
    assert_eq!(m["tls"], false);
    assert_eq!(header(m, "From"), Some("Lookout <lookout@example.com>"));
    assert_eq!(header(m, "To"), Some("oncall@example.com, Backup Person <backup@example.com>"));
    assert_eq!(header(m, "Subject"), Some("[FIRING:2] HighLatency (prod)"));
    assert_eq!(header(m, "X-Team"), Some("prod"));
    assert_eq!(header(m, "X-Note"), Some("ünïcode · firing"), "non-ASCII headers are MIME-encoded");
    assert_eq!(header(m, "MIME-Version"), Some("1.0"));
    assert!(header(m, "Date").is_some() && header(m, "Message-ID").is_some(), "{m}");
    assert_eq!(m["content_type"], "multipart/alternative");
    let parts = m["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(parts[0]["content_type"], "text/plain");
    assert_eq!(parts[1]["content_type"], "text/html");
    // MIME text is canonically CRLF; compare lines.
    let text = parts[0]["body"].as_str().unwrap().replace("\r\n", "\n");
    assert!(text.starts_with("[FIRING:2] HighLatency (prod)\n"), "{text:?}");
    assert!(
        text.contains("Firing (2):\n• p99 latency above 2s on api-1:9100\n  p99 > 3s <b>now</b> · ünïcode"),
        "{text:?}"
    );
    assert!(text.contains("Resolved (1):"), "{text}");
    let html = parts[1]["body"].as_str().unwrap().replace("\r\n", "\n");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("2 firing, 1 resolved: HighLatency"), "{html}");
    assert!(html.contains("p99 &gt; 3s &lt;b&gt;now&lt;/b&gt; · ünïcode"), "values are HTML-escaped: {html}");
}

#[tokio::test]
async fn starttls_with_auth_plain() {
    let port = free_port("127.0.0.1");
    let Some(smtp) = smtp("127.0.0.1", port, "starttls", "plain") else { return };
    let e = one(
        &format!(
            "name: ops\nemail_configs:\n  - to: oncall@example.com\n    from: lookout@example.com\n    smarthost: localhost:{port}\n    hello: lookout.example\n    auth_username: alert\n    auth_password: s3cret\n    tls_config:\n      ca_file: {}\n    text: ''\n",
            smtp.ca()
        ),
        &GlobalConfig::default(),
    );
    e.notify(&fixture()).await.unwrap();
    let m = &messages(&smtp, 1)[0];
    assert_eq!(m["tls"], true, "require_tls defaults to true: STARTTLS was used");
    assert_eq!(m["authenticated_as"], "alert");
    let parts = m["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "text: '' leaves only the HTML part");
    assert_eq!(parts[0]["content_type"], "text/html");

    // The server refuses a wrong password (535): not worth retrying.
    let e = one(
        &format!(
            "name: ops\nemail_configs:\n  - to: oncall@example.com\n    from: lookout@example.com\n    smarthost: localhost:{port}\n    auth_username: alert\n    auth_password: wrong\n    tls_config:\n      ca_file: {}\n",
            smtp.ca()
        ),
        &GlobalConfig::default(),
    );
    let err = e.notify(&fixture()).await.unwrap_err();
    assert!(!err.retryable, "{}", err.message);
    assert!(err.message.starts_with("email: auth: "), "{}", err.message);
    assert!(!err.message.contains("wrong"), "password leaked: {}", err.message);
}

#[tokio::test]
async fn implicit_tls_on_port_465_with_auth_login() {
    // Port 465 means implicit TLS (as in Alertmanager); a loopback address of its own keeps
    // it free of other tests.
    let host = "127.0.0.46";
    if std::net::TcpListener::bind((host, 465)).is_err() {
        eprintln!("\n!!! SKIPPED implicit TLS test: cannot bind {host}:465 (needs root or CAP_NET_BIND_SERVICE) !!!\n");
        return;
    }
    let Some(smtp) = smtp(host, 465, "implicit", "login") else { return };
    assert_eq!(smtp.port, 465);
    let pw = smtp.dir.path().join("password");
    std::fs::File::create(&pw).unwrap().write_all(b"s3cret\n").unwrap();
    let e = one(
        &format!(
            "name: ops\nemail_configs:\n  - to: oncall@example.com\n    from: lookout@example.com\n    smarthost: {host}:465\n    auth_username: alert\n    auth_password_file: {}\n    tls_config:\n      ca_file: {}\n",
            pw.display(),
            smtp.ca()
        ),
        &GlobalConfig::default(),
    );
    e.notify(&fixture()).await.unwrap();
    let m = &messages(&smtp, 1)[0];
    assert_eq!(m["tls"], true);
    assert_eq!(m["authenticated_as"], "alert");
}

#[tokio::test]
async fn tls_requirements_are_enforced() {
    // require_tls against a server without STARTTLS: Alertmanager's error.
    let port = free_port("127.0.0.1");
    let Some(_plain) = smtp("127.0.0.1", port, "plain", "none") else { return };
    let e = one(
        &format!(
            "name: ops\nemail_configs:\n  - to: a@example.com\n    from: b@example.com\n    smarthost: 127.0.0.1:{port}\n"
        ),
        &GlobalConfig::default(),
    );
    let err = e.notify(&fixture()).await.unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "email: 'require_tls' is true (default) but \"127.0.0.1:{port}\" does not advertise the STARTTLS extension"
        )
    );

    // A certificate from an unknown CA is refused; insecure_skip_verify accepts it.
    let port = free_port("127.0.0.1");
    let Some(tls) = smtp("127.0.0.1", port, "starttls", "none") else { return };
    let yaml = |extra: &str| {
        format!(
            "name: ops\nemail_configs:\n  - to: a@example.com\n    from: b@example.com\n    smarthost: localhost:{port}\n{extra}"
        )
    };
    let err = one(&yaml(""), &GlobalConfig::default()).notify(&fixture()).await.unwrap_err();
    assert!(err.message.starts_with("email: starttls: "), "{}", err.message);
    one(&yaml("    tls_config:\n      insecure_skip_verify: true\n"), &GlobalConfig::default())
        .notify(&fixture())
        .await
        .unwrap();
    assert_eq!(messages(&tls, 1).len(), 1);
}

#[test]
fn config_errors_read_like_alertmanager() {
    let check = |yaml: &str, g: &GlobalConfig| crate::support::receiver(yaml).validate(g).unwrap_err().to_string();
    let g = GlobalConfig::default();
    assert!(check("name: a\nemail_configs:\n  - to: x@y\n", &g).ends_with("no global SMTP smarthost set"));
    let g = global("smtp_smarthost: mail:25\n");
    assert!(check("name: a\nemail_configs:\n  - to: x@y\n", &g).ends_with("no global SMTP from set"));
    assert!(check("name: a\nemail_configs:\n  - from: x@y\n", &g).ends_with("missing to address in email config"));
    assert!(
        check(
            "name: a\nemail_configs:\n  - to: x@y\n    from: a@b\n    headers:\n      subject: a\n      Subject: b\n",
            &g
        )
        .ends_with("duplicate header \"Subject\" in email config")
    );
    assert!(
        check("name: a\nemail_configs:\n  - to: x@y\n    from: a@b\n    smarthost: nohost\n", &g)
            .contains("missing port")
    );
}
