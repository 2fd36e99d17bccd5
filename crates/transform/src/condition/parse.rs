//! Tokenizer and recursive-descent parser for conditions.
//!
//! Precedence, loosest first: `or` / `||`, `and` / `&&`, `not` / `!`, then a
//! comparison, `exists(...)`, a boolean literal or a parenthesised expression.

use std::borrow::Cow;

use lookout_event::{FieldPath, FieldValue};
use regex::Regex;

use super::{CmpOp, Expr, Operand, ParseError};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Bang,
    AndAnd,
    OrOr,
    Cmp(CmpOp),
    Match { negate: bool },
    Str(String),
    Num(FieldValue<'static>),
    Ident(String),
    Eof,
}

/// A token and the byte range it covers.
#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '/' | '-' | ':')
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    fn error(&self, at: usize, message: impl Into<String>) -> ParseError {
        error_at(self.src, at, message)
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn next_token(&mut self) -> Result<Token, ParseError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += self.peek().map_or(0, char::len_utf8);
        }
        let start = self.pos;
        let rest = &self.src[start..];
        let Some(c) = self.peek() else { return Ok(Token { tok: Tok::Eof, start, end: start }) };
        let two = rest.get(..2).unwrap_or("");
        let (tok, len) = match two {
            "==" => (Tok::Cmp(CmpOp::Eq), 2),
            "!=" => (Tok::Cmp(CmpOp::Ne), 2),
            "<=" => (Tok::Cmp(CmpOp::Le), 2),
            ">=" => (Tok::Cmp(CmpOp::Ge), 2),
            "=~" => (Tok::Match { negate: false }, 2),
            "!~" => (Tok::Match { negate: true }, 2),
            "&&" => (Tok::AndAnd, 2),
            "||" => (Tok::OrOr, 2),
            _ => match c {
                '(' => (Tok::LParen, 1),
                ')' => (Tok::RParen, 1),
                '!' => (Tok::Bang, 1),
                '<' => (Tok::Cmp(CmpOp::Lt), 1),
                '>' => (Tok::Cmp(CmpOp::Gt), 1),
                '=' => return Err(self.error(start, "`=` is not an operator; use `==` to compare")),
                '"' | '\'' => return self.string(c),
                c if c.is_ascii_digit()
                    || (matches!(c, '-' | '.') && rest[1..].starts_with(|d: char| d.is_ascii_digit())) =>
                {
                    return self.number();
                }
                c if is_ident_start(c) => {
                    let len = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
                    (Tok::Ident(rest[..len].to_string()), len)
                }
                other => return Err(self.error(start, format!("unexpected character `{other}`"))),
            },
        };
        self.pos += len;
        Ok(Token { tok, start, end: self.pos })
    }

    fn string(&mut self, quote: char) -> Result<Token, ParseError> {
        let start = self.pos;
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => {
                    self.pos = start + 1 + i + 1;
                    return Ok(Token { tok: Tok::Str(out), start, end: self.pos });
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, c @ ('\\' | '"' | '\''))) => out.push(c),
                    // Unknown escapes are kept as written, so regexes like "\d+" work.
                    Some((_, c)) => {
                        out.push('\\');
                        out.push(c);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.error(start, "unterminated string"))
    }

    fn number(&mut self) -> Result<Token, ParseError> {
        let start = self.pos;
        let rest = &self.src[start..];
        let len = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_alphanumeric() || c == '.' || (i == 0 && c == '-')))
            .map_or(rest.len(), |(i, _)| i);
        let text = &rest[..len];
        let value = if let Ok(i) = text.parse::<i64>() {
            FieldValue::Int(i)
        } else if let Ok(d) = text.parse::<f64>() {
            FieldValue::Double(d)
        } else {
            return Err(self.error(start, format!("invalid number `{text}`")));
        };
        self.pos += len;
        Ok(Token { tok: Tok::Num(value), start, end: self.pos })
    }
}

fn error_at(src: &str, byte: usize, message: impl Into<String>) -> ParseError {
    ParseError { column: src[..byte.min(src.len())].chars().count() + 1, message: message.into() }
}

struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    next: usize,
}

/// Parses a whole expression.
pub(super) fn parse(src: &str) -> Result<Expr, ParseError> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        let t = lexer.next_token()?;
        let eof = t.tok == Tok::Eof;
        tokens.push(t);
        if eof {
            break;
        }
    }
    if tokens.len() == 1 {
        return Err(error_at(src, 0, "empty condition"));
    }
    let mut p = Parser { src, tokens, next: 0 };
    let expr = p.or()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        let message = match t.tok {
            Tok::RParen => "unmatched `)`".to_string(),
            _ => format!("expected `and`, `or` or the end of the condition, found {}", p.describe(t)),
        };
        return Err(p.error(t, message));
    }
    Ok(expr)
}

impl<'s> Parser<'s> {
    fn peek(&self) -> &Token {
        &self.tokens[self.next]
    }

    fn bump(&mut self) -> Token {
        let t = self.tokens[self.next].clone();
        if t.tok != Tok::Eof {
            self.next += 1;
        }
        t
    }

    fn error(&self, t: &Token, message: impl Into<String>) -> ParseError {
        error_at(self.src, t.start, message)
    }

    fn describe(&self, t: &Token) -> String {
        match t.tok {
            Tok::Eof => "the end of the condition".to_string(),
            _ => format!("`{}`", &self.src[t.start..t.end]),
        }
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(w) if w == word)
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.peek().tok == Tok::OrOr || self.is_keyword("or") {
            self.bump();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        while self.peek().tok == Tok::AndAnd || self.is_keyword("and") {
            self.bump();
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.peek().tok == Tok::Bang || self.is_keyword("not") {
            self.bump();
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<Token, ParseError> {
        let t = self.bump();
        if t.tok == tok { Ok(t) } else { Err(self.error(&t, format!("expected {what}, found {}", self.describe(&t)))) }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        if self.peek().tok == Tok::LParen {
            let open = self.bump();
            let inner = self.or()?;
            let t = self.bump();
            if t.tok != Tok::RParen {
                let column = error_at(self.src, open.start, "").column;
                let message = format!("expected `)` to close `(` at column {column}, found {}", self.describe(&t));
                return Err(self.error(&t, message));
            }
            return Ok(inner);
        }
        if self.is_keyword("exists") && self.tokens.get(self.next + 1).is_some_and(|t| t.tok == Tok::LParen) {
            self.bump();
            self.bump();
            let t = self.bump();
            let Tok::Ident(name) = &t.tok else {
                return Err(
                    self.error(&t, format!("expected a field name in `exists(...)`, found {}", self.describe(&t)))
                );
            };
            let path = FieldPath::parse(name);
            self.expect(Tok::RParen, "`)`")?;
            return Ok(Expr::Exists(path));
        }
        let left_tok = self.peek().clone();
        let left = self.operand()?;
        let op = self.bump();
        match op.tok {
            Tok::Cmp(cmp) => {
                let right = self.operand()?;
                Ok(Expr::Compare { left, op: cmp, right })
            }
            Tok::Match { negate } => {
                let t = self.bump();
                let Tok::Str(pattern) = &t.tok else {
                    let message = format!("expected a quoted regex after `=~`/`!~`, found {}", self.describe(&t));
                    return Err(self.error(&t, message));
                };
                let regex = Regex::new(pattern).map_err(|e| self.error(&t, crate::regex_error(&e)))?;
                Ok(Expr::Match { left, regex, negate })
            }
            _ => match left {
                Operand::Literal(FieldValue::Bool(b)) => {
                    self.next -= usize::from(op.tok != Tok::Eof);
                    Ok(Expr::Const(b))
                }
                _ => {
                    let what = &self.src[left_tok.start..left_tok.end];
                    let message = format!(
                        "expected a comparison operator (==, !=, <, <=, >, >=, =~, !~) after `{what}`, found {}",
                        self.describe(&op)
                    );
                    Err(self.error(&op, message))
                }
            },
        }
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        let t = self.bump();
        Ok(match t.tok {
            Tok::Str(s) => Operand::Literal(FieldValue::Str(Cow::Owned(s))),
            Tok::Num(n) => Operand::Literal(n),
            Tok::Ident(ref w) if w == "true" => Operand::Literal(FieldValue::Bool(true)),
            Tok::Ident(ref w) if w == "false" => Operand::Literal(FieldValue::Bool(false)),
            Tok::Ident(ref w) if matches!(w.as_str(), "and" | "or" | "not") => {
                return Err(self.error(&t, format!("expected a field or a value, found `{w}`")));
            }
            Tok::Ident(ref w) => Operand::Field(FieldPath::parse(w)),
            _ => return Err(self.error(&t, format!("expected a field or a value, found {}", self.describe(&t)))),
        })
    }
}
