//! TLS on the OTLP listeners, through the binary: the OpenTelemetry Python SDK over
//! TLS (gRPC and HTTP) and mTLS, plain-text and untrusted clients refused, certificate
//! rotation on disk, and `lookout check` / `lookout run` on unreadable certificates.
//!
//! The pipeline file lives in `conf/` and names its certificates `tls/...` relative to
//! it, while Lookout runs in the directory above: the paths must resolve against the
//! config file, not the working directory. Certificates are made here with rcgen.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::util::{Lookout, free_port, logs_request, lookout_bin, of_signal, run_python_client, wait_for};

/// A CA issuing server and client certificates.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate and its key, PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// A certificate for 127.0.0.1 / localhost named `cn` (a fresh key and serial each time).
    fn leaf(&self, cn: &str) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }
}

/// Writes `text` to `path` the way certificate managers do: aside, then renamed in.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A Lookout whose config sits in `conf/` with its certificates in `conf/tls/`.
struct Setup {
    ca: Ca,
    clients: Ca,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(server_cn: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("conf/tls")).unwrap();
        let (ca, clients) = (Ca::new("lookout test ca"), Ca::new("lookout clients ca"));
        let s = Setup { ca, clients, dir };
        s.serve_cert(server_cn);
        std::fs::write(s.tls("ca.crt"), &s.ca.pem).unwrap();
        std::fs::write(s.tls("clients.crt"), &s.clients.pem).unwrap();
        s
    }

    fn tls(&self, name: &str) -> PathBuf {
        self.dir.path().join("conf/tls").join(name)
    }

    /// (Re)writes the server certificate and key, named `cn`.
    fn serve_cert(&self, cn: &str) {
        let leaf = self.ca.leaf(cn);
        replace(&self.tls("lookout.crt"), &leaf.cert);
        replace(&self.tls("lookout.key"), &leaf.key);
    }

    /// The pipeline of the issue, with the file sink; `extra_tls` goes into each `tls:`.
    fn pipeline(&self, api: &str, grpc: &str, http: &str, extra_tls: &str) -> String {
        let tls = format!("{{ cert_file: tls/lookout.crt, key_file: tls/lookout.key{extra_tls} }}");
        format!(
            "api:\n  address: {api}\ndata_dir: {data}\nsources:\n  otlp:\n    type: otlp\n\
             \x20   grpc: {{ address: {grpc}, tls: {tls} }}\n\
             \x20   http: {{ address: {http}, tls: {tls} }}\n\
             sinks:\n  archive:\n    type: file\n    inputs: [otlp]\n    path: {out}\n",
            data = self.dir.path().join("data").display(),
            out = self.dir.path().join("out.ndjson").display(),
        )
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("conf/pipeline.yaml")
    }

    /// Starts `lookout run` in the directory above `conf/`; waits until ready.
    async fn start(self, extra_tls: &str) -> (Lookout, Ca, Ca) {
        let api = format!("127.0.0.1:{}", free_port());
        let grpc = format!("127.0.0.1:{}", free_port());
        let http = format!("127.0.0.1:{}", free_port());
        std::fs::write(self.config_path(), self.pipeline(&api, &grpc, &http, extra_tls)).unwrap();
        let log = std::fs::File::create(self.dir.path().join("lookout.log")).unwrap();
        let child = Command::new(lookout_bin())
            .arg("run")
            .arg("--config")
            .arg(self.config_path())
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn lookout");
        let mut lookout = Lookout { child, dir: self.dir, api, grpc, http };
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://{}/health/ready", lookout.api);
        loop {
            assert!(lookout.is_running(), "lookout exited early; log:\n{}", lookout.log());
            if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "lookout not ready after 30s; log:\n{}", lookout.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (lookout, self.ca, self.clients)
    }
}

fn tls_path(lookout: &Lookout, name: &str) -> String {
    lookout.dir.path().join("conf/tls").join(name).display().to_string()
}

/// An HTTPS client trusting `ca` only, presenting `identity` if given.
fn client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap()])
        .tls_info(true)
        .timeout(Duration::from_secs(10));
    if let Some(leaf) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{}{}", leaf.cert, leaf.key).as_bytes()).unwrap());
    }
    b.build().unwrap()
}

/// POSTs one OTLP/HTTP logs request of record `seq` from `service`.
async fn post_log(client: &reqwest::Client, url: &str, service: &str, seq: i64) -> reqwest::Result<reqwest::Response> {
    let seq_attr = |i| vec![("seq", opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(i))];
    let body = logs_request(service, seq, 1, |i| format!("record {i}"), seq_attr);
    client.post(format!("{url}/v1/logs")).header("content-type", "application/x-protobuf").body(body).send().await
}

/// The common name of the certificate a response came over (rcgen writes it as text).
fn server_cn(resp: &reqwest::Response, names: &[&str]) -> String {
    let info = resp.extensions().get::<reqwest::tls::TlsInfo>().expect("tls info");
    let der = info.peer_certificate().expect("a server certificate");
    let found: Vec<&str> = names.iter().copied().filter(|n| der.windows(n.len()).any(|w| w == n.as_bytes())).collect();
    assert_eq!(found.len(), 1, "exactly one of {names:?} in the server certificate");
    found[0].to_string()
}

fn services(docs: &[serde_json::Value], service: &str) -> usize {
    of_signal(docs, "log").iter().filter(|d| d["resource"]["service.name"] == service).count()
}

#[tokio::test]
async fn python_sdk_over_tls_to_grpc_and_http_and_plain_text_refused() {
    let (mut lookout, ca, _) = Setup::new("lookout server").start("").await;
    let ca_file = tls_path(&lookout, "ca.crt");
    for (protocol, addr) in [("grpc", lookout.grpc.clone()), ("http", lookout.http.clone())] {
        let endpoint = format!("https://{addr}");
        let service = format!("tls-{protocol}");
        run_python_client(&[
            "--protocol",
            protocol,
            "--endpoint",
            &endpoint,
            "--ca-file",
            &ca_file,
            "--service",
            &service,
            "--logs",
            "40",
            "--spans",
            "4",
        ])
        .await;
    }
    wait_for(&lookout.out_path(), "40 logs over each protocol", |d| {
        services(d, "tls-grpc") == 40 && services(d, "tls-http") == 40
    })
    .await;

    let https = format!("https://{}", lookout.http);
    // Plain HTTP to the TLS port: refused, nothing arrives.
    let plain = reqwest::Client::new();
    assert!(post_log(&plain, &format!("http://{}", lookout.http), "plain", 0).await.is_err());
    // A client that does not trust the CA refuses the server, and the server sees a failed handshake.
    let stranger = Ca::new("another ca");
    assert!(post_log(&client(&stranger, None), &https, "untrusted", 0).await.is_err());
    // The trusted client gets in.
    let ok = post_log(&client(&ca, None), &https, "trusted", 7).await.unwrap();
    assert_eq!(ok.status(), 200);
    let docs = wait_for(&lookout.out_path(), "the trusted record", |d| services(d, "trusted") == 1).await;
    assert_eq!(services(&docs, "plain") + services(&docs, "untrusted"), 0);

    let status = lookout.stop().await;
    assert!(status.success(), "exit {status}; log:\n{}", lookout.log());
}

#[tokio::test]
async fn mtls_accepts_known_client_certificates_only() {
    let (mut lookout, ca, clients) = Setup::new("lookout server").start(", client_ca_file: tls/clients.crt").await;
    let known = clients.leaf("known client");
    let dir = lookout.dir.path().to_path_buf();
    std::fs::write(dir.join("client.crt"), &known.cert).unwrap();
    std::fs::write(dir.join("client.key"), &known.key).unwrap();

    // The Python SDK with a client certificate from the configured CA, over gRPC.
    let endpoint = format!("https://{}", lookout.grpc);
    let (ca_file, cert, key) = (
        tls_path(&lookout, "ca.crt"),
        dir.join("client.crt").display().to_string(),
        dir.join("client.key").display().to_string(),
    );
    run_python_client(&[
        "--protocol",
        "grpc",
        "--endpoint",
        &endpoint,
        "--ca-file",
        &ca_file,
        "--client-cert",
        &cert,
        "--client-key",
        &key,
        "--service",
        "mtls-grpc",
        "--logs",
        "20",
        "--spans",
        "2",
    ])
    .await;
    wait_for(&lookout.out_path(), "20 logs over mTLS", |d| services(d, "mtls-grpc") == 20).await;

    let https = format!("https://{}", lookout.http);
    // No certificate, or one from a CA Lookout does not know: refused.
    assert!(post_log(&client(&ca, None), &https, "anonymous", 0).await.is_err());
    let stranger = Ca::new("unknown clients ca").leaf("stranger");
    assert!(post_log(&client(&ca, Some(&stranger)), &https, "stranger", 0).await.is_err());
    // A known one: accepted.
    let ok = post_log(&client(&ca, Some(&known)), &https, "known", 1).await.unwrap();
    assert_eq!(ok.status(), 200);
    let docs = wait_for(&lookout.out_path(), "the known client's record", |d| services(d, "known") == 1).await;
    assert_eq!(services(&docs, "anonymous") + services(&docs, "stranger"), 0);

    let status = lookout.stop().await;
    assert!(status.success(), "exit {status}; log:\n{}", lookout.log());
}

#[tokio::test]
async fn rotated_certificate_reaches_new_connections_and_open_ones_keep_working() {
    let setup = Setup::new("lookout first");
    let (crt, key) = (setup.tls("lookout.crt"), setup.tls("lookout.key"));
    let (mut lookout, ca, _) = setup.start("").await;
    let https = format!("https://{}", lookout.http);
    let names = ["lookout first", "lookout second"];

    // One connection opened before the rotation (reqwest keeps it in its pool).
    let open = client(&ca, None);
    let before = post_log(&open, &https, "before", 0).await.unwrap();
    assert_eq!(before.status(), 200);
    assert_eq!(server_cn(&before, &names), "lookout first");

    // New serial, new key, new name, replaced on disk.
    let leaf = ca.leaf("lookout second");
    replace(&crt, &leaf.cert);
    replace(&key, &leaf.key);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = post_log(&client(&ca, None), &https, "fresh", 1).await.unwrap();
        if server_cn(&fresh, &names) == "lookout second" {
            break;
        }
        assert!(Instant::now() < deadline, "no new connection saw the new certificate; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The connection from before still works, still on the certificate it started with.
    let after = post_log(&open, &https, "after", 2).await.unwrap();
    assert_eq!(after.status(), 200);
    assert_eq!(server_cn(&after, &names), "lookout first", "the open connection was kept, not replaced");
    wait_for(&lookout.out_path(), "records from before and after", |d| {
        services(d, "before") == 1 && services(d, "after") == 1
    })
    .await;
    assert!(lookout.log().contains("TLS certificate reloaded"), "log:\n{}", lookout.log());

    // A broken rotation (a key that is not the certificate's) keeps the last good pair.
    replace(&key, &ca.leaf("unrelated").key);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let still = post_log(&client(&ca, None), &https, "still", 3).await.unwrap();
    assert_eq!(server_cn(&still, &names), "lookout second");
    assert!(lookout.log().contains("TLS certificate reload failed"), "log:\n{}", lookout.log());

    let status = lookout.stop().await;
    assert!(status.success(), "exit {status}; log:\n{}", lookout.log());
}

#[test]
fn check_and_run_refuse_unreadable_or_invalid_certificates() {
    let setup = Setup::new("lookout server");
    let config = setup.config_path();
    std::fs::write(&config, setup.pipeline("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "")).unwrap();
    let run = |cmd: &str| {
        let out = Command::new(lookout_bin()).arg(cmd).arg("--config").arg(&config).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, stderr) = run("check");
    assert_eq!(code, Some(0), "a good config checks: {stderr}");

    // A missing key: the error names the file, resolved next to the config.
    std::fs::remove_file(setup.tls("lookout.key")).unwrap();
    let key = setup.tls("lookout.key").display().to_string();
    for cmd in ["check", "run"] {
        let (code, stderr) = run(cmd);
        assert_ne!(code, Some(0), "`lookout {cmd}` must fail");
        assert!(stderr.contains("grpc.tls: cannot read key_file") && stderr.contains(&key), "{cmd}: {stderr}");
    }

    // A certificate that is not PEM.
    std::fs::write(setup.tls("lookout.key"), setup.ca.leaf("x").key).unwrap();
    std::fs::write(setup.tls("lookout.crt"), "not a certificate\n").unwrap();
    let (code, stderr) = run("check");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("holds no PEM certificate") && stderr.contains("lookout.crt"), "{stderr}");
}
