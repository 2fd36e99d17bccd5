//! `log_to_metric`: Prometheus series from records — "more than 3 database connection
//! errors in a minute" becomes a rule over a counter. Records pass through unchanged.
//!
//! ```yaml
//! transforms:
//!   db_errors:
//!     type: log_to_metric
//!     inputs: [enrich]
//!     metrics:
//!       - name: lookout_log_db_connection_errors_total
//!         kind: counter                       # counter | gauge | histogram
//!         condition: 'body =~ "(?i)connection (refused|reset|timed out)"'
//!         labels: { service: service.name }   # label name → field
//!       - name: checkout_payment_amount
//!         kind: histogram
//!         field: attributes.amount            # the observed value (counters: the increment)
//!         buckets: [1, 10, 100, 1000]
//!     max_series_per_metric: 10000            # label sets per metric (the default)
//!     series_idle_timeout: 10m                # forget series idle this long (the default; 0 = never)
//! ```
//!
//! Counters and histograms are cumulative from Lookout's start (a restart is a counter
//! reset, which `rate`/`increase` handle); every series touched by a batch gets a sample
//! stamped with the batch's arrival time. Series go to the embedded store
//! (the handle in `TransformContext::store`), where rules read them.
//!
//! The state is bounded, for every metric of the list: past `max_series_per_metric`
//! label sets of a metric (a histogram's counts once, whatever its buckets), samples of
//! new label sets are folded into `NAME{otel_metric_overflow="true"}` (no other label;
//! what the OpenTelemetry Collector's spanmetrics does past its cardinality limit),
//! which is logged once per metric, and each record that had a sample folded counts in
//! `lookout_component_discarded_events_total` (the record itself passes through). A
//! series with no sample for `series_idle_timeout` (Prometheus duration) is forgotten,
//! freeing its slot; if it comes back it restarts from zero (a counter reset, which
//! `rate`/`increase` handle). See `crate::derived` for the details.

use std::sync::Arc;

use indexmap::IndexMap;
use lookout_component::{BuildError, Transform, TransformConfig, TransformContext, TransformOutput, spanned_error};
use lookout_config::{ComponentDecl, ConfigErrors, PromDuration};
use lookout_event::{Batch, FieldPath};
use lookout_tsdb::Labels;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::Condition;
use crate::derived::{
    Accumulator, DEFAULT_BUCKETS, Limits, batch_time_ms, check_limits, default_max_series_per_metric,
    default_series_idle_timeout, evidence, tenant_label,
};

/// `type: log_to_metric`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogToMetricConfig {
    /// The series to derive.
    pub metrics: Vec<MetricSpec>,
    /// Label sets kept per metric; samples of more go to the overflow series.
    #[serde(default = "default_max_series_per_metric")]
    pub max_series_per_metric: usize,
    /// Series with no sample for this long are forgotten (`0` = never).
    #[serde(default = "default_series_idle_timeout")]
    pub series_idle_timeout: PromDuration,
}

/// One derived series family.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// The Prometheus metric name, as rules will use it.
    pub name: Spanned<String>,
    /// What it is.
    pub kind: MetricKind,
    /// Only records matching this count (default: all).
    #[serde(default)]
    pub condition: Option<Spanned<String>>,
    /// The value: a counter's increment (default 1), a gauge's value, an observation.
    #[serde(default)]
    pub field: Option<String>,
    /// Label name → field path.
    #[serde(default)]
    pub labels: IndexMap<String, String>,
    /// Histogram bucket bounds (default: Prometheus's client defaults).
    #[serde(default)]
    pub buckets: Option<Vec<f64>>,
}

/// The kind of a derived metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Monotonic count.
    Counter,
    /// Last value.
    Gauge,
    /// Distribution: `_bucket`, `_sum`, `_count`.
    Histogram,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl TransformConfig for LogToMetricConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if self.metrics.is_empty() {
            errors.push(decl.error("`metrics` needs at least one entry"));
        }
        if let Err(e) = check_limits(self.max_series_per_metric) {
            errors.push(decl.error(e));
        }
        for m in &self.metrics {
            if !valid_name(&m.name.value) {
                errors.push(spanned_error(decl, &m.name, format!("`{}` is not a valid metric name", m.name.value)));
            }
            if m.kind != MetricKind::Counter && m.field.is_none() {
                errors.push(spanned_error(decl, &m.name, "a gauge or histogram needs `field` (the value)"));
            }
            if let Some(label) = m.labels.keys().find(|l| !valid_name(l) || l.contains(':')) {
                errors.push(spanned_error(decl, &m.name, format!("`{label}` is not a valid label name")));
            }
            if let Some(b) = &m.buckets
                && (b.is_empty() || b.windows(2).any(|w| w[0] >= w[1]))
            {
                errors.push(spanned_error(decl, &m.name, "`buckets` must be non-empty and strictly increasing"));
            }
            if let Some(c) = &m.condition
                && let Err(e) = crate::check_condition(decl, c)
            {
                errors.push(e);
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors)) }
    }

    fn build(&self, cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError> {
        Ok(Box::new(LogToMetric::new(self, cx.store.clone())?))
    }
}

struct Compiled {
    name: String,
    kind: MetricKind,
    condition: Option<Condition>,
    field: Option<FieldPath>,
    labels: Vec<(String, FieldPath)>,
    buckets: Vec<f64>,
}

/// The running transform.
pub struct LogToMetric {
    metrics: Vec<Compiled>,
    tenant: FieldPath,
    acc: Accumulator,
}

impl LogToMetric {
    /// Builds it writing into `store`.
    pub fn new(config: &LogToMetricConfig, store: Arc<lookout_tsdb::Store>) -> Result<LogToMetric, BuildError> {
        let metrics = config
            .metrics
            .iter()
            .map(|m| {
                Ok(Compiled {
                    name: m.name.value.clone(),
                    kind: m.kind,
                    condition: m.condition.as_ref().map(crate::build_condition).transpose()?,
                    field: m.field.as_deref().map(FieldPath::parse),
                    labels: m.labels.iter().map(|(k, v)| (k.clone(), FieldPath::parse(v))).collect(),
                    buckets: m.buckets.clone().unwrap_or_else(|| DEFAULT_BUCKETS.to_vec()),
                })
            })
            .collect::<Result<_, BuildError>>()?;
        let limits = Limits::new(config.max_series_per_metric, config.series_idle_timeout);
        Ok(LogToMetric { metrics, tenant: FieldPath::tenant(), acc: Accumulator::new(store, limits) })
    }
}

impl Transform for LogToMetric {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        let (metrics, tenant, acc) = (&self.metrics, &self.tenant, &mut self.acc);
        let t = batch_time_ms(&batch);
        acc.expire(t);
        let mut overflowed = 0u64;
        batch.for_each(|r| {
            let mut folded = false;
            for m in metrics {
                if m.condition.as_ref().is_some_and(|c| !c.matches(&r)) {
                    continue;
                }
                let value = m.field.as_ref().map(|f| r.get(f).and_then(|v| v.as_f64()));
                let labels = || {
                    let mut pairs: Vec<(String, String)> = m
                        .labels
                        .iter()
                        .map(|(k, f)| (k.clone(), r.get(f).map(|v| v.to_string()).unwrap_or_default()))
                        .collect();
                    pairs.push(("__name__".into(), m.name.clone()));
                    pairs.extend(tenant_label(&r, tenant));
                    Labels::new(pairs)
                };
                let ev = || evidence(&r);
                folded |= match (m.kind, value) {
                    (MetricKind::Counter, None) => acc.inc(labels(), 1.0, ev),
                    (MetricKind::Counter, Some(Some(v))) if v >= 0.0 => acc.inc(labels(), v, ev),
                    (MetricKind::Gauge, Some(Some(v))) => acc.set(labels(), v, ev),
                    (MetricKind::Histogram, Some(Some(v))) => acc.observe(&m.name, labels(), &m.buckets, v, ev),
                    // No numeric value where one is needed: nothing to record.
                    _ => false,
                };
            }
            overflowed += u64::from(folded);
        });
        acc.flush(t);
        out.discarded += overflowed;
        out.push(batch);
    }
}

#[cfg(test)]
mod tests {
    use lookout_tsdb::{Matcher, Store, StoreConfig};

    use super::*;
    use crate::test_util::{V, log, logs, parse, resource};

    #[test]
    fn series_carry_the_records_tenant_and_count_against_its_max_series() {
        let yaml = r#"max_series_per_metric: 2
metrics:
  - name: errors_total
    kind: counter
    labels: { user: attributes.user, tenant: attributes.tenant }
  - name: amount
    kind: histogram
    field: attributes.amount
    buckets: [10]
"#;
        let config: LogToMetricConfig = serde_saphyr::from_str(yaml).unwrap();
        let store = Arc::new(Store::new(StoreConfig::default()));
        store.set_tenant_series_limits([("shop".to_string(), 100)].into());
        let mut t = LogToMetric::new(&config, store.clone()).unwrap();
        // A record claiming another tenant in its attributes keeps its resource's.
        let claim = [("user", V::S("a")), ("tenant", V::S("blog")), ("amount", V::I(5))];
        let shop = || resource(&[("tenant", V::S("shop"))]);
        t.transform(logs(shop(), vec![log("x", 9, &claim)]), &mut TransformOutput::default());
        // No resource tenant: no tenant label (the configured one stays).
        t.transform(logs(None, vec![log("x", 9, &[("user", V::S("b"))])]), &mut TransformOutput::default());
        // Past the limit of 2 label sets, shop's samples go to shop's overflow series.
        t.transform(logs(shop(), vec![log("x", 9, &[("user", V::S("c"))])]), &mut TransformOutput::default());
        let select = |m: Vec<Matcher>| store.select(&m, 0, i64::MAX);
        let shop_errors = select(vec![Matcher::equal("__name__", "errors_total"), Matcher::equal("tenant", "shop")]);
        let tenants: Vec<(Option<&str>, Option<&str>)> =
            shop_errors.iter().map(|s| (s.labels.get("user"), s.labels.get(crate::derived::OVERFLOW_LABEL))).collect();
        assert_eq!(tenants, vec![(None, Some("true")), (Some("a"), None)], "{shop_errors:?}");
        let untenanted = select(vec![Matcher::equal("__name__", "errors_total"), Matcher::equal("user", "b")]);
        assert_eq!(untenanted[0].labels.get("tenant"), None);
        let buckets = select(vec![Matcher::equal("__name__", "amount_bucket"), Matcher::equal("tenant", "shop")]);
        assert_eq!(buckets.len(), 2, "le=10 and le=+Inf: {buckets:?}");
        // They count against shop in the store.
        let stats = store.tenant_series();
        assert_eq!(stats.iter().map(|s| (s.tenant.as_str(), s.series)).collect::<Vec<_>>(), vec![("shop", 6)]);
    }

    #[test]
    fn derived_samples_keep_the_records_behind_them_as_exemplars() {
        let yaml = r#"metrics:
  - name: db_errors_total
    kind: counter
    condition: 'body =~ "refused"'
  - name: latency
    kind: histogram
    field: attributes.ms
    buckets: [10, 100]
"#;
        let config: LogToMetricConfig = serde_saphyr::from_str(yaml).unwrap();
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut t = LogToMetric::new(&config, store.clone()).unwrap();
        let long = format!("connection   refused\n by db-7 {}", "x".repeat(300));
        let mut first = log(&long, 17, &[("ms", V::I(42))]);
        first.trace_id = vec![0xab; 16];
        first.span_id = vec![0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
        let second = log("connection refused again", 17, &[("ms", V::I(5))]);
        t.transform(logs(None, vec![first, second]), &mut TransformOutput::default());

        let errors = store.exemplars().select(&[vec![Matcher::equal("__name__", "db_errors_total")]], 0, i64::MAX);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let ex = &errors[0].exemplars;
        assert_eq!(ex.len(), 1, "one exemplar per series per batch: {ex:?}");
        assert_eq!(ex[0].labels.get("trace_id"), Some("abababababababababababababababab"));
        assert_eq!(ex[0].labels.get("span_id"), Some("0102030405060708"));
        let excerpt = ex[0].labels.get("log").unwrap();
        assert!(excerpt.starts_with("connection refused by db-7 xxx"), "whitespace folded: {excerpt}");
        let chars: usize = ex[0].labels.pairs().iter().map(|(k, v)| k.chars().count() + v.chars().count()).sum();
        assert_eq!(chars, crate::derived::EXEMPLAR_MAX_LABEL_CHARS, "cut to Prometheus's limit");
        assert_eq!(ex[0].value, 1.0);

        // The histogram's exemplar sits on the bucket its value fell in (42 → le=100).
        let buckets = store.exemplars().select(&[vec![Matcher::equal("__name__", "latency_bucket")]], 0, i64::MAX);
        assert_eq!(buckets.len(), 1, "{buckets:?}");
        assert_eq!(buckets[0].series.get("le"), Some("100"));
        assert_eq!(buckets[0].exemplars[0].value, 42.0);
    }

    #[test]
    fn counts_histograms_and_gauges_into_the_store() {
        let yaml = r#"    metrics:
      - name: db_errors_total
        kind: counter
        condition: 'body =~ "connection refused"'
        labels: { db: attributes.db }
      - name: amount
        kind: histogram
        field: attributes.amount
        buckets: [1, 10]
      - name: last_amount
        kind: gauge
        field: attributes.amount
"#;
        parse("log_to_metric", yaml).expect("valid");
        let config: LogToMetricConfig = serde_saphyr::from_str(&yaml.replace("\n    ", "\n")[4..]).unwrap();
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut t = LogToMetric::new(&config, store.clone()).unwrap();
        let batch = logs(
            None,
            vec![
                log("connection refused", 17, &[("db", V::S("pg")), ("amount", V::I(5))]),
                log("connection refused", 17, &[("db", V::S("pg"))]),
                log("ok", 9, &[("amount", V::F(20.0))]),
            ],
        );
        let mut out = TransformOutput::default();
        t.transform(batch, &mut out);
        assert_eq!(out.default[0].len(), 3, "records pass through");
        let get = |name: &str, extra: Option<(&str, &str)>| {
            let mut m = vec![Matcher::equal("__name__", name)];
            if let Some((k, v)) = extra {
                m.push(Matcher::equal(k, v));
            }
            let s = store.select(&m, 0, i64::MAX);
            assert_eq!(s.len(), 1, "{name}: {s:?}");
            s[0].samples.last().unwrap().v
        };
        assert_eq!(get("db_errors_total", Some(("db", "pg"))), 2.0);
        assert_eq!(get("amount_bucket", Some(("le", "1"))), 0.0);
        assert_eq!(get("amount_bucket", Some(("le", "10"))), 1.0);
        assert_eq!(get("amount_bucket", Some(("le", "+Inf"))), 2.0);
        assert_eq!(get("amount_sum", None), 25.0);
        assert_eq!(get("amount_count", None), 2.0);
        assert_eq!(get("last_amount", None), 20.0);
    }

    #[test]
    fn bad_specs_are_refused_at_load() {
        let err = parse("log_to_metric", "    metrics:\n      - name: 1bad\n        kind: gauge\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not a valid metric name"), "{text}");
        assert!(text.contains("needs `field`"), "{text}");
    }

    #[test]
    fn label_sets_past_the_limit_are_folded_and_idle_ones_expire() {
        let yaml = r#"    max_series_per_metric: 2
    series_idle_timeout: 1h
    metrics:
      - name: requests_total
        kind: counter
        labels: { user: attributes.user }
      - name: latency
        kind: histogram
        field: attributes.ms
        labels: { user: attributes.user }
        buckets: [10]
      - name: last_ms
        kind: gauge
        field: attributes.ms
        labels: { user: attributes.user }
"#;
        parse("log_to_metric", yaml).expect("valid");
        let config: LogToMetricConfig = serde_saphyr::from_str(&yaml.replace("\n    ", "\n")[4..]).unwrap();
        assert_eq!(config.series_idle_timeout.ms(), 3_600_000);
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut t = LogToMetric::new(&config, store.clone()).unwrap();
        const T0: i64 = 1_700_000_000_000;
        let mut run = |users: &[&str], at: i64| {
            let mut batch =
                logs(None, users.iter().map(|u| log("", 9, &[("user", V::S(u)), ("ms", V::I(5))])).collect());
            batch.meta.received_unix_nano = at as u64 * 1_000_000;
            let mut out = TransformOutput::default();
            t.transform(batch, &mut out);
            assert_eq!(out.default[0].len(), users.len(), "records pass through");
            (out.discarded, t.acc.series())
        };
        let get = |name: &str, label: (&str, &str)| {
            let s = store.select(&[Matcher::equal("__name__", name), Matcher::equal(label.0, label.1)], 0, i64::MAX);
            assert_eq!(s.len(), 1, "{name} {label:?}: {s:?}");
            s[0].samples.last().unwrap().v
        };
        // 2 users per metric, then the overflow series of each of the 3 metrics.
        assert_eq!(run(&["a", "b", "c", "d", "e", "a"], T0), (3, 3 * 3), "c, d and e are folded, once per record");
        assert_eq!(get("requests_total", ("user", "a")), 2.0);
        assert_eq!(get("requests_total", ("otel_metric_overflow", "true")), 3.0);
        assert_eq!(get("latency_count", ("otel_metric_overflow", "true")), 3.0);
        assert_eq!(get("latency_sum", ("otel_metric_overflow", "true")), 15.0);
        assert_eq!(get("last_ms", ("otel_metric_overflow", "true")), 5.0);
        assert_eq!(store.select(&[Matcher::equal("user", "c")], 0, i64::MAX).len(), 0);
        // a stays busy; b and the overflow series go idle and are forgotten after 1h.
        assert_eq!(run(&["a"], T0 + 30 * 60_000), (0, 9));
        assert_eq!(run(&["a"], T0 + 61 * 60_000), (0, 3), "b and the overflow series are forgotten");
        assert_eq!(run(&["c", "d"], T0 + 62 * 60_000), (1, 9), "c takes b's slot, d overflows");
        assert_eq!(get("requests_total", ("user", "c")), 1.0);
        assert_eq!(get("requests_total", ("otel_metric_overflow", "true")), 1.0, "restarted from zero");
    }

    #[test]
    fn limits_are_checked_at_load() {
        let metrics = "    metrics:\n      - name: n_total\n        kind: counter\n";
        let err = parse("log_to_metric", &format!("    max_series_per_metric: 0\n{metrics}")).unwrap_err();
        assert!(err.to_string().contains("`max_series_per_metric` must be at least 1"), "{err}");
        let err = parse("log_to_metric", &format!("    series_idle_timeout: 10\n{metrics}")).unwrap_err();
        assert!(err.to_string().contains("not a valid duration string"), "{err}");
        parse("log_to_metric", &format!("    series_idle_timeout: 0s\n{metrics}")).expect("0 disables expiry");
    }
}
