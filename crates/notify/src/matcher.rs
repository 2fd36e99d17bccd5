//! Alertmanager label matchers (`pkg/labels`): `name="value"`, `!=`, `=~`, `!~`, the
//! `{a="b", c=~"d.*"}` list syntax with unquoted values allowed, and the string form
//! route keys are built from.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Deserializer};

use crate::error::MatcherError;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regexp,
    /// `!~`
    NotRegexp,
}

impl MatchType {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }
}

/// One label matcher. A missing label compares as the empty string, as in Alertmanager.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub kind: MatchType,
    /// Value (the regex source for regex matchers).
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.kind == o.kind && self.value == o.value
    }
}

impl Eq for Matcher {}

impl Matcher {
    /// Builds a matcher; regexes are anchored (`^(?:v)$`) like Alertmanager's.
    pub fn new(kind: MatchType, name: &str, value: &str) -> Result<Matcher, MatcherError> {
        let re = match kind {
            MatchType::Regexp | MatchType::NotRegexp => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| MatcherError::new(format!("error parsing regexp {value:?}: {e}")))?,
            ),
            _ => None,
        };
        Ok(Matcher { name: name.to_string(), kind, value: value.to_string(), re })
    }

    /// Whether `v` (the label's value, empty when missing) matches.
    pub fn matches(&self, v: &str) -> bool {
        match self.kind {
            MatchType::Equal => v == self.value,
            MatchType::NotEqual => v != self.value,
            MatchType::Regexp => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchType::NotRegexp => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// Whether the matcher matches a label set.
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches(labels.get(&self.name).map(String::as_str).unwrap_or(""))
    }

    /// True for `=~` and `!~`.
    pub fn is_regex(&self) -> bool {
        matches!(self.kind, MatchType::Regexp | MatchType::NotRegexp)
    }

    /// True for `=` and `=~`.
    pub fn is_equal(&self) -> bool {
        matches!(self.kind, MatchType::Equal | MatchType::Regexp)
    }
}

impl fmt::Display for Matcher {
    /// `name="value"` with OpenMetrics escaping, as `Matcher.String()` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped = self.value.replace('\\', "\\\\").replace('\n', "\\n").replace('"', "\\\"");
        write!(f, "{}{}\"{}\"", self.name, self.kind.as_str(), escaped)
    }
}

/// Matchers that must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Whether every matcher matches.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|m| m.matches_labels(labels))
    }

    /// Sorts by name, value, then operator (Alertmanager's `Matchers.Less`).
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| match a.name.cmp(&b.name) {
            Ordering::Equal => a.value.cmp(&b.value).then(a.kind.cmp(&b.kind)),
            o => o,
        });
    }
}

impl fmt::Display for Matchers {
    /// `{a="b",c=~"d"}`, the form used inside route keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

static MATCHER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$").expect("static regex")
});

/// Parses `{a="b", c!~d}` or `a=b,c="d"`: a comma-separated list, commas inside quotes kept.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    let s = s.strip_prefix('{').unwrap_or(s);
    let s = s.strip_suffix('}').unwrap_or(s);
    let mut tokens = Vec::new();
    let mut token = String::new();
    let (mut inside_quotes, mut escaped) = (false, false);
    for c in s.chars() {
        match c {
            ',' if !inside_quotes => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            ',' => {}
            '"' => {
                if escaped {
                    escaped = false;
                } else {
                    inside_quotes = !inside_quotes;
                }
            }
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    let last = token.trim();
    if !last.is_empty() {
        tokens.push(last.to_string());
    }
    tokens.iter().map(|t| parse_matcher(t)).collect()
}

/// Parses one `name<op>value` matcher; the value may be double-quoted with `\"`, `\\`, `\n` escapes.
pub fn parse_matcher(s: &str) -> Result<Matcher, MatcherError> {
    let caps = MATCHER_RE.captures(s).ok_or_else(|| MatcherError::new(format!("bad matcher format: {s}")))?;
    let raw_full = &caps[3];
    let (raw, mut expect_quote) = match raw_full.strip_prefix('"') {
        Some(r) => (r, true),
        None => (raw_full, false),
    };
    let mut value = String::with_capacity(raw.len());
    let mut escaped = false;
    let chars: Vec<(usize, char)> = raw.char_indices().collect();
    for (n, &(_, c)) in chars.iter().enumerate() {
        let last = n + 1 == chars.len();
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                _ => {
                    // A spurious escape keeps its backslash.
                    value.push('\\');
                    value.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' if !last => escaped = true,
            '\\' => value.push('\\'),
            '"' => {
                if !expect_quote || !last {
                    return Err(MatcherError::new(format!(
                        "matcher value contains unescaped double quote: {raw_full}"
                    )));
                }
                expect_quote = false;
            }
            _ => value.push(c),
        }
    }
    if expect_quote {
        return Err(MatcherError::new(format!("matcher value contains unescaped double quote: {raw_full}")));
    }
    let kind = match &caps[2] {
        "=" => MatchType::Equal,
        "!=" => MatchType::NotEqual,
        "=~" => MatchType::Regexp,
        _ => MatchType::NotRegexp,
    };
    Matcher::new(kind, &caps[1], &value)
}

/// Whether a label name is valid (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The config form of `matchers:`: a list of strings, each holding one or more matchers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigMatchers(pub Matchers);

impl<'de> Deserialize<'de> for ConfigMatchers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let lines = Vec::<String>::deserialize(d)?;
        let mut out = Vec::new();
        for l in &lines {
            out.extend(parse_matchers(l).map_err(serde::de::Error::custom)?);
        }
        let mut m = Matchers(out);
        m.sort();
        Ok(ConfigMatchers(m))
    }
}

/// A `match_re` value: the regex as written, checked at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRegex(pub String);

impl<'de> Deserialize<'de> for ConfigRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&format!("^(?:{s})$"))
            .map_err(|e| serde::de::Error::custom(format!("error parsing regexp: {e}")))?;
        Ok(ConfigRegex(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_alertmanager_syntax() {
        let ms = parse_matchers(r#"{foo="bar", baz=~"a,b|c", qux!=x, n!~"\"q\""}"#).unwrap();
        assert_eq!(ms.len(), 4);
        assert_eq!(ms[0].to_string(), r#"foo="bar""#);
        assert_eq!(ms[1].kind, MatchType::Regexp);
        assert_eq!(ms[1].value, "a,b|c");
        assert_eq!(ms[2].value, "x");
        assert_eq!(ms[3].value, "\"q\"");
        assert_eq!(ms[3].to_string(), r#"n!~"\"q\"""#);
        assert!(parse_matcher("foo").unwrap_err().to_string().starts_with("bad matcher format"));
        assert!(parse_matcher(r#"foo="a"b""#).unwrap_err().to_string().contains("unescaped double quote"));
        assert!(parse_matcher("foo=~(").is_err());
    }

    #[test]
    fn matching_treats_missing_as_empty_and_anchors_regexes() {
        let m = parse_matcher("sev=~crit").unwrap();
        assert!(m.matches_labels(&labels(&[("sev", "crit")])));
        assert!(!m.matches_labels(&labels(&[("sev", "critical")])));
        let ne = parse_matcher("team!=a").unwrap();
        assert!(ne.matches_labels(&labels(&[])));
        let empty = parse_matcher(r#"team="""#).unwrap();
        assert!(empty.matches_labels(&labels(&[])));
    }

    #[test]
    fn sorted_string_form() {
        let mut ms = Matchers(parse_matchers("b=1,a=~x,a=2").unwrap());
        ms.sort();
        assert_eq!(ms.to_string(), r#"{a="2",a=~"x",b="1"}"#);
    }
}
