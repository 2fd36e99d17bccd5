//! The web UI in headless Chromium (tests/browser/ui.mjs, playwright-core): an alert
//! fired from OTLP log lines appears on Alerts with its evidence; a silence created
//! through the form suppresses it and its Expire button ends it (checked through
//! /api/v2/alerts and amtool); the
//! generatorURL of a real webhook payload opens Explore with a graph; the Pipeline page
//! shows non-zero rates; Rules backtests; Scaler charts decisions; Probes shows one up
//! and one down; Tap streams a component's records through a condition. Screenshots go to
//! target/ui-screenshots/. Plus the pages behind web.yml's users and roles.

use std::process::Command;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::{Lookout, pipeline, start_webhook, workspace_root};

const ALERT: &str = "DatabaseConnectionErrors";

const RULES: &str = r#"groups:
  - name: ui
    interval: 200ms
    rules:
      - alert: DatabaseConnectionErrors
        expr: sum by (service) (increase(lookout_log_db_connection_errors_total[1m])) > 3
        labels: { severity: critical }
        annotations:
          summary: "{{ $labels.service }}: database connection refused"
      - alert: DatabaseErrorsForAnHour
        expr: sum by (service) (increase(lookout_log_db_connection_errors_total[1m])) > 3
        for: 1h
"#;

const SCALING: &str = r#"scalers:
  - name: checkout
    minReplicas: 1
    maxReplicas: 5
    intervalSeconds: 1
    metrics:
      - name: db_errors
        query: 'sum(lookout_log_db_connection_errors_total)'
        target: { type: AverageValue, averageValue: 2 }
    actuator: { type: dry_run }
"#;

fn log_line(i: u32) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos().to_string();
    json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeLogs": [{"logRecords": [{
            "timeUnixNano": now, "severityNumber": 17,
            "traceId": format!("{:032x}", 0xfeed0000u64 + u64::from(i)), "spanId": format!("{:016x}", 0x51 + u64::from(i)),
            "body": {"stringValue": format!("database connection refused by pg-{}", i % 3)}
        }]}]
    }]})
}

/// Runs a browser script from tests/browser with `config`, returning its stdout's JSON.
fn run_browser(script: &str, config: &Value) -> Value {
    let dir = workspace_root().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules missing: run `npm ci` in tests/browser (scripts/test.sh does)"
    );
    let out = Command::new("node")
        .arg(script)
        .arg(config.to_string())
        .current_dir(&dir)
        .output()
        .expect("run node (Node.js 18 or later)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn screenshots() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), Into::into);
    target.join("ui-screenshots")
}

#[tokio::test]
async fn on_call_flow_in_a_real_browser() {
    let (hook, received) = start_webhook().await;
    let lookout = Lookout::start_custom(
        move |api, grpc, http, dir| {
            std::fs::write(dir.join("rules.yml"), RULES).unwrap();
            std::fs::write(dir.join("scaling.yml"), SCALING).unwrap();
            std::fs::write(
                dir.join("alertmanager.yml"),
                format!(
                    "route: {{ receiver: team-db, group_by: [alertname], group_wait: 0s, group_interval: 1s }}\n\
                     receivers:\n  - name: team-db\n    webhook_configs: [{{ url: 'http://{hook}/hook' }}]\n"
                ),
            )
            .unwrap();
            let derive = r#"  db_errors:
    type: log_to_metric
    inputs: [enrich]
    metrics:
      - name: lookout_log_db_connection_errors_total
        kind: counter
        condition: 'body =~ "(?i)database.*connection.*refused"'
        labels: { service: service.name }
"#;
            // One probe of this Lookout's own API (up), one of a port nothing listens on (down).
            let probes = format!(
                "probes:\n  api_live:\n    type: http\n    url: http://{api}/health/live\n    interval: 1s\n\
                 \x20 nothing_there:\n    type: tcp\n    address: 127.0.0.1:{}\n    interval: 1s\n    failure_threshold: 1\n",
                crate::util::free_port()
            );
            format!(
                "{}  metrics:\n    type: metrics_store\n    inputs: [db_errors]\nrules:\n  files: [rules.yml]\n\
                 alerting:\n  config: {}\nscaling:\n  files: [scaling.yml]\n{probes}",
                pipeline(api, grpc, http, dir, derive, "db_errors"),
                dir.join("alertmanager.yml").display()
            )
        },
        &[],
    )
    .await;

    // Log lines keep flowing for the whole test: the Pipeline page needs live rates.
    let http = lookout.http.clone();
    let sender = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for i in 0u32.. {
            let resp = client.post(format!("http://{http}/v1/logs")).json(&log_line(i)).send().await;
            assert!(resp.is_ok_and(|r| r.status() == 200), "OTLP request refused");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });

    let deadline = Instant::now() + Duration::from_secs(30);
    let (alert, payload) = loop {
        let found = received.lock().unwrap().iter().find_map(|m| {
            let alerts = m["alerts"].as_array()?;
            let a = alerts.iter().find(|a| a["labels"]["alertname"] == ALERT && a["status"] == "firing")?;
            Some((a.clone(), m.clone()))
        });
        if let Some(f) = found {
            break f;
        }
        assert!(Instant::now() < deadline, "no webhook with the alert; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let base = format!("http://{}", lookout.api);
    // Links in notifications point at this Lookout's UI.
    assert_eq!(payload["externalURL"], base.as_str(), "{payload}");
    let generator = alert["generatorURL"].as_str().unwrap().to_string();
    assert!(generator.starts_with(&format!("{base}/graph?g0.expr=")), "{generator}");

    let config = json!({
        "base": base, "generatorURL": generator, "alertname": ALERT, "receiver": "team-db",
        "pending": "DatabaseErrorsForAnHour", "scaler": "checkout", "probeUp": "api_live", "probeDown": "nothing_there", "screenshots": screenshots(),
    });
    let result = tokio::task::spawn_blocking(move || run_browser("ui.mjs", &config)).await.unwrap();
    let silence = result["silenceID"].as_str().unwrap_or_else(|| panic!("no silence id: {result}")).to_string();

    // The silence the form created suppresses the alert: the API says so...
    let am: Value = reqwest::get(format!("{base}/api/v2/alerts")).await.unwrap().json().await.unwrap();
    let listed = am.as_array().unwrap().iter().find(|a| a["labels"]["alertname"] == ALERT).expect("alert listed");
    assert_eq!(listed["status"]["state"], "suppressed", "{listed}");
    assert_eq!(listed["status"]["silencedBy"], json!([silence]), "{listed}");
    // ...and so does amtool.
    let amtool = |args: &[&str]| {
        let out = Command::new("amtool")
            .arg(format!("--alertmanager.url={base}"))
            .args(args)
            .output()
            .expect("amtool (Debian's prometheus-alertmanager; scripts/test.sh installs it)");
        assert!(out.status.success(), "amtool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let silences: Value = serde_json::from_str(&amtool(&["silence", "query", "-o", "json"])).unwrap();
    let s = silences.as_array().unwrap().iter().find(|s| s["id"] == silence.as_str()).expect("amtool lists it");
    assert_eq!(s["createdBy"], "ui-test");
    assert_eq!(s["comment"], "silenced from the browser test");
    assert!(s["matchers"].as_array().unwrap().iter().any(|m| m["name"] == "alertname" && m["value"] == ALERT), "{s}");
    let active = amtool(&["alert", "query", "-o", "simple", &format!("alertname={ALERT}")]);
    assert!(!active.contains(ALERT), "amtool still lists it active: {active}");
    let silenced = amtool(&["alert", "query", "-s", "-o", "simple", &format!("alertname={ALERT}")]);
    assert!(silenced.contains(ALERT), "amtool lists it silenced: {silenced}");

    // Expired through the page: the alert is active again, amtool sees the silence expired.
    let config = json!({"base": base, "silenceID": silence, "screenshots": screenshots()});
    tokio::task::spawn_blocking(move || run_browser("expire.mjs", &config)).await.unwrap();
    let am: Value = reqwest::get(format!("{base}/api/v2/alerts")).await.unwrap().json().await.unwrap();
    let listed = am.as_array().unwrap().iter().find(|a| a["labels"]["alertname"] == ALERT).expect("alert listed");
    assert_eq!(listed["status"]["state"], "active", "{listed}");
    let expired: Value = serde_json::from_str(&amtool(&["silence", "query", "--expired", "-o", "json"])).unwrap();
    assert!(expired.as_array().unwrap().iter().any(|s| s["id"] == silence.as_str()), "amtool: {expired}");
    let active = amtool(&["alert", "query", "-o", "simple", &format!("alertname={ALERT}")]);
    assert!(active.contains(ALERT), "amtool lists it active again: {active}");
    sender.abort();
    for shot in ["alerts", "silences", "explore", "pipeline", "rules", "scaler", "probes", "tap", "silence-expired"] {
        assert!(screenshots().join(format!("{shot}.png")).exists(), "{shot}.png");
    }
}

/// The pages sit behind web.yml like the API: no credentials → 401 with a
/// challenge (the browser asks), a viewer reads them, assets too, and may not silence.
#[tokio::test]
async fn pages_need_a_viewer_when_web_yml_has_users() {
    let lookout = Lookout::start_custom(
        |api, grpc, http, dir| {
            let hash = bcrypt::hash("viewer-pw", 4).unwrap();
            std::fs::write(
                dir.join("web.yml"),
                format!("basic_auth_users:\n  vera: {hash}\nroles: {{ vera: viewer }}\n"),
            )
            .unwrap();
            pipeline(api, grpc, http, dir, "", "enrich").replacen(
                &format!("address: {api}\n"),
                &format!("address: {api}\n  web_config_file: web.yml\n"),
                1,
            )
        },
        &[],
    )
    .await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", lookout.api);
    let resp = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("www-authenticate").is_some());
    let page = client.get(format!("{base}/pipeline")).basic_auth("vera", Some("viewer-pw")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let css = html.split("href=\"").find_map(|s| s.split('"').next().filter(|u| u.ends_with(".css"))).unwrap();
    let asset = client.get(format!("{base}{css}")).basic_auth("vera", Some("viewer-pw")).send().await.unwrap();
    assert_eq!(asset.status(), 200);
    let pipeline: Value = client
        .get(format!("{base}/api/v1/pipeline"))
        .basic_auth("vera", Some("viewer-pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> =
        pipeline["data"]["components"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["otlp", "enrich", "archive"], "{pipeline}");
    // A viewer may not create a silence, whichever page asks.
    let post = client
        .post(format!("{base}/api/v2/silences"))
        .basic_auth("vera", Some("viewer-pw"))
        .json(&json!({"matchers": [{"name": "a", "value": "b", "isRegex": false}], "startsAt": "2030-01-01T00:00:00Z", "endsAt": "2030-01-01T01:00:00Z", "createdBy": "v", "comment": "c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 403);
    // The same in a browser: the login prompt, then the form says what role it needs.
    let config = json!({"base": base, "user": "vera", "password": "viewer-pw", "screenshots": screenshots()});
    tokio::task::spawn_blocking(move || run_browser("auth.mjs", &config)).await.unwrap();
}
