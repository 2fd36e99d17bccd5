//! The rule file as written: every value with its position, unknown keys collected
//! (not fatal) so that one pass reports all of them.
//!
//! The visitors are hand-written because `deny_unknown_fields` stops at the first unknown
//! key, and serde's buffering (`flatten`) would lose the spans.

use std::fmt;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

/// A `key: value` map of strings (labels, annotations), keys and values with positions.
pub(crate) type SpannedMap = IndexMap<Spanned<String>, Spanned<String>>;

/// The whole file.
#[derive(Default)]
pub(crate) struct RawFile {
    pub groups: Option<Vec<Spanned<RawGroup>>>,
    pub unknown: Vec<Spanned<String>>,
}

/// One `groups:` entry.
#[derive(Default)]
pub(crate) struct RawGroup {
    pub name: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub query_offset: Option<Spanned<String>>,
    pub limit: Option<Spanned<String>>,
    pub labels: Option<SpannedMap>,
    pub rules: Option<Vec<Spanned<RawRule>>>,
    pub unknown: Vec<Spanned<String>>,
}

/// One `rules:` entry.
#[derive(Default)]
pub(crate) struct RawRule {
    pub record: Option<Spanned<String>>,
    pub alert: Option<Spanned<String>>,
    pub expr: Option<Spanned<String>>,
    pub for_: Option<Spanned<String>>,
    pub keep_firing_for: Option<Spanned<String>>,
    pub labels: Option<SpannedMap>,
    pub annotations: Option<SpannedMap>,
    pub unknown: Vec<Spanned<String>>,
}

/// The keys each level accepts, for "unknown field" messages.
pub(crate) const FILE_FIELDS: &[&str] = &["groups"];
pub(crate) const GROUP_FIELDS: &[&str] = &["name", "interval", "query_offset", "limit", "labels", "rules"];
pub(crate) const RULE_FIELDS: &[&str] = &["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"];

/// A scalar that YAML may have typed as a number or bool but Prometheus reads as a
/// string (`expr: 1`, `severity: 2`).
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

fn scalar<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Spanned<String>>, A::Error> {
    let s: Spanned<Scalar> = map.next_value()?;
    Ok(Some(Spanned::new(s.value.0, s.referenced, s.defined)))
}

fn string_map<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<SpannedMap>, A::Error> {
    let m: Option<IndexMap<Spanned<String>, Spanned<Scalar>>> = map.next_value()?;
    Ok(m.map(|m| m.into_iter().map(|(k, v)| (k, Spanned::new(v.value.0, v.referenced, v.defined))).collect()))
}

macro_rules! raw_visitor {
    ($ty:ident, $what:literal, |$map:ident, $out:ident, $key:ident| $body:block) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<$ty, E> {
                        Ok($ty::default())
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<$ty, A::Error> {
                        let mut $out = $ty::default();
                        while let Some($key) = $map.next_key::<Spanned<String>>()? {
                            $body
                        }
                        Ok($out)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

raw_visitor!(RawFile, "a rule file (a map with `groups`)", |map, out, key| {
    match key.value.as_str() {
        "groups" => out.groups = map.next_value()?,
        _ => {
            map.next_value::<IgnoredAny>()?;
            out.unknown.push(key);
        }
    }
});

raw_visitor!(RawGroup, "a rule group (a map with `name` and `rules`)", |map, out, key| {
    match key.value.as_str() {
        "name" => out.name = scalar(&mut map)?,
        "interval" => out.interval = scalar(&mut map)?,
        "query_offset" => out.query_offset = scalar(&mut map)?,
        "limit" => out.limit = scalar(&mut map)?,
        "labels" => out.labels = string_map(&mut map)?,
        "rules" => out.rules = map.next_value()?,
        _ => {
            map.next_value::<IgnoredAny>()?;
            out.unknown.push(key);
        }
    }
});

raw_visitor!(RawRule, "a rule (a map with `record` or `alert`, and `expr`)", |map, out, key| {
    match key.value.as_str() {
        "record" => out.record = scalar(&mut map)?,
        "alert" => out.alert = scalar(&mut map)?,
        "expr" => out.expr = scalar(&mut map)?,
        "for" => out.for_ = scalar(&mut map)?,
        "keep_firing_for" => out.keep_firing_for = scalar(&mut map)?,
        "labels" => out.labels = string_map(&mut map)?,
        "annotations" => out.annotations = string_map(&mut map)?,
        _ => {
            map.next_value::<IgnoredAny>()?;
            out.unknown.push(key);
        }
    }
});
