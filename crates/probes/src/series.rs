//! A check's outcome as series in the store, with blackbox_exporter's names and
//! labels, so rules and dashboards written for blackbox_exporter work unchanged.
//!
//! Every series of a probe carries `job="probe"`, `instance` (the URL or `host:port`
//! probed, as blackbox_exporter's usual relabelling sets it), `probe` (the probe's
//! name) and the probe's `labels:` (which may override `job` and `instance`).
//! A series a probe wrote last time but not this time (say, the certificate series
//! after a failed handshake), and every series of a probe that a reload removed, gets
//! a staleness marker, as Prometheus writes when a scraped series disappears.

use std::collections::HashSet;

use lookout_tsdb::otlp::{Metadata, MetricType};
use lookout_tsdb::{Labels, Store};

use crate::Probe;
use crate::outcome::Outcome;

/// `job` of every probe series (unless the probe's labels set another).
pub const JOB: &str = "probe";

/// The families written, with their help text (for `/api/v1/metadata`).
const FAMILIES: &[(&str, &str)] = &[
    ("probe_success", "Whether the probe succeeded."),
    ("probe_duration_seconds", "How long the probe took to complete, in seconds."),
    ("probe_dns_lookup_time_seconds", "How long the name resolution took, in seconds."),
    ("probe_http_status_code", "The HTTP status code of the final response (0: none)."),
    ("probe_http_duration_seconds", "Duration of the HTTP request by phase, summed over redirects, in seconds."),
    ("probe_http_redirects", "The number of redirects followed."),
    ("probe_http_ssl", "Whether the final response came over TLS."),
    ("probe_http_version", "The HTTP version of the final response."),
    ("probe_http_content_length", "The Content-Length of the final response (-1: none)."),
    ("probe_http_uncompressed_body_length", "The bytes of body read."),
    ("probe_failed_due_to_regex", "Whether the check failed because the body did not match body_regex."),
    ("probe_ip_protocol", "Whether the address connected to is IPv4 (4) or IPv6 (6)."),
    ("probe_tls_version_info", "The TLS version negotiated (1 for the version label)."),
    ("probe_grpc_ssl", "Whether the health check went over TLS."),
    ("probe_ssl_earliest_cert_expiry", "The earliest expiry of the certificates presented, in unix seconds."),
    (
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        "The expiry of the certificate chain presented, in unix seconds.",
    ),
    ("probe_grpc_status_code", "The gRPC status code of the health check."),
    ("probe_grpc_healthcheck_response", "The health check's serving status (1 for the one answered)."),
    ("lookout_probe_up", "Whether the probe is up once its consecutive failure and success thresholds are applied."),
];

const SERVING_STATUSES: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/// Describes the families in the store's metadata.
pub(crate) fn record_metadata(store: &Store) {
    let entries: Vec<Metadata> = FAMILIES
        .iter()
        .map(|(family, help)| Metadata {
            family: family.to_string(),
            metric_type: MetricType::Gauge,
            help: help.to_string(),
            unit: if family.ends_with("_seconds") { "seconds".to_string() } else { String::new() },
        })
        .collect();
    store.metadata().record(&entries);
}

/// The samples of one check: `(labels, value)`.
pub(crate) fn samples(probe: &Probe, outcome: &Outcome, up: bool) -> Vec<(Labels, f64)> {
    let series = |name: &str, extra: &[(&str, &str)], v: f64| {
        let mut pairs = vec![
            ("__name__".to_string(), name.to_string()),
            ("job".to_string(), JOB.to_string()),
            ("instance".to_string(), probe.target.clone()),
            ("probe".to_string(), probe.name.clone()),
        ];
        pairs.extend(probe.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        (Labels::new(pairs), v)
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let mut out = vec![
        series("probe_success", &[], flag(outcome.success)),
        series("probe_duration_seconds", &[], outcome.duration.as_secs_f64()),
        series("lookout_probe_up", &[], flag(up)),
    ];
    if let Some(phases) = &outcome.phases {
        out.push(series("probe_dns_lookup_time_seconds", &[], phases.resolve.as_secs_f64()));
        for (phase, seconds) in phases.labelled() {
            out.push(series("probe_http_duration_seconds", &[("phase", phase)], seconds));
        }
    }
    if let Some(code) = outcome.status_code {
        out.push(series("probe_http_status_code", &[], f64::from(code)));
        out.push(series("probe_http_redirects", &[], f64::from(outcome.redirects.unwrap_or(0))));
        out.push(series("probe_http_ssl", &[], flag(outcome.tls.is_some())));
        out.push(series("probe_failed_due_to_regex", &[], flag(outcome.failed_due_to_regex)));
    }
    if let Some(v) = outcome.http_version {
        out.push(series("probe_http_version", &[], v));
    }
    if let Some(n) = outcome.content_length {
        out.push(series("probe_http_content_length", &[], n as f64));
    }
    if let Some(n) = outcome.body_length {
        out.push(series("probe_http_uncompressed_body_length", &[], n as f64));
    }
    if let Some(p) = outcome.ip_protocol {
        out.push(series("probe_ip_protocol", &[], f64::from(p)));
    }
    if let Some(version) = outcome.tls_version {
        out.push(series("probe_tls_version_info", &[("version", version)], 1.0));
    }
    if let Some(tls) = &outcome.tls {
        out.push(series("probe_ssl_earliest_cert_expiry", &[], tls.earliest as f64));
        out.push(series("probe_ssl_last_chain_expiry_timestamp_seconds", &[], tls.last_chain as f64));
    }
    if let Some(code) = outcome.grpc_status {
        out.push(series("probe_grpc_status_code", &[], f64::from(code)));
        out.push(series("probe_grpc_ssl", &[], flag(outcome.tls.is_some())));
    }
    if let Some(status) = outcome.serving_status {
        for (i, name) in SERVING_STATUSES.iter().enumerate() {
            out.push(series("probe_grpc_healthcheck_response", &[("serving_status", name)], flag(status == i as i32)));
        }
    }
    out
}

/// Appends `samples` at `t_ms`, and staleness markers for what `previous` had and
/// `samples` lacks; returns the series now written (the next call's `previous`).
pub(crate) fn write(
    store: &Store,
    t_ms: i64,
    samples: Vec<(Labels, f64)>,
    previous: &HashSet<Labels>,
) -> HashSet<Labels> {
    let mut written = HashSet::with_capacity(samples.len());
    for (labels, v) in samples {
        if let Err(e) = store.append(&labels, t_ms, v) {
            tracing::warn!(error = %e, series = %labels, "Cannot store a probe sample.");
        }
        written.insert(labels);
    }
    mark_stale(store, t_ms, previous.iter().filter(|l| !written.contains(*l)));
    store.commit();
    written
}

/// Writes staleness markers for `series` at `t_ms`.
pub(crate) fn mark_stale<'a>(store: &Store, t_ms: i64, series: impl Iterator<Item = &'a Labels>) {
    for labels in series {
        let _ = store.append(labels, t_ms, lookout_tsdb::stale_nan());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lookout_tsdb::{Matcher, StoreConfig};

    use super::*;
    use crate::outcome::{Measure, Outcome};
    use crate::tls::CertExpiry;

    fn probe() -> Probe {
        let text = "sources:\n  in: { type: otlp }\nprobes:\n  shop:\n    type: http\n    url: https://shop/health\n    \
                    labels: { job: web, team: payments }\n";
        let cfg = lookout_config::load_str("p.yaml", text, &|_| None).unwrap();
        crate::check_probes(&cfg.probes, std::path::Path::new(".")).unwrap().remove(0)
    }

    fn outcome(at_ms: i64, tls: bool) -> Outcome {
        let mut m = Measure { status: Some(200), ..Measure::default() };
        if tls {
            m.tls = Some(CertExpiry { earliest: 1_900_000_000, last_chain: 1_900_000_000 });
        }
        Outcome::new(crate::ProbeKind::Http, at_ms, Duration::from_millis(20), m, Ok(()))
    }

    fn latest(store: &Store, name: &str) -> Option<f64> {
        let series = store.select(&[Matcher::equal("__name__", name)], 0, i64::MAX);
        series.first().and_then(|s| s.samples.last()).map(|s| s.v)
    }

    #[test]
    fn labels_and_staleness_of_series_that_stop() {
        let p = probe();
        let first = samples(&p, &outcome(1_000, true), true);
        let success = &first.iter().find(|(l, _)| l.name() == Some("probe_success")).unwrap().0;
        // The probe's labels win over job; instance and probe are set.
        assert_eq!(success.get("job"), Some("web"));
        assert_eq!(success.get("team"), Some("payments"));
        assert_eq!(success.get("instance"), Some("https://shop/health"));
        assert_eq!(success.get("probe"), Some("shop"));

        let store = Store::new(StoreConfig::default());
        let written = write(&store, 1_000, first, &HashSet::new());
        assert_eq!(latest(&store, "probe_ssl_earliest_cert_expiry"), Some(1_900_000_000.0));
        assert_eq!(latest(&store, "lookout_probe_up"), Some(1.0));
        // The next check has no certificate: its series gets a staleness marker.
        write(&store, 2_000, samples(&p, &outcome(2_000, false), false), &written);
        assert!(latest(&store, "probe_ssl_earliest_cert_expiry").is_some_and(lookout_tsdb::is_stale));
        assert_eq!(latest(&store, "lookout_probe_up"), Some(0.0));
        assert_eq!(latest(&store, "probe_http_status_code"), Some(200.0));
    }
}
