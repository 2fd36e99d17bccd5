use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Lookout, free_port, python, workspace_root};

/// The pipeline: OTLP/HTTP → `error_groups`, with the shipped `alert-rules/errors.yml`
/// evaluated every second instead of every 30 s.
fn config(dir: &Path, api: &str, http: &str) -> String {
    let rules = std::fs::read_to_string(workspace_root().join("alert-rules/errors.yml")).unwrap();
    assert!(rules.contains("interval: 30s"));
    std::fs::write(dir.join("errors.yml"), rules.replace("interval: 30s", "interval: 1s")).unwrap();
    format!(
        "api:\n  address: {api}\ndata_dir: {data}\nsources:\n  otlp:\n    type: otlp\n    http: {{ address: {http} }}\nsinks:\n  errors:\n    type: error_groups\n    inputs: [otlp]\n    samples_per_group: 4\nrules:\n  files: [errors.yml]\n",
        data = dir.join("data").display()
    )
}

/// Runs `tests/python/errors_client.py`: real exceptions recorded by the Python SDK.
async fn record(http: &str, args: &[&str]) {
    let script = workspace_root().join("tests/python/errors_client.py");
    let endpoint = format!("http://{http}");
    let out = tokio::process::Command::new(python())
        .arg(script)
        .args(["--endpoint", &endpoint])
        .args(args)
        .output()
        .await
        .expect("run python");
    assert!(
        out.status.success(),
        "errors_client.py failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn get(lookout: &Lookout, path: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("http://{}{path}", lookout.api)).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn post(lookout: &Lookout, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new().post(format!("http://{}{path}", lookout.api)).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Polls `GET path` until `ok` holds for its body; panics with the last body.
async fn wait_until(lookout: &Lookout, path: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = get(lookout, path).await;
        if ok(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: not after 20s; last {path}:\n{body:#}\nlog:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn groups(body: &Value) -> Vec<Value> {
    body["data"]["groups"].as_array().cloned().unwrap_or_default()
}

fn by_type<'a>(groups: &'a [Value], t: &str) -> &'a Value {
    groups.iter().find(|g| g["type"] == t).unwrap_or_else(|| panic!("no {t} group in {groups:#?}"))
}

/// The value of an instant query's only series (None when it has none).
async fn query(lookout: &Lookout, promql: &str) -> Option<f64> {
    let url = reqwest::Url::parse_with_params(&format!("http://{}/api/v1/query", lookout.api), [("query", promql)]);
    let body: Value = reqwest::get(url.unwrap()).await.unwrap().json().await.unwrap();
    let result = body["data"]["result"].as_array().unwrap_or_else(|| panic!("{promql}: {body}"));
    assert!(result.len() <= 1, "{promql}: {body}");
    result.first().map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
}

/// Firing alerts named `name`, with their labels.
async fn firing(lookout: &Lookout, name: &str) -> Vec<Value> {
    let (_, body) = get(lookout, "/api/v1/alerts").await;
    body["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == name && a["state"] == "firing")
        .map(|a| a["labels"].clone())
        .collect()
}

async fn wait_firing(lookout: &Lookout, name: &str, fingerprint: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(a) = firing(lookout, name).await.into_iter().find(|a| a["fingerprint"] == fingerprint) {
            return a;
        }
        assert!(Instant::now() < deadline, "{name} for {fingerprint} not firing after 20s; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Exceptions recorded by the OpenTelemetry Python SDK (span events and, with the
/// logging bridge, log records) become error groups: the same bug with other order ids
/// is one group, another bug another; the API filters and sorts them; resolving, then the
/// bug in a new `service.version`, is a regression (state, series, the shipped alert);
/// everything survives a restart.
#[tokio::test]
async fn python_sdk_exceptions_become_error_groups_with_regressions_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let mut lookout = Lookout::start_in(dir.path(), &config(dir.path(), &api, &http), &api, &http).await;

    // One bug, five occurrences with other ids (three also logged), from release 1.0.
    record(&http, &["--bug", "missing_order", "--version", "1.0", "--count", "3", "--first-id", "1000", "--log"]).await;
    record(&http, &["--bug", "missing_order", "--version", "1.0", "--count", "2", "--first-id", "5000"]).await;
    // Another bug, in another service, in staging.
    let staging = ["--bug", "bad_amount", "--version", "2.3", "--service", "billing", "--environment", "staging"];
    record(&http, &[&staging[..], &["--count", "2"]].concat()).await;

    let body = wait_until(&lookout, "/api/v1/errors", "two groups, all counted", |b| {
        let g = groups(b);
        g.len() == 2 && g.iter().map(|g| g["count"].as_u64().unwrap()).sum::<u64>() == 10
    })
    .await;
    let all = groups(&body);
    let missing = by_type(&all, "KeyError").clone();
    let amount = by_type(&all, "ValueError").clone();
    let fp = missing["fingerprint"].as_str().unwrap().to_string();
    let fp_amount = amount["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(missing["count"], 8, "3 spans + 3 logs + 2 spans, other ids, one group: {missing:#}");
    assert_eq!(missing["basis"], "stack_trace");
    assert_eq!(missing["state"], "open");
    assert!(missing["title"].as_str().unwrap().starts_with("KeyError: 'order-"), "{missing:#}");
    let culprit = missing["culprit"].as_str().unwrap();
    assert!(culprit.starts_with("load_order (errors_client.py:"), "the innermost in-app frame: {culprit}");
    assert_eq!(missing["services"], serde_json::json!({"checkout": 8}));
    assert_eq!(missing["releases"], serde_json::json!(["1.0"]));
    assert_eq!(missing["environments"], serde_json::json!(["production"]));
    assert_eq!(amount["count"], 2);
    assert!(amount["culprit"].as_str().unwrap().starts_with("parse_amount (errors_client.py:"), "{amount:#}");
    assert_eq!(amount["environments"], serde_json::json!(["staging"]));
    assert_ne!(fp, fp_amount);

    // Details: the latest samples, with trace ids and the stack trace.
    let (status, detail) = get(&lookout, &format!("/api/v1/errors/{fp}")).await;
    assert_eq!(status, 200);
    let samples = detail["data"]["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 4, "samples_per_group: 4");
    for s in samples {
        assert_eq!(s["trace_id"].as_str().unwrap().len(), 32, "{s}");
        assert!(s["stacktrace"].as_str().unwrap().contains("in load_order"), "{s}");
        assert_eq!(s["release"], "1.0");
    }
    assert!(samples.iter().any(|s| s["source"] == "span"));
    assert_eq!(get(&lookout, "/api/v1/errors/nope").await.0, 404);

    // Filters and sorting.
    let fps = |b: &Value| groups(b).iter().map(|g| g["fingerprint"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(fps(&get(&lookout, "/api/v1/errors?service=billing").await.1), [fp_amount.as_str()]);
    assert_eq!(fps(&get(&lookout, "/api/v1/errors?environment=production").await.1), [fp.as_str()]);
    assert_eq!(fps(&get(&lookout, "/api/v1/errors?release=2.3").await.1), [fp_amount.as_str()]);
    assert_eq!(fps(&get(&lookout, "/api/v1/errors?sort=count").await.1), [fp.clone(), fp_amount.clone()]);
    let (_, limited) = get(&lookout, "/api/v1/errors?sort=count&limit=1").await;
    assert_eq!((fps(&limited), limited["data"]["total"].as_u64()), (vec![fp.clone()], Some(2)));
    let (status, bad) = get(&lookout, "/api/v1/errors?sort=age").await;
    assert_eq!((status, bad["errorType"].as_str()), (400, Some("bad_data")));

    // Series, and the shipped rule paging for the new group in production only.
    let events =
        format!("lookout_error_group_events_total{{fingerprint=\"{fp}\",service=\"checkout\",type=\"KeyError\"}}");
    assert_eq!(query(&lookout, &events).await, Some(8.0));
    assert_eq!(query(&lookout, &format!("lookout_error_group_new_total{{fingerprint=\"{fp}\"}}")).await, Some(1.0));
    let alert = wait_firing(&lookout, "NewErrorGroup", &fp).await;
    assert_eq!((alert["service"].as_str(), alert["release"].as_str()), (Some("checkout"), Some("1.0")));
    assert_eq!(alert["culprit"].as_str(), Some(culprit));
    assert!(firing(&lookout, "NewErrorGroup").await.iter().all(|a| a["fingerprint"] != fp_amount.as_str()), "staging");

    // Resolve; old instances still on 1.0 are counted but do not reopen it.
    let (status, resolved) = post(&lookout, &format!("/api/v1/errors/{fp}/resolve")).await;
    assert_eq!((status, resolved["data"]["state"].as_str()), (200, Some("resolved")));
    record(&http, &["--bug", "missing_order", "--version", "1.0", "--count", "1", "--first-id", "7000"]).await;
    let g = wait_until(&lookout, &format!("/api/v1/errors/{fp}"), "counted", |b| b["data"]["count"] == 9).await;
    assert_eq!(g["data"]["state"], "resolved", "seen in a release it was seen in before: still resolved");
    let regressions = format!("lookout_error_group_regressions_total{{fingerprint=\"{fp}\"}}");
    assert_eq!(query(&lookout, &regressions).await, None);
    // The bug in a new release: a regression.
    record(&http, &["--bug", "missing_order", "--version", "1.1", "--count", "1", "--first-id", "8000"]).await;
    let g = wait_until(&lookout, &format!("/api/v1/errors/{fp}"), "regressed", |b| b["data"]["count"] == 10).await;
    assert_eq!((g["data"]["state"].as_str(), g["data"]["regressions"].as_u64()), (Some("open"), Some(1)));
    assert_eq!(g["data"]["releases"], serde_json::json!(["1.0", "1.1"]));
    assert_eq!(query(&lookout, &regressions).await, Some(1.0));
    let alert = wait_firing(&lookout, "ErrorGroupRegression", &fp).await;
    assert_eq!(alert["release"].as_str(), Some("1.1"));
    assert_eq!(post(&lookout, &format!("/api/v1/errors/{fp_amount}/ignore")).await.0, 200);
    assert_eq!(post(&lookout, "/api/v1/errors/nope/resolve").await.0, 404);

    // A restart: groups, counts, states and the counters carry on.
    let status = lookout.stop().await;
    assert!(status.success(), "exit {status}; log:\n{}", lookout.log());
    let mut lookout = Lookout::start_in(dir.path(), &config(dir.path(), &api, &http), &api, &http).await;
    let (_, body) = get(&lookout, "/api/v1/errors?sort=count").await;
    let all = groups(&body);
    assert_eq!(all.len(), 2, "{body:#}");
    let (missing, amount) = (by_type(&all, "KeyError"), by_type(&all, "ValueError"));
    assert_eq!((missing["count"].as_u64(), missing["state"].as_str()), (Some(10), Some("open")));
    assert_eq!(missing["regressions"], 1);
    assert_eq!((amount["count"].as_u64(), amount["state"].as_str()), (Some(2), Some("ignored")));
    // Ignored: counted, never reopened, even in a new release.
    record(&http, &[&staging[..], &["--count", "1", "--version", "2.4"]].concat()).await;
    let g = wait_until(&lookout, &format!("/api/v1/errors/{fp_amount}"), "counted", |b| b["data"]["count"] == 3).await;
    assert_eq!(g["data"]["state"], "ignored");
    record(&http, &["--bug", "missing_order", "--version", "1.1", "--count", "1", "--first-id", "9000"]).await;
    wait_until(&lookout, &format!("/api/v1/errors/{fp}"), "counted", |b| b["data"]["count"] == 11).await;
    // The counter carries on from the saved group, not from zero.
    assert_eq!(query(&lookout, &events).await, Some(11.0));
    // Lookout's own metrics: groups per state (as of the last save), occurrences.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(format!("http://{}/metrics", lookout.api)).await.unwrap().text().await.unwrap();
        let has = |line: &str| text.lines().any(|l| l == line);
        if has("lookout_error_groups{state=\"open\"} 1")
            && has("lookout_error_groups{state=\"ignored\"} 1")
            && has("lookout_error_groups{state=\"resolved\"} 0")
            && has("lookout_error_occurrences_total 2")
        {
            break;
        }
        assert!(Instant::now() < deadline, "/metrics:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = lookout.stop().await;
    assert!(status.success(), "exit {status}; log:\n{}", lookout.log());
}

/// The Errors page in headless Chromium: both groups listed, one opened with its samples
/// (trace ids, stack trace) and resolved with its button, which the API then reports.
#[tokio::test]
async fn errors_page_lists_groups_and_resolves_one_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let mut lookout = Lookout::start_in(dir.path(), &config(dir.path(), &api, &http), &api, &http).await;
    record(&http, &["--bug", "missing_order", "--version", "1.0", "--count", "2", "--log"]).await;
    record(&http, &["--bug", "bad_amount", "--version", "1.0", "--count", "1"]).await;
    let body = wait_until(&lookout, "/api/v1/errors", "two groups", |b| groups(b).len() == 2).await;
    let fp = by_type(&groups(&body), "KeyError")["fingerprint"].as_str().unwrap().to_string();

    let browser = workspace_root().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules missing: run `npm ci` in tests/browser (scripts/test.sh does)"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), Into::into);
    let shots: std::path::PathBuf = Path::new(&target).join("ui-screenshots");
    let cfg = serde_json::json!({"base": format!("http://{}", lookout.api), "fingerprint": fp, "screenshots": shots});
    let out = tokio::process::Command::new("node")
        .arg("errors.mjs")
        .arg(cfg.to_string())
        .current_dir(&browser)
        .output()
        .await
        .expect("run node (Node.js 18 or later)");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "errors.mjs failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert_eq!(result["samples"], 4, "2 spans + 2 log records: {result}");

    let (_, g) = get(&lookout, &format!("/api/v1/errors/{fp}")).await;
    assert_eq!(g["data"]["state"], "resolved", "the button's POST: {g}");
    assert!(shots.join("errors.png").exists() && shots.join("error-group.png").exists());
    let status = lookout.stop().await;
    assert!(status.success(), "exit {status}; log:\n{}", lookout.log());
}
