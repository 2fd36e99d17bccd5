//! The condition language used by `filter`, `route` and `sample`: a small boolean
//! expression over record fields, parsed once at config load and evaluated per record.
//!
//! ```text
//! severity_number >= 17 and not resource.service.name == "health-check"
//! attributes.http.status_code == 500 or body =~ "timeout|refused"
//! exists(attributes.user.id)
//! ```
//!
//! The full syntax is in `docs/conditions.md`. Fields are [`FieldPath`]s; regexes are
//! compiled at parse time; string comparisons borrow from the record (no allocation).

mod parse;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use lookout_event::{FieldPath, FieldValue, RecordRef};
use regex::Regex;

/// A parsed condition, ready to evaluate against records.
#[derive(Debug, Clone)]
pub struct Condition {
    expr: Expr,
    source: String,
}

/// Why a condition did not parse: what is wrong and where in the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based column (in characters) inside the expression.
    pub column: usize,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.column)
    }
}

impl std::error::Error for ParseError {}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// Applies the operator to an ordering; `None` (incomparable values) is only `!=`.
    fn test(self, ord: Option<Ordering>) -> bool {
        match ord {
            None => self == CmpOp::Ne,
            Some(o) => match self {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
            },
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Field(FieldPath),
    Literal(FieldValue<'static>),
}

impl Operand {
    fn value<'a>(&'a self, record: &RecordRef<'a>) -> Option<FieldValue<'a>> {
        match self {
            Operand::Field(path) => record.get(path),
            Operand::Literal(v) => Some(borrow(v)),
        }
    }
}

/// A view of a literal that borrows its string rather than copying it per record.
fn borrow<'a>(v: &'a FieldValue<'static>) -> FieldValue<'a> {
    match v {
        FieldValue::Str(s) => FieldValue::Str(Cow::Borrowed(s.as_ref())),
        FieldValue::Int(i) => FieldValue::Int(*i),
        FieldValue::Double(d) => FieldValue::Double(*d),
        FieldValue::Bool(b) => FieldValue::Bool(*b),
        FieldValue::Any(a) => FieldValue::Any(a),
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Const(bool),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Exists(FieldPath),
    Compare { left: Operand, op: CmpOp, right: Operand },
    Match { left: Operand, regex: Regex, negate: bool },
}

impl Condition {
    /// Parses an expression; errors name the column inside `source`.
    pub fn parse(source: &str) -> Result<Condition, ParseError> {
        let expr = parse::parse(source)?;
        Ok(Condition { expr, source: source.to_string() })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether `record` satisfies the condition.
    pub fn matches(&self, record: &RecordRef<'_>) -> bool {
        eval(&self.expr, record)
    }
}

fn eval(expr: &Expr, record: &RecordRef<'_>) -> bool {
    match expr {
        Expr::Const(b) => *b,
        Expr::And(a, b) => eval(a, record) && eval(b, record),
        Expr::Or(a, b) => eval(a, record) || eval(b, record),
        Expr::Not(e) => !eval(e, record),
        Expr::Exists(path) => record.get(path).is_some(),
        Expr::Compare { left, op, right } => match (left.value(record), right.value(record)) {
            (Some(l), Some(r)) => op.test(compare(&l, &r)),
            // A missing field equals nothing and differs from everything.
            _ => *op == CmpOp::Ne,
        },
        Expr::Match { left, regex, negate } => {
            let matched = match left.value(record) {
                Some(FieldValue::Str(s)) => regex.is_match(&s),
                Some(other) => regex.is_match(&other.to_string()),
                None => false,
            };
            matched != *negate
        }
    }
}

/// Orders two values: numerically when either is a number and both read as numbers,
/// as strings when both are strings, booleans by value; `None` when incomparable.
pub(crate) fn compare(a: &FieldValue<'_>, b: &FieldValue<'_>) -> Option<Ordering> {
    use FieldValue as V;
    match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::Str(x), V::Str(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Int(_) | V::Double(_), _) | (_, V::Int(_) | V::Double(_)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (V::Bool(x), V::Str(s)) => s.parse::<bool>().ok().map(|y| x.cmp(&y)),
        (V::Str(s), V::Bool(y)) => s.parse::<bool>().ok().map(|x| x.cmp(y)),
        // Arrays, maps and bytes compare by their JSON text.
        _ => Some(a.to_string().cmp(&b.to_string())),
    }
}
