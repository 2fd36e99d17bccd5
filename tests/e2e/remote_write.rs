//! The `prometheus_remote_write` sink against Debian's Prometheus (remote-write
//! receiver and exemplar storage on) and VictoriaMetrics: what the OpenTelemetry Python
//! SDK sends with delta temporality and exponential histograms arrives as exact
//! cumulative series and classic buckets, exemplars included (Prometheus); Prometheus
//! down across a Lookout restart loses nothing (disk buffer); a 400 (out-of-order
//! sample) is dead-lettered at once, not retried.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::{Lookout, free_port, lookout_bin, python};

/// A remote-write receiver with a Prometheus query API, running in a temp dir.
struct Peer {
    _child: Killed,
    url: String,
    _dir: tempfile::TempDir,
    /// Where to ask for received samples to become searchable (VictoriaMetrics buffers
    /// them for seconds otherwise).
    flush: Option<&'static str>,
}

/// A child process killed when dropped, so a failed assertion leaves nothing running.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Peer {
    /// Debian's Prometheus on `port`, remote-write receiver and exemplar storage on.
    async fn prometheus(port: u16) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("prometheus.yml"), "global:\n  scrape_interval: 1m\n").unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus (scripts/test.sh installs it)");
        Peer::ready(child, port, dir, "/-/ready").await
    }

    /// Debian's VictoriaMetrics on `port`; queries see samples at once (no latency
    /// offset, no cache).
    async fn victoria_metrics(port: u16) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", dir.path().join("data").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start victoria-metrics (scripts/test.sh installs it)");
        Peer { flush: Some("/internal/force_flush"), ..Peer::ready(child, port, dir, "/health").await }
    }

    async fn ready(child: Child, port: u16, dir: tempfile::TempDir, path: &str) -> Peer {
        let p = Peer { _child: Killed(child), url: format!("http://127.0.0.1:{port}"), _dir: dir, flush: None };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::get(format!("{}{path}", p.url)).await.is_ok_and(|r| r.status() == 200) {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} not ready on port {port}", p.url);
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// The instant vector of `query`, as `(labels, value)` pairs.
    async fn query(&self, query: &str) -> Vec<(Value, String)> {
        if let Some(flush) = self.flush {
            let _ = reqwest::get(format!("{}{flush}", self.url)).await;
        }
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/query", self.url), [("query", query)]).unwrap();
        let v: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        assert_eq!(v["status"], "success", "{query}: {v}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().to_string()))
            .collect()
    }

    /// The value of a one-series `query`, once it has one.
    async fn wait_value(&self, query: &str, want: &str, log: impl Fn() -> String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.query(query).await;
            if got.len() == 1 && got[0].1 == want {
                return;
            }
            assert!(Instant::now() < deadline, "{query}: want {want}, got {got:?}; Lookout's log:\n{}", log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// otlp (HTTP) → prometheus_remote_write, with `extra` sink keys (4-space indented).
fn pipeline(api: &str, http: &str, data: &Path, prom_port: u16, extra: &str) -> String {
    format!(
        r#"api: {{ address: {api} }}
data_dir: {data}
sources:
  otlp:
    type: otlp
    http: {{ address: {http} }}
sinks:
  prom:
    type: prometheus_remote_write
    inputs: [otlp]
    endpoint: http://127.0.0.1:{prom_port}/api/v1/write
    batch: {{ timeout_ms: 50 }}
    request: {{ timeout_secs: 2, retry_initial_backoff_ms: 50, retry_max_backoff_secs: 0.5 }}
    circuit_breaker: {{ failures: 1000, cooldown_secs: 0.5 }}
{extra}
"#,
        data = data.display()
    )
}

/// Waits until `addr` accepts connections. `/health/ready` can answer 200 before the
/// pipeline has registered its sources (`Health::is_ready` counts the rule engine's and
/// the notifier's entries), so the OTLP listener may not be there yet.
async fn wait_listening(addr: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}; Lookout's log:\n{}", log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// An OTLP/JSON gauge `name{queue}` = `value` at `nanos`, from service `rw-e2e`.
async fn post_gauge(http: &str, name: &str, queue: &str, value: i64, nanos: u128, log: impl Fn() -> String) {
    let body = json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "rw-e2e"}}]},
        "scopeMetrics": [{"metrics": [{"name": name, "gauge": {"dataPoints": [
            {"timeUnixNano": nanos.to_string(), "asInt": value.to_string(),
             "attributes": [{"key": "queue", "value": {"stringValue": queue}}]}
        ]}}]}]
    }]});
    let resp = match reqwest::Client::new().post(format!("http://{http}/v1/metrics")).json(&body).send().await {
        Ok(r) => r,
        Err(e) => panic!("POST /v1/metrics: {e:?}; Lookout's log:\n{}", log()),
    };
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
}

/// The Python SDK exporting twice with delta temporality and exponential histograms,
/// measurements inside spans (so they carry exemplars); prints the two trace ids.
const SDK_SCRIPT: &str = r#"
import sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.metrics import MeterProvider, Counter, Histogram
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader, AggregationTemporality
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

exporter = OTLPMetricExporter(
    endpoint=sys.argv[1] + "/v1/metrics",
    preferred_temporality={Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA},
    preferred_aggregation={Histogram: ExponentialBucketHistogramAggregation()},
)
failures = []
inner = exporter.export
def export(batch, *args, **kwargs):
    result = inner(batch, *args, **kwargs)
    if getattr(result, "name", "SUCCESS") != "SUCCESS":
        failures.append(str(result))
    return result
exporter.export = export
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
mp = MeterProvider(resource=Resource.create({"service.name": "rw-e2e"}), metric_readers=[reader])
tracer = TracerProvider().get_tracer("e2e")
meter = mp.get_meter("e2e-meter", "1.0")
orders = meter.create_counter("e2e.orders", unit="{order}", description="orders placed")
latency = meter.create_histogram("e2e.latency", unit="s")
traces = []
for values, added in (([0.5, 1, 3, 3, 100], 3), ([3], 4)):
    with tracer.start_as_current_span("checkout") as span:
        traces.append(format(span.get_span_context().trace_id, "032x"))
        orders.add(added, {"shop": "eu"})
        for v in values:
            latency.record(v, {"shop": "eu"})
    mp.force_flush(10_000)
mp.shutdown()
if failures:
    sys.exit("export failed: " + "; ".join(failures))
print(" ".join(traces))
"#;

/// Runs [`SDK_SCRIPT`] through a Lookout writing to `peer`; checks the series every
/// remote-write store must hold; returns Lookout and the script's two trace ids.
async fn sdk_into(peer: &Peer) -> (Lookout, Vec<String>) {
    let port = peer.port();
    let lookout =
        Lookout::start_custom(|api, _grpc, http, dir| pipeline(api, http, &dir.join("data"), port, ""), &[]).await;
    wait_listening(&lookout.http, || lookout.log()).await;
    let out = tokio::process::Command::new(python())
        .arg("-c")
        .arg(SDK_SCRIPT)
        .arg(format!("http://{}", lookout.http))
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    let traces: Vec<String> = String::from_utf8(out.stdout).unwrap().split_whitespace().map(String::from).collect();
    assert_eq!(traces.len(), 2, "{traces:?}");
    let log = || lookout.log();

    // Delta 3 then delta 4: cumulative 7.
    peer.wait_value(r#"e2e_orders_total{job="rw-e2e", shop="eu", otel_scope_name="e2e-meter"}"#, "7", log).await;
    // Exponential buckets as classic ones at scale 1 (base √2): 0.5 → le 0.5, 1 → le 1,
    // 3 (three times) → le 4, 100 → le 128.
    let bucket = |le: &str| format!(r#"e2e_latency_seconds_bucket{{job="rw-e2e", shop="eu", le="{le}"}}"#);
    peer.wait_value(&bucket("+Inf"), "6", log).await;
    for (le, want) in [("0.5", "1"), ("1", "2"), ("2", "2"), ("4", "5"), ("90.50966799187809", "5"), ("128", "6")] {
        peer.wait_value(&bucket(le), want, log).await;
    }
    peer.wait_value(r#"e2e_latency_seconds_count{job="rw-e2e"}"#, "6", log).await;
    peer.wait_value(r#"e2e_latency_seconds_sum{job="rw-e2e"}"#, "110.5", log).await;
    // The resource's other attributes on target_info.
    let info = peer.query(r#"target_info{job="rw-e2e"}"#).await;
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0].0["telemetry_sdk_language"], "python");
    (lookout, traces)
}

#[tokio::test]
async fn sdk_deltas_and_exponential_histograms_land_in_prometheus_with_exemplars() {
    let prom = Peer::prometheus(free_port()).await;
    let (lookout, traces) = sdk_into(&prom).await;
    let log = || lookout.log();
    // The median (3rd of 6) interpolated in (2^1.5, 4], which holds the 3rd to 5th.
    prom.wait_value(r#"histogram_quantile(0.5, e2e_latency_seconds_bucket{job="rw-e2e"})"#, "3.21895141649746", log)
        .await;

    // Exemplars: each export's, with the trace id of the span it was measured in.
    let url = reqwest::Url::parse_with_params(
        &format!("{}/api/v1/query_exemplars", prom.url),
        [("query", "e2e_orders_total"), ("start", "0"), ("end", "9999999999")],
    )
    .unwrap();
    let v: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let exemplars = v["data"][0]["exemplars"].as_array().unwrap_or_else(|| panic!("no exemplars: {v}"));
    let got: Vec<(&str, &str)> =
        exemplars.iter().map(|e| (e["labels"]["trace_id"].as_str().unwrap(), e["value"].as_str().unwrap())).collect();
    assert_eq!(got, [(traces[0].as_str(), "3"), (traces[1].as_str(), "4")], "{v}");
    assert!(exemplars.iter().all(|e| e["labels"]["span_id"].as_str().is_some_and(|s| s.len() == 16)));
}

/// The same SDK data into VictoriaMetrics: a second remote-write implementation reads
/// the requests the same way (it keeps no exemplars).
#[tokio::test]
async fn sdk_deltas_and_exponential_histograms_land_in_victoria_metrics() {
    let vm = Peer::victoria_metrics(free_port()).await;
    let (lookout, _) = sdk_into(&vm).await;
    drop(lookout);
}

#[tokio::test]
async fn prometheus_down_across_a_restart_loses_nothing_with_a_disk_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let (api, http, prom_port) =
        (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()), free_port());
    let config =
        pipeline(&api, &http, &dir.path().join("data"), prom_port, "    buffer: { type: disk, max_size: 64MiB }");
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(&path, &config).unwrap();
    let start = |log: &str| {
        Killed(
            Command::new(lookout_bin())
                .args(["run", "--shutdown-timeout", "2", "--config"])
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::from(std::fs::File::create(dir.path().join(log)).unwrap()))
                .spawn()
                .unwrap(),
        )
    };
    let read_log = |log: &str| std::fs::read_to_string(dir.path().join(log)).unwrap_or_default();
    let wait_ready = |log: &'static str| {
        let api = api.clone();
        let path = dir.path().join(log);
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while reqwest::get(format!("http://{api}/health/ready")).await.map(|r| r.status() != 200).unwrap_or(true) {
                let text = || std::fs::read_to_string(&path).unwrap_or_default();
                assert!(Instant::now() < deadline, "Lookout not ready; log:\n{}", text());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let mut first = start("first.log");
    wait_ready("first.log").await;
    wait_listening(&http, || read_log("first.log")).await;
    // Prometheus is not there: 20 series are accepted into the disk buffer and retried.
    let now = now_nanos();
    for q in 0..20 {
        post_gauge(&http, "queue.depth", &format!("q{q}"), q, now, || read_log("first.log")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    Command::new("kill").arg("-TERM").arg(first.0.id().to_string()).status().unwrap();
    let stopped = Instant::now();
    while first.0.try_wait().unwrap().is_none() {
        assert!(stopped.elapsed() < Duration::from_secs(15), "did not exit; log:\n{}", read_log("first.log"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _second = start("second.log");
    wait_ready("second.log").await;
    wait_listening(&http, || read_log("second.log")).await;
    let prom = Peer::prometheus(prom_port).await;
    let log = || format!("first run:\n{}\nsecond run:\n{}", read_log("first.log"), read_log("second.log"));
    prom.wait_value(r#"count(queue_depth{job="rw-e2e"})"#, "20", log).await;
    prom.wait_value(r#"sum(queue_depth{job="rw-e2e"})"#, "190", log).await;
}

#[tokio::test]
async fn a_400_is_dead_lettered_at_once_and_later_samples_still_flow() {
    let prom = Peer::prometheus(free_port()).await;
    let port = prom.port();
    let lookout = Lookout::start_custom(
        |api, _grpc, http, dir| {
            let dead = format!("    dead_letter: {}", dir.join("dead.ndjson").display());
            pipeline(api, http, &dir.join("data"), port, &dead)
        },
        &[],
    )
    .await;
    let log = || lookout.log();
    wait_listening(&lookout.http, log).await;
    let now = now_nanos();
    post_gauge(&lookout.http, "probe.value", "a", 1, now, log).await;
    prom.wait_value(r#"probe_value{queue="a"}"#, "1", log).await;
    // Ten minutes older than what Prometheus holds for the series: out of order, 400.
    let sent = Instant::now();
    post_gauge(&lookout.http, "probe.value", "a", 2, now - 600_000_000_000, log).await;
    let dead = lookout.dir.path().join("dead.ndjson");
    let letter = loop {
        if let Some(line) = std::fs::read_to_string(&dead).unwrap_or_default().lines().next() {
            break serde_json::from_str::<Value>(line).unwrap();
        }
        assert!(sent.elapsed() < Duration::from_secs(10), "no dead letter; log:\n{}", log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let error = letter["error"].as_str().unwrap();
    assert!(error.contains("HTTP 400") && error.contains("out of order"), "{letter}");
    assert_eq!(letter["record"]["labels"]["__name__"], "probe_value");
    assert_eq!(letter["record"]["value"], 2.0);
    // Not retried: the sink's retry counter stayed at zero; the dead letter counted.
    let metrics = reqwest::get(format!("http://{}/metrics", lookout.api)).await.unwrap().text().await.unwrap();
    let counter = |name: &str| {
        let line = metrics.lines().find(|l| l.starts_with(name) && l.contains(r#"component_id="prom""#));
        line.unwrap_or_else(|| panic!("no {name} in\n{metrics}")).rsplit(' ').next().unwrap().to_string()
    };
    assert_eq!(counter("lookout_component_retries_total"), "0");
    assert_eq!(counter("lookout_component_dead_letter_events_total"), "1");
    // The sink carries on.
    post_gauge(&lookout.http, "probe.value", "a", 3, now_nanos(), log).await;
    prom.wait_value(r#"probe_value{queue="a"}"#, "3", log).await;
}
