//! `/metrics`: the Prometheus text exposition.
//!
//! The component families come from [`lookout_component::Telemetry::encode`], which
//! writes OpenMetrics text ending in `# EOF`. The build and process gauges are added
//! before that marker, so the document stays valid OpenMetrics (nothing may follow
//! `# EOF`) and is equally read by Prometheus' classic text parser, for which
//! `# EOF` is a comment. A scraper that asks for OpenMetrics gets it under its own
//! content type; everyone else gets `text/plain; version=0.0.4`.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::ApiState;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const EOF: &str = "# EOF\n";

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let body = exposition(&state, wants_openmetrics);
    let content_type = if wants_openmetrics { OPENMETRICS } else { TEXT };
    ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response()
}

/// Every metric, ending in a single `# EOF`. `lookout_build_info` is typed `info` in
/// OpenMetrics and `gauge` in the classic format, which has no `info` type.
pub(crate) fn exposition(state: &ApiState, openmetrics: bool) -> String {
    let mut out = state.telemetry.encode();
    if out.ends_with(EOF) {
        out.truncate(out.len() - EOF.len());
    }
    let build_labels = format!("{{version=\"{}\"}}", escape_label(state.version));
    if openmetrics {
        out.push_str("# HELP lookout_build Lookout's build.\n# TYPE lookout_build info\n");
        let _ = writeln!(out, "lookout_build_info{build_labels} 1");
    } else {
        gauge(&mut out, "lookout_build_info", "Lookout's build; the value is always 1.", &build_labels, 1.0);
    }
    gauge(&mut out, "lookout_uptime_seconds", "Seconds since Lookout started.", "", state.uptime_seconds());
    gauge(
        &mut out,
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds.",
        "",
        state.started_unix,
    );
    if let Some(rss) = resident_memory_bytes() {
        gauge(&mut out, "process_resident_memory_bytes", "Resident memory size in bytes.", "", rss as f64);
    }
    if let Some(fds) = open_fds() {
        gauge(&mut out, "process_open_fds", "Number of open file descriptors.", "", fds as f64);
    }
    listeners(&mut out, openmetrics);
    out.push_str(EOF);
    out
}

/// Every listener's counters (`address` label): what its limits refused or closed.
fn listeners(out: &mut String, openmetrics: bool) {
    use crate::listener::{ListenerStats, Serving};
    use std::sync::atomic::{AtomicU64, Ordering};
    type Field = fn(&ListenerStats) -> &AtomicU64;
    let counters: [(&str, &str, Field); 5] = [
        ("lookout_listener_connections_accepted", "Connections a listener accepted.", |s| &s.accepted_connections),
        (
            "lookout_listener_connections_refused",
            "Connections closed on accept because the listener's connection cap was reached.",
            |s| &s.refused_connections,
        ),
        (
            "lookout_listener_connections_timed_out",
            "Connections closed for idling or for not sending a whole header in time.",
            |s| &s.timed_out_connections,
        ),
        (
            "lookout_listener_requests_shed",
            "Requests answered 503 because the listener's in-flight cap was reached.",
            |s| &s.shed_requests,
        ),
        (
            "lookout_listener_tls_handshake_failures",
            "TLS handshakes that failed or took longer than the header read timeout.",
            |s| &s.tls_handshake_failures,
        ),
    ];
    crate::listener::with_serving(|serving: &[Serving]| {
        if serving.is_empty() {
            return;
        }
        let label = |s: &Serving| format!("{{address=\"{}\"}}", escape_label(&s.address));
        for (name, help, field) in counters {
            let samples = serving.iter().map(|s| (label(s), field(&s.stats).load(Ordering::Relaxed)));
            counter_family(out, openmetrics, name, help, samples);
        }
        let _ = writeln!(out, "# HELP lookout_listener_open_connections Connections a listener holds open now.");
        let _ = writeln!(out, "# TYPE lookout_listener_open_connections gauge");
        for s in serving {
            let _ = writeln!(
                out,
                "lookout_listener_open_connections{} {}",
                label(s),
                s.stats.open_connections.load(Ordering::Relaxed)
            );
        }
        let tls: Vec<_> = serving.iter().filter_map(|s| s.tls.as_ref().map(|t| (s, t))).collect();
        if !tls.is_empty() {
            for (name, help, ok) in [
                ("lookout_listener_tls_reloads", "Certificate reloads that took effect.", true),
                (
                    "lookout_listener_tls_reload_failures",
                    "Certificate reloads that failed (the last good one kept).",
                    false,
                ),
            ] {
                let samples = tls.iter().map(|(s, t)| (label(s), if ok { t.reloads() } else { t.reload_failures() }));
                counter_family(out, openmetrics, name, help, samples);
            }
        }
    });
}

/// Appends a counter family: `name_total` samples; the family is `name` in OpenMetrics
/// and `name_total` in the classic format.
fn counter_family(
    out: &mut String,
    openmetrics: bool,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (String, u64)>,
) {
    let family = if openmetrics { name.to_string() } else { format!("{name}_total") };
    let _ = writeln!(out, "# HELP {family} {help}");
    let _ = writeln!(out, "# TYPE {family} counter");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}_total{labels} {value}");
    }
}

/// Appends one gauge family with one sample.
fn gauge(out: &mut String, name: &str, help: &str, labels: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = writeln!(out, "{name}{labels} {}", value as i64);
    } else {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `VmRSS` of `/proc/self/status` (Linux), in bytes.
fn resident_memory_bytes() -> Option<u64> {
    parse_vm_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let kib: u64 = parts.next()?.parse().ok()?;
    Some(kib * 1024)
}

/// Entries of `/proc/self/fd` (Linux).
fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use lookout_component::{Health, Telemetry};
    use tower::ServiceExt;

    async fn scrape(accept: Option<&str>) -> (StatusCode, String, String) {
        let telemetry = Telemetry::new();
        let m = telemetry.component("archive", "sink", "file");
        m.sent_events.inc_by(10);
        m.latency.observe(0.003);
        let state = ApiState::new(telemetry, Health::default(), "1.2.3");
        let mut req = Request::get("/metrics");
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        let resp = router(state).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let ct = resp.headers()[header::CONTENT_TYPE].to_str().unwrap().to_string();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn exposes_components_build_and_process() {
        let (status, ct, text) = scrape(None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
        let labels = r#"component_id="archive",component_kind="sink",component_type="file""#;
        assert!(text.contains(&format!("lookout_component_sent_events_total{{{labels}}} 10\n")), "{text}");
        assert!(text.contains(&format!("lookout_component_latency_seconds_count{{{labels}}} 1\n")), "{text}");
        assert!(text.contains("# TYPE lookout_build_info gauge\nlookout_build_info{version=\"1.2.3\"} 1\n"), "{text}");
        assert!(text.contains("# TYPE process_resident_memory_bytes gauge\n"), "{text}");
        let rss_line = text.lines().find(|l| l.starts_with("process_resident_memory_bytes ")).expect("rss sample");
        let rss: f64 = rss_line.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(rss > 1e6, "{rss_line}");
        assert!(text.contains("\nlookout_uptime_seconds "), "{text}");
        assert!(text.contains("\nprocess_start_time_seconds "), "{text}");
        // One EOF marker, last.
        assert!(text.ends_with("\n# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        // Every sample line is `name{labels} value` with a numeric value.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "bad sample line `{line}`");
        }
    }

    #[tokio::test]
    async fn openmetrics_when_asked() {
        let (_, ct, text) =
            scrape(Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")).await;
        assert_eq!(ct, OPENMETRICS);
        assert!(text.contains("# TYPE lookout_build info\nlookout_build_info{version=\"1.2.3\"} 1\n"), "{text}");
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    }

    #[test]
    fn reads_vm_rss() {
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t   1234 kB\nVmSwap: 0 kB\n"), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn formats_values_and_labels() {
        let mut out = String::new();
        gauge(&mut out, "g", "Help.", "{v=\"a\\\"b\"}", 1.5);
        assert_eq!(out, "# HELP g Help.\n# TYPE g gauge\ng{v=\"a\\\"b\"} 1.5\n");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    /// A listener's counters appear under its address while it serves, and go with it.
    #[tokio::test]
    async fn listeners_report_their_connections() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = lookout_component::Shutdown::new();
        let state = ApiState::new(Telemetry::new(), Health::default(), "1.2.3");
        let task = tokio::spawn(crate::serve(listener, state, shutdown.clone()));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let label = format!("{{address=\"{addr}\"}}");
        assert!(response.contains(&format!("lookout_listener_connections_accepted_total{label} 1\n")), "{response}");
        assert!(response.contains(&format!("lookout_listener_open_connections{label} 1\n")), "{response}");
        assert!(response.contains("# TYPE lookout_listener_requests_shed_total counter\n"), "{response}");
        assert!(response.trim_end().ends_with("# EOF"), "{response}");
        shutdown.cancel();
        task.await.unwrap().unwrap();
        let after = exposition(&ApiState::new(Telemetry::new(), Health::default(), "1.2.3"), false);
        assert!(!after.contains(&label), "gone once it stopped serving: {after}");
    }
}
