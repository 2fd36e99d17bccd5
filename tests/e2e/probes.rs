//! Uptime probes in the binary, against servers started here: HTTP (a flaky endpoint, a
//! redirect, a body that does not match), HTTPS with a certificate that expires in 10
//! days (trusted through `ca_file`, untrusted without it, accepted with
//! `insecure_skip_verify`), a TCP listener and a closed port. Checked through the query
//! API (blackbox_exporter's series), `/api/v1/probes` (thresholds), the shipped rules
//! firing EndpointDown into a webhook, and a reload that removes a probe.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::util::{Lookout, free_port, pipeline, start_webhook, workspace_root};

/// A plain HTTP server: `/health` (200, `{"status": "ok"}`), `/flaky` (200 or 503 as
/// `healthy` says), `/moved` (302 to `/health`).
async fn start_http(healthy: Arc<AtomicBool>) -> String {
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/health", get(|| async { r#"{"status": "ok"}"# }))
        .route("/moved", get(|| async { Redirect::temporary("/health") }))
        .route(
            "/flaky",
            get(move || {
                let up = healthy.load(Ordering::SeqCst);
                async move {
                    if up {
                        (StatusCode::OK, "ok").into_response()
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE.into_response()
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// An HTTPS server whose certificate (for `localhost`, issued by a test CA written to
/// `ca_path`) expires in 10 days; it answers every request with 200.
fn start_https(ca_path: &std::path::Path) -> (String, i64) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "probe test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    std::fs::write(ca_path, ca_cert.pem()).unwrap();

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let expires = now + 10 * 86_400;
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
    leaf.not_after = time_from_unix(expires);
    let cert = leaf.signed_by(&key, &issuer).unwrap();

    let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    let server = Arc::new(server);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut tcp) = stream else { continue };
            let server = server.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(mut conn) = rustls::ServerConnection::new(server) else { return };
                let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (address, expires)
}

/// rcgen's date type from unix seconds.
fn time_from_unix(secs: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

/// One instant query: `(labels, value)` per series.
async fn query(lookout: &Lookout, q: &str) -> Vec<(Value, f64)> {
    // Sent as a form, every byte percent-encoded.
    let url = format!("http://{}/api/v1/query", lookout.api);
    let form = format!("query={}", q.bytes().map(|b| format!("%{b:02X}")).collect::<String>());
    let request = reqwest::Client::new().post(url).header("content-type", "application/x-www-form-urlencoded");
    let body: Value = request.body(form).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "success", "{q}: {body}");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
        .collect()
}

/// The value of `metric` for probe `probe` (waits until there is one).
async fn value(lookout: &Lookout, metric: &str, probe: &str) -> f64 {
    let q = format!("{metric}{{probe=\"{probe}\"}}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some((_, v)) = query(lookout, &q).await.first() {
            return *v;
        }
        assert!(Instant::now() < deadline, "no {q}; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `metric` of probe `probe` is `expected` (a check that timed out on a
/// loaded machine is followed by another), or panics with what was there.
async fn expect(lookout: &Lookout, metric: &str, probe: &str, expected: f64) {
    let q = format!("{metric}{{probe=\"{probe}\"}}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = query(lookout, &q).await;
        if got.first().is_some_and(|(_, v)| *v == expected) {
            return;
        }
        if Instant::now() > deadline {
            let state = probe_state(lookout, probe).await;
            panic!("{q}: expected {expected}, got {got:?}; probe: {state}; log:\n{}", lookout.log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn probe_state(lookout: &Lookout, name: &str) -> Value {
    let url = format!("http://{}/api/v1/probes?probe={name}", lookout.api);
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    body["data"]["probes"][0].clone()
}

fn probes_yaml(web: &str, tls: &str, tcp: &str, closed: u16, with_web: bool) -> String {
    let web_probe = if with_web {
        format!(
            "  web:\n    type: http\n    url: http://{web}/health\n    interval: 300ms\n    timeout: 250ms\n    \
             expect: {{ status: [200], body_regex: '\"status\":\\s*\"ok\"' }}\n    labels: {{ service: shop }}\n"
        )
    } else {
        String::new()
    };
    format!(
        "probes:
{web_probe}  moved:
    type: http
    url: http://{web}/moved
    interval: 300ms
    timeout: 250ms
  wrong_body:
    type: http
    url: http://{web}/health
    interval: 300ms
    timeout: 250ms
    expect: {{ body_regex: 'degraded' }}
  flaky:
    type: http
    url: http://{web}/flaky
    interval: 200ms
    timeout: 150ms
    failure_threshold: 3
    success_threshold: 2
  tls:
    type: http
    url: https://localhost:{tls_port}/
    interval: 300ms
    timeout: 250ms
    tls: {{ ca_file: ca.pem }}
  tls_untrusted:
    type: http
    url: https://localhost:{tls_port}/
    interval: 300ms
    timeout: 250ms
  tls_insecure:
    type: http
    url: https://127.0.0.1:{tls_port}/
    interval: 300ms
    timeout: 250ms
    tls: {{ insecure_skip_verify: true }}
  tcp_open:
    type: tcp
    address: {tcp}
    interval: 300ms
    timeout: 250ms
  tcp_closed:
    type: tcp
    address: 127.0.0.1:{closed}
    interval: 200ms
    timeout: 150ms
",
        tls_port = tls.rsplit_once(':').unwrap().1,
    )
}

#[tokio::test]
async fn probes_write_blackbox_series_apply_thresholds_and_page_through_a_webhook() {
    let healthy = Arc::new(AtomicBool::new(true));
    let web = start_http(healthy.clone()).await;
    let (hook, received) = start_webhook().await;
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_address = tcp.local_addr().unwrap().to_string();
    let closed = free_port();
    let files = tempfile::tempdir().unwrap();
    let (tls, expires) = start_https(&files.path().join("ca.pem"));
    let shipped = std::fs::read_to_string(workspace_root().join("alert-rules/probes.yml")).unwrap();
    // The shipped rules as they are, evaluated every 200ms instead of every 30s.
    let rules = shipped.replace("interval: 30s", "interval: 200ms");
    assert_ne!(rules, shipped);
    let files_dir = files.path().to_path_buf();
    let probes = probes_yaml(&web, &tls, &tcp_address, closed, true);
    let config_for = {
        let (web, tls, tcp_address, hook) = (web.clone(), tls.clone(), tcp_address.clone(), hook.clone());
        move |api: &str, grpc: &str, http: &str, dir: &std::path::Path, with_web: bool| {
            std::fs::copy(files_dir.join("ca.pem"), dir.join("ca.pem")).unwrap();
            std::fs::create_dir_all(dir.join("rules")).unwrap();
            std::fs::write(dir.join("rules/probes.yml"), &rules).unwrap();
            std::fs::write(
                dir.join("alertmanager.yml"),
                format!(
                    "route: {{ receiver: hook, group_by: [alertname, probe], group_wait: 0s, group_interval: 1s }}\n\
                     receivers:\n  - name: hook\n    webhook_configs: [{{ url: 'http://{hook}/hook' }}]\n"
                ),
            )
            .unwrap();
            format!(
                "{}{}rules:\n  files: [rules/*.yml]\nalerting:\n  config: {}\n",
                pipeline(api, grpc, http, dir, "", "enrich"),
                probes_yaml(&web, &tls, &tcp_address, closed, with_web),
                dir.join("alertmanager.yml").display()
            )
        }
    };
    assert!(probes.contains("web:"));
    let config_for = Arc::new(config_for);
    let make = config_for.clone();
    let mut lookout = Lookout::start_custom(move |api, grpc, http, dir| make(api, grpc, http, dir, true), &[]).await;

    // Series, with blackbox_exporter's names and labels.
    expect(&lookout, "probe_success", "web", 1.0).await;
    let web_success = query(&lookout, "probe_success{probe=\"web\"}").await;
    let labels = &web_success[0].0;
    assert_eq!(labels["job"], "probe", "{labels}");
    assert_eq!(labels["instance"], format!("http://{web}/health"), "{labels}");
    assert_eq!(labels["service"], "shop", "{labels}");
    expect(&lookout, "probe_http_status_code", "web", 200.0).await;
    let phases = query(&lookout, "probe_http_duration_seconds{probe=\"web\"}").await;
    let mut names: Vec<&str> = phases.iter().map(|(l, _)| l["phase"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["connect", "processing", "resolve", "tls", "transfer"]);
    assert!(phases.iter().all(|(_, v)| *v >= 0.0 && *v < 1.0), "{phases:?}");
    let duration = value(&lookout, "probe_duration_seconds", "web").await;
    assert!(duration > 0.0 && duration < 1.0, "{duration}");

    expect(&lookout, "probe_success", "moved", 1.0).await;
    expect(&lookout, "probe_http_redirects", "moved", 1.0).await;
    expect(&lookout, "probe_http_version", "web", 1.1).await;
    expect(&lookout, "probe_ip_protocol", "web", 4.0).await;
    expect(&lookout, "probe_http_uncompressed_body_length", "web", 16.0).await;
    expect(&lookout, "probe_failed_due_to_regex", "web", 0.0).await;
    expect(&lookout, "probe_success", "wrong_body", 0.0).await;
    expect(&lookout, "probe_failed_due_to_regex", "wrong_body", 1.0).await;
    expect(&lookout, "probe_http_status_code", "wrong_body", 200.0).await;

    // HTTPS: trusted through ca_file, with the certificate's expiry; refused without it.
    expect(&lookout, "probe_success", "tls", 1.0).await;
    expect(&lookout, "probe_http_ssl", "tls", 1.0).await;
    let versions = query(&lookout, "probe_tls_version_info{probe=\"tls\"}").await;
    assert!(versions.iter().any(|(l, v)| l["version"] == "TLS 1.3" && *v == 1.0), "{versions:?}");
    // The leaf's, which expires before the CA.
    expect(&lookout, "probe_ssl_earliest_cert_expiry", "tls", expires as f64).await;
    expect(&lookout, "probe_ssl_last_chain_expiry_timestamp_seconds", "tls", expires as f64).await;
    expect(&lookout, "probe_success", "tls_untrusted", 0.0).await;
    let untrusted = probe_state(&lookout, "tls_untrusted").await;
    let error = untrusted["last_error"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("TLS handshake") && error.contains("certificate"), "{untrusted}");
    // insecure_skip_verify: an unknown issuer and a name that does not match, accepted;
    // the expiry is still reported.
    expect(&lookout, "probe_success", "tls_insecure", 1.0).await;
    expect(&lookout, "probe_ssl_earliest_cert_expiry", "tls_insecure", expires as f64).await;

    // TCP: a listener and a closed port.
    expect(&lookout, "probe_success", "tcp_open", 1.0).await;
    expect(&lookout, "probe_success", "tcp_closed", 0.0).await;

    // Thresholds: flaky goes down only after 3 failures in a row, up after 2 successes.
    assert_eq!(probe_state(&lookout, "flaky").await["state"], "up");
    healthy.store(false, Ordering::SeqCst);
    let went_down = wait_state(&lookout, "flaky", "down", "consecutive_failures", 3).await;
    assert!(went_down["checks_total"].as_u64().unwrap() >= 3, "{went_down}");
    expect(&lookout, "lookout_probe_up", "flaky", 0.0).await;
    healthy.store(true, Ordering::SeqCst);
    wait_state(&lookout, "flaky", "up", "consecutive_successes", 2).await;

    // The shipped EndpointDown reaches the webhook for the closed port.
    let deadline = Instant::now() + Duration::from_secs(20);
    let alert = loop {
        let found = received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|m| m["alerts"].as_array().cloned().unwrap_or_default())
            .find(|a| a["labels"]["alertname"] == "EndpointDown" && a["labels"]["probe"] == "tcp_closed");
        if let Some(a) = found {
            break a;
        }
        assert!(Instant::now() < deadline, "no EndpointDown webhook; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["annotations"]["summary"], format!("tcp_closed: 127.0.0.1:{closed} is down"));

    // Lookout's own counter of checks, on /metrics.
    let metrics = reqwest::get(format!("http://{}/metrics", lookout.api)).await.unwrap().text().await.unwrap();
    let line = metrics.lines().find(|l| {
        l.starts_with("lookout_probe_checks_total{")
            && l.contains("probe=\"tcp_closed\"")
            && l.contains("result=\"failure\"")
    });
    assert!(line.is_some_and(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 3.0), "{metrics}");

    // A reload without `web`: it leaves the API and its series go stale; the others
    // keep their state.
    let checks_before = probe_state(&lookout, "tcp_open").await["checks_total"].as_u64().unwrap();
    let path = lookout.dir.path().join("pipeline.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let without = text.replace(&probes, &probes_yaml(&web, &tls, &tcp_address, closed, false));
    assert_ne!(without, text);
    std::fs::write(&path, without).unwrap();
    std::process::Command::new("kill").arg("-HUP").arg(lookout.child.id().to_string()).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all: Value =
            reqwest::get(format!("http://{}/api/v1/probes", lookout.api)).await.unwrap().json().await.unwrap();
        let names: Vec<&str> =
            all["data"]["probes"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        if !names.contains(&"web") && query(&lookout, "probe_success{probe=\"web\"}").await.is_empty() {
            assert!(names.contains(&"tcp_open"), "{names:?}");
            break;
        }
        assert!(Instant::now() < deadline, "web still probed after the reload: {names:?}; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = probe_state(&lookout, "tcp_open").await["checks_total"].as_u64().unwrap();
    assert!(after >= checks_before, "an unchanged probe keeps its counts: {checks_before} → {after}");
    assert!(lookout.stop().await.success(), "log:\n{}", lookout.log());
    drop(tcp);
}

/// Polls `/api/v1/probes` until `name` is in `state`; on the way, the state may only
/// change once `count_key` reached `threshold` (the threshold is respected).
async fn wait_state(lookout: &Lookout, name: &str, state: &str, count_key: &str, threshold: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let p = probe_state(lookout, name).await;
        let count = p[count_key].as_u64().unwrap();
        if p["state"] == state {
            assert!(count >= threshold, "{name} turned {state} after {count} {count_key}: {p}");
            return p;
        }
        assert!(Instant::now() < deadline, "{name} never turned {state}: {p}; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `lookout check` validates `probes:`, with FILE:LINE:COL.
#[test]
fn check_reports_probe_mistakes_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(
        &path,
        "sources:\n  otlp: { type: otlp, http: { address: '127.0.0.1:0' } }\nsinks:\n  out: { type: console, inputs: [otlp] }\n\
         probes:\n  ping:\n    type: icmp\n  web:\n    type: http\n    url: http://x/\n    timeout: 1m\n    interval: 10s\n",
    )
    .unwrap();
    let out =
        std::process::Command::new(crate::util::lookout_bin()).args(["check", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = path.display();
    assert!(err.contains(&format!("{file}:7:11: probe `ping`: type `icmp` is not supported")), "{err}");
    assert!(
        err.contains(&format!("{file}:9:11: probe `web`: timeout (1m) must not be longer than interval (10s)")),
        "{err}"
    );
}
