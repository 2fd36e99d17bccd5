//! `lookout rules backtest` through the binary: the shipped rules over a recorded
//! incident (with an Alertmanager routing simulation), promtool agreeing with the
//! backtest's firing alerts at many evaluation times, and the same replay against
//! Debian's Prometheus fed with the same data.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{free_port, lookout_bin, workspace_root};

const DATA_DIR: &str = "alert-rules/tests/backtest";
const FROM: &str = "2025-12-01T10:00:00Z";
const TO: &str = "2025-12-01T12:00:00Z";

fn have(tool: &str) -> bool {
    if Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok() {
        return true;
    }
    eprintln!("SKIPPED: `{tool}` is not installed (scripts/test.sh installs it)");
    false
}

/// Runs `lookout rules backtest ARGS` in the workspace root; its stdout as JSON.
fn backtest_json(args: &[&str]) -> Value {
    let out = Command::new(lookout_bin())
        .args(["rules", "backtest", "--output", "json"])
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("run lookout");
    assert!(out.status.success(), "lookout rules backtest {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// `(alertname, labels without alertname, pending from, firing from, resolved at)` per
/// episode.
fn episodes(report: &Value) -> Vec<(String, String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    report["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            let mut labels: Vec<String> = a["labels"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| *k != "alertname")
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                .collect();
            labels.sort();
            (
                s(&a["alertname"]),
                labels.join(","),
                s(&a["pending"]["from"]),
                s(&a["firing"]["from"]),
                s(&a["resolved_at"]),
            )
        })
        .collect()
}

fn row(
    name: &str,
    labels: &str,
    pending: &str,
    firing: &str,
    resolved: &str,
) -> (String, String, String, String, String) {
    let t = |hm: &str| if hm == "-" { "-".to_string() } else { format!("2025-12-01T{hm}Z") };
    (name.to_string(), labels.to_string(), t(pending), t(firing), t(resolved))
}

/// The incident of `incident.om` (see `generate.py`) as the shipped rules see it.
fn expected_incident() -> Vec<(String, String, String, String, String)> {
    vec![
        row("HighMemoryUsage", "instance=host-a,job=node,severity=critical", "10:15:00", "10:25:00", "10:40:00"),
        // The first CPU spike lasts 8 minutes, under the rule's `for: 10m`.
        row("HighCPU", "instance=host-a,job=node,severity=warning", "10:20:00", "-", "-"),
        row("HighErrorRate", "job=shop/checkout,severity=critical", "10:31:00", "10:36:00", "10:54:00"),
        row("HighCPU", "instance=host-a,job=node,severity=warning", "10:45:00", "10:55:00", "11:05:00"),
        // No `for`: fires at its first evaluation above 3 errors a minute.
        row("DatabaseConnectionErrors", "service=orders,severity=critical", "11:01:00", "11:01:00", "11:04:00"),
        row("SlowResponses", "job=shop/checkout,severity=warning", "11:10:30", "11:15:30", "11:34:30"),
        row("QueueBacklog", "job=worker/mail,queue=outbound,severity=warning", "11:20:00", "11:25:00", "11:40:00"),
    ]
}

#[test]
fn shipped_rules_over_a_recorded_incident() {
    let report = backtest_json(&[
        "alert-rules/http.yml",
        "alert-rules/pipeline.yml",
        "alert-rules/resources.yml",
        "--data",
        &format!("{DATA_DIR}/incident.om"),
        "--from",
        FROM,
        "--to",
        TO,
        "--alertmanager-config",
        &format!("{DATA_DIR}/alertmanager.yml"),
    ]);
    assert_eq!(episodes(&report), expected_incident());
    assert_eq!(report["rule_errors"], serde_json::json!([]));
    let errors = report["alerts"].as_array().unwrap().iter().find(|a| a["alertname"] == "HighErrorRate").unwrap();
    // Annotations are rendered with the value at firing time (20% of requests fail).
    assert_eq!(errors["annotations"]["summary"], "shop/checkout: 20% of requests fail");
    // Criticals page on-call (firing + resolved), the rest go to the team: 6 each.
    let n = &report["notifications"];
    assert_eq!(n["receivers"], serde_json::json!({"oncall": 6, "team": 6}), "{n:#}");
    let first = &n["notifications"][0];
    // group_wait 30s after HighMemoryUsage fired.
    assert_eq!((first["at"].as_str(), first["receiver"].as_str()), (Some("2025-12-01T10:25:30Z"), Some("oncall")));

    // The table names the same episodes.
    let table = Command::new(lookout_bin())
        .args(["rules", "backtest", "alert-rules/resources.yml", "--data"])
        .arg(format!("{DATA_DIR}/incident.om"))
        .args(["--from", "1764583200", "--to", "1764590400", "--step", "1m"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{}", String::from_utf8_lossy(&table.stderr));
    assert!(text.contains("never (pending until 2025-12-01T10:28:00Z)"), "{text}");
    assert!(text.contains("3 episode(s): 2 fired, 1 only pending."), "{text}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let run = |args: &[&str]| {
        let out = Command::new(lookout_bin())
            .args(["rules", "backtest"])
            .args(args)
            .current_dir(workspace_root())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.om");
    std::fs::write(&bad, "up 1 100\nup{job=\"a\" 1 160\n").unwrap();
    let bad = bad.to_str().unwrap();
    let e = run(&["alert-rules/http.yml", "--data", bad, "--from", "0", "--to", "600"]);
    assert!(e.contains("bad.om: 2: expected , or }"), "{e}");
    let e = run(&["alert-rules/http.yml", "--data", bad, "--from", "yesterday"]);
    assert!(e.contains("invalid time \"yesterday\""), "{e}");
    let e = run(&["alert-rules/http.yml", "--data", bad, "--from", "600", "--to", "0"]);
    assert!(e.contains("is after"), "{e}");
    let e = run(&["alert-rules/missing.yml", "--data", bad, "--from", "0", "--to", "600"]);
    assert!(e.contains("missing.yml"), "{e}");
    // A pipeline whose data_dir holds no series store: nothing to replay, said so.
    let out = Command::new(lookout_bin())
        .args(["rules", "backtest", "alert-rules/http.yml", "--config", "pipelines/default.yaml", "--from", "-1h"])
        .env("LOOKOUT_DATA_DIR", dir.path().join("data"))
        .current_dir(workspace_root())
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && e.contains("no series store in"), "{e}");
}

/// promtool must agree with the backtest: for every minute, the alerts the backtest
/// says are firing (labels and rendered annotations) are what `promtool test rules`
/// expects at that `eval_time`, over the same `input_series`.
#[test]
fn promtool_agrees_with_the_backtest() {
    let series = format!("{DATA_DIR}/flapping.series.yml");
    let rules = format!("{DATA_DIR}/flapping.rules.yml");
    // promtool 2.x windows include their start: evaluate likewise.
    let report = backtest_json(&[&rules, "--data", &series, "--from", "0", "--to", "2400", "--closed-windows"]);
    let spans = episodes(&report);
    assert_eq!(
        spans,
        [
            (
                "TemperatureHigh".into(),
                "room=lab".into(),
                "1970-01-01T00:04:00Z".into(),
                "1970-01-01T00:06:00Z".into(),
                "1970-01-01T00:24:00Z".into()
            ),
            (
                "ErrorsHigh".into(),
                "job=api,severity=page".into(),
                "1970-01-01T00:07:00Z".into(),
                "1970-01-01T00:10:00Z".into(),
                "1970-01-01T00:17:00Z".into()
            ),
            (
                "ErrorsHigh".into(),
                "job=api,severity=page".into(),
                "1970-01-01T00:25:00Z".into(),
                "-".into(),
                "-".into()
            ),
            (
                "TemperatureHigh".into(),
                "room=lab".into(),
                "1970-01-01T00:28:00Z".into(),
                "1970-01-01T00:30:00Z".into(),
                "1970-01-01T00:38:00Z".into()
            ),
        ]
    );
    if !have("promtool") {
        return;
    }
    let ts = |s: &str| -> i64 {
        // `1970-01-01T00:MM:SSZ` within the first hour.
        let (m, s) = (s[14..16].parse::<i64>().unwrap(), s[17..19].parse::<i64>().unwrap());
        m * 60 + s
    };
    let alerts = report["alerts"].as_array().unwrap();
    let series_text = std::fs::read_to_string(workspace_root().join(&series)).unwrap();
    // The data file's `input_series` items, indented under the test's.
    let input: String = series_text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.trim_start().starts_with('#'))
        .map(|l| format!("  {l}\n"))
        .collect();
    let mut tests = String::new();
    for minute in 0..=40 {
        let t = minute * 60;
        for name in ["ErrorsHigh", "TemperatureHigh"] {
            let mut exp = String::new();
            for a in alerts.iter().filter(|a| a["alertname"] == name) {
                let Some(f) = a["firing"]["from"].as_str() else { continue };
                let end = a["resolved_at"].as_str().map_or(i64::MAX, ts);
                if ts(f) > t || t >= end {
                    continue;
                }
                let labels: Vec<String> = a["labels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(k, _)| *k != "alertname")
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                let annotations: Vec<String> =
                    a["annotations"].as_object().unwrap().iter().map(|(k, v)| format!("{k}: {v}")).collect();
                exp.push_str(&format!(
                    "          - exp_labels: {{{}}}\n            exp_annotations: {{{}}}\n",
                    labels.join(", "),
                    annotations.join(", ")
                ));
            }
            let exp = if exp.is_empty() {
                "        exp_alerts: []\n".to_string()
            } else {
                format!("        exp_alerts:\n{exp}")
            };
            tests.push_str(&format!("      - eval_time: {minute}m\n        alertname: {name}\n{exp}"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = format!(
        "rule_files: [{}]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{}    alert_rule_test:\n{}",
        workspace_root().join(&rules).display(),
        input,
        tests
    );
    let path = dir.path().join("cross.test.yml");
    std::fs::write(&path, &file).unwrap();
    let out = Command::new("promtool").args(["test", "rules"]).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "promtool disagrees with the backtest:\n{}{}\n--- test file ---\n{file}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds a TSDB block from `incident.om`, serves it with Debian's Prometheus, and
/// backtests the shipped rules against its query API: the same episodes as over the
/// file (closed windows, as Prometheus 2 evaluates).
#[test]
fn backtest_against_prometheus_agrees_with_the_data_file() {
    if !have("prometheus") || !have("promtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let om = workspace_root().join(DATA_DIR).join("incident.om");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.path().join("prometheus.yml"), "global: {}\n").unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        // The blocks are from 2025: keep them.
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start prometheus");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        if http_ok(&format!("127.0.0.1:{port}")) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let prometheus_log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    if !ready {
        let _ = prom.kill();
        panic!("prometheus did not become ready:\n{}", prometheus_log());
    }
    let rules = ["alert-rules/http.yml", "alert-rules/pipeline.yml", "alert-rules/resources.yml"];
    let mut args: Vec<&str> = rules.to_vec();
    args.extend(["--prometheus-url", &url, "--from", FROM, "--to", TO]);
    let remote = backtest_json(&args);
    // A recording rule feeding an alert that also reads raw series: that alert runs
    // locally over raw samples read from Prometheus (`{...}[1h]` queries).
    let recorded = format!("{DATA_DIR}/recorded.rules.yml");
    let remote_recorded = backtest_json(&[&recorded, "--prometheus-url", &url, "--from", FROM, "--to", TO]);
    let _ = prom.kill();
    let _ = prom.wait();
    assert_eq!(remote_recorded["groups"][0]["local_rules"], 1);
    assert!(remote_recorded["copied_samples"].as_u64().unwrap() > 1000, "{remote_recorded:#}");
    let local_recorded =
        backtest_json(&[&recorded, "--data", om.to_str().unwrap(), "--from", FROM, "--to", TO, "--closed-windows"]);
    assert_eq!(episodes(&remote_recorded), episodes(&local_recorded));
    assert_eq!(
        episodes(&local_recorded),
        [row("ErrorRatioHigh", "job=shop/checkout", "10:31:00", "10:33:00", "10:54:00")]
    );
    let mut args: Vec<&str> = rules.to_vec();
    let om = om.to_str().unwrap();
    args.extend(["--data", om, "--from", FROM, "--to", TO, "--closed-windows"]);
    let local = backtest_json(&args);
    assert_eq!(episodes(&remote), episodes(&local), "prometheus log:\n{}", prometheus_log());
    assert_eq!(episodes(&local), expected_incident());
    assert!(remote["source"].as_str().unwrap().starts_with("http://127.0.0.1:"));
}

/// `GET /-/ready` answers 200.
fn http_ok(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET /-/ready HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}
