//! Range queries: the expression at every step `start, start + step, … ≤ end`, as
//! Prometheus evaluates a `query_range`, one series per label set, sorted by labels.
//!
//! A step is an instant evaluation (so `offset`, `@`, lookback, staleness and
//! subqueries mean what they mean in an instant query; `@ start()`/`@ end()` are the
//! range's ends). What would make that slow is re-reading the store at every step, so
//! the evaluator reads through a [`StepCache`]: the first read of a selector fetches its
//! series for the whole span the query will walk, later steps slice that copy. The
//! copy is the query's working set, counted against [`RangeQuery::max_samples`] with
//! the points of the result, as Prometheus's `--query.max-samples` bounds a query.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Instant;

use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;

use super::eval::Evaluator;
use super::{EvalError, EvalOptions, Queryable, Value, check, exec_err};
use crate::{Labels, Matcher, Sample, SeriesData};

/// Prometheus's default `--query.max-samples`.
pub const DEFAULT_MAX_SAMPLES: usize = 50_000_000;

/// What one instant query may spend.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Past this instant the query stops with [`EvalError::Timeout`].
    pub deadline: Option<Instant>,
    /// Most samples read from the store before the query stops with
    /// [`EvalError::TooManySamples`].
    pub max_samples: usize,
}

impl Default for QueryLimits {
    /// No deadline, Prometheus's default sample limit.
    fn default() -> Self {
        QueryLimits { deadline: None, max_samples: DEFAULT_MAX_SAMPLES }
    }
}

/// The steps of a range query and its limits.
#[derive(Debug, Clone, Copy)]
pub struct RangeQuery {
    /// The first step, Unix ms.
    pub start_ms: i64,
    /// No step after this, Unix ms.
    pub end_ms: i64,
    /// Between steps, ms (positive).
    pub step_ms: i64,
    /// Past this instant the query stops with [`EvalError::Timeout`].
    pub deadline: Option<Instant>,
    /// Most samples held at once (read from the store plus result points) before the
    /// query stops with [`EvalError::TooManySamples`].
    pub max_samples: usize,
}

impl RangeQuery {
    /// Steps from `start_ms` to `end_ms` every `step_ms`, no deadline, Prometheus's
    /// default sample limit.
    pub fn new(start_ms: i64, end_ms: i64, step_ms: i64) -> RangeQuery {
        RangeQuery { start_ms, end_ms, step_ms, deadline: None, max_samples: DEFAULT_MAX_SAMPLES }
    }
}

impl EvalOptions {
    /// [`check`]s and evaluates `expr` at every step of `r`: one series per label set
    /// with a sample per step it had a value at, sorted by labels. A scalar expression
    /// gives one series without labels.
    pub fn range_query_expr(
        &self,
        q: &(impl Queryable + ?Sized),
        expr: &Expr,
        r: &RangeQuery,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, EvalError> {
        check(expr)?;
        match expr.value_type() {
            ValueType::Vector | ValueType::Scalar => {}
            ValueType::Matrix => return Err(EvalError::RangeQueryType("range vector")),
            ValueType::String => return Err(EvalError::RangeQueryType("string")),
        }
        if r.step_ms <= 0 {
            return exec_err("zero or negative query resolution step widths are not accepted");
        }
        if r.end_ms < r.start_ms {
            return exec_err("end timestamp must not be before start time");
        }
        let cache = StepCache::new(q, r.end_ms - r.start_ms);
        let ev = Evaluator {
            q: &cache,
            opts: *self,
            at_start: r.start_ms,
            at_end: r.end_ms,
            deadline: r.deadline,
            max_samples: r.max_samples,
        };
        let mut out: Vec<(Labels, Vec<Sample>)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut points = 0usize;
        let mut push = |labels: Labels, s: Sample| {
            let i = *index.entry(labels).or_insert_with_key(|l| {
                out.push((l.clone(), Vec::new()));
                out.len() - 1
            });
            out[i].1.push(s);
        };
        let mut t = r.start_ms;
        while t <= r.end_ms {
            ev.check_deadline()?;
            match ev.eval(expr, t)? {
                Value::Scalar(v) => {
                    push(Labels::default(), Sample { t, v });
                    points += 1;
                }
                Value::Vector(v) => {
                    points += v.len();
                    for (labels, v) in v {
                        push(labels, Sample { t, v });
                    }
                }
                other => return exec_err(format!("range query step gave a {}", other.type_name())),
            }
            if points.saturating_add(cache.loaded.get()) > r.max_samples {
                return Err(EvalError::TooManySamples);
            }
            t = match t.checked_add(r.step_ms) {
                Some(next) => next,
                None => break,
            };
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// The longest subquery range in `expr` (ms; nested ones added), 0 without subqueries:
/// how far an instant evaluation walks forward from its first read.
pub(crate) fn subquery_span_ms(expr: &Expr) -> i64 {
    match expr {
        Expr::Subquery(sq) => subquery_span_ms(&sq.expr).saturating_add(super::eval::dur_ms(&sq.range)),
        Expr::Paren(p) => subquery_span_ms(&p.expr),
        Expr::Unary(u) => subquery_span_ms(&u.expr),
        Expr::Binary(b) => subquery_span_ms(&b.lhs).max(subquery_span_ms(&b.rhs)),
        Expr::Aggregate(a) => subquery_span_ms(&a.expr).max(a.param.as_deref().map_or(0, subquery_span_ms)),
        Expr::Call(c) => c.args.args.iter().map(|a| subquery_span_ms(a)).max().unwrap_or(0),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => 0,
    }
}

/// A [`Queryable`] that counts the samples it hands out, for the sample limit of a
/// query that reads each selector once (an instant query without subqueries).
pub(crate) struct Counted<'a, Q: Queryable + ?Sized> {
    inner: &'a Q,
    loaded: Cell<usize>,
}

impl<'a, Q: Queryable + ?Sized> Counted<'a, Q> {
    pub(crate) fn new(inner: &'a Q) -> Self {
        Counted { inner, loaded: Cell::new(0) }
    }
}

impl<Q: Queryable + ?Sized> Queryable for Counted<'_, Q> {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData> {
        let out = self.inner.select(matchers, mint, maxt);
        let n: usize = out.iter().map(|s| s.samples.len()).sum();
        self.loaded.set(self.loaded.get().saturating_add(n));
        out
    }

    fn for_each_series(&self, matchers: &[Matcher], mint: i64, maxt: i64, visit: &mut dyn FnMut(&Labels, &[Sample])) {
        let mut n = 0usize;
        self.inner.for_each_series(matchers, mint, maxt, &mut |l, s| {
            n += s.len();
            visit(l, s);
        });
        self.loaded.set(self.loaded.get().saturating_add(n));
    }

    fn samples_loaded(&self) -> usize {
        self.loaded.get()
    }
}

/// One selector's series as read from the store, for `[mint, maxt]`.
struct Entry {
    mint: i64,
    maxt: i64,
    series: Vec<SeriesData>,
}

/// A [`Queryable`] over another that reads each selector once per query: a first
/// request for `[mint, maxt]` fetches `[mint, maxt + ahead]` (the steps still to come
/// move the window forward by at most the query's span); a request outside what was
/// fetched fetches the union again.
pub(crate) struct StepCache<'a, Q: Queryable + ?Sized> {
    inner: &'a Q,
    ahead_ms: i64,
    entries: RefCell<HashMap<String, Entry>>,
    /// Samples held in `entries`.
    loaded: Cell<usize>,
}

impl<'a, Q: Queryable + ?Sized> StepCache<'a, Q> {
    pub(crate) fn new(inner: &'a Q, ahead_ms: i64) -> Self {
        StepCache { inner, ahead_ms, entries: RefCell::default(), loaded: Cell::new(0) }
    }
}

/// The cache key of a matcher list (the same selector always lists them alike).
fn key(matchers: &[Matcher]) -> String {
    let mut k = String::new();
    for m in matchers {
        k.push_str(&m.name);
        k.push('\u{0}');
        k.push_str(match m.op {
            crate::MatchOp::Equal => "=",
            crate::MatchOp::NotEqual => "!=",
            crate::MatchOp::Regex => "=~",
            crate::MatchOp::NotRegex => "!~",
        });
        k.push('\u{0}');
        k.push_str(&m.value);
        k.push('\u{1}');
    }
    k
}

impl<Q: Queryable + ?Sized> Queryable for StepCache<'_, Q> {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData> {
        let k = key(matchers);
        let mut entries = self.entries.borrow_mut();
        let covered = entries.get(&k).is_some_and(|e| e.mint <= mint && maxt <= e.maxt);
        if !covered {
            let (lo, hi) = match entries.get(&k) {
                Some(e) => (e.mint.min(mint), e.maxt.max(maxt.saturating_add(self.ahead_ms))),
                None => (mint, maxt.saturating_add(self.ahead_ms)),
            };
            let series = self.inner.select(matchers, lo, hi);
            let held: usize = series.iter().map(|s| s.samples.len()).sum();
            if let Some(old) = entries.insert(k.clone(), Entry { mint: lo, maxt: hi, series }) {
                let old_held: usize = old.series.iter().map(|s| s.samples.len()).sum();
                self.loaded.set(self.loaded.get() - old_held);
            }
            self.loaded.set(self.loaded.get() + held);
        }
        let e = &entries[&k];
        e.series
            .iter()
            .map(|s| SeriesData { labels: s.labels.clone(), samples: within(&s.samples, mint, maxt).to_vec() })
            .collect()
    }

    fn for_each_series(&self, matchers: &[Matcher], mint: i64, maxt: i64, visit: &mut dyn FnMut(&Labels, &[Sample])) {
        // Fills the cache as `select` does; the copy it returns is cheap to drop
        // compared with the reads it saves, and the cached slices are then lent out.
        let k = key(matchers);
        let covered = self.entries.borrow().get(&k).is_some_and(|e| e.mint <= mint && maxt <= e.maxt);
        if !covered {
            drop(self.select(matchers, mint, maxt));
        }
        let entries = self.entries.borrow();
        for s in &entries[&k].series {
            visit(&s.labels, within(&s.samples, mint, maxt));
        }
    }

    fn samples_loaded(&self) -> usize {
        self.loaded.get()
    }
}

/// The samples of `samples` (in time order) within `[mint, maxt]`.
fn within(samples: &[Sample], mint: i64, maxt: i64) -> &[Sample] {
    let from = samples.partition_point(|x| x.t < mint);
    let to = samples.partition_point(|x| x.t <= maxt);
    &samples[from..to.max(from)]
}

#[cfg(test)]
mod tests {
    use super::super::tests::{add, store};
    use super::*;
    use crate::stale_nan;

    fn range(s: &crate::Store, q: &str, start: i64, end: i64, step: i64) -> Vec<(String, Vec<(i64, f64)>)> {
        let expr = super::super::parse(q).unwrap();
        let r = RangeQuery::new(start * 1000, end * 1000, step * 1000);
        EvalOptions::default()
            .range_query_expr(s, &expr, &r)
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .into_iter()
            .map(|(l, s)| (l.to_string(), s.into_iter().map(|x| (x.t / 1000, x.v)).collect()))
            .collect()
    }

    /// Every step of a range query equals the instant query at that time.
    #[test]
    fn steps_equal_instant_queries() {
        let s = store();
        for (job, k) in [("a", 1.0), ("b", 3.0)] {
            let samples: Vec<(i64, f64)> = (0..40).map(|i| (i * 15 + 7, k * (i * i) as f64)).collect();
            add(&s, "req_total", &[("job", job)], &samples);
        }
        add(&s, "gauge", &[("job", "a")], &[(10, 1.0), (70, 2.0), (130, 3.0)]);
        for q in [
            "rate(req_total[1m])",
            "sum by (job) (increase(req_total[2m]))",
            "gauge",
            "gauge offset 1m",
            "gauge @ 70",
            "req_total @ start()",
            "req_total @ end()",
            "max_over_time(gauge[1m:10s])",
            "time()",
            "holt_winters(req_total[3m], 0.3, 0.6)",
            "double_exponential_smoothing(req_total[3m], 0.3, 0.6)",
        ] {
            let got = range(&s, q, 60, 600, 30);
            let expr = super::super::parse(q).unwrap();
            for t in (60..=600).step_by(30) {
                let mut want: Vec<(String, f64)> = match EvalOptions::default().instant_query_expr(&s, &expr, t * 1000)
                {
                    Ok(Value::Vector(v)) => v.into_iter().map(|(l, v)| (l.to_string(), v)).collect(),
                    Ok(Value::Scalar(v)) => vec![("{}".to_string(), v)],
                    other => panic!("{q}: {other:?}"),
                };
                // `@ start()`/`@ end()` are the range's ends, not the step.
                if q.ends_with("start()") || q.ends_with("end()") {
                    let at = if q.ends_with("start()") { 60 } else { 600 };
                    let expr =
                        super::super::parse(&q.replace(if at == 60 { "start()" } else { "end()" }, &at.to_string()))
                            .unwrap();
                    want = match EvalOptions::default().instant_query_expr(&s, &expr, t * 1000) {
                        Ok(Value::Vector(v)) => v.into_iter().map(|(l, v)| (l.to_string(), v)).collect(),
                        other => panic!("{q}: {other:?}"),
                    };
                }
                want.sort_by(|a, b| a.0.cmp(&b.0));
                let mut at_t: Vec<(String, f64)> =
                    got.iter().filter_map(|(l, pts)| pts.iter().find(|p| p.0 == t).map(|p| (l.clone(), p.1))).collect();
                at_t.sort_by(|a, b| a.0.cmp(&b.0));
                assert_eq!(at_t, want, "{q} at {t}");
            }
        }
    }

    #[test]
    fn series_sorted_by_labels_and_gaps_kept() {
        let s = store();
        add(&s, "up", &[("job", "b")], &[(0, 1.0), (100, 1.0)]);
        add(&s, "up", &[("job", "a")], &[(0, 0.0)]);
        // A staleness marker ends `job="b"` at 400 before the lookback would.
        add(&s, "up", &[("job", "b")], &[(400, stale_nan())]);
        let got = range(&s, "up", 0, 600, 100);
        assert_eq!(
            got,
            vec![
                ("up{job=\"a\"}".to_string(), vec![(0, 0.0), (100, 0.0), (200, 0.0)]),
                ("up{job=\"b\"}".to_string(), vec![(0, 1.0), (100, 1.0), (200, 1.0), (300, 1.0)]),
            ]
        );
        assert_eq!(range(&s, "2 * 3", 0, 20, 10), vec![("{}".to_string(), vec![(0, 6.0), (10, 6.0), (20, 6.0)])]);
    }

    #[test]
    fn wrong_types_limits_and_deadline() {
        let s = store();
        add(&s, "up", &[("job", "a")], &[(0, 1.0), (10, 1.0)]);
        let opts = EvalOptions::default();
        let expr = super::super::parse("up[1m]").unwrap();
        let err = opts.range_query_expr(&s, &expr, &RangeQuery::new(0, 1000, 1000)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
        );
        let expr = super::super::parse("\"x\"").unwrap();
        assert!(matches!(
            opts.range_query_expr(&s, &expr, &RangeQuery::new(0, 1, 1)),
            Err(EvalError::RangeQueryType("string"))
        ));
        let expr = super::super::parse("up").unwrap();
        let r = RangeQuery { max_samples: 5, ..RangeQuery::new(0, 60_000, 1000) };
        assert_eq!(opts.range_query_expr(&s, &expr, &r), Err(EvalError::TooManySamples));
        let r = RangeQuery { deadline: Some(Instant::now()), ..RangeQuery::new(0, 60_000, 1000) };
        assert_eq!(opts.range_query_expr(&s, &expr, &r), Err(EvalError::Timeout));
    }

    #[test]
    fn instant_sample_limit() {
        let s = store();
        add(&s, "up", &[("job", "a")], &(0..30).map(|i| (i * 10, 1.0)).collect::<Vec<_>>());
        let opts = EvalOptions::default();
        let limits = |max_samples| QueryLimits { max_samples, ..QueryLimits::default() };
        for q in ["count_over_time(up[5m])", "max_over_time(up[5m:10s])"] {
            let expr = super::super::parse(q).unwrap();
            assert_eq!(
                opts.instant_query_limited(&s, &expr, 290_000, &limits(10)),
                Err(EvalError::TooManySamples),
                "{q}"
            );
            assert!(opts.instant_query_limited(&s, &expr, 290_000, &limits(100)).is_ok(), "{q}");
        }
        let expr = super::super::parse("up").unwrap();
        let past = QueryLimits { deadline: Some(Instant::now()), ..QueryLimits::default() };
        assert_eq!(opts.instant_query_limited(&s, &expr, 290_000, &past), Err(EvalError::Timeout));
    }

    /// The store is read once per selector, not once per step.
    #[test]
    fn one_read_per_selector() {
        struct Counting<'a>(&'a crate::Store, Cell<usize>);
        impl Queryable for Counting<'_> {
            fn select(&self, m: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData> {
                self.1.set(self.1.get() + 1);
                self.0.select(m, mint, maxt)
            }
        }
        let s = store();
        add(&s, "x", &[], &(0..100).map(|i| (i * 10, i as f64)).collect::<Vec<_>>());
        add(&s, "y", &[], &(0..100).map(|i| (i * 10, 2.0)).collect::<Vec<_>>());
        let q = Counting(&s, Cell::new(0));
        let expr = super::super::parse("rate(x[1m]) * on() y").unwrap();
        let out =
            EvalOptions::default().range_query_expr(&q, &expr, &RangeQuery::new(60_000, 990_000, 10_000)).unwrap();
        assert_eq!(out[0].1.len(), 94);
        assert_eq!(out[0].1[0].v, 0.2);
        assert_eq!(q.1.get(), 2, "one read per selector for 94 steps");
    }

    /// An instant query's subquery reads each selector once, not once per inner step,
    /// and answers as without the cache.
    #[test]
    fn instant_subquery_reads_once() {
        struct Counting<'a>(&'a crate::Store, Cell<usize>);
        impl Queryable for Counting<'_> {
            fn select(&self, m: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData> {
                self.1.set(self.1.get() + 1);
                self.0.select(m, mint, maxt)
            }
        }
        let s = store();
        add(&s, "x", &[], &(0..200).map(|i| (i * 10, (i * i) as f64)).collect::<Vec<_>>());
        let q = Counting(&s, Cell::new(0));
        let expr = super::super::parse("max_over_time(rate(x[1m])[20m:30s]) + (x - x)").unwrap();
        assert_eq!(subquery_span_ms(&expr), 1_200_000);
        let got = EvalOptions::default().instant_query_expr(&q, &expr, 1_990_000).unwrap();
        assert_eq!(q.1.get(), 1, "41 inner steps and two plain selectors of one series, one read");
        let want = EvalOptions::default().instant_query_expr(&s, &expr, 1_990_000).unwrap();
        assert_eq!(got, want);
        assert_eq!(subquery_span_ms(&super::super::parse("rate(x[5m])").unwrap()), 0);
        assert_eq!(
            subquery_span_ms(&super::super::parse("max_over_time(avg_over_time(x[1m:])[1h:5m])").unwrap()),
            3_660_000
        );
    }

    /// `cargo test -p lookout-tsdb --release -- --ignored range_bench --nocapture`: a
    /// 6-hour range at 15 s steps over 200 counters, through the step cache and by
    /// per-step instant queries (each re-reading the store), same answers.
    #[test]
    #[ignore]
    fn range_bench() {
        let s = store();
        let samples: Vec<(i64, f64)> = (0..1440).map(|i| (i * 15 + 3, (i * 7) as f64)).collect();
        for i in 0..200 {
            add(
                &s,
                "req_total",
                &[("pod", &format!("p{i}")), ("code", if i % 4 == 0 { "500" } else { "200" })],
                &samples,
            );
        }
        let q = "sum by (code) (rate(req_total[5m]))";
        let expr = super::super::parse(q).unwrap();
        let (start, end, step) = (300_000, 21_600_000, 15_000);
        let t0 = Instant::now();
        let cached = EvalOptions::default().range_query_expr(&s, &expr, &RangeQuery::new(start, end, step)).unwrap();
        let cached_time = t0.elapsed();
        let t0 = Instant::now();
        let mut per_step = 0;
        let mut t = start;
        while t <= end {
            if let Value::Vector(v) = EvalOptions::default().instant_query_expr(&s, &expr, t).unwrap() {
                per_step += v.len();
            }
            t += step;
        }
        let per_step_time = t0.elapsed();
        let points: usize = cached.iter().map(|(_, s)| s.len()).sum();
        assert_eq!(points, per_step);
        eprintln!(
            "{q}: 1421 steps x 200 series: step cache {cached_time:?}, per-step instant queries {per_step_time:?}"
        );
    }
}
