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
//! ```
//!
//! Spans pass through unchanged; other records are ignored. Series go to the embedded
//! store (`lookout_tsdb::shared()`).

use std::sync::Arc;

use lookout_component::{BuildError, Transform, TransformConfig, TransformOutput};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::{Batch, FieldPath, RecordRef};
use lookout_tsdb::Labels;
use serde::Deserialize;

use crate::derived::{Accumulator, DEFAULT_BUCKETS, batch_time_ms};

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
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Transform>, BuildError> {
        Ok(Box::new(SpanMetrics::new(self, lookout_tsdb::shared())))
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
            acc: Accumulator::new(store),
        }
    }
}

impl Transform for SpanMetrics {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        let this = &mut *self;
        let service_name = FieldPath::parse("resource.service.name");
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
            let seconds = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) as f64 / 1e9;
            let mut calls = pairs.clone();
            calls.push(("__name__".into(), this.calls.clone()));
            this.acc.inc(Labels::new(calls), 1.0);
            this.acc.observe(&this.duration, Labels::new(pairs), &this.buckets, seconds);
        });
        this.acc.flush(batch_time_ms(&batch));
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
            namespace: default_namespace(),
        };
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut t = SpanMetrics::new(&config, store.clone());
        let batch = Batch::traces(vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(lookout_event::any_string("api")),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![span("GET /pay", 50, false), span("GET /pay", 500, false), span("GET /pay", 3000, true)],
                ..Default::default()
            }],
            ..Default::default()
        }]);
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
}
