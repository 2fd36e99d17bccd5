//! JSON written byte for byte as Prometheus writes it: Go's string escaping (HTML
//! characters as `\u003c`…), sample values as `strconv.FormatFloat(v, 'f', -1, 64)`
//! strings, sample timestamps as seconds with exactly the milliseconds Prometheus
//! prints, label sets as objects sorted by name.
//!
//! Written by hand rather than through `serde_json` because Prometheus's number forms
//! (`1700000000.500` in a vector, `1700000000.5` for a scalar) are not what a generic
//! serializer produces, and clients such as `promtool` print them as received.

use lookout_tsdb::{Labels, Sample};

/// Appends `s` as a JSON string the way Go's `encoding/json` does.
pub(crate) fn string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go escapes these for safe embedding in HTML and JavaScript.
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 0xf] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `strconv.FormatFloat(v, 'f', -1, 64)` with Prometheus's `NaN`, `+Inf`, `-Inf`: the
/// shortest decimal that reads back as `v`, never in exponent form.
pub(crate) fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's `Display` for f64 is the shortest round-trip form without exponent,
        // which is what Go's 'f' with precision -1 prints.
        format!("{v}")
    }
}

/// A sample timestamp as Prometheus's `marshalTimestamp` writes it: whole seconds, then
/// `.` and three digits of milliseconds when there are any (`1.500`, `1.005`).
pub(crate) fn timestamp(out: &mut String, t_ms: i64) {
    let neg = t_ms < 0;
    let t = t_ms.unsigned_abs();
    if neg {
        out.push('-');
    }
    out.push_str(&(t / 1000).to_string());
    let frac = t % 1000;
    if frac != 0 {
        out.push_str(&format!(".{frac:03}"));
    }
}

/// A scalar's or string's timestamp: Go's `encoding/json` of `float64(t) / 1000`
/// (shortest form: `1.5`).
pub(crate) fn float_seconds(out: &mut String, t_ms: i64) {
    out.push_str(&format!("{}", t_ms as f64 / 1000.0));
}

/// A label set as a JSON object, names in order.
pub(crate) fn labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, (k, v)) in l.pairs().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, k);
        out.push(':');
        string(out, v);
    }
    out.push('}');
}

/// `[<timestamp>,"<value>"]`.
pub(crate) fn point(out: &mut String, s: Sample) {
    out.push('[');
    timestamp(out, s.t);
    out.push_str(",\"");
    out.push_str(&go_float(s.v));
    out.push_str("\"]");
}

/// A JSON array of strings.
pub(crate) fn strings<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, s);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut String)) -> String {
        let mut out = String::new();
        f(&mut out);
        out
    }

    #[test]
    fn strings_escape_like_go() {
        assert_eq!(s(|o| string(o, "a\"b\\c\n\t\r")), r#""a\"b\\c\n\t\r""#);
        assert_eq!(s(|o| string(o, "<a href='x'>&</a>")), r#""\u003ca href='x'\u003e\u0026\u003c/a\u003e""#);
        assert_eq!(s(|o| string(o, "\u{1}\u{1f}\u{2028}é")), "\"\\u0001\\u001f\\u2028é\"");
    }

    #[test]
    fn floats_like_format_float_f_minus_one() {
        for (v, want) in [
            (1.0, "1"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (1e21, "1000000000000000000000"),
            (1.5e-7, "0.00000015"),
            (123456.789, "123456.789"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (0.30000000000000004, "0.30000000000000004"),
        ] {
            assert_eq!(go_float(v), want, "{v}");
        }
    }

    #[test]
    fn timestamps_like_marshal_timestamp() {
        assert_eq!(s(|o| timestamp(o, 1_700_000_000_000)), "1700000000");
        assert_eq!(s(|o| timestamp(o, 1_700_000_000_500)), "1700000000.500");
        assert_eq!(s(|o| timestamp(o, 1_005)), "1.005");
        assert_eq!(s(|o| timestamp(o, -1_500)), "-1.500");
        assert_eq!(s(|o| float_seconds(o, 1_700_000_000_500)), "1700000000.5");
        assert_eq!(s(|o| float_seconds(o, 1_700_000_000_000)), "1700000000");
    }

    #[test]
    fn labels_and_points() {
        let l = Labels::new([("job".to_string(), "a<b".to_string()), ("__name__".to_string(), "up".to_string())]);
        assert_eq!(s(|o| labels(o, &l)), r#"{"__name__":"up","job":"a\u003cb"}"#);
        assert_eq!(s(|o| point(o, Sample { t: 1_000, v: 0.25 })), r#"[1,"0.25"]"#);
    }
}
