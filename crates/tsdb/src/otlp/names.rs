//! Names: OTLP metric names and units → Prometheus metric names, attribute keys →
//! label names, attribute values → label text, floats → `le` / `quantile` text
//! (Prometheus's `otlptranslator`, "underscore escaping with suffixes").

use lookout_event::otlp::common::v1::{AnyValue, any_value};

fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':')).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// A unit without its `{annotation}` parts: `{request}/s` → `/s`.
fn strip_annotations(unit: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// The words a unit adds to a name: the main unit (`seconds`), and `per` + the
/// denominator (`second`), each when there is one. `1` adds none.
fn unit_words(unit: &str) -> (Option<String>, Option<String>) {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (unit, None),
    };
    let main = (!main.is_empty() && main != "1")
        .then(|| unit_word(main).map(str::to_string).unwrap_or_else(|| tokens(main).join("_")))
        .filter(|w| !w.is_empty());
    let per = per
        .filter(|p| !p.is_empty())
        .map(|p| per_unit_word(p).map(str::to_string).unwrap_or_else(|| tokens(p).join("_")))
        .filter(|w| !w.is_empty());
    (main, per)
}

/// The unit as the name's suffix spells it (`s` → `seconds`, `By/s` →
/// `bytes_per_second`, `1` and annotations → empty): the `unit` of remote-write
/// metadata.
pub fn prometheus_unit(unit: &str) -> String {
    match unit_words(&strip_annotations(unit)) {
        (Some(m), Some(p)) => format!("{m}_per_{p}"),
        (None, Some(p)) => format!("per_{p}"),
        (Some(m), None) => m,
        (None, None) => String::new(),
    }
}

/// The Prometheus name of an OTLP metric.
pub fn metric_name(name: &str, unit: &str, monotonic_sum: bool, gauge: bool) -> String {
    let mut parts = tokens(name);
    // `{request}`-style annotations carry no unit.
    let unit = strip_annotations(unit);
    let (main, per) = unit_words(&unit);
    if let Some(word) = main
        && !parts.contains(&word)
    {
        parts.push(word);
    }
    if let Some(word) = per {
        let already = parts.ends_with(&["per".to_string(), word.clone()]);
        if !already {
            parts.push("per".into());
            parts.push(word);
        }
    }
    if monotonic_sum {
        parts.retain(|p| p != "total");
        parts.push("total".into());
    }
    if gauge && unit == "1" && !parts.iter().any(|p| p == "ratio") {
        parts.push("ratio".into());
    }
    let mut out = parts.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A Prometheus label name for an OTLP attribute key.
pub fn label_name(key: &str) -> String {
    let mut out: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// An attribute value as label text.
pub fn value_text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// Formats a float the way Prometheus formats `le` and `quantile` values.
pub fn format_float(f: f64) -> String {
    if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{f}")
    }
}
