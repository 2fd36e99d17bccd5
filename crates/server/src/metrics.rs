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
    out.push_str(EOF);
    out
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
}
