//! OTLP metric points → Prometheus samples, following Prometheus's own OTLP translation
//! (`otlptranslator`, "underscore escaping with suffixes"), so rules written against
//! Prometheus receiving OTLP work unchanged here:
//!
//! - names ([`names`]): characters outside `[a-zA-Z0-9_:]` become `_`; the unit becomes
//!   a suffix (`s` → `_seconds`, `By` → `_bytes`, `ms` → `_milliseconds`, `1/s` →
//!   `_per_second`, `{request}` annotations dropped); monotonic sums end in `_total`;
//!   gauges with unit `1` end in `_ratio`. `http.server.request.duration` (histogram,
//!   `s`) becomes `http_server_request_duration_seconds_bucket` / `_sum` / `_count`.
//! - labels: point attributes, names sanitised (`http.route` → `http_route`, a leading
//!   digit gets `key_`); `otel_scope_name` / `otel_scope_version` from the scope.
//! - the resource: `job` = `service.namespace/service.name` (or `service.name`),
//!   `instance` = `service.instance.id`; the other resource attributes go on a
//!   `target_info{job, instance, ...}` series of value 1.
//! - histograms: cumulative `_bucket{le}` series (`le` formatted as Go's
//!   `FormatFloat(b, 'f', -1)`), `+Inf` = the count, `_sum`, `_count`.
//! - exponential histograms: the same classic series, bucket boundaries powers of the
//!   histogram's base at a bounded scale ([`exponential`](self#exponential-histograms)).
//! - summaries: `{quantile}` series plus `_sum` / `_count`. A point flagged "no
//!   recorded value" becomes a staleness marker.
//! - delta temporality (sums, histograms, exponential histograms): converted to
//!   cumulative per series by the [`Translator`]'s state ([`delta`]); what it drops
//!   (out of order, older start, past `max_streams`) is counted and reported.
//! - exemplars ([`exemplars`]): kept, with `trace_id` / `span_id`, attached to the
//!   sample whose series carries them (a histogram's: the first bucket that holds the
//!   exemplar's value).
//! - metadata: one [`Metadata`] per metric (family name, type, description, unit), for
//!   remote write's `metadata`.
//! - limits ([`Limits`], Prometheus's `label_limit`, `label_name_length_limit`,
//!   `label_value_length_limit`, `sample_limit`, plus `bucket_limit` for histogram
//!   buckets) are checked on the OTLP point before any label is built, so one hostile
//!   request cannot make the translation allocate without bound; what breaks one is
//!   refused with the limit named.
//!
//! # Exponential histograms
//!
//! Converted to classic buckets, as the series store and remote write 1.0 receivers
//! without native histograms hold them; the boundaries and what is lost are in
//! `exponential.rs`'s docs: in short, each classic bucket is one exponential bucket at
//! scale ≤ [`Limits::exponential_max_scale`] (default 1, buckets ~41% wide), at most
//! [`Limits::exponential_max_buckets`] of them, negative buckets (most negative first)
//! and the zero bucket (`le = zero_threshold`) below the positive ones.
//!
//! # State
//!
//! Delta temporality needs memory of what came before, so translation has a
//! [`Translator`] (one per consumer: the `metrics_store` sink, the
//! `prometheus_remote_write` sink). [`translate`] / [`translate_with`] are one-shot
//! translations with a fresh state (deltas accumulate within the batch only).

mod delta;
mod exemplars;
mod exponential;
mod metric;
pub mod names;

use std::time::Instant;

use lookout_event::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_event::{Batch, Payload};

use crate::Labels;

pub use delta::{DeltaConfig, DeltaStats};
pub use exemplars::{Exemplar, MAX_EXEMPLAR_RUNES};
pub use names::{format_float, label_name, metric_name, value_text};

/// One sample ready to append.
pub type Point = (Labels, i64, f64);

/// The Prometheus type of a metric family (remote write's `MetricMetadata.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonic sum.
    Counter,
    /// A gauge or a non-monotonic sum.
    Gauge,
    /// An explicit-bucket or exponential histogram (classic buckets).
    Histogram,
    /// A summary.
    Summary,
}

impl MetricType {
    /// The type as Prometheus names it (`/api/v1/metadata`, `# TYPE`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
}

/// What a metric family is (remote write 1.0 `metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The family name: `http_server_request_duration_seconds` for its `_bucket`,
    /// `_sum` and `_count` series, `orders_total` for a counter.
    pub family: String,
    /// Its type.
    pub metric_type: MetricType,
    /// The OTLP description.
    pub help: String,
    /// The unit, in the word the name's suffix uses (`seconds`, `bytes`).
    pub unit: String,
}

/// What one batch gave.
#[derive(Debug, Default)]
pub struct Translation {
    /// Samples.
    pub points: Vec<Point>,
    /// Exemplars, each naming the sample (in `points`) whose series carries it.
    pub exemplars: Vec<Exemplar>,
    /// One entry per metric that gave samples.
    pub metadata: Vec<Metadata>,
    /// Metrics refused, and delta points dropped, with why (one entry per metric and
    /// reason).
    pub refused: Vec<String>,
    /// Metrics refused whole (limits): the entries of `refused` that are not about
    /// dropped delta points.
    pub refused_metrics: u64,
    /// Delta points dropped (out of order, older start, past `max_streams`).
    pub dropped: u64,
}

/// Bounds on what one batch may turn into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most labels on one series (attributes + job, instance, scope, name).
    pub label_limit: usize,
    /// Longest label name, in bytes.
    pub label_name_length_limit: usize,
    /// Longest label value, in bytes.
    pub label_value_length_limit: usize,
    /// Most buckets in one histogram point.
    pub bucket_limit: usize,
    /// Most samples from one batch; the rest of the batch is refused.
    pub sample_limit: usize,
    /// The finest scale exponential histograms are converted to classic buckets at
    /// (1: base √2); see [`exponential`](self#exponential-histograms).
    pub exponential_max_scale: i32,
    /// Most classic buckets (besides `+Inf`) from one exponential histogram point; the
    /// scale is lowered further until the populated buckets fit.
    pub exponential_max_buckets: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            label_limit: 64,
            label_name_length_limit: 256,
            label_value_length_limit: 4096,
            bucket_limit: 1024,
            sample_limit: 200_000,
            exponential_max_scale: 1,
            exponential_max_buckets: 64,
        }
    }
}

impl Limits {
    /// Why a point with `attrs` (on top of `base` labels) breaks a limit, if it does.
    fn check(&self, metric: &str, base: usize, attrs: &[KeyValue]) -> Result<(), String> {
        if base + attrs.len() > self.label_limit {
            return Err(format!(
                "`{metric}`: {} labels, more than label_limit {}",
                base + attrs.len(),
                self.label_limit
            ));
        }
        for kv in attrs {
            if kv.key.len() > self.label_name_length_limit {
                return Err(format!(
                    "`{metric}`: a label name of {} bytes, longer than label_name_length_limit {}",
                    kv.key.len(),
                    self.label_name_length_limit
                ));
            }
            if let Some(any_value::Value::StringValue(v)) = kv.value.as_ref().and_then(|v| v.value.as_ref())
                && v.len() > self.label_value_length_limit
            {
                return Err(format!(
                    "`{metric}`: label `{}` has a value of {} bytes, longer than label_value_length_limit {}",
                    kv.key,
                    v.len(),
                    self.label_value_length_limit
                ));
            }
        }
        Ok(())
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref())
}

/// The labels every series of one scope shares.
pub(crate) struct Base {
    pairs: Vec<(String, String)>,
    /// The resource's `tenant` (set by the `otlp` source's authentication): a label on
    /// every series, placed after the point's attributes so that none can replace it.
    tenant: Option<(String, String)>,
}

impl Base {
    fn labels(&self, name: &str, attrs: &[KeyValue], extra: Option<(&str, String)>) -> Labels {
        let mut pairs = self.pairs.clone();
        pairs.extend(attrs.iter().map(|kv| (label_name(&kv.key), value_text(kv.value.as_ref()))));
        pairs.push(("__name__".into(), name.to_string()));
        pairs.extend(self.tenant.clone());
        if let Some((k, v)) = extra {
            pairs.push((k.to_string(), v));
        }
        Labels::new(pairs)
    }

    /// Labels, besides the point's attributes, the name and `le`/`quantile`.
    fn len(&self) -> usize {
        self.pairs.len() + usize::from(self.tenant.is_some())
    }
}

/// Translates batches, keeping the delta → cumulative state between them.
#[derive(Debug)]
pub struct Translator {
    limits: Limits,
    delta: delta::DeltaState,
}

impl Default for Translator {
    fn default() -> Self {
        Translator::new(Limits::default(), DeltaConfig::default())
    }
}

impl Translator {
    /// A translator within `limits`, with delta state bounded by `delta`.
    pub fn new(limits: Limits, delta: DeltaConfig) -> Translator {
        Translator { limits, delta: delta::DeltaState::new(delta) }
    }

    /// The delta state's counters.
    pub fn delta_stats(&self) -> DeltaStats {
        self.delta.stats()
    }

    /// Translates a batch's metric points (other signals give nothing).
    pub fn translate(&mut self, batch: &Batch) -> Translation {
        self.translate_at(batch, Instant::now())
    }

    /// [`Translator::translate`] at `now` (what delta staleness is measured against).
    pub fn translate_at(&mut self, batch: &Batch, now: Instant) -> Translation {
        let mut out = Translation::default();
        let Payload::Metrics(resources) = &batch.payload else { return out };
        self.delta.sweep(now);
        let limits = self.limits;
        for rm in resources {
            let attrs = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            let service = value_text(attr(attrs, "service.name"));
            let namespace = value_text(attr(attrs, "service.namespace"));
            let job = if namespace.is_empty() { service } else { format!("{namespace}/{service}") };
            let instance = value_text(attr(attrs, "service.instance.id"));
            let mut newest = i64::MIN;
            for sm in &rm.scope_metrics {
                let mut pairs = vec![("job".to_string(), job.clone()), ("instance".to_string(), instance.clone())];
                if let Some(scope) = &sm.scope {
                    pairs.push(("otel_scope_name".into(), scope.name.clone()));
                    pairs.push(("otel_scope_version".into(), scope.version.clone()));
                }
                let tenant =
                    attr(attrs, crate::TENANT_LABEL).map(|v| (crate::TENANT_LABEL.to_string(), value_text(Some(v))));
                let base = Base { pairs, tenant };
                for m in &sm.metrics {
                    if out.points.len() >= limits.sample_limit {
                        out.refused_metrics += 1;
                        out.refused.push(format!(
                            "`{}`: the batch already gave sample_limit {} samples; the rest is refused",
                            m.name, limits.sample_limit
                        ));
                        continue;
                    }
                    let mut cx = metric::Cx {
                        base: &base,
                        limits: &limits,
                        out: &mut out,
                        newest: &mut newest,
                        delta: &mut self.delta,
                        now,
                    };
                    metric::translate_metric(m, &mut cx);
                }
            }
            let info: Vec<&KeyValue> = attrs
                .iter()
                .filter(|kv| !matches!(kv.key.as_str(), "service.name" | "service.namespace" | "service.instance.id"))
                .collect();
            if !info.is_empty() && newest != i64::MIN {
                let mut pairs = vec![
                    ("__name__".to_string(), "target_info".to_string()),
                    ("job".to_string(), job.clone()),
                    ("instance".to_string(), instance.clone()),
                ];
                pairs.extend(info.iter().map(|kv| (label_name(&kv.key), value_text(kv.value.as_ref()))));
                out.points.push((Labels::new(pairs), newest, 1.0));
            }
        }
        out
    }
}

/// Translates a batch's metric points (other signals give nothing) within the default
/// [`Limits`], with a fresh delta state.
pub fn translate(batch: &Batch) -> Translation {
    translate_with(batch, &Limits::default())
}

/// Translates a batch's metric points within `limits`, with a fresh delta state.
pub fn translate_with(batch: &Batch, limits: &Limits) -> Translation {
    Translator::new(*limits, DeltaConfig::default()).translate(batch)
}

#[cfg(test)]
mod tests;
