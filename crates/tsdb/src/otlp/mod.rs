//! OTLP metric points → Prometheus samples, following Prometheus's own OTLP translation
//! (`otlptranslator`, "underscore escaping with suffixes"), so rules written against
//! Prometheus receiving OTLP work unchanged here:
//!
//! - names: characters outside `[a-zA-Z0-9_:]` become `_`; the unit becomes a suffix
//!   (`s` → `_seconds`, `By` → `_bytes`, `ms` → `_milliseconds`, `1/s` → `_per_second`,
//!   `{request}` annotations dropped); monotonic sums end in `_total`; gauges with unit
//!   `1` end in `_ratio`. `http.server.request.duration` (histogram, `s`) becomes
//!   `http_server_request_duration_seconds_bucket` / `_sum` / `_count`.
//! - labels: point attributes, names sanitised (`http.route` → `http_route`, a leading
//!   digit gets `key_`); `otel_scope_name` / `otel_scope_version` from the scope.
//! - the resource: `job` = `service.namespace/service.name` (or `service.name`),
//!   `instance` = `service.instance.id`; the other resource attributes go on a
//!   `target_info{job, instance, ...}` series of value 1.
//! - summaries → `{quantile}` series plus `_sum` / `_count`; a point flagged
//!   "no recorded value" becomes a staleness marker.
//! - limits ([`Limits`], Prometheus's `label_limit`, `label_name_length_limit`,
//!   `label_value_length_limit`, `sample_limit`, plus `bucket_limit` for histogram
//!   buckets) are checked on the OTLP point before any label is built, so one hostile
//!   request cannot make the translation allocate without bound; what breaks one is
//!   refused with the limit named.
//! - refused, with a message saying why: exponential histograms (configure the SDK for
//!   explicit-bucket histograms) and delta temporality (Prometheus is cumulative; use
//!   the SDK's cumulative temporality).

use lookout_event::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_event::otlp::metrics::v1::{Metric, metric::Data, number_data_point};
use lookout_event::{Batch, Payload};

use crate::{Labels, stale_nan};

/// One sample ready to append.
pub type Point = (Labels, i64, f64);

/// What one batch gave.
#[derive(Debug, Default)]
pub struct Translation {
    /// Samples.
    pub points: Vec<Point>,
    /// Metrics refused, with why (one entry per metric).
    pub refused: Vec<String>,
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            label_limit: 64,
            label_name_length_limit: 256,
            label_value_length_limit: 4096,
            bucket_limit: 1024,
            sample_limit: 200_000,
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

const DELTA: i32 = 1;
const NO_RECORDED_VALUE: u32 = 1;

fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':')).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// The Prometheus name of an OTLP metric.
pub fn metric_name(name: &str, unit: &str, monotonic_sum: bool, gauge: bool) -> String {
    let mut parts = tokens(name);
    // `{request}`-style annotations carry no unit.
    let unit: String = {
        let mut out = String::new();
        let mut depth = 0;
        for c in unit.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                c if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out.trim().to_string()
    };
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (unit.as_str(), None),
    };
    if !main.is_empty() && main != "1" {
        let word = unit_word(main).map(str::to_string).unwrap_or_else(|| tokens(main).join("_"));
        if !word.is_empty() && !parts.contains(&word) {
            parts.push(word);
        }
    }
    if let Some(p) = per.filter(|p| !p.is_empty()) {
        let word = per_unit_word(p).map(str::to_string).unwrap_or_else(|| tokens(p).join("_"));
        let already = parts.ends_with(&["per".to_string(), word.clone()]);
        if !word.is_empty() && !already {
            parts.push("per".into());
            parts.push(word);
        }
    }
    if monotonic_sum {
        parts.retain(|p| p != "total");
        parts.push("total".into());
    }
    if gauge && unit == "1" && !parts.iter().any(|p| p == "ratio") {
        parts.push("ratio".into());
    }
    let mut out = parts.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A Prometheus label name for an OTLP attribute key.
pub fn label_name(key: &str) -> String {
    let mut out: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// An attribute value as label text.
pub fn value_text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref())
}

/// Formats a float the way Prometheus formats `le` and `quantile` values.
pub fn format_float(f: f64) -> String {
    if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{f}")
    }
}

struct Base {
    pairs: Vec<(String, String)>,
}

impl Base {
    fn labels(&self, name: &str, attrs: &[KeyValue], extra: Option<(&str, String)>) -> Labels {
        let mut pairs = self.pairs.clone();
        pairs.extend(attrs.iter().map(|kv| (label_name(&kv.key), value_text(kv.value.as_ref()))));
        pairs.push(("__name__".into(), name.to_string()));
        if let Some((k, v)) = extra {
            pairs.push((k.to_string(), v));
        }
        Labels::new(pairs)
    }
}

fn ms(nanos: u64) -> i64 {
    (nanos / 1_000_000) as i64
}

fn value(v: f64, flags: u32) -> f64 {
    if flags & NO_RECORDED_VALUE != 0 { stale_nan() } else { v }
}

fn translate_metric(m: &Metric, base: &Base, limits: &Limits, out: &mut Translation, newest: &mut i64) {
    let Some(data) = &m.data else { return };
    // Every point's attributes are checked before its labels are built.
    let attributes: Vec<&[KeyValue]> = match data {
        Data::Gauge(g) => g.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Data::Sum(s) => s.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Data::Histogram(h) => h.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Data::Summary(s) => s.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Data::ExponentialHistogram(_) => Vec::new(),
    };
    // name + `le`/`quantile`
    let base_labels = base.pairs.len() + 2;
    if let Some(e) = attributes.iter().find_map(|a| limits.check(&m.name, base_labels, a).err()) {
        out.refused.push(e);
        return;
    }
    if let Data::Histogram(h) = data
        && let Some(p) = h.data_points.iter().find(|p| p.bucket_counts.len() > limits.bucket_limit)
    {
        out.refused.push(format!(
            "`{}`: {} buckets, more than bucket_limit {}",
            m.name,
            p.bucket_counts.len(),
            limits.bucket_limit
        ));
        return;
    }
    let mut push = |labels: Labels, t: i64, v: f64| {
        *newest = (*newest).max(t);
        out.points.push((labels, t, v));
    };
    match data {
        Data::Gauge(g) => {
            let name = metric_name(&m.name, &m.unit, false, true);
            for p in &g.data_points {
                let v = match p.value {
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    Some(number_data_point::Value::AsInt(i)) => i as f64,
                    None => continue,
                };
                push(base.labels(&name, &p.attributes, None), ms(p.time_unix_nano), value(v, p.flags));
            }
        }
        Data::Sum(s) => {
            if s.aggregation_temporality == DELTA {
                out.refused.push(format!("`{}`: delta temporality is not supported; export cumulative sums", m.name));
                return;
            }
            let name = metric_name(&m.name, &m.unit, s.is_monotonic, !s.is_monotonic);
            for p in &s.data_points {
                let v = match p.value {
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    Some(number_data_point::Value::AsInt(i)) => i as f64,
                    None => continue,
                };
                push(base.labels(&name, &p.attributes, None), ms(p.time_unix_nano), value(v, p.flags));
            }
        }
        Data::Histogram(h) => {
            if h.aggregation_temporality == DELTA {
                out.refused.push(format!("`{}`: delta temporality is not supported; export cumulative histograms", m.name));
                return;
            }
            let name = metric_name(&m.name, &m.unit, false, false);
            for p in &h.data_points {
                let t = ms(p.time_unix_nano);
                let mut cumulative = 0u64;
                for (i, count) in p.bucket_counts.iter().enumerate() {
                    cumulative = cumulative.saturating_add(*count);
                    let le = p.explicit_bounds.get(i).copied().unwrap_or(f64::INFINITY);
                    if le.is_infinite() && i + 1 < p.bucket_counts.len() {
                        continue;
                    }
                    let labels = base.labels(&format!("{name}_bucket"), &p.attributes, Some(("le", format_float(le))));
                    push(labels, t, value(cumulative as f64, p.flags));
                }
                if p.bucket_counts.len() <= p.explicit_bounds.len() {
                    // No overflow bucket sent: +Inf is the total count.
                    let labels = base.labels(&format!("{name}_bucket"), &p.attributes, Some(("le", "+Inf".into())));
                    push(labels, t, value(p.count as f64, p.flags));
                }
                if let Some(sum) = p.sum {
                    push(base.labels(&format!("{name}_sum"), &p.attributes, None), t, value(sum, p.flags));
                }
                push(base.labels(&format!("{name}_count"), &p.attributes, None), t, value(p.count as f64, p.flags));
            }
        }
        Data::Summary(s) => {
            let name = metric_name(&m.name, &m.unit, false, false);
            for p in &s.data_points {
                let t = ms(p.time_unix_nano);
                for q in &p.quantile_values {
                    let labels = base.labels(&name, &p.attributes, Some(("quantile", format_float(q.quantile))));
                    push(labels, t, value(q.value, p.flags));
                }
                push(base.labels(&format!("{name}_sum"), &p.attributes, None), t, value(p.sum, p.flags));
                push(base.labels(&format!("{name}_count"), &p.attributes, None), t, value(p.count as f64, p.flags));
            }
        }
        Data::ExponentialHistogram(_) => out.refused.push(format!(
            "`{}`: exponential histograms are not supported yet; configure the SDK to export explicit-bucket histograms",
            m.name
        )),
    }
}

/// Translates a batch's metric points (other signals give nothing) within the default
/// [`Limits`].
pub fn translate(batch: &Batch) -> Translation {
    translate_with(batch, &Limits::default())
}

/// Translates a batch's metric points within `limits`.
pub fn translate_with(batch: &Batch, limits: &Limits) -> Translation {
    let mut out = Translation::default();
    let Payload::Metrics(resources) = &batch.payload else { return out };
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
            let base = Base { pairs };
            for m in &sm.metrics {
                if out.points.len() >= limits.sample_limit {
                    out.refused.push(format!(
                        "`{}`: the batch already gave sample_limit {} samples; the rest is refused",
                        m.name, limits.sample_limit
                    ));
                    continue;
                }
                translate_metric(m, &base, limits, &mut out, &mut newest);
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

#[cfg(test)]
mod tests;
