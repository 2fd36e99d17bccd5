//! The parser: items → parse trees, following Go's `text/template/parse/parse.go` (its
//! grammar, its checks at parse time — undefined functions and variables — and its messages).

use std::sync::Arc;

use crate::funcs::Funcs;
use crate::lex::{self, Item, Tok};
use crate::value::Value;

use crate::tree::{Arg, ArgKind, Branch, Cmd, Node, Pipe, Tree};

/// How deeply control structures and parentheses may nest (Go allows more; real templates
/// stay in single digits, and our stacks are fixed).
const MAX_NESTING: usize = 100;

/// A parse error: byte offset into the text and message.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub pos: usize,
    pub msg: String,
}

/// Parses `src` into its main tree (named `name`) and any `define`d/`block` trees.
pub(crate) fn parse(name: &str, src: &str, funcs: &Funcs) -> Result<Vec<Tree>, ParseError> {
    let (items, lex_err) = lex::lex_partial(src);
    let stop = items.last().map_or(0, |i| i.pos);
    let parsed = parse_items(name, src, items, funcs);
    match (parsed, lex_err) {
        (Err(p), Some(_)) if p.pos < stop => Err(p),
        (_, Some(l)) => Err(ParseError { pos: l.pos, msg: l.msg }),
        (r, None) => r,
    }
}

fn parse_items(name: &str, src: &str, items: Vec<Item>, funcs: &Funcs) -> Result<Vec<Tree>, ParseError> {
    let src: Arc<str> = Arc::from(src);
    let parse_name: Arc<str> = Arc::from(name);
    let mut p = Parser { items, i: 0, funcs, vars: vec!["$".into()], range_depth: 0, nesting: 0, defs: Vec::new() };
    let mut root = Vec::new();
    while p.peek().tok != Tok::Eof {
        if p.peek().tok == Tok::Left {
            let save = p.i;
            p.next();
            if matches!(&p.next_non_space().tok, Tok::Ident(w) if w == "define") {
                p.definition()?;
                continue;
            }
            p.i = save;
        }
        match p.text_or_action()? {
            Parsed::Node(n) => root.push(n),
            Parsed::End(pos) => return Err(ParseError { pos, msg: "unexpected {{end}}".into() }),
            Parsed::Else(pos, _) => return Err(ParseError { pos, msg: "unexpected {{else}}".into() }),
        }
    }
    let mut trees = vec![Tree { name: name.to_owned(), parse_name: parse_name.clone(), src: src.clone(), root }];
    trees.extend(p.defs.into_iter().map(|(name, root)| Tree {
        name,
        parse_name: parse_name.clone(),
        src: src.clone(),
        root,
    }));
    Ok(trees)
}

struct Parser<'f> {
    items: Vec<Item>,
    i: usize,
    funcs: &'f Funcs,
    vars: Vec<String>,
    range_depth: usize,
    /// Open control structures and parentheses, bounded so deep nesting is an error, not a
    /// stack overflow.
    nesting: usize,
    /// `define`d and `block` templates found so far.
    defs: Vec<(String, Vec<Node>)>,
}

enum Parsed {
    Node(Node),
    End(usize),
    /// `{{else}}` (false) or `{{else if`/`{{else with` (true: the keyword is next).
    Else(usize, bool),
}

fn keyword(w: &str) -> bool {
    matches!(w, "block" | "break" | "continue" | "define" | "else" | "end" | "if" | "range" | "template" | "with")
}

/// How Go's `item.String()` shows an unexpected item.
fn show(tok: &Tok) -> String {
    let val = match tok {
        Tok::Eof => return "EOF".into(),
        Tok::Ident(w) if keyword(w) => return format!("<{w}>"),
        Tok::Text(t) => t.clone(),
        Tok::Left => "{{".into(),
        Tok::Right => "}}".into(),
        Tok::Space => " ".into(),
        Tok::Ident(w) => w.clone(),
        Tok::Dot => ".".into(),
        Tok::Field(f) => format!(".{f}"),
        Tok::Var(v) => v.clone(),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Char(c) => format!("'{c}'"),
        Tok::Number(n) => n.clone(),
        Tok::Bool(b) => b.to_string(),
        Tok::Nil => "nil".into(),
        Tok::Pipe => "|".into(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Declare => ":=".into(),
        Tok::Assign => "=".into(),
        Tok::Comma => ",".into(),
        Tok::Punct(c) => c.to_string(),
    };
    if val.chars().count() > 10 {
        let short: String = val.chars().take(10).collect();
        return format!("{short:?}...");
    }
    format!("{val:?}")
}

impl Parser<'_> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, ParseError> {
        let pos = self.items[self.i.saturating_sub(1).min(self.items.len() - 1)].pos;
        Err(ParseError { pos, msg: msg.into() })
    }

    fn peek(&self) -> &Item {
        &self.items[self.i.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item {
        let it = self.peek().clone();
        if self.i < self.items.len() {
            self.i += 1;
        }
        it
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.tok != Tok::Space {
                return it;
            }
        }
    }

    /// Skips spaces (as Go's `peekNonSpace` does) and shows the next item without taking it.
    fn peek_non_space(&mut self) -> &Item {
        while self.i < self.items.len() - 1 && self.items[self.i].tok == Tok::Space {
            self.i += 1;
        }
        &self.items[self.i.min(self.items.len() - 1)]
    }

    fn expect(&mut self, want: Tok, context: &str) -> Result<Item, ParseError> {
        let it = self.next_non_space();
        if it.tok != want {
            return self.unexpected(&it.tok, context);
        }
        Ok(it)
    }

    fn unexpected<T>(&self, tok: &Tok, context: &str) -> Result<T, ParseError> {
        if *tok == Tok::Eof {
            return self.err(format!("unexpected EOF in {context}"));
        }
        self.err(format!("unexpected {} in {context}", show(tok)))
    }

    fn text_or_action(&mut self) -> Result<Parsed, ParseError> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Text(t) => Ok(Parsed::Node(Node::Text(t.into()))),
            Tok::Left => self.action(),
            ref t => self.unexpected(t, "input"),
        }
    }

    fn action(&mut self) -> Result<Parsed, ParseError> {
        let it = self.next_non_space();
        if let Tok::Ident(w) = &it.tok {
            match w.as_str() {
                "block" => return self.block().map(Parsed::Node),
                "break" => return self.break_continue(true).map(Parsed::Node),
                "continue" => return self.break_continue(false).map(Parsed::Node),
                "else" => return self.else_control(it.pos),
                "end" => {
                    self.expect(Tok::Right, "end")?;
                    return Ok(Parsed::End(it.pos));
                }
                "if" => return self.control(it.pos, "if").map(Parsed::Node),
                "range" => return self.control(it.pos, "range").map(Parsed::Node),
                "with" => return self.control(it.pos, "with").map(Parsed::Node),
                "template" => return self.template().map(Parsed::Node),
                _ => {}
            }
        }
        self.i -= 1;
        Ok(Parsed::Node(Node::Action(self.pipeline("command", Tok::Right)?)))
    }

    fn break_continue(&mut self, is_break: bool) -> Result<Node, ParseError> {
        let kw = if is_break { "break" } else { "continue" };
        let it = self.next_non_space();
        if it.tok != Tok::Right {
            return self.unexpected(&it.tok, &format!("{{{{{kw}}}}}"));
        }
        if self.range_depth == 0 {
            return self.err(format!("{{{{{kw}}}}} outside {{{{range}}}}"));
        }
        Ok(if is_break { Node::Break } else { Node::Continue })
    }

    fn else_control(&mut self, pos: usize) -> Result<Parsed, ParseError> {
        let peek = self.peek_non_space();
        if matches!(&peek.tok, Tok::Ident(w) if w == "if" || w == "with") {
            return Ok(Parsed::Else(pos, true));
        }
        self.expect(Tok::Right, "else")?;
        Ok(Parsed::Else(pos, false))
    }

    /// A list of nodes up to `{{end}}` or `{{else}}`.
    fn item_list(&mut self) -> Result<(Vec<Node>, Parsed), ParseError> {
        let mut list = Vec::new();
        while self.peek_non_space().tok != Tok::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                end => return Ok((list, end)),
            }
        }
        self.err("unexpected EOF")
    }

    fn control(&mut self, pos: usize, context: &'static str) -> Result<Node, ParseError> {
        self.enter()?;
        let r = self.control_inner(pos, context);
        self.nesting -= 1;
        r
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        if self.nesting >= MAX_NESTING {
            return self.err("max expression depth exceeded");
        }
        self.nesting += 1;
        Ok(())
    }

    fn control_inner(&mut self, _pos: usize, context: &'static str) -> Result<Node, ParseError> {
        let mark = self.vars.len();
        let pipe = self.pipeline(context, Tok::Right)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let else_list = match next {
            Parsed::End(_) => None,
            Parsed::Else(_, chained) => {
                if chained && context != "range" {
                    // `{{else if …}}` is `{{else}}{{if …}}…{{end}}{{end}}`; `{{else with}}` likewise.
                    let kw = self.next_non_space();
                    let Tok::Ident(kw) = kw.tok else { unreachable!("peeked a keyword") };
                    if kw != context {
                        return self.err(format!("expected end; found {{{{else {kw}}}}}"));
                    }
                    Some(vec![self.control(0, context)?])
                } else if chained {
                    return self.err("expected end; found {{else if}}");
                } else {
                    let (list, next) = self.item_list()?;
                    if !matches!(next, Parsed::End(_)) {
                        return self.err("expected end; found {{else}}");
                    }
                    Some(list)
                }
            }
            Parsed::Node(_) => unreachable!("item_list ends at end/else"),
        };
        self.vars.truncate(mark);
        let b = Branch { pipe, list, else_list };
        Ok(match context {
            "if" => Node::If(b),
            "range" => Node::Range(b),
            _ => Node::With(b),
        })
    }

    fn template_name(&mut self, context: &str) -> Result<(usize, String), ParseError> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Str(s) => Ok((it.pos, s)),
            t => self.unexpected(&t, context),
        }
    }

    fn template(&mut self) -> Result<Node, ParseError> {
        let (pos, name) = self.template_name("template clause")?;
        let pipe = if self.peek_non_space().tok == Tok::Right {
            self.next_non_space();
            None
        } else {
            Some(self.pipeline("template clause", Tok::Right)?)
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn block(&mut self) -> Result<Node, ParseError> {
        let (pos, name) = self.template_name("block clause")?;
        let pipe = self.pipeline("block clause", Tok::Right)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, Parsed::End(_)) {
            return self.err("unexpected {{else}} in block clause");
        }
        self.defs.push((name.clone(), list));
        Ok(Node::Template { pos, name, pipe: Some(pipe) })
    }

    fn definition(&mut self) -> Result<(), ParseError> {
        let (_, name) = self.template_name("define clause")?;
        self.expect(Tok::Right, "define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, Parsed::End(_)) {
            return self.err("unexpected {{else}} in define clause");
        }
        self.defs.push((name, list));
        Ok(())
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> Result<Pipe, ParseError> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe { pos, decl: Vec::new(), is_assign: false, cmds: Vec::new() };
        // Declarations: `$x :=`, `$x =`, `$i, $e :=`.
        loop {
            let save = self.i;
            let v = self.next_non_space();
            let Tok::Var(name) = v.tok else {
                self.i = save;
                break;
            };
            let after = self.next_non_space();
            match after.tok {
                Tok::Declare | Tok::Assign => {
                    pipe.is_assign = after.tok == Tok::Assign;
                    if pipe.is_assign && !self.vars.contains(&name) {
                        return self.err(format!("undefined variable {name:?}"));
                    }
                    pipe.decl.push(name);
                    break;
                }
                Tok::Comma if context == "range" && pipe.decl.is_empty() => {
                    pipe.decl.push(name);
                    let next = self.peek_non_space();
                    if !matches!(next.tok, Tok::Var(_)) {
                        return self.err("range can only initialize variables");
                    }
                }
                Tok::Comma => return self.err(format!("too many declarations in {context}")),
                _ => {
                    self.i = save;
                    if !pipe.decl.is_empty() {
                        return self.err("missing := after range variables");
                    }
                    break;
                }
            }
        }
        loop {
            let it = self.next_non_space();
            match &it.tok {
                t if *t == end => {
                    if !pipe.is_assign {
                        self.vars.extend(pipe.decl.iter().cloned());
                    }
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Var(_)
                | Tok::LParen => {
                    self.i -= 1;
                    pipe.cmds.push(self.command()?);
                }
                t => return self.unexpected(&t.clone(), context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> Result<(), ParseError> {
        if pipe.cmds.is_empty() {
            return self.err(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0].kind,
                ArgKind::Bool(_) | ArgKind::Dot | ArgKind::Nil | ArgKind::Num(..) | ArgKind::Str(_)
            ) {
                return Err(ParseError {
                    pos: c.pos,
                    msg: format!("non executable command in pipeline stage {}", i + 1),
                });
            }
        }
        Ok(())
    }

    fn command(&mut self) -> Result<Cmd, ParseError> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(a) = self.operand()? {
                args.push(a);
            }
            let it = self.next();
            match it.tok {
                Tok::Space => continue,
                Tok::Right | Tok::RParen => self.i -= 1,
                Tok::Pipe => {}
                t => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.err("empty command");
        }
        Ok(Cmd { pos, args })
    }

    fn operand(&mut self) -> Result<Option<Arg>, ParseError> {
        let Some(term) = self.term()? else { return Ok(None) };
        let mut fields = Vec::new();
        // Go positions a chain at its second element (`.job` in `.Labels.job`).
        let pos = self.peek().pos;
        while let Tok::Field(f) = &self.peek().tok {
            fields.push(f.clone());
            self.next();
        }
        if fields.is_empty() {
            return Ok(Some(term));
        }
        let kind = match term.kind {
            ArgKind::Field(mut base) => {
                base.extend(fields);
                ArgKind::Field(base)
            }
            ArgKind::Var(name, mut base) => {
                base.extend(fields);
                ArgKind::Var(name, base)
            }
            ArgKind::Bool(_) | ArgKind::Str(_) | ArgKind::Num(..) | ArgKind::Nil | ArgKind::Dot => {
                return self.err(format!("unexpected . after term {:?}", term.to_string()));
            }
            _ => ArgKind::Chain(Box::new(term), fields),
        };
        Ok(Some(Arg { pos, kind }))
    }

    fn term(&mut self) -> Result<Option<Arg>, ParseError> {
        let it = self.next_non_space();
        let kind = match it.tok {
            Tok::Ident(name) => {
                if keyword(&name) {
                    self.i -= 1;
                    return Ok(None);
                }
                if !self.funcs.contains(&name) {
                    return self.err(format!("function {name:?} not defined"));
                }
                ArgKind::Func(name)
            }
            Tok::Dot => ArgKind::Dot,
            Tok::Nil => ArgKind::Nil,
            Tok::Var(name) => {
                if !self.vars.contains(&name) {
                    return self.err(format!("undefined variable {name:?}"));
                }
                ArgKind::Var(name, Vec::new())
            }
            Tok::Field(f) => ArgKind::Field(vec![f]),
            Tok::Bool(b) => ArgKind::Bool(b),
            Tok::Char(c) => ArgKind::Num(Value::Int(c as i64), format!("{c:?}")),
            Tok::Number(text) => ArgKind::Num(self.number(&text)?, text),
            Tok::LParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", Tok::RParen);
                self.nesting -= 1;
                ArgKind::Pipe(Box::new(p?))
            }
            Tok::Str(s) => ArgKind::Str(s),
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        };
        Ok(Some(Arg { pos: it.pos, kind }))
    }

    /// Go's ideal constants: `int` unless the text is a float form (`.`, exponent).
    fn number(&self, text: &str) -> Result<Value, ParseError> {
        let clean = text.replace('_', "");
        let (neg, body) = match clean.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
        };
        let lower = body.to_ascii_lowercase();
        let radix_int = [("0x", 16), ("0o", 8), ("0b", 2)]
            .into_iter()
            .find_map(|(p, r)| lower.strip_prefix(p).map(|d| (d.to_owned(), r)));
        let bad = || ParseError { pos: 0, msg: format!("illegal number syntax: {text:?}") };
        if body.is_empty() {
            return self.err(bad().msg);
        }
        if let Some((digits, radix)) = radix_int {
            if digits.contains(['.', 'p']) {
                return Err(bad()).or_else(|e| self.err(e.msg));
            }
            let v = i64::from_str_radix(&digits, radix).or_else(|_| self.err(format!("{text} overflows int")))?;
            return Ok(Value::Int(if neg { -v } else { v }));
        }
        if lower.contains(['.', 'e']) {
            let f: f64 = lower.parse().or_else(|_| self.err(bad().msg))?;
            return Ok(Value::Float(if neg { -f } else { f }));
        }
        // Go reads a leading 0 as octal (`010` = 8).
        let v = if lower.len() > 1 && lower.starts_with('0') {
            i64::from_str_radix(&lower[1..], 8)
        } else {
            lower.parse::<i64>()
        };
        match v {
            Ok(v) => Ok(Value::Int(if neg { -v } else { v })),
            Err(_) if lower.bytes().all(|b| b.is_ascii_digit()) => self.err(format!("{text} overflows int")),
            Err(_) => self.err(bad().msg),
        }
    }
}
