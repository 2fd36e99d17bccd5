//! `redact`: masks sensitive text in log bodies and record attributes before it is
//! stored. Built-in patterns: `email`, `credit_card` (13–19 digits, optionally split by
//! spaces or dashes, masked only when the Luhn checksum holds, so order ids and
//! timestamps survive) and `ipv4`; custom patterns are `{ name: ..., regex: ... }`.
//! Strings nested in map and array values are redacted too.
//!
//! ```yaml
//! transforms:
//!   scrub:
//!     type: redact
//!     inputs: [otlp]
//!     fields: [body, attributes.*]          # default: [body]
//!     patterns:                             # default: [email, credit_card]
//!       - email
//!       - credit_card
//!       - { name: api_key, regex: 'sk_live_[0-9a-zA-Z]{24}' }
//!     replacement: "[REDACTED:{name}]"      # default; {name} is the pattern's name
//! ```

use std::borrow::Cow;
use std::fmt;

use lookout_component::{BuildError, Transform, TransformConfig, TransformContext, TransformOutput, spanned_error};
use lookout_config::{ComponentDecl, ConfigError, ConfigErrors};
use lookout_event::otlp::common::v1::{AnyValue, any_value::Value};
use lookout_event::{Batch, FieldPath, RecordMut};
use regex::{Captures, NoExpand, Regex};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// `type: redact`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    /// Where to look: `body`, `attributes.KEY`, or `attributes.*` for every attribute.
    #[serde(default = "default_fields")]
    pub fields: Vec<Spanned<String>>,
    /// Built-in pattern names (`email`, `credit_card`, `ipv4`) or `{ name, regex }`.
    #[serde(default = "default_patterns")]
    pub patterns: Vec<Spanned<PatternConfig>>,
    /// What a match is replaced with; `{name}` becomes the pattern's name.
    #[serde(default = "default_replacement")]
    pub replacement: String,
}

fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

fn default_fields() -> Vec<Spanned<String>> {
    vec![unspanned("body".to_string())]
}

fn default_patterns() -> Vec<Spanned<PatternConfig>> {
    ["email", "credit_card"].map(|n| unspanned(PatternConfig::Builtin(n.to_string()))).to_vec()
}

fn default_replacement() -> String {
    "[REDACTED:{name}]".to_string()
}

/// One entry of `patterns:`.
#[derive(Debug, Clone, PartialEq)]
pub enum PatternConfig {
    /// A built-in pattern by name.
    Builtin(String),
    /// `{ name: NAME, regex: REGEX }`.
    Custom {
        /// Used in the replacement.
        name: String,
        /// The regex to mask.
        regex: String,
    },
}

impl<'de> Deserialize<'de> for PatternConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PatternConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a built-in pattern name or `{ name: NAME, regex: REGEX }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PatternConfig, E> {
                Ok(PatternConfig::Builtin(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PatternConfig, A::Error> {
                let (mut name, mut regex) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => name = Some(map.next_value::<String>()?),
                        "regex" => regex = Some(map.next_value::<String>()?),
                        other => return Err(de::Error::unknown_field(other, &["name", "regex"])),
                    }
                }
                let regex = regex.ok_or_else(|| de::Error::missing_field("regex"))?;
                Ok(PatternConfig::Custom { name: name.unwrap_or_else(|| "custom".to_string()), regex })
            }
        }
        d.deserialize_any(V)
    }
}

const BUILTINS: [&str; 3] = ["email", "credit_card", "ipv4"];

/// Why a `patterns` entry cannot be compiled.
#[derive(Debug, thiserror::Error)]
enum PatternError {
    #[error("unknown pattern `{name}`; built-in patterns: {builtins}", builtins = BUILTINS.join(", "))]
    Unknown { name: String },
    #[error("pattern `{name}`: {}", crate::regex_error(error))]
    Invalid { name: String, error: regex::Error },
}

/// A compiled pattern.
#[derive(Debug, Clone)]
struct Rule {
    regex: Regex,
    /// Masks only Luhn-valid digit runs.
    luhn: bool,
    replacement: String,
}

impl PatternConfig {
    fn compile(&self, replacement: &str) -> Result<Rule, PatternError> {
        let (name, source, luhn) = match self {
            PatternConfig::Builtin(n) => match n.as_str() {
                "email" => (
                    n,
                    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                    false,
                ),
                "credit_card" => (n, r"\b\d(?:[ -]?\d){12,18}\b", true),
                "ipv4" => {
                    (n, r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b", false)
                }
                other => {
                    return Err(PatternError::Unknown { name: other.to_string() });
                }
            },
            PatternConfig::Custom { name, regex } => (name, regex.as_str(), false),
        };
        let regex = Regex::new(source).map_err(|error| PatternError::Invalid { name: name.clone(), error })?;
        Ok(Rule { regex, luhn, replacement: replacement.replace("{name}", name) })
    }
}

/// Whether `digits` (ASCII digits, possibly with spaces and dashes) passes the Luhn
/// checksum and has 13–19 digits.
pub fn luhn_valid(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    sum.is_multiple_of(10)
}

/// Masks the longest Luhn-valid prefix of a digit run (a card number followed by more
/// digits, like `4111 1111 1111 1111 2026`), or returns the run unchanged.
fn mask_card(run: &str, replacement: &str) -> String {
    let ends = run.char_indices().filter(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i + 1);
    let ends: Vec<usize> = ends.collect();
    for &end in ends.iter().rev() {
        if luhn_valid(&run[..end]) {
            return format!("{replacement}{}", &run[end..]);
        }
    }
    run.to_string()
}

impl Rule {
    /// The text with matches masked, or `None` when nothing changed.
    fn apply(&self, text: &str) -> Option<String> {
        let replaced = if self.luhn {
            self.regex.replace_all(text, |caps: &Captures<'_>| mask_card(&caps[0], &self.replacement))
        } else {
            self.regex.replace_all(text, NoExpand(&self.replacement))
        };
        match replaced {
            Cow::Owned(s) if s != text => Some(s),
            _ => None,
        }
    }
}

/// Where `redact` looks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Body,
    Attribute(String),
    AllAttributes,
}

fn place(field: &str) -> Option<Place> {
    if field.trim() == "attributes.*" {
        return Some(Place::AllAttributes);
    }
    match FieldPath::parse(field) {
        FieldPath::Body => Some(Place::Body),
        FieldPath::Attribute(k) | FieldPath::Auto(k) if !k.is_empty() && !k.contains('*') => Some(Place::Attribute(k)),
        _ => None,
    }
}

/// A problem found while compiling a config, with the place it was written.
enum Problem<'a> {
    Field(&'a Spanned<String>, String),
    Pattern(&'a Spanned<PatternConfig>, String),
    NoPatterns,
}

impl Problem<'_> {
    fn message(&self) -> &str {
        match self {
            Problem::Field(_, m) | Problem::Pattern(_, m) => m,
            Problem::NoPatterns => "`patterns` is empty: nothing would be redacted",
        }
    }

    fn at(&self, decl: &ComponentDecl) -> ConfigError {
        let message = self.message().to_string();
        match self {
            Problem::Field(at, _) => spanned_error(decl, at, message),
            Problem::Pattern(at, _) => spanned_error(decl, at, message),
            Problem::NoPatterns => decl.error(message),
        }
    }
}

impl RedactConfig {
    fn compile(&self) -> Result<(Vec<Place>, Vec<Rule>), Vec<Problem<'_>>> {
        let mut problems = Vec::new();
        let mut places = Vec::new();
        for f in &self.fields {
            match place(&f.value) {
                Some(p) => places.push(p),
                None => problems.push(Problem::Field(
                    f,
                    format!("cannot redact `{}`: use `body`, `attributes.KEY` or `attributes.*`", f.value),
                )),
            }
        }
        let mut rules = Vec::new();
        for p in &self.patterns {
            match p.value.compile(&self.replacement) {
                Ok(rule) => rules.push(rule),
                Err(e) => problems.push(Problem::Pattern(p, e.to_string())),
            }
        }
        if self.patterns.is_empty() {
            problems.push(Problem::NoPatterns);
        }
        if problems.is_empty() { Ok((places, rules)) } else { Err(problems) }
    }
}

impl TransformConfig for RedactConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        self.compile().map(|_| ()).map_err(|p| ConfigErrors(p.iter().map(|p| p.at(decl)).collect()))
    }

    fn build(&self, _cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError> {
        let (places, rules) =
            self.compile().map_err(|p| BuildError(p.iter().map(Problem::message).collect::<Vec<_>>().join("; ")))?;
        Ok(Box::new(Redact { places, rules }))
    }
}

/// The running `redact`.
#[derive(Debug)]
pub struct Redact {
    places: Vec<Place>,
    rules: Vec<Rule>,
}

impl Redact {
    /// Redacts every string in `value`, recursing into arrays and maps.
    fn value(&self, value: &mut AnyValue) {
        match &mut value.value {
            Some(Value::StringValue(s)) => {
                let mut current: Option<String> = None;
                for rule in &self.rules {
                    if let Some(new) = rule.apply(current.as_deref().unwrap_or(s)) {
                        current = Some(new);
                    }
                }
                if let Some(new) = current {
                    *s = new;
                }
            }
            Some(Value::ArrayValue(a)) => a.values.iter_mut().for_each(|v| self.value(v)),
            Some(Value::KvlistValue(kvs)) => {
                kvs.values.iter_mut().filter_map(|kv| kv.value.as_mut()).for_each(|v| self.value(v));
            }
            _ => {}
        }
    }

    fn record(&self, record: &mut RecordMut<'_>) {
        for p in &self.places {
            match p {
                Place::Body => {
                    if let Some(Some(body)) = record.body_mut() {
                        self.value(body);
                    }
                }
                Place::Attribute(k) => {
                    if let Some(v) =
                        record.attributes_mut().iter_mut().find(|kv| kv.key == *k).and_then(|kv| kv.value.as_mut())
                    {
                        self.value(v);
                    }
                }
                Place::AllAttributes => {
                    record.attributes_mut().iter_mut().filter_map(|kv| kv.value.as_mut()).for_each(|v| self.value(v));
                }
            }
        }
    }
}

impl Transform for Redact {
    fn transform(&mut self, mut batch: Batch, out: &mut TransformOutput) {
        batch.for_each_mut(|mut r| self.record(&mut r));
        out.push(batch);
    }
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
