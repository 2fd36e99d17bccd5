//! Alert label and annotation templates: Go `text/template` ([`lookout_template`]) with
//! Prometheus's data and variables (`$labels`, `$value`, `$externalLabels`,
//! `$externalURL`) prepended exactly as `rules/alerting.go` does, so error columns match.
//! Lookout adds `$evidence` (the alert's exemplars: a list of maps with `trace_id`,
//! `span_id`, `log`, `value`, `timestamp`), declared only in templates that use it so
//! that every other template reads exactly as in Prometheus.
//!
//! Prometheus parses every template again for every alert of every evaluation; here a
//! rule's templates are parsed once when the rule is loaded ([`RuleTemplates`]) and only
//! executed per alert, with the evaluation's `query` function.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use lookout_template::{Funcs, QueryHook, TemplateSet, Value};

/// What a template sees for one alert.
pub struct AlertTemplateData<'a> {
    /// The result sample's labels, `__name__` included (`$labels`, `.Labels`).
    pub labels: &'a [(String, String)],
    /// The global external labels (`$externalLabels`).
    pub external_labels: &'a [(String, String)],
    /// The external URL (`$externalURL`).
    pub external_url: &'a str,
    /// The sample value (`$value`, `.Value`).
    pub value: f64,
    /// The alert's evidence (`$evidence`, `.Evidence`).
    pub evidence: &'a [lookout_receivers::Evidence],
}

impl AlertTemplateData<'_> {
    /// The template's dot.
    pub fn to_value(&self) -> Value {
        Value::map([
            ("Labels", str_map(self.labels)),
            ("ExternalLabels", str_map(self.external_labels)),
            ("ExternalURL", Value::str(self.external_url)),
            ("Value", Value::Float(self.value)),
            (
                "Evidence",
                Value::List(self.evidence.iter().map(lookout_receivers::Evidence::to_template_value).collect()),
            ),
        ])
    }
}

// The variables Prometheus defines in front of every alert template.
const DEFS: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// What goes in front of `text`: Prometheus's variables, and `$evidence` if it uses it.
fn with_defs(text: &str) -> String {
    if text.contains("$evidence") {
        format!("{DEFS}{{{{$evidence := .Evidence}}}}{text}")
    } else {
        format!("{DEFS}{text}")
    }
}

/// Prometheus's template functions without a query engine (enough to parse, and to
/// expand templates that do not call `query`).
fn static_funcs() -> &'static Funcs {
    static FUNCS: OnceLock<Funcs> = OnceLock::new();
    FUNCS.get_or_init(|| Funcs::go_builtins().with_prometheus(None))
}

/// The function table for one rule evaluation: `query` bound to the datasource at the
/// evaluation time when it offers a hook.
pub fn funcs(query: Option<QueryHook>) -> Cow<'static, Funcs> {
    match query {
        Some(q) => Cow::Owned(Funcs::go_builtins().with_prometheus(Some(q))),
        None => Cow::Borrowed(static_funcs()),
    }
}

fn template_name(alert: &str) -> String {
    format!("__alert_{alert}")
}

/// Checks that `text` parses as a template of alert `alert` (what `promtool check rules`
/// checks): `template: __alert_NAME:LINE: ...` otherwise.
pub fn check(alert: &str, text: &str) -> Result<(), lookout_template::TemplateError> {
    lookout_template::check(&template_name(alert), &with_defs(text), static_funcs())
}

fn str_map(pairs: &[(String, String)]) -> Value {
    Value::StrMap(pairs.iter().cloned().collect::<BTreeMap<_, _>>())
}

/// One label or annotation value, ready to expand.
#[derive(Debug, Clone)]
enum Compiled {
    /// No `{{`: the text as is.
    Plain(String),
    /// Parsed once.
    Parsed(TemplateSet),
    /// Does not parse (a group label, which Prometheus does not check at load): every
    /// expansion yields this error.
    Broken(String),
}

/// The parsed label and annotation templates of one alerting rule, in rule order.
#[derive(Debug, Clone)]
pub struct RuleTemplates {
    name: String,
    labels: Vec<Compiled>,
    annotations: Vec<Compiled>,
    /// Whether a template's text names `query` (conservatively: in any position).
    texts_with_query: bool,
}

impl RuleTemplates {
    /// Parses the templates of alert `alert`.
    pub fn compile(alert: &str, labels: &[(String, String)], annotations: &[(String, String)]) -> RuleTemplates {
        let name = template_name(alert);
        let compile = |text: &str| {
            if !text.contains("{{") {
                return Compiled::Plain(text.to_string());
            }
            let mut set = TemplateSet::new(static_funcs().clone());
            match set.parse(&name, &with_defs(text)) {
                Ok(()) => Compiled::Parsed(set),
                Err(e) => Compiled::Broken(format!("error parsing template {name}: {e}")),
            }
        };
        RuleTemplates {
            texts_with_query: labels.iter().chain(annotations).any(|(_, v)| v.contains("{{") && v.contains("query")),
            labels: labels.iter().map(|(_, v)| compile(v)).collect(),
            annotations: annotations.iter().map(|(_, v)| compile(v)).collect(),
            name,
        }
    }

    /// Whether a template may call `query` (its text names it), so expanding needs
    /// the query-bound function table; the others use the shared static one.
    pub fn may_query(&self) -> bool {
        self.labels.iter().chain(&self.annotations).any(|c| match c {
            Compiled::Parsed(_) => self.texts_with_query,
            _ => false,
        })
    }

    /// Whether any value is a template (else no data or functions are needed).
    pub fn any(&self) -> bool {
        self.labels.iter().chain(&self.annotations).any(|c| !matches!(c, Compiled::Plain(_)))
    }

    fn expand(&self, c: &Compiled, data: &Value, funcs: &Funcs) -> String {
        let result = match c {
            Compiled::Plain(s) => return s.clone(),
            Compiled::Broken(e) => Err(e.clone()),
            Compiled::Parsed(set) => set
                .execute_with(&self.name, data, funcs)
                .map_err(|e| format!("error executing template {}: {e}", self.name)),
        };
        result.unwrap_or_else(|e| format!("<error expanding template: {e}>"))
    }

    /// The expanded label values, in rule order (an error becomes the value, as in
    /// Prometheus: `<error expanding template: ...>`).
    pub fn expand_labels(&self, data: &Value, funcs: &Funcs) -> Vec<String> {
        self.labels.iter().map(|c| self.expand(c, data, funcs)).collect()
    }

    /// The expanded annotation values, in rule order.
    pub fn expand_annotations(&self, data: &Value, funcs: &Funcs) -> Vec<String> {
        self.annotations.iter().map(|c| self.expand(c, data, funcs)).collect()
    }
}
