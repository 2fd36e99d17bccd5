//! Alert label and annotation templates: Go `text/template` ([`lookout_template`]) with
//! Prometheus's data and variables (`$labels`, `$value`, `$externalLabels`,
//! `$externalURL`) prepended exactly as `rules/alerting.go` does, so error columns match.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use lookout_template::{ErrorKind, Funcs, QueryHook, Value};

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
}

// The variables Prometheus defines in front of every alert template.
const DEFS: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

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

/// Checks that `text` parses as a template of alert `alert` (what `promtool check rules`
/// checks): `template: __alert_NAME:LINE: ...` otherwise.
pub fn check(alert: &str, text: &str) -> Result<(), String> {
    lookout_template::check(&format!("__alert_{alert}"), &format!("{DEFS}{text}"), static_funcs())
        .map_err(|e| e.to_string())
}

fn str_map(pairs: &[(String, String)]) -> Value {
    Value::StrMap(pairs.iter().cloned().collect::<BTreeMap<_, _>>())
}

/// Expands `text` for one alert. The error is worded as Prometheus's (`error executing
/// template __alert_NAME: ...`), which the caller wraps into `<error expanding template: ...>`.
pub fn expand(alert: &str, text: &str, data: &AlertTemplateData, funcs: &Funcs) -> Result<String, String> {
    // Most labels and many annotations are plain text: skip the template engine.
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let value = Value::map([
        ("Labels", str_map(data.labels)),
        ("ExternalLabels", str_map(data.external_labels)),
        ("ExternalURL", Value::str(data.external_url)),
        ("Value", Value::Float(data.value)),
    ]);
    let name = format!("__alert_{alert}");
    lookout_template::render_named(&name, &format!("{DEFS}{text}"), &value, funcs).map_err(|e| match e.kind() {
        ErrorKind::Parse => format!("error parsing template {name}: {e}"),
        _ => format!("error executing template {name}: {e}"),
    })
}
