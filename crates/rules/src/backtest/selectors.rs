//! Which raw samples an expression reads over a backtest: every vector selector with
//! the time window it touches, so a source is asked for each series once, not at every
//! step.
//!
//! The window of a selector evaluated at every `t` in `[from, to]` is
//! `[from - behind, to - ahead]`: `behind` adds the lookback delta (instant selectors)
//! or the range (matrix selectors), offsets and the ranges of enclosing subqueries;
//! `@ <time>` pins it to that time instead.

use std::time::{Duration, SystemTime};

use lookout_tsdb::Matcher;
use lookout_tsdb::promql::EvalError;
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

/// One selector and the samples it needs: `[mint, maxt]` in Unix ms.
#[derive(Debug, Clone)]
pub struct SelectorWindow {
    /// The selector's matchers, the metric name as a `__name__` matcher.
    pub matchers: Vec<Matcher>,
    /// Oldest sample needed.
    pub mint: i64,
    /// Newest sample needed.
    pub maxt: i64,
}

/// Where an expression node is evaluated, relative to the rule's evaluation times.
#[derive(Debug, Clone, Copy)]
enum Span {
    /// At `t - behind ..= t - ahead` for every evaluation time `t`.
    Relative { behind: i64, ahead: i64 },
    /// At fixed times (under `@ <time>`).
    Absolute { lo: i64, hi: i64 },
}

fn dur_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
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
        Ok(d) => dur_ms(&d),
        Err(e) => -dur_ms(&e.duration()),
    }
}

impl Span {
    /// The span of a child reading `[ref - range, ref]` where `ref` is this node's time
    /// moved by `@` and `offset`.
    fn child(self, at: &Option<AtModifier>, offset: &Option<Offset>, range: i64) -> Span {
        let off = offset_ms(offset);
        let base = match at {
            Some(AtModifier::At(st)) => {
                let t = system_time_ms(st);
                Span::Absolute { lo: t, hi: t }
            }
            // `start()`/`end()` of a rule's instant query are its evaluation time.
            Some(AtModifier::Start | AtModifier::End) => Span::Relative { behind: 0, ahead: 0 },
            None => self,
        };
        match base {
            Span::Relative { behind, ahead } => Span::Relative {
                behind: behind.saturating_add(off).saturating_add(range),
                ahead: ahead.saturating_add(off),
            },
            Span::Absolute { lo, hi } => {
                Span::Absolute { lo: lo.saturating_sub(off).saturating_sub(range), hi: hi.saturating_sub(off) }
            }
        }
    }

    fn window(self, from: i64, to: i64) -> (i64, i64) {
        match self {
            Span::Relative { behind, ahead } => (from.saturating_sub(behind), to.saturating_sub(ahead)),
            Span::Absolute { lo, hi } => (lo, hi),
        }
    }
}

/// A selector's matchers as the store takes them (the evaluator's own conversion).
pub fn matchers(vs: &VectorSelector) -> Result<Vec<Matcher>, EvalError> {
    lookout_tsdb::promql::selector_matchers(vs)
}

/// Every vector selector of `expr` evaluated at each time in `[from, to]`, with the
/// window of raw samples it reads (`lookback_ms` for instant selectors).
pub fn selector_windows(expr: &Expr, from: i64, to: i64, lookback_ms: i64) -> Result<Vec<SelectorWindow>, EvalError> {
    let mut out = Vec::new();
    walk(expr, Span::Relative { behind: 0, ahead: 0 }, from, to, lookback_ms, &mut out)?;
    Ok(out)
}

fn push(
    vs: &VectorSelector,
    span: Span,
    range: i64,
    from: i64,
    to: i64,
    out: &mut Vec<SelectorWindow>,
) -> Result<(), EvalError> {
    let (mint, maxt) = span.child(&vs.at, &vs.offset, range).window(from, to);
    out.push(SelectorWindow { matchers: matchers(vs)?, mint, maxt });
    Ok(())
}

fn walk(
    e: &Expr,
    span: Span,
    from: i64,
    to: i64,
    lookback_ms: i64,
    out: &mut Vec<SelectorWindow>,
) -> Result<(), EvalError> {
    match e {
        Expr::VectorSelector(vs) => push(vs, span, lookback_ms, from, to, out),
        Expr::MatrixSelector(ms) => push(&ms.vs, span, dur_ms(&ms.range), from, to, out),
        Expr::Subquery(sq) => {
            // The inner expression runs at steps in `(ref - range, ref]`.
            let inner = span.child(&sq.at, &sq.offset, dur_ms(&sq.range));
            walk(&sq.expr, inner, from, to, lookback_ms, out)
        }
        Expr::Aggregate(a) => {
            walk(&a.expr, span, from, to, lookback_ms, out)?;
            match &a.param {
                Some(p) => walk(p, span, from, to, lookback_ms, out),
                None => Ok(()),
            }
        }
        Expr::Unary(u) => walk(&u.expr, span, from, to, lookback_ms, out),
        Expr::Binary(b) => {
            walk(&b.lhs, span, from, to, lookback_ms, out)?;
            walk(&b.rhs, span, from, to, lookback_ms, out)
        }
        Expr::Paren(p) => walk(&p.expr, span, from, to, lookback_ms, out),
        Expr::Call(c) => c.args.args.iter().try_for_each(|a| walk(a, span, from, to, lookback_ms, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => Ok(()),
    }
}

/// Whether a selector's `__name__` matchers admit `name` (a selector without any
/// admits every name).
pub fn could_match_name(matchers: &[Matcher], name: &str) -> bool {
    matchers.iter().filter(|m| m.name == "__name__").all(|m| m.matches_value(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(q: &str) -> Vec<(String, i64, i64)> {
        let e = promql_parser::parser::parse(q).unwrap();
        selector_windows(&e, 1_000_000, 2_000_000, 300_000)
            .unwrap()
            .into_iter()
            .map(|w| (w.matchers.iter().map(|m| format!("{}{:?}{}", m.name, m.op, m.value)).collect(), w.mint, w.maxt))
            .collect()
    }

    #[test]
    fn windows_cover_lookback_ranges_offsets_and_subqueries() {
        assert_eq!(windows("up"), [("__name__Equalup".to_string(), 700_000, 2_000_000)]);
        assert_eq!(windows("rate(x[1m] offset 1m)"), [("__name__Equalx".to_string(), 880_000, 1_940_000)]);
        // A subquery of 10m over a 1m range: 11 minutes behind each evaluation time.
        assert_eq!(
            windows("max_over_time(rate(x{a=~\"b.*\"}[1m])[10m:1m])"),
            [("__name__EqualxaRegexb.*".to_string(), 1_000_000 - 660_000, 2_000_000)]
        );
        // A negative offset reads ahead; `@` pins the window.
        assert_eq!(windows("x offset -1m"), [("__name__Equalx".to_string(), 760_000, 2_060_000)]);
        assert_eq!(windows("x @ 100"), [("__name__Equalx".to_string(), -200_000, 100_000)]);
        let both = windows("a / on() group_left b");
        assert_eq!(both.len(), 2);
    }

    #[test]
    fn name_matching() {
        let m = matchers(match &promql_parser::parser::parse("{__name__=~\"job:.*\"}").unwrap() {
            Expr::VectorSelector(vs) => vs,
            _ => unreachable!(),
        })
        .unwrap();
        assert!(could_match_name(&m, "job:errors:rate5m"));
        assert!(!could_match_name(&m, "up"));
    }
}
