//! Shared test helpers: a fixture notification and an in-process HTTP receiver on
//! 127.0.0.1:0 that records every request and answers through a per-test handler (a
//! scripted status sequence, or a protocol-faithful validator of a service's API).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lookout_receivers::{Alert, GlobalConfig, Notification, ReceiverConfig, Templates};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Captured {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the handler answers: status, extra headers, body.
pub type Reply = (StatusCode, Vec<(&'static str, String)>, String);

type Handler = dyn Fn(&Captured, usize) -> Reply + Send + Sync;

/// A running fake receiver.
pub struct Fake {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Captured>>>,
}

impl Fake {
    /// Starts a receiver answering with `handler(request, index)`.
    pub async fn start(handler: impl Fn(&Captured, usize) -> Reply + Send + Sync + 'static) -> Fake {
        let requests: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let reqs = requests.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let reqs = reqs.clone();
            let handler = handler.clone();
            async move {
                let c = Captured {
                    method,
                    path: uri.path().to_string(),
                    query: uri.query().unwrap_or_default().to_string(),
                    headers,
                    body,
                };
                let i = {
                    let mut r = reqs.lock().unwrap();
                    r.push(c.clone());
                    r.len() - 1
                };
                let (status, hdrs, body) = handler(&c, i);
                let mut resp: Response = (status, body).into_response();
                for (k, v) in hdrs {
                    resp.headers_mut().insert(k, v.parse().unwrap());
                }
                resp
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake { addr, requests }
    }

    /// Always answers `status` with `body`.
    pub async fn always(status: StatusCode, body: &'static str) -> Fake {
        Fake::start(move |_, _| (status, vec![], body.to_string())).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn taken(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }
}

pub fn ls(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 500_000_000).unwrap()
}

/// Two firing alerts (one critical, one warning) and one resolved, grouped by alertname.
pub fn fixture() -> Notification {
    let mut a = Alert::new(
        ls(&[("alertname", "HighLatency"), ("env", "prod"), ("instance", "api-1:9100"), ("severity", "critical")]),
        t0(),
    );
    a.annotations = ls(&[("summary", "p99 latency above 2s"), ("description", "p99 is 3.1s on api-1")]);
    a.generator_url = "http://prometheus:9090/graph?g0.expr=latency".into();
    let mut b = Alert::new(
        ls(&[("alertname", "HighLatency"), ("env", "prod"), ("instance", "api-2:9100"), ("severity", "warning")]),
        t0(),
    );
    b.annotations = ls(&[("summary", "p99 latency above 2s")]);
    b.ends_at = Some(t0() + chrono::Duration::minutes(30));
    let mut c = Alert::new(
        ls(&[("alertname", "HighLatency"), ("env", "prod"), ("instance", "api-3:9100"), ("severity", "warning")]),
        t0(),
    );
    c.ends_at = Some(t0() + chrono::Duration::minutes(2));
    Notification {
        receiver: "ops".into(),
        status_firing: true,
        group_key: "{}/{env=\"prod\"}:{alertname=\"HighLatency\"}".into(),
        group_labels: ls(&[("alertname", "HighLatency")]),
        alerts: vec![a, b, c],
        external_url: "http://lookout.example:9093".into(),
        truncated_alerts: 0,
        now: t0() + chrono::Duration::minutes(5),
    }
}

/// The fixture once everything resolved.
pub fn resolved_fixture() -> Notification {
    let mut n = fixture();
    for a in &mut n.alerts {
        a.ends_at = Some(t0() + chrono::Duration::minutes(4));
    }
    n.status_firing = false;
    n
}

pub fn receiver(yaml: &str) -> ReceiverConfig {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad receiver yaml: {e}\n{yaml}"))
}

pub fn global(yaml: &str) -> GlobalConfig {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad global yaml: {e}\n{yaml}"))
}

/// Builds a receiver's single integration with the built-in templates.
pub fn one(yaml: &str, g: &GlobalConfig) -> Arc<dyn lookout_receivers::Integration> {
    let r = receiver(yaml);
    let mut v = lookout_receivers::build_integrations(&r, g, Arc::new(Templates::builtin()), reqwest::Client::new())
        .unwrap_or_else(|e| panic!("build failed: {e}"));
    assert_eq!(v.len(), 1);
    v.remove(0)
}

/// A port nobody listens on right now.
pub fn free_port(host: &str) -> u16 {
    std::net::TcpListener::bind((host, 0)).unwrap().local_addr().unwrap().port()
}

/// The Python with the test servers' packages: `LOOKOUT_TEST_PYTHON`, else the workspace's
/// `.venv`, else `/work/main/.venv`.
fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LOOKOUT_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    [workspace, PathBuf::from("/work/main/.venv/bin/python")].into_iter().find(|p| p.exists())
}

/// A Python test server from `tests/` (aiosmtpd, HTTPS), killed on drop. Its scripts print
/// `READY` once listening and write what they receive as JSON lines into `dir`.
pub struct PyServer {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PyServer {
    /// Runs `tests/<script> ARGS... DIR`; `None` after a loud message when no Python is set up.
    pub fn start(script: &str, args: &[&str], port: u16) -> Option<PyServer> {
        let Some(py) = python() else {
            eprintln!(
                "\n!!! SKIPPED: no Python test environment (set LOOKOUT_TEST_PYTHON or create .venv with \
                 `python3 -m venv .venv && .venv/bin/pip install aiosmtpd cryptography`); {script} was NOT run !!!\n"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&py)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(script))
            .args(args)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        assert_eq!(
            line.trim(),
            "READY",
            "{script} did not start with {} (are aiosmtpd and cryptography installed in it?)",
            py.display()
        );
        Some(PyServer { child, dir, port })
    }

    /// The throw-away CA the server's certificate chains to.
    pub fn ca(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }

    /// The JSON lines of `file` so far, waiting up to 5 s for at least `n`.
    pub fn records(&self, file: &str, n: usize) -> Vec<serde_json::Value> {
        let path = self.dir.path().join(file);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let recs: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            if recs.len() >= n || Instant::now() > deadline {
                return recs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
