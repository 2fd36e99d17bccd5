use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use prost::Message;

use super::prompb::WriteRequest;
use super::*;
use crate::Labels;
use crate::promql::Value;

fn l(name: &str, job: &str) -> Labels {
    Labels::new([("__name__".to_string(), name.to_string()), ("job".to_string(), job.to_string())])
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[derive(Default)]
struct Received {
    requests: Vec<(HeaderMap, WriteRequest)>,
    failures_left: usize,
}

/// A remote-write receiver written from the remote-write 1.0 spec: snappy block
/// compression, protobuf `WriteRequest`, the three mandatory headers.
async fn receiver(state: Arc<Mutex<Received>>) -> String {
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let mut s = state.lock().unwrap();
                if s.failures_left > 0 {
                    s.failures_left -= 1;
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let raw = snap::raw::Decoder::new().decompress_vec(&body).expect("snappy block format");
                let req = WriteRequest::decode(raw.as_slice()).expect("protobuf WriteRequest");
                s.requests.push((headers, req));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api/v1/write")
}

#[tokio::test]
async fn remote_write_batches_retries_and_bounds_the_queue() {
    let state = Arc::new(Mutex::new(Received { failures_left: 2, ..Default::default() }));
    let url = receiver(state.clone()).await;
    let mut config = RemoteWriterConfig::new(url);
    config.max_samples_per_send = 3;
    config.max_pending_samples = 5;
    config.flush_interval = Duration::from_millis(20);
    config.min_backoff = Duration::from_millis(10);
    let (writer, task) = RemoteWriter::start(config).unwrap();
    for i in 0..4 {
        assert!(writer.push(&l("up", "api"), 1000 + i, i as f64));
    }
    assert!(writer.push(&l("up", "db"), 1000, 1.0));
    // The queue holds 5: the sixth is dropped, unless the task already took a batch.
    let before = writer.stats().pending_samples;
    let accepted = writer.push(&l("up", "db"), 2000, 2.0);
    assert_eq!(accepted, before < 5);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let expected = if accepted { 6 } else { 5 };
    while writer.stats().sent_samples < expected {
        assert!(tokio::time::Instant::now() < deadline, "not delivered: {:?}", writer.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    writer.close();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    let stats = writer.stats();
    assert_eq!(stats.retries, 2, "two 503s retried: {stats:?}");
    assert_eq!(stats.dropped_samples, u64::from(!accepted));
    let s = state.lock().unwrap();
    let (headers, first) = &s.requests[0];
    assert_eq!(headers["content-encoding"], "snappy");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
    assert!(headers["user-agent"].to_str().unwrap().starts_with("Lookout/"), "{headers:?}");
    assert_eq!(first.timeseries.len(), 1, "first batch: 3 samples of one series");
    let ts = &first.timeseries[0];
    assert_eq!(
        ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect::<Vec<_>>(),
        [("__name__", "up"), ("job", "api")]
    );
    assert_eq!(
        ts.samples.iter().map(|s| (s.timestamp, s.value)).collect::<Vec<_>>(),
        [(1000, 0.0), (1001, 1.0), (1002, 2.0)]
    );
    let total: usize = s.requests.iter().flat_map(|(_, r)| &r.timeseries).map(|t| t.samples.len()).sum();
    assert_eq!(total as u64, expected);
}

#[test]
fn one_series_per_label_set_sorted_samples_exemplars_and_metadata() {
    let mut b = WriteRequestBuilder::new();
    b.sample(&l("up", "api"), 3000, 3.0);
    b.sample(&l("up", "db"), 1000, 9.0);
    b.sample(&l("up", "api"), 1000, 1.0);
    b.sample(&l("up", "api"), 2000, 2.0);
    // The same millisecond twice: the later-pushed value is kept (a receiver would
    // refuse the request for a duplicate).
    b.sample(&l("up", "api"), 2000, 2.5);
    b.exemplar(&l("up", "api"), &[("trace_id".into(), "ab".into())], 2500, 0.5);
    let meta = crate::otlp::Metadata {
        family: "up".into(),
        metric_type: crate::otlp::MetricType::Gauge,
        help: "is it up".into(),
        unit: String::new(),
    };
    b.metadata(&meta);
    b.metadata(&meta);
    assert_eq!(b.samples(), 5);
    let req = decompress(&b.encode()).unwrap();
    assert_eq!(req.timeseries.len(), 2, "one series per label set");
    let api = &req.timeseries[0];
    assert_eq!(
        api.samples.iter().map(|s| (s.timestamp, s.value)).collect::<Vec<_>>(),
        [(1000, 1.0), (2000, 2.5), (3000, 3.0)]
    );
    assert_eq!(api.exemplars.len(), 1);
    assert_eq!((api.exemplars[0].labels[0].name.as_str(), api.exemplars[0].timestamp), ("trace_id", 2500));
    assert_eq!(req.metadata.len(), 1, "once per family");
    assert_eq!(req.metadata[0].r#type, prompb::MetricType::Gauge as i32);
    assert_eq!(req.metadata[0].help, "is it up");
    assert!(decompress(b"not snappy").is_err());
}

#[tokio::test]
async fn remote_write_drops_refused_batches() {
    let app = axum::Router::new()
        .route("/w", axum::routing::post(|| async { (StatusCode::BAD_REQUEST, "out of order sample") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = RemoteWriterConfig::new(format!("http://{addr}/w"));
    config.flush_interval = Duration::from_millis(10);
    let (writer, task) = RemoteWriter::start(config).unwrap();
    writer.push(&l("up", "api"), 1, 1.0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while writer.stats().failed_samples == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(writer.stats().retries, 0, "a 400 is not retried");
    writer.close();
    task.await.unwrap();
}

struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Debian's `prometheus`, with the remote-write receiver on; None when not installed.
async fn start_prometheus() -> Option<Prometheus> {
    if Command::new("prometheus").arg("--version").output().is_err() {
        eprintln!("SKIPPED: `prometheus` is not installed (scripts/test.sh installs it)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let url = format!("http://127.0.0.1:{port}");
    let p = Prometheus { child, url, _dir: dir };
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{}/-/ready", p.url)).send().await
            && r.status().is_success()
        {
            return Some(p);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("prometheus did not become ready");
}

#[tokio::test]
async fn remote_write_then_query_against_real_prometheus() {
    let Some(prom) = start_prometheus().await else { return };
    let (writer, task) = RemoteWriter::start(RemoteWriterConfig::new(format!("{}/api/v1/write", prom.url))).unwrap();
    let t0 = now_ms() - 60_000;
    let local = crate::Store::new(crate::StoreConfig::default());
    for i in 0..5 {
        for (job, v) in [("api", (i * 10) as f64), ("db", i as f64 * 1.5 + (i % 2) as f64)] {
            writer.push(&l("lookout_test_total", job), t0 + i * 15_000, v);
            local.append(&l("lookout_test_total", job), t0 + i * 15_000, v).unwrap();
        }
    }
    writer.close();
    task.await.unwrap();
    assert_eq!(writer.stats().sent_samples, 10, "{:?}", writer.stats());

    let client = QueryClient::new(QueryClientConfig::new(&prom.url)).unwrap();
    let at = t0 + 60_000;
    let Value::Vector(v) = client.query("lookout_test_total", at).await.unwrap() else { panic!("vector") };
    assert_eq!(v, vec![(l("lookout_test_total", "api"), 40.0), (l("lookout_test_total", "db"), 6.0)]);
    // The same data in the embedded store gives what Prometheus gives.
    for q in [
        "sum(increase(lookout_test_total[2m]))",
        "rate(lookout_test_total[1m])",
        "resets(lookout_test_total[2m])",
        "irate(lookout_test_total[2m]) > 0.5",
        "max_over_time(lookout_test_total[30s] offset 15s)",
        "sum by (job) (lookout_test_total) / ignoring(job) group_left sum(lookout_test_total)",
    ] {
        let remote = client.query(q, at).await.unwrap();
        // Debian's Prometheus is 2.x: closed windows.
        let embedded = crate::promql::EvalOptions::prometheus2().instant_query(&local, q, at).unwrap();
        let (Value::Vector(mut r), Value::Vector(mut e)) = (remote, embedded) else { panic!("vectors for {q}") };
        r.sort_by(|a, b| a.0.cmp(&b.0));
        e.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(r.len(), e.len(), "{q}: {r:?} vs {e:?}");
        for ((rl, rv), (el, ev)) in r.iter().zip(&e) {
            assert_eq!(rl, el, "{q}");
            assert!((rv - ev).abs() < 1e-9, "{q}: prometheus {rv}, embedded {ev}");
        }
    }
    assert_eq!(client.query("1 + 2", at).await.unwrap(), Value::Scalar(3.0));
    let Value::Matrix(m) = client.query("lookout_test_total{job=\"db\"}[2m]", at).await.unwrap() else {
        panic!("matrix")
    };
    assert_eq!(m[0].1.iter().map(|s| s.v).collect::<Vec<_>>(), [0.0, 2.5, 3.0, 5.5, 6.0]);
    let err = client.query("sum(", at).await.unwrap_err().to_string();
    assert!(err.starts_with("bad_data: "), "{err}");
}

#[tokio::test]
async fn query_errors_name_the_endpoint() {
    let client = QueryClient::new(QueryClientConfig::new(format!("http://127.0.0.1:{}", free_port()))).unwrap();
    let err = client.query("up", 0).await.unwrap_err().to_string();
    assert!(err.starts_with("query http://127.0.0.1:"), "{err}");
}

#[tokio::test]
async fn remote_write_reads_the_bearer_token_file_for_each_request() {
    let state = Arc::new(Mutex::new(Received::default()));
    let url = receiver(state.clone()).await;
    let file = std::env::temp_dir().join(format!("lookout-rw-token-{}", std::process::id()));
    std::fs::write(&file, "PlantedRwToken1\n").unwrap();
    let mut config = RemoteWriterConfig::new(url);
    config.bearer_token_file = Some(file.clone());
    config.flush_interval = Duration::from_millis(10);
    assert!(!format!("{config:?}").contains("PlantedRwToken"));
    let (writer, task) = RemoteWriter::start(config).unwrap();
    assert!(writer.push(&l("up", "api"), 1000, 1.0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while writer.stats().sent_samples < 1 {
        assert!(tokio::time::Instant::now() < deadline, "not delivered: {:?}", writer.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A rotated token is picked up by the next request.
    std::fs::write(&file, "PlantedRwToken2\n").unwrap();
    assert!(writer.push(&l("up", "api"), 2000, 2.0));
    while writer.stats().sent_samples < 2 {
        assert!(tokio::time::Instant::now() < deadline, "not delivered: {:?}", writer.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    writer.close();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    std::fs::remove_file(&file).unwrap();
    let s = state.lock().unwrap();
    assert_eq!(s.requests[0].0["authorization"], "Bearer PlantedRwToken1");
    assert_eq!(s.requests.last().unwrap().0["authorization"], "Bearer PlantedRwToken2");
}
