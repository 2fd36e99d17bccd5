//! What the NATS scale-out tests share: Debian's `nats-server` as one JetStream server or
//! a cluster of them on 127.0.0.1 ports, the two tiers' pipelines (ingest: otlp → `nats`
//! sink; processing: `nats` source → file), and paced OTLP load whose records carry a
//! `seq` attribute, remembered once an ingest worker answered 200.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde_json::Value as Json;

use crate::util::{Lookout, free_port};

/// Records per OTLP request of the load.
pub const PER_REQUEST: i64 = 20;

/// One `nats-server -js` process (killed when dropped).
pub struct NatsServer {
    child: Child,
    /// Client port on 127.0.0.1.
    pub port: u16,
    /// HTTP monitoring port (`/jsz`).
    pub monitor: u16,
    /// `server_name`.
    pub name: String,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn kill9(&mut self) {
        Command::new("kill").arg("-KILL").arg(self.child.id().to_string()).status().unwrap();
        let _ = self.child.wait();
    }

    /// The server's log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's nats-server, if installed (scripts/test.sh installs it).
fn nats_server_bin() -> Option<&'static str> {
    ["nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok())
}

/// Starts a server from the config `conf(store_dir)` and waits until it accepts clients.
async fn spawn(bin: &str, name: String, port: u16, monitor: u16, conf: impl FnOnce(&Path) -> String) -> NatsServer {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nats.conf");
    std::fs::write(&file, conf(&dir.path().join("js"))).unwrap();
    let child = Command::new(bin)
        .arg("-c")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.path().join("nats.log")).unwrap()))
        .spawn()
        .expect("spawn nats-server");
    let server = NatsServer { child, port, monitor, name, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen within 10 s:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
}

/// One JetStream server in a temp dir, once it accepts connections; `None` (say why)
/// when nats-server is not installed.
pub async fn start_nats() -> Option<NatsServer> {
    let Some(bin) = nats_server_bin() else {
        eprintln!("SKIPPED: nats-server is not installed (scripts/test.sh installs it)");
        return None;
    };
    let (port, monitor) = (free_port(), free_port());
    let conf = |store: &Path| {
        format!("listen: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitor}\njetstream {{ store_dir: {store:?} }}\n")
    };
    Some(spawn(bin, "n0".into(), port, monitor, conf).await)
}

/// The ports one server of a cluster listens on, and every server's route URL.
pub struct ClusterPorts {
    /// `n0`, `n1`, …
    pub name: String,
    /// Clients.
    pub client: u16,
    /// HTTP monitoring.
    pub monitor: u16,
    /// Routes from the other servers.
    pub route: u16,
    /// `nats-route://127.0.0.1:PORT` of every server, this one included.
    pub routes: Vec<String>,
}

/// `size` JetStream servers routed to each other as one cluster, once they elected a
/// JetStream meta leader (so streams with replicas can be created).
pub async fn start_cluster(size: usize) -> Option<Vec<NatsServer>> {
    start_cluster_with(size, |p, store| {
        format!(
            "server_name: {}\nlisten: 127.0.0.1:{}\nhttp: 127.0.0.1:{}\njetstream {{ store_dir: {store:?} }}\n\
             cluster {{ name: lookout, listen: 127.0.0.1:{}, routes: [{}] }}\n",
            p.name,
            p.client,
            p.monitor,
            p.route,
            p.routes.join(", ")
        )
    })
    .await
}

/// As [`start_cluster`], each server's config file `conf(ports, store_dir)`.
pub async fn start_cluster_with(size: usize, conf: impl Fn(&ClusterPorts, &Path) -> String) -> Option<Vec<NatsServer>> {
    let Some(bin) = nats_server_bin() else {
        eprintln!("SKIPPED: nats-server is not installed (scripts/test.sh installs it)");
        return None;
    };
    let route_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
    let routes: Vec<String> = route_ports.iter().map(|p| format!("nats-route://127.0.0.1:{p}")).collect();
    let mut nodes = Vec::new();
    for (i, route) in route_ports.iter().enumerate() {
        let ports = ClusterPorts {
            name: format!("n{i}"),
            client: free_port(),
            monitor: free_port(),
            route: *route,
            routes: routes.clone(),
        };
        nodes.push(spawn(bin, ports.name.clone(), ports.client, ports.monitor, |store| conf(&ports, store)).await);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let jsz = jsz(&nodes[0], "").await;
        if jsz["meta_cluster"]["leader"].as_str().is_some_and(|l| !l.is_empty())
            && jsz["meta_cluster"]["cluster_size"].as_u64() == Some(size as u64)
        {
            return Some(nodes);
        }
        assert!(Instant::now() < deadline, "no JetStream meta leader within 20 s; n0 log:\n{}", nodes[0].log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The monitoring endpoint `/jsz?QUERY` of `node` (JSON null when it does not answer).
pub async fn jsz(node: &NatsServer, query: &str) -> Json {
    let url = format!("http://127.0.0.1:{}/jsz?{query}", node.monitor);
    match reqwest::get(&url).await {
        Ok(r) => r.json().await.unwrap_or(Json::Null),
        Err(_) => Json::Null,
    }
}

/// The stream's leader and its replica count, as `node` reports them.
pub async fn stream_leader(node: &NatsServer, stream: &str) -> Option<(String, usize)> {
    let jsz = jsz(node, "accounts=true&streams=true").await;
    let accounts = jsz["account_details"].as_array()?;
    let detail = accounts
        .iter()
        .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
        .find(|s| s["name"] == stream)?;
    let leader = detail["cluster"]["leader"].as_str()?.to_string();
    let replicas = detail["cluster"]["replicas"].as_array().map_or(0, Vec::len) + 1;
    Some((leader, replicas))
}

/// An ingest worker: OTLP/HTTP with acknowledgements → the `nats` sink (stream
/// `TELEMETRY`, work-queue retention, `replicas` servers per message).
pub fn ingest_pipeline(dir: &Path, api: u16, http: u16, urls: &str, replicas: usize) -> String {
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
    url: {urls}
    stream: TELEMETRY
    subject: "telemetry.{{tenant}}"
    retention: workqueue
    stream_max_bytes: 256MiB
    stream_replicas: {replicas}
"#,
        data = dir.join("data").display(),
    )
}

/// A processing worker: the shared `processors` consumer (2 s ack wait) → a file sink
/// at `dir/out.ndjson`, acking after the file has the records.
pub fn worker_pipeline(dir: &Path, api: u16, urls: &str) -> String {
    format!(
        r#"api: {{ address: 127.0.0.1:{api} }}
data_dir: {data}
sources:
  bus:
    type: nats
    url: {urls}
    stream: TELEMETRY
    consumer: processors
    ack_wait_secs: 2
    max_in_flight: 32
    acknowledgements: true
    lag_interval_secs: 0.5
sinks:
  archive:
    type: file
    inputs: [bus]
    path: {out}
"#,
        data = dir.join("data").display(),
        out = out_file(dir).display(),
    )
}

/// Where [`worker_pipeline`] writes.
pub fn out_file(dir: &Path) -> PathBuf {
    dir.join("out.ndjson")
}

/// Starts Lookout on `config` in `dir`, once `/health/ready` answers on port `api`.
pub async fn start(dir: &Path, config: &str, api: u16) -> Lookout {
    Lookout::start_in(dir, config, &format!("127.0.0.1:{api}"), "").await
}

/// The `seq` attribute of every record in a file sink's output (a last line still being
/// written, without its newline, is left for the next read).
pub fn file_seqs(path: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| {
            let doc: Json = serde_json::from_str(l).unwrap_or_else(|e| panic!("a line that is not JSON ({e}): {l:?}"));
            doc["attributes"]["seq"].as_i64().expect("seq")
        })
        .collect()
}

/// How often each seq was delivered, over all the outputs given.
fn delivery_counts(outputs: impl IntoIterator<Item = i64>) -> HashMap<i64, u32> {
    let mut counts: HashMap<i64, u32> = HashMap::new();
    for s in outputs {
        *counts.entry(s).or_default() += 1;
    }
    counts
}

/// Paced OTLP/HTTP clients, each on its own seq range, remembering every seq an ingest
/// worker answered 200 for.
pub struct Load {
    acked: Arc<Mutex<Vec<i64>>>,
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `clients` clients; client `i` sends to `targets[i % targets.len()]` (`host:port`).
    pub fn start(targets: &[String], clients: usize) -> Load {
        let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|id| {
                let (acked, stop) = (acked.clone(), stop.clone());
                let url = format!("http://{}/v1/logs", targets[id % targets.len()]);
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let mut first = id as i64 * 1_000_000_000;
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
                })
            })
            .collect();
        Load { acked, stop, clients }
    }

    /// How many records were acknowledged so far.
    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Stops the clients (each finishes its request in flight) and returns every
    /// acknowledged seq.
    pub async fn stop(self) -> Vec<i64> {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            c.await.unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}

/// `kill -9` of a Lookout, waiting until it is gone.
pub fn kill9(lookout: &mut Lookout) {
    Command::new("kill").arg("-KILL").arg(lookout.child.id().to_string()).status().unwrap();
    let _ = lookout.child.wait();
}

/// Waits until both processing workers (their dirs) wrote something, at most 15 s.
pub async fn wait_until_both_wrote(a: &Path, b: &Path, b_log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while file_seqs(&out_file(a)).is_empty() || file_seqs(&out_file(b)).is_empty() {
        assert!(Instant::now() < deadline, "both workers should receive messages; B log:\n{}", b_log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (at most `within`) until every seq of `want` is in the surviving worker's file
/// (dir `survivor`) or among `killed`'s (what the killed worker had written); panics with
/// the missing ones and `log()` otherwise. Returns how often each seq was delivered.
pub async fn assert_all_delivered(
    want: &[i64],
    survivor: &Path,
    killed: &[i64],
    within: Duration,
    log: impl Fn() -> String,
) -> HashMap<i64, u32> {
    let deadline = Instant::now() + within;
    loop {
        let counts = delivery_counts(file_seqs(&out_file(survivor)).into_iter().chain(killed.iter().copied()));
        let missing: Vec<i64> = want.iter().copied().filter(|s| !counts.contains_key(s)).collect();
        if missing.is_empty() {
            return counts;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged records are in neither file (first: {:?}); surviving worker's log:\n{}",
            missing.len(),
            want.len(),
            &missing[..missing.len().min(10)],
            log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Deliveries beyond the first, over all seqs.
pub fn duplicates(counts: &HashMap<i64, u32>) -> u32 {
    counts.values().map(|c| c - 1).sum()
}
