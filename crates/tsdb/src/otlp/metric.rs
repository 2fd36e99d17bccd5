//! One OTLP metric → samples, exemplars and metadata (the rules are in the parent
//! module's docs).

use std::time::Instant;

use lookout_event::otlp::common::v1::KeyValue;
use lookout_event::otlp::metrics::v1::exponential_histogram_data_point::Buckets;
use lookout_event::otlp::metrics::v1::{
    Exemplar as OtlpExemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, metric::Data,
    number_data_point,
};

use super::delta::{DeltaState, Dropped};
use super::exemplars::{self, Exemplar};
use super::exponential;
use super::names::{format_float, metric_name, prometheus_unit};
use super::{Base, Limits, Metadata, MetricType, Translation};
use crate::{Labels, stale_nan};

const DELTA: i32 = 1;
const NO_RECORDED_VALUE: u32 = 1;

fn ms(nanos: u64) -> i64 {
    (nanos / 1_000_000) as i64
}

fn stale(flags: u32) -> bool {
    flags & NO_RECORDED_VALUE != 0
}

fn value(v: f64, flags: u32) -> f64 {
    if stale(flags) { stale_nan() } else { v }
}

fn number(p: &NumberDataPoint) -> Option<f64> {
    match p.value? {
        number_data_point::Value::AsDouble(d) => Some(d),
        number_data_point::Value::AsInt(i) => Some(i as f64),
    }
}

/// What translating one metric needs.
pub(super) struct Cx<'a> {
    pub base: &'a Base,
    pub limits: &'a Limits,
    pub out: &'a mut Translation,
    /// The newest sample time of the resource (for `target_info`).
    pub newest: &'a mut i64,
    pub delta: &'a mut DeltaState,
    pub now: Instant,
}

/// Delta points dropped while translating one metric, by reason.
#[derive(Default)]
struct Drops([u64; 3]);

impl Drops {
    fn add(&mut self, d: Dropped) {
        self.0[d as usize] += 1;
    }

    fn report(self, metric: &str, out: &mut Translation) {
        for (i, d) in [Dropped::OutOfOrder, Dropped::OlderStart, Dropped::StreamLimit].into_iter().enumerate() {
            let n = self.0[i];
            if n > 0 {
                out.dropped += n;
                out.refused.push(format!("`{metric}`: {n} delta point(s) dropped: {}", d.reason()));
            }
        }
    }
}

impl Cx<'_> {
    fn push(&mut self, labels: Labels, t: i64, v: f64) -> usize {
        *self.newest = (*self.newest).max(t);
        self.out.points.push((labels, t, v));
        self.out.points.len() - 1
    }

    fn exemplars(&mut self, point: usize, list: &[OtlpExemplar]) {
        for e in list {
            if let Some((labels, t, v)) = exemplars::convert(e) {
                self.out.exemplars.push(Exemplar { point, labels, t, v });
            }
        }
    }

    fn number(&mut self, name: &str, p: &NumberDataPoint, v: f64, with_exemplars: bool) {
        let i = self.push(self.base.labels(name, &p.attributes, None), ms(p.time_unix_nano), value(v, p.flags));
        if with_exemplars && !stale(p.flags) {
            self.exemplars(i, &p.exemplars);
        }
    }

    /// Classic histogram series from cumulative `(le, count)` buckets (finite `le`,
    /// increasing); `+Inf` is `count`.
    #[allow(clippy::too_many_arguments)]
    fn histogram(
        &mut self,
        name: &str,
        attrs: &[KeyValue],
        t: i64,
        flags: u32,
        buckets: &[(f64, u64)],
        count: u64,
        sum: Option<f64>,
        list: &[OtlpExemplar],
    ) {
        let bucket = format!("{name}_bucket");
        let mut bounds: Vec<(f64, usize)> = Vec::with_capacity(buckets.len() + 1);
        for (le, cumulative) in buckets {
            let labels = self.base.labels(&bucket, attrs, Some(("le", format_float(*le))));
            bounds.push((*le, self.push(labels, t, value(*cumulative as f64, flags))));
        }
        let labels = self.base.labels(&bucket, attrs, Some(("le", "+Inf".into())));
        bounds.push((f64::INFINITY, self.push(labels, t, value(count as f64, flags))));
        if let Some(sum) = sum {
            self.push(self.base.labels(&format!("{name}_sum"), attrs, None), t, value(sum, flags));
        }
        self.push(self.base.labels(&format!("{name}_count"), attrs, None), t, value(count as f64, flags));
        if stale(flags) {
            return;
        }
        for e in list {
            let Some((labels, et, v)) = exemplars::convert(e) else { continue };
            // The first bucket that holds the value, as Prometheus places them.
            if let Some((_, point)) = bounds.iter().find(|(le, _)| v <= *le) {
                self.out.exemplars.push(Exemplar { point: *point, labels, t: et, v });
            }
        }
    }

    fn explicit(&mut self, name: &str, p: &HistogramDataPoint) {
        let mut cumulative = 0u64;
        let mut buckets = Vec::with_capacity(p.explicit_bounds.len());
        for (le, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
            cumulative = cumulative.saturating_add(*count);
            // An explicit +Inf bound is the +Inf bucket, which is the count.
            if le.is_finite() {
                buckets.push((*le, cumulative));
            }
        }
        let t = ms(p.time_unix_nano);
        self.histogram(name, &p.attributes, t, p.flags, &buckets, p.count, p.sum, &p.exemplars);
    }

    fn exponential(&mut self, name: &str, p: &ExponentialHistogramDataPoint) {
        let buckets =
            exponential::to_classic(p, self.limits.exponential_max_scale, self.limits.exponential_max_buckets);
        let t = ms(p.time_unix_nano);
        self.histogram(name, &p.attributes, t, p.flags, &buckets, p.count, p.sum, &p.exemplars);
    }
}

fn attributes(data: &Data) -> Vec<&[KeyValue]> {
    match data {
        Data::Gauge(g) => g.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Data::Sum(s) => s.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Data::Histogram(h) => h.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Data::ExponentialHistogram(h) => h.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Data::Summary(s) => s.data_points.iter().map(|p| &p.attributes[..]).collect(),
    }
}

/// Why a metric's buckets break `bucket_limit`, if they do.
fn bucket_limit(m: &Metric, data: &Data, limit: usize) -> Option<String> {
    let most = match data {
        Data::Histogram(h) => h.data_points.iter().map(|p| p.bucket_counts.len()).max(),
        Data::ExponentialHistogram(h) => h
            .data_points
            .iter()
            .map(|p| {
                let len = |b: &Option<Buckets>| b.as_ref().map_or(0, |b| b.bucket_counts.len());
                len(&p.positive) + len(&p.negative)
            })
            .max(),
        _ => None,
    }?;
    (most > limit).then(|| format!("`{}`: {most} buckets, more than bucket_limit {limit}", m.name))
}

pub(super) fn translate_metric(m: &Metric, cx: &mut Cx<'_>) {
    let Some(data) = &m.data else { return };
    // Every point's attributes are checked before its labels are built (name +
    // `le`/`quantile` on top of the base).
    let base_labels = cx.base.len() + 2;
    let refusal = attributes(data)
        .iter()
        .find_map(|a| cx.limits.check(&m.name, base_labels, a).err())
        .or_else(|| bucket_limit(m, data, cx.limits.bucket_limit));
    if let Some(e) = refusal {
        cx.out.refused.push(e);
        cx.out.refused_metrics += 1;
        return;
    }
    let before = cx.out.points.len();
    let mut drops = Drops::default();
    let (family, metric_type) = match data {
        Data::Gauge(g) => {
            let name = metric_name(&m.name, &m.unit, false, true);
            for p in &g.data_points {
                if let Some(v) = number(p) {
                    // Prometheus keeps no exemplars of gauges.
                    cx.number(&name, p, v, false);
                }
            }
            (name, MetricType::Gauge)
        }
        Data::Sum(s) => {
            let name = metric_name(&m.name, &m.unit, s.is_monotonic, !s.is_monotonic);
            for p in &s.data_points {
                let Some(v) = number(p) else { continue };
                if s.aggregation_temporality != DELTA || stale(p.flags) {
                    cx.number(&name, p, v, true);
                    continue;
                }
                let labels = cx.base.labels(&name, &p.attributes, None);
                match cx.delta.sum(&labels, p.start_time_unix_nano, p.time_unix_nano, v, cx.now) {
                    Ok((total, _start)) => {
                        let i = cx.push(labels, ms(p.time_unix_nano), total);
                        cx.exemplars(i, &p.exemplars);
                    }
                    Err(d) => drops.add(d),
                }
            }
            (name, if s.is_monotonic { MetricType::Counter } else { MetricType::Gauge })
        }
        Data::Histogram(h) => {
            let name = metric_name(&m.name, &m.unit, false, false);
            for p in &h.data_points {
                if h.aggregation_temporality != DELTA || stale(p.flags) {
                    cx.explicit(&name, p);
                    continue;
                }
                let key = cx.base.labels(&name, &p.attributes, None);
                match cx.delta.histogram(&key, p, cx.now) {
                    Ok(cumulative) => cx.explicit(&name, &cumulative),
                    Err(d) => drops.add(d),
                }
            }
            (name, MetricType::Histogram)
        }
        Data::ExponentialHistogram(h) => {
            let name = metric_name(&m.name, &m.unit, false, false);
            for p in &h.data_points {
                if h.aggregation_temporality != DELTA || stale(p.flags) {
                    cx.exponential(&name, p);
                    continue;
                }
                let key = cx.base.labels(&name, &p.attributes, None);
                match cx.delta.exponential(&key, p, cx.now) {
                    Ok(cumulative) => cx.exponential(&name, &cumulative),
                    Err(d) => drops.add(d),
                }
            }
            (name, MetricType::Histogram)
        }
        Data::Summary(s) => {
            let name = metric_name(&m.name, &m.unit, false, false);
            for p in &s.data_points {
                let t = ms(p.time_unix_nano);
                for q in &p.quantile_values {
                    let labels = cx.base.labels(&name, &p.attributes, Some(("quantile", format_float(q.quantile))));
                    cx.push(labels, t, value(q.value, p.flags));
                }
                cx.push(cx.base.labels(&format!("{name}_sum"), &p.attributes, None), t, value(p.sum, p.flags));
                let count = cx.base.labels(&format!("{name}_count"), &p.attributes, None);
                cx.push(count, t, value(p.count as f64, p.flags));
            }
            (name, MetricType::Summary)
        }
    };
    drops.report(&m.name, cx.out);
    if cx.out.points.len() > before {
        cx.out.metadata.push(Metadata {
            family,
            metric_type,
            help: m.description.clone(),
            unit: prometheus_unit(&m.unit),
        });
    }
}
