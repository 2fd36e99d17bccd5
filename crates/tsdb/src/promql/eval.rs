//! The evaluator core: instant and range vector selectors (lookback delta, staleness,
//! `offset`, `@`), subqueries, unary minus, and dispatch to the operator, aggregation
//! and function modules.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};

use super::labels_ops::{METRIC_NAME, check_unique, drop_name};
use super::{EvalError, EvalOptions, Queryable, Value, exec_err};
use crate::{Labels, MatchOp, Matcher, Sample, is_stale};

pub(crate) struct Evaluator<'a, Q: Queryable + ?Sized> {
    pub(crate) q: &'a Q,
    pub(crate) opts: EvalOptions,
    /// What `@ start()` resolves to: the instant query's time, a range query's start.
    pub(crate) at_start: i64,
    /// What `@ end()` resolves to: the instant query's time, a range query's end.
    pub(crate) at_end: i64,
    /// Past this instant, evaluation stops with [`EvalError::Timeout`] (checked at each
    /// step of a subquery or range query, where long evaluations spend their time).
    pub(crate) deadline: Option<Instant>,
    /// Past this many samples read ([`Queryable::samples_loaded`]), evaluation stops
    /// with [`EvalError::TooManySamples`].
    pub(crate) max_samples: usize,
}

pub(crate) fn dur_ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => dur_ms(d),
        Some(Offset::Neg(d)) => -dur_ms(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

impl<Q: Queryable + ?Sized> Evaluator<'_, Q> {
    /// [`EvalError::TooManySamples`] once the source has handed out more than the limit.
    fn check_samples(&self) -> Result<(), EvalError> {
        if self.q.samples_loaded() > self.max_samples {
            return Err(EvalError::TooManySamples);
        }
        Ok(())
    }

    /// [`EvalError::Timeout`] once the deadline has passed.
    pub(crate) fn check_deadline(&self) -> Result<(), EvalError> {
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(EvalError::Timeout),
            _ => Ok(()),
        }
    }

    /// The reference time of a selector or subquery evaluated at `t`: `@` replaces the
    /// evaluation time, then `offset` moves it back.
    fn ref_time(&self, t: i64, at: &Option<AtModifier>, offset: &Option<Offset>) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.at_start,
            Some(AtModifier::End) => self.at_end,
            Some(AtModifier::At(st)) => system_time_ms(st),
        };
        base - offset_ms(offset)
    }

    /// The reference time of an instant vector selector evaluated at `t`.
    pub(crate) fn selector_time(&self, t: i64, vs: &VectorSelector) -> i64 {
        self.ref_time(t, &vs.at, &vs.offset)
    }

    /// The `[start, end]` (ms) a range function sees for a selector/subquery at `t`:
    /// Prometheus's `rangeStart`/`rangeEnd`.
    pub(crate) fn range_bounds(&self, t: i64, e: &Expr) -> Option<(i64, i64)> {
        match unwrap_parens(e) {
            Expr::MatrixSelector(ms) => {
                let end = self.ref_time(t, &ms.vs.at, &ms.vs.offset);
                Some((end - dur_ms(&ms.range), end))
            }
            Expr::Subquery(sq) => {
                let end = self.ref_time(t, &sq.at, &sq.offset);
                Some((end - dur_ms(&sq.range), end))
            }
            _ => None,
        }
    }

    pub(crate) fn eval(&self, e: &Expr, t: i64) -> Result<Value, EvalError> {
        match e {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(v) => {
                    let out: Vec<(Labels, f64)> = v.into_iter().map(|(l, v)| (drop_name(&l), -v)).collect();
                    check_unique(&out)?;
                    Ok(Value::Vector(out))
                }
                other => exec_err(format!("unary minus on {}", other.type_name())),
            },
            Expr::VectorSelector(vs) => {
                let rt = self.selector_time(t, vs);
                Ok(Value::Vector(self.select_instant(vs, rt)?.into_iter().map(|(l, v, _)| (l, v)).collect()))
            }
            Expr::MatrixSelector(ms) => {
                let end = self.ref_time(t, &ms.vs.at, &ms.vs.offset);
                Ok(Value::Matrix(self.select_range(&ms.vs, end - dur_ms(&ms.range), end)?))
            }
            Expr::Subquery(sq) => Ok(Value::Matrix(self.subquery(sq, t)?)),
            Expr::Binary(b) => super::binary::eval(self, b, t),
            Expr::Aggregate(a) => super::aggregate::eval(self, a, t),
            Expr::Call(c) => super::functions::call(self, c, t),
            Expr::Extension(_) => exec_err("extension expressions are not supported"),
        }
    }

    pub(crate) fn eval_vector(&self, e: &Expr, t: i64) -> Result<Vec<(Labels, f64)>, EvalError> {
        match self.eval(e, t)? {
            Value::Vector(v) => Ok(v),
            other => exec_err(format!("expected instant vector, got {}", other.type_name())),
        }
    }

    pub(crate) fn eval_scalar(&self, e: &Expr, t: i64) -> Result<f64, EvalError> {
        match self.eval(e, t)? {
            Value::Scalar(v) => Ok(v),
            other => exec_err(format!("expected scalar, got {}", other.type_name())),
        }
    }

    pub(crate) fn eval_string(&self, e: &Expr, t: i64) -> Result<String, EvalError> {
        match self.eval(e, t)? {
            Value::String(s) => Ok(s),
            other => exec_err(format!("expected string, got {}", other.type_name())),
        }
    }

    pub(crate) fn eval_matrix(&self, e: &Expr, t: i64) -> Result<Vec<(Labels, Vec<Sample>)>, EvalError> {
        match self.eval(e, t)? {
            Value::Matrix(m) => Ok(m),
            other => exec_err(format!("expected range vector, got {}", other.type_name())),
        }
    }

    /// The first timestamp a window starting at `start` includes: windows are left-open
    /// in Prometheus 3, closed (`[start, end]`) in Prometheus 2.
    fn first_in_window(&self, start: i64) -> i64 {
        if self.opts.closed_windows { start } else { start + 1 }
    }

    /// Per series, the latest sample in `(rt - lookback, rt]` unless it is a staleness
    /// marker: `(labels, value, sample time)`.
    pub(crate) fn select_instant(&self, vs: &VectorSelector, rt: i64) -> Result<Vec<(Labels, f64, i64)>, EvalError> {
        let matchers = matchers(vs)?;
        let first = self.first_in_window(rt - self.opts.lookback_delta_ms);
        let mut out = Vec::new();
        self.q.for_each_series(&matchers, first, rt, &mut |labels, samples| {
            if let Some(last) = samples.iter().rev().find(|x| x.t <= rt && x.t >= first)
                && !is_stale(last.v)
            {
                out.push((labels.clone(), last.v, last.t));
            }
        });
        self.check_samples()?;
        Ok(out)
    }

    /// [`Evaluator::select_range`] without copying: `visit` gets each series with
    /// samples in `(start, end]`, its labels and those samples (staleness markers
    /// left out), in label order.
    pub(crate) fn for_each_range(
        &self,
        vs: &VectorSelector,
        start: i64,
        end: i64,
        visit: &mut dyn FnMut(&Labels, &[Sample]),
    ) -> Result<(), EvalError> {
        let matchers = matchers(vs)?;
        let first = self.first_in_window(start);
        let mut fresh: Vec<Sample> = Vec::new();
        self.q.for_each_series(&matchers, first, end, &mut |labels, samples| {
            let from = samples.partition_point(|x| x.t < first);
            let to = samples.partition_point(|x| x.t <= end).max(from);
            let samples = &samples[from..to];
            if samples.iter().any(|x| is_stale(x.v)) {
                fresh.clear();
                fresh.extend(samples.iter().filter(|x| !is_stale(x.v)));
                if !fresh.is_empty() {
                    visit(labels, &fresh);
                }
            } else if !samples.is_empty() {
                visit(labels, samples);
            }
        });
        self.check_samples()
    }

    /// Per series with samples, its non-stale samples in `(start, end]`.
    pub(crate) fn select_range(
        &self,
        vs: &VectorSelector,
        start: i64,
        end: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, EvalError> {
        let matchers = matchers(vs)?;
        let first = self.first_in_window(start);
        let series = self.q.select(&matchers, first, end);
        self.check_samples()?;
        Ok(series
            .into_iter()
            .filter_map(|s| {
                let samples: Vec<Sample> =
                    s.samples.into_iter().filter(|x| x.t >= first && x.t <= end && !is_stale(x.v)).collect();
                (!samples.is_empty()).then_some((s.labels, samples))
            })
            .collect())
    }

    /// A subquery: the inner expression at each step in `(end - range, end]`, steps
    /// aligned to multiples of the step as Prometheus aligns them.
    fn subquery(&self, sq: &SubqueryExpr, t: i64) -> Result<Vec<(Labels, Vec<Sample>)>, EvalError> {
        let step = sq.step.as_ref().map(dur_ms).unwrap_or(self.opts.default_subquery_step_ms);
        if step <= 0 {
            return exec_err("subquery step must be positive");
        }
        let end = self.ref_time(t, &sq.at, &sq.offset);
        let range_start = end - dur_ms(&sq.range);
        // Go's integer division truncates towards zero, as Rust's does.
        let mut start = step * (range_start / step);
        if start < self.first_in_window(range_start) {
            start += step;
        }
        let mut order: Vec<Labels> = Vec::new();
        let mut by_labels: HashMap<Labels, Vec<Sample>> = HashMap::new();
        let mut ts = start;
        while ts <= end {
            self.check_deadline()?;
            let v = match self.eval(&sq.expr, ts)? {
                Value::Vector(v) => v,
                Value::Scalar(s) => vec![(Labels::default(), s)],
                other => return exec_err(format!("subquery of {}", other.type_name())),
            };
            for (l, val) in v {
                let entry = by_labels.entry(l.clone()).or_insert_with(|| {
                    order.push(l);
                    Vec::new()
                });
                entry.push(Sample { t: ts, v: val });
            }
            ts += step;
        }
        Ok(order
            .into_iter()
            .map(|l| {
                let s = by_labels.remove(&l).unwrap_or_default();
                (l, s)
            })
            .collect())
    }
}

/// The selector's matchers, the metric name included.
pub(crate) fn matchers(vs: &VectorSelector) -> Result<Vec<Matcher>, EvalError> {
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        // The parser has already rewritten Go-only syntax (a literal `{`) in its
        // `^(?:…)$` regex; reuse that pattern.
        let parsed_pattern = |r: &regex::Regex| {
            let s = r.as_str();
            s.strip_prefix("^(?:").and_then(|s| s.strip_suffix(")$")).unwrap_or(&m.value).to_string()
        };
        let (op, value) = match &m.op {
            PMatchOp::Equal => (MatchOp::Equal, m.value.clone()),
            PMatchOp::NotEqual => (MatchOp::NotEqual, m.value.clone()),
            PMatchOp::Re(r) => (MatchOp::Regex, parsed_pattern(r)),
            PMatchOp::NotRe(r) => (MatchOp::NotRegex, parsed_pattern(r)),
        };
        let m = Matcher::new(m.name.clone(), op, value)
            .map_err(|e| EvalError::Exec(format!("invalid regular expression {:?}: {e}", m.value)))?;
        out.push(m);
    }
    Ok(out)
}

pub(crate) fn unwrap_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        other => other,
    }
}
