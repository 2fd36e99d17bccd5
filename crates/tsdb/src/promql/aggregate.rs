//! Aggregation operators: `sum avg min max count group stddev stdvar topk bottomk
//! quantile count_values`, grouped `by`/`without` as Prometheus groups them.

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::eval::Evaluator;
use super::labels_ops::{METRIC_NAME, keep, remove, set, valid_label_name};
use super::stats::{Mean, kahan_sum_from_first, quantile};
use super::{EvalError, Queryable, Value, exec_err};
use crate::Labels;

/// The output labels of a group: `by` keeps the listed labels, `without` removes them and
/// the metric name; no modifier means one group.
fn group_labels(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::default(),
        Some(LabelModifier::Include(ls)) => keep(labels, &ls.labels),
        Some(LabelModifier::Exclude(ls)) => {
            let mut names = ls.labels.clone();
            names.push(METRIC_NAME.to_string());
            remove(labels, &names)
        }
    }
}

/// Whether a pair takes part in the grouping key: `by` lists it; `without` does not
/// and it is not the metric name; no modifier: none does.
fn in_key(name: &str, modifier: &Option<LabelModifier>) -> bool {
    match modifier {
        None => false,
        Some(LabelModifier::Include(ls)) => ls.labels.iter().any(|n| n == name),
        Some(LabelModifier::Exclude(ls)) => name != METRIC_NAME && !ls.labels.iter().any(|n| n == name),
    }
}

/// The grouping key's pairs of `labels`, in label order.
fn key_pairs<'a>(
    labels: &'a Labels,
    modifier: &'a Option<LabelModifier>,
) -> impl Iterator<Item = &'a (String, String)> + 'a {
    labels.pairs().iter().filter(move |(k, _)| in_key(k, modifier))
}

/// Groups `input` in first-seen order: `(group labels, member indexes)`. Keys are
/// hashed and compared on the input's own pairs, so only a group's first member builds
/// a label set.
fn groups(input: &[(Labels, f64)], modifier: &Option<LabelModifier>) -> Vec<(Labels, Vec<usize>)> {
    use std::hash::{BuildHasher, Hash, Hasher};
    let hasher = foldhash::fast::FixedState::default();
    // Key hash → the first group with it; `next` chains groups whose hashes collide.
    let mut first: HashMap<u64, usize, foldhash::fast::FixedState> = HashMap::with_hasher(hasher.clone());
    let mut next: Vec<Option<usize>> = Vec::new();
    let mut out: Vec<(Labels, Vec<usize>)> = Vec::new();
    for (i, (l, _)) in input.iter().enumerate() {
        let mut h = hasher.build_hasher();
        for pair in key_pairs(l, modifier) {
            pair.hash(&mut h);
        }
        let h = h.finish();
        let mut at = first.get(&h).copied();
        let mut last = None;
        while let Some(gi) = at {
            let repr = &input[out[gi].1[0]].0;
            if key_pairs(repr, modifier).eq(key_pairs(l, modifier)) {
                break;
            }
            last = Some(gi);
            at = next[gi];
        }
        match at {
            Some(gi) => out[gi].1.push(i),
            None => {
                let gi = out.len();
                match last {
                    Some(prev) => next[prev] = Some(gi),
                    None => {
                        first.insert(h, gi);
                    }
                }
                next.push(None);
                out.push((group_labels(l, modifier), vec![i]));
            }
        }
    }
    out
}

pub(crate) fn eval<Q: Queryable + ?Sized>(
    ev: &Evaluator<'_, Q>,
    a: &AggregateExpr,
    t: i64,
) -> Result<Value, EvalError> {
    let input = ev.eval_vector(&a.expr, t)?;
    let op = a.op.id();
    match op {
        T_TOPK | T_BOTTOMK => {
            let param = a.param.as_ref().ok_or_else(|| EvalError::Exec("topk/bottomk needs k".into()))?;
            let k = ev.eval_scalar(param, t)?;
            return Ok(Value::Vector(top_bottom(input, k, op == T_TOPK, &a.modifier)?));
        }
        T_COUNT_VALUES => {
            let param = a.param.as_ref().ok_or_else(|| EvalError::Exec("count_values needs a label".into()))?;
            let name = ev.eval_string(param, t)?;
            return Ok(Value::Vector(count_values(input, &name, &a.modifier)?));
        }
        _ => {}
    }
    let q = match (op, &a.param) {
        (T_QUANTILE, Some(p)) => ev.eval_scalar(p, t)?,
        _ => f64::NAN,
    };
    let mut out = Vec::new();
    for (labels, members) in groups(&input, &a.modifier) {
        let vals = members.iter().map(|&i| input[i].1);
        let v = match op {
            T_SUM => kahan_sum_from_first(vals),
            T_AVG => {
                let mut m = Mean::default();
                vals.for_each(|v| m.add(v));
                m.value()
            }
            T_COUNT => members.len() as f64,
            T_GROUP => 1.0,
            T_MIN => vals.fold(f64::NAN, |acc, v| if v < acc || acc.is_nan() { v } else { acc }),
            T_MAX => vals.fold(f64::NAN, |acc, v| if v > acc || acc.is_nan() { v } else { acc }),
            T_STDDEV | T_STDVAR => {
                let (mut count, mut mean, mut acc) = (0.0, 0.0, 0.0);
                for v in vals {
                    count += 1.0;
                    let delta = v - mean;
                    mean += delta / count;
                    acc += delta * (v - mean);
                }
                let var = acc / count;
                if op == T_STDDEV { var.sqrt() } else { var }
            }
            T_QUANTILE => {
                let mut vs: Vec<f64> = vals.collect();
                quantile(q, &mut vs)
            }
            _ => return exec_err(format!("aggregation {} is not supported", a.op)),
        };
        out.push((labels, v));
    }
    Ok(Value::Vector(out))
}

/// `topk`/`bottomk`, ported from Prometheus's `aggregationK`: per group a Go
/// `container/heap` of up to k elements whose root is the worst kept (NaN counts as
/// worst); a new element replaces the root only when strictly better, so ties keep the
/// earlier series. The output keeps the input series' labels, best first.
fn top_bottom(
    input: Vec<(Labels, f64)>,
    k: f64,
    top: bool,
    modifier: &Option<LabelModifier>,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    if k.is_nan() || !(-9.223_372_036_854_776e18..=9.223_372_036_854_775e18).contains(&k) {
        return exec_err(format!("Scalar value {k} overflows int64"));
    }
    let k = (k as i64).min(input.len() as i64);
    if k < 1 {
        return Ok(Vec::new());
    }
    let k = k as usize;
    // Go heap `Less`: NaN first, then ascending (topk) or descending (bottomk).
    let less = |a: f64, b: f64| {
        if a.is_nan() {
            return true;
        }
        if top { a < b } else { a > b }
    };
    let mut out = Vec::new();
    for (_, members) in groups(&input, modifier) {
        let mut heap: Vec<usize> = Vec::with_capacity(k);
        for i in members {
            let v = input[i].1;
            if heap.len() < k {
                heap.push(i);
                let last = heap.len() - 1;
                heap_up(&mut heap, last, |a, b| less(input[a].1, input[b].1));
                continue;
            }
            let root = input[heap[0]].1;
            let better = if top { root < v } else { root > v };
            if better || (root.is_nan() && !v.is_nan()) {
                heap[0] = i;
                if k > 1 {
                    heap_down(&mut heap, 0, |a, b| less(input[a].1, input[b].1));
                }
            }
        }
        // Best first: the reverse of the heap order; ties by input order.
        heap.sort_by(|&a, &b| {
            let (va, vb) = (input[a].1, input[b].1);
            if less(vb, va) {
                std::cmp::Ordering::Less
            } else if less(va, vb) {
                std::cmp::Ordering::Greater
            } else {
                a.cmp(&b)
            }
        });
        out.extend(heap.into_iter().map(|i| input[i].clone()));
    }
    Ok(out)
}

/// Go `container/heap` `up`.
fn heap_up(h: &mut [usize], mut j: usize, less: impl Fn(usize, usize) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(h[j], h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go `heap.Fix(h, i0)`: sift down, or up when the element did not move down.
fn heap_down(h: &mut [usize], i0: usize, less: impl Fn(usize, usize) -> bool) {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && less(h[j1 + 1], h[j1]) {
            j = j1 + 1;
        }
        if !less(h[j], h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    if i == i0 {
        heap_up(h, i0, less);
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

/// `count_values`: per group and distinct value, how many elements have it; the value
/// goes into the label `name`.
fn count_values(
    input: Vec<(Labels, f64)>,
    name: &str,
    modifier: &Option<LabelModifier>,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    if !valid_label_name(name) {
        return exec_err(format!("invalid label name {name:?}"));
    }
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<(Labels, f64)> = Vec::new();
    for (l, v) in &input {
        let g = set(&group_labels(l, modifier), name, &format_value(*v));
        match index.get(&g) {
            Some(&i) => out[i].1 += 1.0,
            None => {
                index.insert(g.clone(), out.len());
                out.push((g, 1.0));
            }
        }
    }
    Ok(out)
}
