//! Alert label and annotation templates: Go `text/template` with Prometheus's data
//! (`$labels`, `$value`, `$externalLabels`, `$externalURL`), as in `rules/alerting.go`.

use std::collections::HashMap;

use gtmpl::{Context, Template, Value};

/// What a template sees for one alert.
pub struct AlertTemplateData<'a> {
    /// The alert's labels (`$labels`, `.Labels`), the result's labels before rule labels.
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

fn map(pairs: &[(String, String)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

fn template(alert: &str, text: &str) -> Result<Template, String> {
    let mut t = Template::with_name(format!("__alert_{alert}"));
    t.parse(format!("{DEFS}{text}")).map_err(|e| format!("template: __alert_{alert}: {e}"))?;
    Ok(t)
}

/// Checks that `text` parses as a template of alert `alert`.
pub fn check(alert: &str, text: &str) -> Result<(), String> {
    template(alert, text).map(|_| ())
}

/// Expands `text` for one alert; the error is what Prometheus wraps into
/// `<error expanding template: ...>`.
pub fn expand(alert: &str, text: &str, data: &AlertTemplateData) -> Result<String, String> {
    // Most labels and many annotations are plain text: skip the template engine.
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let t = template(alert, text)?;
    let mut obj = HashMap::new();
    obj.insert("Labels".to_string(), map(data.labels));
    obj.insert("ExternalLabels".to_string(), map(data.external_labels));
    obj.insert("ExternalURL".to_string(), Value::String(data.external_url.to_string()));
    obj.insert("Value".to_string(), Value::from(data.value));
    t.render(&Context::from(Value::Object(obj))).map_err(|e| format!("error executing template __alert_{alert}: {e}"))
}
