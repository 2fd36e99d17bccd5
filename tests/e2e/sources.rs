use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::util::{Lookout, free_port, of_signal, read_ndjson, wait_for};

const TOKEN: &str = "hooks-secret-token";

fn sha256_hex(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

struct Hooks {
    lookout: Lookout,
    json: String,
    ndjson: String,
    text: String,
    secured: String,
}

/// Four http_server sources (json, ndjson, text, json with auth) → one file sink.
async fn start_hooks() -> Hooks {
    let [json, ndjson, text, secured] = [0; 4].map(|_| format!("127.0.0.1:{}", free_port()));
    let (j, n, t, s) = (json.clone(), ndjson.clone(), text.clone(), secured.clone());
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
  hooks: {{ type: http_server, address: {j}, path: /logs, encoding: json, max_request_size: 65536 }}
  lines: {{ type: http_server, address: {n}, path: /logs, encoding: ndjson, max_request_size: 65536 }}
  plain: {{ type: http_server, address: {t}, encoding: text, service_field: svc }}
  secured:
    type: http_server
    address: {s}
    path: /in
    auth: {{ tenants_file: tenants.yaml }}
sinks:
  archive:
    type: file
    inputs: [hooks, lines, plain, secured]
    path: {out}
"#,
                data = dir.join("data").display(),
                out = dir.join("out.ndjson").display(),
            )
        },
        &[],
    )
    .await;
    Hooks {
        lookout,
        json: format!("http://{json}/logs"),
        ndjson: format!("http://{ndjson}/logs"),
        text: format!("http://{text}/"),
        secured: format!("http://{secured}/in"),
    }
}

async fn post(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let mut req = reqwest::Client::new().post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let retry = resp.headers().get("retry-after").is_some();
    let text = resp.text().await.unwrap_or_default();
    (status, if retry { format!("retry-after; {text}") } else { text })
}

fn by_body<'a>(docs: &'a [Value], body: &str) -> &'a Value {
    docs.iter().find(|d| d["body"] == body).unwrap_or_else(|| panic!("no record with body {body:?} in {docs:?}"))
}

#[tokio::test]
async fn http_server_takes_what_curl_vector_fluent_bit_and_logstash_send() {
    let mut h = start_hooks().await;
    let out = h.lookout.out_path();

    // curl -d: a form content type, one object.
    let curl = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-d"])
        .arg(r#"{"message":"from curl","level":"error","service":"checkout","timestamp":"2024-05-06T07:08:09.123Z","user":{"id":7,"roles":["a","b"]}}"#)
        .arg(&h.json)
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "200", "curl: {}", String::from_utf8_lossy(&curl.stderr));

    // Vector's http sink, codec json: an array of its log events.
    let vector = r#"[{"message":"vector one","timestamp":"2024-05-06T07:08:10Z","host":"web-1","source_type":"file"},
                     {"message":"vector two","timestamp":"2024-05-06T07:08:11Z","host":"web-1","source_type":"file"}]"#;
    let (status, body) = post(&h.json, &[("content-type", "application/json")], vector.into()).await;
    assert_eq!(status, 200, "{body}");

    // Logstash's http output, format json: one event per request.
    let logstash =
        r#"{"@timestamp":"2024-05-06T07:08:12.000Z","@version":"1","message":"from logstash","host":{"name":"ls"}}"#;
    let (status, body) = post(&h.json, &[("content-type", "application/json")], logstash.into()).await;
    assert_eq!(status, 200, "{body}");

    // Fluent Bit's http output, format json_lines, compress gzip; date as epoch seconds.
    let fluent = "{\"date\":1714979293.5,\"log\":\"fluent one\",\"kubernetes\":{\"pod_name\":\"p\"}}\n{\"date\":1714979294.25,\"log\":\"fluent two\"}\n";
    let headers = [("content-type", "application/x-ndjson"), ("content-encoding", "gzip")];
    let (status, body) = post(&h.ndjson, &headers, gzip(fluent.as_bytes())).await;
    assert_eq!(status, 200, "{body}");

    // zstd, epoch milliseconds.
    let packed = zstd::encode_all(&b"{\"msg\":\"zstd one\",\"time\":1714979295123}\n"[..], 3).unwrap();
    let (status, body) = post(&h.ndjson, &[("content-encoding", "zstd")], packed).await;
    assert_eq!(status, 200, "{body}");

    // Text lines.
    let (status, body) = post(&h.text, &[("content-type", "text/plain")], b"plain one\r\n\nplain two\n".to_vec()).await;
    assert_eq!(status, 200, "{body}");

    // Refused whole: nothing of these bodies may arrive.
    let bad = [
        (h.ndjson.as_str(), vec![], b"{\"log\":\"must not arrive\"}\n{broken\n".to_vec(), 400),
        (h.json.as_str(), vec![], b"[{\"message\":\"must not arrive\"},".to_vec(), 400),
        (h.json.as_str(), vec![("content-encoding", "gzip")], b"not gzip".to_vec(), 400),
        (h.json.as_str(), vec![("content-encoding", "br")], b"{}".to_vec(), 415),
        (
            h.json.as_str(),
            vec![],
            format!("[{}]", vec!["{\"message\":\"must not arrive\"}"; 3000].join(",")).into_bytes(),
            413,
        ),
        (h.json.as_str(), vec![("content-encoding", "gzip")], gzip(&vec![b' '; 1 << 20]), 413),
        (h.secured.as_str(), vec![], b"{\"message\":\"must not arrive\"}".to_vec(), 401),
    ];
    for (url, headers, body, want) in bad {
        let (status, text) = post(url, &headers, body).await;
        assert_eq!(status, want, "{url} {headers:?}: {text}");
        assert!(text.contains("\"error\""), "a JSON error message: {text}");
    }
    let (status, body) = post(&h.json.replace("/logs", "/other"), &[], b"{}".to_vec()).await;
    assert_eq!(status, 404, "{body}");

    let bearer = format!("Bearer {TOKEN}");
    let (status, body) =
        post(&h.secured, &[("authorization", &bearer)], b"{\"message\":\"with token\"}".to_vec()).await;
    assert_eq!(status, 200, "{body}");

    const GOOD: usize = 10;
    wait_for(&out, "every accepted record", |d| of_signal(d, "log").len() >= GOOD).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let docs = read_ndjson(&out);
    assert_eq!(docs.len(), GOOD, "exactly the accepted records: {docs:#?}");
    assert!(!docs.iter().any(|d| d["body"] == "must not arrive"), "nothing of a refused body");

    let c = by_body(&docs, "from curl");
    assert_eq!(c["severity_text"], "error");
    assert_eq!(c["severity_number"], 17);
    assert_eq!(c["resource"]["service.name"], "checkout");
    assert_eq!(c["@timestamp"], "2024-05-06T07:08:09.123000000Z");
    assert_eq!(c["attributes"]["user"]["id"], 7, "nested objects kept: {c}");
    assert_eq!(c["attributes"]["user"]["roles"][1], "b");
    assert!(c["attributes"].get("message").is_none() && c["attributes"].get("level").is_none(), "{c}");

    let v = by_body(&docs, "vector two");
    assert_eq!(v["@timestamp"], "2024-05-06T07:08:11.000000000Z");
    assert_eq!(v["attributes"]["host"], "web-1");
    assert_eq!(v["attributes"]["source_type"], "file");
    let l = by_body(&docs, "from logstash");
    assert_eq!(l["@timestamp"], "2024-05-06T07:08:12.000000000Z");
    assert_eq!(l["attributes"]["host"]["name"], "ls");
    let f = by_body(&docs, "fluent one");
    assert_eq!(f["@timestamp"], "2024-05-06T07:08:13.500000000Z");
    assert_eq!(f["attributes"]["kubernetes"]["pod_name"], "p");
    assert_eq!(by_body(&docs, "fluent two")["@timestamp"], "2024-05-06T07:08:14.250000000Z");
    assert_eq!(by_body(&docs, "zstd one")["@timestamp"], "2024-05-06T07:08:15.123000000Z");
    by_body(&docs, "plain one");
    by_body(&docs, "plain two");
    by_body(&docs, "vector one");
    let t = by_body(&docs, "with token");
    assert_eq!(t["resource"]["tenant"], "shop", "the tenant is stamped: {t}");

    assert!(h.lookout.is_running());
    assert!(h.lookout.stop().await.success());
}
