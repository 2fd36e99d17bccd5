//! Which group an exception belongs to: its fingerprint, title and culprit.
//!
//! In order, the first that applies decides (as Sentry does):
//!
//! 1. a `fingerprint` attribute on the record (the application knows best);
//! 2. the first `fingerprint_rules` entry whose `type` and `message` regexes match;
//! 3. the exception type + the top `stack_frames` in-app frames of the stack trace
//!    (function and file, no line numbers), or the top frames when none is in-app;
//! 4. the exception type + the message, normalised ([`crate::normalize`]).
//!
//! A fingerprint given by the user (1, 2) is kept as written when it is a short slug
//! (`[A-Za-z0-9][A-Za-z0-9._-]{0,63}`), so alerts and URLs show it; anything else, and
//! every computed one, is the first 128 bits of a SHA-256 in hex.

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::frames::{self, Frame};
use crate::normalize::normalize;

/// An exception as the OpenTelemetry semantic conventions record it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exception {
    /// `exception.type`, e.g. `KeyError`, `java.lang.IllegalStateException`.
    pub r#type: String,
    /// `exception.message`.
    pub message: String,
    /// `exception.stacktrace`, as the language prints it.
    pub stacktrace: Option<String>,
    /// A `fingerprint` attribute set by the application.
    pub fingerprint: Option<String>,
}

/// A `fingerprint_rules` entry, compiled: records whose type and message match get
/// `fingerprint`.
#[derive(Debug, Clone)]
pub struct FingerprintRule {
    /// Matched against `exception.type` (unanchored, like Prometheus' `=~` is not: use `^…$`).
    pub r#type: Option<Regex>,
    /// Matched against `exception.message`.
    pub message: Option<Regex>,
    /// The group's fingerprint for matching exceptions.
    pub fingerprint: String,
}

impl FingerprintRule {
    fn matches(&self, e: &Exception) -> bool {
        self.r#type.as_ref().is_none_or(|r| r.is_match(&e.r#type))
            && self.message.as_ref().is_none_or(|r| r.is_match(&e.message))
    }
}

/// What decided a fingerprint (shown by the API, so a user can see why two errors are
/// in one group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The record's `fingerprint` attribute.
    Attribute,
    /// A `fingerprint_rules` entry.
    Rule,
    /// Type and stack frames.
    StackTrace,
    /// Type and normalised message.
    Message,
}

/// An exception's group identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The group key.
    pub fingerprint: String,
    /// `Type: first line of the message`, at most 200 characters.
    pub title: String,
    /// The top in-app frame (`function (file:line)`), or the top frame; empty without a trace.
    pub culprit: String,
    /// What decided the fingerprint.
    pub basis: Basis,
}

/// Computes identities with the configured rules.
#[derive(Debug, Clone)]
pub struct Fingerprinter {
    rules: Vec<FingerprintRule>,
    stack_frames: usize,
}

impl Fingerprinter {
    /// With `rules` (first match wins) and the number of top in-app frames hashed.
    pub fn new(rules: Vec<FingerprintRule>, stack_frames: usize) -> Fingerprinter {
        Fingerprinter { rules, stack_frames: stack_frames.max(1) }
    }

    /// The identity of `e`.
    pub fn identify(&self, e: &Exception) -> Identity {
        let frames = e.stacktrace.as_deref().map(frames::parse).unwrap_or_default();
        let in_app: Vec<&Frame> = frames.iter().filter(|f| f.in_app).collect();
        let top: Vec<&Frame> = if in_app.is_empty() { frames.iter().take(self.stack_frames).collect() } else { in_app };
        let culprit = top.first().map(|f| f.display()).unwrap_or_default();
        let title = title(e);
        let given = |basis, value: &str| Identity {
            fingerprint: user_fingerprint(value),
            title: title.clone(),
            culprit: culprit.clone(),
            basis,
        };
        if let Some(f) = e.fingerprint.as_deref().filter(|f| !f.trim().is_empty()) {
            return given(Basis::Attribute, f);
        }
        if let Some(rule) = self.rules.iter().find(|r| r.matches(e)) {
            return given(Basis::Rule, &rule.fingerprint);
        }
        let (basis, fingerprint) = if top.is_empty() {
            (Basis::Message, hash(["message", &e.r#type, &normalize(&e.message)]))
        } else {
            let mut parts = vec!["stack".to_string(), e.r#type.clone()];
            parts.extend(top.iter().take(self.stack_frames).map(|f| f.identity()));
            (Basis::StackTrace, hash(parts.iter().map(String::as_str)))
        };
        Identity { fingerprint, title, culprit, basis }
    }
}

impl Identity {
    /// The identity within `tenant`'s groups: tenants never share a group (their counts,
    /// samples and states stay apart), so a tenant's fingerprint is its own. A user's
    /// slug becomes `TENANT.SLUG` when that is still a slug; anything else is hashed
    /// with the tenant. No tenant: unchanged.
    pub fn for_tenant(mut self, tenant: &str) -> Identity {
        if tenant.is_empty() {
            return self;
        }
        let prefixed = format!("{tenant}.{}", self.fingerprint);
        self.fingerprint = match self.basis {
            Basis::Attribute | Basis::Rule if is_slug(&prefixed) => prefixed,
            _ => hash(["tenant", tenant, &self.fingerprint]),
        };
        self
    }
}

/// Whether `s` is kept as written when a user gives it as a fingerprint.
pub fn is_slug(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

fn user_fingerprint(value: &str) -> String {
    if is_slug(value) { value.to_string() } else { hash(["custom", value]) }
}

fn hash<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn title(e: &Exception) -> String {
    let first_line = e.message.lines().next().unwrap_or("").trim();
    let t = match (e.r#type.is_empty(), first_line.is_empty()) {
        (false, false) => format!("{}: {first_line}", e.r#type),
        (false, true) => e.r#type.clone(),
        (true, false) => first_line.to_string(),
        (true, true) => "(no type or message)".to_string(),
    };
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python_key_error(order: u32, line: u32) -> Exception {
        Exception {
            r#type: "KeyError".into(),
            message: format!("'order {order} not found'"),
            stacktrace: Some(format!(
                "Traceback (most recent call last):\n  File \"/srv/releases/{order}/app/checkout.py\", line {line}, in charge\n    load(order)\n  File \"/srv/app/orders.py\", line 17, in load_order\n    raise KeyError(order)\nKeyError: 'order {order} not found'\n"
            )),
            fingerprint: None,
        }
    }

    #[test]
    fn same_frames_other_ids_lines_and_paths_are_one_group() {
        let f = Fingerprinter::new(Vec::new(), 3);
        let a = f.identify(&python_key_error(8812, 42));
        let b = f.identify(&python_key_error(9907, 45));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.basis, Basis::StackTrace);
        assert_eq!(a.fingerprint.len(), 32);
        assert_eq!(a.culprit, "load_order (orders.py:17)");
        assert_eq!(a.title, "KeyError: 'order 8812 not found'");
    }

    #[test]
    fn another_type_or_function_is_another_group() {
        let f = Fingerprinter::new(Vec::new(), 3);
        let a = f.identify(&python_key_error(1, 42));
        let mut other_type = python_key_error(1, 42);
        other_type.r#type = "ValueError".into();
        assert_ne!(a.fingerprint, f.identify(&other_type).fingerprint);
        let mut other_function = python_key_error(1, 42);
        other_function.stacktrace = other_function.stacktrace.map(|s| s.replace("in load_order", "in load_cart"));
        assert_ne!(a.fingerprint, f.identify(&other_function).fingerprint);
    }

    #[test]
    fn without_a_trace_the_normalised_message_decides() {
        let f = Fingerprinter::new(Vec::new(), 3);
        let e = |m: &str| Exception { r#type: "Timeout".into(), message: m.into(), ..Default::default() };
        let a =
            f.identify(&e("call to 10.0.0.7 timed out after 3000 ms (request 7c9e6679-7425-40de-944b-e07fc1f90ae7)"));
        let b =
            f.identify(&e("call to 10.0.0.9 timed out after 2990 ms (request 0f9e6679-7425-40de-944b-e07fc1f90ae8)"));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.basis, Basis::Message);
        assert_eq!(a.culprit, "");
        assert_ne!(a.fingerprint, f.identify(&e("connection reset")).fingerprint);
        // An unparsable trace falls back to the message too.
        let mut junk = e("x 1");
        junk.stacktrace = Some("no frames here".into());
        assert_eq!(f.identify(&junk).basis, Basis::Message);
    }

    #[test]
    fn attribute_then_rules_override_the_computed_fingerprint() {
        let rule = FingerprintRule {
            r#type: Some(Regex::new("^(KeyError|LookupError)$").unwrap()),
            message: Some(Regex::new("not found").unwrap()),
            fingerprint: "order-missing".into(),
        };
        let f = Fingerprinter::new(vec![rule], 3);
        let a = f.identify(&python_key_error(1, 42));
        assert_eq!((a.fingerprint.as_str(), a.basis), ("order-missing", Basis::Rule));
        assert_eq!(a.culprit, "load_order (orders.py:17)", "the culprit is still the frame");
        let mut given = python_key_error(1, 42);
        given.fingerprint = Some("checkout/charge failures".into());
        let g = f.identify(&given);
        assert_eq!(g.basis, Basis::Attribute);
        assert_eq!(g.fingerprint.len(), 32, "not a slug: hashed");
        given.fingerprint = Some("charge-v2".into());
        assert_eq!(f.identify(&given).fingerprint, "charge-v2");
    }

    #[test]
    fn only_in_app_frames_count_and_library_only_traces_use_the_top_frames() {
        let f = Fingerprinter::new(Vec::new(), 2);
        let trace = |lib_line: u32| Exception {
            r#type: "java.lang.IllegalStateException".into(),
            message: "closed".into(),
            stacktrace: Some(format!(
                "java.lang.IllegalStateException: closed\n\tat java.util.Objects.check(Objects.java:{lib_line})\n\tat com.shop.Order.pay(Order.java:9)\n\tat com.shop.Api.post(Api.java:3)\n\tat com.shop.Main.main(Main.java:1)\n"
            )),
            fingerprint: None,
        };
        let a = f.identify(&trace(10));
        assert_eq!(a.culprit, "com.shop.Order.pay (Order.java:9)");
        assert_eq!(a.fingerprint, f.identify(&trace(99)).fingerprint);
        let library = Exception {
            r#type: "java.net.ConnectException".into(),
            message: "refused".into(),
            stacktrace: Some("x\n\tat java.net.Socket.connect(Socket.java:1)\n".into()),
            fingerprint: None,
        };
        assert_eq!(f.identify(&library).culprit, "java.net.Socket.connect (Socket.java:1)");
    }

    #[test]
    fn tenants_never_share_a_group() {
        let f = Fingerprinter::new(Vec::new(), 3);
        let id = f.identify(&python_key_error(1, 42));
        let (shop, blog) = (id.clone().for_tenant("shop"), id.clone().for_tenant("blog"));
        assert_ne!(shop.fingerprint, blog.fingerprint);
        assert_ne!(shop.fingerprint, id.fingerprint);
        assert_eq!(shop.fingerprint.len(), 32);
        assert_eq!(id.clone().for_tenant(""), id);
        let mut given = python_key_error(1, 42);
        given.fingerprint = Some("charge-v2".into());
        assert_eq!(f.identify(&given).for_tenant("shop").fingerprint, "shop.charge-v2");
    }

    #[test]
    fn titles_are_bounded_and_never_empty() {
        let long = Exception { r#type: "E".into(), message: "x".repeat(500), ..Default::default() };
        assert_eq!(title(&long).chars().count(), 201);
        assert_eq!(title(&Exception::default()), "(no type or message)");
        assert_eq!(title(&Exception { message: "a\nb".into(), ..Default::default() }), "a");
    }
}
