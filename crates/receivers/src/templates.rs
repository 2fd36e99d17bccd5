//! Notification templates: Lookout's defaults under Alertmanager's names
//! (`slack.default.title`, `email.default.html`, ...; see `default.tmpl`) plus the user's
//! `templates:` files, parsed after the defaults so a user's `define` replaces ours — the
//! order Alertmanager's `template.FromGlobs` uses. Receiver fields are rendered with
//! [`Templates::render`] (Alertmanager's `ExecuteTextString`).

use std::path::Path;

use lookout_template::{Funcs, TemplateError, TemplateSet, Value};

use crate::error::{Error, ErrorKind};

/// The default templates.
pub const DEFAULT_TEMPLATES: &str = include_str!("default.tmpl");

/// A parsed template set shared by every integration of a configuration.
#[derive(Debug, Clone)]
pub struct Templates {
    set: TemplateSet,
}

impl Default for Templates {
    fn default() -> Templates {
        Templates::builtin()
    }
}

impl Templates {
    /// Only the built-in defaults.
    pub fn builtin() -> Templates {
        let mut set = TemplateSet::new(Funcs::go_builtins().with_alertmanager());
        // The defaults are part of this crate and covered by its tests.
        set.parse("default.tmpl", DEFAULT_TEMPLATES).expect("built-in templates parse");
        Templates { set }
    }

    /// The defaults plus `(name, text)` sources, in order.
    pub fn with_sources<'a>(sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Templates, Error> {
        let mut t = Templates::builtin();
        for (name, text) in sources {
            t.set.parse(name, text).map_err(|e| Error::new(ErrorKind::Template, e.to_string()))?;
        }
        Ok(t)
    }

    /// The defaults plus every file matching the `templates:` globs, in glob order; relative
    /// globs are resolved against `base_dir` (the directory of `alertmanager.yml`). A glob
    /// matching nothing is not an error (Alertmanager neither).
    pub fn load(globs: &[String], base_dir: &Path) -> Result<Templates, Error> {
        let mut t = Templates::builtin();
        for g in globs {
            let pattern =
                if Path::new(g).is_absolute() { g.clone() } else { base_dir.join(g).to_string_lossy().into_owned() };
            let paths = glob::glob(&pattern).map_err(|e| Error::config(format!("invalid template glob {g:?}: {e}")))?;
            for p in paths {
                let p = p.map_err(|e| Error::file(format!("template glob {g:?}: {e}")))?;
                if p.is_dir() {
                    continue;
                }
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| Error::file(format!("cannot read template {}: {e}", p.display())))?;
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                t.set
                    .parse(&name, &text)
                    .map_err(|e| Error::new(ErrorKind::Template, format!("{}: {e}", p.display())))?;
            }
        }
        Ok(t)
    }

    /// Renders a receiver field (which may call the set's templates) against the data of
    /// [`crate::Notification::template_data`].
    pub fn render(&self, text: &str, data: &Value) -> Result<String, TemplateError> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        self.set.execute_text(text, data)
    }

    /// [`Templates::render`] in HTML mode (Alertmanager's `ExecuteHTMLString`, used for
    /// email bodies): every action's output is HTML-escaped unless it comes from `safeHtml`.
    pub fn render_html(&self, text: &str, data: &Value) -> Result<String, TemplateError> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        self.set.execute_text_html(text, data)
    }

    /// Executes one named template.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, TemplateError> {
        self.set.execute(name, data)
    }

    /// Checks that a field parses (config validation at load).
    pub fn check(&self, text: &str) -> Result<(), TemplateError> {
        self.set.check("", text)
    }

    /// The underlying set.
    pub fn set(&self) -> &TemplateSet {
        &self.set
    }
}

/// Renders many fields of one notification, keeping the first error with the field's name
/// (Alertmanager's `tmplText` closure): integrations render everything, then check once.
pub(crate) struct FieldRenderer<'a> {
    templates: &'a Templates,
    data: Value,
    error: Option<String>,
}

impl<'a> FieldRenderer<'a> {
    pub(crate) fn new(templates: &'a Templates, n: &crate::Notification) -> FieldRenderer<'a> {
        FieldRenderer { templates, data: n.template_data(), error: None }
    }

    /// Renders `text`; on error records it and returns "".
    pub(crate) fn field(&mut self, name: &str, text: &str) -> String {
        match self.templates.render(text, &self.data) {
            Ok(s) => s,
            Err(e) => {
                self.error.get_or_insert_with(|| format!("cannot render {name}: {e}"));
                String::new()
            }
        }
    }

    /// Renders `text` in HTML mode; on error records it and returns "".
    pub(crate) fn html_field(&mut self, name: &str, text: &str) -> String {
        match self.templates.render_html(text, &self.data) {
            Ok(s) => s,
            Err(e) => {
                self.error.get_or_insert_with(|| format!("cannot render {name}: {e}"));
                String::new()
            }
        }
    }

    /// Fails with the first error, if any (a template error is never retried).
    pub(crate) fn finish(self, integration: &str) -> Result<(), crate::NotifyError> {
        match self.error {
            Some(e) => Err(crate::NotifyError::config(format!("{integration}: {e}"))),
            None => Ok(()),
        }
    }
}

/// Cuts `s` to at most `max` characters, ending with `…` when cut
/// (Alertmanager's `notify.TruncateInRunes`).
pub(crate) fn truncate_chars(s: &str, max: usize) -> (String, bool) {
    if s.chars().count() <= max {
        return (s.to_string(), false);
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    (out, true)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{Alert, Notification};

    fn ls(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn notification() -> Notification {
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut a =
            Alert::new(ls(&[("alertname", "HighLatency"), ("env", "prod"), ("job", "api"), ("instance", "a:1")]), t);
        a.annotations = ls(&[("summary", "p99 above 2s"), ("description", "p99 is 3.1s")]);
        let b =
            Alert::new(ls(&[("alertname", "HighLatency"), ("env", "prod"), ("job", "api"), ("instance", "b:1")]), t);
        let mut c =
            Alert::new(ls(&[("alertname", "HighLatency"), ("env", "prod"), ("job", "api"), ("instance", "c:1")]), t);
        c.ends_at = Some(t);
        Notification {
            receiver: "team ops".into(),
            status_firing: true,
            group_key: "{}:{alertname=\"HighLatency\"}".into(),
            group_labels: ls(&[("alertname", "HighLatency")]),
            alerts: vec![a, b, c],
            external_url: "http://lookout:8686".into(),
            truncated_alerts: 0,
            now: t + chrono::Duration::seconds(60),
        }
    }

    #[test]
    fn defaults_render_like_alertmanager() {
        let t = Templates::builtin();
        let d = notification().template_data();
        assert_eq!(
            t.render("{{ template \"slack.default.title\" . }}", &d).unwrap(),
            "[FIRING:2] HighLatency (prod api)"
        );
        assert_eq!(
            t.render("{{ template \"slack.default.titlelink\" . }}", &d).unwrap(),
            "http://lookout:8686/#/alerts?receiver=team+ops"
        );
        let text = t.render("{{ template \"slack.default.text\" . }}", &d).unwrap();
        assert_eq!(
            text,
            "*Firing*\n• p99 above 2s on a:1\n  p99 is 3.1s\n• HighLatency on b:1\n*Resolved*\n• HighLatency on c:1\n"
        );
        let instances = t.render("{{ template \"pagerduty.default.instances\" .Alerts.Resolved }}", &d).unwrap();
        assert!(instances.starts_with("Labels:\n - alertname = HighLatency\n - env = prod\n"), "{instances}");
        let html = t.render_html("{{ template \"email.default.html\" . }}", &d).unwrap();
        assert!(html.contains("2 firing, 1 resolved: HighLatency"), "{html}");
        let text = t.render("{{ template \"email.default.text\" . }}", &d).unwrap();
        assert!(text.contains("HighLatency (firing) since 2023-11-14 22:13:20 UTC"), "{text}");
    }

    #[test]
    fn user_templates_override_defaults_and_errors_are_reported() {
        let t = Templates::with_sources([(
            "mine.tmpl",
            "{{ define \"slack.default.title\" }}custom {{ .Status }}{{ end }}",
        )])
        .unwrap();
        let d = notification().template_data();
        assert_eq!(t.render("{{ template \"slack.default.title\" . }}", &d).unwrap(), "custom firing");
        assert!(t.render("{{ template \"nope\" . }}", &d).is_err());
        assert!(Templates::with_sources([("bad.tmpl", "{{ if }")]).is_err());
        assert!(t.check("{{ .Status ").is_err());
    }

    #[test]
    fn load_reads_globs_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("t")).unwrap();
        std::fs::write(dir.path().join("t/a.tmpl"), "{{ define \"x\" }}from file{{ end }}").unwrap();
        let t = Templates::load(&["t/*.tmpl".to_string()], dir.path()).unwrap();
        assert_eq!(t.execute("x", &notification().template_data()).unwrap(), "from file");
        let err = Templates::load(&["t/[".to_string()], dir.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("invalid template glob"), "{err}");
    }
}
