//! `api.web_config_file` in the binary: the role matrix over every API route, Debian's
//! `amtool --http.config.file` and `prometheus` (alerting with `basic_auth`) against a
//! protected Lookout, the anonymous silence of issue 13 refused, and the audit trail in
//! the log and on `/metrics`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::Digest;

use crate::util::{Lookout, free_port, pipeline};

const RULES: &str = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Up\n        expr: vector(1)\n";
const ROUTING: &str = "route: {receiver: r, group_by: [alertname]}\nreceivers: [{name: r}]\n";
const BOT_TOKEN: &str = "ci-bot-token-0123456789";

/// The web.yml: bob is a viewer (the default), alice and prom editors, root an admin,
/// ci-bot an editor by bearer token. Cost 4 keeps bcrypt fast in tests.
fn web_yml() -> String {
    let hash = |p: &str| bcrypt::hash(p, 4).unwrap();
    let digest: String = sha2::Sha256::digest(BOT_TOKEN.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "basic_auth_users:\n  bob: {}\n  alice: {}\n  root: {}\n  prom: {}\n\
         bearer_tokens:\n  ci-bot: sha256:{digest}\n\
         roles:\n  alice: editor\n  prom: editor\n  root: admin\n  ci-bot: editor\n",
        hash("bob-pw"),
        hash("alice-pw"),
        hash("root-pw"),
        hash("prom-pw"),
    )
}

/// Lookout with rules, scaling, a routing file and `web_config_file: web.yml`.
async fn start() -> Lookout {
    Lookout::start_custom(
        |api, grpc, http, dir| {
            std::fs::create_dir_all(dir.join("rules")).unwrap();
            std::fs::write(dir.join("rules/up.yml"), RULES).unwrap();
            std::fs::write(dir.join("scaling.yml"), crate::scaling::POLICY).unwrap();
            std::fs::write(dir.join("alertmanager.yml"), ROUTING).unwrap();
            std::fs::write(dir.join("web.yml"), web_yml()).unwrap();
            let base = pipeline(api, grpc, http, dir, "", "enrich").replacen(
                &format!("  address: {api}\n"),
                &format!("  address: {api}\n  web_config_file: web.yml\n"),
                1,
            );
            format!(
                "{base}  metrics:\n    type: metrics_store\n    inputs: [enrich]\nrules:\n  files: [rules/*.yml]\n\
                 scaling:\n  files: [scaling.yml]\nalerting:\n  config: alertmanager.yml\n"
            )
        },
        &[],
    )
    .await
}

#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    Viewer,
    Editor,
    Admin,
    WrongPassword,
    Token,
}

impl Who {
    fn apply(self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Who::Anonymous => req,
            Who::Viewer => req.basic_auth("bob", Some("bob-pw")),
            Who::Editor => req.basic_auth("alice", Some("alice-pw")),
            Who::Admin => req.basic_auth("root", Some("root-pw")),
            Who::WrongPassword => req.basic_auth("root", Some("guess")),
            Who::Token => req.bearer_auth(BOT_TOKEN),
        }
    }

    /// The role the caller has (0 viewer, 1 editor, 2 admin); `None`: not authenticated.
    fn level(self) -> Option<u8> {
        match self {
            Who::Anonymous | Who::WrongPassword => None,
            Who::Viewer => Some(0),
            Who::Editor | Who::Token => Some(1),
            Who::Admin => Some(2),
        }
    }
}

fn silence_body(created_by: &str) -> Value {
    json!({
        "matchers": [{"name": "alertname", "value": ".+", "isRegex": true, "isEqual": true}],
        "startsAt": chrono_now(),
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": created_by,
        "comment": "e2e",
    })
}

fn chrono_now() -> String {
    // RFC 3339 without a date crate: what `date -u` prints.
    let out = Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Every route of the API with the role it needs (`None`: open to anyone).
fn routes() -> Vec<(&'static str, &'static str, Option<u8>, Option<Value>)> {
    let alert = json!([{"labels": {"alertname": "Matrix"}}]);
    vec![
        ("GET", "/health/live", None, None),
        ("GET", "/health/ready", None, None),
        ("GET", "/-/healthy", None, None),
        ("HEAD", "/-/healthy", None, None),
        ("GET", "/-/ready", None, None),
        ("GET", "/health", Some(0), None),
        ("GET", "/metrics", Some(0), None),
        ("GET", "/api/v1/rules", Some(0), None),
        ("GET", "/api/v1/alerts", Some(0), None),
        ("GET", "/api/v1/scaler", Some(0), None),
        ("GET", "/api/v2/alerts", Some(0), None),
        ("GET", "/api/v2/alerts/groups", Some(0), None),
        ("GET", "/api/v2/silences", Some(0), None),
        ("GET", "/api/v2/silence/00000000-0000-0000-0000-000000000000", Some(0), None),
        ("GET", "/api/v2/receivers", Some(0), None),
        ("GET", "/api/v1/errors", Some(0), None),
        ("GET", "/api/v1/errors/0f5c9a", Some(0), None),
        ("POST", "/api/v1/errors/0f5c9a/resolve", Some(1), None),
        ("POST", "/api/v1/errors/0f5c9a/ignore", Some(1), None),
        ("POST", "/api/v1/errors/0f5c9a/reopen", Some(1), None),
        ("POST", "/api/v2/alerts", Some(1), Some(alert)),
        ("POST", "/api/v2/silences", Some(1), Some(silence_body("matrix"))),
        ("DELETE", "/api/v2/silence/00000000-0000-0000-0000-000000000000", Some(1), None),
        ("GET", "/api/v2/status", Some(2), None),
        ("POST", "/-/reload", Some(2), None),
        ("PUT", "/-/reload", Some(2), None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_by_role() {
    let lookout = start().await;
    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    for (method, path, needs, body) in routes() {
        for who in [Who::Anonymous, Who::WrongPassword, Who::Viewer, Who::Editor, Who::Token, Who::Admin] {
            let url = format!("http://{}{path}", lookout.api);
            let mut req = who.apply(client.request(method.parse().unwrap(), &url));
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let www = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
            let text = resp.text().await.unwrap_or_default();
            let expected_ok = match (needs, who.level()) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(n), Some(l)) => l >= n,
            };
            let fine = match (expected_ok, who.level()) {
                (true, _) => status != 401 && status != 403 && status < 500,
                (false, None) => {
                    status == 401
                        && www.as_deref() == Some("Basic realm=\"lookout\"")
                        && text.contains("401 Unauthorized")
                }
                (false, Some(_)) => status == 403 && text.contains("needs role"),
            };
            if !fine {
                failures.push(format!("{method} {path} as {who:?}: {status} {text}"));
            }
        }
    }
    assert!(failures.is_empty(), "unexpected answers:\n{}\nlog:\n{}", failures.join("\n"), lookout.log());
}

fn amtool_config(dir: &std::path::Path, user: &str, password: &str) -> std::path::PathBuf {
    let path = dir.join(format!("amtool-{user}.yml"));
    std::fs::write(&path, format!("basic_auth:\n  username: {user}\n  password: {password}\n")).unwrap();
    path
}

fn amtool(api: &str, config: Option<&std::path::Path>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("amtool");
    cmd.arg(format!("--alertmanager.url=http://{api}"));
    if let Some(c) = config {
        cmd.arg(format!("--http.config.file={}", c.display()));
    }
    let out = cmd.args(args).output().expect("run amtool");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn have(tool: &str) -> bool {
    if Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok() {
        return true;
    }
    eprintln!("SKIPPED: `{tool}` is not installed (the test command installs it)");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_manages_silences_with_basic_auth() {
    if !have("amtool") {
        return;
    }
    let lookout = start().await;
    let api = lookout.api.clone();
    let dir = lookout.dir.path().to_path_buf();
    let (alice, bob) = (amtool_config(&dir, "alice", "alice-pw"), amtool_config(&dir, "bob", "bob-pw"));
    let run = move |config: Option<std::path::PathBuf>, args: Vec<&'static str>| {
        let api = api.clone();
        tokio::task::spawn_blocking(move || amtool(&api, config.as_deref(), &args))
    };

    // Without credentials amtool is refused.
    let (ok, out) = run(None, vec!["silence", "query"]).await.unwrap();
    assert!(!ok, "{out}");
    // bob may look but not silence.
    let (ok, out) = run(Some(bob.clone()), vec!["silence", "query"]).await.unwrap();
    assert!(ok, "{out}");
    let (ok, out) =
        run(Some(bob.clone()), vec!["silence", "add", "alertname=Up", "--comment=bob", "--duration=1h"]).await.unwrap();
    assert!(!ok, "a viewer silenced: {out}");

    // alice creates, finds and expires one.
    let (ok, id) = run(
        Some(alice.clone()),
        vec!["silence", "add", "alertname=Up", "--comment=maintenance", "--author=alice@example", "--duration=1h"],
    )
    .await
    .unwrap();
    assert!(ok, "{id}");
    let id = id.trim().to_string();
    let (ok, out) = run(Some(bob.clone()), vec!["silence", "query", "-q"]).await.unwrap();
    assert!(ok && out.contains(&id), "{out}");
    let api = lookout.api.clone();
    let alice2 = alice.clone();
    let expire_id = id.clone();
    let (ok, out) =
        tokio::task::spawn_blocking(move || amtool(&api, Some(&alice2), &["silence", "expire", &expire_id]))
            .await
            .unwrap();
    assert!(ok, "{out}");
    let (ok, out) = run(Some(bob), vec!["silence", "query", "-q"]).await.unwrap();
    assert!(ok && !out.contains(&id), "still active after expire: {out}");

    // The audit trail names alice, whatever createdBy said.
    let log = lookout.log();
    for needle in ["silence_created", "silence_expired"] {
        assert!(
            log.lines().any(|l| l.contains(needle) && l.contains("alice") && l.contains(&id)),
            "no {needle} by alice for {id} in:\n{log}"
        );
    }
}

/// Debian's Prometheus evaluating `vector(1)` and sending the alert to Lookout with
/// `basic_auth` in its `alertmanager_config`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sends_alerts_with_basic_auth() {
    if !have("prometheus") {
        return;
    }
    let lookout = start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES.replace("alert: Up", "alert: FromPrometheus")).unwrap();
    let config = format!(
        "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - api_version: v2\n      \
         basic_auth: {{ username: prom, password: prom-pw }}\n      static_configs:\n        - targets: ['{}']\n",
        lookout.api
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        // The first evaluation can come before the alertmanager list is ready (the alert
        // is then dropped); resend every second instead of every minute.
        .arg("--rules.alert.resend-delay=1s")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.path().join("prometheus.log")).unwrap()))
        .spawn()
        .expect("start prometheus");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let found = loop {
        let alerts: Value = client
            .get(format!("http://{}/api/v2/alerts", lookout.api))
            .basic_auth("bob", Some("bob-pw"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if alerts.as_array().unwrap().iter().any(|a| a["labels"]["alertname"] == "FromPrometheus") {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let _ = prom.kill();
    let _ = prom.wait();
    let prom_log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert!(
        found,
        "Prometheus's alert never arrived; Lookout's log:\n{}\nPrometheus's log:\n{prom_log}",
        lookout.log()
    );
}

/// Issue 13's finding: an anonymous `POST /api/v2/silences` matching every alert until
/// 2099 was accepted. Now it is refused, and the refusals are counted and logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_silence_is_refused_and_the_audit_trail_shows_who() {
    let lookout = start().await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/v2/silences", lookout.api);
    let resp = client.post(&url).json(&silence_body("mallory")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client.post(&url).basic_auth("mallory", Some("x")).json(&silence_body("mallory")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client.post(&url).basic_auth("bob", Some("bob-pw")).json(&silence_body("bob")).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let silences: Value =
        client.get(&url).basic_auth("bob", Some("bob-pw")).send().await.unwrap().json().await.unwrap();
    assert_eq!(silences, json!([]), "a refused silence was stored");

    // The bot (bearer token) creates one claiming to be someone else; root reloads.
    let resp = client.post(&url).bearer_auth(BOT_TOKEN).json(&silence_body("not-the-bot")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.unwrap()["silenceID"].as_str().unwrap().to_string();
    let reload = format!("http://{}/-/reload", lookout.api);
    assert_eq!(client.post(&reload).basic_auth("root", Some("root-pw")).send().await.unwrap().status(), 200);

    let metrics = client
        .get(format!("http://{}/metrics", lookout.api))
        .basic_auth("bob", Some("bob-pw"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "lookout_api_authentication_failures_total{reason=\"no_credentials\"} 1",
        "lookout_api_authentication_failures_total{reason=\"unknown_user\"} 1",
        "lookout_api_authorization_refusals_total{required_role=\"editor\"} 1",
        "lookout_audit_silence_changes_total{action=\"created\"} 1",
        "lookout_audit_reloads_total{result=\"success\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from /metrics:\n{metrics}");
    }
    let log = lookout.log();
    let has = |parts: &[&str]| log.lines().any(|l| l.contains("lookout::audit") && parts.iter().all(|p| l.contains(p)));
    assert!(has(&["authentication_failed", "mallory", "unknown_user", "127.0.0.1:"]), "the client's address: {log}");
    assert!(has(&["authorization_refused", "bob", "editor"]), "{log}");
    assert!(has(&["silence_created", "ci-bot", &id, "not-the-bot", "alertname=~\\\".+\\\""]), "{log}");
    assert!(has(&["event=\"reload\"", "root", "success"]) || has(&["reload", "root", "success"]), "{log}");
}
