//! Binary operators: arithmetic (`+ - * / % ^ atan2`), comparisons (filtering, or 0/1
//! with `bool`), set operators (`and or unless`), and vector matching (`on`/`ignoring`,
//! `group_left`/`group_right`) with Prometheus's cardinality errors.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL, T_NEQ, T_POW,
    T_SUB, TokenType,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::Evaluator;
use super::labels_ops::{check_unique, drop_name, go_string, keep, match_labels, remove, set, signature};
use super::{EvalError, Queryable, Value, exec_err};
use crate::Labels;

type Vector = Vec<(Labels, f64)>;

/// Prometheus `vectorElemBinop` for floats: `(value, keep)`.
fn elem_binop(op: TokenType, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match op.id() {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => return exec_err(format!("operator {op} not allowed here")),
    })
}

fn is_comparison(op: TokenType) -> bool {
    op.is_comparison_operator()
}

/// Arithmetic operators drop the metric name; comparisons and set operators keep it.
fn drops_name(op: TokenType) -> bool {
    !op.is_comparison_operator() && !op.is_set_operator()
}

pub(crate) fn eval<Q: Queryable + ?Sized>(ev: &Evaluator<'_, Q>, b: &BinaryExpr, t: i64) -> Result<Value, EvalError> {
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let op = b.op;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = elem_binop(op, l, r)?;
            if is_comparison(op) {
                return Ok(Value::Scalar(if keep { 1.0 } else { 0.0 }));
            }
            Ok(Value::Scalar(v))
        }
        (Value::Vector(l), Value::Scalar(r)) => vector_scalar(op, l, r, false, return_bool).map(Value::Vector),
        (Value::Scalar(l), Value::Vector(r)) => vector_scalar(op, r, l, true, return_bool).map(Value::Vector),
        (Value::Vector(l), Value::Vector(r)) => {
            let (card, on, names) = match &b.modifier {
                Some(m) => {
                    let (on, names) = match &m.matching {
                        Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
                        Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
                        None => (false, Vec::new()),
                    };
                    (m.card.clone(), on, names)
                }
                None => (VectorMatchCardinality::OneToOne, false, Vec::new()),
            };
            let out = match op.id() {
                T_LAND => and_unless(l, &r, on, &names, true),
                T_LUNLESS => and_unless(l, &r, on, &names, false),
                T_LOR => or(l, r, on, &names),
                _ => {
                    let out = vector_vector(op, l, r, &card, on, &names, return_bool)?;
                    check_unique(&out)?;
                    out
                }
            };
            Ok(Value::Vector(out))
        }
        (l, r) => exec_err(format!("binary operator {op} between {} and {}", l.type_name(), r.type_name())),
    }
}

/// `vector op scalar` (or `scalar op vector` when `swap`).
fn vector_scalar(op: TokenType, v: Vector, s: f64, swap: bool, return_bool: bool) -> Result<Vector, EvalError> {
    let mut out = Vec::with_capacity(v.len());
    for (labels, x) in v {
        let (l, r) = if swap { (s, x) } else { (x, s) };
        let (mut value, mut keep) = elem_binop(op, l, r)?;
        // A comparison keeps the vector's value even when the scalar is on the left.
        if is_comparison(op) && swap {
            value = x;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || return_bool { drop_name(&labels) } else { labels };
            out.push((labels, value));
        }
    }
    if drops_name(op) || return_bool {
        check_unique(&out)?;
    }
    Ok(out)
}

fn and_unless(l: Vector, r: &Vector, on: bool, names: &[String], and: bool) -> Vector {
    let right: HashSet<String> = r.iter().map(|(ls, _)| signature(ls, on, names)).collect();
    l.into_iter().filter(|(ls, _)| right.contains(&signature(ls, on, names)) == and).collect()
}

fn or(l: Vector, r: Vector, on: bool, names: &[String]) -> Vector {
    let left: HashSet<String> = l.iter().map(|(ls, _)| signature(ls, on, names)).collect();
    let mut out = l;
    out.extend(r.into_iter().filter(|(ls, _)| !left.contains(&signature(ls, on, names))));
    out
}

/// Prometheus `VectorBinop` for one-to-one, many-to-one and one-to-many matching.
fn vector_vector(
    op: TokenType,
    lhs: Vector,
    rhs: Vector,
    card: &VectorMatchCardinality,
    on: bool,
    names: &[String],
    return_bool: bool,
) -> Result<Vector, EvalError> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new()); // Nothing can match (checked before any cardinality error).
    }
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    let include: Vec<String> = card.labels().map(|l| l.labels.clone()).unwrap_or_default();
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut right: HashMap<String, (Labels, f64)> = HashMap::with_capacity(one.len());
    for (ls, v) in one {
        let sig = signature(&ls, on, names);
        if let Some((dup, _)) = right.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            return exec_err(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];\
                 many-to-many matching not allowed: matching labels must be unique on one side",
                go_string(&match_labels(&ls, on, names)),
                go_string(&ls),
                go_string(dup)
            ));
        }
        right.insert(sig, (ls, v));
    }
    let mut matched: HashMap<String, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for (ls, lv) in many {
        let sig = signature(&ls, on, names);
        let Some((rs, rv)) = right.get(&sig) else { continue };
        let (fl, fr) = if one_to_many { (*rv, lv) } else { (lv, *rv) };
        let (mut value, keep_it) = elem_binop(op, fl, fr)?;
        if return_bool {
            value = if keep_it { 1.0 } else { 0.0 };
        }
        let mut metric = if drops_name(op) { drop_name(&ls) } else { ls };
        if matches!(card, VectorMatchCardinality::OneToOne) {
            metric = if on { keep(&metric, names) } else { remove(&metric, names) };
        }
        for name in &include {
            metric = set(&metric, name, rs.get(name).unwrap_or(""));
        }
        if return_bool {
            metric = drop_name(&metric);
        }
        let entry = matched.entry(sig);
        if matches!(card, VectorMatchCardinality::OneToOne) {
            if let std::collections::hash_map::Entry::Occupied(_) = entry {
                return exec_err(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                );
            }
            entry.or_default();
        } else if !entry.or_default().insert(metric.clone()) {
            return exec_err("multiple matches for labels: grouping labels must ensure unique matches");
        }
        // Filtered-out comparisons still count as matches for the checks above.
        if keep_it || return_bool {
            out.push((metric, value));
        }
    }
    Ok(out)
}
