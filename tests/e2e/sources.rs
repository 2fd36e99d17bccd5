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
                format!(
                    "tenants:\n  shop:\n    tokens: [\"sha256:{}\"]\n    limits: {{ events_per_second: 20 }}\n",
                    sha256_hex(TOKEN)
                ),
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
    // Over the tenant's events_per_second (burst 20): 429 + Retry-After, nothing taken.
    let many = format!("[{}]", vec!["{\"message\":\"must not arrive\"}"; 50].join(","));
    let (status, body) = post(&h.secured, &[("authorization", &bearer)], many.into_bytes()).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.starts_with("retry-after;"), "{body}");

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

/// A CA and a server certificate for 127.0.0.1 it signed, PEM: (ca, cert, key).
fn tls_files() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "syslog test ca");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
    (ca_pem, leaf.pem(), key.serialize_pem())
}

/// Writes `data` over TLS (trusting `ca_pem`) and closes the connection cleanly.
fn send_tls(address: &str, ca_pem: &str, data: &[u8]) {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, std::net::TcpStream::connect(address).unwrap());
    tls.write_all(data).unwrap();
    tls.flush().unwrap();
    tls.conn.send_close_notify();
    tls.flush().unwrap();
}

fn octet(msg: &str) -> String {
    format!("{} {msg}", msg.len())
}

fn attr<'a>(doc: &'a Value, key: &str) -> &'a Value {
    &doc["attributes"][key]
}

#[tokio::test]
async fn syslog_over_tcp_udp_tls_and_logger() {
    let [tcp, udp, tls] = [0; 3].map(|_| format!("127.0.0.1:{}", free_port()));
    let (ca, cert, key) = tls_files();
    let (t, u, s) = (tcp.clone(), udp.clone(), tls.clone());
    let lookout = Lookout::start_custom(
        move |api, _, _, dir: &Path| {
            std::fs::write(dir.join("syslog.crt"), cert).unwrap();
            std::fs::write(dir.join("syslog.key"), key).unwrap();
            format!(
                r#"api:
  address: {api}
data_dir: {data}
sources:
  syslog: {{ type: syslog, address: {t}, mode: tcp, max_line_length: 512 }}
  syslog_udp: {{ type: syslog, address: {u}, mode: udp }}
  syslog_tls: {{ type: syslog, address: {s}, tls: {{ cert_file: syslog.crt, key_file: syslog.key }} }}
sinks:
  archive:
    type: file
    inputs: [syslog, syslog_udp, syslog_tls]
    path: {out}
"#,
                data = dir.join("data").display(),
                out = dir.join("out.ndjson").display(),
            )
        },
        &[],
    )
    .await;
    let out = lookout.out_path();

    // One TCP connection: RFC 5424 §6.5 examples octet-counted, RFC 3164 examples
    // newline-ended, a malformed line and an over-long one in between; the connection
    // stays usable after both.
    let mut stream = std::net::TcpStream::connect(&tcp).unwrap();
    let mut expected = 0;
    let mut send = |data: String| {
        stream.write_all(data.as_bytes()).unwrap();
    };
    send(octet(
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8",
    ));
    send(octet("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."));
    send(octet(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event log entry..."#,
    ));
    send("<34>Oct 11 22:14:15 mymachine su: 'su root' failed on tcp\n".into());
    send("this is not syslog\n".into());
    send(format!("<13>1 - h app - - - {}\n", "x".repeat(2000)));
    send("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!\n".into());
    expected += 7;
    drop(stream);

    // UDP: one message per datagram.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(b"<30>1 2024-05-06T07:08:09Z web-1 nginx 7 - - over udp", &udp).unwrap();
    socket.send_to(b"<30>May  6 07:08:09 web-1 cron[99]: also over udp\n", &udp).unwrap();
    expected += 2;

    // TLS, octet-counted.
    send_tls(&tls, &ca, octet("<14>1 2024-05-06T07:08:10Z web-2 app - - - over tls").as_bytes());
    expected += 1;

    // logger(1) from util-linux, RFC 5424 over TCP (octet counting) and over UDP.
    let port = |a: &str| a.rsplit(':').next().unwrap().to_string();
    let logger = std::process::Command::new("logger").arg("--help").output().is_ok();
    if logger {
        for args in [vec!["-T", "--octet-count"], vec!["-d"]] {
            let (addr, what) = if args[0] == "-T" { (&tcp, "logger tcp") } else { (&udp, "logger udp") };
            let status = std::process::Command::new("logger")
                .args(["-n", "127.0.0.1", "-P", &port(addr), "--rfc5424", "-t", "lg", "-p", "local3.err"])
                .args(&args)
                .arg(what)
                .status()
                .unwrap();
            assert!(status.success(), "{what}");
            expected += 1;
        }
    } else {
        eprintln!("logger(1) not installed: its part of the test is skipped");
    }

    wait_for(&out, "every syslog message", |d| of_signal(d, "log").len() >= expected).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let docs = read_ndjson(&out);
    assert_eq!(docs.len(), expected, "each message once: {docs:#?}");

    let su = by_body(&docs, "'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(su["@timestamp"], "2003-10-11T22:14:15.003000000Z");
    assert_eq!((su["severity_text"].as_str(), su["severity_number"].as_i64()), (Some("crit"), Some(18)));
    assert_eq!(attr(su, "syslog.facility"), "auth");
    assert_eq!(attr(su, "syslog.hostname"), "mymachine.example.com");
    assert_eq!(attr(su, "syslog.appname"), "su");
    assert_eq!(attr(su, "syslog.msgid"), "ID47");
    assert_eq!(by_body(&docs, "%% It's time to make the do-nuts.")["@timestamp"], "2003-08-24T12:14:15.000003000Z");
    let sd = by_body(&docs, "An application event log entry...");
    assert_eq!(attr(sd, "syslog.structured_data")["exampleSDID@32473"]["eventID"], "1011", "{sd}");
    assert_eq!(attr(sd, "syslog.structured_data")["examplePriority@32473"]["class"], "high");
    let bsd = by_body(&docs, "'su root' failed on tcp");
    assert_eq!(attr(bsd, "syslog.appname"), "su");
    assert!(bsd["@timestamp"].as_str().unwrap().ends_with("-10-11T22:14:15.000000000Z"), "{bsd}");
    let bad = by_body(&docs, "this is not syslog");
    assert!(attr(bad, "syslog.error").is_string(), "{bad}");
    let long = docs.iter().find(|d| attr(d, "syslog.appname") == "app").expect("the long line");
    assert!(attr(long, "syslog.error").as_str().unwrap().contains("max_line_length"), "{long}");
    assert!(long["body"].as_str().unwrap().len() < 512);
    assert_eq!(attr(by_body(&docs, "Use the BFG!"), "syslog.hostname"), "10.0.0.99");
    assert_eq!(attr(by_body(&docs, "over udp"), "syslog.procid"), "7");
    assert_eq!(attr(by_body(&docs, "also over udp"), "syslog.appname"), "cron");
    assert_eq!(attr(by_body(&docs, "over tls"), "syslog.hostname"), "web-2");
    if logger {
        for what in ["logger tcp", "logger udp"] {
            let l = by_body(&docs, what);
            assert_eq!(attr(l, "syslog.appname"), "lg");
            assert_eq!(attr(l, "syslog.facility"), "local3");
            assert_eq!(l["severity_number"], 17);
        }
    }
}
