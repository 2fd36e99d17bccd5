//! Go's string escaping, printed byte for byte as Go prints it: `strconv.Quote` (and
//! `QuoteToASCII`, for `%+q`) and `url.QueryEscape`/`QueryUnescape`. Public because the
//! crates that must match promtool's and Alertmanager's text (rule tests, notifier group
//! keys, rule table links) print with these too, and there must be one copy.

use crate::error::FuncError;
use std::fmt::Write as _;

/// Go's `strconv.Quote`: `"…"` with `\a \b \f \n \r \t \v \" \\` escaped, other control
/// characters as `\x..`, and every other character Go's `unicode.IsPrint` rejects (format
/// characters such as U+00AD and U+FEFF, spaces other than U+0020, line and paragraph
/// separators, private use, noncharacters) as `\u....` or `\U........`.
///
/// Unassigned code points are the one knowing difference: Go escapes them, this prints them
/// as they are (the table would have to track Go's Unicode version).
///
/// ```
/// use lookout_template::quote::go_quote;
/// assert_eq!(go_quote("a\"b\\c\nd\x07é\u{feff}"), r#""a\"b\\c\nd\aé\ufeff""#);
/// ```
pub fn go_quote(s: &str) -> String {
    quote(s, false)
}

/// Go's `strconv.QuoteToASCII`: [`go_quote`], with every non-ASCII character escaped too.
///
/// ```
/// use lookout_template::quote::go_quote_to_ascii;
/// assert_eq!(go_quote_to_ascii("é☺\u{1F600}"), r#""\u00e9\u263a\U0001f600""#);
/// ```
pub fn go_quote_to_ascii(s: &str) -> String {
    quote(s, true)
}

fn quote(s: &str, ascii: bool) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if is_print(c) && (!ascii || c.is_ascii()) => o.push(c),
            '\x07' => o.push_str("\\a"),
            '\x08' => o.push_str("\\b"),
            '\x0c' => o.push_str("\\f"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\x0b' => o.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(o, "\\U{:08x}", c as u32);
            }
        }
    }
    o.push('"');
    o
}

/// Go's `unicode.IsPrint` (`strconv.IsPrint`): letters, marks, numbers, punctuation, symbols
/// and U+0020; not control (Cc) or format (Cf) characters, other spaces (Zs, Zl, Zp),
/// private use (Co) or noncharacters. Unassigned code points count as printable here.
fn is_print(c: char) -> bool {
    let u = c as u32;
    if c.is_control() {
        return false;
    }
    if u < 0xa0 {
        return true;
    }
    let not_print = matches!(u,
        // Format characters (Cf).
        0x00ad | 0x0600..=0x0605 | 0x061c | 0x06dd | 0x070f | 0x0890..=0x0891 | 0x08e2 | 0x180e
        | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff
        | 0xfff9..=0xfffb | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3
        | 0x1d173..=0x1d17a | 0xe0001 | 0xe0020..=0xe007f
        // Space separators other than U+0020 (Zs), line (Zl) and paragraph (Zp) separators.
        | 0x00a0 | 0x1680 | 0x2000..=0x200a | 0x2028 | 0x2029 | 0x202f | 0x205f | 0x3000
        // Private use (Co).
        | 0xe000..=0xf8ff | 0xf0000..=0xffffd | 0x100000..=0x10fffd
        // Noncharacters.
        | 0xfdd0..=0xfdef);
    !not_print && u & 0xfffe != 0xfffe
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
///
/// ```
/// use lookout_template::quote::query_escape;
/// assert_eq!(query_escape("up{job=\"a b\"} > 0.5"), "up%7Bjob%3D%22a+b%22%7D+%3E+0.5");
/// ```
pub fn query_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => o.push(b as char),
            b' ' => o.push('+'),
            b => {
                let _ = write!(o, "%{b:02X}");
            }
        }
    }
    o
}

/// Go's `url.QueryUnescape` (`%XX` and `+`; invalid UTF-8 is replaced, not refused).
pub(crate) fn query_unescape(s: &str) -> Result<String, FuncError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                let Some(hex) = hex else {
                    let bad: String = s[i..].chars().take(3).collect();
                    return Err(FuncError::Failed(format!("invalid URL escape {bad:?}")));
                };
                out.push(u8::from_str_radix(hex, 16).expect("checked hex"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_strconv_quote() {
        // Expected values from Go 1.22 `strconv.Quote` / `QuoteToASCII`.
        let cases = [
            ("", r#""""#),
            ("a\"b\\c\nd\te", r#""a\"b\\c\nd\te""#),
            ("\x07\x08\x0c\r\x0b", r#""\a\b\f\r\v""#),
            ("\x00\x01\x1f\x7f", r#""\x00\x01\x1f\x7f""#),
            ("é☺ ", "\"é☺ \""),
            ("\u{80}\u{9f}", r#""\u0080\u009f""#),
            ("\u{a0}\u{ad}\u{200b}\u{2028}\u{3000}\u{feff}", r#""\u00a0\u00ad\u200b\u2028\u3000\ufeff""#),
            ("\u{e000}\u{fffe}\u{10fffd}", r#""\ue000\ufffe\U0010fffd""#),
            ("\u{1F600}", "\"\u{1F600}\""),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), want, "{input:?}");
        }
        assert_eq!(go_quote_to_ascii("aé\n\u{1F600}"), r#""a\u00e9\n\U0001f600""#);
    }

    #[test]
    fn query_escape_round_trips() {
        let s = "a b/c?d=é&%";
        assert_eq!(query_escape(s), "a+b%2Fc%3Fd%3D%C3%A9%26%25");
        assert_eq!(query_unescape(&query_escape(s)).unwrap(), s);
        assert_eq!(query_unescape("%zz").unwrap_err().to_string(), r#"invalid URL escape "%zz""#);
    }
}
