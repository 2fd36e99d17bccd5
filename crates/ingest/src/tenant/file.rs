//! The tenants file: who may send, under which tenant name, with which limits and
//! destinations.
//!
//! ```yaml
//! tenants:
//!   shop:
//!     tokens: ["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
//!     limits:
//!       events_per_second: 50000     # events_burst defaults to one second's worth
//!       bytes_per_second: 20MiB      # bytes_burst likewise
//!       max_series: 100000
//!       max_request_size: 4MiB
//!     destinations:
//!       indices: ["logs-shop-*"]     # Elasticsearch indices / data streams
//!       log_groups: ["/shop/*"]      # CloudWatch Logs groups
//!       splunk_indexes: ["shop"]     # Splunk HEC `index`
//! ```
//!
//! Tokens are stored as `sha256:<hex>` of the token (`printf %s "$TOKEN" | sha256sum`),
//! so the file is not a credential itself. Errors point at `file:line:col`.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use lookout_config::{ByteSize, ConfigError, ConfigErrors, Position};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

/// The SHA-256 of a token: how tokens are written in the file and looked up.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// The hash of a token as presented by a client.
    pub fn of(token: &[u8]) -> TokenHash {
        TokenHash(Sha256::digest(token).into())
    }

    /// Parses `sha256:<64 hex digits>`.
    pub fn parse(text: &str) -> Result<TokenHash, String> {
        let hex = text.strip_prefix("sha256:").ok_or_else(|| {
            format!("a token must be written `sha256:<hex>` (the SHA-256 of the token), not {:?}", redact(text))
        })?;
        if hex.len() != 64 {
            return Err(format!("`sha256:` must be followed by 64 hex digits, found {}", hex.len()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16).ok_or_else(|| format!("`{}` is not a hex digit", c as char));
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Ok(TokenHash(out))
    }
}

/// Never echo what may be a plaintext token into an error message or a log.
fn redact(text: &str) -> String {
    if text.len() <= 4 { "…".into() } else { format!("{}…", &text[..text.floor_char_boundary(4)]) }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        TokenHash::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Per-tenant limits; an absent limit is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Records (log records, spans, metric points) accepted per second.
    pub events_per_second: Option<u32>,
    /// Records a tenant may send at once above its rate (default: one second's worth).
    pub events_burst: Option<u32>,
    /// Request bytes (as sent, before decompression) accepted per second.
    pub bytes_per_second: Option<ByteSize>,
    /// Bytes a tenant may send at once above its rate (default: one second's worth).
    pub bytes_burst: Option<ByteSize>,
    /// Live series the tenant may have in the embedded metrics store.
    pub max_series: Option<usize>,
    /// Largest request accepted from the tenant (at most the source's own
    /// `max_request_size`).
    pub max_request_size: Option<ByteSize>,
}

/// Where a tenant's records may land when a sink's destination is built from record
/// fields. Patterns are names with `*` wildcards; an absent list leaves that kind of
/// destination unrestricted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destinations {
    /// Elasticsearch indices or data streams (`elasticsearch` sink).
    pub indices: Option<Vec<String>>,
    /// CloudWatch Logs log groups (`cloudwatch_logs` sink; also what
    /// `create_missing_group` may create).
    pub log_groups: Option<Vec<String>>,
    /// Splunk indexes (`splunk_hec` sink's `index`).
    pub splunk_indexes: Option<Vec<String>>,
}

/// Whether `name` matches `pattern` (`*` matches any run of characters, nothing else
/// is special).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl Destinations {
    /// Whether `name` is allowed by `list` (`None`: no restriction).
    pub fn allows(list: Option<&[String]>, name: &str) -> bool {
        list.is_none_or(|patterns| patterns.iter().any(|p| glob_match(p, name)))
    }
}

/// One tenant.
#[derive(Debug)]
pub struct Tenant {
    /// Its name: the `tenant` resource attribute and series label.
    pub name: Arc<str>,
    /// Its limits.
    pub limits: Limits,
    /// Where its records may land.
    pub destinations: Destinations,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tenants: IndexMap<String, RawTenant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    tokens: Vec<TokenHash>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    destinations: Destinations,
}

/// A loaded tenants file: tokens → tenants.
#[derive(Debug, Default)]
pub struct Tenants {
    by_token: HashMap<TokenHash, Arc<Tenant>>,
    by_name: IndexMap<String, Arc<Tenant>>,
}

/// Tenant names become label values, index-name parts and file-name parts: keep them
/// to characters that are valid in all of those.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && !name.starts_with(['-', '_'])
}

/// The position of the first occurrence of `needle` in `text` (after `from`), for
/// errors the YAML parser cannot place.
fn find(file: &Arc<str>, text: &str, needle: &str, from: usize) -> Position {
    let at = text[from.min(text.len())..].find(needle).map_or(0, |i| i + from);
    let line = text[..at].matches('\n').count() as u64 + 1;
    let column = (at - text[..at].rfind('\n').map_or(0, |i| i + 1)) as u64 + 1;
    Position { file: file.clone(), line, column }
}

impl Tenants {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Tenants, ConfigErrors> {
        let file: Arc<str> = Arc::from(path.display().to_string());
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(Position { file: file.clone(), line: 1, column: 1 }, format!("cannot read: {e}"))
        })?;
        Tenants::parse(&file, &text)
    }

    /// Parses the text of a tenants file named `file` (for error positions).
    pub fn parse(file: &Arc<str>, text: &str) -> Result<Tenants, ConfigErrors> {
        let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| ConfigError::from_yaml(file, &e, None))?;
        let mut errors = Vec::new();
        let mut out = Tenants::default();
        for (name, t) in raw.tenants {
            let at = find(file, text, &format!("{name}:"), 0);
            if !valid_name(&name) {
                errors.push(ConfigError::new(
                    at.clone(),
                    format!("tenant name `{name}`: use 1-64 lowercase letters, digits, `_` and `-`, not starting with `_` or `-`"),
                ));
            }
            if t.tokens.is_empty() {
                errors.push(ConfigError::new(at.clone(), format!("tenant `{name}` has no tokens")));
            }
            for (key, v) in [("events_per_second", t.limits.events_per_second), ("events_burst", t.limits.events_burst)]
            {
                if v == Some(0) {
                    errors.push(ConfigError::new(find(file, text, key, 0), format!("`{key}` must be greater than 0")));
                }
            }
            for (key, v) in [
                ("bytes_per_second", t.limits.bytes_per_second),
                ("bytes_burst", t.limits.bytes_burst),
                ("max_request_size", t.limits.max_request_size),
            ] {
                match v.map(ByteSize::bytes) {
                    Some(0) => errors
                        .push(ConfigError::new(find(file, text, key, 0), format!("`{key}` must be greater than 0"))),
                    Some(b) if b > u64::from(u32::MAX) && key != "max_request_size" => errors.push(ConfigError::new(
                        find(file, text, key, 0),
                        format!("`{key}` must be at most 4GiB per second"),
                    )),
                    _ => {}
                }
            }
            let tenant =
                Arc::new(Tenant { name: Arc::from(name.as_str()), limits: t.limits, destinations: t.destinations });
            for token in t.tokens {
                if let Some(other) = out.by_token.insert(token, tenant.clone()) {
                    let hex = format!("{token:?}");
                    errors.push(ConfigError::new(
                        find(file, text, &hex[7..], 0),
                        format!(
                            "this token is also given to tenant `{}`: a token names exactly one tenant",
                            other.name
                        ),
                    ));
                }
            }
            out.by_name.insert(name, tenant);
        }
        if errors.is_empty() { Ok(out) } else { Err(ConfigErrors(errors).sorted()) }
    }

    /// The tenant a presented token belongs to.
    pub fn authenticate(&self, token: &[u8]) -> Option<&Arc<Tenant>> {
        self.by_token.get(&TokenHash::of(token))
    }

    /// A tenant by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Tenant>> {
        self.by_name.get(name)
    }

    /// Every tenant, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_HASH: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn parse(text: &str) -> Result<Tenants, String> {
        Tenants::parse(&Arc::from("tenants.yaml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn hashes_tokens_and_finds_their_tenant() {
        // sha256("test")
        assert_eq!(TokenHash::of(b"test"), TokenHash::parse(TEST_HASH).unwrap());
        let text = format!(
            "tenants:\n  shop:\n    tokens: [\"{TEST_HASH}\"]\n    limits: {{ events_per_second: 50000, bytes_per_second: 20MiB, max_series: 100000 }}\n  other:\n    tokens: [\"sha256:{}\"]\n",
            "ab".repeat(32)
        );
        let t = parse(&text).unwrap();
        let shop = t.authenticate(b"test").unwrap();
        assert_eq!(&*shop.name, "shop");
        assert_eq!(shop.limits.events_per_second, Some(50000));
        assert_eq!(shop.limits.bytes_per_second, Some(ByteSize(20 * 1024 * 1024)));
        assert_eq!(shop.limits.max_series, Some(100000));
        assert!(t.authenticate(b"tesT").is_none());
        assert!(t.authenticate(b"").is_none());
        assert_eq!(t.iter().map(|t| &*t.name).collect::<Vec<_>>(), ["shop", "other"]);
    }

    #[test]
    fn errors_point_into_the_file() {
        let e = parse("tenants:\n  shop:\n    tokens: [\"plain-secret-token\"]\n").unwrap_err();
        assert!(e.starts_with("tenants.yaml:3:"), "{e}");
        assert!(e.contains("sha256:<hex>") && !e.contains("plain-secret-token"), "{e}");
        let e = parse("tenants:\n  shop:\n    tokens: [\"sha256:abcd\"]\n").unwrap_err();
        assert!(e.starts_with("tenants.yaml:3:") && e.contains("64 hex digits"), "{e}");
        let e = parse("tenants:\n  shop:\n    tokens: []\n    limits: { event_per_second: 5 }\n").unwrap_err();
        assert!(e.starts_with("tenants.yaml:4:") && e.contains("event_per_second"), "{e}");
        let e = parse(&format!("tenants:\n  Shop:\n    tokens: [\"{TEST_HASH}\"]\n")).unwrap_err();
        assert!(e.starts_with("tenants.yaml:2:3: tenant name `Shop`"), "{e}");
        let e = parse(&format!("tenants:\n  a:\n    tokens: [\"{TEST_HASH}\"]\n  b:\n    tokens: [\"{TEST_HASH}\"]\n"))
            .unwrap_err();
        assert!(e.contains("also given to tenant `a`"), "{e}");
        let e =
            parse(&format!("tenants:\n  a:\n    tokens: [\"{TEST_HASH}\"]\n    limits:\n      bytes_per_second: 0\n"))
                .unwrap_err();
        assert!(e.starts_with("tenants.yaml:5:7: `bytes_per_second` must be greater than 0"), "{e}");
    }

    #[test]
    fn destination_patterns() {
        assert!(glob_match("logs-shop-*", "logs-shop-2026.11.20"));
        assert!(glob_match("logs-shop-*", "logs-shop-"));
        assert!(!glob_match("logs-shop-*", "logs-other-1"));
        assert!(glob_match("*-shop-*", "logs-shop-1"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(glob_match("a*b*c", "a-b-b-c"));
        assert!(!glob_match("a*b*c", "a-c"));
        assert!(glob_match("*", ""));
        assert!(Destinations::allows(None, "anything"));
        assert!(!Destinations::allows(Some(&[]), "anything"));
    }
}
