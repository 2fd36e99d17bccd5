//! Where rules read from and write to.
//!
//! Evaluation only needs "run this instant query" and "append this sample", so the
//! engine can point rules at the embedded store ([`LocalDatasource`]) or at a remote
//! Prometheus-compatible one, and tests can record what was appended.

use std::collections::BTreeMap;
use std::sync::Arc;

use lookout_template::QueryHook;

use lookout_tsdb::exemplars::SeriesExemplars;
use lookout_tsdb::promql::{EvalOptions, Value};
use lookout_tsdb::{Labels, Matcher, Store};
use promql_parser::parser::Expr;

use crate::EvalError;

/// Runs instant queries for rules.
pub trait Datasource: Send + Sync {
    /// Evaluates `expr` (whose text is `text`, for datasources that send text) at `t_ms`.
    fn query(&self, expr: &Expr, text: &str, t_ms: i64) -> Result<Value, EvalError>;

    /// The `query` function of alert templates, evaluating at `t_ms`; `None` (the
    /// default) makes templates that call `query` expand to an error.
    fn template_query(&self, t_ms: i64) -> Option<QueryHook> {
        let _ = t_ms;
        None
    }

    /// Exemplars in `[mint, maxt]` of the series any of `selectors` selects (evidence
    /// for alerts); none by default.
    fn exemplars(&self, selectors: &[Vec<Matcher>], mint: i64, maxt: i64) -> Vec<SeriesExemplars> {
        let _ = (selectors, mint, maxt);
        Vec::new()
    }
}

/// Receives rule output: recorded series, `ALERTS`/`ALERTS_FOR_STATE`, staleness markers.
pub trait Appender: Send + Sync {
    /// Appends one sample; failures (out of order, series limit) are the appender's to
    /// count, as Prometheus only logs them.
    fn append(&self, labels: &Labels, t_ms: i64, v: f64);
}

/// Queries the embedded store with the PromQL evaluator.
pub struct LocalDatasource {
    /// The store.
    pub store: Arc<Store>,
    /// Lookback delta and default subquery step.
    pub opts: EvalOptions,
}

impl LocalDatasource {
    /// Over `store` with the default options.
    pub fn new(store: Arc<Store>) -> LocalDatasource {
        LocalDatasource { store, opts: EvalOptions::default() }
    }
}

impl Datasource for LocalDatasource {
    fn query(&self, expr: &Expr, _text: &str, t_ms: i64) -> Result<Value, EvalError> {
        self.opts.instant_query_expr(&*self.store, expr, t_ms).map_err(|e| EvalError::Query(e.to_string()))
    }

    fn template_query(&self, t_ms: i64) -> Option<QueryHook> {
        let (store, opts) = (self.store.clone(), self.opts);
        Some(Arc::new(move |q: &str| {
            let v = opts.instant_query(&*store, q, t_ms).map_err(|e| e.to_string())?;
            template_samples(v).map_err(|e| e.to_string().into())
        }))
    }

    fn exemplars(&self, selectors: &[Vec<Matcher>], mint: i64, maxt: i64) -> Vec<SeriesExemplars> {
        self.store.exemplars().select(selectors, mint, maxt)
    }
}

/// One sample of a template `query` result: its labels and value.
pub type TemplateSample = (BTreeMap<String, String>, f64);

/// A query result as the template `query` function returns it (a scalar as one
/// sample without labels, as Prometheus's rule query function does).
pub fn template_samples(v: Value) -> Result<Vec<TemplateSample>, EvalError> {
    match v {
        Value::Vector(v) => Ok(v.into_iter().map(|(l, f)| (l.pairs().iter().cloned().collect(), f)).collect()),
        Value::Scalar(f) => Ok(vec![(BTreeMap::new(), f)]),
        _ => Err(EvalError::NotVectorOrScalar),
    }
}

impl Appender for Store {
    fn append(&self, labels: &Labels, t_ms: i64, v: f64) {
        // The store counts refused samples itself; Prometheus drops them with a log line.
        let _ = Store::append(self, labels, t_ms, v);
    }
}
