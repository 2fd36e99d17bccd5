//! Go's `text/template` for Lookout: what Prometheus rule labels/annotations
//! (`{{ $labels.instance }}`, `{{ $value | humanize }}`) and Alertmanager notification templates
//! (`{{ define "slack.default.title" }}…{{ end }}`, `{{ range .Alerts.Firing }}`,
//! `{{ .CommonLabels.SortedPairs }}`) are written in.
//!
//! - [`TemplateSet`]: templates parsed once (with every `define`/`block` they contain), executed
//!   many times; cheap to clone and share (an `Arc` inside). `execute_text` runs a one-off text
//!   against the set (a receiver field calling `{{ template "…" . }}`); `execute_html` and
//!   `execute_text_html` escape action output for email bodies (see their docs for the limits).
//! - [`render`]: parse and execute a one-off text (a rule annotation).
//! - [`Value`]: the data templates read — JSON-like values, Go structs (a missing field is an
//!   error, as in Go), and the Alertmanager and Go types whose methods templates call (`KV`,
//!   `Pairs`, `Alerts`, `time.Time`, `time.Duration`).
//! - [`Funcs`]: the function table: Go's builtins, [`Funcs::with_prometheus`],
//!   [`Funcs::with_alertmanager`], or your own.
//! - [`data`]: the data Prometheus (`AlertTemplateData`, [`data::PROMETHEUS_ALERT_PREFIX`]) and
//!   Alertmanager (`template.Data`) pass, built as they build it.
//! - [`TemplateError`]: displayed as Go words it (`template: NAME:LINE:COL: executing "NAME" at
//!   <.Foo>: …`), so users recognise the messages from Prometheus and Alertmanager.
//!
//! # Why our own engine
//!
//! Users bring templates written for Prometheus and Alertmanager, so the language must be Go's
//! exactly. The `gtmpl` crate (a Go-template port) was checked and falls short where users'
//! files depend on it: its functions are plain `fn` pointers (no closures, so no `query` hook
//! bound to a rule's evaluation), floats print with Rust's `Display` rather than Go's `%v`
//! (`1e21` → `1000000000000000000000`, not `1e+21`), maps are `HashMap`s, and it has no
//! Go-typed values with methods (`.Alerts.Firing`, `.StartsAt.Format`). Bridging that would
//! mean pre-shaping data in ways that still print differently, so this crate implements the
//! language itself, following Go's `text/template` (lexer → parse tree → executor): trim
//! markers, comments, variables and `:=`/`=`, `if`/`else if`/`with`/`else with`/`range` (with
//! `$i, $e :=`, `else`, `break`, `continue`, over ints), `define`/`template`/`block`, pipelines,
//! parenthesised pipelines, method-before-field lookup, Go's ideal number constants, lazy
//! `and`/`or`, Go's comparison rules, `fmt`-faithful `printf`, and Go's `missingkey` option.
//! Unknown functions and undefined variables are parse errors, as in Go. The tests check a
//! hundred-odd cases against the real Alertmanager (`amtool template render`) and port
//! Prometheus's `template_test.go`.
//!
//! Where it knowingly differs from Go: `call` is absent (templates here hold no function
//! values); HTML mode escapes without `html/template`'s URL/JS/CSS contexts; `time.Time.Local`
//! is UTC; `KV` and `Pairs` print through their `String` methods (current Alertmanager, not
//! 0.25); a few argument-type errors point at the command rather than the argument.
//!
//! Execution borrows from the data where it can and writes into one `String`; output is capped
//! (16 MiB) and `{{template}}` nesting bounded, so a bad template fails rather than exhausting
//! memory or the stack.
//!
//! ```
//! use lookout_template::{render, Funcs, Value};
//! let data = Value::map([
//!     ("Labels", Value::str_map([("instance", "db1:9100")])),
//!     ("Value", Value::Float(0.123456)),
//! ]);
//! let funcs = Funcs::go_builtins().with_prometheus(None);
//! let text = "{{ $labels := .Labels }}{{ $labels.instance | stripPort }} at {{ .Value | humanizePercentage }}";
//! assert_eq!(render(text, &data, &funcs).unwrap(), "db1 at 12.35%");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod alertmanager;
mod builtins;
pub mod data;
mod error;
mod exec;
mod funcs;
pub mod gofmt;
mod gotime;
mod lex;
mod methods;
mod parse;
mod printf;
mod prometheus;
pub mod quote;
mod tree;
mod value;

use std::collections::HashMap;
use std::sync::Arc;

pub use error::{DataError, ErrorKind, FuncError, TemplateError};
pub use funcs::{Func, Funcs, QueryHook};
pub use value::Value;

/// What a missing map key evaluates to (Go's `Option("missingkey=…")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `missingkey=zero` (what Prometheus and Alertmanager set): the map's zero value — `""` in a
    /// label set, `<no value>` in a generic map.
    #[default]
    Zero,
    /// Go's default: `<no value>`.
    Invalid,
    /// `missingkey=error`: an execution error.
    Error,
}

#[derive(Clone)]
struct Inner {
    templates: HashMap<String, Arc<tree::Tree>>,
    funcs: Funcs,
    missing: MissingKey,
}

/// A set of named templates sharing one function table, so `{{ template "x" . }}` finds every
/// template parsed into the set. Parse once, execute many times; clones share the parsed trees.
#[derive(Clone)]
pub struct TemplateSet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.inner.templates.keys().collect();
        names.sort();
        f.debug_struct("TemplateSet").field("templates", &names).finish()
    }
}

impl TemplateSet {
    /// An empty set calling `funcs`, with `missingkey=zero`.
    pub fn new(funcs: Funcs) -> Self {
        TemplateSet { inner: Arc::new(Inner { templates: HashMap::new(), funcs, missing: MissingKey::Zero }) }
    }

    /// Sets what a missing map key evaluates to.
    pub fn set_missing_key(&mut self, missing: MissingKey) {
        Arc::make_mut(&mut self.inner).missing = missing;
    }

    /// Parses `text` as template `name`, adding every template it `define`s (or declares with
    /// `block`). As in Go, a later definition replaces an earlier one unless its body is empty.
    /// On error the set is unchanged.
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), TemplateError> {
        let trees = parse_text(name, text, &self.inner.funcs)?;
        let inner = Arc::make_mut(&mut self.inner);
        for tree in trees {
            let keep_old = tree.is_empty() && inner.templates.contains_key(&tree.name);
            if !keep_old {
                inner.templates.insert(tree.name.clone(), Arc::new(tree));
            }
        }
        Ok(())
    }

    /// Executes template `name` with `data` as dot.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        self.execute_into(name, data, &mut out)?;
        Ok(out)
    }

    /// [`TemplateSet::execute`], appending to `out` (on error, `out` holds the partial output).
    pub fn execute_into(&self, name: &str, data: &Value, out: &mut String) -> Result<(), TemplateError> {
        exec::execute(self.env(&[], false), self.tree(name)?, data, out)
    }

    /// [`TemplateSet::execute`] with another function table for this one execution — e.g.
    /// Prometheus's `query` bound to one rule evaluation, so a rule's templates are parsed once
    /// (with [`Funcs::with_prometheus`]`(None)`) and executed with each evaluation's hook.
    /// Templates were checked against the set's own table when parsed; a name `funcs` lacks
    /// fails at execution (`"x" is not a defined function`).
    pub fn execute_with(&self, name: &str, data: &Value, funcs: &Funcs) -> Result<String, TemplateError> {
        let mut out = String::new();
        let env = exec::Env { funcs, ..self.env(&[], false) };
        exec::execute(env, self.tree(name)?, data, &mut out)?;
        Ok(out)
    }

    /// Executes template `name` in HTML mode (what Alertmanager's email bodies use): each
    /// action's output is escaped as `html/template` escapes HTML text and attribute values,
    /// except values from `safeHtml`/`safeUrl`; a missing value prints nothing. Unlike
    /// `html/template` the escaping is not contextual (no URL/JS/CSS-specific forms), which is
    /// safe for text and quoted attributes, the places notification templates put values.
    pub fn execute_html(&self, name: &str, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        exec::execute(self.env(&[], true), self.tree(name)?, data, &mut out)?;
        Ok(out)
    }

    /// [`TemplateSet::execute_text`] in HTML mode (Alertmanager's `ExecuteHTMLString`).
    pub fn execute_text_html(&self, text: &str, data: &Value) -> Result<String, TemplateError> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let trees = parse_text("", text, &self.inner.funcs)?;
        let mut out = String::new();
        exec::execute(self.env(&trees, true), &trees[0], data, &mut out)?;
        Ok(out)
    }

    fn tree(&self, name: &str) -> Result<&tree::Tree, TemplateError> {
        self.inner.templates.get(name).map(|t| &**t).ok_or_else(|| {
            TemplateError::new(
                ErrorKind::NotDefined,
                format!("template: no template {} associated with template set", quote::go_quote(name)),
            )
        })
    }

    /// Parses and executes a one-off `text` that can call the set's templates (Alertmanager's
    /// `ExecuteTextString`: a receiver field like `'{{ template "slack.default.title" . }}'`).
    /// Its own `define`s are visible only to itself. Empty text gives empty output.
    pub fn execute_text(&self, text: &str, data: &Value) -> Result<String, TemplateError> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let trees = parse_text("", text, &self.inner.funcs)?;
        let mut out = String::new();
        exec::execute(self.env(&trees, false), &trees[0], data, &mut out)?;
        Ok(out)
    }

    /// Checks that `text` parses with this set's functions (for config validation at load).
    pub fn check(&self, name: &str, text: &str) -> Result<(), TemplateError> {
        parse_text(name, text, &self.inner.funcs).map(|_| ())
    }

    /// Whether a template of that name is in the set.
    pub fn has(&self, name: &str) -> bool {
        self.inner.templates.contains_key(name)
    }

    /// The names of the set's templates, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.inner.templates.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The set's functions.
    pub fn funcs(&self) -> &Funcs {
        &self.inner.funcs
    }

    fn env<'a>(&'a self, overlay: &'a [tree::Tree], html: bool) -> exec::Env<'a> {
        exec::Env {
            templates: &self.inner.templates,
            overlay,
            funcs: &self.inner.funcs,
            missing: self.inner.missing,
            html,
        }
    }
}

fn parse_text(name: &str, text: &str, funcs: &Funcs) -> Result<Vec<tree::Tree>, TemplateError> {
    parse::parse(name, text, funcs).map_err(|e| {
        let line = 1 + text[..e.pos.min(text.len())].matches('\n').count();
        TemplateError::new(ErrorKind::Parse, format!("template: {name}:{line}: {}", e.msg))
    })
}

/// Parses and executes a one-off text named `""` with `missingkey=zero` (Alertmanager's wording
/// for errors: `template: :1:3: …`).
pub fn render(text: &str, data: &Value, funcs: &Funcs) -> Result<String, TemplateError> {
    render_named("", text, data, funcs)
}

/// [`render`] with a name for error messages (Prometheus names a rule's templates
/// `__alert_NAME`).
pub fn render_named(name: &str, text: &str, data: &Value, funcs: &Funcs) -> Result<String, TemplateError> {
    // Most label values and many annotations are plain text: nothing to parse.
    if !text.contains("{{") {
        return Ok(text.to_owned());
    }
    let trees = parse_text(name, text, funcs)?;
    let templates = HashMap::new();
    let env = exec::Env { templates: &templates, overlay: &trees, funcs, missing: MissingKey::Zero, html: false };
    let mut out = String::new();
    exec::execute(env, &trees[0], data, &mut out)?;
    Ok(out)
}

/// Checks that `text` parses with `funcs` (rule files are checked at load, as `promtool` does).
pub fn check(name: &str, text: &str, funcs: &Funcs) -> Result<(), TemplateError> {
    parse_text(name, text, funcs).map(|_| ())
}
