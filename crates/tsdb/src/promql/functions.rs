//! Function calls: dispatch of range-vector functions (see `range_fns`) and the
//! instant-vector functions: math (`abs ceil floor round sqrt exp ln log2 log10`),
//! `clamp*`, `absent`, `scalar`, `vector`, `time`, `timestamp`, `label_replace`,
//! `label_join`, `sort*`, `histogram_quantile`, and the date functions.

use std::collections::HashMap;

use promql_parser::parser::{Call, Expr, VectorSelector};

use super::eval::{Evaluator, unwrap_parens};
use super::labels_ops::{METRIC_NAME, check_unique, drop_name, remove, set, valid_label_name};
use super::range_fns::{self, Range};
use super::stats::{bucket_quantile, go_max, go_min, linear_regression};
use super::{EvalError, Queryable, Value, exec_err};
use crate::{Labels, Sample};

/// Every function [`call`] implements (what `check` accepts).
pub(crate) const SUPPORTED: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "changes",
    "resets",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
    "absent_over_time",
    "double_exponential_smoothing",
    "histogram_quantile",
    "abs",
    "ceil",
    "floor",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "absent",
    "scalar",
    "vector",
    "time",
    "timestamp",
    "label_replace",
    "label_join",
    "sort",
    "sort_desc",
    "sqrt",
    "exp",
    "ln",
    "log2",
    "log10",
    "minute",
    "hour",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "month",
    "year",
    "deriv",
    "predict_linear",
    "sgn",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "deg",
    "rad",
    "pi",
];

type Vector = Vec<(Labels, f64)>;

pub(crate) fn call<Q: Queryable + ?Sized>(ev: &Evaluator<'_, Q>, c: &Call, t: i64) -> Result<Value, EvalError> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    let arg = |i: usize| -> Result<&Expr, EvalError> {
        args.get(i).copied().ok_or_else(|| EvalError::Exec(format!("{name}: missing argument {}", i + 1)))
    };
    match name {
        "rate" | "increase" | "delta" | "irate" | "idelta" | "changes" | "resets" | "avg_over_time"
        | "min_over_time" | "max_over_time" | "sum_over_time" | "count_over_time" | "quantile_over_time"
        | "stddev_over_time" | "stdvar_over_time" | "last_over_time" | "present_over_time" | "deriv"
        | "predict_linear" => {
            let (q, m) = match name {
                "quantile_over_time" => (ev.eval_scalar(arg(0)?, t)?, arg(1)?),
                "predict_linear" => (ev.eval_scalar(arg(1)?, t)?, arg(0)?),
                _ => (0.0, arg(0)?),
            };
            let (start, end) = ev.range_bounds(t, m).ok_or_else(|| EvalError::Exec(format!("{name}: not a range")))?;
            let r = Range { start, end };
            let mut out = Vec::new();
            // Input series are distinct, so dropping `__name__` can only make two equal
            // when their names differ: the check is needed only then.
            let mut first_name: Option<Option<String>> = None;
            let mut names_differ = false;
            let mut apply = |labels: &Labels, s: &[Sample]| {
                let v = match name {
                    "rate" => range_fns::extrapolated_rate(s, r, true, true),
                    "increase" => range_fns::extrapolated_rate(s, r, true, false),
                    "delta" => range_fns::extrapolated_rate(s, r, false, false),
                    "irate" => range_fns::instant_value(s, true),
                    "idelta" => range_fns::instant_value(s, false),
                    "changes" => (!s.is_empty()).then(|| range_fns::changes(s)),
                    "resets" => (!s.is_empty()).then(|| range_fns::resets(s)),
                    "deriv" => (s.len() >= 2).then(|| linear_regression(s, s[0].t).0),
                    "predict_linear" => (s.len() >= 2).then(|| {
                        let (slope, intercept) = linear_regression(s, t);
                        slope * q + intercept
                    }),
                    _ => range_fns::over_time(name, s, q),
                };
                if let Some(v) = v {
                    if name == "last_over_time" {
                        out.push((labels.clone(), v));
                        return;
                    }
                    match &first_name {
                        None => first_name = Some(labels.name().map(str::to_string)),
                        Some(n) => names_differ |= n.as_deref() != labels.name(),
                    }
                    out.push((drop_name(labels), v));
                }
            };
            match unwrap_parens(m) {
                Expr::MatrixSelector(ms) => ev.for_each_range(&ms.vs, start, end, &mut apply)?,
                _ => ev.eval_matrix(m, t)?.iter().for_each(|(labels, s)| apply(labels, s)),
            }
            if names_differ {
                check_unique(&out)?;
            }
            Ok(Value::Vector(out))
        }
        "double_exponential_smoothing" => {
            let m = arg(0)?;
            let (sf, tf) = (ev.eval_scalar(arg(1)?, t)?, ev.eval_scalar(arg(2)?, t)?);
            let mut out = Vec::new();
            for (labels, s) in ev.eval_matrix(m, t)? {
                // Prometheus checks the factors per series (so an empty range is no error) and
                // with `<=`/`>=` (so NaN passes).
                if sf <= 0.0 || sf >= 1.0 {
                    return exec_err(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {}", go_f(sf)));
                }
                if tf <= 0.0 || tf >= 1.0 {
                    return exec_err(format!("invalid trend factor. Expected: 0 < tf < 1, got: {}", go_f(tf)));
                }
                if let Some(v) = range_fns::double_exponential_smoothing(&s, sf, tf) {
                    out.push((drop_name(&labels), v));
                }
            }
            check_unique(&out)?;
            Ok(Value::Vector(out))
        }
        "absent_over_time" => {
            let m = ev.eval_matrix(arg(0)?, t)?;
            Ok(Value::Vector(if m.is_empty() { vec![(absent_labels(arg(0)?), 1.0)] } else { Vec::new() }))
        }
        "absent" => {
            let v = ev.eval_vector(arg(0)?, t)?;
            Ok(Value::Vector(if v.is_empty() { vec![(absent_labels(arg(0)?), 1.0)] } else { Vec::new() }))
        }
        "time" => Ok(Value::Scalar(t as f64 / 1000.0)),
        "vector" => Ok(Value::Vector(vec![(Labels::default(), ev.eval_scalar(arg(0)?, t)?)])),
        "scalar" => {
            let v = ev.eval_vector(arg(0)?, t)?;
            Ok(Value::Scalar(if v.len() == 1 { v[0].1 } else { f64::NAN }))
        }
        "timestamp" => {
            let out: Vector = match unwrap_parens(arg(0)?) {
                Expr::VectorSelector(vs) => {
                    // Prometheus's timestamp-over-selector path replaces the offset with
                    // the `@` shift, so with `@` the offset is ignored.
                    let rt = match &vs.at {
                        Some(_) => ev.selector_time(t, &VectorSelector { offset: None, ..vs.clone() }),
                        None => ev.selector_time(t, vs),
                    };
                    ev.select_instant(vs, rt)?
                        .into_iter()
                        .map(|(l, _, st)| (drop_name(&l), st as f64 / 1000.0))
                        .collect()
                }
                e => ev.eval_vector(e, t)?.into_iter().map(|(l, _)| (drop_name(&l), t as f64 / 1000.0)).collect(),
            };
            check_unique(&out)?;
            Ok(Value::Vector(out))
        }
        "pi" => Ok(Value::Scalar(std::f64::consts::PI)),
        "abs" | "ceil" | "floor" | "sqrt" | "exp" | "ln" | "log2" | "log10" | "sgn" | "sin" | "cos" | "tan"
        | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "asinh" | "acosh" | "atanh" | "deg" | "rad" => {
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "sqrt" => f64::sqrt,
                "exp" => f64::exp,
                "ln" => f64::ln,
                "log2" => f64::log2,
                "log10" => f64::log10,
                "sgn" => |v: f64| {
                    if v < 0.0 {
                        -1.0
                    } else if v > 0.0 {
                        1.0
                    } else {
                        v
                    }
                },
                "sin" => f64::sin,
                "cos" => f64::cos,
                "tan" => f64::tan,
                "asin" => f64::asin,
                "acos" => f64::acos,
                "atan" => f64::atan,
                "sinh" => f64::sinh,
                "cosh" => f64::cosh,
                "tanh" => f64::tanh,
                "asinh" => f64::asinh,
                "acosh" => f64::acosh,
                "atanh" => f64::atanh,
                "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
                _ => |v: f64| v * std::f64::consts::PI / 180.0,
            };
            map_values(ev.eval_vector(arg(0)?, t)?, f)
        }
        "round" => {
            let to_nearest = match args.get(1) {
                Some(e) => ev.eval_scalar(e, t)?,
                None => 1.0,
            };
            let inv = 1.0 / to_nearest;
            map_values(ev.eval_vector(arg(0)?, t)?, |f| (f * inv + 0.5).floor() / inv)
        }
        "clamp" => {
            let v = ev.eval_vector(arg(0)?, t)?;
            let (min, max) = (ev.eval_scalar(arg(1)?, t)?, ev.eval_scalar(arg(2)?, t)?);
            if max < min {
                return Ok(Value::Vector(Vec::new()));
            }
            map_values(v, |f| go_max(min, go_min(max, f)))
        }
        "clamp_min" => {
            let (v, min) = (ev.eval_vector(arg(0)?, t)?, ev.eval_scalar(arg(1)?, t)?);
            map_values(v, |f| go_max(min, f))
        }
        "clamp_max" => {
            let (v, max) = (ev.eval_vector(arg(0)?, t)?, ev.eval_scalar(arg(1)?, t)?);
            map_values(v, |f| go_min(max, f))
        }
        "sort" | "sort_desc" => {
            let mut v = ev.eval_vector(arg(0)?, t)?;
            let desc = name == "sort_desc";
            v.sort_by(|a, b| match (a.1.is_nan(), b.1.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if desc => b.1.partial_cmp(&a.1).expect("not NaN"),
                _ => a.1.partial_cmp(&b.1).expect("not NaN"),
            });
            Ok(Value::Vector(v))
        }
        "label_replace" => {
            let v = ev.eval_vector(arg(0)?, t)?;
            let dst = ev.eval_string(arg(1)?, t)?;
            let repl = ev.eval_string(arg(2)?, t)?;
            let src = ev.eval_string(arg(3)?, t)?;
            let re_src = ev.eval_string(arg(4)?, t)?;
            let re = regex::Regex::new(&format!("^(?s:{re_src})$"))
                .map_err(|_| EvalError::Exec(format!("invalid regular expression in label_replace(): {re_src}")))?;
            if !valid_label_name(&dst) {
                return exec_err(format!("invalid destination label name in label_replace(): {dst}"));
            }
            let mut out = Vec::with_capacity(v.len());
            for (l, val) in v {
                let src_val = l.get(&src).unwrap_or("");
                let l = match re.captures(src_val) {
                    Some(caps) => {
                        let mut res = String::new();
                        caps.expand(&repl, &mut res);
                        set(&l, &dst, &res)
                    }
                    None => l,
                };
                out.push((l, val));
            }
            check_unique(&out)?;
            Ok(Value::Vector(out))
        }
        "label_join" => {
            let v = ev.eval_vector(arg(0)?, t)?;
            let dst = ev.eval_string(arg(1)?, t)?;
            let sep = ev.eval_string(arg(2)?, t)?;
            let mut srcs = Vec::new();
            for e in &args[3..] {
                let src = ev.eval_string(e, t)?;
                if !valid_label_name(&src) {
                    return exec_err(format!("invalid source label name in label_join(): {src}"));
                }
                srcs.push(src);
            }
            if !valid_label_name(&dst) {
                return exec_err(format!("invalid destination label name in label_join(): {dst}"));
            }
            let out: Vector = v
                .into_iter()
                .map(|(l, val)| {
                    let joined = srcs.iter().map(|s| l.get(s).unwrap_or("")).collect::<Vec<_>>().join(&sep);
                    (set(&l, &dst, &joined), val)
                })
                .collect();
            check_unique(&out)?;
            Ok(Value::Vector(out))
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(0)?, t)?;
            histogram_quantile(q, ev.eval_vector(arg(1)?, t)?)
        }
        "minute" | "hour" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "month" | "year" => {
            let v = match args.first() {
                Some(e) => ev.eval_vector(e, t)?,
                None => vec![(Labels::default(), t as f64 / 1000.0)],
            };
            map_values(v, |f| date_part(name, f))
        }
        _ => exec_err(format!("function {name} is not supported")),
    }
}

/// Go's `fmt` `%f`: six decimals, `NaN`, `+Inf`, `-Inf`.
fn go_f(v: f64) -> String {
    match v {
        v if v.is_nan() => "NaN".into(),
        f64::INFINITY => "+Inf".into(),
        f64::NEG_INFINITY => "-Inf".into(),
        v => format!("{v:.6}"),
    }
}

fn map_values(v: Vector, f: impl Fn(f64) -> f64) -> Result<Value, EvalError> {
    let out: Vector = v.into_iter().map(|(l, x)| (drop_name(&l), f(x))).collect();
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

/// Prometheus `createLabelsForAbsentFunction`: the equality matchers' labels, a label
/// matched twice (or by a non-equality matcher after) removed.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match unwrap_parens(e) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut has: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        pairs.retain(|(k, _)| *k != m.name);
        if m.op == promql_parser::label::MatchOp::Equal && !has.contains(&m.name.as_str()) {
            pairs.push((m.name.clone(), m.value.clone()));
            has.push(&m.name);
        }
    }
    Labels::new(pairs)
}

/// `histogram_quantile` over classic buckets: series grouped by their labels without
/// `le` and the metric name; elements whose `le` does not parse are ignored.
fn histogram_quantile(q: f64, v: Vector) -> Result<Value, EvalError> {
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: HashMap<Labels, Vec<(f64, f64)>> = HashMap::new();
    for (l, count) in v {
        let Some(ub) = l.get("le").and_then(parse_go_float) else { continue };
        let key = drop_name(&remove(&l, &["le".to_string()]));
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push((ub, count));
    }
    let out: Vector = order
        .into_iter()
        .map(|l| {
            let mut b = groups.remove(&l).unwrap_or_default();
            let v = bucket_quantile(q, &mut b);
            (l, v)
        })
        .collect();
    Ok(Value::Vector(out))
}

/// Go `strconv.ParseFloat` for the values `le` takes (`+Inf`, `Inf`, `NaN`, decimals).
fn parse_go_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// A date part of `time.Unix(int64(f), 0).UTC()`.
fn date_part(name: &str, f: f64) -> f64 {
    if f.is_nan() || f.is_infinite() {
        // Go's int64 conversion of these is platform-defined; Prometheus returns NaN
        // for NaN input in newer versions.
        return f64::NAN;
    }
    let secs = f as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let v = match name {
        "minute" => (sod / 60) % 60,
        "hour" => sod / 3600,
        "day_of_month" => i64::from(d),
        "day_of_week" => (days + 4).rem_euclid(7),
        "day_of_year" => (1..m).map(|mm| i64::from(days_in(y, mm))).sum::<i64>() + i64::from(d),
        "days_in_month" => i64::from(days_in(y, m)),
        "month" => i64::from(m),
        _ => y,
    };
    v as f64
}
