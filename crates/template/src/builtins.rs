//! Go's builtin template functions (`and`/`or` are evaluated lazily by the executor):
//! `not len index slice print printf println html js urlquery eq ne lt le gt ge`.

use std::cmp::Ordering;

use crate::error::FuncError;
use crate::funcs::{Funcs, arity, int_arg, str_arg};
use crate::printf;
use crate::quote::query_escape;
use crate::value::Value;

pub(crate) fn register(f: &mut Funcs) {
    f.add("not", |a| {
        arity(a, 1)?;
        Ok(Value::Bool(!a[0].truthy()))
    });
    f.add("len", |a| {
        arity(a, 1)?;
        length(&a[0]).map(|n| Value::Int(n as i64))
    });
    f.add("index", |a| {
        let (item, idx) = a.split_first().ok_or_else(|| FuncError::Arity("want at least 1 got 0".into()))?;
        let mut cur = item.clone();
        for i in idx {
            cur = index(&cur, i)?;
        }
        Ok(cur)
    });
    f.add("slice", |a| {
        let (item, idx) = a.split_first().ok_or_else(|| FuncError::Arity("want at least 1 got 0".into()))?;
        slice(item, idx)
    });
    f.add("print", |a| Ok(Value::String(printf::sprint(a))));
    f.add("println", |a| Ok(Value::String(printf::sprintln(a))));
    f.add("printf", |a| {
        let (fmt, rest) = a.split_first().ok_or_else(|| FuncError::Arity("want at least 1 got 0".into()))?;
        Ok(Value::String(printf::sprintf(str_arg(fmt)?, rest)))
    });
    f.add("html", |a| Ok(Value::String(html_escape(&eval_args(a)))));
    f.add("js", |a| Ok(Value::String(js_escape(&eval_args(a)))));
    f.add("urlquery", |a| Ok(Value::String(query_escape(&eval_args(a)))));
    f.add("eq", |a| {
        let (first, rest) = a.split_first().ok_or_else(|| FuncError::Arity("want at least 1 got 0".into()))?;
        if rest.is_empty() {
            return Err("missing argument for comparison".into());
        }
        for b in rest {
            if eq(first, b)? {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    });
    f.add("ne", |a| {
        arity(a, 2)?;
        Ok(Value::Bool(!eq(&a[0], &a[1])?))
    });
    f.add("lt", |a| {
        arity(a, 2)?;
        Ok(Value::Bool(less(&a[0], &a[1])?))
    });
    f.add("le", |a| {
        arity(a, 2)?;
        Ok(Value::Bool(less(&a[0], &a[1])? || eq(&a[0], &a[1])?))
    });
    f.add("gt", |a| {
        arity(a, 2)?;
        Ok(Value::Bool(!(less(&a[0], &a[1])? || eq(&a[0], &a[1])?)))
    });
    f.add("ge", |a| {
        arity(a, 2)?;
        Ok(Value::Bool(!less(&a[0], &a[1])?))
    });
}

/// How `html`, `js` and `urlquery` take their arguments: one string as is, else `fmt.Sprint`.
fn eval_args(a: &[Value]) -> String {
    match a {
        [Value::String(s)] => s.clone(),
        _ => printf::sprint(a),
    }
}

fn length(v: &Value) -> Result<usize, FuncError> {
    Ok(match v {
        Value::String(s) => s.len(),
        Value::List(l) | Value::Alerts(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::StrMap(m) | Value::KV(m) => m.len(),
        Value::Pairs(p) => p.len(),
        Value::Nil => return Err("len of nil pointer".into()),
        other => return Err(FuncError::Failed(format!("len of type {}", other.type_name()))),
    })
}

fn index(item: &Value, i: &Value) -> Result<Value, FuncError> {
    let pos = |len: usize| -> Result<usize, FuncError> {
        let n = match i {
            Value::Int(n) => *n,
            Value::Nil => return Err("cannot index slice/array with nil".into()),
            other => {
                return Err(FuncError::Failed(format!("cannot index slice/array with type {}", other.type_name())));
            }
        };
        if n < 0 || n as usize >= len {
            return Err(FuncError::Failed(format!("index out of range: {n}")));
        }
        Ok(n as usize)
    };
    let key = || -> Result<&str, FuncError> {
        i.as_str().ok_or_else(|| FuncError::Failed(format!("value has type {}; should be string", i.type_name())))
    };
    match item {
        Value::List(l) | Value::Alerts(l) => Ok(l[pos(l.len())?].clone()),
        Value::Pairs(p) => {
            let (n, v) = &p[pos(p.len())?];
            Ok(pair(n, v))
        }
        Value::String(s) => Ok(Value::Int(s.as_bytes()[pos(s.len())?] as i64)),
        // A missing key gives the element type's zero value.
        Value::Map(m) => Ok(m.get(key()?).cloned().unwrap_or(Value::Nil)),
        Value::Struct(t, _) => Err(FuncError::Failed(format!("can't index item of type {t}"))),
        Value::StrMap(m) | Value::KV(m) => Ok(Value::String(m.get(key()?).cloned().unwrap_or_default())),
        Value::Nil => Err("index of untyped nil".into()),
        other => Err(FuncError::Failed(format!("can't index item of type {}", other.type_name()))),
    }
}

/// One `template.Pair` as templates see it.
pub(crate) fn pair(name: &str, value: &str) -> Value {
    Value::map([("Name", Value::str(name)), ("Value", Value::str(value))])
}

fn slice(item: &Value, idx: &[Value]) -> Result<Value, FuncError> {
    if idx.len() > 3 {
        return Err(FuncError::Failed(format!("too many slice indexes: {}", idx.len())));
    }
    let len = match item {
        Value::String(s) => {
            if idx.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) | Value::Alerts(l) => l.len(),
        Value::Nil => return Err("slice of untyped nil".into()),
        other => return Err(FuncError::Failed(format!("can't slice item of type {}", other.type_name()))),
    };
    let mut bounds = [0, len, len];
    for (k, i) in idx.iter().enumerate() {
        let n = int_arg(i)?;
        if n < 0 || n as usize > len {
            return Err(FuncError::Failed(format!("index out of range: {n}")));
        }
        bounds[k] = n as usize;
    }
    if bounds[0] > bounds[1] {
        return Err(FuncError::Failed(format!("invalid slice index: {} > {}", bounds[0], bounds[1])));
    }
    match item {
        // Go slices bytes; a cut inside a character shows as U+FFFD here.
        Value::String(s) => {
            Ok(Value::String(String::from_utf8_lossy(&s.as_bytes()[bounds[0]..bounds[1]]).into_owned()))
        }
        Value::List(l) | Value::Alerts(l) => Ok(Value::List(l[bounds[0]..bounds[1]].to_vec())),
        _ => unreachable!("checked above"),
    }
}

#[derive(PartialEq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
    /// Not a basic kind (maps, lists, times, …).
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Duration(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Other,
    }
}

const INCOMPATIBLE: &str = "incompatible types for comparison";

/// Go's `eq` for two values (its rules on kinds: an `int` and a `float64` do not compare).
fn eq(a: &Value, b: &Value) -> Result<bool, FuncError> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        // Nil against anything is simply unequal.
        if ka == Kind::Invalid || kb == Kind::Invalid {
            return Ok(false);
        }
        return Err(INCOMPATIBLE.into());
    }
    Ok(match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Int(x) | Value::Duration(x), Value::Int(y) | Value::Duration(y)) => x == y,
        (Value::Time(x), Value::Time(y)) => x == y && x.timezone() == y.timezone(),
        _ => return Err(FuncError::Failed(format!("non-comparable type {}: {}", b.to_go_string(), b.type_name()))),
    })
}

/// Go's `lt`.
fn less(a: &Value, b: &Value) -> Result<bool, FuncError> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Invalid | Kind::Other | Kind::Bool) || matches!(kb, Kind::Invalid | Kind::Other | Kind::Bool)
    {
        return Err("invalid type for comparison".into());
    }
    if ka != kb {
        return Err(INCOMPATIBLE.into());
    }
    Ok(match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y) == Some(Ordering::Less),
        (Value::String(x), Value::String(y)) => x < y,
        (Value::Int(x) | Value::Duration(x), Value::Int(y) | Value::Duration(y)) => x < y,
        _ => unreachable!("same basic kinds"),
    })
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("&#34;"),
            '\'' => o.push_str("&#39;"),
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\0' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '"' => o.push_str("\\\""),
            '<' => o.push_str("\\u003C"),
            '>' => o.push_str("\\u003E"),
            '&' => o.push_str("\\u0026"),
            '=' => o.push_str("\\u003D"),
            c if (c as u32) < 0x20 || c.is_control() => o.push_str(&format!("\\u{:04X}", c as u32)),
            c => o.push(c),
        }
    }
    o
}
