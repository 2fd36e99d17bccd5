//! Config errors that point at a place in a file.

use std::fmt;
use std::sync::Arc;

/// A place in a config file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The file, as the user named it.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem in a config file, displayed as `FILE:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the problem is.
    pub position: Position,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

impl ConfigError {
    /// An error at a position.
    pub fn new(position: Position, message: impl Into<String>) -> Self {
        ConfigError { position, message: message.into() }
    }

    /// Converts a YAML deserialization error, keeping its position (or `fallback`'s
    /// when the parser could not tell).
    pub fn from_yaml(file: &Arc<str>, err: &serde_saphyr::Error, fallback: Option<&Position>) -> Self {
        let plain = err.without_snippet().to_string();
        // serde-saphyr appends " at line L, column C"; the position goes in front instead.
        let message = match plain.rfind(" at line ") {
            Some(i) => plain[..i].to_string(),
            None => plain,
        };
        let position = match err.location() {
            Some(loc) if loc.line() > 0 => Position { file: file.clone(), line: loc.line(), column: loc.column() },
            _ => fallback.cloned().unwrap_or(Position { file: file.clone(), line: 1, column: 1 }),
        };
        ConfigError { position, message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.position, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one config, in file order, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Sorts by position so users read them top to bottom.
    pub fn sorted(mut self) -> Self {
        self.0.sort_by_key(|e| (e.position.line, e.position.column));
        self
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
