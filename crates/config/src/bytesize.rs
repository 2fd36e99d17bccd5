//! Sizes in bytes as users write them: `1GiB`, `256MiB`, `512KB`, `4096`.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A size in bytes. Deserializes from a number or a string with a unit: `B`, `KB`/`MB`/
/// `GB`/`TB` (powers of 1000), `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024), as Vector and
/// Kubernetes users write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `text` (see the type's doc).
    pub fn parse(text: &str) -> Result<ByteSize, ByteSizeError> {
        let t = text.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let number: f64 = number.parse().map_err(|_| ByteSizeError::NotANumber(text.to_string()))?;
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" | "K" | "k" => 1000,
            "MB" | "M" => 1000u64.pow(2),
            "GB" | "G" => 1000u64.pow(3),
            "TB" | "T" => 1000u64.pow(4),
            "KiB" | "Ki" => 1 << 10,
            "MiB" | "Mi" => 1 << 20,
            "GiB" | "Gi" => 1 << 30,
            "TiB" | "Ti" => 1 << 40,
            other => return Err(ByteSizeError::UnknownUnit { text: text.to_string(), unit: other.to_string() }),
        };
        let bytes = number * scale as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(ByteSizeError::OutOfRange(text.to_string()));
        }
        Ok(ByteSize(bytes as u64))
    }
}

/// A size that does not parse; each case holds the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ByteSizeError {
    /// No number in front of the unit.
    #[error("invalid size {0:?}: expected e.g. 256MiB")]
    NotANumber(String),
    /// A unit other than `B`, `KB`/`MB`/`GB`/`TB` or `KiB`/`MiB`/`GiB`/`TiB`.
    #[error("invalid size {text:?}: unknown unit {unit:?} (use B, KiB, MiB, GiB, KB, MB, GB)")]
    UnknownUnit {
        /// The text.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// Negative or more than a `u64` holds.
    #[error("invalid size {0:?}: out of range")]
    OutOfRange(String),
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b >= scale && b.is_multiple_of(scale) {
                return write!(f, "{}{unit}", b / scale);
            }
        }
        write!(f, "{b}B")
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => ByteSize::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(ByteSize::parse("1GiB").unwrap().bytes(), 1 << 30);
        assert_eq!(ByteSize::parse("256MiB").unwrap().bytes(), 256 << 20);
        assert_eq!(ByteSize::parse("20MB").unwrap().bytes(), 20_000_000);
        assert_eq!(ByteSize::parse("4096").unwrap().bytes(), 4096);
        assert_eq!(ByteSize::parse("1.5KiB").unwrap().bytes(), 1536);
        assert!(ByteSize::parse("12 parsecs").unwrap_err().to_string().contains("unknown unit"));
        assert!(ByteSize::parse("MiB").is_err());
        assert_eq!(ByteSize(1 << 30).to_string(), "1GiB");
    }
}
