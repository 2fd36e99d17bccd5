//! Self-scrape (`telemetry.self_scrape_interval`): Lookout stores its own `/metrics`
//! in its own series store, as `{job="lookout", instance=API_ADDRESS}`, so the
//! dashboards in `dashboards/lookout.json` (and rules about Lookout itself) have data
//! without a Prometheus scraping it.
//!
//! It reads the same exposition `/metrics` serves (no HTTP round trip, no credentials)
//! and appends each sample at the scrape time, as a Prometheus scrape would.

use std::sync::Arc;
use std::time::Duration;

use lookout_component::Shutdown;
use lookout_tsdb::{Labels, Store};
use tracing::debug;

use crate::ApiState;

/// Series their producer stores itself under its own labels (the `nats` source's consumer
/// lag, `lookout_ingest::nats::lag`): scraped too, they would be stored a second time with
/// `job`/`instance`, and a query over them would find two series for one backlog.
const STORED_BY_PRODUCER: &[&str] = &["lookout_nats_consumer_pending", "lookout_nats_consumer_ack_pending"];

/// Appends one scrape of `state`'s metrics to `store` at `t_ms`; returns the samples
/// stored. Samples the store refuses (its series limit) are skipped.
pub fn scrape_once(state: &ApiState, store: &Store, instance: &str, t_ms: i64) -> usize {
    let text = crate::metrics::exposition(state, false);
    let mut stored = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((mut pairs, value)) = parse_sample(line) else { continue };
        if STORED_BY_PRODUCER.contains(&pairs[0].1.as_str()) {
            continue;
        }
        pairs.push(("job".into(), "lookout".into()));
        pairs.push(("instance".into(), instance.to_string()));
        if store.append(&Labels::new(pairs), t_ms, value).is_ok() {
            stored += 1;
        }
    }
    stored
}

/// Scrapes every `interval` until `shutdown` fires.
pub fn spawn(
    state: ApiState,
    store: Arc<Store>,
    instance: String,
    interval: Duration,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = lookout_component::Ticker::new(interval.max(Duration::from_secs(1)), shutdown);
        while ticker.tick().await {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
            let stored = scrape_once(&state, &store, &instance, now as i64);
            debug!(samples = stored, "Self-scrape stored.");
        }
    })
}

/// `name{a="b",...} value` (a trailing timestamp is ignored) → pairs with `__name__`.
fn parse_sample(line: &str) -> Option<(Vec<(String, String)>, f64)> {
    let name_end = line.find(['{', ' '])?;
    let mut pairs = vec![("__name__".to_string(), line[..name_end].to_string())];
    let mut rest = &line[name_end..];
    if let Some(mut body) = rest.strip_prefix('{') {
        loop {
            body = body.trim_start_matches([',', ' ']);
            if let Some(after) = body.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = body.find('=')?;
            let name = body[..eq].trim().to_string();
            let mut chars = body[eq + 1..].strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            pairs.push((name, value));
            body = &body[eq + 1..][1 + end + 1..];
        }
    }
    let value = match rest.split_whitespace().next()? {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((pairs, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples() {
        let (pairs, v) =
            parse_sample(r#"lookout_component_sent_events_total{component_id="a\"b",component_kind="sink"} 12"#)
                .unwrap();
        assert_eq!(v, 12.0);
        assert_eq!(pairs[0], ("__name__".into(), "lookout_component_sent_events_total".into()));
        assert_eq!(pairs[1], ("component_id".into(), "a\"b".into()));
        assert_eq!(pairs[2], ("component_kind".into(), "sink".into()));
        let (pairs, v) = parse_sample("lookout_uptime_seconds 3.5").unwrap();
        assert_eq!((pairs.len(), v), (1, 3.5));
        assert_eq!(parse_sample(r#"x_bucket{le="+Inf"} 4"#).unwrap().0[1].1, "+Inf");
        assert!(parse_sample("broken{a=} 1").is_none());
    }

    #[test]
    fn scrape_stores_own_metrics_with_job_and_instance() {
        let telemetry = lookout_component::Telemetry::new();
        let metrics = telemetry.component("otlp", "source", "otlp");
        metrics.received_events.inc_by(7);
        let state = ApiState::new(telemetry, lookout_component::Health::default(), "1.0.0");
        let store = Store::new(Default::default());
        assert!(scrape_once(&state, &store, "127.0.0.1:8686", 1_000) > 3);
        let series = store.series_count();
        assert!(series > 3, "{series}");
    }
}
