//! `/api/v1/status/buildinfo`, `/api/v1/metadata` and `/api/v1/query_exemplars`:
//! what clients ask before they query. Exemplars come from the store's exemplar
//! storage; metadata from a [`MetadataSource`] the binary plugs in (without one the
//! answer is Prometheus's empty `{}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use lookout_tsdb::Matcher;
use promql_parser::parser::Expr;

use crate::error::{ApiError, ApiResult, Success};
use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use crate::{QueryApi, json};

/// The Prometheus version `/api/v1/status/buildinfo` reports. Clients pick features by
/// it (Grafana's Prometheus data source reads `version`), so it names the Prometheus
/// whose API this one answers like: 2.x's (label names as `[a-zA-Z_]…`, `match[]` on
/// label values, no UTF-8 quoting), as other Prometheus-compatible stores do.
pub const PROMETHEUS_COMPATIBLE_VERSION: &str = "2.53.0";

/// One metric's metadata, as Prometheus's `/api/v1/metadata` lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricMetadata {
    /// `counter`, `gauge`, `histogram`, `summary`, `unknown`, …
    pub kind: String,
    /// The description.
    pub help: String,
    /// The unit (`seconds`, `bytes`, …), empty when unknown.
    pub unit: String,
}

/// Where metric metadata comes from (e.g. OTLP's type, description and unit).
pub trait MetadataSource: Send + Sync {
    /// Metric family name → its metadata entries (usually one).
    fn metadata(&self) -> BTreeMap<String, Vec<MetricMetadata>>;
}

/// The store's own metadata: what OTLP senders said of each family.
impl MetadataSource for lookout_tsdb::Store {
    fn metadata(&self) -> BTreeMap<String, Vec<MetricMetadata>> {
        lookout_tsdb::Store::metadata(self)
            .snapshot()
            .into_iter()
            .map(|m| {
                let entry = MetricMetadata { kind: m.metric_type.as_str().to_string(), help: m.help, unit: m.unit };
                (m.family, vec![entry])
            })
            .collect()
    }
}

/// Every vector selector in `expr`, as store matchers (Prometheus's `ExtractSelectors`).
fn selectors(expr: &Expr, out: &mut Vec<Vec<Matcher>>) -> Result<(), ApiError> {
    let bad = |e: lookout_tsdb::promql::EvalError| ApiError::bad_data(e.to_string());
    match expr {
        Expr::VectorSelector(vs) => out.push(lookout_tsdb::promql::selector_matchers(vs).map_err(bad)?),
        Expr::MatrixSelector(ms) => out.push(lookout_tsdb::promql::selector_matchers(&ms.vs).map_err(bad)?),
        Expr::Paren(p) => selectors(&p.expr, out)?,
        Expr::Unary(u) => selectors(&u.expr, out)?,
        Expr::Subquery(s) => selectors(&s.expr, out)?,
        Expr::Binary(b) => {
            selectors(&b.lhs, out)?;
            selectors(&b.rhs, out)?;
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                selectors(p, out)?;
            }
            selectors(&a.expr, out)?;
        }
        Expr::Call(c) => {
            for a in &c.args.args {
                selectors(a, out)?;
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
    Ok(())
}

impl QueryApi {
    /// `GET /api/v1/status/buildinfo`.
    pub(crate) fn buildinfo(&self) -> Success {
        let mut out = String::from("{\"version\":");
        json::string(&mut out, PROMETHEUS_COMPATIBLE_VERSION);
        for (k, v) in [
            ("revision", ""),
            ("branch", ""),
            ("buildUser", ""),
            ("buildDate", ""),
            ("goVersion", ""),
            ("lookoutVersion", self.version.as_str()),
        ] {
            out.push(',');
            json::string(&mut out, k);
            out.push(':');
            json::string(&mut out, v);
        }
        out.push('}');
        Success::new(out)
    }

    /// `GET /api/v1/metadata` (`metric`, `limit`, `limit_per_metric`).
    pub(crate) fn metadata(&self, p: &Params) -> ApiResult {
        let limit = int_param(p, "limit")?;
        let per_metric = int_param(p, "limit_per_metric")?;
        let metric = p.get("metric");
        let all = self.metadata.as_ref().map(|m| m.metadata()).unwrap_or_default();
        let mut out = String::from("{");
        let wanted = all.iter().filter(|(name, _)| metric.is_empty() || name.as_str() == metric);
        for (n, (name, entries)) in wanted.take(limit.unwrap_or(usize::MAX)).enumerate() {
            if n > 0 {
                out.push(',');
            }
            json::string(&mut out, name);
            out.push_str(":[");
            let take = per_metric.unwrap_or(usize::MAX);
            for (i, m) in entries.iter().take(take).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"type\":");
                json::string(&mut out, &m.kind);
                out.push_str(",\"help\":");
                json::string(&mut out, &m.help);
                out.push_str(",\"unit\":");
                json::string(&mut out, &m.unit);
                out.push('}');
            }
            out.push(']');
        }
        out.push('}');
        Ok(Success::new(out))
    }

    /// `GET|POST /api/v1/query_exemplars` (`query`, `start`, `end`). `Ok(None)` when the
    /// query has no selector: Prometheus then answers 204 No Content.
    pub(crate) async fn query_exemplars(self: Arc<Self>, p: Params) -> Result<Option<Success>, ApiError> {
        let start = p.time_or("start", MIN_TIME_MS)?;
        let end = p.time_or("end", MAX_TIME_MS)?;
        if end < start {
            return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
        }
        let found = self
            .blocking(move |api| {
                let expr = lookout_tsdb::promql::parse(p.get("query")).map_err(ApiError::bad_data)?;
                let mut sets = Vec::new();
                selectors(&expr, &mut sets)?;
                Ok((!sets.is_empty()).then(|| api.store.exemplars().select(&sets, start, end)))
            })
            .await?;
        let Some(found) = found else { return Ok(None) };
        let mut out = String::from("[");
        for (i, s) in found.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"seriesLabels\":");
            json::labels(&mut out, &s.series);
            out.push_str(",\"exemplars\":[");
            for (j, e) in s.exemplars.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str("{\"labels\":");
                json::labels(&mut out, &e.labels);
                out.push_str(",\"value\":\"");
                out.push_str(&json::go_float(e.value));
                out.push_str("\",\"timestamp\":");
                json::timestamp(&mut out, e.t);
                out.push('}');
            }
            out.push_str("]}");
        }
        out.push(']');
        Ok(Some(Success::new(out)))
    }
}

/// A non-negative integer parameter; absent or negative means no limit.
fn int_param(p: &Params, name: &str) -> Result<Option<usize>, ApiError> {
    match p.get(name) {
        "" => Ok(None),
        v => match v.parse::<i64>() {
            Ok(n) if n < 0 => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => Err(ApiError::bad_data(format!("{name} must be a number"))),
        },
    }
}
