//! The supported subset: [`check`] walks an expression and refuses the first construct
//! the evaluator does not implement, so a rule file can be refused when it is loaded.

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_DIV, T_EQLC, T_GROUP, T_GTE, T_GTR, T_LAND, T_LOR,
    T_LSS, T_LTE, T_LUNLESS, T_MAX, T_MIN, T_MOD, T_MUL, T_NEQ, T_POW, T_QUANTILE, T_STDDEV, T_STDVAR, T_SUB, T_SUM,
    T_TOPK,
};
use promql_parser::parser::{Expr, VectorSelector};

use super::functions::SUPPORTED;

/// A construct the evaluator does not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported PromQL: {construct} (in `{location}`)")]
pub struct Unsupported {
    /// What is not supported, e.g. `function holt_winters`.
    pub construct: String,
    /// The smallest enclosing expression, as text (the parser keeps no positions).
    pub location: String,
}

fn refuse(construct: impl Into<String>, e: &Expr) -> Result<(), Unsupported> {
    Err(Unsupported { construct: construct.into(), location: e.to_string() })
}

fn check_selector(vs: &VectorSelector, e: &Expr) -> Result<(), Unsupported> {
    if !vs.matchers.or_matchers.is_empty() {
        return refuse("`or` inside label matchers", e);
    }
    Ok(())
}

/// `Ok` when every construct in `expr` is implemented; otherwise the first that is not.
pub fn check(expr: &Expr) -> Result<(), Unsupported> {
    match expr {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Paren(p) => check(&p.expr),
        Expr::Unary(u) => check(&u.expr),
        Expr::VectorSelector(vs) => check_selector(vs, expr),
        Expr::MatrixSelector(ms) => check_selector(&ms.vs, expr),
        Expr::Subquery(sq) => check(&sq.expr),
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier
                && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return refuse("binary operator fill modifiers", expr);
            }
            let op_ok = matches!(
                b.op.id(),
                T_ADD
                    | T_SUB
                    | T_MUL
                    | T_DIV
                    | T_MOD
                    | T_POW
                    | T_ATAN2
                    | T_EQLC
                    | T_NEQ
                    | T_GTR
                    | T_LSS
                    | T_GTE
                    | T_LTE
                    | T_LAND
                    | T_LOR
                    | T_LUNLESS
            );
            if !op_ok {
                return refuse(format!("binary operator {}", b.op), expr);
            }
            check(&b.lhs)?;
            check(&b.rhs)
        }
        Expr::Aggregate(a) => {
            let ok = matches!(
                a.op.id(),
                T_SUM
                    | T_AVG
                    | T_MIN
                    | T_MAX
                    | T_COUNT
                    | T_GROUP
                    | T_STDDEV
                    | T_STDVAR
                    | T_TOPK
                    | T_BOTTOMK
                    | T_QUANTILE
                    | T_COUNT_VALUES
            );
            if !ok {
                return refuse(format!("aggregation {}", a.op), expr);
            }
            if let Some(p) = &a.param {
                check(p)?;
            }
            check(&a.expr)
        }
        Expr::Call(c) => {
            if !SUPPORTED.contains(&c.func.name) {
                return refuse(format!("function {}", c.func.name), expr);
            }
            c.args.args.iter().try_for_each(|a| check(a))
        }
        Expr::Extension(_) => refuse("extension expression", expr),
    }
}
