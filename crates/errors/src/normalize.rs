//! Messages with their variable parts replaced by placeholders, so that "order 8812
//! not found" and "order 9907 not found" are one bug when there is no stack trace to
//! tell them apart.
//!
//! Replaced, in this order (each pass sees the placeholders of the ones before, never
//! the values): e-mail addresses → `<email>`, UUIDs → `<uuid>`, quoted values (`'…'`,
//! `"…"`, `` `…` ``) → `<str>`, hex ids (`0x…`, or 8+ hex digits with a digit and a
//! letter) → `<hex>`, numbers → `<num>`. Whitespace runs become one space.

use std::sync::LazyLock;

use regex::Regex;

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").unwrap());
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b").unwrap()
});
static QUOTED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"'[^'\n]*'|"[^"\n]*"|`[^`\n]*`"#).unwrap());
static HEX_PREFIXED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b0[xX][0-9a-fA-F]+\b").unwrap());
static HEX_RUN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b[0-9a-fA-F]{8,}\b").unwrap());
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)?").unwrap());
static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").unwrap());

/// `message` with e-mails, UUIDs, quoted values, hex ids and numbers replaced.
pub fn normalize(message: &str) -> String {
    let s = EMAIL.replace_all(message, "<email>");
    let s = UUID.replace_all(&s, "<uuid>");
    let s = QUOTED.replace_all(&s, "<str>");
    let s = HEX_PREFIXED.replace_all(&s, "<hex>");
    let s = HEX_RUN.replace_all(&s, |c: &regex::Captures<'_>| {
        let run = &c[0];
        // A run of digits only is a number; of letters only, a word ("deadbeef" aside).
        if run.bytes().any(|b| b.is_ascii_digit()) && run.bytes().any(|b| b.is_ascii_alphabetic()) {
            "<hex>".to_string()
        } else {
            run.to_string()
        }
    });
    let s = NUMBER.replace_all(&s, "<num>");
    SPACES.replace_all(s.trim(), " ").into_owned()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn variable_parts_become_placeholders() {
        let cases = [
            ("order 8812 not found", "order <num> not found"),
            ("timeout after 30.5s talking to 10.0.0.7:5432", "timeout after <num>s talking to <num>.<num>:<num>"),
            ("user 7c9e6679-7425-40de-944b-e07fc1f90ae7 has no cart", "user <uuid> has no cart"),
            ("no such key: 'cart:alice'", "no such key: <str>"),
            (r#"column "price" is null"#, "column <str> is null"),
            ("mailbox bob.smith+shop@example.co.uk is full", "mailbox <email> is full"),
            ("object 0x7f3a2c1b at rest", "object <hex> at rest"),
            ("trace 4bf92f3577b34da6a3ce929d0e0e4736 failed", "trace <hex> failed"),
            ("  two   spaces\nand a line  ", "two spaces and a line"),
            ("deadline exceeded", "deadline exceeded"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input}");
        }
    }

    #[test]
    fn the_same_bug_with_other_ids_normalises_the_same() {
        assert_eq!(
            normalize("payment 1234 for alice@example.com declined: card '4242' (ref 9f8e7d6c5b4a)"),
            normalize("payment 98 for bob@example.org declined: card '0000' (ref 1a2b3c4d5e6f)")
        );
        assert_ne!(normalize("payment 1 declined"), normalize("payment 1 refunded"));
    }
}
