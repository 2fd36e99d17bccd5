//! Evidence on alerts: which log lines and traces made an alert fire.
//!
//! Series derived from logs and spans keep exemplars (a trace id, a span id, the start
//! of a log body) in the store. At each evaluation an alerting rule looks up, once, the
//! exemplars of every series its expression selects within the window it reads (the
//! largest range or subquery range, at least the 5-minute lookback), and each alert gets
//! up to [`MAX_EVIDENCE`] of them, newest first: those of series that agree with the
//! alert's labels on every label both have (`sum by (service) (rate(errors[5m]))` gives
//! the `service="checkout"` alert the exemplars of checkout's series only).

use lookout_receivers::Evidence;
use lookout_tsdb::exemplars::SeriesExemplars;
use lookout_tsdb::{Labels, Matcher};
use promql_parser::parser::{Expr, VectorSelector};

/// The most pieces of evidence an alert carries.
pub const MAX_EVIDENCE: usize = 5;

/// Prometheus's default lookback: what an instant selector reads.
const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// The selectors of `expr` (as store matchers) and the widest window it reads, in ms.
pub(crate) fn selectors(expr: &Expr) -> (Vec<Vec<Matcher>>, i64) {
    let mut found = Vec::new();
    let mut window = LOOKBACK_MS;
    walk(expr, &mut found, &mut window);
    (found, window)
}

fn walk(e: &Expr, found: &mut Vec<Vec<Matcher>>, window: &mut i64) {
    match e {
        Expr::VectorSelector(vs) => found.extend(matchers(vs)),
        Expr::MatrixSelector(ms) => {
            *window = (*window).max(ms.range.as_millis() as i64);
            found.extend(matchers(&ms.vs));
        }
        Expr::Subquery(sq) => {
            *window = (*window).max(sq.range.as_millis() as i64);
            walk(&sq.expr, found, window);
        }
        Expr::Paren(p) => walk(&p.expr, found, window),
        Expr::Unary(u) => walk(&u.expr, found, window),
        Expr::Binary(b) => {
            walk(&b.lhs, found, window);
            walk(&b.rhs, found, window);
        }
        Expr::Aggregate(a) => {
            walk(&a.expr, found, window);
            if let Some(p) = &a.param {
                walk(p, found, window);
            }
        }
        Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, found, window)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// A selector's matchers; `None` if a regex does not compile (the evaluation reports
/// that itself).
fn matchers(vs: &VectorSelector) -> Option<Vec<Matcher>> {
    lookout_tsdb::promql::selector_matchers(vs).ok()
}

/// The evidence of the alert with `labels` among `candidates`: exemplars of series that
/// agree with it on every label both have (`alertname` and the rule's own labels
/// aside), newest first, at most [`MAX_EVIDENCE`].
pub(crate) fn for_alert(
    candidates: &[SeriesExemplars],
    labels: &Labels,
    rule_labels: &[(String, String)],
) -> Vec<Evidence> {
    let own = |k: &str| k == "__name__" || k == "alertname" || rule_labels.iter().any(|(n, _)| n == k);
    let agrees = |series: &Labels| {
        labels.pairs().iter().filter(|(k, _)| !own(k)).all(|(k, v)| series.get(k).is_none_or(|s| s == v))
    };
    let mut picked: Vec<(&Labels, &lookout_tsdb::exemplars::Exemplar)> = candidates
        .iter()
        .filter(|c| agrees(&c.series))
        .flat_map(|c| c.exemplars.iter().map(move |e| (&c.series, e)))
        .collect();
    picked.sort_by_key(|p| std::cmp::Reverse(p.1.t));
    picked
        .into_iter()
        .take(MAX_EVIDENCE)
        .map(|(series, e)| Evidence {
            series_labels: series.pairs().iter().cloned().collect(),
            labels: e.labels.pairs().iter().cloned().collect(),
            value: lookout_tsdb::otlp::format_float(e.value),
            timestamp: chrono::DateTime::from_timestamp_millis(e.t).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_tsdb::MatchOp;
    use lookout_tsdb::exemplars::Exemplar;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    /// End to end through an evaluation: exemplars in the store reach the alert, its
    /// `$evidence` template and what is sent to the notifier.
    #[test]
    fn alerts_from_series_with_exemplars_carry_them() {
        use crate::datasource::LocalDatasource;
        use crate::group::{EvalContext, GroupState, eval_group};
        use std::sync::Arc;

        let store = Arc::new(lookout_tsdb::Store::new(Default::default()));
        let t0 = 1_700_000_000_000;
        for (i, service) in ["checkout", "cart"].iter().enumerate() {
            let series = l(&[("__name__", "db_errors_total"), ("service", service)]);
            for k in 0..4 {
                let t = t0 + k * 15_000;
                store.append(&series, t, (k * (i as i64 + 1)) as f64).unwrap();
                let trace = format!("{service}-{k}");
                let labels = l(&[("trace_id", &trace), ("log", "connection refused")]);
                store.exemplars().append(&series, Exemplar { labels, value: 1.0, t }).unwrap();
            }
        }
        let yaml = r#"groups:
  - name: db
    rules:
      - alert: DbErrors
        expr: sum by (service) (increase(db_errors_total[1m])) > 0
        labels: { severity: critical }
        annotations:
          summary: '{{ $labels.service }}: {{ range $evidence }}{{ .trace_id }} {{ end }}'
"#;
        let group = &crate::file::parse_rule_file("db.yml", yaml).unwrap()[0];
        let ds = LocalDatasource::new(store.clone());
        let ctx = EvalContext::new(&ds, &*store);
        let mut state = GroupState::default();
        let sent = eval_group(group, &mut state, &ctx, t0 + 45_000);
        assert_eq!(sent.len(), 2, "{sent:?}");
        let checkout = sent.iter().find(|a| a.labels.get("service") == Some("checkout")).unwrap();
        let traces: Vec<&str> = checkout.evidence.iter().map(|e| e.labels["trace_id"].as_str()).collect();
        assert_eq!(traces, ["checkout-3", "checkout-2", "checkout-1", "checkout-0"], "its own series only");
        assert_eq!(checkout.evidence[0].labels["log"], "connection refused");
        let summary = &checkout.annotations.iter().find(|(k, _)| k == "summary").unwrap().1;
        assert_eq!(summary, "checkout: checkout-3 checkout-2 checkout-1 checkout-0 ");
        let notified: lookout_receivers::Alert = checkout.clone().into();
        assert_eq!(notified.evidence.len(), 4, "the notifier gets it too");
    }

    #[test]
    fn selectors_and_window_come_from_the_whole_expression() {
        let e = promql_parser::parser::parse(
            r#"sum by (service) (rate(errors_total{job=~"a|b"}[10m])) / on(service) group_left max(up) > 0"#,
        )
        .unwrap();
        let (sel, window) = selectors(&e);
        assert_eq!(window, 600_000);
        assert_eq!(sel.len(), 2);
        assert!(sel[0].iter().any(|m| m.name == "job" && m.op == MatchOp::Regex && m.value == "a|b"), "{sel:?}");
        assert!(sel[1].iter().any(|m| m.name == "__name__" && m.value == "up"));
        let (_, lookback) = selectors(&promql_parser::parser::parse("up").unwrap());
        assert_eq!(lookback, LOOKBACK_MS);
        let (_, sub) = selectors(&promql_parser::parser::parse("max_over_time(up[1h:1m])").unwrap());
        assert_eq!(sub, 3_600_000);
    }

    #[test]
    fn an_alert_gets_the_newest_exemplars_of_the_series_agreeing_with_it() {
        let ex = |trace: &str, t: i64| Exemplar { labels: l(&[("trace_id", trace)]), value: 1.0, t };
        let candidates = vec![
            SeriesExemplars {
                series: l(&[("__name__", "errors_total"), ("service", "checkout")]),
                exemplars: (0..8).map(|i| ex(&format!("c{i}"), i * 1000)).collect(),
            },
            SeriesExemplars {
                series: l(&[("__name__", "errors_total"), ("service", "cart")]),
                exemplars: vec![ex("cart", 99_000)],
            },
        ];
        let alert = l(&[("alertname", "Errors"), ("service", "checkout"), ("severity", "critical")]);
        let rule_labels = [("severity".to_string(), "critical".to_string())];
        let got = for_alert(&candidates, &alert, &rule_labels);
        let traces: Vec<&str> = got.iter().map(|e| e.labels["trace_id"].as_str()).collect();
        assert_eq!(traces, ["c7", "c6", "c5", "c4", "c3"], "newest first, checkout only, at most five");
        assert_eq!(got[0].series_labels["service"], "checkout");
        assert_eq!(got[0].value, "1");
        assert_eq!(got[0].timestamp.timestamp_millis(), 7000);
        // An alert without the label takes every series' exemplars.
        let all = for_alert(&candidates, &l(&[("alertname", "Errors")]), &[]);
        assert_eq!(all[0].labels["trace_id"], "cart");
    }
}
