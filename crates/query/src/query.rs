//! `/api/v1/query`, `/api/v1/query_range` and `/api/v1/format_query`: parameters
//! checked in Prometheus's order with its messages, evaluation off the async runtime
//! with a deadline, results in Prometheus's JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_tsdb::promql::{self, QueryLimits, RangeQuery, Value};
use lookout_tsdb::{Labels, Sample};

use crate::error::{ApiError, ApiResult, ErrorType, Success};
use crate::params::{Params, parse_duration};
use crate::{QueryApi, json};

/// The stack of a query's thread: address space reserved, touched only as deep as the
/// query goes; holds [`lookout_tsdb::promql::MAX_NESTING`] levels even in a debug build.
const QUERY_STACK_BYTES: usize = 64 << 20;

/// Prometheus's limit on points per series in a range query.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

impl QueryApi {
    /// The deadline from the `timeout` parameter, never later than the configured
    /// query timeout.
    fn deadline(&self, p: &Params) -> Result<Instant, ApiError> {
        let mut timeout = self.timeout;
        let v = p.get("timeout");
        if !v.is_empty() {
            let ms = parse_duration(v).map_err(|e| ApiError::invalid_param("timeout", e))?;
            timeout = timeout.min(Duration::from_millis(ms.max(0) as u64));
        }
        Ok(Instant::now() + timeout)
    }

    /// Runs `f` (parsing and evaluation) on a thread of its own with a large stack, at
    /// most `max_concurrency` at a time: parsing, evaluating and dropping an expression
    /// recurse once per nesting level, and a deep query from any viewer must not
    /// overflow a runtime thread's stack and abort the process. `promql::parse` bounds
    /// the depth ([`lookout_tsdb::promql::MAX_NESTING`]) to what this stack holds.
    pub(crate) async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&QueryApi) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .concurrency
            .acquire()
            .await
            .map_err(|_| ApiError::new(ErrorType::Unavailable, "the query engine is shutting down"))?;
        let api = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("lookout-query".into())
            .stack_size(QUERY_STACK_BYTES)
            .spawn(move || {
                let _ = tx.send(f(&api));
            })
            .map_err(|e| ApiError::new(ErrorType::Internal, format!("cannot start the query thread: {e}")))?;
        rx.await.map_err(|_| ApiError::new(ErrorType::Internal, "query evaluation failed"))?
    }

    /// `GET|POST /api/v1/query`.
    pub(crate) async fn query(self: Arc<Self>, p: Params) -> ApiResult {
        let t = p.time_or("time", now_ms())?;
        let deadline = self.deadline(&p)?;
        let value = self
            .blocking(move |api| {
                let expr = parse_query(p.get("query"))?;
                let limits = QueryLimits { deadline: Some(deadline), max_samples: api.max_samples };
                api.opts.instant_query_limited(&*api.store, &expr, t, &limits).map_err(ApiError::from_eval)
            })
            .await?;
        Ok(Success::new(instant_json(value, t)))
    }

    /// `GET|POST /api/v1/query_range`.
    pub(crate) async fn query_range(self: Arc<Self>, p: Params) -> ApiResult {
        let start = p.time("start")?;
        let end = p.time("end")?;
        if end < start {
            return Err(ApiError::invalid_param("end", "end timestamp must not be before start time"));
        }
        let step = parse_duration(p.get("step")).map_err(|e| ApiError::invalid_param("step", e))?;
        if step <= 0 {
            return Err(ApiError::invalid_param(
                "step",
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end - start) / step > MAX_POINTS_PER_SERIES {
            return Err(ApiError::bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let deadline = self.deadline(&p)?;
        let matrix = self
            .blocking(move |api| {
                let expr = parse_query(p.get("query"))?;
                let r = RangeQuery {
                    deadline: Some(deadline),
                    max_samples: api.max_samples,
                    ..RangeQuery::new(start, end, step)
                };
                api.opts.range_query_expr(&*api.store, &expr, &r).map_err(ApiError::from_eval)
            })
            .await?;
        let mut out = String::from("{\"resultType\":\"matrix\",\"result\":");
        matrix_json(&mut out, &matrix);
        out.push('}');
        Ok(Success::new(out))
    }

    /// `GET|POST /api/v1/format_query`: the expression pretty-printed.
    pub(crate) async fn format_query(self: Arc<Self>, p: Params) -> ApiResult {
        let pretty = self.blocking(move |_| Ok(parse_query(p.get("query"))?.prettify())).await?;
        let mut out = String::new();
        json::string(&mut out, &pretty);
        Ok(Success::new(out))
    }
}

/// Parses the `query` parameter; errors are `bad_data` on it.
fn parse_query(q: &str) -> Result<promql_parser::parser::Expr, ApiError> {
    if q.trim().is_empty() {
        return Err(ApiError::invalid_param("query", "1:1: parse error: no expression found in input"));
    }
    promql::parse(q).map_err(|e| ApiError::invalid_param("query", e))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `{"resultType":…,"result":…}` of an instant query at `t`.
pub(crate) fn instant_json(value: Value, t: i64) -> String {
    let mut out = String::from("{\"resultType\":\"");
    match value {
        Value::Scalar(v) => {
            out.push_str("scalar\",\"result\":[");
            json::float_seconds(&mut out, t);
            out.push_str(",\"");
            out.push_str(&json::go_float(v));
            out.push_str("\"]");
        }
        Value::String(s) => {
            out.push_str("string\",\"result\":[");
            json::float_seconds(&mut out, t);
            out.push(',');
            json::string(&mut out, &s);
            out.push(']');
        }
        Value::Vector(v) => {
            out.push_str("vector\",\"result\":[");
            for (i, (labels, v)) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                json::labels(&mut out, labels);
                out.push_str(",\"value\":");
                json::point(&mut out, Sample { t, v: *v });
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(mut m) => {
            // Prometheus answers a range selector with its series in label order.
            m.sort_by(|a, b| a.0.cmp(&b.0));
            out.push_str("matrix\",\"result\":");
            matrix_json(&mut out, &m);
        }
    }
    out.push('}');
    out
}

/// `[{"metric":{…},"values":[[t,"v"],…]},…]`.
pub(crate) fn matrix_json(out: &mut String, m: &[(Labels, Vec<Sample>)]) {
    out.push('[');
    for (i, (labels, samples)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        json::labels(out, labels);
        out.push_str(",\"values\":[");
        for (j, s) in samples.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            json::point(out, *s);
        }
        out.push_str("]}");
    }
    out.push(']');
}
