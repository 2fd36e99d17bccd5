//! The query text before parsing: Prometheus 2's `holt_winters` renamed, and a bound on
//! how deeply the expression can nest, found by scanning the text (outside string
//! literals and comments) without recursion.

use std::borrow::Cow;

/// An upper bound of the expression tree's depth: the deepest bracket nesting plus the
/// number of operators (each binary or unary operator can add one level: `1+1+…` and
/// `---1` nest without brackets). Label matchers (`=` inside `{}`) are not operators.
pub(crate) fn nesting_bound(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut braces, mut operators) = (0usize, 0usize, 0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'"' | b'\'' | b'`') => i = skip_string(bytes, i, q),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b => {
                match b {
                    b'(' | b'[' | b'{' => {
                        depth += 1;
                        deepest = deepest.max(depth);
                        braces += usize::from(b == b'{');
                    }
                    b')' | b']' | b'}' => {
                        depth = depth.saturating_sub(1);
                        braces = braces.saturating_sub(usize::from(b == b'}'));
                    }
                    b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' | b'=' | b'!' if braces == 0 => {
                        operators += 1;
                    }
                    b if b.is_ascii_alphabetic() && (i == 0 || !is_ident(bytes[i - 1])) => {
                        let end = i + bytes[i..].iter().take_while(|b| is_ident(**b)).count();
                        if matches!(&text[i..end], "and" | "or" | "unless" | "atan2") {
                            operators += 1;
                        }
                        i = end;
                        continue;
                    }
                    _ => {}
                }
                i += 1;
            }
        }
    }
    deepest + operators
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// The index just past the string literal opened by `quote` at `start`; backslash
/// escapes do not apply to raw (`) strings.
fn skip_string(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() && bytes[i] != quote {
        i += if bytes[i] == b'\\' && quote != b'`' { 2 } else { 1 };
    }
    i + 1
}

/// `text` with each call of `holt_winters` renamed `double_exponential_smoothing`:
/// the identifier as a whole word followed by `(`, outside string literals.
pub(crate) fn rename_holt_winters(text: &str) -> Cow<'_, str> {
    const OLD: &str = "holt_winters";
    if !text.contains(OLD) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut out = String::with_capacity(text.len() + 16);
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'"' | b'\'' | b'`') => i = skip_string(bytes, i, q),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            // Bytes, not `text[i..]`: `i` may sit inside a multi-byte character.
            _ if bytes[i..].starts_with(OLD.as_bytes()) && (i == 0 || !is_ident(bytes[i - 1])) => {
                let after = i + OLD.len();
                let next = text[after..].trim_start();
                if next.starts_with('(') && !bytes.get(after).is_some_and(|b| is_ident(*b)) {
                    out.push_str(&text[copied..i]);
                    out.push_str("double_exponential_smoothing");
                    copied = after;
                }
                i = after;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied.min(text.len())..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_bound_counts_brackets_and_operators() {
        assert_eq!(nesting_bound("up"), 0);
        assert_eq!(nesting_bound("sum by (job) (rate(up{job=~\"a|b\",x!=\"(((\"}[5m]))"), 3);
        assert_eq!(nesting_bound("1 + 2 * -3"), 3);
        assert_eq!(nesting_bound("a and b or c unless d"), 3);
        assert_eq!(nesting_bound("android_or_not"), 0, "words inside names are not operators");
        assert_eq!(nesting_bound("x # (((((\n + 1"), 1, "comments skipped");
        assert_eq!(nesting_bound(&format!("{}1{}", "(".repeat(50), ")".repeat(50))), 50);
        assert_eq!(nesting_bound(&"-".repeat(70)), 70);
    }

    #[test]
    fn rename_holt_winters_handles_multibyte_text() {
        // A multi-byte character before the name once sliced a `str` inside it (fuzz find).
        assert_eq!(
            rename_holt_winters("é holt_winters(x[5m], 0.5, 0.5)"),
            "é double_exponential_smoothing(x[5m], 0.5, 0.5)"
        );
        assert_eq!(rename_holt_winters("\u{e9}holt_winters"), "\u{e9}holt_winters");
        assert_eq!(rename_holt_winters("ééholt_winters (a)"), "éédouble_exponential_smoothing (a)");
        assert_eq!(rename_holt_winters("xholt_winters(a)"), "xholt_winters(a)");
        assert_eq!(
            rename_holt_winters("\"holt_winters(\" + holt_winters(a)"),
            "\"holt_winters(\" + double_exponential_smoothing(a)"
        );
    }

    #[test]
    fn deep_expressions_are_refused_before_parsing() {
        let deep = format!("{}up{}", "abs(".repeat(2000), ")".repeat(2000));
        let e = super::super::parse(&deep).unwrap_err();
        assert!(e.contains("nested too deeply (2000 levels"), "{e}");
        assert!(super::super::parse(&format!("up{}", " + up".repeat(1001))).is_err());
        assert!(super::super::parse(&format!("up{}", " + up".repeat(999))).is_ok());
    }
}
