//! `enrich`: sets attributes on every record's resource (once per resource, not per
//! record) or on the records themselves, and chooses which resource attributes output
//! documents lift to the top level (`promote`).
//!
//! ```yaml
//! transforms:
//!   enrich:
//!     type: enrich
//!     inputs: [otlp]
//!     set:                                   # overwrite
//!       deployment.environment: ${ENVIRONMENT:-dev}
//!       host.name: $(hostname)               # this machine's host name
//!     add:                                   # only where absent
//!       service.version: 1.10                # always a string: "1.10", not 1.1
//!       attributes.pipeline: lookout         # a record attribute, whatever `target` says
//!     promote: [service.name, deployment.environment, "k8s.*"]
//! ```
//!
//! Values are always written as strings, exactly as they appear in the file (YAML's
//! guesses such as `no` → false or `1.10` → 1.1 do not apply): resource attributes
//! are strings in the OpenTelemetry conventions. Environment variables come from the
//! loader's `${VAR}` / `${VAR:-default}`; `$(hostname)` anywhere in a value is replaced
//! by the host name when the pipeline starts.

use std::sync::Arc;

use indexmap::IndexMap;
use lookout_component::{BuildError, Transform, TransformConfig, TransformContext, TransformOutput, spanned_error};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::otlp::common::v1::AnyValue;
use lookout_event::{Batch, Promote, any_string, set_attribute};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// `type: enrich`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// Attributes to set, replacing existing values. Keys may start with `resource.` or
    /// `attributes.` to choose where they go regardless of `target`.
    #[serde(default)]
    pub set: IndexMap<String, Spanned<Text>>,
    /// Attributes to add only where the key is absent (applied after `set`).
    #[serde(default)]
    pub add: IndexMap<String, Spanned<Text>>,
    /// Where un-prefixed keys go: `resource` (default, one write per resource) or
    /// `attributes` (every record).
    #[serde(default)]
    pub target: Target,
    /// Resource attributes written as top-level fields of output documents: exact keys
    /// or prefixes ending in `*`. Merged with patterns set by earlier transforms; `[]`
    /// leaves the batch's choice as it is.
    #[serde(default = "default_promote")]
    pub promote: Vec<String>,
}

/// Where `enrich` writes keys without a `resource.`/`attributes.` prefix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The resource attributes (shared by every record of the resource).
    #[default]
    Resource,
    /// Each record's own attributes.
    Attributes,
}

/// The default `promote` list.
pub fn default_promote() -> Vec<String> {
    ["service.name", "deployment.environment", "k8s.*"].map(String::from).to_vec()
}

/// A `set:`/`add:` value: a scalar's text as written. (A block-style config yields the
/// raw text; flow-style `{ ... }` configs are typed by the YAML parser first, so there
/// numbers and booleans are accepted and printed back.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_string(V)
    }
}

/// Written in a value, replaced by this machine's host name when the pipeline starts.
pub const HOSTNAME: &str = "$(hostname)";

/// The attribute value for a `set:`/`add:` value: the text as written, with every
/// `$(hostname)` replaced by `host`.
fn resolve(value: &str, host: &dyn Fn() -> Result<String, HostnameError>) -> Result<AnyValue, HostnameError> {
    if value.contains(HOSTNAME) { Ok(any_string(value.replace(HOSTNAME, &host()?))) } else { Ok(any_string(value)) }
}

/// `$(hostname)` cannot be resolved.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the host name: {0}")]
struct HostnameError(std::io::Error);

fn hostname() -> Result<String, HostnameError> {
    hostname::get().map(|h| h.to_string_lossy().into_owned()).map_err(HostnameError)
}

/// One attribute write.
#[derive(Debug, Clone)]
struct Write {
    key: String,
    value: AnyValue,
    overwrite: bool,
}

impl EnrichConfig {
    /// `(key, value, overwrite)` of `set` then `add`.
    fn entries(&self) -> impl Iterator<Item = (&String, &Spanned<Text>, bool)> {
        self.set.iter().map(|(k, v)| (k, v, true)).chain(self.add.iter().map(|(k, v)| (k, v, false)))
    }

    /// Where a key goes and the attribute key written there.
    fn place<'k>(&self, key: &'k str) -> (Target, &'k str) {
        if let Some(k) = key.strip_prefix("resource.") {
            (Target::Resource, k)
        } else if let Some(k) = key.strip_prefix("attributes.") {
            (Target::Attributes, k)
        } else {
            (self.target, key)
        }
    }
}

impl TransformConfig for EnrichConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        for (key, value, _) in self.entries() {
            if self.place(key).1.is_empty() {
                errors.push(spanned_error(decl, value, format!("`{key}` names no attribute")));
            }
            if let Err(e) = resolve(&value.value.0, &hostname) {
                errors.push(spanned_error(decl, value, e.to_string()));
            }
        }
        for pattern in &self.promote {
            if pattern.is_empty() || pattern.trim_end_matches('*').contains('*') {
                errors.push(decl.error(format!("promote pattern `{pattern}`: use a key or a prefix ending in `*`")));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors)) }
    }

    fn build(&self, _cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError> {
        let (mut resource, mut record) = (Vec::new(), Vec::new());
        for (key, value, overwrite) in self.entries() {
            let (target, key) = self.place(key);
            let write = Write {
                key: key.to_string(),
                value: resolve(&value.value.0, &hostname).map_err(|e| BuildError(e.to_string()))?,
                overwrite,
            };
            match target {
                Target::Resource => resource.push(write),
                Target::Attributes => record.push(write),
            }
        }
        let promote = (!self.promote.is_empty()).then(|| Arc::new(Promote::new(self.promote.iter().cloned())));
        Ok(Box::new(Enrich { resource, record, promote }))
    }
}

/// The running `enrich`.
#[derive(Debug)]
pub struct Enrich {
    resource: Vec<Write>,
    record: Vec<Write>,
    promote: Option<Arc<Promote>>,
}

fn apply(writes: &[Write], attrs: &mut Vec<lookout_event::otlp::common::v1::KeyValue>) {
    for w in writes {
        set_attribute(attrs, &w.key, w.value.clone(), w.overwrite);
    }
}

impl Transform for Enrich {
    fn transform(&mut self, mut batch: Batch, out: &mut TransformOutput) {
        if !self.resource.is_empty() {
            batch.for_each_resource_mut(|r| apply(&self.resource, &mut r.attributes));
        }
        if !self.record.is_empty() {
            batch.for_each_mut(|mut r| apply(&self.record, r.attributes_mut()));
        }
        if let Some(mine) = &self.promote {
            batch.meta.promote = Some(match batch.meta.promote.take() {
                Some(theirs) if Arc::ptr_eq(&theirs, mine) || *theirs == **mine => theirs,
                Some(theirs) => Arc::new(theirs.union(mine)),
                None => mine.clone(),
            });
        }
        out.push(batch);
    }
}

#[cfg(test)]
#[path = "enrich_tests.rs"]
mod tests;
