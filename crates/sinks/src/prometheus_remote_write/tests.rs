use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use lookout_event::otlp::common::v1::{InstrumentationScope, KeyValue};
use lookout_event::otlp::metrics::v1::{
    Exemplar, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exemplar, metric::Data, number_data_point,
};
use lookout_event::otlp::resource::v1::Resource;
use lookout_tsdb::remote::prompb::WriteRequest;

use lookout_component::SinkConfig;

use super::*;
use crate::test_util::{context, parse};

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue { key: k.into(), value: Some(lookout_event::any_string(v)), ..Default::default() }
}

/// A delta counter `orders` of service `shop`, one point per `(start s, time s, value)`.
fn orders(points: &[(u64, u64, i64)]) -> Batch {
    let s = 1_000_000_000u64;
    let data_points = points
        .iter()
        .map(|&(start, time, v)| NumberDataPoint {
            attributes: vec![kv("region", "eu")],
            start_time_unix_nano: start * s,
            time_unix_nano: time * s,
            value: Some(number_data_point::Value::AsInt(v)),
            exemplars: vec![Exemplar {
                time_unix_nano: time * s,
                value: Some(exemplar::Value::AsInt(v)),
                trace_id: vec![0x11; 16],
                span_id: vec![0x22; 8],
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    Batch::metrics(vec![ResourceMetrics {
        resource: Some(Resource { attributes: vec![kv("service.name", "shop")], ..Default::default() }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope { name: "app".into(), ..Default::default() }),
            metrics: vec![Metric {
                name: "orders".into(),
                description: "orders placed".into(),
                data: Some(Data::Sum(Sum { aggregation_temporality: 1, is_monotonic: true, data_points })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn config(yaml: &str) -> PrometheusRemoteWriteConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

#[test]
fn config_is_checked_at_load_with_the_key_named() {
    let c = config("endpoint: http://p:9090/api/v1/write\n");
    assert!(c.check().is_ok());
    assert!(c.send_exemplars && c.send_metadata);
    assert_eq!(c.delta.max_streams, 50_000);
    assert_eq!(c.delta.max_stale.0, Duration::from_secs(300));
    let bad = [
        ("headers: { content-type: text/plain }\n", "set by the remote-write protocol"),
        ("bearer_token: a\nbasic_auth: { username: u, password: p }\n", "at most one of"),
        ("basic_auth: { username: u }\n", "needs `password` or `password_file`"),
        ("external_labels: { __x: y }\n", "not a valid label name"),
        ("external_labels: { cluster: '' }\n", "empty value"),
        ("delta: { max_streams: 0 }\n", "at least 1"),
    ];
    for (yaml, want) in bad {
        let e = config(&format!("endpoint: http://p/w\n{yaml}")).check().unwrap_err();
        assert!(e.contains(want), "{yaml}: {e}");
    }
    assert!(config("endpoints: []\n").check().unwrap_err().contains("needs `endpoint`"));
    assert!(serde_saphyr::from_str::<PrometheusRemoteWriteConfig>("endpoint: http://p/w\nexternal: {}\n").is_err());
    // Through the registry, as `lookout check` does: the error has its position.
    let e = parse("prometheus_remote_write", "    endpoint: ftp://p/w\n").err().unwrap().to_string();
    assert!(e.starts_with("p.yaml:6:") && e.contains("must start with http://"), "{e}");
}

#[test]
fn a_ca_file_that_cannot_be_used_fails_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("ca.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    for path in [garbage.display().to_string(), "/nonexistent/ca.pem".to_string()] {
        let c = config(&format!("endpoint: https://p/w\ntls: {{ ca_file: {path} }}\n"));
        let e = c.client().unwrap_err().0;
        assert!(e.starts_with(&format!("tls.ca_file {path}:")), "{e}");
    }
    assert!(config("endpoint: https://p/w\ntls: { insecure_skip_verify: true }\n").client().is_ok());
}

#[test]
fn secrets_never_print() {
    let c = config(
        "endpoint: http://p/w\nheaders: { x-api-key: PlantedPromKey1 }\nbasic_auth: { username: u, password: PlantedPromPass2 }\n",
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains("PlantedProm"), "{debug}");
    let c = config("endpoint: http://p/w\nbearer_token: PlantedPromToken3\n");
    assert!(!format!("{c:?}").contains("PlantedProm"));
}

#[derive(Default)]
struct Received {
    requests: Vec<(HeaderMap, WriteRequest)>,
    /// Statuses to answer with before accepting.
    script: Vec<(StatusCode, &'static str)>,
}

/// A remote-write receiver: decodes every request (snappy + protobuf) or fails the test.
async fn receiver(state: Arc<Mutex<Received>>) -> String {
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let mut s = state.lock().unwrap();
                if !s.script.is_empty() {
                    return s.script.remove(0);
                }
                let req = lookout_tsdb::remote::decompress(&body).expect("a remote-write request");
                s.requests.push((headers, req));
                (StatusCode::NO_CONTENT, "")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api/v1/write")
}

/// Runs the sink over `batches` against `url` until its input closes.
async fn run(yaml: &str, batches: Vec<Batch>) -> ComponentMetrics {
    let c = config(yaml);
    c.check().unwrap();
    let (tx, cx, _health, metrics) = context(100);
    let fut = c.build(cx).await.unwrap();
    let task = tokio::spawn(fut);
    for b in batches {
        tx.send(b).await.unwrap();
    }
    drop(tx);
    tokio::time::timeout(Duration::from_secs(20), task).await.unwrap().unwrap().unwrap();
    metrics
}

#[tokio::test]
async fn delta_counters_arrive_cumulative_with_exemplars_metadata_and_headers() {
    let state = Arc::new(Mutex::new(Received::default()));
    let url = receiver(state.clone()).await;
    let yaml = format!(
        "endpoint: {url}\ntenant_id: shop\nbasic_auth: {{ username: u, password: p }}\n\
         headers: {{ x-api-key: k1 }}\nexternal_labels: {{ cluster: eu-1, region: ignored }}\n\
         batch: {{ timeout_ms: 10 }}\n"
    );
    let metrics = run(&yaml, vec![orders(&[(10, 11, 2), (11, 12, 3)]), orders(&[(12, 13, 5), (12, 13, 9)])]).await;
    let s = state.lock().unwrap();
    let (headers, _) = &s.requests[0];
    assert_eq!(headers["content-encoding"], "snappy");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
    assert!(headers["user-agent"].to_str().unwrap().starts_with("Lookout/"));
    assert_eq!(headers["x-scope-orgid"], "shop");
    assert_eq!(headers["x-api-key"], "k1");
    assert_eq!(headers["authorization"], "Basic dTpw");
    let mut samples = Vec::new();
    let mut exemplars = 0;
    for (_, req) in s.requests.iter() {
        for ts in &req.timeseries {
            let labels: Vec<(&str, &str)> = ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
            // Sorted by name; the external label added, the series' own `region` kept.
            assert_eq!(
                labels,
                [
                    ("__name__", "orders_total"),
                    ("cluster", "eu-1"),
                    ("instance", ""),
                    ("job", "shop"),
                    ("otel_scope_name", "app"),
                    ("region", "eu"),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect::<Vec<_>>()
            );
            samples.extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
            exemplars += ts.exemplars.len();
            if let Some(e) = ts.exemplars.first() {
                assert_eq!(e.labels[0].name, "trace_id");
                assert_eq!(e.labels[0].value, "11".repeat(16));
            }
        }
        if let Some(m) = req.metadata.first() {
            assert_eq!((m.metric_family_name.as_str(), m.help.as_str()), ("orders_total", "orders placed"));
        }
    }
    // 2, 2+3, 5+5; the repeated time 13 is out of order: dropped and counted.
    assert_eq!(samples, [(11_000, 2.0), (12_000, 5.0), (13_000, 10.0)]);
    assert_eq!(exemplars, 3);
    assert_eq!(metrics.sent_events.get(), 3);
    assert_eq!(metrics.failed_events.get(), 1, "the out-of-order delta point");
}

#[tokio::test]
async fn retries_5xx_and_429_but_dead_letters_a_400_at_once() {
    let state = Arc::new(Mutex::new(Received::default()));
    state.lock().unwrap().script =
        vec![(StatusCode::SERVICE_UNAVAILABLE, "busy"), (StatusCode::TOO_MANY_REQUESTS, "slow down")];
    let url = receiver(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let yaml = format!(
        "endpoint: {url}\ndead_letter: {}\nbatch: {{ timeout_ms: 10 }}\nrequest: {{ retry_initial_backoff_ms: 10 }}\n",
        dead.display()
    );
    let metrics = run(&yaml, vec![orders(&[(0, 1, 1)])]).await;
    assert_eq!(metrics.retries.get(), 2);
    assert_eq!(metrics.sent_events.get(), 1);
    assert_eq!(state.lock().unwrap().requests.len(), 1);

    state.lock().unwrap().script = vec![(StatusCode::BAD_REQUEST, "out of order sample")];
    let metrics = run(&yaml, vec![orders(&[(0, 1, 1)])]).await;
    assert_eq!(metrics.retries.get(), 0, "a 400 is final");
    assert_eq!((metrics.failed_events.get(), metrics.dead_letter_events.get()), (1, 1));
    let text = std::fs::read_to_string(&dead).unwrap();
    let letter: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(letter["error"].as_str().unwrap().ends_with("HTTP 400: out of order sample"), "{letter}");
    assert_eq!(letter["record"]["labels"]["__name__"], "orders_total");
    assert_eq!(letter["record"]["value"], 1.0);
    assert_eq!(letter["route"], "orders_total");
}

#[test]
fn values_round_trip_through_documents_staleness_included() {
    for v in [1.5, f64::INFINITY, f64::NEG_INFINITY, lookout_tsdb::stale_nan()] {
        let json = serde_json::to_string(&Value::of(v)).unwrap();
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back.get().unwrap().to_bits(), v.to_bits(), "{json}");
    }
    assert!(Value::of(f64::NAN).get().unwrap().is_nan());
    assert_eq!(serde_json::to_string(&Value::of(lookout_tsdb::stale_nan())).unwrap(), "\"stale\"");
    assert!(matches!(classify(503, ""), SendError::Retryable(_)));
    assert!(matches!(classify(429, ""), SendError::Retryable(_)));
    assert!(matches!(classify(408, ""), SendError::Fatal(_)));
    assert!(matches!(classify(413, ""), SendError::Fatal(_)));
    assert!(matches!(classify(401, ""), SendError::Unauthorized(_)));
}

/// Cost per sample of the sink's own work, no network: translation (with delta
/// state), the items' JSON documents, and an attempt's request (documents parsed
/// back, grouped, protobuf, snappy). `cargo test --release -p lookout-sinks --
/// --ignored per_sample_cost --nocapture`.
#[test]
#[ignore]
fn per_sample_cost() {
    let p = RemoteWrite {
        client: reqwest::Client::new(),
        credentials: None,
        headers: IndexMap::new(),
        tenant_id: None,
        external_labels: vec![("cluster".into(), "eu-1".into())],
        send_exemplars: true,
        send_metadata: true,
        state: Mutex::new(State::new(Translator::default())),
        metrics: ComponentMetrics::detached(),
        sink: "bench".into(),
    };
    // 1000 series of a delta counter with an exemplar each, 8 labels per series.
    let s = 1_000_000_000u64;
    let batch = |round: u64| {
        let data_points = (0..1000)
            .map(|i| NumberDataPoint {
                attributes: vec![kv("route", &format!("/api/v{i}")), kv("method", "GET"), kv("code", "200")],
                start_time_unix_nano: round * s,
                time_unix_nano: (round + 1) * s,
                value: Some(number_data_point::Value::AsInt(1)),
                exemplars: vec![Exemplar {
                    time_unix_nano: (round + 1) * s,
                    value: Some(exemplar::Value::AsInt(1)),
                    trace_id: vec![0x11; 16],
                    span_id: vec![0x22; 8],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        Batch::metrics(vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![kv("service.name", "shop")], ..Default::default() }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "http.requests".into(),
                    data: Some(Data::Sum(Sum { aggregation_temporality: 1, is_monotonic: true, data_points })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }])
    };
    let batches: Vec<Batch> = (0..50).map(batch).collect();
    let started = std::time::Instant::now();
    let mut items = Vec::new();
    for b in &batches {
        p.encode(b, &mut items);
    }
    let encoded = started.elapsed();
    let started = std::time::Instant::now();
    let mut bytes = 0usize;
    for chunk in items.chunks(1000) {
        let mut request = WriteRequestBuilder::new();
        for item in chunk {
            let doc: SampleDoc = serde_json::from_slice(&item.doc).unwrap();
            let labels = Labels::new(doc.labels.0);
            request.sample(&labels, doc.timestamp_ms, doc.value.get().unwrap());
            for e in doc.exemplars {
                request.exemplar(&labels, &e.labels.0, e.timestamp_ms, e.value.get().unwrap());
            }
        }
        bytes += request.encode().len();
    }
    let built = started.elapsed();
    let n = items.len() as f64;
    println!(
        "{} samples: encode {:.2} us/sample, request {:.2} us/sample, {:.1} bytes/sample on the wire",
        items.len(),
        encoded.as_secs_f64() * 1e6 / n,
        built.as_secs_f64() * 1e6 / n,
        bytes as f64 / n
    );
}
