//! The durability promise under `kill -9`: OTLP clients record every id they got a 200
//! for while Lookout is killed at random moments under load (disk buffers,
//! `acknowledgements: true`), with the Elasticsearch-compatible peer going away and
//! coming back behind a proxy (osmem keeps its data in memory, so the outage is made
//! by closing the proxy's port, as a stopped server does). After the last restart every
//! acknowledged id must be in the file and in the store; duplicates are reported.
//!
//! Bounded: 10 kills of 0.4–1.2 s of paced load each, then at most 90 s to drain.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde_json::Value as Json;

use crate::util::{Lookout, free_port, start_osmem};

const PER_REQUEST: i64 = 20;
const KILLS: usize = 10;

fn request(first: i64) -> Vec<u8> {
    crate::util::logs_request(
        "crash",
        first,
        PER_REQUEST,
        |i| format!("order {i}"),
        |i| vec![("seq", Value::IntValue(i))],
    )
}

fn pipeline(ports: &Ports, dir: &Path) -> String {
    format!(
        r#"api: {{ address: 127.0.0.1:{api} }}
data_dir: {data}
sources:
  otlp:
    type: otlp
    http: {{ address: 127.0.0.1:{http} }}
    acknowledgements: true
sinks:
  archive:
    type: file
    inputs: [otlp]
    path: {out}
    buffer: {{ type: disk, max_size: 64MiB }}
  es:
    type: elasticsearch
    inputs: [otlp]
    endpoints: [http://127.0.0.1:{proxy}]
    index: crash
    id_field: attributes.seq
    buffer: {{ type: disk, max_size: 64MiB }}
    batch: {{ max_events: 500, timeout_ms: 50 }}
    request: {{ timeout_secs: 10, retry_initial_backoff_ms: 20, retry_max_backoff_secs: 0.5, retry_max_duration_secs: 600 }}
    circuit_breaker: {{ failures: 3, cooldown_secs: 1 }}
    health_check: {{ interval_secs: 0.5 }}
"#,
        api = ports.api,
        http = ports.http,
        proxy = ports.proxy,
        data = dir.join("data").display(),
        out = dir.join("out.ndjson").display(),
    )
}

struct Ports {
    api: u16,
    http: u16,
    proxy: u16,
}

/// A TCP proxy to `upstream` that can be taken down (port closed, connections cut) and
/// brought back on the same port.
struct Switch {
    port: u16,
    upstream: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Switch {
    fn up(&mut self) {
        if self.task.is_some() {
            return;
        }
        let (port, upstream) = (self.port, self.upstream.clone());
        self.task = Some(tokio::spawn(async move {
            let listener = loop {
                match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            };
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                let upstream = upstream.clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Closes the port and cuts every connection (the JoinSet dies with the task).
    fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn kill_9(lookout: &mut Lookout) {
    std::process::Command::new("kill").arg("-KILL").arg(lookout.child.id().to_string()).status().unwrap();
    let _ = lookout.child.wait();
}

/// Documents in the index.
async fn count(es: &str) -> u64 {
    let client = reqwest::Client::new();
    let _ = client.post(format!("http://{es}/crash/_refresh")).send().await;
    match client.get(format!("http://{es}/crash/_count")).send().await {
        Ok(r) => r.json::<Json>().await.ok().and_then(|j| j["count"].as_u64()).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Which of `ids` the store does not hold (`_mget`: `_id` is the record's `seq`).
async fn missing_from_store(es: &str, ids: &[i64]) -> usize {
    let client = reqwest::Client::new();
    let mut missing = 0;
    for chunk in ids.chunks(5000) {
        let body = serde_json::json!({ "ids": chunk.iter().map(|i| i.to_string()).collect::<Vec<_>>() });
        let url = format!("http://{es}/crash/_mget?_source=false");
        let Ok(resp) = client.post(url).json(&body).send().await else { return ids.len() };
        let Ok(json) = resp.json::<Json>().await else { return ids.len() };
        let docs = json["docs"].as_array().cloned().unwrap_or_default();
        missing += chunk.len() - docs.iter().filter(|d| d["found"] == true).count();
    }
    missing
}

fn file_ids(path: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let doc: Json = serde_json::from_str(l).unwrap_or_else(|e| panic!("a line that is not JSON ({e}): {l:?}"));
            doc["attributes"]["seq"].as_i64().expect("seq")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let es = start_osmem(free_port()).await;
    let ports = Ports { api: free_port(), http: free_port(), proxy: free_port() };
    let mut proxy = Switch { port: ports.proxy, upstream: es.address.clone(), task: None };
    proxy.up();
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(&ports, dir.path());
    let acked: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let next = Arc::new(AtomicI64::new(0));
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("crash harness seed {seed}");
    let mut random = move |lo: u64, hi: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        lo + (seed >> 33) % (hi - lo)
    };

    for round in 0..=KILLS {
        let mut lookout = Lookout::start_in(
            dir.path(),
            &config,
            &format!("127.0.0.1:{}", ports.api),
            &format!("127.0.0.1:{}", ports.http),
        )
        .await;
        if round == KILLS {
            // The last start: the store is back, everything must arrive.
            proxy.up();
            let mut want: Vec<i64> = acked.lock().unwrap().iter().copied().collect();
            want.sort_unstable();
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                // Cheap checks first: a full scan of the store only once it holds enough.
                if file_ids(&dir.path().join("out.ndjson")).len() < want.len()
                    || (count(&es.address).await as usize) < want.len()
                {
                    assert!(Instant::now() < deadline, "not everything arrived in time; log:\n{}", lookout.log());
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                let in_file: HashSet<i64> = file_ids(&dir.path().join("out.ndjson")).into_iter().collect();
                let missing_file = want.iter().filter(|i| !in_file.contains(i)).count();
                let missing_store = missing_from_store(&es.address, &want).await;
                if missing_file == 0 && missing_store == 0 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{missing_file} acknowledged records missing from the file, {missing_store} from the store (of {}); log:\n{}",
                    want.len(),
                    lookout.log()
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let lines = file_ids(&dir.path().join("out.ndjson"));
            let unique: HashSet<i64> = lines.iter().copied().collect();
            eprintln!(
                "crash harness: {} records acknowledged over {KILLS} kills, all delivered; file: {} lines, {} unique ({:.2}% duplicates)",
                want.len(),
                lines.len(),
                unique.len(),
                100.0 * (lines.len() - unique.len()) as f64 / lines.len().max(1) as f64
            );
            assert!(want.len() > 1000, "the harness acknowledged too little to mean anything");
            lookout.stop().await;
            return;
        }
        // The store goes away for a few rounds in the middle.
        match round {
            3 => proxy.down(),
            6 => proxy.up(),
            _ => {}
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for _ in 0..2 {
            let (acked, next, stop, url) =
                (acked.clone(), next.clone(), stop.clone(), format!("http://127.0.0.1:{}/v1/logs", ports.http));
            clients.push(tokio::spawn(async move {
                let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let first = next.fetch_add(PER_REQUEST, Ordering::Relaxed);
                    let sent = client
                        .post(&url)
                        .header("content-type", "application/x-protobuf")
                        .body(request(first))
                        .send()
                        .await;
                    if matches!(&sent, Ok(r) if r.status() == 200) {
                        acked.lock().unwrap().extend(first..first + PER_REQUEST);
                    }
                    // Paced: the store under test (osmem) indexes ~2,000 documents/s here.
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(random(400, 1200))).await;
        kill_9(&mut lookout);
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            let _ = c.await;
        }
    }
}
