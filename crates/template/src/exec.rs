//! The executor: walks a parse tree over data, writing into one `String`, as Go's
//! `text/template/exec.go` does (method-before-field lookup, `missingkey`, variable scopes,
//! lazy `and`/`or`, `break`/`continue`, its error wording and positions).
//!
//! Values are borrowed from the data where possible (`Cow`): `{{ .Labels.job }}` copies only the
//! string it prints.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;

use crate::MissingKey;
use crate::error::{ErrorKind, FuncError, TemplateError};
use crate::funcs::{FuncKind, Funcs};
use crate::methods::{self, FieldRef};
use crate::quote::go_quote;
use crate::tree::{Arg, ArgKind, Branch, Cmd, Node, Pipe, Tree};
use crate::value::Value;

type V<'a> = Cow<'a, Value>;

/// Nested `{{template}}` calls and control blocks allowed together (Go allows 100000 on its
/// growable stacks; ours are fixed).
const MAX_DEPTH: usize = 150;
/// Output cap: a template that would print more fails instead of exhausting memory.
const MAX_OUTPUT: usize = 16 << 20;

/// What an execution can see.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub templates: &'a HashMap<String, Arc<Tree>>,
    /// Trees of a one-off text, looked up before `templates`.
    pub overlay: &'a [Tree],
    pub funcs: &'a Funcs,
    pub missing: MissingKey,
    /// HTML mode: action output is HTML-escaped unless it comes from `safeHtml`/`safeUrl`.
    pub html: bool,
}

impl<'a> Env<'a> {
    pub fn lookup(&self, name: &str) -> Option<&'a Tree> {
        self.overlay.iter().rev().find(|t| t.name == name).or_else(|| self.templates.get(name).map(|t| &**t))
    }
}

/// Executes `tree` with `data` as dot, appending to `out`.
pub(crate) fn execute<'a>(
    env: Env<'a>,
    tree: &'a Tree,
    data: &'a Value,
    out: &mut String,
) -> Result<(), TemplateError> {
    let mut s = State { env, tree, vars: vec![("$", Cow::Borrowed(data))], out, depth: 0 };
    s.walk(&Cow::Borrowed(data), &tree.root).map(|_| ()).map_err(|Fail(m)| TemplateError::new(ErrorKind::Exec, m))
}

/// An execution error, already worded.
struct Fail(String);

type R<T> = Result<T, Fail>;

enum Flow {
    Normal,
    Break,
    Continue,
}

/// A field chain's receiver: borrowed from a variable or dot, or an intermediate we own.
enum Recv<'r, 'a> {
    Ref(&'r V<'a>),
    Val(V<'a>),
}

struct State<'a, 'o> {
    env: Env<'a>,
    tree: &'a Tree,
    vars: Vec<(&'a str, V<'a>)>,
    out: &'o mut String,
    depth: usize,
}

impl<'a> State<'a, '_> {
    fn fail(&self, pos: usize, ctx: &dyn Display, msg: impl Display) -> Fail {
        let (line, col) = self.tree.line_col(pos);
        let c = ctx.to_string();
        Fail(format!(
            "template: {}:{line}:{col}: executing {} at <{c}>: {msg}",
            self.tree.parse_name,
            go_quote(&self.tree.name)
        ))
    }

    fn write(&mut self, s: &str, pos: usize, ctx: &dyn Display) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(self.fail(pos, ctx, format!("template output exceeds {MAX_OUTPUT} bytes")));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk(&mut self, dot: &V<'a>, list: &'a [Node]) -> R<Flow> {
        for node in list {
            let flow = match node {
                Node::Text(t) => {
                    self.write(t, 0, &"text")?;
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(dot, pipe, true)?;
                    if pipe.decl.is_empty() {
                        let start = self.out.len();
                        if self.env.html && !is_safe(pipe) {
                            // html/template prints an invalid value as nothing.
                            if !matches!(&*v, Value::Nil) {
                                let text = match &*v {
                                    Value::String(s) => Cow::Borrowed(s.as_str()),
                                    other => Cow::Owned(other.to_go_string()),
                                };
                                html_template_escape(&text, self.out);
                            }
                        } else {
                            match &*v {
                                // An invalid value (nil, a missing key) prints as Go prints it.
                                Value::Nil => self.out.push_str("<no value>"),
                                Value::String(s) => self.out.push_str(s),
                                other => other.write_go(self.out),
                            }
                        }
                        if self.out.len() > MAX_OUTPUT {
                            self.out.truncate(start);
                            return Err(self.fail(
                                pipe.pos,
                                pipe,
                                format!("template output exceeds {MAX_OUTPUT} bytes"),
                            ));
                        }
                    }
                    Flow::Normal
                }
                Node::If(b) => self.walk_if_with(dot, b, false)?,
                Node::With(b) => self.walk_if_with(dot, b, true)?,
                Node::Range(b) => self.walk_range(dot, b)?,
                Node::Template { pos, name, pipe } => {
                    self.walk_template(dot, *pos, name, pipe.as_ref())?;
                    Flow::Normal
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_if_with(&mut self, dot: &V<'a>, b: &'a Branch, with: bool) -> R<Flow> {
        self.enter(b.pipe.pos, &b.pipe)?;
        let r = self.walk_if_with_inner(dot, b, with);
        self.depth -= 1;
        r
    }

    /// Counts one level of nesting, failing past [`MAX_DEPTH`].
    fn enter(&mut self, pos: usize, ctx: &dyn Display) -> R<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(pos, ctx, format!("exceeded maximum template depth ({MAX_DEPTH})")));
        }
        self.depth += 1;
        Ok(())
    }

    fn walk_if_with_inner(&mut self, dot: &V<'a>, b: &'a Branch, with: bool) -> R<Flow> {
        let mark = self.vars.len();
        let v = self.eval_pipeline(dot, &b.pipe, true)?;
        let flow = if v.truthy() {
            if with { self.walk(&v, &b.list)? } else { self.walk(dot, &b.list)? }
        } else if let Some(e) = &b.else_list {
            self.walk(dot, e)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_template(&mut self, dot: &V<'a>, pos: usize, name: &'a str, pipe: Option<&'a Pipe>) -> R<()> {
        let ctx = TemplateCtx(name, pipe);
        let Some(tree) = self.env.lookup(name) else {
            return Err(self.fail(pos, &ctx, format!("template {} not defined", go_quote(name))));
        };
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p, true)?,
            None => Cow::Owned(Value::Nil),
        };
        self.enter(pos, &ctx)?;
        // A called template sees only `$` (its dot), like a fresh execution.
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
        let saved_tree = std::mem::replace(&mut self.tree, tree);
        let r = self.walk(&new_dot, &tree.root);
        self.depth -= 1;
        self.tree = saved_tree;
        self.vars = saved_vars;
        r.map(|_| ())
    }

    fn walk_range(&mut self, dot: &V<'a>, b: &'a Branch) -> R<Flow> {
        self.enter(b.pipe.pos, &RangeCtx(&b.pipe))?;
        let r = self.walk_range_inner(dot, b);
        self.depth -= 1;
        r
    }

    fn walk_range_inner(&mut self, dot: &V<'a>, b: &'a Branch) -> R<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe, false)?;
        let decl = &b.pipe.decl;
        let ctx = RangeCtx(&b.pipe);
        // (key, element) pairs, borrowing from the data when the ranged value is borrowed.
        let items: Vec<(Value, V<'a>)> = match val {
            Cow::Borrowed(v) => match v {
                Value::List(l) | Value::Alerts(l) => {
                    l.iter().enumerate().map(|(i, e)| (Value::Int(i as i64), Cow::Borrowed(e))).collect()
                }
                Value::Map(m) => m.iter().map(|(k, e)| (Value::str(k), Cow::Borrowed(e))).collect(),
                other => self.range_owned(other.clone(), b, decl.len(), &ctx)?,
            },
            Cow::Owned(v) => self.range_owned(v, b, decl.len(), &ctx)?,
        };
        let mut flow = Flow::Normal;
        if items.is_empty() {
            if let Some(e) = &b.else_list {
                flow = self.walk(dot, e)?;
            }
        } else {
            if !b.pipe.is_assign {
                for d in decl {
                    self.vars.push((d, Cow::Owned(Value::Nil)));
                }
            }
            let base = self.vars.len();
            for (key, elem) in items {
                match decl.len() {
                    0 => {}
                    1 => self.set_var(&decl[0], elem.clone()),
                    _ => {
                        self.set_var(&decl[0], Cow::Owned(key));
                        self.set_var(&decl[1], elem.clone());
                    }
                }
                let f = self.walk(&elem, &b.list)?;
                self.vars.truncate(base);
                if matches!(f, Flow::Break) {
                    break;
                }
            }
        }
        self.vars.truncate(mark);
        if matches!(flow, Flow::Normal) { Ok(Flow::Normal) } else { Ok(flow) }
    }

    fn range_owned(&self, v: Value, b: &'a Branch, ndecl: usize, ctx: &dyn Display) -> R<Vec<(Value, V<'a>)>> {
        let idx = |i: usize| Value::Int(i as i64);
        Ok(match v {
            Value::List(l) | Value::Alerts(l) => {
                l.into_iter().enumerate().map(|(i, e)| (idx(i), Cow::Owned(e))).collect()
            }
            Value::Map(m) => m.into_iter().map(|(k, e)| (Value::String(k), Cow::Owned(e))).collect(),
            Value::StrMap(m) | Value::KV(m) => {
                m.into_iter().map(|(k, e)| (Value::String(k), Cow::Owned(Value::String(e)))).collect()
            }
            Value::Pairs(p) => methods::pair_values(&p).enumerate().map(|(i, e)| (idx(i), Cow::Owned(e))).collect(),
            Value::Int(n) => {
                if ndecl > 1 {
                    return Err(self.fail(
                        b.pipe.pos,
                        ctx,
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                (0..n.max(0)).map(|i| (Value::Int(i), Cow::Owned(Value::Int(i)))).collect()
            }
            Value::Nil => Vec::new(),
            other => {
                return Err(self.fail(b.pipe.pos, ctx, format!("range can't iterate over {}", other.to_go_string())));
            }
        })
    }

    fn set_var(&mut self, name: &str, v: V<'a>) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            slot.1 = v;
        }
    }

    fn var(&self, name: &str, pos: usize, ctx: &dyn Display) -> R<&V<'a>> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| self.fail(pos, ctx, format!("undefined variable: {name}")))
    }

    /// Evaluates a pipeline; `declare`: bind its `:=`/`=` variables (ranges bind their own).
    fn eval_pipeline(&mut self, dot: &V<'a>, pipe: &'a Pipe, declare: bool) -> R<V<'a>> {
        let mut val: Option<V<'a>> = None;
        for cmd in &pipe.cmds {
            val = Some(self.eval_command(dot, cmd, val.take())?);
        }
        let val = val.unwrap_or(Cow::Owned(Value::Nil));
        if declare {
            for d in &pipe.decl {
                if pipe.is_assign {
                    self.set_var(d, val.clone());
                } else {
                    self.vars.push((d, val.clone()));
                }
            }
        }
        Ok(val)
    }

    fn eval_command(&mut self, dot: &V<'a>, cmd: &'a Cmd, final_: Option<V<'a>>) -> R<V<'a>> {
        let first = &cmd.args[0];
        let rest = &cmd.args[1..];
        match &first.kind {
            ArgKind::Field(names) => self.eval_chain(dot, Recv::Ref(dot), first, names, rest, final_),
            ArgKind::Chain(base, names) => {
                let recv = self.eval_arg(dot, base)?;
                self.eval_chain(dot, Recv::Val(recv), first, names, rest, final_)
            }
            ArgKind::Var(name, names) => {
                if names.is_empty() {
                    self.not_a_function(first, rest, &final_)?;
                    return self.var(name, first.pos, first).cloned();
                }
                let v = self.var(name, first.pos, first)?.clone();
                self.eval_chain(dot, Recv::Val(v), first, names, rest, final_)
            }
            ArgKind::Func(name) => self.eval_function(dot, cmd.pos, cmd, name, rest, final_),
            ArgKind::Pipe(p) => {
                self.not_a_function(first, rest, &final_)?;
                self.eval_pipeline(dot, p, true)
            }
            ArgKind::Nil => Err(self.fail(first.pos, first, "nil is not a command")),
            _ => {
                self.not_a_function(first, rest, &final_)?;
                self.eval_arg(dot, first)
            }
        }
    }

    fn not_a_function(&self, first: &Arg, rest: &[Arg], final_: &Option<V<'a>>) -> R<()> {
        if !rest.is_empty() || final_.is_some() {
            return Err(self.fail(first.pos, first, format!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    /// An argument's value (a function name as an argument is called without arguments).
    fn eval_arg(&mut self, dot: &V<'a>, arg: &'a Arg) -> R<V<'a>> {
        Ok(match &arg.kind {
            ArgKind::Dot => dot.clone(),
            ArgKind::Nil => Cow::Owned(Value::Nil),
            ArgKind::Bool(b) => Cow::Owned(Value::Bool(*b)),
            ArgKind::Num(v, _) => Cow::Borrowed(v),
            ArgKind::Str(s) => Cow::Owned(Value::String(s.clone())),
            ArgKind::Field(names) => self.eval_chain(dot, Recv::Ref(dot), arg, names, &[], None)?,
            ArgKind::Var(name, names) => {
                let v = self.var(name, arg.pos, arg)?.clone();
                if names.is_empty() { v } else { self.eval_chain(dot, Recv::Val(v), arg, names, &[], None)? }
            }
            ArgKind::Func(name) => self.eval_function(dot, arg.pos, arg, name, &[], None)?,
            ArgKind::Chain(base, names) => {
                let recv = self.eval_arg(dot, base)?;
                self.eval_chain(dot, Recv::Val(recv), arg, names, &[], None)?
            }
            ArgKind::Pipe(p) => self.eval_pipeline(dot, p, true)?,
        })
    }

    /// `.A.B.C args…`: the arguments (and a pipeline's value) go to the last element.
    fn eval_chain(
        &mut self,
        dot: &V<'a>,
        recv: Recv<'_, 'a>,
        node: &'a Arg,
        names: &'a [String],
        args: &'a [Arg],
        final_: Option<V<'a>>,
    ) -> R<V<'a>> {
        let (last, init) = names.split_last().expect("a chain has a field");
        let mut recv = recv;
        for name in init {
            recv = Recv::Val(self.eval_field(dot, recv, node, name, &[], None)?);
        }
        self.eval_field(dot, recv, node, last, args, final_)
    }

    fn eval_field(
        &mut self,
        dot: &V<'a>,
        recv: Recv<'_, 'a>,
        node: &'a Arg,
        name: &str,
        args: &'a [Arg],
        final_: Option<V<'a>>,
    ) -> R<V<'a>> {
        let rv: &Value = match &recv {
            Recv::Ref(r) => r,
            Recv::Val(v) => v,
        };
        if methods::has_method(rv, name) {
            let mut argv = Vec::with_capacity(args.len() + 1);
            for a in args {
                argv.push(self.eval_arg(dot, a)?.into_owned());
            }
            if let Some(f) = final_ {
                argv.push(f.into_owned());
            }
            let rv: &Value = match &recv {
                Recv::Ref(r) => r,
                Recv::Val(v) => v,
            };
            return methods::call(rv, name, &argv).map(Cow::Owned).map_err(|e| match e {
                FuncError::Arity(want) => self.fail(node.pos, node, format!("wrong number of args for {name}: {want}")),
                e => self.fail(node.pos, node, format!("error calling {name}: {e}")),
            });
        }
        let type_name = rv.type_name().to_owned();
        let has_args = !args.is_empty() || final_.is_some();
        if matches!(rv, Value::Map(_) | Value::StrMap(_) | Value::KV(_)) && has_args {
            return Err(self.fail(node.pos, node, format!("{name} is not a method but has arguments")));
        }
        if matches!(rv, Value::Struct(..)) && has_args {
            return Err(self.fail(node.pos, node, format!("{name} has arguments but cannot be invoked as function")));
        }
        if matches!(rv, Value::Nil) {
            if self.env.missing == MissingKey::Error {
                return Err(self.fail(node.pos, node, format!("nil data; no entry for key {}", go_quote(name))));
            }
            return Ok(Cow::Owned(Value::Nil));
        }
        let borrowed: Option<&'a Value> = match &recv {
            Recv::Ref(Cow::Borrowed(b)) | Recv::Val(Cow::Borrowed(b)) => Some(*b),
            _ => None,
        };
        let found = match borrowed {
            Some(b) => match methods::field(b, name) {
                Some(Ok(FieldRef::Value(v))) => Some(Ok(Cow::Borrowed(v))),
                Some(Ok(FieldRef::Str(s))) => Some(Ok(Cow::Owned(Value::str(s)))),
                Some(Err(zero)) => Some(Err(zero)),
                None => None,
            },
            None => match recv {
                // An intermediate we own: move the field out instead of copying it.
                Recv::Val(Cow::Owned(Value::Map(mut m))) => Some(m.remove(name).map(Cow::Owned).ok_or(Value::Nil)),
                Recv::Val(Cow::Owned(Value::Struct(_, fields))) => {
                    fields.into_iter().find(|(k, _)| k == name).map(|(_, v)| Ok(Cow::Owned(v)))
                }
                Recv::Val(Cow::Owned(Value::StrMap(mut m) | Value::KV(mut m))) => {
                    Some(m.remove(name).map(|s| Cow::Owned(Value::String(s))).ok_or(Value::str("")))
                }
                Recv::Ref(Cow::Owned(v)) => match methods::field(v, name) {
                    Some(Ok(FieldRef::Value(v))) => Some(Ok(Cow::Owned(v.clone()))),
                    Some(Ok(FieldRef::Str(s))) => Some(Ok(Cow::Owned(Value::str(s)))),
                    Some(Err(zero)) => Some(Err(zero)),
                    None => None,
                },
                _ => None,
            },
        };
        match found {
            Some(Ok(v)) => Ok(v),
            Some(Err(zero)) => match self.env.missing {
                MissingKey::Error => {
                    Err(self.fail(node.pos, node, format!("map has no entry for key {}", go_quote(name))))
                }
                MissingKey::Zero => Ok(Cow::Owned(zero)),
                MissingKey::Invalid => Ok(Cow::Owned(Value::Nil)),
            },
            None => Err(self.fail(node.pos, node, format!("can't evaluate field {name} in type {type_name}"))),
        }
    }

    /// Calls function `name`; errors point at `pos` and show `ctx` (the command, as Go does).
    fn eval_function(
        &mut self,
        dot: &V<'a>,
        pos: usize,
        ctx: &dyn Display,
        name: &str,
        args: &'a [Arg],
        final_: Option<V<'a>>,
    ) -> R<V<'a>> {
        let Some(kind) = self.env.funcs.get(name) else {
            return Err(self.fail(pos, ctx, format!("{} is not a defined function", go_quote(name))));
        };
        match kind {
            FuncKind::And | FuncKind::Or => {
                let is_or = matches!(kind, FuncKind::Or);
                let n = args.len() + usize::from(final_.is_some());
                if n == 0 {
                    return Err(self.fail(pos, ctx, format!("wrong number of args for {name}: want at least 1 got 0")));
                }
                // Stops at the first argument that decides the result, as Go 1.18+ does.
                let mut last = None;
                for a in args {
                    let v = self.eval_arg(dot, a)?;
                    if v.truthy() == is_or {
                        return Ok(v);
                    }
                    last = Some(v);
                }
                Ok(final_.or(last).expect("at least one argument"))
            }
            FuncKind::ExternalUrl | FuncKind::PathPrefix => {
                if !args.is_empty() || final_.is_some() {
                    return Err(self.fail(
                        pos,
                        ctx,
                        format!(
                            "wrong number of args for {name}: want 0 got {}",
                            args.len() + usize::from(final_.is_some())
                        ),
                    ));
                }
                let url = match &*self.vars[0].1 {
                    Value::Map(_) | Value::Struct(..) => {
                        self.vars[0].1.get("ExternalURL").and_then(Value::as_str).unwrap_or("")
                    }
                    _ => "",
                };
                let v = if matches!(kind, FuncKind::ExternalUrl) { url.to_owned() } else { url_path(url).to_owned() };
                Ok(Cow::Owned(Value::String(v)))
            }
            FuncKind::Native(f) => {
                let f = f.clone();
                let mut argv = Vec::with_capacity(args.len() + 1);
                for a in args {
                    argv.push(self.eval_arg(dot, a)?.into_owned());
                }
                if let Some(v) = final_ {
                    argv.push(v.into_owned());
                }
                f(&argv).map(Cow::Owned).map_err(|e| match e {
                    // Go reports argument-count and -type mismatches itself, unwrapped.
                    FuncError::Arity(want) => self.fail(pos, &name, format!("wrong number of args for {name}: {want}")),
                    FuncError::ArgType(m) => self.fail(pos, ctx, m),
                    e => self.fail(pos, ctx, format!("error calling {name}: {e}")),
                })
            }
        }
    }
}

/// Whether an action's value is marked safe HTML (its last command calls `safeHtml`/`safeUrl`).
fn is_safe(pipe: &Pipe) -> bool {
    pipe.cmds.last().is_some_and(|c| matches!(&c.args[0].kind, ArgKind::Func(n) if n == "safeHtml" || n == "safeUrl"))
}

/// html/template's escaping of HTML text and attribute values (`+` too, unlike `html`).
fn html_template_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '+' => out.push_str("&#43;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// The path of a URL (`http://host:9090/prom/` → `/prom/`), what Prometheus's `pathPrefix` gives.
fn url_path(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("")
}

struct TemplateCtx<'n>(&'n str, Option<&'n Pipe>);

impl Display for TemplateCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Some(p) => write!(f, "{{{{template {} {p}}}}}", go_quote(self.0)),
            None => write!(f, "{{{{template {}}}}}", go_quote(self.0)),
        }
    }
}

struct RangeCtx<'p>(&'p Pipe);

impl Display for RangeCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{{range {}}}}}", self.0)
    }
}
