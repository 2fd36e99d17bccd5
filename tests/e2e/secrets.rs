//! Credentials planted in every config file, in every YAML style, never come back out:
//! not in `lookout check`, not in debug logs on stdout/stderr (while sinks, receivers,
//! remote write and the scaler's webhook fail against dead peers and log why), not in
//! `/api/v2/status` nor any other API, not in `/metrics`. A password inside an endpoint
//! URL (`http://elastic:PASSWORD@host`) is shown as `<secret>` wherever the URL is.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::{free_port, lookout_bin};

/// One unique value per credential field and YAML style.
const PLANTED: &[&str] = &[
    "PlantedEsPassword01",
    "PlantedHecToken02",
    "PlantedOtlpHeader03",
    "PlantedRemoteWrite04",
    "PlantedScalerHeader05",
    "PlantedScalerUrl06",
    "PlantedSmtpPlain07",
    "PlantedSlackSingle08",
    "PlantedOpsgenieDouble09",
    "PlantedFlowMap10",
    "PlantedLiteral11",
    "PlantedFolded12",
    "PlantedQuotedKey13",
    "PlantedAnchor14",
    "PlantedRoutingKey15",
    "PlantedWebhookUrl16",
    "PlantedEmailPw17",
    "PlantedFileSecret18",
    "PlantedEsApiKeyFile19",
    "PlantedUrlPassword20",
    "PlantedProbeToken21",
    "PlantedProbeHeader22",
];

/// Every YAML style for secrets; receivers point at a dead port so notifications fail.
fn alertmanager_yml(dead: &str, dir: &std::path::Path) -> String {
    format!(
        r#"global:
  smtp_smarthost: 127.0.0.1:{port}
  smtp_from: alerts@example.org
  smtp_auth_username: mailer
  smtp_auth_password: PlantedSmtpPlain07
  slack_api_url: 'http://{dead}/services/PlantedSlackSingle08'
  opsgenie_api_key: "PlantedOpsgenieDouble09"
  opsgenie_api_url: http://{dead}/
route:
  receiver: hooks
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: hooks
    webhook_configs:
      - url: http://{dead}/flow
        http_config:
          basic_auth: {{username: flowuser, password: PlantedFlowMap10}}
      - url: http://{dead}/literal
        http_config:
          authorization:
            credentials: |
              PlantedLiteral11
      - url: http://{dead}/folded
        http_config:
          authorization:
            credentials: >-
              PlantedFolded12
      - url: http://{dead}/quoted
        http_config:
          basic_auth:
            "username": quoteduser
            "password": PlantedQuotedKey13
      - url: http://{dead}/anchor
        http_config:
          basic_auth: {{username: anchoruser, password: &pw PlantedAnchor14}}
      - url: http://{dead}/alias
        http_config:
          basic_auth: {{username: aliasuser, password: *pw}}
      - url: "http://{dead}/PlantedWebhookUrl16"
      - url: http://{dead}/file
        http_config:
          basic_auth: {{username: fileuser, password_file: {pw_file}}}
    pagerduty_configs:
      - routing_key: PlantedRoutingKey15
        url: http://{dead}/enqueue
    opsgenie_configs:
      - message: hi
    email_configs:
      - to: oncall@example.org
        auth_username: mailuser
        auth_password: PlantedEmailPw17
"#,
        port = dead.rsplit(':').next().unwrap(),
        pw_file = dir.join("pw.txt").display(),
    )
}

fn pipeline_yml(api: &str, http: &str, dead: &str, dir: &std::path::Path) -> String {
    format!(
        r#"api:
  address: {api}
data_dir: {data}
sources:
  otlp:
    type: otlp
    http: {{ address: {http} }}
sinks:
  es:
    type: elasticsearch
    inputs: [otlp]
    endpoint: http://{dead}
    auth: {{ user: elastic, password: "PlantedEsPassword01" }}
    request: {{ retry_max_duration_secs: 2 }}
  es_url:
    type: elasticsearch
    inputs: [otlp]
    endpoint: http://elastic:PlantedUrlPassword20@{dead}
    request: {{ retry_max_duration_secs: 2 }}
  es_key:
    type: elasticsearch
    inputs: [otlp]
    endpoint: http://{dead}
    auth: {{ api_key_file: {key_file} }}
  hec:
    type: splunk_hec
    inputs: [otlp]
    endpoint: http://{dead}
    token: >-
      PlantedHecToken02
  forward:
    type: otlp
    inputs: [otlp]
    endpoint: http://{dead}
    headers:
      authorization: 'Bearer PlantedOtlpHeader03'
  metrics:
    type: metrics_store
    inputs: [otlp]
probes:
  dead:
    type: http
    url: http://{dead}/health
    interval: 500ms
    timeout: 400ms
    bearer_token: PlantedProbeToken21
    headers: {{ X-Api-Key: PlantedProbeHeader22 }}
rules:
  files: []
  remote_write:
    url: http://{dead}/api/v1/write
    bearer_token: PlantedRemoteWrite04
scaling:
  files: [scaling.yml]
alerting:
  config: alertmanager.yml
"#,
        data = dir.join("data").display(),
        key_file = dir.join("es_key.txt").display(),
    )
}

fn scaling_yml(dead: &str) -> String {
    format!(
        r#"scalers:
  - name: billing
    minReplicas: 2
    maxReplicas: 10
    intervalSeconds: 1
    metrics:
      - name: backlog
        query: 'vector(5000)'
        target: {{ type: AverageValue, averageValue: 1000 }}
    actuator:
      type: webhook
      url: http://{dead}/PlantedScalerUrl06
      maxRetries: 0
      headers:
        authorization: "Bearer PlantedScalerHeader05"
"#
    )
}

fn assert_clean(what: &str, text: &str) {
    for p in PLANTED {
        assert!(!text.contains(p), "{what} shows the secret {p}:\n{text}");
    }
}

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn planted_secrets_never_leave_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (api, http, dead) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    std::fs::write(d.join("pw.txt"), "PlantedFileSecret18\n").unwrap();
    std::fs::write(d.join("es_key.txt"), "PlantedEsApiKeyFile19\n").unwrap();
    std::fs::write(d.join("alertmanager.yml"), alertmanager_yml(&dead, d)).unwrap();
    std::fs::write(d.join("scaling.yml"), scaling_yml(&dead)).unwrap();
    let config = d.join("pipeline.yaml");
    std::fs::write(&config, pipeline_yml(&api, &http, &dead, d)).unwrap();

    // `lookout check` on the good file, and on one with a mistake next to the secrets.
    let check = Command::new(lookout_bin()).args(["check", "--config"]).arg(&config).current_dir(d).output().unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert!(check.status.success(), "{out}");
    assert_clean("lookout check", &out);
    let broken = d.join("broken.yaml");
    std::fs::write(&broken, pipeline_yml(&api, &http, &dead, d).replace("    token: >-", "    tokn: x\n    token: >-"))
        .unwrap();
    let check = Command::new(lookout_bin()).args(["check", "--config"]).arg(&broken).current_dir(d).output().unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert!(!check.status.success() && out.contains("tokn"), "{out}");
    assert_clean("lookout check (failing)", &out);

    let child = Command::new(lookout_bin())
        .arg("run")
        .arg("--config")
        .arg(&config)
        .current_dir(d)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(std::fs::File::create(d.join("stdout.log")).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(d.join("stderr.log")).unwrap()))
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = running.0.try_wait().unwrap() {
            panic!("lookout exited with {s}: {}", std::fs::read_to_string(d.join("stderr.log")).unwrap_or_default());
        }
        if let Ok(r) = client.get(format!("http://{api}/api/v2/status")).send().await
            && r.status() == 200
        {
            break r.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "no /api/v2/status");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let original =
        serde_json::from_str::<serde_json::Value>(&status).unwrap()["config"]["original"].as_str().unwrap().to_string();
    assert_clean("/api/v2/status", &status);
    for shown in ["hooks", "flowuser", "quoteduser", "anchoruser", "aliasuser", "fileuser", "mailer", "<secret>"] {
        assert!(original.contains(shown), "{shown} missing from the status:\n{original}");
    }
    assert!(original.contains(&format!("http://{dead}/enqueue")), "{original}");

    // Make every credential be used: an alert for the receivers, logs for the sinks, a
    // sample for remote write; the scaler posts on its own.
    let alert = json!([{ "labels": { "alertname": "SecretsTest", "severity": "critical" } }]);
    let r = client.post(format!("http://{api}/api/v2/alerts")).json(&alert).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let logs = json!({"resourceLogs": [{"resource": {"attributes": []},
        "scopeLogs": [{"logRecords": [{"body": {"stringValue": "hello"}}]}]}]});
    let metrics = json!({"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [{"metrics": [{
        "name": "queue_jobs_pending", "gauge": {"dataPoints": [{"asDouble": 1.0,
        "timeUnixNano": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos().to_string()}]}}]}]}]});
    for (path, body) in [("v1/logs", &logs), ("v1/metrics", &metrics)] {
        // The OTLP listener may open after the API does.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match client.post(format!("http://{http}/{path}")).json(body).send().await {
                Ok(r) if r.status().is_success() => break,
                other => assert!(Instant::now() < deadline, "{path}: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(4)).await;

    for path in [
        "/api/v2/status",
        "/api/v2/receivers",
        "/api/v2/alerts",
        "/api/v1/status/config",
        "/api/v1/status/flags",
        "/api/v1/status/runtimeinfo",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/api/v1/scaler",
        "/api/v1/probes",
        "/health",
        "/health/ready",
        "/metrics",
    ] {
        let r = client.get(format!("http://{api}{path}")).send().await.unwrap();
        let body = r.text().await.unwrap();
        assert_clean(path, &body);
    }

    Command::new("kill").arg("-TERM").arg(running.0.id().to_string()).status().unwrap();
    // Shutdown logs are checked too; sinks still retrying dead peers may hold it up to
    // the shutdown deadline, which is not what this test is about.
    let deadline = Instant::now() + Duration::from_secs(40);
    while running.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(running);
    let stdout = std::fs::read_to_string(d.join("stdout.log")).unwrap();
    let stderr = std::fs::read_to_string(d.join("stderr.log")).unwrap();
    // The failures were logged (so the logs had the chance to leak) ...
    assert!(stderr.contains("DEBUG") || stdout.contains("DEBUG"), "not at debug level:\n{stderr}");
    assert!(stderr.contains("hooks") || stdout.contains("hooks"), "no notification attempt logged:\n{stderr}");
    // The failing endpoint with a password in its URL was named, redacted.
    let shown = format!("http://elastic:<secret>@{dead}");
    assert!(stderr.contains(&shown) || stdout.contains(&shown), "no failure of {shown} logged:\n{stderr}");
    // ... and nothing secret was written.
    assert_clean("stdout", &stdout);
    assert_clean("stderr", &stderr);
}
