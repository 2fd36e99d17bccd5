//! `parse_regex`: matches a log body (or a string attribute) against a regex and
//! writes its named captures as string attributes. The regex is compiled once, at
//! load; records that do not match pass through untouched (counted in a debug log).
//!
//! ```yaml
//! transforms:
//!   access_log:
//!     type: parse_regex
//!     inputs: [otlp]
//!     pattern: '^(?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+)" (?P<status>\d{3})'
//! ```

use lookout_component::{BuildError, Transform, TransformConfig, TransformContext, TransformOutput, spanned_error};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::{Batch, any_string, set_attribute};
use regex::Regex;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::parse_json::yes;
use crate::target::{TextField, default_field};

/// `type: parse_regex`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseRegexConfig {
    /// The field to match: `body` (default) or `attributes.KEY`.
    #[serde(default = "default_field")]
    pub field: Spanned<String>,
    /// A regex with named groups (`(?P<name>...)`); each group that matched becomes an attribute.
    pub pattern: Spanned<String>,
    /// Prepended to every attribute key written.
    #[serde(default)]
    pub prefix: String,
    /// Whether captures replace existing attributes of the same name.
    #[serde(default = "yes")]
    pub overwrite: bool,
    /// Whether to clear the body (or remove the attribute) after a match.
    #[serde(default)]
    pub drop_field: bool,
}

impl TransformConfig for ParseRegexConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if let Err(e) = TextField::check(decl, &self.field) {
            errors.push(e);
        }
        match crate::check_regex(decl, &self.pattern) {
            Ok(re) if re.capture_names().flatten().next().is_none() => errors.push(spanned_error(
                decl,
                &self.pattern,
                "the pattern has no named group such as `(?P<status>\\d+)`, so it would extract nothing",
            )),
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
        if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors)) }
    }

    fn build(&self, _cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError> {
        let field = TextField::parse(&self.field.value)
            .ok_or_else(|| BuildError(format!("cannot read text from `{}`", self.field.value)))?;
        let regex = Regex::new(&self.pattern.value).map_err(|e| BuildError(crate::regex_error(&e)))?;
        let keys = regex.capture_names().map(|n| n.map(|n| format!("{}{n}", self.prefix))).collect();
        Ok(Box::new(ParseRegex {
            field,
            regex,
            keys,
            overwrite: self.overwrite,
            drop_field: self.drop_field,
            unmatched_total: 0,
        }))
    }
}

/// The running `parse_regex`.
#[derive(Debug)]
pub struct ParseRegex {
    field: TextField,
    regex: Regex,
    /// The attribute key of each capture group (`None` for unnamed groups).
    keys: Vec<Option<String>>,
    overwrite: bool,
    drop_field: bool,
    unmatched_total: u64,
}

impl Transform for ParseRegex {
    fn transform(&mut self, mut batch: Batch, out: &mut TransformOutput) {
        let mut unmatched = 0u64;
        let mut found: Vec<(usize, String)> = Vec::new();
        batch.for_each_mut(|mut record| {
            let Some(text) = self.field.read(&record) else { return };
            let Some(caps) = self.regex.captures(text) else {
                unmatched += 1;
                return;
            };
            found.clear();
            for (i, key) in self.keys.iter().enumerate() {
                if let (Some(_), Some(m)) = (key, caps.get(i)) {
                    found.push((i, m.as_str().to_string()));
                }
            }
            let attrs = record.attributes_mut();
            for (i, value) in found.drain(..) {
                let key = self.keys[i].as_deref().unwrap_or_default();
                set_attribute(attrs, key, any_string(value), self.overwrite);
            }
            if self.drop_field {
                self.field.remove(&mut record);
            }
        });
        if unmatched > 0 {
            self.unmatched_total += unmatched;
            tracing::debug!(
                unmatched,
                unmatched_total = self.unmatched_total,
                "Records not matching the pattern passed through."
            );
        }
        out.push(batch);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_util::{V, build, docs, log, logs, parse, run};

    #[test]
    fn named_captures_become_attributes() {
        let mut t = build(
            "parse_regex",
            "    pattern: '^(?P<client>\\S+) \"(?P<method>[A-Z]+) (?P<path>\\S+)\" (?P<status>\\d{3})(?: (?P<ms>\\d+)ms)?'\n    prefix: http.\n",
        );
        let batch = logs(
            None,
            vec![
                log("10.0.0.1 \"GET /a\" 200 12ms", 9, &[]),
                log("10.0.0.2 \"POST /b\" 503", 9, &[("http.status", V::S("old"))]),
                log("not an access log", 9, &[]),
            ],
        );
        let out = run(t.as_mut(), batch);
        let d = docs(&out.default[0]);
        assert_eq!(
            d[0]["attributes"],
            json!({"http.client": "10.0.0.1", "http.method": "GET", "http.path": "/a", "http.status": "200", "http.ms": "12"})
        );
        assert_eq!(d[0]["body"], "10.0.0.1 \"GET /a\" 200 12ms");
        assert_eq!(d[1]["attributes"]["http.status"], "503");
        assert!(d[1]["attributes"].get("http.ms").is_none(), "groups that did not take part are not written");
        assert_eq!(d[2]["body"], "not an access log");
        assert!(d[2].get("attributes").is_none_or(|a| a.as_object().unwrap().is_empty()));
    }

    #[test]
    fn overwrite_false_and_drop_field() {
        let mut t =
            build("parse_regex", "    pattern: 'user=(?P<user>\\w+)'\n    overwrite: false\n    drop_field: true\n");
        let out = run(t.as_mut(), logs(None, vec![log("login user=ann", 9, &[("user", V::S("root"))])]));
        let d = docs(&out.default[0]);
        assert_eq!(d[0]["attributes"], json!({"user": "root"}));
        assert!(d[0].get("body").is_none());
    }

    #[test]
    fn bad_patterns_are_reported_at_their_position() {
        let err = parse("parse_regex", "    pattern: '(?P<a>x'\n").unwrap_err();
        assert_eq!(err.to_string(), "p.yaml:8:14: invalid regex: unclosed group");
        let err = parse("parse_regex", "    pattern: 'x+'\n").unwrap_err();
        assert!(err.to_string().starts_with("p.yaml:8:14: the pattern has no named group"), "{err}");
        let err = parse("parse_regex", "    field: trace_id\n    pattern: '(?P<a>x)'\n").unwrap_err();
        assert!(err.to_string().starts_with("p.yaml:8:12: cannot read text from `trace_id`"), "{err}");
    }
}
