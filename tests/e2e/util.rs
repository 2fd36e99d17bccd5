use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic as otlp;
use serde_json::Value;

/// The `lookout` binary under test.
pub fn lookout_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("LOOKOUT_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/lookout
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe.parent().and_then(Path::parent).expect("target dir").join("lookout");
    assert!(
        bin.exists(),
        "{} not found: build it first with `cargo build -p lookout` (the test script does)",
        bin.display()
    );
    bin
}

/// The Python with the OpenTelemetry SDK installed (by scripts/test.sh).
pub fn python() -> PathBuf {
    let p = std::env::var_os("LOOKOUT_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(p.exists(), "{} not found: run scripts/test.sh, which installs the OpenTelemetry SDK", p.display());
    p
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A port nothing listens on now, never handed out before in this test process (tests
/// run in parallel and bind their ports later: two must not get the same one).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A running Lookout with a file sink, in its own temp dir.
pub struct Lookout {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub api: String,
    pub grpc: String,
    pub http: String,
}

/// A pipeline like DESIGN.md's example: otlp → enrich → file (+ any extra YAML).
pub fn pipeline(api: &str, grpc: &str, http: &str, dir: &Path, extra_transforms: &str, sink_input: &str) -> String {
    format!(
        r#"api:
  address: {api}
data_dir: {data}
sources:
  otlp:
    type: otlp
    grpc: {{ address: {grpc} }}
    http: {{ address: {http} }}
    max_request_size: 1048576
transforms:
  enrich:
    type: enrich
    inputs: [otlp]
    set:
      deployment.environment: ${{ENVIRONMENT:-dev}}
{extra_transforms}
sinks:
  archive:
    type: file
    inputs: [{sink_input}]
    path: {out}
"#,
        data = dir.join("data").display(),
        out = dir.join("out.ndjson").display(),
    )
}

impl Lookout {
    /// Starts Lookout on the standard test pipeline.
    pub async fn start() -> Lookout {
        Self::start_with("", "enrich", &[]).await
    }

    /// Starts Lookout with extra transforms, the sink reading `sink_input`, and extra env.
    pub async fn start_with(extra_transforms: &str, sink_input: &str, env: &[(&str, &str)]) -> Lookout {
        Self::start_custom(|api, grpc, http, dir| pipeline(api, grpc, http, dir, extra_transforms, sink_input), env)
            .await
    }

    /// Starts Lookout on the pipeline `make(api, grpc, http, dir)` returns.
    pub async fn start_custom(make: impl FnOnce(&str, &str, &str, &Path) -> String, env: &[(&str, &str)]) -> Lookout {
        let dir = tempfile::tempdir().unwrap();
        let api = format!("127.0.0.1:{}", free_port());
        let grpc = format!("127.0.0.1:{}", free_port());
        let http = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("pipeline.yaml");
        std::fs::write(&config, make(&api, &grpc, &http, dir.path())).unwrap();
        let mut cmd = Command::new(lookout_bin());
        cmd.arg("run").arg("--config").arg(&config).current_dir(dir.path());
        cmd.env("RUST_LOG", "info").env("ENVIRONMENT", "e2e");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::from(std::fs::File::create(dir.path().join("lookout.log")).unwrap()));
        let child = cmd.spawn().expect("spawn lookout");
        let mut l = Lookout { child, dir, api, grpc, http };
        l.wait_ready().await;
        l
    }

    /// Starts Lookout on `config` kept in `dir` (which outlives this process: for
    /// restarts over the same data); `api` and `http` are the addresses it names.
    pub async fn start_in(dir: &Path, config: &str, api: &str, http: &str) -> Lookout {
        let logs = tempfile::tempdir().unwrap();
        let path = dir.join("pipeline.yaml");
        std::fs::write(&path, config).unwrap();
        let mut cmd = Command::new(lookout_bin());
        cmd.arg("run")
            .arg("--config")
            .arg(&path)
            .current_dir(dir)
            .env("RUST_LOG", std::env::var("LOOKOUT_TEST_LOG").unwrap_or_else(|_| "info".into()));
        cmd.stdout(Stdio::null()).stderr(Stdio::from(std::fs::File::create(logs.path().join("lookout.log")).unwrap()));
        let child = cmd.spawn().expect("spawn lookout");
        let mut l = Lookout { child, dir: logs, api: api.to_string(), grpc: String::new(), http: http.to_string() };
        l.wait_ready().await;
        l
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://{}/health/ready", self.api);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("lookout exited early with {status}; log:\n{}", self.log());
            }
            if let Ok(resp) = reqwest::get(&url).await
                && resp.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("lookout not ready after 30s; log:\n{}", self.log());
    }

    pub fn out_path(&self) -> PathBuf {
        self.dir.path().join("out.ndjson")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("lookout.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for exit.
    pub async fn stop(&mut self) -> ExitStatus {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "lookout did not exit within 30s of SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Lookout {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every JSON line of an NDJSON file (missing file = none).
pub fn read_ndjson(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// Waits until `pred` holds for the file's records, or panics with what was there.
pub async fn wait_for(path: &Path, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let docs = read_ndjson(path);
        if pred(&docs) {
            return docs;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; {} records in {}", docs.len(), path.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn of_signal<'a>(docs: &'a [Value], signal: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["signal"] == signal).collect()
}

/// A peer process started for a test (killed when dropped).
pub struct Peer {
    pub child: Child,
    pub address: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the OpenSearch-compatible test server (`osmem-server`, installed into .venv by
/// scripts/test.sh) on `port`, and waits until it answers.
pub async fn start_osmem(port: u16) -> Peer {
    let out = Command::new(python())
        .args(["-c", "import osmem_server, os; print(os.path.dirname(osmem_server.__file__))"])
        .output()
        .expect("python");
    let dir = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(!dir.is_empty(), "osmem-server is not installed: run scripts/test.sh");
    let address = format!("127.0.0.1:{port}");
    let child = Command::new(Path::new(&dir).join("bin/osmem-server"))
        .args(["-addr", &address, "-no-stdin-watch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start osmem-server");
    let peer = Peer { child, address };
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("http://{}/", peer.address)).await.is_err() {
        assert!(Instant::now() < deadline, "osmem-server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    peer
}

/// Runs the Python OTLP client; panics with its output if it fails.
pub async fn run_python_client(args: &[&str]) -> String {
    let script = workspace_root().join("tests/python/otlp_client.py");
    let out = tokio::process::Command::new(python()).arg(script).args(args).output().await.expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "python client failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// An OTLP logs export request (protobuf) of records `first..first + n` from service
/// `service`: record `i` has time `1_700_000_000 s + i ns`, body `body(i)` and the
/// attributes `attributes(i)` (`seq` first, by convention).
pub fn logs_request(
    service: &str,
    first: i64,
    n: i64,
    body: impl Fn(i64) -> String,
    attributes: impl Fn(i64) -> Vec<(&'static str, otlp::common::v1::any_value::Value)>,
) -> Vec<u8> {
    use otlp::common::v1::{AnyValue, KeyValue, any_value};
    use prost::Message;
    let kv = |k: &str, v: any_value::Value| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    let records = (first..first + n)
        .map(|i| otlp::logs::v1::LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(body(i))) }),
            attributes: attributes(i).into_iter().map(|(k, v)| kv(k, v)).collect(),
            ..Default::default()
        })
        .collect();
    otlp::collector::logs::v1::ExportLogsServiceRequest {
        resource_logs: vec![otlp::logs::v1::ResourceLogs {
            resource: Some(otlp::resource::v1::Resource {
                attributes: vec![kv("service.name", any_value::Value::StringValue(service.into()))],
                ..Default::default()
            }),
            scope_logs: vec![otlp::logs::v1::ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Debian's Prometheus with its remote-write receiver on, in a temp dir.
pub struct Prometheus {
    pub child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_prometheus() -> Option<Prometheus> {
    if Command::new("prometheus").arg("--version").output().is_err() {
        eprintln!("SKIPPED: `prometheus` is not installed (scripts/test.sh installs it)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), "global:\n  scrape_interval: 1m\n").unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let p = Prometheus { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if reqwest::get(format!("{}/-/ready", p.url)).await.is_ok_and(|r| r.status() == 200) {
            return Some(p);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("prometheus not ready");
}

/// A webhook receiver: every JSON body POSTed to it.
pub async fn start_webhook() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let got: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = std::sync::Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let sink = sink.clone();
        async move {
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                sink.lock().unwrap().push(v);
            }
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, got)
}

/// Starts moto's server (AWS look-alikes: CloudWatch Logs, Auto Scaling, EC2, ELBv2;
/// installed into .venv by scripts/test.sh) and waits until it answers.
pub async fn start_moto() -> Peer {
    let bin = python().parent().expect("venv bin dir").join("moto_server");
    assert!(bin.exists(), "{} not found: run scripts/test.sh, which installs moto[server]", bin.display());
    let port = free_port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let peer = Peer { child, address: format!("127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("http://{}/moto-api/", peer.address)).await.is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peer
}
