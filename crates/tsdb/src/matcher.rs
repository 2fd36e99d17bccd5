//! Prometheus label matchers: `=`, `!=`, `=~`, `!~` (regexes fully anchored).

use regex::Regex;

use crate::Labels;

/// A matcher's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

/// One label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The operator.
    pub op: MatchOp,
    /// The value or pattern.
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// A matcher; regexes are anchored as Prometheus anchors them.
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Matcher, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(Regex::new(&format!("^(?s:{value})$"))?),
            _ => None,
        };
        Ok(Matcher { name: name.into(), op, value, regex })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher { name: name.into(), op: MatchOp::Equal, value: value.into(), regex: None }
    }

    /// Whether a label value (`""` when absent) matches.
    pub fn matches_value(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// Whether a series matches.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }
}
