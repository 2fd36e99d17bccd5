use std::io::Write;

use crate::util::{Lookout, of_signal, wait_for};

async fn post(url: &str, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> (u16, String, Option<String>) {
    let mut req = reqwest::Client::new().post(url).header("content-type", content_type).body(body);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (status, resp.text().await.unwrap_or_default(), retry_after)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const OTLP_JSON: &str = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-svc"}}]},
 "scopeLogs":[{"scope":{"name":"s"},"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":9,
 "severityText":"INFO","body":{"stringValue":"from json"},"traceId":"5b8efff798038103d269b633813fc60c",
 "spanId":"eee19b7ec3c1b174","attributes":[{"key":"count","value":{"intValue":"42"}}]}]}]}]}"#;

#[tokio::test]
async fn malformed_requests_get_clear_errors_and_lookout_stays_up() {
    let mut lookout = Lookout::start().await;
    let logs = format!("http://{}/v1/logs", lookout.http);

    let (status, body, _) = post(&logs, "application/x-protobuf", None, b"\xff\xff\xff\xffnot protobuf".to_vec()).await;
    assert_eq!(status, 400, "garbage protobuf: {body}");
    assert!(!body.is_empty(), "400 carries a message");

    let (status, body, _) = post(&logs, "application/json", None, b"{\"resourceLogs\": [".to_vec()).await;
    assert_eq!(status, 400, "truncated JSON: {body}");

    let (status, body, _) = post(&logs, "application/json", Some("gzip"), b"not gzip at all".to_vec()).await;
    assert_eq!(status, 400, "bad gzip: {body}");

    let (status, _, _) = post(&logs, "text/plain", None, b"hello".to_vec()).await;
    assert_eq!(status, 415, "unsupported content type");

    let huge = vec![b' '; 3 * 1024 * 1024];
    let (status, body, _) = post(&logs, "application/json", None, huge).await;
    assert_eq!(status, 413, "over max_request_size: {body}");

    // A gzip bomb: small on the wire, too large once inflated.
    let bomb = gzip(&vec![b' '; 8 * 1024 * 1024]);
    let (status, body, _) = post(&logs, "application/json", Some("gzip"), bomb).await;
    assert_eq!(status, 413, "inflated size counts: {body}");

    assert!(lookout.is_running(), "still up after bad input; log:\n{}", lookout.log());

    // OTLP/JSON rules: hex ids, int64 as strings; gzip on.
    let (status, body, _) = post(&logs, "application/json", Some("gzip"), gzip(OTLP_JSON.as_bytes())).await;
    assert_eq!(status, 200, "valid OTLP/JSON: {body}");
    let docs = wait_for(&lookout.out_path(), "the JSON record", |d| !of_signal(d, "log").is_empty()).await;
    let log = of_signal(&docs, "log")[0];
    assert_eq!(log["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(log["span_id"], "eee19b7ec3c1b174");
    assert_eq!(log["attributes"]["count"], 42);
    assert_eq!(log["@timestamp"], "2023-11-14T22:13:20.000000000Z");
    assert_eq!(log["body"], "from json");
    assert_eq!(log["resource"]["deployment.environment"], "e2e");
    assert_eq!(docs.len(), 1, "rejected requests wrote nothing");

    assert!(lookout.stop().await.success());
}
