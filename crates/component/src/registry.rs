//! Component configs, the transform contract, and the registry of component types.

use std::fmt;

use futures::future::BoxFuture;
use indexmap::IndexMap;
use lookout_buffer::BufferConfig;
use lookout_config::{ComponentDecl, ConfigError, ConfigErrors, Position};
use lookout_event::Batch;
use serde::de::DeserializeOwned;

use crate::{SinkContext, SourceContext, TransformContext};

/// A running source or sink: resolves when it is done (after shutdown, or on failure).
pub type ComponentFuture = BoxFuture<'static, Result<(), ComponentError>>;

/// Why a running source, transform or sink stopped with a failure. Displayed as the
/// component's own error (or `panicked: MESSAGE`), which is what `/health` shows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentError {
    /// The component returned an error; it is the source, displayed as is.
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
    /// The component's task panicked, with the panic's message.
    #[error("panicked: {0}")]
    Panicked(String),
}

impl ComponentError {
    /// A failure: any error, or a message (`String`, `&str`).
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ComponentError {
        ComponentError::Failed(error.into())
    }
}

/// A component could not be built (e.g. a port already in use, a file not writable).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// A source's config: validated at load, built into a running future.
pub trait SourceConfig: fmt::Debug + Send + Sync {
    /// Checks that need more than types (regexes, addresses); errors point into the file.
    fn validate(&self, _decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        Ok(())
    }
    /// Starts the source. Binding sockets happens here, so a port in use fails the build.
    fn build(&self, cx: SourceContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>>;
}

/// A transform's config.
pub trait TransformConfig: fmt::Debug + Send + Sync {
    /// Checks that need more than types.
    fn validate(&self, _decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        Ok(())
    }
    /// Named outputs, referenced as `name.output` in `inputs:` (e.g. `route`'s routes).
    fn named_outputs(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether `inputs: [name]` (the default output) is valid.
    fn has_default_output(&self) -> bool {
        true
    }
    /// Builds the transform.
    fn build(&self, cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError>;
}

/// A sink's config.
pub trait SinkConfig: fmt::Debug + Send + Sync {
    /// Checks that need more than types.
    fn validate(&self, _decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        Ok(())
    }
    /// The sink's buffer settings.
    fn buffer(&self) -> BufferConfig;
    /// Starts the sink.
    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>>;
}

/// Where a transform puts its results.
#[derive(Debug, Default)]
pub struct TransformOutput {
    /// Batches for the default output.
    pub default: Vec<Batch>,
    /// Batches for named outputs, by index into `named_outputs()`.
    pub named: Vec<(usize, Batch)>,
    /// Events removed on purpose (filter, sample), for `discarded_events_total`.
    pub discarded: u64,
}

impl TransformOutput {
    /// Sends a batch to the default output (empty batches are skipped).
    pub fn push(&mut self, batch: Batch) {
        if !batch.is_empty() {
            self.default.push(batch);
        }
    }

    /// Sends a batch to the named output `index` (empty batches are skipped).
    pub fn push_named(&mut self, index: usize, batch: Batch) {
        if !batch.is_empty() {
            self.named.push((index, batch));
        }
    }
}

/// A synchronous batch-in, batches-out function.
pub trait Transform: Send {
    /// Processes one batch.
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput);
}

type Parser<T> = fn(&ComponentDecl) -> Result<Box<T>, ConfigErrors>;

/// A registered component type.
pub struct Entry<T: ?Sized> {
    /// One-line description for `lookout components` and docs.
    pub description: &'static str,
    /// Parses and validates a declaration of this type.
    pub parse: Parser<T>,
}

/// Every known component type, by section and `type` name.
#[derive(Default)]
pub struct Registry {
    sources: IndexMap<&'static str, Entry<dyn SourceConfig>>,
    transforms: IndexMap<&'static str, Entry<dyn TransformConfig>>,
    sinks: IndexMap<&'static str, Entry<dyn SinkConfig>>,
}

fn parse_source<C: SourceConfig + DeserializeOwned + 'static>(
    d: &ComponentDecl,
) -> Result<Box<dyn SourceConfig>, ConfigErrors> {
    let c: C = d.parse()?;
    c.validate(d)?;
    Ok(Box::new(c))
}

fn parse_transform<C: TransformConfig + DeserializeOwned + 'static>(
    d: &ComponentDecl,
) -> Result<Box<dyn TransformConfig>, ConfigErrors> {
    let c: C = d.parse()?;
    c.validate(d)?;
    Ok(Box::new(c))
}

fn parse_sink<C: SinkConfig + DeserializeOwned + 'static>(
    d: &ComponentDecl,
) -> Result<Box<dyn SinkConfig>, ConfigErrors> {
    let c: C = d.parse()?;
    c.validate(d)?;
    c.buffer().validate().map_err(|e| d.error(format!("buffer: {e}")))?;
    Ok(Box::new(c))
}

impl Registry {
    /// Registers a source type.
    pub fn source<C: SourceConfig + DeserializeOwned + 'static>(
        &mut self,
        type_name: &'static str,
        description: &'static str,
    ) {
        self.sources.insert(type_name, Entry { description, parse: parse_source::<C> });
    }

    /// Registers a transform type.
    pub fn transform<C: TransformConfig + DeserializeOwned + 'static>(
        &mut self,
        type_name: &'static str,
        description: &'static str,
    ) {
        self.transforms.insert(type_name, Entry { description, parse: parse_transform::<C> });
    }

    /// Registers a sink type.
    pub fn sink<C: SinkConfig + DeserializeOwned + 'static>(
        &mut self,
        type_name: &'static str,
        description: &'static str,
    ) {
        self.sinks.insert(type_name, Entry { description, parse: parse_sink::<C> });
    }

    fn unknown(decl: &ComponentDecl, known: Vec<&str>) -> ConfigErrors {
        decl.error(format!(
            "unknown {} type `{}`; known types: {}",
            decl.kind.as_str(),
            decl.type_name,
            known.join(", ")
        ))
        .into()
    }

    /// Parses a source declaration with its type's config.
    pub fn parse_source(&self, decl: &ComponentDecl) -> Result<Box<dyn SourceConfig>, ConfigErrors> {
        match self.sources.get(decl.type_name.as_str()) {
            Some(e) => (e.parse)(decl),
            None => Err(Self::unknown(decl, self.sources.keys().copied().collect())),
        }
    }

    /// Parses a transform declaration with its type's config.
    pub fn parse_transform(&self, decl: &ComponentDecl) -> Result<Box<dyn TransformConfig>, ConfigErrors> {
        match self.transforms.get(decl.type_name.as_str()) {
            Some(e) => (e.parse)(decl),
            None => Err(Self::unknown(decl, self.transforms.keys().copied().collect())),
        }
    }

    /// Parses a sink declaration with its type's config.
    pub fn parse_sink(&self, decl: &ComponentDecl) -> Result<Box<dyn SinkConfig>, ConfigErrors> {
        match self.sinks.get(decl.type_name.as_str()) {
            Some(e) => (e.parse)(decl),
            None => Err(Self::unknown(decl, self.sinks.keys().copied().collect())),
        }
    }

    /// `(section, type, description)` of every registered type.
    pub fn describe(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        let s = self.sources.iter().map(|(k, e)| ("source", *k, e.description));
        let t = self.transforms.iter().map(|(k, e)| ("transform", *k, e.description));
        let k = self.sinks.iter().map(|(k, e)| ("sink", *k, e.description));
        s.chain(t).chain(k).collect()
    }
}

/// The position of a value read with `serde_saphyr::Spanned` inside a component's
/// block, falling back to the component's `type` when the value was read from a
/// flow mapping (which carries no positions).
pub fn position_of(decl: &ComponentDecl, line: u64, column: u64) -> Position {
    if line == 0 {
        return decl.type_position.clone();
    }
    Position { file: decl.type_position.file.clone(), line, column }
}

/// Shorthand for an error at a `Spanned` value of a component's config.
pub fn spanned_error<T>(
    decl: &ComponentDecl,
    value: &serde_saphyr::Spanned<T>,
    message: impl Into<String>,
) -> ConfigError {
    ConfigError::new(position_of(decl, value.referenced.line(), value.referenced.column()), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_errors_display_what_health_shows() {
        let io = std::io::Error::other("disk on fire");
        let e = ComponentError::new(io);
        assert_eq!(e.to_string(), "disk on fire");
        assert!(std::error::Error::source(&e).is_none(), "transparent: the inner error is shown, not repeated");
        assert_eq!(ComponentError::new("cannot flush stdout").to_string(), "cannot flush stdout");
        assert_eq!(ComponentError::Panicked("boom".into()).to_string(), "panicked: boom");
    }
}
