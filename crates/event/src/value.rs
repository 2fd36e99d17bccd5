//! Values read out of records, and attribute helpers.

use std::borrow::Cow;
use std::fmt;

use crate::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};

/// A value read from a record field. Strings borrow from the record where they can.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// A string (also hex trace/span ids and enum names).
    Str(Cow<'a, str>),
    /// A 64-bit integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// An array, map or bytes value, kept as OTLP has it.
    Any(&'a AnyValue),
}

impl<'a> FieldValue<'a> {
    /// Converts an OTLP value; `None` for an empty `AnyValue`.
    pub fn from_any(v: &'a AnyValue) -> Option<Self> {
        Some(match v.value.as_ref()? {
            Value::StringValue(s) => FieldValue::Str(Cow::Borrowed(s)),
            Value::IntValue(i) => FieldValue::Int(*i),
            Value::DoubleValue(d) => FieldValue::Double(*d),
            Value::BoolValue(b) => FieldValue::Bool(*b),
            _ => FieldValue::Any(v),
        })
    }

    /// The value as a number, if it is one or is a string that parses as one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Int(i) => Some(*i as f64),
            FieldValue::Double(d) => Some(*d),
            FieldValue::Str(s) => s.trim().parse().ok(),
            FieldValue::Bool(_) | FieldValue::Any(_) => None,
        }
    }

    /// The value as a string slice when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Str(s) => f.write_str(s),
            FieldValue::Int(i) => write!(f, "{i}"),
            FieldValue::Double(d) => write!(f, "{d}"),
            FieldValue::Bool(b) => write!(f, "{b}"),
            FieldValue::Any(v) => {
                let mut out = Vec::new();
                crate::encode::write_any(&mut out, v);
                f.write_str(&String::from_utf8_lossy(&out))
            }
        }
    }
}

/// Builds a string `AnyValue`.
pub fn any_string(s: impl Into<String>) -> AnyValue {
    AnyValue { value: Some(Value::StringValue(s.into())) }
}

/// Finds an attribute by key.
pub fn get_attribute<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref())
}

/// Sets an attribute, replacing an existing one with the same key. With
/// `overwrite == false` an existing attribute is left as it is.
pub fn set_attribute(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue, overwrite: bool) {
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) if overwrite => kv.value = Some(value),
        Some(_) => {}
        None => attrs.push(KeyValue { key: key.to_string(), value: Some(value), ..Default::default() }),
    }
}
