//! Where a backtest reads its data: the [`SampleSource`] seam and its two
//! implementations, the embedded store ([`StoreSource`]) and a Prometheus-compatible
//! query API ([`PrometheusSource`]).
//!
//! A source answers two questions. `query`: evaluate this expression at `t` over your
//! data, exactly as a live evaluation would (Prometheus does it itself, so staleness
//! and its own PromQL semantics are kept). `select`: give me the raw samples of these
//! series in `[mint, maxt]` — needed only for rules that read what the backtested rules
//! themselves record, which the source has not got: those are evaluated locally over a
//! copy of their inputs plus the recorded output.

use std::sync::Arc;

use lookout_tsdb::promql::{EvalOptions, Value};
use lookout_tsdb::remote::QueryClient;
use lookout_tsdb::{MatchOp, Matcher, Sample, SeriesData, Store};
use promql_parser::parser::Expr;

/// Why a source could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// The data a backtest replays rules over.
pub trait SampleSource: Send + Sync {
    /// Evaluates `expr` (written `text`) at `t_ms` over the source's data.
    fn query(&self, expr: &Expr, text: &str, t_ms: i64) -> Result<Value, SourceError>;

    /// The raw samples in `[mint, maxt]` of every series matching all `matchers`,
    /// oldest first (staleness markers included where the source keeps them).
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<SeriesData>, SourceError>;

    /// What the source is, for reports (`store`, a URL).
    fn describe(&self) -> String;
}

/// The embedded series store (a running Lookout's, or one loaded from a data file).
pub struct StoreSource {
    store: Arc<Store>,
    opts: EvalOptions,
}

impl StoreSource {
    /// Over `store`, evaluating with `opts` (lookback, window semantics).
    pub fn new(store: Arc<Store>, opts: EvalOptions) -> StoreSource {
        StoreSource { store, opts }
    }
}

impl SampleSource for StoreSource {
    fn query(&self, expr: &Expr, _text: &str, t_ms: i64) -> Result<Value, SourceError> {
        self.opts.instant_query_expr(&*self.store, expr, t_ms).map_err(|e| SourceError(e.to_string()))
    }

    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<SeriesData>, SourceError> {
        Ok(self.store.select(matchers, mint, maxt))
    }

    fn describe(&self) -> String {
        "store".to_string()
    }
}

/// A Prometheus-compatible query API (Prometheus, VictoriaMetrics, Mimir, Thanos):
/// rules are sent as instant queries at each step; raw samples are read as range
/// selectors (`{...}[1h]`) an hour at a time.
pub struct PrometheusSource {
    client: QueryClient,
    runtime: tokio::runtime::Handle,
}

/// The span of one raw-sample request: small enough for the server's sample limit on
/// a few thousand series at a 15 s scrape interval.
const SELECT_CHUNK_MS: i64 = 3_600_000;

impl PrometheusSource {
    /// Over `client`, blocking on `runtime` (call from outside the runtime, or from a
    /// blocking thread).
    pub fn new(client: QueryClient, runtime: tokio::runtime::Handle) -> PrometheusSource {
        PrometheusSource { client, runtime }
    }

    fn instant(&self, q: &str, t_ms: i64) -> Result<Value, SourceError> {
        self.runtime
            .block_on(self.client.query(q, t_ms))
            .map_err(|e| SourceError(format!("{}: {e}", lookout_config::redact_url(self.client.url()))))
    }
}

impl SampleSource for PrometheusSource {
    fn query(&self, _expr: &Expr, text: &str, t_ms: i64) -> Result<Value, SourceError> {
        self.instant(text, t_ms)
    }

    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<SeriesData>, SourceError> {
        let selector = selector_text(matchers);
        let mut out: Vec<SeriesData> = Vec::new();
        let mut index: std::collections::HashMap<lookout_tsdb::Labels, usize> = Default::default();
        // Ranges are `(t - range, t]` in Prometheus 3 and `[t - range, t]` in 2: start
        // one millisecond early and drop what an earlier chunk already returned.
        let mut lo = mint.saturating_sub(1);
        while lo < maxt {
            let hi = lo.saturating_add(SELECT_CHUNK_MS).min(maxt);
            let q = format!("{selector}[{}ms]", hi - lo);
            let series = match self.instant(&q, hi)? {
                Value::Matrix(m) => m,
                other => return Err(SourceError(format!("{q}: expected a matrix, got {other:?}"))),
            };
            for (labels, samples) in series {
                let i = *index.entry(labels.clone()).or_insert_with(|| {
                    out.push(SeriesData { labels, samples: Vec::new() });
                    out.len() - 1
                });
                let have = &mut out[i].samples;
                let last = have.last().map_or(i64::MIN, |s: &Sample| s.t);
                have.extend(samples.into_iter().filter(|s| s.t > last && s.t >= mint && s.t <= maxt));
            }
            lo = hi;
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        lookout_config::redact_url(self.client.url()).into_owned()
    }
}

/// `{a="b",c=~"d"}`: matchers as PromQL text, values quoted as Go string literals.
pub fn selector_text(matchers: &[Matcher]) -> String {
    let parts: Vec<String> = matchers
        .iter()
        .map(|m| {
            let op = match m.op {
                MatchOp::Equal => "=",
                MatchOp::NotEqual => "!=",
                MatchOp::Regex => "=~",
                MatchOp::NotRegex => "!~",
            };
            format!("{}{op}{}", m.name, quote(&m.value))
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_print_as_promql_that_parses_back() {
        let m = vec![
            Matcher::equal("__name__", "up"),
            Matcher::new("job", MatchOp::Regex, "a\"b\\.c").unwrap(),
            Matcher::new("x", MatchOp::NotEqual, "line\nbreak").unwrap(),
        ];
        let text = selector_text(&m);
        assert_eq!(text, r#"{__name__="up",job=~"a\"b\\.c",x!="line\nbreak"}"#);
        let back = match promql_parser::parser::parse(&text).unwrap() {
            Expr::VectorSelector(vs) => crate::backtest::selectors::matchers(&vs).unwrap(),
            other => panic!("{other:?}"),
        };
        let show = |m: &[Matcher]| m.iter().map(|m| format!("{}{:?}{}", m.name, m.op, m.value)).collect::<Vec<_>>();
        let mut a = show(&m);
        let mut b = show(&back);
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }
}
