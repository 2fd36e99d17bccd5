//! Evaluator tests: selectors (lookback, staleness, offset, `@`), range functions,
//! aggregations. Expected values are worked out by hand from Prometheus's algorithms.

use super::*;
use crate::{StoreConfig, stale_nan};

pub(super) fn store() -> Store {
    Store::new(StoreConfig { retention_ms: i64::MAX / 4, max_series: 10_000 })
}

/// Appends samples `(seconds, value)` to `name{labels}`.
pub(super) fn add(s: &Store, name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
    let l = Labels::new(
        std::iter::once(("__name__".to_string(), name.to_string()))
            .chain(labels.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
    );
    for &(t, v) in samples {
        s.append(&l, t * 1000, v).unwrap();
    }
}

/// Evaluates at `t` seconds and returns an instant vector as `(labels text, value)`,
/// sorted by labels.
pub(super) fn vec_at(s: &Store, q: &str, t: i64) -> Vec<(String, f64)> {
    match instant_query(s, q, t * 1000).unwrap_or_else(|e| panic!("{q}: {e}")) {
        Value::Vector(v) => {
            let mut out: Vec<(String, f64)> = v.into_iter().map(|(l, v)| (l.to_string(), v)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("{q}: not a vector: {other:?}"),
    }
}

/// The single value of a one-element vector.
pub(super) fn one(s: &Store, q: &str, t: i64) -> f64 {
    let v = vec_at(s, q, t);
    assert_eq!(v.len(), 1, "{q}: {v:?}");
    v[0].1
}

pub(super) fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn lookback_window_is_left_open_five_minutes() {
    let s = store();
    add(&s, "x", &[], &[(0, 1.0)]);
    assert_eq!(vec_at(&s, "x", 0), vec![("x{}".to_string(), 1.0)]);
    assert_eq!(one(&s, "x", 299), 1.0, "inside the 5m lookback");
    assert!(vec_at(&s, "x", 300).is_empty(), "a sample exactly 5m old is out of (t-5m, t]");
    assert!(vec_at(&s, "x", -1).is_empty(), "future samples are not seen");
    let ms = match instant_query(&s, "x", 299_999).unwrap() {
        Value::Vector(v) => v.len(),
        _ => 0,
    };
    assert_eq!(ms, 1);
}

#[test]
fn staleness_marker_hides_series_and_is_dropped_from_ranges() {
    let s = store();
    add(&s, "x", &[("job", "a")], &[(0, 1.0), (15, 2.0), (30, stale_nan())]);
    add(&s, "x", &[("job", "b")], &[(0, 5.0)]);
    assert_eq!(vec_at(&s, "x", 20), vec![("x{job=\"a\"}".into(), 2.0), ("x{job=\"b\"}".into(), 5.0)]);
    assert_eq!(vec_at(&s, "x", 40), vec![("x{job=\"b\"}".into(), 5.0)], "the marker hides job=a");
    match instant_query(&s, "x{job=\"a\"}[1m]", 40_000).unwrap() {
        Value::Matrix(m) => {
            assert_eq!(m.len(), 1);
            assert_eq!(m[0].1, vec![Sample { t: 0, v: 1.0 }, Sample { t: 15_000, v: 2.0 }]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(one(&s, "count_over_time(x{job=\"a\"}[1m])", 40), 2.0, "marker not counted");
}

#[test]
fn offset_and_at_modifiers() {
    let s = store();
    add(&s, "x", &[], &[(0, 0.0), (60, 1.0), (120, 2.0), (180, 3.0)]);
    assert_eq!(one(&s, "x", 180), 3.0);
    assert_eq!(one(&s, "x offset 1m", 180), 2.0);
    assert_eq!(one(&s, "x offset 90s", 180), 1.0, "latest sample at or before 90s");
    assert_eq!(one(&s, "x offset -1m", 120), 3.0, "negative offset looks forward");
    assert_eq!(one(&s, "x @ 60", 1000), 1.0, "@ is absolute, even far from the eval time");
    assert_eq!(one(&s, "x @ 120 offset 1m", 0), 1.0);
    assert_eq!(one(&s, "x @ end()", 130), 2.0, "end() is the eval time");
    assert_eq!(one(&s, "x @ start()", 185), 3.0);
    assert_eq!(one(&s, "count_over_time(x[2m] @ 180)", 5000), 2.0, "(60, 180] holds 120 and 180");
    assert_eq!(one(&s, "count_over_time(x[2m] offset 1m)", 180), 2.0, "(0, 120] holds 60 and 120");
}

#[test]
fn range_selector_is_left_open() {
    let s = store();
    add(&s, "x", &[], &[(0, 1.0), (15, 2.0), (30, 3.0), (45, 4.0), (60, 5.0)]);
    match instant_query(&s, "x[1m]", 60_000).unwrap() {
        Value::Matrix(m) => {
            let ts: Vec<i64> = m[0].1.iter().map(|x| x.t).collect();
            assert_eq!(ts, vec![15_000, 30_000, 45_000, 60_000], "the sample at t-1m is excluded");
            assert_eq!(m[0].0.name(), Some("x"), "a matrix selector keeps the name");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rate_and_increase_with_counter_reset() {
    let s = store();
    add(&s, "c_total", &[("job", "a")], &[(0, 3.0), (15, 10.0), (30, 20.0), (45, 5.0), (60, 15.0)]);
    // In (0, 60]: 10, 20, 5, 15. Raw delta 5 + 20 (reset) = 25 over 45s sampled; the
    // first sample is 15s from the start (< 1.1 × 15s average) so it extrapolates to
    // the start; zero point 45 × 10/25 = 18s is not closer. Factor 60/45.
    let inc = one(&s, "increase(c_total[1m])", 60);
    assert!(approx(inc, 100.0 / 3.0), "{inc}");
    let rate = vec_at(&s, "rate(c_total[1m])", 60);
    assert_eq!(rate[0].0, "{job=\"a\"}", "the metric name is dropped");
    assert!(approx(rate[0].1, 5.0 / 9.0), "{}", rate[0].1);
    assert_eq!(one(&s, "resets(c_total[1m])", 60), 1.0);
    assert_eq!(one(&s, "changes(c_total[1m])", 60), 3.0);
    // irate: last two samples 5 → 15 over 15s.
    assert!(approx(one(&s, "irate(c_total[1m])", 60), 10.0 / 15.0));
    // irate across the reset: 20 → 5 means the counter restarted at 0: 5 / 15s.
    assert!(approx(one(&s, "irate(c_total[1m])", 45), 5.0 / 15.0));
    assert!(approx(one(&s, "idelta(c_total[1m])", 45), -15.0));
}

#[test]
fn increase_extrapolation_at_range_boundaries() {
    let s = store();
    // Starts near zero: the zero point (45s × 1/30 = 1.5s before the first sample)
    // limits extrapolation towards the start.
    add(&s, "a_total", &[], &[(15, 1.0), (30, 11.0), (45, 21.0), (60, 31.0)]);
    assert!(approx(one(&s, "increase(a_total[1m])", 60), 30.0 * 46.5 / 45.0));
    // Series that ends early: 30s from its last sample to the range end is more than
    // 1.1 × 15s, so only half an interval (7.5s) is added; the start extrapolates to
    // the zero point (value 0 at the first sample).
    add(&s, "b_total", &[], &[(15, 0.0), (30, 10.0)]);
    assert!(approx(one(&s, "increase(b_total[1m])", 60), 15.0));
    // A single sample yields nothing.
    add(&s, "c_total", &[], &[(50, 4.0)]);
    assert!(vec_at(&s, "rate(c_total[1m])", 60).is_empty());
    // delta of a gauge: no reset handling, no zero-point clamp.
    add(&s, "g", &[], &[(15, 5.0), (30, 3.0), (45, 8.0), (60, 2.0)]);
    assert!(approx(one(&s, "delta(g[1m])", 60), -4.0));
    // Threshold is 1.1 × the average interval (20s → 22s): a first sample 23s after
    // the start only extrapolates half an interval (10s); the end gap 17s is bridged.
    add(&s, "d1", &[], &[(23, 0.0), (43, 10.0), (63, 20.0), (83, 30.0), (103, 40.0)]);
    assert!(approx(one(&s, "delta(d1[2m])", 120), 40.0 * (80.0 + 10.0 + 17.0) / 80.0));
    // A gap of exactly the threshold (20 × 1.1 = 22.0) counts as too far (`>=`).
    add(&s, "d2", &[], &[(22, 0.0), (42, 10.0), (62, 20.0), (82, 30.0), (102, 40.0)]);
    assert!(approx(one(&s, "delta(d2[2m])", 120), 40.0 * (80.0 + 10.0 + 18.0) / 80.0));
    // With offset the range moves to (−15, 45]: 15, 30, 45 → delta 3 over 30s; the end
    // is reached, but the first sample is 30s after the start (≥ 1.1 × 15s), so only
    // 7.5s are added there.
    assert!(approx(one(&s, "delta(g[1m] offset 15s)", 60), 3.0 * 37.5 / 30.0));
}

#[test]
fn over_time_functions() {
    let s = store();
    add(&s, "x", &[("i", "1")], &[(15, 1.0), (30, 2.0), (45, 3.0), (60, 4.0)]);
    let at = |q: &str| one(&s, q, 60);
    assert_eq!(at("avg_over_time(x[1m])"), 2.5);
    assert_eq!(at("sum_over_time(x[1m])"), 10.0);
    assert_eq!(at("min_over_time(x[1m])"), 1.0);
    assert_eq!(at("max_over_time(x[1m])"), 4.0);
    assert_eq!(at("count_over_time(x[1m])"), 4.0);
    assert_eq!(at("quantile_over_time(0.5, x[1m])"), 2.5);
    assert_eq!(at("quantile_over_time(0.25, x[1m])"), 1.75);
    assert_eq!(at("quantile_over_time(2, x[1m])"), f64::INFINITY);
    assert!(approx(at("stdvar_over_time(x[1m])"), 1.25));
    assert!(approx(at("stddev_over_time(x[1m])"), 1.25f64.sqrt()));
    assert_eq!(at("present_over_time(x[1m])"), 1.0);
    assert_eq!(vec_at(&s, "last_over_time(x[1m])", 60), vec![("x{i=\"1\"}".into(), 4.0)], "keeps the name");
    assert_eq!(vec_at(&s, "max_over_time(x[1m])", 60)[0].0, "{i=\"1\"}", "drops the name");
    assert!(vec_at(&s, "absent_over_time(x[1m])", 60).is_empty());
    assert_eq!(vec_at(&s, "absent_over_time(nope{job=\"j\", i=~\"1\"}[1m])", 60), vec![("{job=\"j\"}".into(), 1.0)]);
    assert!(vec_at(&s, "sum_over_time(x[10s])", 200).is_empty(), "empty range: no output");
    assert!(approx(at("deriv(x[1m])"), 1.0 / 15.0));
    assert!(approx(at("predict_linear(x[1m], 30)"), 6.0));
}

#[test]
fn subquery_steps_are_aligned_and_left_open() {
    let s = store();
    add(&s, "x", &[], &[(0, 1.0), (30, 5.0), (60, 2.0), (90, 7.0)]);
    // Steps in (30, 90] aligned to 30s: 60, 90 → values 2, 7.
    assert_eq!(one(&s, "max_over_time(x[1m:30s])", 90), 7.0);
    assert_eq!(one(&s, "count_over_time(x[1m:30s])", 90), 2.0);
    assert_eq!(one(&s, "min_over_time(x[1m:30s])", 90), 2.0);
    // At 100 the steps are 60, 90 again (aligned), offset moves them back by 30s.
    assert_eq!(one(&s, "sum_over_time(x[1m:30s] offset 30s)", 100), 5.0 + 2.0);
    // Default step from the options (1m): steps in (−30, 90] at 0 and 60.
    assert_eq!(one(&s, "sum_over_time(x[2m:])", 90), 3.0);
    // rate at step 60 over (0, 60]: 5 → 2 is a reset, increase 2 × 60/30 → 4/60; at
    // step 90 over (30, 90]: 2 → 7, the zero point 12s before the first sample limits
    // the start: 5 × 42/30 = 7 → 7/60.
    assert!(approx(one(&s, "max_over_time(rate(x[1m])[1m:30s])", 90), 7.0 / 60.0));
    assert!(approx(one(&s, "min_over_time(rate(x[1m])[1m:30s])", 90), 4.0 / 60.0));
}

#[test]
fn aggregations_by_and_without() {
    let s = store();
    add(&s, "m", &[("job", "a"), ("inst", "1")], &[(0, 1.0)]);
    add(&s, "m", &[("job", "a"), ("inst", "2")], &[(0, 3.0)]);
    add(&s, "m", &[("job", "b"), ("inst", "1")], &[(0, 5.0)]);
    let v = |q: &str| vec_at(&s, q, 10);
    assert_eq!(v("sum(m)"), vec![("{}".into(), 9.0)]);
    assert_eq!(v("sum by (job) (m)"), vec![("{job=\"a\"}".into(), 4.0), ("{job=\"b\"}".into(), 5.0)]);
    assert_eq!(v("sum without (inst) (m)"), vec![("{job=\"a\"}".into(), 4.0), ("{job=\"b\"}".into(), 5.0)]);
    assert_eq!(v("sum by (__name__) (m)"), vec![("m{}".into(), 9.0)]);
    assert_eq!(v("avg by (job) (m)")[0].1, 2.0);
    assert_eq!(v("min by (job) (m)")[0].1, 1.0);
    assert_eq!(v("max by (job) (m)")[0].1, 3.0);
    assert_eq!(v("count by (inst) (m)"), vec![("{inst=\"1\"}".into(), 2.0), ("{inst=\"2\"}".into(), 1.0)]);
    assert_eq!(v("group by (job) (m)")[1], ("{job=\"b\"}".into(), 1.0));
    assert_eq!(v("stddev by (job) (m)")[0].1, 1.0);
    assert_eq!(v("stdvar(m)")[0].1, 8.0 / 3.0);
    assert_eq!(v("quantile(0.5, m)"), vec![("{}".into(), 3.0)]);
    assert_eq!(v("quantile by (job) (0.25, m)")[0].1, 1.5);
    assert_eq!(v("topk(1, m)"), vec![("m{inst=\"1\", job=\"b\"}".into(), 5.0)], "keeps all labels");
    assert_eq!(v("bottomk by (job) (1, m)").len(), 2);
    assert_eq!(v("bottomk(1, m)")[0].1, 1.0);
    assert!(v("topk(0, m)").is_empty());
}

#[test]
fn topk_ties_keep_earlier_series_and_count_values_label() {
    let s = store();
    for i in ["a", "b", "c", "d"] {
        add(&s, "t", &[("i", i)], &[(0, if i == "d" { 1.0 } else { 2.0 })]);
    }
    // Prometheus only replaces the heap's root on a strictly better value, so with three
    // equal values the first two (storage order) stay.
    assert_eq!(vec_at(&s, "topk(2, t)", 1), vec![("t{i=\"a\"}".into(), 2.0), ("t{i=\"b\"}".into(), 2.0)]);
    // bottomk: heap [a, b] with a at the root (b does not sift above an equal a); d
    // replaces the root a.
    assert_eq!(vec_at(&s, "bottomk(2, t)", 1), vec![("t{i=\"b\"}".into(), 2.0), ("t{i=\"d\"}".into(), 1.0)]);
    assert_eq!(
        vec_at(&s, "count_values(\"value\", t)", 1),
        vec![("{value=\"1\"}".into(), 1.0), ("{value=\"2\"}".into(), 3.0)]
    );
    add(&s, "f", &[], &[(0, 0.25)]);
    assert_eq!(vec_at(&s, "count_values by (__name__) (\"v\", f)", 1), vec![("f{v=\"0.25\"}".into(), 1.0)]);
    assert!(instant_query(&s, "count_values(\"\", t)", 1000).is_err());
}
