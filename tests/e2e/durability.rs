//! What was acknowledged arrives: SIGTERM with a dead store then a restart with the
//! store back, a full disk under a disk buffer, and dead letters replayed once their
//! cause is fixed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde_json::Value as Json;

use crate::util::{Lookout, free_port, lookout_bin, read_ndjson, start_osmem};

fn request(first: i64, n: i64, count: impl Fn(i64) -> Value) -> Vec<u8> {
    let body = |i| format!("order {i} {}", "x".repeat(200));
    crate::util::logs_request("shop", first, n, body, |i| vec![("seq", Value::IntValue(i)), ("count", count(i))])
}

fn es_pipeline(api: u16, http: u16, es: u16, dir: &Path, extra_sink_keys: &str, acks: bool) -> String {
    format!(
        r#"api: {{ address: 127.0.0.1:{api} }}
data_dir: {data}
sources:
  otlp:
    type: otlp
    http: {{ address: 127.0.0.1:{http} }}
    acknowledgements: {acks}
    ack_timeout_secs: 5
    pipeline_wait_ms: 200
sinks:
  es:
    type: elasticsearch
    inputs: [otlp]
    endpoints: [http://127.0.0.1:{es}]
    index: logs
    id_field: attributes.seq
    dead_letter: {dead}
    batch: {{ max_events: 200, timeout_ms: 50 }}
    request: {{ timeout_secs: 2, retry_initial_backoff_ms: 20, retry_max_backoff_secs: 0.5, retry_max_duration_secs: 600 }}
    circuit_breaker: {{ failures: 3, cooldown_secs: 1 }}
    health_check: {{ interval_secs: 0.5 }}
{extra_sink_keys}
"#,
        data = dir.join("data").display(),
        dead = dir.join("dead.ndjson").display(),
    )
}

/// The status of one OTLP/HTTP POST, 0 if it got none. A refused connection is tried
/// again for a few seconds (and reported): a listener that is really gone still fails.
async fn post(http: u16, body: Vec<u8>) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sent = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{http}/v1/logs"))
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(r) => return r.status().as_u16(),
            Err(e) if e.is_connect() && Instant::now() < deadline => {
                eprintln!("POST refused, trying again: {e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                eprintln!("POST failed: {e:?}");
                return 0;
            }
        }
    }
}

async fn count(es: &str, index: &str) -> u64 {
    let _ = reqwest::Client::new().post(format!("http://{es}/{index}/_refresh")).send().await;
    match reqwest::get(format!("http://{es}/{index}/_count")).await {
        Ok(r) if r.status().is_success() => r.json::<Json>().await.unwrap()["count"].as_u64().unwrap_or(0),
        _ => 0,
    }
}

async fn wait_count(es: &str, index: &str, expected: u64, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = count(es, index).await;
        if n >= expected {
            assert_eq!(n, expected, "more documents than records: id_field should make them unique");
            return;
        }
        assert!(Instant::now() < deadline, "{n} of {expected} documents in {index}; log:\n{}", log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn sigterm_with_a_dead_store_then_a_restart_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (api, http, es_port) = (free_port(), free_port(), free_port());
    // The store is down (nothing listens on its port); no acknowledgements: a 200 means
    // "in the disk buffer", which must survive the shutdown.
    let config = es_pipeline(api, http, es_port, dir.path(), "    buffer: { type: disk, max_size: 64MiB }", false);
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(&path, &config).unwrap();
    let log = dir.path().join("first.log");
    let mut child = Command::new(lookout_bin())
        .args(["run", "--shutdown-timeout", "3", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let ready = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("http://127.0.0.1:{api}/health/ready")).await.map(|r| r.status() != 200).unwrap_or(true)
    {
        let exited = child.try_wait().unwrap();
        assert!(
            Instant::now() < ready && exited.is_none(),
            "not ready (exited: {exited:?}); log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_log = || std::fs::read_to_string(&log).unwrap_or_default();
    for k in 0..20 {
        let status = post(http, request(k * 100, 100, Value::IntValue)).await;
        assert_eq!(status, 200, "request {k}; exited: {:?}; log:\n{}", child.try_wait(), first_log());
    }
    let stopped = Instant::now();
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(stopped.elapsed() < Duration::from_secs(15), "did not exit by its deadline");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !std::fs::read_to_string(dir.path().join("dead.ndjson")).unwrap_or_default().contains("order"),
        "an outage is not dead-lettered"
    );

    // The store comes back on the same port; the restart sends everything.
    let es = start_osmem(es_port).await;
    let lookout =
        Lookout::start_in(dir.path(), &config, &format!("127.0.0.1:{api}"), &format!("127.0.0.1:{http}")).await;
    wait_count(&es.address, "logs", 2000, || lookout.log()).await;
}

#[tokio::test]
async fn dead_letters_replay_once_the_cause_is_fixed() {
    let es = start_osmem(free_port()).await;
    let es_port: u16 = es.address.rsplit(':').next().unwrap().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (api, http) = (free_port(), free_port());
    // Dynamic mapping (no index template: its `ignore_malformed` would keep the records).
    let config = es_pipeline(api, http, es_port, dir.path(), "    manage_templates: false", true);
    let lookout =
        Lookout::start_in(dir.path(), &config, &format!("127.0.0.1:{api}"), &format!("127.0.0.1:{http}")).await;
    // `count` becomes a long; then strings are a mapping conflict: dead letters.
    assert_eq!(post(http, request(0, 10, Value::IntValue)).await, 200, "log:\n{}", lookout.log());
    wait_count(&es.address, "logs", 10, || lookout.log()).await;
    assert_eq!(
        post(http, request(100, 5, |i| Value::StringValue(format!("many-{i}")))).await,
        200,
        "refused for good is not retryable: answered 200"
    );
    let dead_path = dir.path().join("dead.ndjson");
    let deadline = Instant::now() + Duration::from_secs(20);
    while read_ndjson(&dead_path).len() < 5 {
        assert!(Instant::now() < deadline, "no dead letters; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(lookout);

    // The fix: another index, where `count` is free to be a string.
    let fixed = config.replace("index: logs", "index: logs-fixed");
    let fixed_path = dir.path().join("fixed.yaml");
    std::fs::write(&fixed_path, fixed).unwrap();
    let out = Command::new(lookout_bin())
        .args(["replay", "dead-letter"])
        .arg(&dead_path)
        .args(["--sink", "es", "--config"])
        .arg(&fixed_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("5 log records sent to sink `es`: 5 delivered"), "{stdout}");
    assert_eq!(count(&es.address, "logs-fixed").await, 5);
    let doc: Json =
        reqwest::get(format!("http://{}/logs-fixed/_doc/102", es.address)).await.unwrap().json().await.unwrap();
    assert_eq!(doc["_source"]["attributes"]["count"], "many-102", "{doc}");
    assert!(doc["_source"]["body"].as_str().unwrap().starts_with("order 102"), "{doc}");
}

/// A full disk under a disk buffer is backpressure (503), never a crash, and nothing
/// acknowledged is lost. Needs a small file system: a tmpfs, mounted by the test
/// (root, as in CI); elsewhere the test says why it cannot run.
#[tokio::test]
async fn a_full_disk_is_backpressure_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"]).arg(&small).status();
    if !matches!(mounted, Ok(s) if s.success()) {
        eprintln!("SKIPPED: cannot mount a 3 MiB tmpfs here (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(small.clone());
    let (api, http, es_port) = (free_port(), free_port(), free_port());
    // The buffer may grow to 64 MiB but the file system holds 3: the disk fills first.
    let config = es_pipeline(api, http, es_port, &small, "    buffer: { type: disk, max_size: 64MiB }", true);
    let lookout = Lookout::start_in(&small, &config, &format!("127.0.0.1:{api}"), &format!("127.0.0.1:{http}")).await;
    let mut acked = 0;
    let mut refused = 0;
    for k in 0..1000 {
        match post(http, request(k * 50, 50, Value::IntValue)).await {
            200 => acked += 50,
            503 => refused += 1,
            other => panic!("unexpected status {other}; log:\n{}", lookout.log()),
        }
        if refused >= 3 {
            break;
        }
    }
    assert!(refused >= 3, "the disk never filled ({acked} records acknowledged)");
    assert!(acked > 0);
    let health = reqwest::get(format!("http://127.0.0.1:{api}/health")).await.unwrap();
    assert!(health.status().is_success() || health.status() == 503, "the API still answers");
    // The store comes up: what was acknowledged arrives, and room returns.
    let es = start_osmem(es_port).await;
    wait_count(&es.address, "logs", acked as u64, || lookout.log()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while post(http, request(1_000_000, 10, Value::IntValue)).await != 200 {
        assert!(Instant::now() < deadline, "room never came back; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client that sends half a header must not hold the process: once it has waited for
/// a whole header for too long it is cut off, and SIGTERM closes it at once.
#[tokio::test]
async fn sigterm_with_half_open_connections_exits_promptly() {
    use tokio::io::AsyncWriteExt;
    let mut lookout = Lookout::start().await;
    let mut held = Vec::new();
    for address in [&lookout.api, &lookout.http, &lookout.grpc] {
        let mut s = tokio::net::TcpStream::connect(address.as_str()).await.unwrap();
        s.write_all(b"POST /v1/logs HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        held.push(s);
    }
    // An idle connection that never sent a byte, too.
    held.push(tokio::net::TcpStream::connect(lookout.api.as_str()).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let status = lookout.stop().await;
    assert!(status.success(), "clean exit; log:\n{}", lookout.log());
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    drop(held);
}
