//! Recording rule evaluation (`rules/recording.go`): the result renamed and labelled.

use lookout_tsdb::Labels;
use lookout_tsdb::promql::Value;

use crate::EvalError;
use crate::file::RecordingRule;
use crate::group::EvalContext;

/// A query result as rules see it: a vector, a scalar as one series without labels,
/// anything else an error (Prometheus's `EngineQueryFunc`).
pub(crate) fn query_vector(
    ctx: &EvalContext,
    expr: &promql_parser::parser::Expr,
    text: &str,
    t_ms: i64,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    match ctx.datasource.query(expr, text, t_ms)? {
        Value::Vector(v) => Ok(v),
        Value::Scalar(f) => Ok(vec![(Labels::default(), f)]),
        _ => Err(EvalError::NotVectorOrScalar),
    }
}

/// Evaluates at `query_t_ms`; the samples to append.
pub(crate) fn eval(
    rule: &RecordingRule,
    ctx: &EvalContext,
    query_t_ms: i64,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    let result = query_vector(ctx, &rule.expr, &rule.expr_text, query_t_ms)?;
    let mut out: Vec<(Labels, f64)> = result
        .into_iter()
        .map(|(l, v)| {
            let pairs = l.pairs().iter().cloned().chain([("__name__".to_string(), rule.name.clone())]);
            (Labels::new(pairs.chain(rule.labels.iter().cloned())), v)
        })
        .collect();
    let mut seen: Vec<&Labels> = out.iter().map(|(l, _)| l).collect();
    seen.sort();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(EvalError::DuplicateLabelset("rule"));
    }
    if limit > 0 && out.len() > limit {
        return Err(EvalError::Limit { limit, count: out.len(), what: "series" });
    }
    out.shrink_to_fit();
    Ok(out)
}
