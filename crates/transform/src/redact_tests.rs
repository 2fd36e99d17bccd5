use serde_json::json;

use super::luhn_valid;
use crate::test_util::{V, bodies, build, docs, log, logs, parse, run};

fn redact(config: &str, body: &str) -> String {
    let mut t = build("redact", config);
    let out = run(t.as_mut(), logs(None, vec![log(body, 9, &[])]));
    bodies(&out.default[0]).remove(0)
}

#[test]
fn luhn() {
    assert!(luhn_valid("4111111111111111"));
    assert!(luhn_valid("4111 1111 1111 1111"));
    assert!(luhn_valid("5500-0000-0000-0004"));
    assert!(luhn_valid("378282246310005"));
    assert!(!luhn_valid("4111111111111112"));
    assert!(!luhn_valid("1234567812345678"));
    assert!(!luhn_valid("0000"), "too short even though the checksum holds");
}

#[test]
fn masks_emails_and_luhn_valid_cards_only() {
    assert_eq!(
        redact("", "user ann.lee+x@mail.example.com paid with 4111 1111 1111 1111 ok"),
        "user [REDACTED:email] paid with [REDACTED:credit_card] ok"
    );
    assert_eq!(redact("", "card 5500-0000-0000-0004."), "card [REDACTED:credit_card].");
    // Digit runs that fail the checksum are left alone: order ids, timestamps.
    assert_eq!(redact("", "order 1234567812345678 at 1700000000123"), "order 1234567812345678 at 1700000000123");
    assert_eq!(redact("", "no secrets here"), "no secrets here");
    // A card number followed by more digits: the valid prefix is masked.
    assert_eq!(redact("", "4111111111111111 2026"), "[REDACTED:credit_card] 2026");
}

#[test]
fn custom_patterns_fields_and_replacement() {
    let config = "    fields: [body, attributes.*]\n    patterns:\n      - ipv4\n      - { name: token, regex: 'tok_[a-z0-9]{6}' }\n    replacement: '***{name}***'\n";
    let mut t = build("redact", config);
    let batch = logs(
        None,
        vec![log(
            "from 10.1.2.3 with tok_abc123",
            9,
            &[("client", V::S("192.168.0.1")), ("n", V::I(4)), ("email", V::S("a@b.io"))],
        )],
    );
    let out = run(t.as_mut(), batch);
    let d = docs(&out.default[0]);
    assert_eq!(d[0]["body"], "from ***ipv4*** with ***token***");
    assert_eq!(d[0]["attributes"], json!({"client": "***ipv4***", "n": 4, "email": "a@b.io"}));
}

#[test]
fn only_named_attributes_and_nested_values() {
    let mut t = build("redact", "    fields: [attributes.user]\n");
    let mut record = log("ann@x.io", 9, &[("user", V::S("ann@x.io")), ("other", V::S("bob@x.io"))]);
    let nested = crate::parse_json::to_any(json!({"contact": ["c@d.org", 1]})).unwrap();
    record.attributes[0].value = Some(nested);
    let out = run(t.as_mut(), logs(None, vec![record]));
    let d = docs(&out.default[0]);
    assert_eq!(d[0]["body"], "ann@x.io", "body not listed");
    assert_eq!(d[0]["attributes"]["user"], json!({"contact": ["[REDACTED:email]", 1]}));
    assert_eq!(d[0]["attributes"]["other"], "bob@x.io");
}

#[test]
fn config_errors_point_at_the_entry() {
    let err = parse("redact", "    patterns:\n      - email\n      - phone\n").unwrap_err();
    assert_eq!(err.to_string(), "p.yaml:10:9: unknown pattern `phone`; built-in patterns: email, credit_card, ipv4");
    let err = parse("redact", "    patterns:\n      - { name: bad, regex: 'a(' }\n").unwrap_err();
    assert!(err.to_string().contains("pattern `bad`: invalid regex: unclosed group"), "{err}");
    let err = parse("redact", "    fields: [resource.x]\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "p.yaml:8:14: cannot redact `resource.x`: use `body`, `attributes.KEY` or `attributes.*`"
    );
    let err = parse("redact", "    patterns: []\n").unwrap_err();
    assert!(err.to_string().ends_with("`patterns` is empty: nothing would be redacted"), "{err}");
}
