//! A PromQL evaluator for instant queries (what rule evaluation runs), matching
//! Prometheus 3 semantics.
//!
//! Parsing is done by `promql-parser`; this module evaluates the resulting [`Expr`]
//! against a [`Queryable`] (the [`Store`]) at one evaluation time.
//!
//! - [`check`] refuses, at rule-load time, any construct this evaluator does not
//!   implement, naming it ([`Unsupported`]).
//! - [`instant_query`] / [`instant_query_expr`] evaluate at a time in Unix milliseconds
//!   with the default [`EvalOptions`] (5-minute lookback delta, 1-minute default
//!   subquery step); [`EvalOptions::instant_query`] takes explicit options.
//! - [`EvalOptions::instant_query_limited`] bounds an instant query by a deadline and
//!   a sample limit ([`QueryLimits`]), as the query API runs them.
//! - [`EvalOptions::range_query_expr`] evaluates at every step of a range
//!   ([`RangeQuery`]) as Prometheus's range queries do, selecting each series once for
//!   the whole range (`range`).
//! - [`parse`] also accepts `holt_winters`, Prometheus 2's name of
//!   `double_exponential_smoothing`.
//!
//! Semantics follow Prometheus 3 (no delayed name removal): lookback and range windows
//! are left-open (`(t - 5m, t]`, `(t - range, t]`; closed as in Prometheus 2 with
//! [`EvalOptions::closed_windows`]); a staleness marker as the latest
//! sample hides a series and markers are dropped from ranges; `@` (with `start()`/`end()`
//! = the evaluation time) replaces the evaluation time before `offset` applies;
//! functions and arithmetic drop `__name__` (not `last_over_time`, `sort*`, `label_*`,
//! comparisons without `bool`, set operators), and a result with two equal label sets
//! is an error as in Prometheus.
//!
//! Not implemented, so refused by [`check`]: native-histogram functions
//! (`histogram_count`, `histogram_sum`, …), `info`, `sort_by_label*`,
//! experimental functions (`mad_over_time`, `first_over_time`, `ts_of_*`, `limitk`,
//! `limit_ratio`), binary `fill` modifiers and `or` inside label matchers (parser
//! extensions Prometheus lacks).
//!
//! Files: `eval` (selectors, lookback, offset/@, subqueries, dispatch), `binary`
//! (arithmetic, comparison, set operators, vector matching), `aggregate`
//! (sum … count_values), `functions` (instant-vector functions), `range_fns`
//! (rate/increase/… and `*_over_time`), `stats` (Kahan summation, quantiles, classic
//! histogram bucket quantile), `check` (the supported subset), `labels_ops` (label set
//! helpers and signatures), `range` (range queries and the per-query sample cache).

mod aggregate;
mod binary;
mod check;
mod eval;
mod functions;
mod labels_ops;
mod range;
mod range_fns;
mod stats;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;
mod text;

use promql_parser::parser::Expr;

pub use check::{Unsupported, check};
pub use range::{DEFAULT_MAX_SAMPLES, QueryLimits, RangeQuery};

use crate::{Labels, Matcher, Sample, SeriesData, Store};

/// Something series can be selected from.
pub trait Queryable {
    /// Series matching every matcher, with their samples in `[mint, maxt]` (ms).
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData>;

    /// What [`Queryable::select`] returns, handed to `visit` one series at a time in
    /// label order, so a source that can decode each series into a reused buffer need
    /// not copy labels and samples out. `visit` must not use the source. The default
    /// calls `select`; wrappers forward it.
    fn for_each_series(&self, matchers: &[Matcher], mint: i64, maxt: i64, visit: &mut dyn FnMut(&Labels, &[Sample])) {
        for s in self.select(matchers, mint, maxt) {
            visit(&s.labels, &s.samples);
        }
    }

    /// Samples handed out so far that count against a query's sample limit (0 when
    /// this source does not count: the limit is then not enforced).
    fn samples_loaded(&self) -> usize {
        0
    }
}

impl Queryable for Store {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData> {
        Store::select(self, matchers, mint, maxt)
    }

    fn for_each_series(&self, matchers: &[Matcher], mint: i64, maxt: i64, visit: &mut dyn FnMut(&Labels, &[Sample])) {
        Store::for_each_series(self, matchers, mint, maxt, visit);
    }
}

/// A query result.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar.
    Scalar(f64),
    /// A string.
    String(String),
    /// An instant vector: one value per series.
    Vector(Vec<(Labels, f64)>),
    /// A range vector: samples per series.
    Matrix(Vec<(Labels, Vec<Sample>)>),
}

impl Value {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The expression does not parse.
    #[error("parse error: {0}")]
    Parse(String),
    /// The expression uses something this evaluator does not implement.
    #[error(transparent)]
    Unsupported(#[from] Unsupported),
    /// An evaluation error, with Prometheus's message.
    #[error("{0}")]
    Exec(String),
    /// The query ran past its deadline (Prometheus's message).
    #[error("query timed out in expression evaluation")]
    Timeout,
    /// The query would hold more samples than its limit (Prometheus's message).
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// A range query of an expression that is neither a scalar nor an instant vector
    /// (Prometheus's message; the type is `range vector` or `string`).
    #[error("invalid expression type {0:?} for range query, must be Scalar or instant Vector")]
    RangeQueryType(&'static str),
}

pub(crate) fn exec_err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError::Exec(msg.into()))
}

/// Evaluation settings.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    /// How far back an instant vector selector looks for a sample (ms); Prometheus's
    /// default is 5 minutes.
    pub lookback_delta_ms: i64,
    /// The step of a subquery written without one (`x[1h:]`); Prometheus uses the
    /// global evaluation interval (default 1 minute).
    pub default_subquery_step_ms: i64,
    /// Prometheus 2 window semantics: lookback and range windows include their start
    /// (`[t - 5m, t]`), as promtool 2.x evaluates rule unit tests; Prometheus 3 (the
    /// default, `false`) excludes it. Only samples exactly on a window's start differ,
    /// which live data rarely has and unit tests on round timestamps always have.
    pub closed_windows: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { lookback_delta_ms: 5 * 60 * 1000, default_subquery_step_ms: 60 * 1000, closed_windows: false }
    }
}

impl EvalOptions {
    /// Prometheus 2.x semantics (closed windows), e.g. to agree with promtool 2.x.
    pub fn prometheus2() -> Self {
        EvalOptions { closed_windows: true, ..EvalOptions::default() }
    }
}

/// The store matchers of a vector selector, its metric name included (regexes as
/// Prometheus anchors them), e.g. for the query API's `match[]`.
pub fn selector_matchers(vs: &promql_parser::parser::VectorSelector) -> Result<Vec<Matcher>, EvalError> {
    eval::matchers(vs)
}

/// The deepest expression [`parse`] accepts, counted as [`text::nesting_bound`]
/// counts: parsing, evaluating and dropping an expression recurse once per level, so
/// an unbounded depth would let one query overflow the stack and abort the process.
/// Evaluate deep expressions on a thread with a large stack (the query API uses 64
/// MiB, enough for this depth in a debug build).
pub const MAX_NESTING: usize = 1000;

/// Parses a PromQL expression. The parser panics on some inputs (a duration too large
/// for `std::time::Duration`, such as `up[1e33]`, found by fuzzing); such a panic is
/// turned into a parse error here so a rule file or a query can never bring the
/// process down.
///
/// `holt_winters(…)`, Prometheus 2's name of `double_exponential_smoothing`, is read as
/// the latter (the parser only knows Prometheus 3's names), so rule files written for
/// either version load; the expression then prints with the new name. An expression
/// nested deeper than [`MAX_NESTING`] is refused.
pub fn parse(text: &str) -> Result<Expr, String> {
    let depth = text::nesting_bound(text);
    if depth > MAX_NESTING {
        return Err(format!(
            "invalid expression: nested too deeply ({depth} levels of parentheses and operators, at most {MAX_NESTING})"
        ));
    }
    let text = text::rename_holt_winters(text);
    match std::panic::catch_unwind(|| promql_parser::parser::parse(&text)) {
        Ok(result) => result,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("the parser failed");
            Err(format!("invalid expression: {why}"))
        }
    }
}

impl EvalOptions {
    /// Parses, [`check`]s and evaluates `expr` at `t_ms`.
    pub fn instant_query(&self, q: &(impl Queryable + ?Sized), expr: &str, t_ms: i64) -> Result<Value, EvalError> {
        let parsed = parse(expr).map_err(EvalError::Parse)?;
        self.instant_query_expr(q, &parsed, t_ms)
    }

    /// [`check`]s and evaluates a parsed expression at `t_ms`.
    pub fn instant_query_expr(
        &self,
        q: &(impl Queryable + ?Sized),
        expr: &Expr,
        t_ms: i64,
    ) -> Result<Value, EvalError> {
        self.instant_query_limited(q, expr, t_ms, &QueryLimits::default())
    }

    /// [`EvalOptions::instant_query_expr`] within `limits`: past its deadline the query
    /// stops with [`EvalError::Timeout`], past its sample limit (samples read from the
    /// store) with [`EvalError::TooManySamples`].
    pub fn instant_query_limited(
        &self,
        q: &(impl Queryable + ?Sized),
        expr: &Expr,
        t_ms: i64,
        limits: &QueryLimits,
    ) -> Result<Value, EvalError> {
        check(expr)?;
        let (deadline, max_samples) = (limits.deadline, limits.max_samples);
        // A subquery evaluates its inner expression at many times: read through the
        // step cache so each selector is read once, not once per inner step.
        let span = range::subquery_span_ms(expr);
        if span > 0 {
            let cache = range::StepCache::new(q, span);
            let ev = eval::Evaluator { q: &cache, opts: *self, at_start: t_ms, at_end: t_ms, deadline, max_samples };
            ev.check_deadline()?;
            return ev.eval(expr, t_ms);
        }
        let counted = range::Counted::new(q);
        let ev = eval::Evaluator { q: &counted, opts: *self, at_start: t_ms, at_end: t_ms, deadline, max_samples };
        ev.check_deadline()?;
        ev.eval(expr, t_ms)
    }
}

/// Parses, [`check`]s and evaluates `expr` at `t_ms` (Unix ms) with default options.
pub fn instant_query(q: &(impl Queryable + ?Sized), expr: &str, t_ms: i64) -> Result<Value, EvalError> {
    EvalOptions::default().instant_query(q, expr, t_ms)
}

/// [`instant_query`] for an already parsed expression.
pub fn instant_query_expr(q: &(impl Queryable + ?Sized), expr: &Expr, t_ms: i64) -> Result<Value, EvalError> {
    EvalOptions::default().instant_query_expr(q, expr, t_ms)
}
