//! `lookout demo`: a small shop's telemetry — logs, traces and metrics of `checkout`,
//! `bookings`, `payments` and their `api` front door — sent over OTLP/HTTP protobuf to
//! a running Lookout, as an OpenTelemetry SDK would send it.
//!
//! The shop ([`Shop`]) is shaped so that, on the default pipeline, every part of
//! Lookout has something to show within two minutes: records in the archive and on
//! the console, series in the store (request histograms, span RED metrics, gauges),
//! the shipped alerts pending and `DatabaseConnectionErrors` firing, and a decision of
//! the shipped `api` scaler. See `shop.rs` for which service trips what.
//!
//! Each tick covers the time since the last one, so a shorter `interval` sends the
//! same rates in smaller exports (the end-to-end test uses that to be quick).
//!
//! ```no_run
//! # async fn demo() -> Result<(), lookout_demo::DemoError> {
//! let settings = lookout_demo::Settings::new("http://127.0.0.1:4318");
//! lookout_demo::run(&settings, |sent| eprintln!("{sent:?}")).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod shop;

use std::time::{Duration, Instant};

use lookout_event::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_event::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_event::otlp::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

pub use shop::{Counts, Shop, Tick};

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Lookout could not be reached.
    #[error("cannot send to {url}: {source} (is `lookout run` running?)")]
    Unreachable {
        /// The OTLP URL.
        url: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// Lookout refused an export for good (a 4xx other than 429).
    #[error("{url} answered {status}: {body}")]
    Refused {
        /// The OTLP URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What it said.
        body: String,
    },
    /// A bad `--duration`.
    #[error("--duration: {0}")]
    Duration(String),
}

/// Where and how long to send.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The OTLP/HTTP base URL (`/v1/logs`, `/v1/traces`, `/v1/metrics` are appended).
    pub otlp_http: String,
    /// Stop after this long; `None`: until the future is dropped.
    pub duration: Option<Duration>,
    /// Time between two exports.
    pub interval: Duration,
}

impl Settings {
    /// Every five seconds to `otlp_http`, until stopped.
    pub fn new(otlp_http: &str) -> Settings {
        Settings {
            otlp_http: otlp_http.trim_end_matches('/').to_string(),
            duration: None,
            interval: Duration::from_secs(5),
        }
    }
}

/// What has been sent so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Exports (each one request per signal).
    pub ticks: u64,
    /// Records sent and accepted.
    pub total: Counts,
    /// Requests Lookout pushed back on (503/429: it was busy); their records were dropped.
    pub refused: u64,
}

/// Parses `90s`, `10m`, `1h`, `500ms` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, DemoError> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 =
        number.parse().map_err(|_| DemoError::Duration(format!("`{s}` is not a duration such as 90s, 10m or 1h")))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(DemoError::Duration(format!("unknown unit `{unit}` in `{s}`; use ms, s, m or h"))),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Sends the shop's telemetry every `settings.interval` until `settings.duration` is
/// over, calling `progress` after each export.
pub async fn run(settings: &Settings, mut progress: impl FnMut(&Sent)) -> Result<Sent, DemoError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| DemoError::Unreachable { url: settings.otlp_http.clone(), source: e })?;
    let mut shop = Shop::new();
    let mut sent = Sent::default();
    let started = Instant::now();
    let mut last = Instant::now();
    // The first tick covers one interval, so the first export already has data.
    let mut covered = settings.interval.as_secs_f64();
    loop {
        let tick = shop.tick(covered);
        let requests = [
            ("logs", ExportLogsServiceRequest { resource_logs: tick.logs }.encode_to_vec()),
            ("traces", ExportTraceServiceRequest { resource_spans: tick.spans }.encode_to_vec()),
            ("metrics", ExportMetricsServiceRequest { resource_metrics: tick.metrics }.encode_to_vec()),
        ];
        let mut accepted = [true; 3];
        for (i, (signal, body)) in requests.into_iter().enumerate() {
            accepted[i] = post(&client, &format!("{}/v1/{signal}", settings.otlp_http), body).await?;
        }
        sent.ticks += 1;
        sent.refused += accepted.iter().filter(|a| !**a).count() as u64;
        let c = shop.last;
        sent.total.logs += if accepted[0] { c.logs } else { 0 };
        sent.total.spans += if accepted[1] { c.spans } else { 0 };
        sent.total.points += if accepted[2] { c.points } else { 0 };
        progress(&sent);
        if settings.duration.is_some_and(|d| started.elapsed() + settings.interval > d) {
            return Ok(sent);
        }
        tokio::time::sleep(settings.interval.saturating_sub(last.elapsed())).await;
        covered = last.elapsed().as_secs_f64();
        last = Instant::now();
    }
}

/// One export; `false` when Lookout was too busy to take it (the demo moves on).
async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> Result<bool, DemoError> {
    let response = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .map_err(|e| DemoError::Unreachable { url: url.to_string(), source: e })?;
    let status = response.status();
    if status.is_success() {
        return Ok(true);
    }
    if status.as_u16() == 429 || status.is_server_error() {
        return Ok(false);
    }
    let body = response.text().await.unwrap_or_default();
    Err(DemoError::Refused { url: url.to_string(), status: status.as_u16(), body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("3d").unwrap_err().to_string().contains("unknown unit `d`"));
        assert!(parse_duration("soon").is_err());
    }
}
