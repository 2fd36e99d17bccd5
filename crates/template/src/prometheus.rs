//! Prometheus's template functions (`prometheus/template/template.go`), with its output:
//! `humanize*`, `query` and the sample helpers, string helpers, links, time conversions.

use std::collections::BTreeMap;

use chrono::TimeZone as _;

use crate::error::FuncError;
use crate::funcs::{Funcs, QueryHook, arity, float_arg, regex, str_arg, wrong_type};
use crate::gofmt;
use crate::quote::query_escape;
use crate::value::Value;

pub(crate) fn register(f: &mut Funcs, query: Option<QueryHook>) {
    f.add("query", move |a| {
        arity(a, 1)?;
        let q = str_arg(&a[0])?;
        let Some(hook) = &query else {
            return Err("no query engine is available to templates here".into());
        };
        let samples = hook(q)?;
        Ok(Value::List(samples.into_iter().map(|(labels, v)| sample(labels, v)).collect()))
    });
    f.add("first", |a| {
        arity(a, 1)?;
        match &a[0] {
            Value::List(l) => l.first().cloned().ok_or_else(|| "first() called on vector with no elements".into()),
            other => Err(wrong_type("template.queryResult", other)),
        }
    });
    f.add("label", |a| {
        arity(a, 2)?;
        let name = str_arg(&a[0])?;
        Ok(Value::String(sample_label(&a[1], name)?))
    });
    f.add("value", |a| {
        arity(a, 1)?;
        match &a[0] {
            s @ (Value::Map(_) | Value::Struct(..)) if s.get("Value").is_some() => {
                Ok(s.get("Value").cloned().unwrap_or(Value::Nil))
            }
            other => Err(wrong_type("*template.sample", other)),
        }
    });
    f.add("strvalue", |a| {
        arity(a, 1)?;
        Ok(Value::String(sample_label(&a[0], "__value__")?))
    });
    f.add("sortByLabel", |a| {
        arity(a, 2)?;
        let name = str_arg(&a[0])?;
        let Value::List(l) = &a[1] else { return Err(wrong_type("template.queryResult", &a[1])) };
        let mut keyed =
            l.iter().map(|s| Ok((sample_label(s, name)?, s.clone()))).collect::<Result<Vec<_>, FuncError>>()?;
        keyed.sort_by(|x, y| x.0.cmp(&y.0));
        Ok(Value::List(keyed.into_iter().map(|(_, s)| s).collect()))
    });
    f.add("args", |a| Ok(Value::Map(a.iter().enumerate().map(|(i, v)| (format!("arg{i}"), v.clone())).collect())));
    add_string_funcs(f);
    f.add("title", |a| {
        arity(a, 1)?;
        Ok(Value::String(strings_title(str_arg(&a[0])?)))
    });
    f.add("graphLink", |a| {
        arity(a, 1)?;
        Ok(Value::String(format!("/graph?g0.expr={}&g0.tab=0", query_escape(str_arg(&a[0])?))))
    });
    f.add("tableLink", |a| {
        arity(a, 1)?;
        Ok(Value::String(format!("/graph?g0.expr={}&g0.tab=1", query_escape(str_arg(&a[0])?))))
    });
    f.add("stripPort", |a| {
        arity(a, 1)?;
        let hp = str_arg(&a[0])?;
        Ok(Value::str(split_host_port(hp).map_or(hp, |(h, _)| h)))
    });
    f.add("stripDomain", |a| {
        arity(a, 1)?;
        Ok(Value::String(strip_domain(str_arg(&a[0])?)))
    });
    let num = |name: &str, g: fn(f64) -> String, f: &mut Funcs| {
        f.add(name, move |a| {
            arity(a, 1)?;
            Ok(Value::String(g(float_arg(&a[0])?)))
        });
    };
    num("humanize", gofmt::humanize, f);
    num("humanize1024", gofmt::humanize1024, f);
    num("humanizeDuration", gofmt::humanize_duration, f);
    num("humanizePercentage", gofmt::humanize_percentage, f);
    f.add("humanizeTimestamp", |a| {
        arity(a, 1)?;
        if let Value::Time(t) = &a[0] {
            return Ok(Value::String(Value::Time(t.with_timezone(&chrono_tz::Tz::UTC)).to_go_string()));
        }
        let v = float_arg(&a[0])?;
        if v.is_finite() {
            timestamp_millis(v)?;
        }
        Ok(Value::String(gofmt::humanize_timestamp(v)))
    });
    f.add("toTime", |a| {
        arity(a, 1)?;
        let ms = timestamp_millis(float_arg(&a[0])?)?;
        Ok(Value::Time(chrono_tz::Tz::UTC.timestamp_millis_opt(ms).single().ok_or("time out of range")?))
    });
    f.add("toDuration", |a| {
        arity(a, 1)?;
        let v = float_arg(&a[0])?;
        let ns = v * 1e9;
        if !ns.is_finite() || ns.abs() >= 9.2e18 {
            return Err(FuncError::Failed(format!(
                "{} cannot be represented as a nanoseconds duration since it overflows int64",
                gofmt::fmt_g(v, None)
            )));
        }
        Ok(Value::Duration(ns.round() as i64))
    });
    f.add("parseDuration", |a| {
        arity(a, 1)?;
        Ok(Value::Float(parse_prometheus_duration(str_arg(&a[0])?)? as f64 / 1000.0))
    });
}

/// Functions Prometheus and Alertmanager share with the same behaviour.
pub(crate) fn add_string_funcs(f: &mut Funcs) {
    f.add("toUpper", |a| {
        arity(a, 1)?;
        Ok(Value::String(str_arg(&a[0])?.to_uppercase()))
    });
    f.add("toLower", |a| {
        arity(a, 1)?;
        Ok(Value::String(str_arg(&a[0])?.to_lowercase()))
    });
    f.add("match", |a| {
        arity(a, 2)?;
        Ok(Value::Bool(regex(str_arg(&a[0])?)?.is_match(str_arg(&a[1])?)))
    });
    f.add("reReplaceAll", |a| {
        arity(a, 3)?;
        let re = regex(str_arg(&a[0])?)?;
        Ok(Value::String(re.replace_all(str_arg(&a[2])?, str_arg(&a[1])?).into_owned()))
    });
    f.add("safeHtml", |a| {
        arity(a, 1)?;
        Ok(Value::str(str_arg(&a[0])?))
    });
}

/// Prometheus's `floatToTime` through `model.Time`: Unix seconds to milliseconds (truncated),
/// refusing what overflows int64 nanoseconds.
fn timestamp_millis(v: f64) -> Result<i64, FuncError> {
    let limit = i64::MAX as f64 / 1e9;
    if v.is_nan() || v >= limit || v <= -limit {
        return Err(FuncError::Failed(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            gofmt::fmt_g(v, None)
        )));
    }
    Ok(((v * 1e9) as i64) / 1_000_000)
}

fn sample(labels: BTreeMap<String, String>, v: f64) -> Value {
    Value::structure("*template.sample", [("Labels", Value::StrMap(labels)), ("Value", Value::Float(v))])
}

fn sample_label(s: &Value, name: &str) -> Result<String, FuncError> {
    match s {
        Value::Map(_) | Value::Struct(..) => match s.get("Labels") {
            Some(Value::StrMap(l) | Value::KV(l)) => Ok(l.get(name).cloned().unwrap_or_default()),
            Some(Value::Map(l)) => Ok(l.get(name).and_then(Value::as_str).unwrap_or_default().to_owned()),
            _ => Err(wrong_type("*template.sample", s)),
        },
        other => Err(wrong_type("*template.sample", other)),
    }
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of each word, leaves the rest.
pub(crate) fn strings_title(s: &str) -> String {
    let sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if sep(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Go's `net.SplitHostPort` (None where Go returns an error).
pub(crate) fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    if let Some(rest) = hp.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = rest[end + 1..].strip_prefix(':')?;
        if port.contains([':', '[', ']']) {
            return None;
        }
        return Some((&rest[..end], port));
    }
    let i = hp.rfind(':')?;
    let (host, port) = (&hp[..i], &hp[i + 1..]);
    if host.contains([':', '[', ']']) || port.contains(['[', ']']) {
        return None;
    }
    Some((host, port))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_owned();
    }
    let short = host.split('.').next().unwrap_or(host);
    if port.is_empty() {
        short.to_owned()
    } else if short.contains(':') {
        format!("[{short}]:{port}")
    } else {
        format!("{short}:{port}")
    }
}

/// Prometheus's `model.ParseDuration` (`1y2w3d4h5m6s7ms`, units in that order, each once, `0`
/// alone allowed), in milliseconds.
pub(crate) fn parse_prometheus_duration(s: &str) -> Result<i64, FuncError> {
    lookout_config::duration::parse_duration(s).map_err(|e| FuncError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(strings_title("hello wORLD foo_bar x-y"), "Hello WORLD Foo_bar X-Y");
        assert_eq!(split_host_port("[::1]:9090"), Some(("::1", "9090")));
        assert_eq!(split_host_port("host"), None);
        assert_eq!(split_host_port("a:b:c"), None);
        assert_eq!(strip_domain("foo.example.com:9100"), "foo:9100");
        assert_eq!(strip_domain("foo.example.com"), "foo");
        assert_eq!(strip_domain("10.0.0.1:9100"), "10.0.0.1:9100");
        assert_eq!(strip_domain("[::1]:9100"), "[::1]:9100");
        assert_eq!(parse_prometheus_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_prometheus_duration("1m500ms"), Ok(60_500));
        assert_eq!(parse_prometheus_duration("0"), Ok(0));
        assert!(parse_prometheus_duration("30m1h").is_err());
        assert!(parse_prometheus_duration("1.5h").is_err());
    }
}
