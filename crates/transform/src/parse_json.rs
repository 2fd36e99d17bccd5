//! `parse_json`: parses a log body (or a string attribute) holding a JSON object and
//! writes its keys as record attributes. Nested objects become OTLP map values and
//! arrays array values (so they stay nested in output documents, and conditions read
//! the top-level keys); `null` keys are skipped.
//!
//! Records whose field is not a JSON object pass through untouched; they are counted
//! and reported in a debug log line, never dropped.
//!
//! ```yaml
//! transforms:
//!   json:
//!     type: parse_json
//!     inputs: [otlp]
//!     field: body          # or attributes.KEY
//!     prefix: ""           # e.g. "json." to write json.level
//!     overwrite: true      # replace attributes of the same name
//!     drop_field: false    # clear the body / remove the attribute once parsed
//! ```

use lookout_component::{BuildError, Transform, TransformConfig, TransformContext, TransformOutput};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::otlp::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value};
use lookout_event::{Batch, any_string, set_attribute};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::target::{TextField, default_field};

/// `type: parse_json`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseJsonConfig {
    /// The field holding the JSON text: `body` (default) or `attributes.KEY`.
    #[serde(default = "default_field")]
    pub field: Spanned<String>,
    /// Prepended to every key written (e.g. `json.`).
    #[serde(default)]
    pub prefix: String,
    /// Whether parsed keys replace existing attributes of the same name.
    #[serde(default = "yes")]
    pub overwrite: bool,
    /// Whether to clear the body (or remove the attribute) once parsed.
    #[serde(default)]
    pub drop_field: bool,
}

pub(crate) fn yes() -> bool {
    true
}

impl TransformConfig for ParseJsonConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        TextField::check(decl, &self.field)?;
        Ok(())
    }

    fn build(&self, _cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError> {
        let field = TextField::parse(&self.field.value)
            .ok_or_else(|| BuildError(format!("cannot read text from `{}`", self.field.value)))?;
        Ok(Box::new(ParseJson {
            field,
            prefix: self.prefix.clone(),
            overwrite: self.overwrite,
            drop_field: self.drop_field,
            unparsed_total: 0,
        }))
    }
}

/// The running `parse_json`.
#[derive(Debug)]
pub struct ParseJson {
    field: TextField,
    prefix: String,
    overwrite: bool,
    drop_field: bool,
    unparsed_total: u64,
}

/// Converts parsed JSON to an OTLP value (`None` for `null`).
pub fn to_any(v: serde_json::Value) -> Option<AnyValue> {
    use serde_json::Value as J;
    let value = match v {
        J::Null => return None,
        J::Bool(b) => Value::BoolValue(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::IntValue(i),
            None => Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => return Some(any_string(s)),
        J::Array(a) => {
            Value::ArrayValue(ArrayValue { values: a.into_iter().map(|v| to_any(v).unwrap_or_default()).collect() })
        }
        J::Object(o) => Value::KvlistValue(KeyValueList {
            values: o
                .into_iter()
                .map(|(key, v)| KeyValue { key, value: Some(to_any(v).unwrap_or_default()), ..Default::default() })
                .collect(),
        }),
    };
    Some(AnyValue { value: Some(value) })
}

/// Parses `text` when it holds a JSON object.
fn parse_object(text: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    // Most non-JSON bodies fail this check without invoking the parser.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(text).ok()
}

impl Transform for ParseJson {
    fn transform(&mut self, mut batch: Batch, out: &mut TransformOutput) {
        let mut unparsed = 0u64;
        batch.for_each_mut(|mut record| {
            let Some(text) = self.field.read(&record) else { return };
            let Some(object) = parse_object(text) else {
                unparsed += 1;
                return;
            };
            let attrs = record.attributes_mut();
            for (key, value) in object {
                let Some(value) = to_any(value) else { continue };
                if self.prefix.is_empty() {
                    set_attribute(attrs, &key, value, self.overwrite);
                } else {
                    set_attribute(attrs, &format!("{}{key}", self.prefix), value, self.overwrite);
                }
            }
            if self.drop_field {
                self.field.remove(&mut record);
            }
        });
        if unparsed > 0 {
            self.unparsed_total += unparsed;
            tracing::debug!(
                unparsed,
                unparsed_total = self.unparsed_total,
                "Records without a JSON object passed through."
            );
        }
        out.push(batch);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_util::{V, build, docs, log, logs, parse, run, span, spans};

    fn parse_docs(config: &str, batch: lookout_event::Batch) -> Vec<serde_json::Value> {
        let mut t = build("parse_json", config);
        let out = run(t.as_mut(), batch);
        assert_eq!(out.discarded, 0);
        out.default.iter().flat_map(docs).collect()
    }

    #[test]
    fn object_keys_become_attributes_and_other_bodies_pass() {
        let batch = logs(
            None,
            vec![
                log(r#"{"level":"warn","n":3,"ok":true,"f":1.5,"user":{"id":7},"tags":["a",1],"gone":null}"#, 9, &[]),
                log("plain text", 9, &[("k", V::S("v"))]),
                log("[1,2]", 9, &[]),
                log("{broken", 9, &[]),
            ],
        );
        let d = parse_docs("", batch);
        assert_eq!(d.len(), 4);
        assert_eq!(
            d[0]["attributes"],
            json!({"level": "warn", "n": 3, "ok": true, "f": 1.5, "user": {"id": 7}, "tags": ["a", 1]})
        );
        assert!(d[0]["body"].as_str().unwrap().starts_with('{'), "body kept by default");
        assert_eq!(d[1]["body"], "plain text");
        assert_eq!(d[1]["attributes"], json!({"k": "v"}));
        assert_eq!(d[2]["body"], "[1,2]");
        assert!(d[2].get("attributes").is_none_or(|a| a.as_object().unwrap().is_empty()));
        assert_eq!(d[3]["body"], "{broken");
    }

    #[test]
    fn prefix_overwrite_and_drop_field() {
        let batch = logs(None, vec![log(r#"{"a":"new","b":"x"}"#, 9, &[("j.a", V::S("old"))])]);
        let d = parse_docs("    prefix: j.\n    overwrite: false\n    drop_field: true\n", batch);
        assert_eq!(d[0]["attributes"], json!({"j.a": "old", "j.b": "x"}));
        assert!(d[0].get("body").is_none());
    }

    #[test]
    fn reads_a_string_attribute_of_spans() {
        let batch = spans(None, vec![span(1, "op", &[("payload", V::S(r#"{"order":42}"#))])]);
        let d = parse_docs("    field: attributes.payload\n    drop_field: true\n", batch);
        assert_eq!(d[0]["attributes"], json!({"order": 42}));
    }

    #[test]
    fn only_body_or_attributes_can_be_parsed() {
        let err = parse("parse_json", "    field: resource.x\n").unwrap_err();
        assert_eq!(err.to_string(), "p.yaml:8:12: cannot read text from `resource.x`: use `body` or `attributes.KEY`");
    }
}
