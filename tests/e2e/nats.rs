//! Scaling out over NATS JetStream with a real `nats-server -js`: one ingest Lookout
//! (otlp → `nats` sink) and two processing Lookouts (`nats` source on one shared durable
//! consumer → file sink). Under OTLP load one processing worker is killed with
//! `kill -9`; every record the ingest side acknowledged (HTTP 200, which with
//! `acknowledgements: true` means JetStream stored it) must be in the union of the two
//! files. Redeliveries of what the killed worker wrote but never acked are duplicates,
//! counted and reported. Bounded: about 4 s of load, then at most 25 s to drain.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde_json::Value as Json;

use crate::util::{Lookout, free_port};

const PER_REQUEST: i64 = 20;

struct NatsServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's nats-server with JetStream in a temp dir, once it accepts connections.
async fn start_nats() -> Option<NatsServer> {
    let bin = ["nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok())?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.path().join("nats.log")).unwrap()))
        .spawn()
        .expect("spawn nats-server");
    let server = NatsServer { child, port, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(server)
}

fn ingest_pipeline(dir: &Path, api: u16, http: u16, nats: u16) -> String {
    format!(
        r#"api: {{ address: 127.0.0.1:{api} }}
data_dir: {data}
sources:
  otlp:
    type: otlp
    http: {{ address: 127.0.0.1:{http} }}
    acknowledgements: true
sinks:
  bus:
    type: nats
    inputs: [otlp]
    url: nats://127.0.0.1:{nats}
    stream: TELEMETRY
    subject: "telemetry.{{tenant}}"
    retention: workqueue
    stream_max_bytes: 256MiB
"#,
        data = dir.join("data").display(),
    )
}

fn worker_pipeline(dir: &Path, api: u16, nats: u16) -> String {
    format!(
        r#"api: {{ address: 127.0.0.1:{api} }}
data_dir: {data}
sources:
  bus:
    type: nats
    url: nats://127.0.0.1:{nats}
    stream: TELEMETRY
    consumer: processors
    ack_wait_secs: 2
    max_in_flight: 32
    acknowledgements: true
sinks:
  archive:
    type: file
    inputs: [bus]
    path: {out}
"#,
        data = dir.join("data").display(),
        out = dir.join("out.ndjson").display(),
    )
}

async fn start(dir: &Path, config: &str, api: u16) -> Lookout {
    Lookout::start_in(dir, config, &format!("127.0.0.1:{api}"), "").await
}

fn file_seqs(path: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let doc: Json = serde_json::from_str(l).unwrap_or_else(|e| panic!("a line that is not JSON ({e}): {l:?}"));
            doc["attributes"]["seq"].as_i64().expect("seq")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_share_a_consumer_and_a_kill_9_loses_nothing_acknowledged() {
    let Some(nats) = start_nats().await else {
        eprintln!("SKIPPED: nats-server is not installed (scripts/test.sh installs it)");
        return;
    };
    let (ingest_dir, a_dir, b_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ingest_api, http) = (free_port(), free_port());
    let ingest =
        start(ingest_dir.path(), &ingest_pipeline(ingest_dir.path(), ingest_api, http, nats.port), ingest_api).await;
    let (a_api, b_api) = (free_port(), free_port());
    let worker_a = start(a_dir.path(), &worker_pipeline(a_dir.path(), a_api, nats.port), a_api).await;
    let mut worker_b = start(b_dir.path(), &worker_pipeline(b_dir.path(), b_api, nats.port), b_api).await;

    // Two clients send paced requests and record every seq they got a 200 for.
    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client_id in 0..2i64 {
        let (acked, stop) = (acked.clone(), stop.clone());
        let url = format!("http://127.0.0.1:{http}/v1/logs");
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut first = client_id * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                let body = crate::util::logs_request(
                    "bus",
                    first,
                    PER_REQUEST,
                    |i| format!("order {i}"),
                    |i| vec![("seq", Value::IntValue(i))],
                );
                let sent = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status() == 200) {
                    acked.lock().unwrap().extend(first..first + PER_REQUEST);
                }
                first += PER_REQUEST;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    // Both workers must get a share before one is killed.
    let deadline = Instant::now() + Duration::from_secs(15);
    while file_seqs(&a_dir.path().join("out.ndjson")).is_empty()
        || file_seqs(&b_dir.path().join("out.ndjson")).is_empty()
    {
        assert!(Instant::now() < deadline, "both workers should receive messages; B log:\n{}", worker_b.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    std::process::Command::new("kill").arg("-KILL").arg(worker_b.child.id().to_string()).status().unwrap();
    let _ = worker_b.child.wait();
    let b_seqs = file_seqs(&b_dir.path().join("out.ndjson"));
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let want = acked.lock().unwrap().clone();
    assert!(want.len() > 1000, "the load should get well over 1000 records acknowledged, got {}", want.len());

    let deadline = Instant::now() + Duration::from_secs(25);
    let (missing, counts) = loop {
        let mut counts: HashMap<i64, u32> = HashMap::new();
        for s in file_seqs(&a_dir.path().join("out.ndjson")).into_iter().chain(b_seqs.iter().copied()) {
            *counts.entry(s).or_default() += 1;
        }
        let missing: Vec<i64> = want.iter().copied().filter(|s| !counts.contains_key(s)).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break (missing, counts);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged records are in neither file (first: {:?}); worker A log:\n{}",
        missing.len(),
        want.len(),
        &missing[..missing.len().min(10)],
        worker_a.log()
    );
    let duplicates: u32 = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "nats e2e: {} records acknowledged, worker B wrote {} before kill -9, duplicates (redelivered) {}",
        want.len(),
        b_seqs.len(),
        duplicates
    );
    drop(ingest);
}
