//! The lexer of Prometheus's series descriptions (`promql/parser/lex.go`): three
//! modes (before the metric, inside braces, in the value sequence), and errors at the
//! start of the offending token, as Prometheus reports them.

use lookout_template::quote::go_quote;

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Number(String),
    Str(String, String),
    LBrace,
    RBrace,
    Comma,
    Eql,
    EqlRegex,
    Neq,
    NeqRegex,
    Space,
    Add,
    Sub,
    Times,
    Blank,
    /// An operator other than `+`/`-` (`*`, `==`, `<=`, ...).
    Op(String),
    /// `@`.
    At,
    /// A duration (`5m`), only where PromQL has them.
    Duration(String),
    /// Other punctuation (`(`, `[`, `@`).
    Other(String),
    Eof,
}

impl Tok {
    /// Prometheus's `Item.desc()`.
    pub(super) fn desc(&self) -> String {
        match self {
            Tok::Ident(s) if s.contains(':') => format!("metric identifier {}", go_quote(s)),
            Tok::Ident(s) => format!("identifier {}", go_quote(s)),
            Tok::Number(s) => format!("number {}", item_string(s)),
            Tok::Str(_, raw) => format!("string {}", item_string(raw)),
            Tok::LBrace => "\"{\"".into(),
            Tok::RBrace => "\"}\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::Eql => "\"=\"".into(),
            Tok::EqlRegex => "<op:=~>".into(),
            Tok::Neq => "<op:!=>".into(),
            Tok::NeqRegex => "<op:!~>".into(),
            Tok::Space => "\" \"".into(),
            Tok::Add => "<op:+>".into(),
            Tok::Sub => "<op:->".into(),
            Tok::Times => "\"x\"".into(),
            Tok::Blank => "\"_\"".into(),
            Tok::Op(s) => format!("<op:{s}>"),
            // Verbatim: `AT` has no entry in Prometheus's token-name table.
            Tok::At => "\"<Item 57385>\" <op:@>".into(),
            Tok::Duration(s) => format!("duration {}", item_string(s)),
            Tok::Other(s) => go_quote(s),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// `Item.String()` of a value token: Go's `%q`, cut to 10 characters (`%.10q...`)
/// when longer.
fn item_string(v: &str) -> String {
    if v.chars().count() > 10 {
        let cut: String = v.chars().take(10).collect();
        return format!("{}...", go_quote(&cut));
    }
    go_quote(v)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Prometheus's `isAlpha`: ASCII letters and `_` only.
fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alnum(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

pub(super) struct Lexer<'a> {
    pub(super) s: &'a str,
    pub(super) pos: usize,
    /// Series-description mode: no hex numbers, `x` may follow a number.
    pub(super) series: bool,
}

pub(super) type LexResult = Result<(usize, Tok), ParseError>;

impl<'a> Lexer<'a> {
    pub(super) fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { pos, msg: msg.into() })
    }

    fn skip_spaces(&mut self) {
        while self.pos < self.s.len() && is_space(self.s.as_bytes()[self.pos]) {
            self.pos += 1;
        }
    }

    /// Prometheus `scanNumber` + `lexNumber`.
    /// `statement`: lexed as `lexNumberOrDuration` (a duration is a token there, and
    /// the error names both).
    fn number(&mut self, statement: bool) -> LexResult {
        let start = self.pos;
        let b = self.s.as_bytes();
        let mut hex = false;
        if !self.series && b[start] == b'0' && matches!(b.get(start + 1), Some(b'x' | b'X')) {
            self.pos += 2;
            hex = true;
        }
        let digit = |c: u8| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() };
        while self.pos < b.len() && digit(b[self.pos]) {
            self.pos += 1;
        }
        if self.pos < b.len() && b[self.pos] == b'.' {
            self.pos += 1;
            while self.pos < b.len() && digit(b[self.pos]) {
                self.pos += 1;
            }
        }
        if self.pos < b.len() && matches!(b[self.pos], b'e' | b'E') {
            self.pos += 1;
            if self.pos < b.len() && matches!(b[self.pos], b'+' | b'-') {
                self.pos += 1;
            }
            while self.pos < b.len() && b[self.pos].is_ascii_digit() {
                self.pos += 1;
            }
        }
        match self.peek() {
            Some('x') if self.series => {}
            Some(c) if is_alnum(c) && statement => {
                if self.remaining_duration() {
                    return Ok((start, Tok::Duration(self.s[start..self.pos].to_string())));
                }
                let text = &self.s[start..self.pos];
                return self.err(start, format!("bad number or duration syntax: {}", go_quote(text)));
            }
            Some(c) if is_alnum(c) => {
                return self.err(start, format!("bad number syntax: {}", go_quote(&self.s[start..self.pos])));
            }
            _ => {}
        }
        Ok((start, Tok::Number(self.s[start..self.pos].to_string())))
    }

    /// `acceptRemainingDuration`: units (and more number-unit pairs) after the digits;
    /// on failure the position stays past what was tried, as the error quotes it.
    fn remaining_duration(&mut self) -> bool {
        let accept = |lx: &mut Self, set: &str| match lx.peek() {
            Some(c) if set.contains(c) => {
                lx.pos += c.len_utf8();
                true
            }
            _ => false,
        };
        if !accept(self, "smhdwy") {
            return false;
        }
        accept(self, "s");
        while accept(self, "0123456789") {
            while accept(self, "0123456789") {}
            if !accept(self, "smhdw") {
                return false;
            }
            accept(self, "s");
        }
        match self.peek() {
            Some(c) if is_alnum(c) => {
                self.pos += c.len_utf8();
                false
            }
            _ => true,
        }
    }

    /// An identifier outside braces: letters, digits, `_` and `:`; `Inf`/`NaN` are numbers.
    fn word(&mut self) -> LexResult {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_alnum(c) || c == ':' {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        let w = &self.s[start..self.pos];
        let lower = w.to_ascii_lowercase();
        if lower == "inf" || lower == "nan" {
            return Ok((start, Tok::Number(w.to_string())));
        }
        Ok((start, Tok::Ident(w.to_string())))
    }

    /// Before and at the metric name (`lexStatements`: spaces and `#` comments
    /// skipped, any PromQL token recognised so that errors name it).
    pub(super) fn statement(&mut self) -> LexResult {
        loop {
            self.skip_spaces();
            if !self.s[self.pos..].starts_with('#') {
                break;
            }
            self.pos = self.s[self.pos..].find('\n').map_or(self.s.len(), |i| self.pos + i);
        }
        let start = self.pos;
        let Some(c) = self.peek() else { return Ok((start, Tok::Eof)) };
        if c.is_ascii_digit() || (c == '.' && self.s[start + 1..].starts_with(|d: char| d.is_ascii_digit())) {
            return self.number(true);
        }
        if is_alpha(c) || c == ':' {
            return self.word();
        }
        self.pos += c.len_utf8();
        let next = self.peek();
        let mut take = |tok: Tok, extra: usize| {
            self.pos += extra;
            Ok((start, tok))
        };
        match (c, next) {
            ('{', _) => take(Tok::LBrace, 0),
            (',', _) => take(Tok::Comma, 0),
            ('+', _) => take(Tok::Add, 0),
            ('-', _) => take(Tok::Sub, 0),
            ('*' | '/' | '%' | '^', _) => take(Tok::Op(c.to_string()), 0),
            ('=', Some('=')) => take(Tok::Op("==".into()), 1),
            ('=', Some('~')) => self.err(start, "unexpected character after '=': '~'"),
            ('=', _) => take(Tok::Eql, 0),
            ('!', Some('=')) => take(Tok::Neq, 1),
            ('!', other) => self.err(
                start,
                format!(
                    "unexpected character after '!': {}",
                    other.map(go_rune).unwrap_or_else(|| "'\u{fffd}'".into())
                ),
            ),
            ('<' | '>', Some('=')) => take(Tok::Op(format!("{c}=")), 1),
            ('<' | '>', _) => take(Tok::Op(c.to_string()), 0),
            ('"' | '\'' | '`', _) => self.string(start, c),
            ('@', _) => take(Tok::At, 0),
            ('(' | '[', _) => take(Tok::Other(c.to_string()), 0),
            // Prometheus emits the parenthesis before noticing, so the error is past it.
            (')', _) => self.err(start + 1, "unexpected right parenthesis ')'"),
            (']', _) => self.err(start, "unexpected right bracket ']'"),
            _ => self.err(start, format!("unexpected character: {}", go_rune(c))),
        }
    }

    /// Inside `{...}` (`lexInsideBraces`).
    pub(super) fn braces(&mut self) -> LexResult {
        self.skip_spaces();
        let start = self.pos;
        let Some(c) = self.peek() else { return self.err(start, "unexpected end of input inside braces") };
        if is_alpha(c) {
            while let Some(c) = self.peek() {
                if is_alnum(c) {
                    self.pos += c.len_utf8();
                } else {
                    break;
                }
            }
            return Ok((start, Tok::Ident(self.s[start..self.pos].to_string())));
        }
        self.pos += c.len_utf8();
        match c {
            ',' => Ok((start, Tok::Comma)),
            '"' | '\'' | '`' => self.string(start, c),
            '=' => {
                if self.peek() == Some('~') {
                    self.pos += 1;
                    return Ok((start, Tok::EqlRegex));
                }
                Ok((start, Tok::Eql))
            }
            '!' => match self.peek() {
                Some('~') => {
                    self.pos += 1;
                    Ok((start, Tok::NeqRegex))
                }
                Some('=') => {
                    self.pos += 1;
                    Ok((start, Tok::Neq))
                }
                other => self.err(
                    start,
                    format!("unexpected character after '!' inside braces: {}", other.map(go_rune).unwrap_or_default()),
                ),
            },
            '{' => self.err(start, "unexpected left brace '{'"),
            '}' => Ok((start, Tok::RBrace)),
            _ => self.err(start, format!("unexpected character inside braces: {}", go_rune(c))),
        }
    }

    /// A quoted label value, unescaped as Go's `strconv.Unquote`.
    fn string(&mut self, start: usize, quote: char) -> LexResult {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else { return self.err(start, "unterminated quoted string") };
            self.pos += c.len_utf8();
            if c == quote {
                break;
            }
            if quote == '`' {
                out.push(c);
                continue;
            }
            if c == '\n' {
                return self.err(start, "unterminated quoted string");
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(e) = self.peek() else { return self.err(start, "unterminated quoted string") };
            self.pos += e.len_utf8();
            let simple = match e {
                'a' => Some('\x07'),
                'b' => Some('\x08'),
                'f' => Some('\x0c'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\x0b'),
                '\\' => Some('\\'),
                c if c == quote => Some(c),
                _ => None,
            };
            if let Some(s) = simple {
                out.push(s);
                continue;
            }
            let (n, base) = match e {
                '0'..='7' => {
                    self.pos -= 1;
                    (3, 8)
                }
                'x' => (2, 16),
                'u' => (4, 16),
                'U' => (8, 16),
                other => return self.err(start, format!("unknown escape sequence {}", go_rune_u(other))),
            };
            let digits: String = self.s[self.pos..].chars().take(n).collect();
            if digits.chars().count() < n || !digits.chars().all(|d| d.is_digit(base)) {
                return self.err(start, "illegal character in escape sequence");
            }
            self.pos += digits.len();
            let v = u32::from_str_radix(&digits, base).expect("checked digits");
            match char::from_u32(v) {
                Some(ch) if !(base == 8 && v > 255) => out.push(ch),
                _ => return self.err(start, "escape sequence is invalid Unicode code point"),
            }
        }
        Ok((start, Tok::Str(out, self.s[start..self.pos].to_string())))
    }

    /// The value sequence after the metric (`lexValueSequence`).
    pub(super) fn values(&mut self) -> LexResult {
        let start = self.pos;
        let b = self.s.as_bytes();
        let Some(c) = self.peek() else { return Ok((start, Tok::Eof)) };
        if is_space(b[start]) {
            self.skip_spaces();
            return Ok((start, Tok::Space));
        }
        if c.is_ascii_digit() || (c == '.' && self.s[start + 1..].starts_with(|d: char| d.is_ascii_digit())) {
            return self.number(false);
        }
        if c == 'x' {
            self.pos += 1;
            return Ok((start, Tok::Times));
        }
        if is_alpha(c) && c != '_' {
            return self.word();
        }
        self.pos += c.len_utf8();
        match c {
            '+' => Ok((start, Tok::Add)),
            '-' => Ok((start, Tok::Sub)),
            '_' => Ok((start, Tok::Blank)),
            _ => self.err(start, format!("unexpected character in series sequence: {}", go_rune(c))),
        }
    }
}

/// Go's `%q` of a rune: `'%'`.
fn go_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '\\' => "'\\\\'".into(),
        '\n' => "'\\n'".into(),
        '\t' => "'\\t'".into(),
        c if c.is_control() => format!("'\\x{:02x}'", c as u32),
        c => format!("'{c}'"),
    }
}

/// Go's `%#U` of a rune: `U+0071 'q'`.
fn go_rune_u(c: char) -> String {
    format!("U+{:04X} {}", c as u32, go_rune(c))
}
