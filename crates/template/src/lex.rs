//! The lexer: template text → items, as Go's `text/template/parse/lex.go` splits it (text,
//! `{{`/`}}` with `-` trim markers, comments, identifiers, fields, variables, literals).

/// What an item is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Plain text between actions, already trimmed by neighbouring trim markers.
    Text(String),
    Left,
    Right,
    Space,
    /// A word: a keyword or a function name.
    Ident(String),
    Dot,
    /// `.Name` (without the dot).
    Field(String),
    /// `$` or `$name` (with the dollar).
    Var(String),
    /// A quoted or raw string, unquoted.
    Str(String),
    /// A character constant, as Go an integer.
    Char(char),
    /// A number's source text.
    Number(String),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    /// Any other printable ASCII character (the parser reports it as unexpected).
    Punct(char),
    Eof,
}

/// An item and where it starts (byte offset into the template text).
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub tok: Tok,
    pub pos: usize,
}

/// A lexing error at a byte offset.
#[derive(Debug)]
pub(crate) struct LexError {
    pub pos: usize,
    pub msg: String,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Splits `src` into items, ending with [`Tok::Eof`].
#[cfg(test)]
pub(crate) fn lex(src: &str) -> Result<Vec<Item>, LexError> {
    let (items, err) = lex_partial(src);
    match err {
        Some(e) => Err(e),
        None => Ok(items),
    }
}

/// Like [`lex`], but on an error also returns the items before it (ending with an
/// [`Tok::Eof`] at the error): Go's parser consumes items as they are lexed, so a parse error
/// before the bad spot is the one reported.
pub(crate) fn lex_partial(src: &str) -> (Vec<Item>, Option<LexError>) {
    let mut l = Lexer { src, b: src.as_bytes(), pos: 0, items: Vec::new(), trim_next_text: false, paren: 0 };
    match l.run() {
        Ok(()) => (l.items, None),
        Err(e) => {
            // The sentinel sits where lexing stopped (an unclosed action reports its start).
            let stop = l.pos.max(e.pos);
            l.items.push(Item { tok: Tok::Eof, pos: stop });
            (l.items, Some(e))
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    items: Vec<Item>,
    /// The previous action ended with ` -}}`: trim the next text's leading space.
    trim_next_text: bool,
    paren: usize,
}

impl Lexer<'_> {
    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> Result<T, LexError> {
        Err(LexError { pos, msg: msg.into() })
    }

    fn push(&mut self, tok: Tok, pos: usize) {
        self.items.push(Item { tok, pos });
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            let start = self.pos;
            let next = self.src[start..].find("{{").map(|i| start + i);
            let end = next.unwrap_or(self.src.len());
            let mut text = &self.src[start..end];
            let left_trim = next.is_some_and(|n| self.has_left_trim(n + 2));
            if self.trim_next_text {
                text = text.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
                self.trim_next_text = false;
            }
            if left_trim {
                text = text.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8));
            }
            if !text.is_empty() {
                self.push(Tok::Text(text.to_owned()), start);
            }
            let Some(n) = next else {
                self.push(Tok::Eof, self.src.len());
                return Ok(());
            };
            self.pos = n + 2;
            if left_trim {
                self.pos += 2;
            }
            // A comment must follow the delimiter directly and end right at the closing one.
            if self.src[self.pos..].starts_with("/*") {
                let Some(close) = self.src[self.pos + 2..].find("*/") else {
                    return self.err(n, "unclosed comment");
                };
                self.pos += 2 + close + 2;
                let (found, trim) = self.at_right_delim();
                if !found {
                    return self.err(n, "comment ends before closing delimiter");
                }
                self.pos += if trim { 4 } else { 2 };
                self.trim_next_text = trim;
                continue;
            }
            self.push(Tok::Left, n);
            self.inside_action(n)?;
        }
    }

    /// `{{- ` : a minus then a space right after the delimiter.
    fn has_left_trim(&self, at: usize) -> bool {
        self.b.len() >= at + 2 && self.b[at] == b'-' && is_space(self.b[at + 1])
    }

    /// At `}}` or ` -}}` (found, trim).
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = &self.b[self.pos..];
        if rest.len() >= 4 && is_space(rest[0]) && rest[1] == b'-' && &rest[2..4] == b"}}" {
            return (true, true);
        }
        (rest.starts_with(b"}}"), false)
    }

    fn inside_action(&mut self, open: usize) -> Result<(), LexError> {
        loop {
            let (found, trim) = self.at_right_delim();
            if found && self.paren == 0 {
                let p = self.pos + if trim { 2 } else { 0 };
                self.push(Tok::Right, p);
                self.pos += if trim { 4 } else { 2 };
                self.trim_next_text = trim;
                return Ok(());
            }
            if found {
                return self.err(self.pos, "unclosed left paren");
            }
            let Some(&c) = self.b.get(self.pos) else {
                return self.err(open, "unclosed action");
            };
            let start = self.pos;
            match c {
                c if is_space(c) => {
                    while self.pos < self.b.len() && is_space(self.b[self.pos]) {
                        // ` -}}` ends the spaces: the trim marker belongs to the delimiter.
                        if self.at_right_delim() == (true, true) {
                            break;
                        }
                        self.pos += 1;
                    }
                    if self.pos > start {
                        self.push(Tok::Space, start);
                    }
                }
                b'=' => {
                    self.pos += 1;
                    self.push(Tok::Assign, start);
                }
                b':' => {
                    if self.b.get(self.pos + 1) != Some(&b'=') {
                        return self.err(start, "expected :=");
                    }
                    self.pos += 2;
                    self.push(Tok::Declare, start);
                }
                b'|' => {
                    self.pos += 1;
                    self.push(Tok::Pipe, start);
                }
                b',' => {
                    self.pos += 1;
                    self.push(Tok::Comma, start);
                }
                b'(' => {
                    self.pos += 1;
                    self.paren += 1;
                    self.push(Tok::LParen, start);
                }
                b')' => {
                    if self.paren == 0 {
                        return self.err(start, "unexpected right paren");
                    }
                    self.pos += 1;
                    self.paren -= 1;
                    self.push(Tok::RParen, start);
                }
                b'"' => self.quote()?,
                b'`' => self.raw_quote()?,
                b'\'' => self.char_const()?,
                b'$' => {
                    self.pos += 1;
                    let name = self.word();
                    self.push(Tok::Var(format!("${name}")), start);
                    self.check_terminator()?;
                }
                b'.' => {
                    if self.b.get(self.pos + 1).is_some_and(u8::is_ascii_digit) {
                        self.number()?;
                    } else {
                        self.pos += 1;
                        let name = self.word();
                        if name.is_empty() {
                            self.push(Tok::Dot, start);
                        } else {
                            self.push(Tok::Field(name), start);
                        }
                        self.check_terminator()?;
                    }
                }
                b'+' | b'-' | b'0'..=b'9' => self.number()?,
                _ => {
                    let ch = self.src[self.pos..].chars().next().expect("non-empty");
                    if ch.is_ascii_graphic() && !is_alnum(ch) {
                        self.pos += 1;
                        self.push(Tok::Punct(ch), start);
                        continue;
                    }
                    if !is_alnum(ch) {
                        return self.err(start, format!("unrecognized character in action: {}", go_rune(ch)));
                    }
                    let word = self.word();
                    let tok = match word.as_str() {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        _ => Tok::Ident(word),
                    };
                    self.push(tok, start);
                    self.check_terminator()?;
                }
            }
        }
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.src[self.pos..].chars().next() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.src[start..self.pos].to_owned()
    }

    /// After a word: space, delimiter, or one of `.,|:)(=`.
    fn check_terminator(&self) -> Result<(), LexError> {
        match self.src[self.pos..].chars().next() {
            None => Ok(()),
            Some(c) if c.is_ascii() && (is_space(c as u8) || ".,|:)(=".contains(c)) => Ok(()),
            Some(_) if self.at_right_delim().0 => Ok(()),
            Some(c) => self.err(self.pos, format!("bad character {}", go_rune(c))),
        }
    }

    fn number(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        if matches!(self.b[self.pos], b'+' | b'-') {
            self.pos += 1;
        }
        let mut digits: &[u8] = b"0123456789_";
        if self.b[self.pos..].starts_with(b"0") && self.b.get(self.pos + 1).is_some_and(|c| b"xXoObB".contains(c)) {
            digits = match self.b[self.pos + 1] {
                b'x' | b'X' => b"0123456789abcdefABCDEF_",
                b'o' | b'O' => b"01234567_",
                _ => b"01_",
            };
            self.pos += 2;
        }
        let hex = digits.len() > 20;
        let accept = |l: &mut Self, set: &[u8]| {
            while l.pos < l.b.len() && set.contains(&l.b[l.pos]) {
                l.pos += 1;
            }
        };
        accept(self, digits);
        if self.b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            accept(self, digits);
        }
        let exp: &[u8] = if hex { b"pP" } else { b"eE" };
        if self.b.get(self.pos).is_some_and(|c| exp.contains(c)) {
            self.pos += 1;
            if self.b.get(self.pos).is_some_and(|c| *c == b'+' || *c == b'-') {
                self.pos += 1;
            }
            accept(self, b"0123456789_");
        }
        let text = &self.src[start..self.pos];
        if self.src[self.pos..].chars().next().is_some_and(is_alnum) {
            let end = self.src[self.pos..].find(|c: char| !is_alnum(c)).map_or(self.src.len(), |i| self.pos + i);
            return self.err(start, format!("bad number syntax: {:?}", &self.src[start..end]));
        }
        self.push(Tok::Number(text.to_owned()), start);
        Ok(())
    }

    fn quote(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            let Some(c) = self.src[self.pos..].chars().next() else {
                return self.err(start, "unterminated quoted string");
            };
            self.pos += c.len_utf8();
            match c {
                '"' => break,
                '\n' => return self.err(start, "unterminated quoted string"),
                '\\' => {
                    let e = unescape(self.src, &mut self.pos, '"')
                        .ok_or(LexError { pos: start, msg: "invalid syntax".into() })?;
                    s.push_str(&e);
                }
                c => s.push(c),
            }
        }
        self.push(Tok::Str(s), start);
        Ok(())
    }

    fn raw_quote(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        let Some(end) = self.src[start + 1..].find('`') else {
            return self.err(start, "unterminated raw quoted string");
        };
        let body = self.src[start + 1..start + 1 + end].replace('\r', "");
        self.pos = start + 1 + end + 1;
        self.push(Tok::Str(body), start);
        Ok(())
    }

    fn char_const(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        self.pos += 1;
        let Some(c) = self.src[self.pos..].chars().next() else {
            return self.err(start, "unterminated character constant");
        };
        self.pos += c.len_utf8();
        let ch = if c == '\\' {
            let e =
                unescape(self.src, &mut self.pos, '\'').ok_or(LexError { pos: start, msg: "invalid syntax".into() })?;
            let mut it = e.chars();
            match (it.next(), it.next()) {
                (Some(ch), None) => ch,
                _ => return self.err(start, "invalid syntax"),
            }
        } else {
            c
        };
        if self.b.get(self.pos) != Some(&b'\'') {
            return self.err(start, "unterminated character constant");
        }
        self.pos += 1;
        self.push(Tok::Char(ch), start);
        Ok(())
    }
}

/// One Go escape sequence after a backslash (`\n`, `\x41`, `\u00e9`, `\101`, `\"`).
fn unescape(src: &str, pos: &mut usize, quote: char) -> Option<String> {
    let c = src[*pos..].chars().next()?;
    *pos += c.len_utf8();
    let hex = |pos: &mut usize, n: usize| -> Option<u32> {
        let s = src.get(*pos..*pos + n)?;
        let v = u32::from_str_radix(s, 16).ok()?;
        *pos += n;
        Some(v)
    };
    let ch = match c {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        '\\' => '\\',
        c if c == quote => c,
        'x' => return Some(char::from_u32(hex(pos, 2)?).map_or_else(String::new, String::from)),
        'u' => char::from_u32(hex(pos, 4)?)?,
        'U' => char::from_u32(hex(pos, 8)?)?,
        '0'..='7' => {
            let s = src.get(*pos - 1..*pos + 2)?;
            let v = u32::from_str_radix(s, 8).ok()?;
            *pos += 2;
            char::from_u32(v)?
        }
        _ => return None,
    };
    Some(ch.to_string())
}

/// Go's `%#U` of a rune: `U+007D '}'`.
pub(crate) fn go_rune(c: char) -> String {
    // Go shows the character only when it is printable (not a control or non-ASCII space).
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|i| i.tok).collect()
    }

    #[test]
    fn splits_actions() {
        assert_eq!(
            toks("a {{- $x := .Foo.bar | f 1.5 \"q\\n\" -}}\n b"),
            vec![
                Tok::Text("a".into()),
                Tok::Left,
                Tok::Var("$x".into()),
                Tok::Space,
                Tok::Declare,
                Tok::Space,
                Tok::Field("Foo".into()),
                Tok::Field("bar".into()),
                Tok::Space,
                Tok::Pipe,
                Tok::Space,
                Tok::Ident("f".into()),
                Tok::Space,
                Tok::Number("1.5".into()),
                Tok::Space,
                Tok::Str("q\n".into()),
                Tok::Right,
                Tok::Text("b".into()),
                Tok::Eof,
            ]
        );
        assert_eq!(
            toks("{{/* c */}}x {{- /* c */ -}} y"),
            vec![Tok::Text("x".into()), Tok::Text("y".into()), Tok::Eof]
        );
        assert_eq!(toks("{{-3}}"), vec![Tok::Left, Tok::Number("-3".into()), Tok::Right, Tok::Eof]);
    }

    #[test]
    fn errors() {
        assert_eq!(lex("{{ .x").unwrap_err().msg, "unclosed action");
        assert_eq!(lex("{{ \"x }}").unwrap_err().msg, "unterminated quoted string");
        assert_eq!(lex("{{ 3x }}").unwrap_err().msg, "bad number syntax: \"3x\"");
        assert_eq!(lex("{{ \u{a0} }}").unwrap_err().msg, "unrecognized character in action: U+00A0");
    }
}
