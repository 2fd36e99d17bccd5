//! Rule files: parsing and validation with positions.
//!
//! The checks are `promtool check rules`'s (`model/rulefmt`), with its messages prefixed
//! the same way (`group "G", rule N, "NAME": ...`), but every problem carries a
//! `FILE:LINE:COL` and all of them are reported in one pass. Two checks go further than
//! Prometheus, because the rule could never evaluate: an expression this evaluator does
//! not implement, and an expression of type range vector or string.

use std::path::Path;
use std::sync::Arc;

use lookout_config::{ConfigError, ConfigErrors, Position};
use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;
use serde_saphyr::Spanned;

use crate::duration::parse_duration;
use crate::raw::{FILE_FIELDS, GROUP_FIELDS, RULE_FIELDS, RawFile, RawGroup, RawRule, SpannedMap};
use crate::template::RuleTemplates;

/// A group of rules evaluated in order at one timestamp.
#[derive(Debug, Clone)]
pub struct RuleGroup {
    /// Its name, unique within its file.
    pub name: String,
    /// The file it came from, as named by the user.
    pub file: Arc<str>,
    /// `interval`, when set (else the global evaluation interval applies).
    pub interval_ms: Option<i64>,
    /// `limit`: at most this many alerts or series per rule; 0 means no limit.
    pub limit: usize,
    /// `query_offset`, when set (else the global rule query offset applies).
    pub query_offset_ms: Option<i64>,
    /// Labels added to every rule of the group (a rule's own label wins).
    pub labels: Vec<(String, String)>,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// Where the group starts.
    pub position: Position,
}

impl RuleGroup {
    /// Whether `other` defines the same group (positions aside): Prometheus keeps an
    /// unchanged group running as is across a reload.
    pub fn same_definition(&self, other: &RuleGroup) -> bool {
        self.name == other.name
            && self.file == other.file
            && self.interval_ms == other.interval_ms
            && self.limit == other.limit
            && self.query_offset_ms == other.query_offset_ms
            && self.rules.len() == other.rules.len()
            && self.rules.iter().zip(&other.rules).all(|(a, b)| a.same_definition(b))
    }
}

/// A recording or alerting rule.
#[derive(Debug, Clone)]
pub enum Rule {
    /// `alert:`.
    Alerting(AlertingRule),
    /// `record:`.
    Recording(RecordingRule),
}

impl Rule {
    /// The alert name or the recorded metric name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Alerting(r) => &r.name,
            Rule::Recording(r) => &r.name,
        }
    }

    /// The expression as written.
    pub fn expr_text(&self) -> &str {
        match self {
            Rule::Alerting(r) => &r.expr_text,
            Rule::Recording(r) => &r.expr_text,
        }
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        match self {
            Rule::Alerting(r) => &r.expr,
            Rule::Recording(r) => &r.expr,
        }
    }

    /// The rule's labels (group labels merged in, the rule's own winning).
    pub fn labels(&self) -> &[(String, String)] {
        match self {
            Rule::Alerting(r) => &r.labels,
            Rule::Recording(r) => &r.labels,
        }
    }

    /// Where the rule starts.
    pub fn position(&self) -> &Position {
        match self {
            Rule::Alerting(r) => &r.position,
            Rule::Recording(r) => &r.position,
        }
    }

    /// `"alerting"` or `"recording"` (the Prometheus API's `type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Rule::Alerting(_) => "alerting",
            Rule::Recording(_) => "recording",
        }
    }

    /// Whether `other` is the same rule (positions and expression layout aside).
    pub fn same_definition(&self, other: &Rule) -> bool {
        match (self, other) {
            (Rule::Alerting(a), Rule::Alerting(b)) => {
                a.name == b.name
                    && same_expr(&a.expr, &b.expr)
                    && a.for_ms == b.for_ms
                    && a.keep_firing_for_ms == b.keep_firing_for_ms
                    && sorted(&a.labels) == sorted(&b.labels)
                    && sorted(&a.annotations) == sorted(&b.annotations)
            }
            (Rule::Recording(a), Rule::Recording(b)) => {
                a.name == b.name && same_expr(&a.expr, &b.expr) && sorted(&a.labels) == sorted(&b.labels)
            }
            _ => false,
        }
    }
}

/// Expressions compare in their printed form, as Prometheus compares rules: layout and
/// redundant parentheses aside.
fn same_expr(a: &Expr, b: &Expr) -> bool {
    a == b || a.to_string() == b.to_string()
}

fn sorted(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut v = pairs.to_vec();
    v.sort();
    v
}

/// An alerting rule.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    /// `alert:`, the `alertname` label of its alerts.
    pub name: String,
    /// The parsed expression.
    pub expr: Expr,
    /// The expression as written.
    pub expr_text: String,
    /// `for`: how long an alert stays pending before it fires.
    pub for_ms: i64,
    /// `keep_firing_for`: how long an alert keeps firing after its condition cleared.
    pub keep_firing_for_ms: i64,
    /// Label templates (group labels merged in), in file order.
    pub labels: Vec<(String, String)>,
    /// Annotation templates, in file order.
    pub annotations: Vec<(String, String)>,
    /// Where the rule starts.
    pub position: Position,
    /// Where its `expr` value starts.
    pub expr_position: Position,
    /// `labels` and `annotations` parsed as templates, once.
    pub templates: RuleTemplates,
    /// `/graph?g0.expr=…&g0.tab=1` for `expr`, the path of its alerts'
    /// `generatorURL` (printed once here rather than at every evaluation).
    pub graph_path: String,
}

/// A recording rule.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    /// `record:`, the metric name of its output.
    pub name: String,
    /// The parsed expression.
    pub expr: Expr,
    /// The expression as written.
    pub expr_text: String,
    /// Labels set on its output (group labels merged in), in file order.
    pub labels: Vec<(String, String)>,
    /// Where the rule starts.
    pub position: Position,
    /// Where its `expr` value starts.
    pub expr_position: Position,
}

/// Reads and checks one rule file.
pub fn load_rule_file(path: &Path) -> Result<Vec<RuleGroup>, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            Position { file: Arc::from(file.as_str()), line: 1, column: 1 },
            format!("cannot read file: {e}"),
        )
    })?;
    parse_rule_file(&file, &text)
}

/// Reads and checks the files matching each glob pattern (files in pattern order, each
/// pattern's matches sorted, a file named twice read once). A pattern matching nothing
/// is not an error, as in Prometheus. Errors of all files are reported together.
pub fn load_rule_files(patterns: &[String]) -> Result<Vec<RuleGroup>, ConfigErrors> {
    let mut errors = Vec::new();
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for pattern in patterns {
        let here = || Position { file: Arc::from(pattern.as_str()), line: 1, column: 1 };
        match glob::glob(pattern) {
            Ok(paths) => {
                let mut matched: Vec<_> = Vec::new();
                for p in paths {
                    match p {
                        Ok(p) => matched.push(p),
                        Err(e) => errors.push(ConfigError::new(here(), format!("cannot read {e}"))),
                    }
                }
                matched.sort();
                for p in matched {
                    if !files.contains(&p) {
                        files.push(p);
                    }
                }
            }
            Err(e) => errors.push(ConfigError::new(here(), format!("invalid rule file pattern {pattern:?}: {e}"))),
        }
    }
    let mut groups = Vec::new();
    for f in files {
        match load_rule_file(&f) {
            Ok(g) => groups.extend(g),
            Err(e) => errors.extend(e.0),
        }
    }
    if errors.is_empty() { Ok(groups) } else { Err(ConfigErrors(errors)) }
}

/// Parses and checks rule-file text; `file` names it in positions. Every problem is
/// reported, sorted by position.
pub fn parse_rule_file(file: &str, text: &str) -> Result<Vec<RuleGroup>, ConfigErrors> {
    let file: Arc<str> = Arc::from(file);
    // An empty file (or one with only comments) has no groups, as in Prometheus.
    if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Ok(Vec::new());
    }
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(&file, &e))?;
    let mut cx = Checker { file: file.clone(), errors: Vec::new() };
    cx.unknown(&raw.unknown, FILE_FIELDS, "the rule file");
    let mut groups: Vec<RuleGroup> = Vec::new();
    for g in raw.groups.unwrap_or_default() {
        let position = cx.pos(&g);
        if let Some(group) = cx.group(g.value, position) {
            if groups.iter().any(|o| o.name == group.name) {
                cx.err(&group.position, format!("groupname: \"{}\" is repeated in the same file", group.name));
            }
            groups.push(group);
        }
    }
    if cx.errors.is_empty() { Ok(groups) } else { Err(ConfigErrors(cx.errors).sorted()) }
}

/// A YAML error, reworded where serde-saphyr's words are about its own options.
fn yaml_error(file: &Arc<str>, e: &serde_saphyr::Error) -> ConfigError {
    let mut err = ConfigError::from_yaml(file, e, None);
    if let Some(rest) = err.message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(", set DuplicateKeyPolicy").next().unwrap_or(rest);
        err.message = format!("mapping key {key:?} already defined");
    } else if err.message == "expected mapping start" {
        err.message = "expected a map (`name: value` entries) here".to_string();
    } else if err.message.starts_with("multiple YAML documents detected") {
        err.message = "a rule file holds one YAML document (a second one starts here)".to_string();
    }
    err
}

struct Checker {
    file: Arc<str>,
    errors: Vec<ConfigError>,
}

/// Label names as Prometheus's legacy (pre-UTF-8) validation accepts them, which is
/// also what this evaluator's PromQL can select.
pub(crate) fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Metric names, legacy validation (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub(crate) fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl Checker {
    fn pos<T>(&self, s: &Spanned<T>) -> Position {
        let (line, column) = (s.referenced.line(), s.referenced.column());
        Position { file: self.file.clone(), line: line.max(1), column: column.max(1) }
    }

    fn err(&mut self, at: &Position, message: impl Into<String>) {
        self.errors.push(ConfigError::new(at.clone(), message));
    }

    fn unknown(&mut self, keys: &[Spanned<String>], fields: &[&str], what: &str) {
        for k in keys {
            let at = self.pos(k);
            self.err(&at, format!("field {} not found in {what} (valid fields: {})", k.value, fields.join(", ")));
        }
    }

    fn duration(&mut self, d: &Option<Spanned<String>>, prefix: &str) -> Option<i64> {
        let d = d.as_ref()?;
        match parse_duration(&d.value) {
            Ok(ms) => Some(ms),
            Err(e) => {
                let at = self.pos(d);
                self.err(&at, format!("{prefix}{e}"));
                None
            }
        }
    }

    fn group(&mut self, g: RawGroup, position: Position) -> Option<RuleGroup> {
        self.unknown(&g.unknown, GROUP_FIELDS, "a rule group");
        let name = g.name.as_ref().map(|n| n.value.clone()).unwrap_or_default();
        if name.is_empty() {
            self.err(&position, "Groupname must not be empty");
        }
        // `interval: 0s` means the global interval, as in Prometheus (zero is "unset").
        let interval_ms = self.duration(&g.interval, "").filter(|&ms| ms > 0);
        let query_offset_ms = self.duration(&g.query_offset, "");
        // A negative limit means no limit, as Prometheus reads it.
        let limit = match &g.limit {
            None => 0,
            Some(l) => match l.value.trim().parse::<i64>() {
                Ok(n) => n.max(0) as usize,
                Err(_) => {
                    let at = self.pos(l);
                    self.err(&at, format!("limit must be an integer, not {:?}", l.value));
                    0
                }
            },
        };
        let labels = self.labels(g.labels.as_ref(), "");
        let mut rules = Vec::new();
        for (i, r) in g.rules.unwrap_or_default().into_iter().enumerate() {
            let rpos = self.pos(&r);
            if let Some(rule) = self.rule(&name, i + 1, r.value, rpos, &labels) {
                rules.push(rule);
            }
        }
        Some(RuleGroup { name, file: self.file.clone(), interval_ms, limit, query_offset_ms, labels, rules, position })
    }

    /// Checks label names (and returns the pairs in file order).
    fn labels(&mut self, m: Option<&SpannedMap>, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in m.into_iter().flatten() {
            if !valid_label_name(&k.value) || k.value == "__name__" {
                let at = self.pos(k);
                self.err(&at, format!("{prefix}invalid label name: {}", k.value));
            }
            out.push((k.value.clone(), v.value.clone()));
        }
        out
    }

    fn rule(
        &mut self,
        group: &str,
        index: usize,
        r: RawRule,
        position: Position,
        group_labels: &[(String, String)],
    ) -> Option<Rule> {
        self.unknown(&r.unknown, RULE_FIELDS, "a rule");
        let record = r.record.as_ref().filter(|s| !s.value.is_empty());
        let alert = r.alert.as_ref().filter(|s| !s.value.is_empty());
        let rule_name = alert.or(record).map(|s| s.value.as_str()).unwrap_or("");
        let prefix = format!("group {group:?}, rule {index}, {rule_name:?}: ");
        let errors_before = self.errors.len();
        match (record, alert) {
            (Some(rec), Some(_)) => {
                let at = self.pos(rec);
                self.err(&at, format!("{prefix}only one of 'record' and 'alert' must be set"));
            }
            (None, None) => self.err(&position, format!("{prefix}one of 'record' or 'alert' must be set")),
            _ => {}
        }
        let expr_position = r.expr.as_ref().map(|e| self.pos(e)).unwrap_or_else(|| position.clone());
        let expr_text = r.expr.as_ref().map(|e| e.value.clone()).unwrap_or_default();
        let expr = self.expr(&expr_text, &expr_position, &prefix);
        let for_ms = self.duration(&r.for_, &prefix).unwrap_or(0);
        let keep_firing_for_ms = self.duration(&r.keep_firing_for, &prefix).unwrap_or(0);
        let own_labels = self.labels(r.labels.as_ref(), &prefix);
        let annotations: Vec<(String, String)> =
            r.annotations.iter().flatten().map(|(k, v)| (k.value.clone(), v.value.clone())).collect();
        for (k, _) in r.annotations.iter().flatten() {
            if !valid_label_name(&k.value) {
                let at = self.pos(k);
                self.err(&at, format!("{prefix}invalid annotation name: {}", k.value));
            }
        }
        if let Some(rec) = record {
            let at = self.pos(rec);
            if let Some((k, _)) = r.annotations.as_ref().and_then(|m| m.first()) {
                let at = self.pos(k);
                self.err(&at, format!("{prefix}invalid field 'annotations' in recording rule"));
            }
            if let (Some(f), true) = (&r.for_, for_ms != 0) {
                let at = self.pos(f);
                self.err(&at, format!("{prefix}invalid field 'for' in recording rule"));
            }
            if let (Some(f), true) = (&r.keep_firing_for, keep_firing_for_ms != 0) {
                let at = self.pos(f);
                self.err(&at, format!("{prefix}invalid field 'keep_firing_for' in recording rule"));
            }
            if rec.value.contains('{') || rec.value.contains('}') {
                self.err(
                    &at,
                    format!("{prefix}braces present in the recording rule name; should it be in expr?: {}", rec.value),
                );
            } else if !valid_metric_name(&rec.value) {
                self.err(&at, format!("{prefix}invalid recording rule name: {}", rec.value));
            }
        }
        if let Some(a) = alert.filter(|_| record.is_none()) {
            let templates = r.labels.iter().flatten().map(|kv| ("label", kv));
            let templates = templates.chain(r.annotations.iter().flatten().map(|kv| ("annotation", kv)));
            for (what, (k, v)) in templates {
                if let Err(e) = crate::template::check(&a.value, &v.value) {
                    let at = self.pos(v);
                    self.err(&at, format!("{prefix}{what} {:?}: {e}", k.value));
                }
            }
        }
        if self.errors.len() > errors_before {
            return None;
        }
        let expr = expr?;
        // Group labels first, the rule's own override them (Prometheus merges the same way).
        let mut labels: Vec<(String, String)> =
            group_labels.iter().filter(|(k, _)| !own_labels.iter().any(|(o, _)| o == k)).cloned().collect();
        labels.extend(own_labels);
        Some(match (record, alert) {
            (Some(rec), _) => Rule::Recording(RecordingRule {
                name: rec.value.clone(),
                expr,
                expr_text,
                labels,
                position,
                expr_position,
            }),
            (_, Some(a)) => Rule::Alerting(AlertingRule {
                templates: RuleTemplates::compile(&a.value, &labels, &annotations),
                graph_path: crate::alerting::table_link(&expr.to_string()),
                name: a.value.clone(),
                expr,
                expr_text,
                for_ms,
                keep_firing_for_ms,
                labels,
                annotations,
                position,
                expr_position,
            }),
            (None, None) => return None,
        })
    }

    fn expr(&mut self, text: &str, at: &Position, prefix: &str) -> Option<Expr> {
        if text.trim().is_empty() {
            self.err(at, format!("{prefix}field 'expr' must be set in rule"));
            return None;
        }
        let expr = match lookout_tsdb::promql::parse(text) {
            Ok(e) => e,
            Err(e) => {
                self.err(at, format!("{prefix}could not parse expression: parse error: {}", e.trim_end()));
                return None;
            }
        };
        if let Err(e) = lookout_tsdb::promql::check(&expr) {
            self.err(at, format!("{prefix}{e}"));
            return None;
        }
        match expr.value_type() {
            ValueType::Vector | ValueType::Scalar => Some(expr),
            other => {
                let what = if other == ValueType::Matrix { "range vector" } else { "string" };
                self.err(
                    at,
                    format!("{prefix}the expression must evaluate to an instant vector or a scalar, not a {what}"),
                );
                None
            }
        }
    }
}
