//! The record field a parsing transform reads its text from: the log body or a
//! string attribute of the record.

use lookout_component::spanned_error;
use lookout_config::{ComponentDecl, ConfigError};
use lookout_event::otlp::common::v1::any_value::Value;
use lookout_event::{FieldPath, RecordMut, get_attribute};
use serde_saphyr::{Location, Spanned};

/// `body` or `attributes.KEY` (a bare `KEY` means the attribute too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextField {
    Body,
    Attribute(String),
}

/// The default `field:` of parsing transforms.
pub(crate) fn default_field() -> Spanned<String> {
    Spanned::new("body".to_string(), Location::UNKNOWN, Location::UNKNOWN)
}

impl TextField {
    /// Reads a `field:` setting; only the body and record attributes can be parsed.
    pub(crate) fn parse(value: &str) -> Option<TextField> {
        match FieldPath::parse(value) {
            FieldPath::Body => Some(TextField::Body),
            FieldPath::Attribute(k) | FieldPath::Auto(k) if !k.is_empty() => Some(TextField::Attribute(k)),
            _ => None,
        }
    }

    /// [`TextField::parse`] with an error at the setting's position.
    pub(crate) fn check(decl: &ComponentDecl, field: &Spanned<String>) -> Result<TextField, ConfigError> {
        TextField::parse(&field.value).ok_or_else(|| {
            spanned_error(
                decl,
                field,
                format!("cannot read text from `{}`: use `body` or `attributes.KEY`", field.value),
            )
        })
    }

    /// The field's text in `record`, when it is a string.
    pub(crate) fn read<'r>(&self, record: &'r RecordMut<'_>) -> Option<&'r str> {
        let value = match (self, record) {
            (TextField::Body, RecordMut::Log { record, .. }) => record.body.as_ref()?,
            (TextField::Body, _) => return None,
            (TextField::Attribute(k), RecordMut::Log { record, .. }) => get_attribute(&record.attributes, k)?,
            (TextField::Attribute(k), RecordMut::Span { span, .. }) => get_attribute(&span.attributes, k)?,
            (TextField::Attribute(k), RecordMut::Point { attributes, .. }) => get_attribute(attributes, k)?,
        };
        match &value.value {
            Some(Value::StringValue(s)) => Some(s),
            _ => None,
        }
    }

    /// Removes the field from `record` (the body is cleared, the attribute deleted).
    pub(crate) fn remove(&self, record: &mut RecordMut<'_>) {
        match self {
            TextField::Body => {
                if let Some(body) = record.body_mut() {
                    *body = None;
                }
            }
            TextField::Attribute(k) => record.attributes_mut().retain(|kv| kv.key != *k),
        }
    }
}
