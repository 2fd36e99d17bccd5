use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::util::{Lookout, lookout_bin};

/// Posts one OTLP/JSON export of logs with these (severity, body) pairs.
async fn send_logs(lookout: &Lookout, records: &[(&str, &str)]) {
    let records: Vec<Value> = records
        .iter()
        .map(|(severity, body)| json!({"severityText": severity, "body": {"stringValue": body}}))
        .collect();
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeLogs": [{"logRecords": records}]
    }]});
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/logs", lookout.http))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

fn tap_command(lookout: &Lookout, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(lookout_bin());
    cmd.arg("tap").args(args).arg("--api").arg(format!("http://{}", lookout.api));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    cmd
}

/// Waits until `/metrics` shows `n` open taps (the CLI has subscribed).
async fn wait_for_taps(lookout: &Lookout, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(format!("http://{}/metrics", lookout.api)).await.unwrap().text().await.unwrap();
        if text.lines().any(|l| l == format!("lookout_tap_subscribers {n}")) {
            return;
        }
        assert!(Instant::now() < deadline, "{n} taps never opened; metrics:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `lookout tap enrich --where ... --limit 3`: only ERROR records, in the documented
/// shape, across a SIGHUP reload, then exits 0 on its own.
#[tokio::test]
async fn tap_filters_limits_and_survives_a_reload() {
    let lookout = Lookout::start().await;
    let child =
        tap_command(&lookout, &["enrich", "--where", r#"severity_text == "ERROR""#, "--limit", "3"]).spawn().unwrap();
    wait_for_taps(&lookout, 1).await;
    send_logs(&lookout, &[("INFO", "fine"), ("ERROR", "before reload"), ("WARN", "hmm")]).await;
    std::process::Command::new("kill").arg("-HUP").arg(lookout.child.id().to_string()).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !lookout.log().contains("Reloaded.") {
        assert!(Instant::now() < deadline, "no reload; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    send_logs(&lookout, &[("ERROR", "after reload 1"), ("INFO", "x"), ("ERROR", "after reload 2"), ("ERROR", "4th")])
        .await;
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("the tap ends by itself at its limit")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let docs: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let bodies: Vec<&str> = docs.iter().map(|d| d["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["before reload", "after reload 1", "after reload 2"], "{stdout}");
    for d in &docs {
        assert_eq!(d["signal"], "log");
        assert_eq!(d["severity_text"], "ERROR");
        assert_eq!(d["deployment.environment"], "e2e", "records leave `enrich` enriched: {d}");
        assert_eq!(d["service.name"], "shop");
    }
    wait_for_taps(&lookout, 0).await;
}

/// A sink's tap shows what enters it; `--rate` skips the excess and says so on stderr.
#[tokio::test]
async fn tap_a_sink_with_a_rate_limit() {
    let lookout = Lookout::start().await;
    let mut child = tap_command(&lookout, &["archive", "--rate", "2"]).spawn().unwrap();
    wait_for_taps(&lookout, 1).await;
    let many: Vec<(&str, &str)> = (0..20).map(|_| ("INFO", "burst")).collect();
    send_logs(&lookout, &many).await;
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("skipped 18 records (over --rate)") {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout_at(deadline.into(), stderr.read(&mut buf)).await.expect(&seen).unwrap();
        assert!(n > 0, "stderr closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|d| d["body"] == "burst"));
    let metrics = reqwest::get(format!("http://{}/metrics", lookout.api)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"lookout_tap_skipped_events_total{reason="rate"} 18"#), "{metrics}");
}

/// Unknown components, bad conditions and the seventeenth tap are clear errors.
#[tokio::test]
async fn tap_errors_are_clear() {
    let lookout = Lookout::start().await;
    let out = tap_command(&lookout, &["nope"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown component `nope`; the running pipeline has: archive, enrich, otlp"), "{stderr}");

    let out = tap_command(&lookout, &["enrich", "--where", "severity_number = 17"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("400 Bad Request: where: `=` is not an operator; use `==`"), "{stderr}");

    let url = format!("http://{}/api/v1/tap?component=otlp", lookout.api);
    let mut open = Vec::new();
    for _ in 0..16 {
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(resp.status(), 200);
        open.push(resp);
    }
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "16 taps are open already; close one and retry");
    drop(open.pop());
    wait_for_taps(&lookout, 15).await;
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);

    let resp = reqwest::get(format!("http://{}/api/v1/tap?component=gone", lookout.api)).await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["components"][0], json!({"name": "archive", "kind": "sink"}));
}

/// Behind web.yml the tap is an API read like any other: refused without credentials,
/// streamed for a viewer (basic auth in `--api`, or `--token`).
#[tokio::test]
async fn tap_behind_web_yml_needs_a_viewer() {
    use sha2::Digest;
    const TOKEN: &str = "tap-viewer-token-42";
    let lookout = Lookout::start_custom(
        |api, grpc, http, dir| {
            let digest: String = sha2::Sha256::digest(TOKEN.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
            let users = format!(
                "basic_auth_users:\n  bob: {}\nbearer_tokens:\n  viewer-bot: sha256:{digest}\n",
                bcrypt::hash("bob-pw", 4).unwrap()
            );
            std::fs::write(dir.join("web.yml"), users).unwrap();
            let config = crate::util::pipeline(api, grpc, http, dir, "", "enrich");
            config.replacen(
                &format!("  address: {api}\n"),
                &format!("  address: {api}\n  web_config_file: web.yml\n"),
                1,
            )
        },
        &[],
    )
    .await;
    let url = format!("http://{}/api/v1/tap?component=enrich", lookout.api);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 401);

    let by_token = tap_command(&lookout, &["enrich", "--limit", "1", "--token", TOKEN]).spawn().unwrap();
    let mut by_password = tokio::process::Command::new(lookout_bin());
    by_password.args(["tap", "enrich", "--limit", "1", "--api", &format!("http://bob:bob-pw@{}", lookout.api)]);
    let by_password = by_password.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
    // Both subscribed (the metrics need a viewer too).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = reqwest::Client::new()
            .get(format!("http://{}/metrics", lookout.api))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.lines().any(|l| l == "lookout_tap_subscribers 2") {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    send_logs(&lookout, &[("ERROR", "seen by both")]).await;
    for child in [by_token, by_password] {
        let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await.unwrap().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let doc: Value = serde_json::from_slice(out.stdout.trim_ascii()).unwrap();
        assert_eq!(doc["body"], "seen by both");
    }
}
