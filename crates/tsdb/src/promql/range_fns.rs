//! Functions over range vectors: `rate increase delta` (Prometheus's
//! `extrapolatedRate`, counter resets included), `irate idelta changes resets`, and the
//! `*_over_time` family. Each takes one series' samples plus the range bounds.

use super::stats::{Mean, kahan_inc, kahan_sum, quantile};
use crate::Sample;

/// The range a function sees: Prometheus's `rangeStart`/`rangeEnd` (ms).
#[derive(Clone, Copy)]
pub(crate) struct Range {
    pub(crate) start: i64,
    pub(crate) end: i64,
}

/// Prometheus `extrapolatedRate`: `rate` (`is_counter && is_rate`), `increase`
/// (`is_counter`), `delta` (neither).
pub(crate) fn extrapolated_rate(s: &[Sample], r: Range, is_counter: bool, is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let n1 = (s.len() - 1) as f64;
    let (first, last) = (s[0], s[s.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for p in &s[1..] {
            if p.v < prev {
                result += prev;
            }
            prev = p.v;
        }
    }
    let mut to_start = (first.t - r.start) as f64 / 1000.0;
    let mut to_end = (r.end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_between = sampled / n1;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= (r.end - r.start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` (`is_rate`) / `idelta`: from the last two samples.
pub(crate) fn instant_value(s: &[Sample], is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (prev, last) = (s[s.len() - 2], s[s.len() - 1]);
    let mut v = if is_rate && last.v < prev.v { last.v } else { last.v - prev.v };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// Prometheus's `funcDoubleExponentialSmoothing` (`holt_winters` in Prometheus 2):
/// the last smoothed value, `None` with fewer than two samples. The factors are
/// checked by the caller.
pub(crate) fn double_exponential_smoothing(s: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    // The trend at step i: the first difference seeds it, then it is smoothed by `tf`.
    let trend = |i: usize, s0: f64, s1: f64, b: f64| if i == 0 { b } else { tf * (s1 - s0) + (1.0 - tf) * b };
    let (mut s0, mut s1, mut b) = (0.0, s[0].v, s[1].v - s[0].v);
    for (i, x) in s.iter().enumerate().skip(1) {
        b = trend(i - 1, s0, s1, b);
        let next = sf * x.v + (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, next);
    }
    Some(s1)
}

pub(crate) fn changes(s: &[Sample]) -> f64 {
    s.windows(2).filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan())).count() as f64
}

pub(crate) fn resets(s: &[Sample]) -> f64 {
    s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64
}

/// `<name>_over_time` for a non-empty series; `q` is `quantile_over_time`'s φ.
pub(crate) fn over_time(name: &str, s: &[Sample], q: f64) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let vals = s.iter().map(|x| x.v);
    Some(match name {
        "avg_over_time" => {
            let mut m = Mean::default();
            vals.for_each(|v| m.add(v));
            m.value()
        }
        "sum_over_time" => kahan_sum(vals),
        "min_over_time" => vals.fold(f64::NAN, |m, v| if v < m || m.is_nan() { v } else { m }),
        "max_over_time" => vals.fold(f64::NAN, |m, v| if v > m || m.is_nan() { v } else { m }),
        "count_over_time" => s.len() as f64,
        "last_over_time" => s[s.len() - 1].v,
        "present_over_time" => 1.0,
        "quantile_over_time" => {
            let mut vs: Vec<f64> = vals.collect();
            quantile(q, &mut vs)
        }
        "stddev_over_time" | "stdvar_over_time" => {
            let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for v in vals {
                count += 1.0;
                let delta = v - (mean + c_mean);
                (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
                (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
            }
            let var = (aux + c_aux) / count;
            if name == "stddev_over_time" { var.sqrt() } else { var }
        }
        _ => return None,
    })
}
