//! Loads an OpenMetrics text file with timestamps into a store: the data file of
//! `lookout rules backtest --data`.
//!
//! The format `promtool tsdb create-blocks-from openmetrics` reads, so one file feeds a
//! backtest and a Prometheus alike: `name{label="value",...} VALUE TIMESTAMP` per line,
//! timestamps in (fractional) Unix seconds, `# TYPE`/`# HELP`/`# UNIT` and other
//! comments ignored, `# EOF` ends the data. Every sample must have a timestamp. Samples
//! may come in any order: they are sorted per series before loading.

use std::collections::HashMap;

use lookout_tsdb::{Labels, Store};

/// Why a data file was refused: `LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A line that does not parse.
    #[error("{line}: {msg}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// More samples than allowed.
    #[error("more than {0} samples")]
    TooManySamples(usize),
    /// The store refused a series (its series limit).
    #[error("{0}")]
    Store(String),
}

/// Parses `text` and appends its samples to `store`; returns the number of samples.
pub fn load_openmetrics(text: &str, store: &Store, max_samples: usize) -> Result<usize, DataError> {
    let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
    let mut count = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line == "# EOF" {
            break;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (labels, t, v) = parse_line(line).map_err(|msg| DataError::Syntax { line: i + 1, msg })?;
        count += 1;
        if count > max_samples {
            return Err(DataError::TooManySamples(max_samples));
        }
        series.entry(labels).or_default().push((t, v));
    }
    for (labels, mut samples) in series {
        samples.sort_by_key(|(t, _)| *t);
        for (t, v) in samples {
            store.append(&labels, t, v).map_err(|e| DataError::Store(format!("{}: {e}", show(&labels))))?;
        }
    }
    Ok(count)
}

fn show(l: &Labels) -> String {
    let name = l.name().unwrap_or("");
    let rest: Vec<String> =
        l.pairs().iter().filter(|(k, _)| k != "__name__").map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", rest.join(","))
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse::<f64>().map_err(|_| format!("invalid value {s:?}")),
    }
}

/// `name{a="b"} 1.5 1700000000.250` → labels, ms, value.
fn parse_line(line: &str) -> Result<(Labels, i64, f64), String> {
    let name_end = line.find(|c: char| !is_name_char(c)).unwrap_or(line.len());
    let name = &line[..name_end];
    if !name.starts_with(is_name_start) {
        return Err(format!("expected a metric name at {line:?}"));
    }
    let mut pairs = vec![("__name__".to_string(), name.to_string())];
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        rest = parse_labels(body, &mut pairs)?;
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or("missing value")?)?;
    let ts = fields.next().ok_or("missing timestamp (backtest data needs one per sample, in Unix seconds)")?;
    if let Some(extra) = fields.next() {
        // OpenMetrics exemplars (`# {...}`) are allowed and ignored.
        if extra != "#" {
            return Err(format!("unexpected {extra:?} after the timestamp"));
        }
    }
    let secs: f64 = ts.parse().map_err(|_| format!("invalid timestamp {ts:?}"))?;
    if !secs.is_finite() || secs.abs() > 1e14 {
        return Err(format!("timestamp out of range {ts:?}"));
    }
    let mut seen: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("duplicate label {:?}", w[0]));
    }
    Ok((Labels::new(pairs), (secs * 1000.0).round() as i64, value))
}

/// Label pairs after `{` up to and including `}`; returns the rest of the line.
fn parse_labels<'a>(mut s: &'a str, out: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let end = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
        let name = &s[..end];
        if !name.starts_with(is_name_start) {
            return Err(format!("expected a label name at {s:?}"));
        }
        s = s[end..].trim_start().strip_prefix('=').ok_or_else(|| format!("expected = after label {name:?}"))?;
        s = s.trim_start().strip_prefix('"').ok_or_else(|| format!("expected a quoted value for label {name:?}"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let close = loop {
            match chars.next() {
                None => return Err(format!("unterminated value of label {name:?}")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    other => return Err(format!("invalid escape {:?} in label {name:?}", other.map(|(_, c)| c))),
                },
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        s = s[close + 1..].trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err(format!("expected , or }} after label {name:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_tsdb::{Matcher, StoreConfig};

    #[test]
    fn loads_samples_in_any_order() {
        let text = "# HELP x help\n# TYPE x gauge\nx{job=\"a\",path=\"/q\\\"\"} 2 120\nx{job=\"a\",path=\"/q\\\"\"} 1 60.5\nup 1 60\nup NaN 120\n# EOF\nignored{ 1\n";
        let store = Store::new(StoreConfig::default());
        assert_eq!(load_openmetrics(text, &store, 100).unwrap(), 4);
        let x = store.select(&[Matcher::equal("__name__", "x")], 0, i64::MAX);
        assert_eq!(x.len(), 1);
        assert_eq!(x[0].labels.get("path"), Some("/q\""));
        let got: Vec<(i64, f64)> = x[0].samples.iter().map(|s| (s.t, s.v)).collect();
        assert_eq!(got, [(60_500, 1.0), (120_000, 2.0)]);
        let up = store.select(&[Matcher::equal("__name__", "up")], 0, i64::MAX);
        assert!(up[0].samples[1].v.is_nan());
    }

    #[test]
    fn errors_name_the_line() {
        let store = Store::new(StoreConfig::default());
        for (text, want) in [
            ("x 1\n", "1: missing timestamp"),
            ("\nx{a=\"b\" 1 2\n", "2: expected , or }"),
            ("x{a=b} 1 2\n", "1: expected a quoted value"),
            ("x one 2\n", "1: invalid value"),
            ("x 1 two\n", "1: invalid timestamp"),
            ("x{a=\"1\",a=\"2\"} 1 2\n", "1: duplicate label"),
            ("9x 1 2\n", "1: expected a metric name"),
        ] {
            let e = load_openmetrics(text, &store, 100).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
        assert_eq!(load_openmetrics("x 1 1\nx 1 2\n", &store, 1), Err(DataError::TooManySamples(1)));
    }
}
