//! The `vector` source, driven by a gRPC client built from the source's own message
//! definitions (the same file, included): logs to a file sink, metrics to the store.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tonic::codegen::http::uri::PathAndQuery;

use crate::util::{Lookout, free_port, of_signal, read_ndjson, wait_for};

#[path = "../../crates/ingest/src/vector/proto.rs"]
#[allow(dead_code, clippy::all)]
mod proto;

use proto::{Event, EventWrapper, Kind, MetricKind, MetricValue, PushEventsRequest, TagValue, TagValues, Value as V};

type Client = tonic::client::Grpc<tonic::transport::Channel>;

async fn connect(address: &str) -> Client {
    let channel = tonic::transport::Endpoint::new(format!("http://{address}")).unwrap().connect().await.unwrap();
    tonic::client::Grpc::new(channel)
}

async fn call<Req, Resp>(client: &mut Client, method: &'static str, request: Req) -> Result<Resp, tonic::Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    client.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    client
        .unary(tonic::Request::new(request), PathAndQuery::from_static(method), codec)
        .await
        .map(tonic::Response::into_inner)
}

async fn push(client: &mut Client, events: Vec<EventWrapper>) -> Result<(), tonic::Status> {
    call::<_, proto::PushEventsResponse>(client, "/vector.Vector/PushEvents", PushEventsRequest { events })
        .await
        .map(|_| ())
}

fn text(s: &str) -> V {
    V { kind: Some(Kind::RawBytes(s.as_bytes().to_vec())) }
}

fn log(fields: Vec<(&str, V)>) -> EventWrapper {
    let map = proto::ValueMap { fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect() };
    let value = V { kind: Some(Kind::Map(map)) };
    EventWrapper { event: Some(Event::Log(proto::Log { value: Some(value), ..Default::default() })) }
}

fn metric(name: &str, tags: &[(&str, &str)], value: MetricValue) -> EventWrapper {
    let tags_v2 = tags
        .iter()
        .map(|(k, v)| (k.to_string(), TagValues { values: vec![TagValue { value: Some(v.to_string()) }] }))
        .collect();
    EventWrapper {
        event: Some(Event::Metric(proto::Metric {
            name: name.into(),
            namespace: "app".into(),
            kind: MetricKind::Absolute as i32,
            tags_v2,
            value: Some(value),
            ..Default::default()
        })),
    }
}

const TOKEN: &str = "agent-secret-token";

fn sha256_hex(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Lookout with two vector sources (`agents`; `secured`: auth + acknowledgements) → a
/// file sink and the metrics store; returns their addresses.
async fn start() -> (Lookout, String, String) {
    let [address, secured] = [0; 2].map(|_| format!("127.0.0.1:{}", free_port()));
    let (a, s) = (address.clone(), secured.clone());
    let lookout = Lookout::start_custom(
        move |api, _, _, dir: &Path| {
            std::fs::write(
                dir.join("tenants.yaml"),
                format!("tenants:\n  shop:\n    tokens: [\"sha256:{}\"]\n", sha256_hex(TOKEN)),
            )
            .unwrap();
            format!(
                r#"api:
  address: {api}
data_dir: {data}
sources:
  agents: {{ type: vector, address: {a}, max_request_size: 65536 }}
  secured:
    type: vector
    address: {s}
    acknowledgements: true
    auth: {{ tenants_file: tenants.yaml }}
sinks:
  archive:
    type: file
    inputs: [agents, secured]
    path: {out}
  metrics:
    type: metrics_store
    inputs: [agents]
"#,
                data = dir.join("data").display(),
                out = dir.join("out.ndjson").display(),
            )
        },
        &[],
    )
    .await;
    (lookout, address, secured)
}

async fn query(lookout: &Lookout, promql: &str) -> Vec<Value> {
    let url = reqwest::Url::parse_with_params(&format!("http://{}/api/v1/query", lookout.api), [("query", promql)]);
    let body: Value = reqwest::get(url.unwrap()).await.unwrap().json().await.unwrap();
    body["data"]["result"].as_array().unwrap_or_else(|| panic!("{promql}: {body}")).clone()
}

#[tokio::test]
async fn vector_sink_logs_and_metrics_arrive_mapped_and_bad_requests_are_refused() {
    let (lookout, address, _) = start().await;
    let mut client = connect(&address).await;

    let health: proto::HealthCheckResponse =
        call(&mut client, "/vector.Vector/HealthCheck", proto::HealthCheckRequest {}).await.unwrap();
    assert_eq!(health.status, proto::ServingStatus::Serving as i32);

    let nested = proto::ValueMap { fields: [("id".to_string(), V { kind: Some(Kind::Integer(7)) })].into() };
    let at = proto::Timestamp { seconds: 1_714_979_290, nanos: 123_000_000 };
    push(
        &mut client,
        vec![
            log(vec![
                ("message", text("disk full")),
                ("timestamp", V { kind: Some(Kind::Timestamp(at)) }),
                ("host", text("web-1")),
                ("service", text("checkout")),
                ("source_type", text("file")),
                ("level", text("error")),
                ("user", V { kind: Some(Kind::Map(nested)) }),
            ]),
            log(vec![("message", text("second")), ("host", text("web-1"))]),
            metric("requests_total", &[("route", "/a")], MetricValue::Counter(proto::Counter { value: 42.0 })),
            metric("temperature", &[], MetricValue::Gauge(proto::Gauge { value: -3.5 })),
            metric(
                "latency_seconds",
                &[],
                MetricValue::AggregatedHistogram3(proto::AggregatedHistogram3 {
                    buckets: vec![
                        proto::HistogramBucket3 { upper_limit: 0.1, count: 3 },
                        proto::HistogramBucket3 { upper_limit: 1.0, count: 2 },
                        proto::HistogramBucket3 { upper_limit: f64::INFINITY, count: 1 },
                    ],
                    count: 6,
                    sum: 4.2,
                }),
            ),
        ],
    )
    .await
    .unwrap();

    // Refused whole: a trace, bytes that are no PushEventsRequest, and one too large.
    let trace = EventWrapper { event: Some(Event::Trace(proto::Trace::default())) };
    let err = push(&mut client, vec![log(vec![("message", text("must not arrive"))]), trace]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("trace"), "{err:?}");
    #[derive(Clone, PartialEq, prost::Message)]
    struct Garbage {
        #[prost(bytes = "vec", tag = "1")]
        events: Vec<u8>,
    }
    let garbage = Garbage { events: vec![0x0a, 0xff, 0xff] };
    let err =
        call::<_, proto::PushEventsResponse>(&mut client, "/vector.Vector/PushEvents", garbage).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    let big = log(vec![("message", text(&"x".repeat(70_000)))]);
    let err = push(&mut client, vec![big]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");

    let out = lookout.out_path();
    wait_for(&out, "both log records", |d| of_signal(d, "log").len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let docs = read_ndjson(&out);
    let logs = of_signal(&docs, "log");
    assert_eq!(logs.len(), 2, "each accepted record once, nothing of a refused request: {logs:#?}");
    let first = logs.iter().find(|d| d["body"] == "disk full").expect("disk full");
    assert_eq!(first["@timestamp"], "2024-05-06T07:08:10.123000000Z");
    assert_eq!(first["resource"]["service.name"], "checkout");
    assert_eq!(first["resource"]["host.name"], "web-1");
    assert_eq!(first["severity_text"], "error");
    assert_eq!(first["attributes"]["source_type"], "file");
    assert_eq!(first["attributes"]["user"]["id"], 7, "nested maps kept: {first}");
    assert!(first["attributes"].get("message").is_none() && first["attributes"].get("host").is_none(), "{first}");

    // Metrics: queryable through the PromQL API.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let counter = query(&lookout, "app_requests_total").await;
        let gauge = query(&lookout, "app_temperature").await;
        // Per-bucket counts 3, 2, 1 → cumulative `le` buckets 3, 5, 6.
        let le1 = query(&lookout, r#"app_latency_seconds_bucket{le="1"}"#).await;
        let count = query(&lookout, "app_latency_seconds_count").await;
        if counter.len() == 1 && gauge.len() == 1 && le1.len() == 1 && count.len() == 1 {
            assert_eq!(counter[0]["metric"]["route"], "/a", "{counter:?}");
            assert_eq!(counter[0]["value"][1], "42");
            assert_eq!(gauge[0]["value"][1], "-3.5");
            assert_eq!(le1[0]["value"][1], "5", "{le1:?}");
            assert_eq!(count[0]["value"][1], "6", "{count:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics not queryable: {counter:?} {gauge:?} {le1:?} {count:?}\n{}",
            lookout.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn vector_source_with_auth_and_acknowledgements() {
    let (lookout, _, secured) = start().await;
    let mut client = connect(&secured).await;
    let err = push(&mut client, vec![log(vec![("message", text("must not arrive"))])]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");

    let mut request =
        tonic::Request::new(PushEventsRequest { events: vec![log(vec![("message", text("with token"))])] });
    request.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    client.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<PushEventsRequest, proto::PushEventsResponse>::default();
    client.unary(request, PathAndQuery::from_static("/vector.Vector/PushEvents"), codec).await.unwrap();
    // With acknowledgements the answer waits for the file sink: the record is there now.
    let docs = read_ndjson(&lookout.out_path());
    let logs = of_signal(&docs, "log");
    assert_eq!(logs.len(), 1, "{logs:#?}");
    assert_eq!(logs[0]["body"], "with token");
    assert_eq!(logs[0]["resource"]["tenant"], "shop", "the tenant is stamped: {}", logs[0]);
}
