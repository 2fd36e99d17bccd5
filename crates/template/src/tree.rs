//! Parse trees: what the parser builds and the executor walks (Go's `text/template/parse`
//! nodes), with Go's node `String()` forms used in execution errors (`at <.Labels.foo>`).

use std::fmt;
use std::sync::Arc;

use crate::value::Value;

/// One named template: its body and the text it was parsed from (for error positions).
#[derive(Debug)]
pub(crate) struct Tree {
    pub name: String,
    /// The name given to `parse` (Go's `ParseName`), shown in error locations.
    pub parse_name: Arc<str>,
    pub src: Arc<str>,
    pub root: Vec<Node>,
}

impl Tree {
    /// `line:col` of a byte offset, as Go's `ErrorContext` prints it (column 0-based).
    pub fn line_col(&self, pos: usize) -> (usize, usize) {
        let before = &self.src[..pos.min(self.src.len())];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
        (line, col)
    }

    /// Whether the body is only whitespace text (Go's `IsEmptyTree`): such a body does not
    /// replace an existing template of the same name.
    pub fn is_empty(&self) -> bool {
        self.root.iter().all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
    }
}

#[derive(Debug)]
pub(crate) enum Node {
    Text(Box<str>),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template { pos: usize, name: String, pipe: Option<Pipe> },
    Break,
    Continue,
}

#[derive(Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug)]
pub(crate) struct Cmd {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug)]
pub(crate) struct Arg {
    pub pos: usize,
    pub kind: ArgKind,
}

#[derive(Debug)]
pub(crate) enum ArgKind {
    Dot,
    Nil,
    Bool(bool),
    /// A number constant (Go's ideal constant: `int` unless written as a float) and its text.
    Num(Value, String),
    Str(String),
    /// `.A.B`
    Field(Vec<String>),
    /// `$x.A.B` (name with the dollar).
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    /// `(pipeline).A.B`
    Chain(Box<Arg>, Vec<String>),
    Pipe(Box<Pipe>),
}

// Go's node `String()`s, shown in execution errors (`at <.Labels.foo>`).

fn write_fields(f: &mut fmt::Formatter<'_>, fields: &[String]) -> fmt::Result {
    for x in fields {
        write!(f, ".{x}")?;
    }
    Ok(())
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ArgKind::Dot => f.write_str("."),
            ArgKind::Nil => f.write_str("nil"),
            ArgKind::Bool(b) => write!(f, "{b}"),
            ArgKind::Num(_, text) => f.write_str(text),
            ArgKind::Str(s) => write!(f, "{s:?}"),
            ArgKind::Field(fields) => write_fields(f, fields),
            ArgKind::Var(name, fields) => {
                f.write_str(name)?;
                write_fields(f, fields)
            }
            ArgKind::Func(name) => f.write_str(name),
            ArgKind::Chain(base, fields) => {
                write!(f, "{base}")?;
                write_fields(f, fields)
            }
            ArgKind::Pipe(p) => write!(f, "({p})"),
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}
