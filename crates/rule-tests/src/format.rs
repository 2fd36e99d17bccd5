//! promtool's text forms: `labels.Labels.String()`,
//! `strconv.FormatFloat(v, 'E', -1, 64)`, and the indented alert lists of its failure
//! messages (`cmd/promtool/unittest.go`).

use std::fmt::Write;

use lookout_template::quote::go_quote;

/// `labels.Labels.String()`: `{a="b", c="d"}`, `__name__` included like any label.
pub fn labels_string(pairs: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&go_quote(v));
    }
    out.push('}');
    out
}

/// `strconv.FormatFloat(v, 'E', -1, 64)`: shortest digits, `1.5E+00`, `+Inf`, `NaN`.
pub fn format_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    // Rust's `{:E}` is the shortest round-tripping form too (`1.5E0`); only the
    // exponent's sign and two-digit minimum differ.
    let s = format!("{v:E}");
    let (mantissa, exp) = s.split_once('E').expect("exponent form");
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}E{sign}{digits:0>2}")
}

/// unittest.go `indentLines`: `indent` before every line but the first.
pub fn indent_lines(lines: &str, indent: &str) -> String {
    let mut out = String::with_capacity(lines.len());
    for (i, l) in lines.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        out.push_str(l);
    }
    out
}

/// One alert as promtool compares it: labels and annotations, each sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LabelsAndAnnotations {
    /// Labels, `alertname` included.
    pub labels: Vec<(String, String)>,
    /// Annotations.
    pub annotations: Vec<(String, String)>,
}

/// unittest.go `labelsAndAnnotations.String()`.
pub fn alerts_string(list: &[LabelsAndAnnotations]) -> String {
    if list.is_empty() {
        return "[]".to_string();
    }
    let mut s = String::from("[");
    for (i, a) in list.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let one = format!("\nLabels:{}\nAnnotations:{}", labels_string(&a.labels), labels_string(&a.annotations));
        let _ = write!(s, "\n{i}:{}", indent_lines(&one, "  "));
    }
    s.push_str("\n]");
    s
}

/// unittest.go `parsedSamplesString`: `{...} 1E+00, {...} 2E+00`, or `nil`.
pub fn samples_string(list: &[(Vec<(String, String)>, f64)]) -> String {
    if list.is_empty() {
        return "nil".to_string();
    }
    list.iter().map(|(l, v)| format!("{} {}", labels_string(l), format_float_e(*v))).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn floats_like_go_format_e() {
        assert_eq!(format_float_e(1.0), "1E+00");
        assert_eq!(format_float_e(2.5), "2.5E+00");
        assert_eq!(format_float_e(-0.25), "-2.5E-01");
        assert_eq!(format_float_e(1000.0), "1E+03");
        assert_eq!(format_float_e(1e-300), "1E-300");
        assert_eq!(format_float_e(0.1 + 0.2), "3.0000000000000004E-01");
        assert_eq!(format_float_e(0.0), "0E+00");
        assert_eq!(format_float_e(f64::INFINITY), "+Inf");
        assert_eq!(format_float_e(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float_e(f64::NAN), "NaN");
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(labels_string(&p(&[("a", "\x01é\n")])), r#"{a="\x01é\n"}"#);
        assert_eq!(labels_string(&p(&[("__name__", "up"), ("job", "a")])), r#"{__name__="up", job="a"}"#);
        assert_eq!(labels_string(&[]), "{}");
    }

    #[test]
    fn alert_lists_like_promtool() {
        let a = LabelsAndAnnotations {
            labels: p(&[("alertname", "X"), ("job", "a")]),
            annotations: p(&[("summary", "s")]),
        };
        let b = LabelsAndAnnotations { labels: p(&[("alertname", "X")]), annotations: vec![] };
        assert_eq!(alerts_string(&[]), "[]");
        assert_eq!(
            indent_lines(&alerts_string(&[a, b]), "            "),
            "[\n            0:\n              Labels:{alertname=\"X\", job=\"a\"}\n              \
             Annotations:{summary=\"s\"},\n            1:\n              Labels:{alertname=\"X\"}\n              \
             Annotations:{}\n            ]"
        );
        assert_eq!(samples_string(&[]), "nil");
        assert_eq!(samples_string(&[(p(&[("a", "b")]), 1.0), (vec![], 2.0)]), r#"{a="b"} 1E+00, {} 2E+00"#);
    }
}
