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
//! experimental functions (`double_exponential_smoothing`, `mad_over_time`,
//! `first_over_time`, `ts_of_*`, `limitk`, `limit_ratio`), binary `fill` modifiers and
//! `or` inside label matchers (parser extensions Prometheus lacks).
//!
//! Files: `eval` (selectors, lookback, offset/@, subqueries, dispatch), `binary`
//! (arithmetic, comparison, set operators, vector matching), `aggregate`
//! (sum … count_values), `functions` (instant-vector functions), `range_fns`
//! (rate/increase/… and `*_over_time`), `stats` (Kahan summation, quantiles, classic
//! histogram bucket quantile), `check` (the supported subset), `labels_ops` (label set
//! helpers and signatures).

mod aggregate;
mod binary;
mod check;
mod eval;
mod functions;
mod labels_ops;
mod range_fns;
mod stats;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;

use promql_parser::parser::Expr;

pub use check::{Unsupported, check};

use crate::{Labels, Matcher, Sample, SeriesData, Store};

/// Something series can be selected from.
pub trait Queryable {
    /// Series matching every matcher, with their samples in `[mint, maxt]` (ms).
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData>;
}

impl Queryable for Store {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData> {
        Store::select(self, matchers, mint, maxt)
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

/// Parses a PromQL expression. The parser panics on some inputs (a duration too large
/// for `std::time::Duration`, such as `up[1e33]`, found by fuzzing); such a panic is
/// turned into a parse error here so a rule file or a query can never bring the
/// process down.
pub fn parse(text: &str) -> Result<Expr, String> {
    match std::panic::catch_unwind(|| promql_parser::parser::parse(text)) {
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
        check(expr)?;
        let ev = eval::Evaluator { q, opts: *self, query_t: t_ms };
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
