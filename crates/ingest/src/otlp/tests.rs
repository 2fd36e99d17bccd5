//! Both transports over real sockets on 127.0.0.1, into a real bounded buffer.

use std::time::Duration;

use lookout_buffer::{BufferReceiver, WhenFull, memory};
use lookout_component::{ComponentMetrics, Fanout, Shutdown};
use lookout_event::otlp::collector::logs::v1::logs_service_client::LogsServiceClient;
use lookout_event::otlp::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use lookout_event::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_event::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tokio::net::TcpListener;

use super::*;

fn logs(n: usize) -> ExportLogsServiceRequest {
    let record = LogRecord { trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs { log_records: vec![record; n], ..Default::default() }],
            ..Default::default()
        }],
    }
}

struct Harness {
    http: String,
    grpc: String,
    rx: BufferReceiver,
    metrics: ComponentMetrics,
    shutdown: Shutdown,
}

async fn start(max_events: usize, max_request_size: usize) -> Harness {
    let (tx, rx) = memory(max_events, WhenFull::Block);
    let metrics = ComponentMetrics::detached();
    let ingest = Ingest::new(Fanout::new(vec![tx]), metrics.clone(), max_request_size, Duration::from_millis(50), 2);
    let shutdown = Shutdown::new();
    let h = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let g = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (http, grpc) = (h.local_addr().unwrap().to_string(), g.local_addr().unwrap().to_string());
    tokio::spawn(http::serve(h, ingest.clone(), None, None, shutdown.clone()));
    tokio::spawn(grpc::serve(g, ingest, None, None, shutdown.clone()));
    Harness { http, grpc, rx, metrics, shutdown }
}

async fn post(url: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new().post(url).header("content-type", content_type).body(body).send().await.unwrap()
}

#[tokio::test]
async fn http_protobuf_and_json_reach_the_pipeline() {
    let mut h = start(1000, 1 << 20).await;
    let resp = post(&format!("http://{}/v1/logs", h.http), "application/x-protobuf", logs(3).encode_to_vec()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    let body = ExportLogsServiceResponse::decode(resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body.partial_success, None);
    assert_eq!(h.rx.recv().await.unwrap().len(), 3);

    let json = serde_json::to_vec(&logs(2)).unwrap();
    let resp = post(&format!("http://{}/v1/logs", h.http), "application/json; charset=utf-8", json).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), "{}", "no partialSuccess when all was accepted");
    assert_eq!(h.rx.recv().await.unwrap().len(), 2);
    assert_eq!(h.metrics.received_events.get(), 5);
    assert_eq!(h.metrics.sent_events.get(), 5);
    h.shutdown.cancel();
}

#[tokio::test]
async fn bad_ids_are_a_partial_success() {
    let mut h = start(1000, 1 << 20).await;
    let mut req = logs(3);
    req.resource_logs[0].scope_logs[0].log_records[1].trace_id = vec![1; 5];
    let resp = post(&format!("http://{}/v1/logs", h.http), "application/x-protobuf", req.encode_to_vec()).await;
    assert_eq!(resp.status(), 200);
    let body = ExportLogsServiceResponse::decode(resp.bytes().await.unwrap()).unwrap();
    let partial = body.partial_success.expect("partial success");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(partial.error_message.contains("trace_id"), "{}", partial.error_message);
    assert_eq!(h.rx.recv().await.unwrap().len(), 2);

    // A span without ids is refused the same way.
    let spans = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span { trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() }, Span::default()],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let resp =
        post(&format!("http://{}/v1/traces", h.http), "application/json", serde_json::to_vec(&spans).unwrap()).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], 1, "{body}");
    assert_eq!(h.rx.recv().await.unwrap().len(), 1);
    h.shutdown.cancel();
}

#[tokio::test]
async fn a_full_pipeline_pushes_back() {
    let h = start(4, 1 << 20).await;
    let url = format!("http://{}/v1/logs", h.http);
    assert_eq!(post(&url, "application/x-protobuf", logs(4).encode_to_vec()).await.status(), 200);
    let resp = post(&url, "application/x-protobuf", logs(1).encode_to_vec()).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "2");

    let mut client = LogsServiceClient::connect(format!("http://{}", h.grpc)).await.unwrap();
    let err = client.export(logs(1)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");
    h.shutdown.cancel();
}

#[tokio::test]
async fn grpc_accepts_gzip_and_refuses_oversize_with_resource_exhausted() {
    let mut h = start(100_000, 64 * 1024).await;
    let mut client = LogsServiceClient::connect(format!("http://{}", h.grpc))
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let resp = client.export(logs(10)).await.unwrap().into_inner();
    assert_eq!(resp.partial_success, None);
    assert_eq!(h.rx.recv().await.unwrap().len(), 10);

    // 64 KiB decompressed limit; this compresses well but is 10k records.
    let err = client.export(logs(10_000)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    assert!(h.rx.try_recv().is_none(), "nothing of the refused request arrived");
    h.shutdown.cancel();
}

#[test]
fn gunzip_counts_the_inflated_size() {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&vec![b'x'; 100_000]).unwrap();
    let small = e.finish().unwrap();
    assert_eq!(http::gunzip_for_test(&small, 200_000).unwrap().len(), 100_000);
    assert!(matches!(http::gunzip_for_test(&small, 1000), Err(Rejection::TooLarge(_))));
    assert!(matches!(http::gunzip_for_test(b"nope", 1000), Err(Rejection::BadRequest(_))));
}
