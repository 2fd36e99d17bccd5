//! [`Secret`]: the one type for every credential in every config file (sinks, receivers,
//! remote read/write, actuators), and the reading of their `*_file` variants.
//!
//! A secret never leaves the process by accident: `Debug` and `Display` print `<secret>`,
//! and `Serialize` writes `<secret>` (what Alertmanager and Prometheus do when they render
//! a loaded config), so a config struct can be logged, shown by `lookout check` or served
//! by a status API as it is. The value is read only through [`Secret::expose`], at the
//! one place that sends it.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret prints and serializes as.
pub const REDACTED: &str = "<secret>";

/// A credential from a config file: deserialized from a string, never printed.
///
/// ```
/// let s: lookout_config::Secret = serde_json::from_str("\"hunter2\"").unwrap();
/// assert_eq!(format!("{s:?} {s}"), "<secret> <secret>");
/// assert_eq!(serde_json::to_string(&s).unwrap(), "\"<secret>\"");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Same as [`Secret::expose`], under the name the `secrecy` crate uses.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether no value is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a `*_file` secret (see [`read_secret_file`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Secret, SecretFileError> {
        read_secret_file(path)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    /// `<secret>`, or nothing (`null`) when unset, as Alertmanager's `Secret.MarshalYAML`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() { s.serialize_none() } else { s.serialize_str(REDACTED) }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A `*_file` secret that could not be read. The message names the file, never its content.
#[derive(Debug, thiserror::Error)]
#[error("cannot read secret file {}: {source}", path.display())]
pub struct SecretFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Reads a `*_file` secret: the file's content without surrounding whitespace (the
/// trailing newline editors and `echo` add), as Prometheus and Alertmanager do with
/// `strings.TrimSpace`.
pub fn read_secret_file(path: impl AsRef<Path>) -> Result<Secret, SecretFileError> {
    let path = path.as_ref();
    std::fs::read_to_string(path)
        .map(|s| Secret(s.trim().to_string()))
        .map_err(|source| SecretFileError { path: path.to_path_buf(), source })
}

/// Why `NAME` / `NAME_file` did not give a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretSourceError {
    /// Both the inline value and the file are set.
    #[error("at most one of `{name}` and `{name}_file` must be configured")]
    Both {
        /// The field, e.g. `password`.
        name: String,
    },
    /// The file cannot be read.
    #[error(transparent)]
    File(#[from] SecretFileError),
}

/// The secret given inline or in a file (`password` / `password_file`), `None` when
/// neither is set; both set is an error naming the field.
pub fn secret_or_file(
    name: &str,
    inline: Option<&Secret>,
    file: Option<&str>,
) -> Result<Option<Secret>, SecretSourceError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(SecretSourceError::Both { name: name.to_string() }),
        (Some(s), None) => Ok(Some(s.clone())),
        (None, Some(f)) => Ok(Some(read_secret_file(f)?)),
        (None, None) => Ok(None),
    }
}

/// `serialize_with` for a URL field: written with any password in it as `<secret>`.
pub fn serialize_url<S: serde::Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url(url))
}

/// [`serialize_url`] for an optional URL.
pub fn serialize_opt_url<S: serde::Serializer>(url: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => serializer.serialize_some(&*redact_url(u)),
        None => serializer.serialize_none(),
    }
}

/// A URL as it may be shown (logs, errors, `lookout check`, status APIs, `Debug`): the
/// password of its userinfo (`http://user:password@host`) replaced by [`REDACTED`]; a URL
/// without one is borrowed as it is. Endpoint URLs are plain strings in the config (not
/// [`Secret`]s, they must be shown to be useful), so every place that shows one goes
/// through here.
///
/// ```
/// use lookout_config::redact_url;
/// assert_eq!(redact_url("http://elastic:hunter2@es:9200/x"), "http://elastic:<secret>@es:9200/x");
/// assert_eq!(redact_url("https://es:9200/a@b"), "https://es:9200/a@b");
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else { return Cow::Borrowed(url) };
    let Some(colon) = authority[..at].find(':') else { return Cow::Borrowed(url) };
    Cow::Owned(format!("{}{REDACTED}{}", &url[..start + colon + 1], &url[start + at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_or_serialized() {
        let s = Secret::new("hunter2-planted");
        assert_eq!(format!("{s:?}|{s}|{s:#?}|{s:>20}"), "<secret>|<secret>|<secret>|<secret>");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<secret>\"");
        let yaml = serde_saphyr::to_string(&std::collections::BTreeMap::from([("password", s.clone())])).unwrap();
        assert!(!yaml.contains("hunter2") && yaml.contains("<secret>"), "{yaml}");
        assert_eq!(serde_json::to_string(&Secret::default()).unwrap(), "null");
        assert_eq!(s.expose(), "hunter2-planted");
        assert_eq!(s.expose_secret(), "hunter2-planted");
    }

    #[test]
    fn deserializes_from_any_yaml_string_style() {
        #[derive(Deserialize, Debug)]
        struct C {
            a: Secret,
            b: Secret,
            c: Secret,
            d: Secret,
            e: Secret,
        }
        let c: C =
            serde_saphyr::from_str("a: plain\nb: 'single'\nc: \"dou\\tble\"\nd: |\n  lit\ne: >-\n  folded\n  text\n")
                .unwrap();
        assert_eq!(
            [c.a.expose(), c.b.expose(), c.c.expose(), c.d.expose(), c.e.expose()],
            ["plain", "single", "dou\tble", "lit\n", "folded text"]
        );
        assert!(!format!("{c:?}").contains("plain"));
        let n: Secret = serde_saphyr::from_str("12345").unwrap();
        assert_eq!(n.expose(), "12345");
    }

    #[test]
    fn reads_files_trimmed_and_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("lookout-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "s3cr3t-from-file\n").unwrap();
        assert_eq!(read_secret_file(&f).unwrap().expose(), "s3cr3t-from-file");
        assert_eq!(Secret::from_file(&f).unwrap().expose(), "s3cr3t-from-file");
        let missing = dir.join("missing");
        let e = read_secret_file(&missing).unwrap_err().to_string();
        assert!(e.starts_with(&format!("cannot read secret file {}: ", missing.display())), "{e}");

        let inline = Secret::new("x");
        assert_eq!(secret_or_file("password", None, None).unwrap(), None);
        assert_eq!(secret_or_file("password", Some(&inline), None).unwrap(), Some(inline.clone()));
        let from_file = secret_or_file("password", None, f.to_str()).unwrap().unwrap();
        assert_eq!(from_file.expose(), "s3cr3t-from-file");
        let both = secret_or_file("password", Some(&inline), f.to_str()).unwrap_err().to_string();
        assert_eq!(both, "at most one of `password` and `password_file` must be configured");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    #[test]
    fn redact_url_hides_the_userinfo_password_only() {
        use super::redact_url;
        let cases = [
            ("http://elastic:PLANTED@127.0.0.1:9200", "http://elastic:<secret>@127.0.0.1:9200"),
            ("https://u:p%40ss:w@host/path?q=a@b#f@g", "https://u:<secret>@host/path?q=a@b#f@g"),
            ("https://u:@host", "https://u:<secret>@host"),
            ("user:pw@host:9200/x", "user:<secret>@host:9200/x"),
            ("http://token@host", "http://token@host"),
            ("http://host:9200/a@b:c", "http://host:9200/a@b:c"),
            ("http://host:9200?x=u:p@h", "http://host:9200?x=u:p@h"),
            ("http://[::1]:9200", "http://[::1]:9200"),
            ("http://u:pw@[::1]:9200", "http://u:<secret>@[::1]:9200"),
            ("", ""),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        assert!(matches!(redact_url("http://host:1/x"), std::borrow::Cow::Borrowed(_)));
    }
}
