//! `span_metrics`: RED metrics from spans, named and labelled like the OpenTelemetry
//! Collector's `spanmetrics` connector so dashboards and rules written for it work:
//!
//! - `traces_span_metrics_calls_total{service_name, span_name, span_kind, status_code}`
//!   — requests; errors are `status_code="STATUS_CODE_ERROR"`;
//! - `traces_span_metrics_duration_seconds_bucket|_sum|_count{...}` — durations.
//!
//! ```yaml
//! transforms:
//!   red:
//!     type: span_metrics
//!     inputs: [enrich]
//!     dimensions: [http.route, http.response.status_code]   # extra labels (`.` → `_`)
//!     buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 3, 5, 10]    # seconds
//!     max_series_per_metric: 10000   # label sets per metric (the default)
//!     series_idle_timeout: 10m       # forget series idle this long (the default; 0 = never)
//! ```
//!
//! Spans pass through unchanged; other records are ignored. Series go to the embedded
//! store (the handle in `TransformContext::store`).
//!
//! The state is bounded, like the Collector's `aggregation_cardinality_limit`: past
//! `max_series_per_metric` label sets of `…_calls_total` (and of `…_duration_seconds`),
//! the spans of new label sets are counted in `…_calls_total{otel_metric_overflow="true"}`
//! and its histogram (no other label), logged once per metric, and each such span counts
//! in `lookout_component_discarded_events_total` (the span itself passes through; only
//! its labels are lost). Series with no span for `series_idle_timeout` (Prometheus
//! duration) are forgotten, freeing their slots; one that comes back restarts from zero
//! (a counter reset). See `crate::derived` for the details.

use std::sync::Arc;

use lookout_component::{BuildError, Transform, TransformConfig, TransformContext, TransformOutput};
use lookout_config::{ComponentDecl, ConfigErrors, PromDuration};
use lookout_event::{Batch, FieldPath, RecordRef};
use lookout_tsdb::Labels;
use serde::Deserialize;

use crate::derived::{
    Accumulator, DEFAULT_BUCKETS, Limits, batch_time_ms, check_limits, default_max_series_per_metric,
    default_series_idle_timeout, evidence, tenant_label,
};

/// `type: span_metrics`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanMetricsConfig {
    /// Extra span/resource attributes to label by.
    #[serde(default)]
    pub dimensions: Vec<String>,
    /// Duration buckets in seconds.
    #[serde(default)]
    pub buckets: Option<Vec<f64>>,
    /// Metric name prefix.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Label sets kept per metric; spans of more go to the overflow series.
    #[serde(default = "default_max_series_per_metric")]
    pub max_series_per_metric: usize,
    /// Series with no span for this long are forgotten (`0` = never).
    #[serde(default = "default_series_idle_timeout")]
    pub series_idle_timeout: PromDuration,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            dimensions: Vec::new(),
            buckets: None,
            namespace: default_namespace(),
            max_series_per_metric: default_max_series_per_metric(),
            series_idle_timeout: default_series_idle_timeout(),
        }
    }
}

fn default_namespace() -> String {
    "traces_span_metrics".into()
}

impl TransformConfig for SpanMetricsConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        if let Some(b) = &self.buckets
            && (b.is_empty() || b.windows(2).any(|w| w[0] >= w[1]))
        {
            return Err(decl.error("`buckets` must be non-empty and strictly increasing").into());
        }
        check_limits(self.max_series_per_metric).map_err(|e| decl.error(e))?;
        Ok(())
    }

    fn build(&self, cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError> {
        Ok(Box::new(SpanMetrics::new(self, cx.store.clone())))
    }
}

/// The running transform.
pub struct SpanMetrics {
    calls: String,
    duration: String,
    dimensions: Vec<(String, FieldPath)>,
    buckets: Vec<f64>,
    acc: Accumulator,
}

impl SpanMetrics {
    /// Builds it writing into `store`.
    pub fn new(config: &SpanMetricsConfig, store: Arc<lookout_tsdb::Store>) -> SpanMetrics {
        SpanMetrics {
            calls: format!("{}_calls_total", config.namespace),
            duration: format!("{}_duration_seconds", config.namespace),
            dimensions: config
                .dimensions
                .iter()
                .map(|d| (lookout_tsdb::otlp::label_name(d), FieldPath::parse(d)))
                .collect(),
            buckets: config.buckets.clone().unwrap_or_else(|| DEFAULT_BUCKETS.to_vec()),
            acc: Accumulator::new(store, Limits::new(config.max_series_per_metric, config.series_idle_timeout)),
        }
    }
}

impl Transform for SpanMetrics {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        let this = &mut *self;
        let t = batch_time_ms(&batch);
        this.acc.expire(t);
        let service_name = FieldPath::parse("resource.service.name");
        let tenant = FieldPath::tenant();
        let mut overflowed = 0u64;
        batch.for_each(|r| {
            let RecordRef::Span { span, .. } = r else { return };
            let mut pairs = vec![
                ("service_name".to_string(), r.get(&service_name).map(|v| v.to_string()).unwrap_or_default()),
                ("span_name".to_string(), span.name.clone()),
                (
                    "span_kind".to_string(),
                    format!("SPAN_KIND_{}", lookout_event::span_kind_name(span.kind).to_ascii_uppercase()),
                ),
                (
                    "status_code".to_string(),
                    format!(
                        "STATUS_CODE_{}",
                        lookout_event::status_code_name(span.status.as_ref().map_or(0, |s| s.code))
                            .to_ascii_uppercase()
                    ),
                ),
            ];
            for (label, field) in &this.dimensions {
                pairs.push((label.clone(), r.get(field).map(|v| v.to_string()).unwrap_or_default()));
            }
            pairs.extend(tenant_label(&r, &tenant));
            let seconds = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) as f64 / 1e9;
            let mut calls = pairs.clone();
            calls.push(("__name__".into(), this.calls.clone()));
            let a = this.acc.inc(Labels::new(calls), 1.0, || evidence(&r));
            let b = this.acc.observe(&this.duration, Labels::new(pairs), &this.buckets, seconds, || evidence(&r));
            overflowed += u64::from(a || b);
        });
        this.acc.flush(t);
        out.discarded += overflowed;
        out.push(batch);
    }
}

#[cfg(test)]
mod tests {
    use lookout_event::otlp::common::v1::KeyValue;
    use lookout_event::otlp::resource::v1::Resource;
    use lookout_event::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use lookout_tsdb::{Matcher, Store, StoreConfig};

    use super::*;

    fn span(name: &str, ms: u64, error: bool) -> Span {
        Span {
            name: name.into(),
            kind: 2,
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_000_000_000 + ms * 1_000_000,
            status: Some(Status { code: if error { 2 } else { 1 }, ..Default::default() }),
            attributes: vec![KeyValue {
                key: "http.route".into(),
                value: Some(lookout_event::any_string("/pay")),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn counts_calls_and_durations_per_service_operation_status() {
        let config = SpanMetricsConfig {
            dimensions: vec!["http.route".into()],
            buckets: Some(vec![0.1, 1.0]),
            ..Default::default()
        };
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut t = SpanMetrics::new(&config, store.clone());
        let batch =
            api_spans(vec![span("GET /pay", 50, false), span("GET /pay", 500, false), span("GET /pay", 3000, true)]);
        let mut out = TransformOutput::default();
        t.transform(batch, &mut out);
        assert_eq!(out.default[0].len(), 3);
        let value = |name: &str, extra: &[(&str, &str)]| {
            let mut m = vec![Matcher::equal("__name__", name), Matcher::equal("service_name", "api")];
            m.extend(extra.iter().map(|(k, v)| Matcher::equal(*k, *v)));
            let s = store.select(&m, 0, i64::MAX);
            assert_eq!(s.len(), 1, "{name} {extra:?}: {s:?}");
            let (first, last) = (s[0].samples[0], *s[0].samples.last().unwrap());
            assert_eq!((first.t, first.v), (last.t - 1, 0.0), "a new series starts from zero");
            last.v
        };
        let ok = [("status_code", "STATUS_CODE_OK"), ("span_kind", "SPAN_KIND_SERVER"), ("http_route", "/pay")];
        assert_eq!(value("traces_span_metrics_calls_total", &ok), 2.0);
        assert_eq!(value("traces_span_metrics_calls_total", &[("status_code", "STATUS_CODE_ERROR")]), 1.0);
        assert_eq!(value("traces_span_metrics_duration_seconds_bucket", &[ok[0], ("le", "0.1")]), 1.0);
        assert_eq!(value("traces_span_metrics_duration_seconds_bucket", &[ok[0], ("le", "1")]), 2.0);
        assert_eq!(value("traces_span_metrics_duration_seconds_sum", &[ok[0]]), 0.55);
    }

    #[test]
    fn series_carry_the_records_tenant() {
        let store = Arc::new(Store::new(StoreConfig::default()));
        let config = SpanMetricsConfig { dimensions: vec!["tenant".into()], ..Default::default() };
        let mut t = SpanMetrics::new(&config, store.clone());
        // The span claims another tenant (a `tenant` dimension reads it): the resource's wins.
        let mut claiming = span("GET /pay", 5, false);
        claiming.attributes.push(KeyValue {
            key: "tenant".into(),
            value: Some(lookout_event::any_string("blog")),
            ..Default::default()
        });
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(lookout_event::any_string(v)),
            ..Default::default()
        };
        let batch = Batch::traces(vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "api"), kv("tenant", "shop")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans: vec![claiming], ..Default::default() }],
            ..Default::default()
        }]);
        t.transform(batch, &mut TransformOutput::default());
        assert!(calls(&store, ("tenant", "blog")).is_empty());
        let s = calls(&store, ("tenant", "shop"));
        assert_eq!(s.len(), 1, "{s:?}");
        let d = store.select(
            &[
                Matcher::equal("__name__", "traces_span_metrics_duration_seconds_count"),
                Matcher::equal("tenant", "shop"),
            ],
            0,
            i64::MAX,
        );
        assert_eq!(d.len(), 1, "{d:?}");
    }

    /// A batch of `spans` of service `api`.
    fn api_spans(spans: Vec<Span>) -> Batch {
        Batch::traces(vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(lookout_event::any_string("api")),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }])
    }

    /// A batch of spans of service `api`, one per name, arrived at `t_ms`.
    fn spans_at(names: impl IntoIterator<Item = String>, t_ms: i64) -> Batch {
        let mut batch = api_spans(names.into_iter().map(|n| span(&n, 5, false)).collect());
        batch.meta.received_unix_nano = t_ms as u64 * 1_000_000;
        batch
    }

    const T0: i64 = 1_700_000_000_000;
    const MINUTE: i64 = 60_000;

    fn calls(store: &Store, extra: (&str, &str)) -> Vec<lookout_tsdb::SeriesData> {
        store.select(
            &[Matcher::equal("__name__", "traces_span_metrics_calls_total"), Matcher::equal(extra.0, extra.1)],
            0,
            i64::MAX,
        )
    }

    #[test]
    fn distinct_span_names_past_the_limit_go_to_one_overflow_series() {
        let config = SpanMetricsConfig { max_series_per_metric: 1000, ..Default::default() };
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut t = SpanMetrics::new(&config, store.clone());
        let mut discarded = 0;
        for b in 0..10i64 {
            let names = (0..10_000).map(|i| format!("op-{b}-{i}"));
            let mut out = TransformOutput::default();
            t.transform(spans_at(names, T0 + b * 1000), &mut out);
            assert_eq!(out.default[0].len(), 10_000, "spans pass through");
            discarded += out.discarded;
        }
        // 1000 label sets + the overflow one, for calls and for durations.
        assert_eq!(t.acc.series(), 2 * 1001);
        assert_eq!(discarded, 99_000, "each span past the limit is counted once");
        assert_eq!(t.acc.overflowed, 2 * 99_000, "calls and duration samples");
        let overflow = calls(&store, ("otel_metric_overflow", "true"));
        assert_eq!(overflow.len(), 1);
        assert_eq!(
            overflow[0].labels.pairs().len(),
            2,
            "only the name and the overflow label: {:?}",
            overflow[0].labels
        );
        assert_eq!(overflow[0].samples.last().unwrap().v, 99_000.0);
        let all = store.select(&[Matcher::equal("__name__", "traces_span_metrics_calls_total")], 0, i64::MAX);
        assert_eq!(all.len(), 1001);
        let total: f64 = all.iter().map(|s| s.samples.last().unwrap().v).sum();
        assert_eq!(total, 100_000.0, "no call is lost");
        let h = store.select(
            &[
                Matcher::equal("__name__", "traces_span_metrics_duration_seconds_count"),
                Matcher::equal("otel_metric_overflow", "true"),
            ],
            0,
            i64::MAX,
        );
        assert_eq!(h[0].samples.last().unwrap().v, 99_000.0);
        // Known label sets keep their own series past the limit.
        let mut out = TransformOutput::default();
        t.transform(spans_at(["op-0-7".to_string()], T0 + 20_000), &mut out);
        assert_eq!(out.discarded, 0);
        assert_eq!(calls(&store, ("span_name", "op-0-7"))[0].samples.last().unwrap().v, 2.0);
    }

    #[test]
    fn idle_series_are_forgotten_and_free_their_slot() {
        let config = SpanMetricsConfig {
            max_series_per_metric: 1,
            series_idle_timeout: PromDuration::parse("10m").unwrap(),
            ..Default::default()
        };
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut t = SpanMetrics::new(&config, store.clone());
        let mut run = |name: &str, at: i64| {
            let mut out = TransformOutput::default();
            t.transform(spans_at([name.to_string()], at), &mut out);
            (out.discarded, t.acc.series())
        };
        assert_eq!(run("a", T0), (0, 2));
        // "b" is over the limit while "a" is live.
        assert_eq!(run("b", T0 + MINUTE), (1, 4), "b goes to the overflow series");
        assert_eq!(run("b", T0 + 9 * MINUTE), (1, 4), "a, idle 9m, is kept");
        // a is idle for 10m: swept before the batch, so b gets its slot; the overflow
        // series, touched at 9m, stays.
        assert_eq!(run("b", T0 + 10 * MINUTE + 1), (0, 4));
        assert_eq!(calls(&store, ("span_name", "b"))[0].samples.last().unwrap().v, 1.0);
        // Overflow and b idle: only a's new series is left, restarting from zero.
        let (_, series) = run("a", T0 + 25 * MINUTE);
        assert_eq!(series, 2);
        let a = calls(&store, ("span_name", "a"));
        let s = &a[0].samples;
        assert_eq!(
            s.iter().map(|s| (s.t, s.v)).collect::<Vec<_>>(),
            [(T0 - 1, 0.0), (T0, 1.0), (T0 + 25 * MINUTE - 1, 0.0), (T0 + 25 * MINUTE, 1.0)]
        );
        assert_eq!(t.acc.expired, 6, "a, then b and the overflow series, each as calls and histogram");
    }
}
