//! Methods templates call on values (Go's method-before-field lookup): Alertmanager's
//! `KV.SortedPairs/Names/Values/Remove/String`, `Pairs.Names/Values/String`,
//! `Alerts.Firing/Resolved`, and the common `time.Time`/`time.Duration` methods.

use chrono::{Datelike as _, Timelike as _};

use crate::builtins::pair;
use crate::error::FuncError;
use crate::funcs::{arity, strings_arg, wrong_type};
use crate::gotime;
use crate::value::{Value, format_duration, sorted_pairs, zero_time};

/// Whether `v` has a method `name` (then `name` is never a map key lookup).
pub(crate) fn has_method(v: &Value, name: &str) -> bool {
    match v {
        Value::KV(_) => matches!(name, "SortedPairs" | "Names" | "Values" | "Remove" | "String"),
        Value::Pairs(_) => matches!(name, "Names" | "Values" | "String"),
        Value::Alerts(_) => matches!(name, "Firing" | "Resolved"),
        Value::Time(_) => matches!(
            name,
            "Format"
                | "String"
                | "Unix"
                | "UnixMilli"
                | "UnixMicro"
                | "UnixNano"
                | "UTC"
                | "Local"
                | "IsZero"
                | "Year"
                | "Month"
                | "Day"
                | "Hour"
                | "Minute"
                | "Second"
                | "Nanosecond"
                | "YearDay"
                | "Weekday"
                | "Add"
                | "Sub"
                | "Before"
                | "After"
                | "Equal"
        ),
        Value::Duration(_) => matches!(
            name,
            "String"
                | "Seconds"
                | "Minutes"
                | "Hours"
                | "Milliseconds"
                | "Microseconds"
                | "Nanoseconds"
                | "Abs"
                | "Round"
                | "Truncate"
        ),
        _ => false,
    }
}

fn strings(items: impl Iterator<Item = impl Into<String>>) -> Value {
    Value::List(items.map(|s| Value::String(s.into())).collect())
}

/// Calls method `name` (for which [`has_method`] is true) on `v`.
pub(crate) fn call(v: &Value, name: &str, args: &[Value]) -> Result<Value, FuncError> {
    let n = if matches!(name, "Format" | "Remove" | "Add" | "Sub" | "Before" | "After" | "Equal" | "Round" | "Truncate")
    {
        1
    } else {
        0
    };
    arity(args, n)?;
    match v {
        Value::KV(kv) => Ok(match name {
            "SortedPairs" => {
                Value::Pairs(sorted_pairs(kv).into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
            }
            "Names" => strings(sorted_pairs(kv).into_iter().map(|(k, _)| k)),
            "Values" => strings(sorted_pairs(kv).into_iter().map(|(_, v)| v)),
            "Remove" => {
                let drop = strings_arg(&args[0])?;
                Value::KV(
                    kv.iter()
                        .filter(|(k, _)| !drop.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            }
            _ => Value::String(v.to_go_string()),
        }),
        Value::Pairs(p) => Ok(match name {
            "Names" => strings(p.iter().map(|(k, _)| k.as_str())),
            "Values" => strings(p.iter().map(|(_, v)| v.as_str())),
            _ => Value::String(v.to_go_string()),
        }),
        Value::Alerts(alerts) => {
            let status = if name == "Firing" { "firing" } else { "resolved" };
            Ok(Value::List(
                alerts.iter().filter(|a| a.get("Status").and_then(Value::as_str) == Some(status)).cloned().collect(),
            ))
        }
        Value::Time(t) => time_method(t, name, args),
        Value::Duration(d) => duration_method(*d, name, args),
        _ => Err(FuncError::Failed(format!("can't call method {name} on {}", v.type_name()))),
    }
}

fn time_arg(v: &Value) -> Result<&chrono::DateTime<chrono_tz::Tz>, FuncError> {
    match v {
        Value::Time(t) => Ok(t),
        _ => Err(wrong_type("time.Time", v)),
    }
}

fn duration_arg(v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Duration(d) | Value::Int(d) => Ok(*d),
        _ => Err(wrong_type("time.Duration", v)),
    }
}

fn unix_nanos(t: &chrono::DateTime<chrono_tz::Tz>) -> i64 {
    t.timestamp().saturating_mul(1_000_000_000).saturating_add(t.timestamp_subsec_nanos() as i64)
}

fn time_method(t: &chrono::DateTime<chrono_tz::Tz>, name: &str, args: &[Value]) -> Result<Value, FuncError> {
    Ok(match name {
        "Format" => Value::String(gotime::format(t, crate::funcs::str_arg(&args[0])?)),
        "String" => Value::String(Value::Time(*t).to_go_string()),
        "Unix" => Value::Int(t.timestamp()),
        "UnixMilli" => Value::Int(t.timestamp_millis()),
        "UnixMicro" => Value::Int(t.timestamp_micros()),
        "UnixNano" => Value::Int(unix_nanos(t)),
        // Lookout runs its clocks in UTC: `Local` is UTC.
        "UTC" | "Local" => Value::Time(t.with_timezone(&chrono_tz::Tz::UTC)),
        "IsZero" => Value::Bool(t.with_timezone(&chrono_tz::Tz::UTC) == zero_time()),
        "Year" => Value::Int(t.year() as i64),
        "Month" => Value::String(gotime::month_name(t).to_owned()),
        "Day" => Value::Int(t.day() as i64),
        "Hour" => Value::Int(t.hour() as i64),
        "Minute" => Value::Int(t.minute() as i64),
        "Second" => Value::Int(t.second() as i64),
        "Nanosecond" => Value::Int((t.nanosecond() % 1_000_000_000) as i64),
        "YearDay" => Value::Int(t.ordinal() as i64),
        "Weekday" => Value::String(gotime::weekday_name(t).to_owned()),
        "Add" => {
            let d = duration_arg(&args[0])?;
            let shifted = t.checked_add_signed(chrono::Duration::nanoseconds(d)).ok_or("time out of range")?;
            Value::Time(shifted)
        }
        "Sub" => Value::Duration(unix_nanos(t).saturating_sub(unix_nanos(time_arg(&args[0])?))),
        "Before" => Value::Bool(t < time_arg(&args[0])?),
        "After" => Value::Bool(t > time_arg(&args[0])?),
        _ => Value::Bool(t == time_arg(&args[0])?),
    })
}

fn duration_method(d: i64, name: &str, args: &[Value]) -> Result<Value, FuncError> {
    let round_to = |m: i64, up: bool| -> i64 {
        if m <= 0 {
            return d;
        }
        let r = d % m;
        let down = d - r;
        if up && r.abs() * 2 >= m { down + m * d.signum() } else { down }
    };
    Ok(match name {
        "String" => Value::String(format_duration(d)),
        "Seconds" => Value::Float(d as f64 / 1e9),
        "Minutes" => Value::Float(d as f64 / 6e10),
        "Hours" => Value::Float(d as f64 / 3.6e12),
        "Milliseconds" => Value::Int(d / 1_000_000),
        "Microseconds" => Value::Int(d / 1_000),
        "Nanoseconds" => Value::Int(d),
        "Abs" => Value::Duration(d.saturating_abs()),
        "Round" => Value::Duration(round_to(duration_arg(&args[0])?, true)),
        _ => Value::Duration(round_to(duration_arg(&args[0])?, false)),
    })
}

/// Looks up field `name` of a map-like value: `Some(Ok)` found, `Some(Err(zero))` missing (the
/// map type's zero value), `None` when `v` has no such field (a struct) or no fields at all.
pub(crate) fn field<'v>(v: &'v Value, name: &str) -> Option<Result<FieldRef<'v>, Value>> {
    match v {
        Value::Map(m) => Some(m.get(name).map(FieldRef::Value).ok_or(Value::Nil)),
        Value::Struct(..) => v.get(name).map(|f| Ok(FieldRef::Value(f))),
        Value::StrMap(m) | Value::KV(m) => Some(m.get(name).map(|s| FieldRef::Str(s)).ok_or(Value::str(""))),
        _ => None,
    }
}

/// A field found in a map: a value in place, or a string to wrap.
pub(crate) enum FieldRef<'v> {
    Value(&'v Value),
    Str(&'v str),
}

/// Iterates a `Pairs` as Go ranges over it: elements with `.Name` and `.Value`.
pub(crate) fn pair_values(p: &[(String, String)]) -> impl Iterator<Item = Value> + '_ {
    p.iter().map(|(n, v)| pair(n, v))
}
