//! Alertmanager's template functions (`alertmanager/template/template.go` `DefaultFuncs`):
//! `toUpper toLower title trimSpace join match safeHtml safeUrl urlUnescape reReplaceAll
//! stringSlice date tz since humanizeDuration toJson`.

use std::fmt::Write as _;

use crate::error::FuncError;
use crate::funcs::{Funcs, arity, float_arg, str_arg, strings_arg, wrong_type};
use crate::quote::query_unescape;
use crate::value::Value;
use crate::{gofmt, gotime, prometheus};

pub(crate) fn register(f: &mut Funcs) {
    prometheus::add_string_funcs(f);
    f.add("title", |a| {
        arity(a, 1)?;
        Ok(Value::String(cases_title(str_arg(&a[0])?)))
    });
    f.add("trimSpace", |a| {
        arity(a, 1)?;
        Ok(Value::str(str_arg(&a[0])?.trim()))
    });
    f.add("join", |a| {
        arity(a, 2)?;
        let sep = str_arg(&a[0])?;
        Ok(Value::String(strings_arg(&a[1])?.join(sep)))
    });
    f.add("safeUrl", |a| {
        arity(a, 1)?;
        Ok(Value::str(str_arg(&a[0])?))
    });
    f.add("urlUnescape", |a| {
        arity(a, 1)?;
        query_unescape(str_arg(&a[0])?).map(Value::String)
    });
    f.add("stringSlice", |a| {
        a.iter().try_for_each(|v| str_arg(v).map(|_| ()))?;
        Ok(Value::List(a.to_vec()))
    });
    f.add("date", |a| {
        arity(a, 2)?;
        let layout = str_arg(&a[0])?;
        match &a[1] {
            Value::Time(t) => Ok(Value::String(gotime::format(t, layout))),
            other => Err(wrong_type("time.Time", other)),
        }
    });
    f.add("tz", |a| {
        arity(a, 2)?;
        let name = str_arg(&a[0])?;
        let zone: chrono_tz::Tz = match name {
            "" | "UTC" | "Local" => chrono_tz::Tz::UTC,
            n => n.parse().map_err(|_| FuncError::Failed(format!("unknown time zone {n}")))?,
        };
        match &a[1] {
            Value::Time(t) => Ok(Value::Time(t.with_timezone(&zone))),
            other => Err(wrong_type("time.Time", other)),
        }
    });
    f.add("since", |a| {
        arity(a, 1)?;
        match &a[0] {
            Value::Time(t) => {
                let d = chrono::Utc::now().signed_duration_since(t.with_timezone(&chrono::Utc));
                Ok(Value::Duration(d.num_nanoseconds().unwrap_or(i64::MAX)))
            }
            other => Err(wrong_type("time.Time", other)),
        }
    });
    f.add("humanizeDuration", |a| {
        arity(a, 1)?;
        Ok(Value::String(gofmt::humanize_duration(float_arg(&a[0])?)))
    });
    f.add("toJson", |a| {
        arity(a, 1)?;
        let mut out = String::new();
        to_json(&a[0], &mut out);
        Ok(Value::String(out))
    });
}

/// `cases.Title(language.AmericanEnglish)`: each word's first letter upper-cased, the rest
/// lower-cased (unlike Go's `strings.Title`). A `.`, `'` or `:` between letters does not break
/// a word (Unicode word boundaries).
pub(crate) fn cases_title(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for (i, &c) in chars.iter().enumerate() {
        let word_char = c.is_alphanumeric() || c == '_';
        let joiner = matches!(c, '.' | '\'' | ':' | '’')
            && in_word
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic())
            && i > 0
            && chars[i - 1].is_alphabetic();
        if word_char {
            if in_word {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = joiner;
        }
    }
    out
}

/// Go's `json.Marshal` of a template value (HTML-safe escaping, Go's float form, times as
/// RFC 3339 with nanoseconds, durations as integer nanoseconds).
fn to_json(v: &Value, out: &mut String) {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Duration(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&json_float(*f)),
        Value::String(s) => json_str(s, out),
        Value::List(l) | Value::Alerts(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                to_json(x, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_str(k, out);
                out.push(':');
                to_json(x, out);
            }
            out.push('}');
        }
        Value::StrMap(m) | Value::KV(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_str(k, out);
                out.push(':');
                json_str(x, out);
            }
            out.push('}');
        }
        Value::Pairs(p) => {
            out.push('[');
            for (i, (k, x)) in p.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"Name\":");
                json_str(k, out);
                out.push_str(",\"Value\":");
                json_str(x, out);
                out.push('}');
            }
            out.push(']');
        }
        Value::Struct(_, fields) => {
            // Alertmanager's JSON tags are the field names with a lower-case first letter.
            out.push('{');
            for (i, (k, x)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let mut tag = String::with_capacity(k.len());
                let mut chars = k.chars();
                if let Some(c) = chars.next() {
                    tag.extend(c.to_lowercase());
                }
                tag.extend(chars);
                json_str(&tag, out);
                out.push(':');
                to_json(x, out);
            }
            out.push('}');
        }
        Value::Time(t) => {
            out.push('"');
            out.push_str(&gotime::format(t, "2006-01-02T15:04:05.999999999Z07:00"));
            out.push('"');
        }
    }
}

/// `encoding/json`'s float: `%f`-like between 1e-6 and 1e21, exponent form outside.
fn json_float(f: f64) -> String {
    if !f.is_finite() {
        // Go's Marshal fails on these; print what JavaScript would rather than nothing.
        return "null".into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = gofmt::fmt_g(f, None);
        // Go trims `e-07` to `e-7`.
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = e.split_at(1);
            return format!("{m}e{sign}{}", digits.trim_start_matches('0'));
        }
        return s;
    }
    let s = format!("{f}");
    s
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_and_json() {
        assert_eq!(cases_title("hello wORLD foo-bar don't a.b"), "Hello World Foo-Bar Don't A.b");
        let mut s = String::new();
        to_json(&Value::kv([("a", "<b>")]), &mut s);
        assert_eq!(s, r#"{"a":"\u003cb\u003e"}"#);
        assert_eq!(json_float(0.5), "0.5");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(100.0), "100");
    }
}
