//! `${VAR}` and `${VAR:-default}` interpolation, done on the raw text before parsing
//! (as Vector and the OpenTelemetry Collector do), so it works in every value.

use std::sync::Arc;

use crate::error::{ConfigError, Position};

/// Replaces `${VAR}` and `${VAR:-default}` in `text` with values from `lookup`.
/// `$$` is a literal `$`. An unset variable without a default becomes the empty string
/// and is returned in the list of warnings; a malformed reference is an error.
pub fn interpolate(
    file: &Arc<str>,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<ConfigError>), ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut warnings = Vec::new();
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        let mut col = 1u64;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            col += rest[..i].chars().count() as u64;
            let after = &rest[i + 1..];
            let pos = Position { file: file.clone(), line: line_no as u64 + 1, column: col };
            if let Some(r) = after.strip_prefix('$') {
                out.push('$');
                rest = r;
                col += 2;
            } else if let Some(body) = after.strip_prefix('{') {
                let Some(end) = body.find('}') else {
                    return Err(ConfigError::new(pos, "unclosed `${` in variable reference"));
                };
                let expr = &body[..end];
                let (name, default) = match expr.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (expr, None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(ConfigError::new(pos, format!("invalid variable name `{name}` in `${{{expr}}}`")));
                }
                match (lookup(name).filter(|v| !v.is_empty() || default.is_none()), default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => {
                        warnings.push(ConfigError::new(
                            pos,
                            format!("environment variable `{name}` is not set; using an empty string"),
                        ));
                    }
                }
                col += expr.chars().count() as u64 + 3;
                rest = &body[end + 1..];
            } else {
                out.push('$');
                col += 1;
                rest = after;
            }
        }
        out.push_str(rest);
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<(String, Vec<ConfigError>), ConfigError> {
        let env = |k: &str| match k {
            "ENVIRONMENT" => Some("prod".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        interpolate(&Arc::from("f.yaml"), text, &env)
    }

    #[test]
    fn substitutes_defaults_and_escapes() {
        let (s, w) = run("a: ${ENVIRONMENT}\nb: ${MISSING:-dev}\nc: $$HOME\nd: ${EMPTY:-x}\n").unwrap();
        assert_eq!(s, "a: prod\nb: dev\nc: $HOME\nd: x\n");
        assert!(w.is_empty());
    }

    #[test]
    fn warns_on_unset_without_default() {
        let (s, w) = run("token: ${SPLUNK_HEC_TOKEN}\n").unwrap();
        assert_eq!(s, "token: \n");
        assert_eq!(
            w[0].to_string(),
            "f.yaml:1:8: environment variable `SPLUNK_HEC_TOKEN` is not set; using an empty string"
        );
    }

    #[test]
    fn rejects_malformed_references() {
        assert_eq!(
            run("x: 1\ny: ${OOPS\n").unwrap_err().to_string(),
            "f.yaml:2:4: unclosed `${` in variable reference"
        );
        assert!(run("y: ${A B}\n").is_err());
    }
}
