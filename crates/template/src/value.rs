//! The values templates see: Go's dynamic `interface{}` data, with the few Alertmanager and
//! Go standard-library types whose methods templates call (`KV`, `Pairs`, `Alerts`,
//! `time.Time`, `time.Duration`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, TimeZone as _};
use chrono_tz::Tz;

use crate::gofmt;

/// A value a template reads.
///
/// Go's templates are dynamically typed over Go values; this enum is the subset Lookout passes:
/// JSON-like data plus the Alertmanager/Go types whose methods users call
/// (`.CommonLabels.SortedPairs`, `.Alerts.Firing`, `.StartsAt.Format "…"`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// Go's `nil`; printed by an action as `<no value>`.
    Nil,
    /// A `bool`.
    Bool(bool),
    /// An `int`.
    Int(i64),
    /// A `float64`; printed like Go's `%v` (`0.5`, `100`, `1e+21`).
    Float(f64),
    /// A `string`.
    String(String),
    /// A `[]interface{}`.
    List(Vec<Value>),
    /// A `map[string]interface{}` (or a struct's fields): range and printing are in key order,
    /// a missing key is `<no value>`.
    Map(BTreeMap<String, Value>),
    /// A `map[string]string` without methods (Prometheus's `$labels`, `$externalLabels`, a query
    /// sample's `.Labels`): a missing key is `""` under `missingkey=zero`.
    StrMap(BTreeMap<String, String>),
    /// Alertmanager's `template.KV` label/annotation set, with its methods `SortedPairs`, `Names`,
    /// `Values`, `Remove` and `String` (`a=b, c=d`).
    KV(BTreeMap<String, String>),
    /// Alertmanager's `template.Pairs` (what `SortedPairs` returns): ranged over, each element has
    /// `.Name` and `.Value`; methods `Names`, `Values`, `String`.
    Pairs(Vec<(String, String)>),
    /// Alertmanager's `template.Alerts`, each alert a [`Value::Map`] with `Status` (`"firing"` or
    /// `"resolved"`), `Labels`/`Annotations` ([`Value::KV`]), `StartsAt`/`EndsAt` ([`Value::Time`]),
    /// `GeneratorURL`, `Fingerprint`; methods `Firing` and `Resolved`.
    Alerts(Vec<Value>),
    /// A Go `time.Time` in a zone (methods `Format`, `Unix`, `UTC`, `IsZero`, …).
    Time(DateTime<Tz>),
    /// A Go `time.Duration` in nanoseconds (methods `Seconds`, `String`, …; an integer kind).
    Duration(i64),
    /// A Go struct: its type name (for messages, e.g. `template.Alert`) and fields in
    /// declaration order. Unlike a map, a missing field is an error
    /// (`can't evaluate field Nope in type template.Data`), and it prints as `{v1 v2 …}`.
    Struct(String, Vec<(String, Value)>),
}

impl Value {
    /// A struct value from its type name and fields.
    pub fn structure<K: Into<String>>(
        type_name: impl Into<String>,
        fields: impl IntoIterator<Item = (K, Value)>,
    ) -> Value {
        Value::Struct(type_name.into(), fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A field of a struct or a key of a `map[string]interface{}`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.get(name),
            Value::Struct(_, f) => f.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A `map[string]interface{}` from pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A Prometheus-style `map[string]string` from pairs.
    pub fn str_map<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
        Value::StrMap(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// An Alertmanager `KV` from pairs.
    pub fn kv<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
        Value::KV(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// A UTC `time.Time` from Unix milliseconds (out-of-range values clamp to Go's zero time).
    pub fn time_from_unix_millis(ms: i64) -> Value {
        Value::Time(Tz::UTC.timestamp_millis_opt(ms).single().unwrap_or_else(zero_time))
    }

    /// Go's zero `time.Time` (`0001-01-01 00:00:00 +0000 UTC`), what Alertmanager puts in a firing
    /// alert's `EndsAt` when it has none.
    pub fn zero_time() -> Value {
        Value::Time(zero_time())
    }

    /// Go's "truth" of a value (`if`, `with`, `and`, `or`, `not`): false for `false`, zero numbers,
    /// nil and empty strings/collections.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) | Value::Alerts(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::StrMap(m) | Value::KV(m) => !m.is_empty(),
            Value::Pairs(p) => !p.is_empty(),
            Value::Time(_) | Value::Struct(..) => true,
            Value::Duration(d) => *d != 0,
        }
    }

    /// The Go type name, for error messages (`wrong type for value; expected string; got int`).
    pub fn type_name(&self) -> &str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::StrMap(_) => "map[string]string",
            Value::KV(_) => "template.KV",
            Value::Pairs(_) => "template.Pairs",
            Value::Alerts(_) => "template.Alerts",
            Value::Time(_) => "time.Time",
            Value::Duration(_) => "time.Duration",
            Value::Struct(t, _) => t,
        }
    }

    /// The string inside a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Writes the value as Go's `fmt.Print` does (`%v`, with `String()` methods).
    pub fn write_go(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&gofmt::fmt_g(*f, None)),
            Value::String(s) => out.push_str(s),
            Value::List(l) | Value::Alerts(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::StrMap(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    out.push_str(v);
                }
                out.push(']');
            }
            Value::KV(m) => write_pairs(out, sorted_pairs(m).iter().map(|(k, v)| (*k, *v))),
            Value::Pairs(p) => write_pairs(out, p.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            Value::Time(t) => write_time(out, t),
            Value::Duration(d) => out.push_str(&format_duration(*d)),
            Value::Struct(t, fields) => {
                // A pointer to a struct prints as `&{…}` at the top level.
                if t.starts_with('*') {
                    out.push('&');
                }
                out.push('{');
                for (i, (_, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out);
                }
                out.push('}');
            }
        }
    }

    /// The value as Go's `fmt.Sprint` of it.
    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write_go(&mut s);
        s
    }
}

impl From<serde_json::Value> for Value {
    /// JSON as Go's `encoding/json` into `interface{}` would give it, except that integers stay
    /// `int` (so `printf "%d"` works) and only other numbers become `float64`.
    fn from(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::List(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => Value::Map(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

/// Go's zero time.
pub(crate) fn zero_time() -> DateTime<Tz> {
    Tz::UTC.with_ymd_and_hms(1, 1, 1, 0, 0, 0).single().expect("year 1 is representable")
}

/// `KV.SortedPairs`: `alertname` first, then the other names sorted.
pub(crate) fn sorted_pairs(kv: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    let mut out = Vec::with_capacity(kv.len());
    if let Some(v) = kv.get("alertname") {
        out.push(("alertname", v.as_str()));
    }
    out.extend(kv.iter().filter(|(k, _)| k.as_str() != "alertname").map(|(k, v)| (k.as_str(), v.as_str())));
    out
}

fn write_pairs<'a>(out: &mut String, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`.
fn write_time(out: &mut String, t: &DateTime<Tz>) {
    out.push_str(&crate::gotime::format(t, "2006-01-02 15:04:05.999999999 -0700 MST"));
}

/// Go's `Duration.String()`: `72h3m0.5s`, `1.5ms`, `0s`.
pub(crate) fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if u < 1_000_000_000 {
        // Sub-second: one unit with a fraction.
        let (unit, scale) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        push_frac(&mut out, u / scale, u % scale, scale);
        out.push_str(unit);
        return out;
    }
    let secs = u / 1_000_000_000;
    let frac = u % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    push_frac(&mut out, s, frac, 1_000_000_000);
    out.push('s');
    out
}

/// `whole.frac` with the fraction's trailing zeros dropped (no point when zero).
fn push_frac(out: &mut String, whole: u64, frac: u64, scale: u64) {
    let _ = write!(out, "{whole}");
    if frac != 0 {
        let width = scale.ilog10() as usize;
        let digits = format!("{frac:0width$}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_go() {
        let cases: Vec<(Value, &str)> = vec![
            (Value::Float(0.5), "0.5"),
            (Value::Float(1e21), "1e+21"),
            (Value::Float(100.0), "100"),
            (Value::Float(1e6), "1e+06"),
            (Value::Int(-3), "-3"),
            (Value::Nil, "<nil>"),
            (Value::List(vec![Value::from("a"), Value::Int(1)]), "[a 1]"),
            (Value::map([("b", Value::Int(2)), ("a", Value::from("x"))]), "map[a:x b:2]"),
            (Value::str_map([("job", "api")]), "map[job:api]"),
            (Value::kv([("job", "api"), ("alertname", "Down"), ("a", "1")]), "alertname=Down, a=1, job=api"),
            (Value::Duration(0), "0s"),
            (Value::Duration(1_500_000), "1.5ms"),
            (Value::Duration(90 * 1_000_000_000), "1m30s"),
            (Value::Duration(3 * 3600 * 1_000_000_000 + 500_000_000), "3h0m0.5s"),
            (Value::Duration(-2_000), "-2µs"),
            (Value::zero_time(), "0001-01-01 00:00:00 +0000 UTC"),
            (Value::time_from_unix_millis(1_700_000_000_123), "2023-11-14 22:13:20.123 +0000 UTC"),
        ];
        for (v, want) in cases {
            assert_eq!(v.to_go_string(), want, "{v:?}");
        }
    }

    #[test]
    fn json_numbers() {
        let v = Value::from(serde_json::json!({"i": 3, "f": 0.5, "n": null, "l": [true]}));
        let Value::Map(m) = v else { panic!("not a map") };
        assert_eq!(m["i"], Value::Int(3));
        assert_eq!(m["f"], Value::Float(0.5));
        assert_eq!(m["n"], Value::Nil);
        assert_eq!(m["l"], Value::List(vec![Value::Bool(true)]));
    }
}
