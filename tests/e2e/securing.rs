//! The complete example that opens README's "Securing Lookout", run as written: the
//! pipeline, tenants and web.yml files are read out of README.md (the YAML blocks whose
//! first line is `# /etc/lookout/NAME`), only the addresses and `/etc/lookout`,
//! `/var/lib/lookout` are replaced, and certificates are made with rcgen.
//!
//! Lookout runs from the directory above the config, so the relative `tls/` and
//! `tenants.yaml` paths must resolve against the files that name them. Asserted: the
//! OpenTelemetry Python SDK with the README's token over TLS (gRPC and HTTP) delivers
//! records carrying `tenant: shop`; without the token it is refused (401 /
//! UNAUTHENTICATED) and nothing arrives; plain text to the TLS ports is refused; the API
//! over HTTPS answers 401 to an anonymous caller, 200 to the viewer, lets the editor
//! create a silence that is then listed (and the ci-bot token post an alert), refuses
//! the viewer's POST (403) and plain HTTP; `lookout check` passes on the example.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use sha2::Digest;

use crate::util::{
    Lookout, free_port, logs_request, lookout_bin, of_signal, python, read_ndjson, wait_for, workspace_root,
};

/// The credentials the README's example documents next to their hashes.
const INGEST_TOKEN: &str = "shop-ingest-token";
const BOT_TOKEN: &str = "ci-bot-token";
const VIEWER: (&str, &str) = ("grafana", "grafana-password");
const EDITOR: (&str, &str) = ("alice", "alice-password");

/// `(file name, text)` of every `# /etc/lookout/NAME` YAML block in the README's
/// "Securing Lookout" section before its first subsection.
fn readme_example() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme.find("\n## Securing Lookout\n").expect("README has ## Securing Lookout");
    let section = &readme[start + 1..];
    let section = &section[..section.find("\n### ").expect("a subsection follows the example")];
    let mut files = Vec::new();
    for block in section.split("```yaml\n").skip(1) {
        let text = &block[..block.find("```").expect("a closed code block")];
        if let Some(name) = text.strip_prefix("# /etc/lookout/") {
            let name = name.split_whitespace().next().unwrap().to_string();
            files.push((name, text.to_string()));
        }
    }
    files
}

fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The test CA (its certificate, PEM) and a server certificate for 127.0.0.1 it issued.
fn certificates() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "securing example ca");
    let ca_pem = params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "lookout");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

struct Example {
    lookout: Lookout,
    conf: PathBuf,
    ca_file: PathBuf,
    ca_pem: String,
}

impl Example {
    fn archive(&self) -> PathBuf {
        self.lookout.dir.path().join("data/archive.ndjson")
    }

    /// An HTTPS client trusting the example's CA only.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap()])
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }
}

/// Writes the README's files into `<tmp>/conf`, checks them, starts `lookout run` from
/// `<tmp>` and waits until the API answers over HTTPS.
async fn start() -> Example {
    let files = readme_example();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["pipeline.yaml", "tenants.yaml", "web.yml"], "the README's complete example");
    let all: String = files.iter().map(|(_, t)| t.as_str()).collect();
    // The documented hashes are of the documented tokens.
    for token in [INGEST_TOKEN, BOT_TOKEN] {
        assert!(all.contains(&format!("sha256:{}", sha256_hex(token))), "no sha256 of {token} in the example");
    }

    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(conf.join("tls")).unwrap();
    let (ca_pem, cert, key) = certificates();
    std::fs::write(conf.join("tls/lookout.crt"), cert).unwrap();
    std::fs::write(conf.join("tls/lookout.key"), key).unwrap();
    let ca_file = dir.path().join("lookout-ca.crt");
    std::fs::write(&ca_file, &ca_pem).unwrap();

    let (api, grpc, http) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let replacements = [
        ("0.0.0.0:8686", api.clone()),
        ("0.0.0.0:4317", grpc.clone()),
        ("0.0.0.0:4318", http.clone()),
        ("/etc/lookout/", format!("{}/", conf.display())),
        ("/var/lib/lookout", dir.path().join("data").display().to_string()),
    ];
    for (from, _) in &replacements {
        assert!(all.contains(from), "the example names no {from}");
    }
    for (name, text) in &files {
        let text = replacements.iter().fold(text.clone(), |t, (from, to)| t.replace(from, to));
        std::fs::write(conf.join(name), text).unwrap();
    }
    let config = conf.join("pipeline.yaml");

    // `lookout check` passes on the example.
    let check = Command::new(lookout_bin()).args(["check", "--config"]).arg(&config).current_dir(dir.path()).output();
    let check = check.unwrap();
    assert!(
        check.status.success(),
        "lookout check failed:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let child = Command::new(lookout_bin())
        .arg("run")
        .arg("--config")
        .arg(&config)
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.path().join("lookout.log")).unwrap()))
        .spawn()
        .expect("spawn lookout");
    let mut lookout = Lookout { child, dir, api, grpc, http };
    let ex_client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = format!("https://{}/health/ready", lookout.api);
    loop {
        assert!(lookout.is_running(), "lookout exited early; log:\n{}", lookout.log());
        if ex_client.get(&ready).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "the API is not ready over HTTPS after 30s; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Example { lookout, conf, ca_file, ca_pem }
}

/// Runs the Python OTLP client over TLS with `headers` as OTEL_EXPORTER_OTLP_HEADERS;
/// returns whether it succeeded and what it wrote.
async fn sdk(ex: &Example, protocol: &str, headers: Option<&str>, service: &str) -> (bool, String) {
    let addr = if protocol == "grpc" { &ex.lookout.grpc } else { &ex.lookout.http };
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(workspace_root().join("tests/python/otlp_client.py"))
        .args(["--protocol", protocol, "--endpoint", &format!("https://{addr}"), "--service", service])
        .args(["--logs", "20", "--spans", "2", "--ca-file"])
        .arg(&ex.ca_file);
    match headers {
        Some(h) => cmd.env("OTEL_EXPORTER_OTLP_HEADERS", h),
        None => cmd.env_remove("OTEL_EXPORTER_OTLP_HEADERS"),
    };
    let out = cmd.output().await.expect("run python");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn logs_of(docs: &[Value], service: &str) -> usize {
    of_signal(docs, "log").iter().filter(|d| d["resource"]["service.name"] == service).count()
}

fn silence(created_by: &str) -> Value {
    let now = Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
    json!({
        "matchers": [{"name": "alertname", "value": "Securing", "isRegex": false, "isEqual": true}],
        "startsAt": String::from_utf8(now.stdout).unwrap().trim(),
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": created_by,
        "comment": "the README's example",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_example_secures_ingest_and_the_api() {
    let mut ex = start().await;
    assert!(ex.conf.join("tenants.yaml").exists());

    // Ingest: the SDK with the tenant's token over TLS, gRPC and HTTP.
    let headers = format!("Authorization=Bearer%20{INGEST_TOKEN}");
    for protocol in ["grpc", "http"] {
        let (ok, out) = sdk(&ex, protocol, Some(&headers), &format!("token-{protocol}")).await;
        assert!(ok, "the SDK with a token over TLS ({protocol}) failed:\n{out}\nlog:\n{}", ex.lookout.log());
    }
    let docs = wait_for(&ex.archive(), "20 logs over each protocol", |d| {
        logs_of(d, "token-grpc") == 20 && logs_of(d, "token-http") == 20
    })
    .await;
    assert!(!docs.is_empty());
    for d in &docs {
        assert_eq!(d["resource"]["tenant"], "shop", "every record carries its token's tenant: {d}");
    }

    // The same SDK without a token over TLS: refused.
    for (protocol, refusal) in [("grpc", "UNAUTHENTICATED"), ("http", "401")] {
        let (ok, out) = sdk(&ex, protocol, None, &format!("anonymous-{protocol}")).await;
        assert!(!ok, "the SDK without a token ({protocol}) was accepted:\n{out}");
        assert!(out.contains(refusal), "{protocol}: expected {refusal} in the SDK's output:\n{out}");
    }
    let client = ex.client();
    let body = logs_request("raw-anonymous", 0, 1, |_| "no token".into(), |_| vec![]);
    let https_logs = format!("https://{}/v1/logs", ex.lookout.http);
    let resp = client.post(&https_logs).header("content-type", "application/x-protobuf").body(body.clone());
    let resp = resp.send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    // Plain text to the TLS ports, token or not: refused.
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    for addr in [&ex.lookout.http, &ex.lookout.grpc] {
        let sent = plain
            .post(format!("http://{addr}/v1/logs"))
            .header("content-type", "application/x-protobuf")
            .header("authorization", format!("Bearer {INGEST_TOKEN}"))
            .body(logs_request("plain-text", 0, 1, |_| "plain".into(), |_| vec![]))
            .send()
            .await;
        assert!(sent.is_err(), "plain text to the TLS port {addr} was answered: {sent:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let docs = read_ndjson(&ex.archive());
    for refused in ["anonymous-grpc", "anonymous-http", "raw-anonymous", "plain-text"] {
        assert_eq!(logs_of(&docs, refused), 0, "{refused} delivered records");
    }

    // The API over HTTPS, from web.yml.
    let api = format!("https://{}", ex.lookout.api);
    let silences = format!("{api}/api/v2/silences");
    let anonymous = client.get(&silences).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let viewer = client.get(&silences).basic_auth(VIEWER.0, Some(VIEWER.1)).send().await.unwrap();
    assert_eq!(viewer.status(), 200);
    let refused = client.post(&silences).basic_auth(VIEWER.0, Some(VIEWER.1)).json(&silence("grafana")).send();
    assert_eq!(refused.await.unwrap().status(), 403, "a viewer may not create silences");
    let created = client.post(&silences).basic_auth(EDITOR.0, Some(EDITOR.1)).json(&silence("alice")).send();
    let created = created.await.unwrap();
    assert_eq!(created.status(), 200);
    let id = created.json::<Value>().await.unwrap()["silenceID"].as_str().expect("a silenceID").to_string();
    let listed: Value =
        client.get(&silences).basic_auth(VIEWER.0, Some(VIEWER.1)).send().await.unwrap().json().await.unwrap();
    assert!(
        listed.as_array().unwrap().iter().any(|s| s["id"] == id.as_str() && s["createdBy"] == "alice"),
        "the new silence is not listed: {listed}"
    );
    let alert = json!([{"labels": {"alertname": "Securing"}}]);
    let posted = client.post(format!("{api}/api/v2/alerts")).bearer_auth(BOT_TOKEN).json(&alert).send().await;
    assert_eq!(posted.unwrap().status(), 200, "ci-bot's token is an editor");
    // Plain HTTP to the API: no answer.
    assert!(plain.get(format!("http://{}/api/v2/silences", ex.lookout.api)).send().await.is_err());

    let log = ex.lookout.log();
    for secret in [INGEST_TOKEN, BOT_TOKEN, VIEWER.1, EDITOR.1] {
        assert!(!log.contains(secret), "the log shows {secret}:\n{log}");
    }
    let status = ex.lookout.stop().await;
    assert!(status.success(), "exit {status}; log:\n{}", ex.lookout.log());
}
