//! `alertmanager.yml`: the routing half (`route`, `inhibit_rules`, `time_intervals`,
//! `templates`) is defined here; `global` and `receivers` come from `lookout-receivers`.
//! Field names, defaults and load-time checks are Alertmanager 0.25's (`config/config.go`),
//! and every problem is reported as `FILE:LINE:COL: message`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lookout_config::{ConfigError, ConfigErrors, Position};
use lookout_receivers::{GlobalConfig, ReceiverConfig};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use crate::matcher::{ConfigMatchers, ConfigRegex, MatchType, Matcher, Matchers, valid_label_name};
use crate::timeinterval::{NamedTimeInterval, TimeInterval};
use lookout_config::PromDuration;

/// A loaded, validated `alertmanager.yml`.
#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// `global:` (defaults filled in; `resolve_timeout` is 5m unless set).
    pub global: GlobalConfig,
    /// `route:`, the root of the routing tree.
    pub route: RouteConfig,
    /// `receivers:`
    pub receivers: Vec<ReceiverConfig>,
    /// `inhibit_rules:`
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// `time_intervals:` and the deprecated `mute_time_intervals:`, by name.
    pub time_intervals: BTreeMap<String, Vec<TimeInterval>>,
    /// `templates:` globs as written (relative ones are read from `base_dir`).
    pub templates: Vec<String>,
    /// The config file's directory (`.` for text parsed without a file).
    pub base_dir: PathBuf,
    /// The file's text, credentials included, so never printed: `/api/v2/status` shows
    /// the parsed config instead.
    pub original: lookout_config::Secret,
}

/// One node of the routing tree as configured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Receiver for alerts that stop here (inherited when unset).
    #[serde(default)]
    pub receiver: Option<Spanned<String>>,
    /// Labels to group by; `...` groups by all labels.
    #[serde(default)]
    pub group_by: Option<GroupBy>,
    /// Keep matching siblings after this route matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Deprecated equality matchers.
    #[serde(default, rename = "match")]
    pub match_eq: Option<BTreeMap<String, String>>,
    /// Deprecated regex matchers.
    #[serde(default)]
    pub match_re: Option<BTreeMap<String, ConfigRegex>>,
    /// Matchers in Alertmanager's syntax.
    #[serde(default)]
    pub matchers: Option<ConfigMatchers>,
    /// Wait before the first notification of a new group (default 30s).
    #[serde(default)]
    pub group_wait: Option<PromDuration>,
    /// Wait between notifications about changes to a group (default 5m).
    #[serde(default)]
    pub group_interval: Option<PromDuration>,
    /// Wait before repeating an unchanged notification (default 4h).
    #[serde(default)]
    pub repeat_interval: Option<PromDuration>,
    /// Time intervals during which notifications are muted.
    #[serde(default)]
    pub mute_time_intervals: Vec<Spanned<String>>,
    /// Time intervals outside of which notifications are muted.
    #[serde(default)]
    pub active_time_intervals: Vec<Spanned<String>>,
    /// Child routes.
    #[serde(default)]
    pub routes: Vec<Spanned<RouteConfig>>,
}

impl RouteConfig {
    /// All matchers of this route: `match`, `match_re` and `matchers`, sorted like
    /// Alertmanager's route matchers (route keys are built from this order).
    pub fn all_matchers(&self) -> Matchers {
        let mut out = Vec::new();
        for (k, v) in self.match_eq.iter().flatten() {
            out.extend(Matcher::new(MatchType::Equal, k, v));
        }
        for (k, v) in self.match_re.iter().flatten() {
            out.extend(Matcher::new(MatchType::Regexp, k, &v.0));
        }
        if let Some(m) = &self.matchers {
            out.extend(m.0.0.iter().cloned());
        }
        let mut m = Matchers(out);
        m.sort();
        m
    }
}

/// `group_by:` — label names, or `...` for every label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `[...]`
    All,
    /// These labels, in the order written.
    Labels(Vec<String>),
}

impl<'de> Deserialize<'de> for GroupBy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = Vec::<String>::deserialize(d)?;
        let all = raw.iter().any(|l| l == "...");
        if all && raw.len() > 1 {
            return Err(D::Error::custom(
                "cannot have wildcard group_by (`...`) and other other labels at the same time",
            ));
        }
        if all {
            return Ok(GroupBy::All);
        }
        let mut seen = HashSet::new();
        for l in &raw {
            if !valid_label_name(l) {
                return Err(D::Error::custom(format!("invalid label name {l:?} in group_by list")));
            }
            if !seen.insert(l) {
                return Err(D::Error::custom(format!("duplicated label {l:?} in group_by")));
            }
        }
        Ok(GroupBy::Labels(raw))
    }
}

/// One `inhibit_rules:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    /// Deprecated equality matchers for the inhibiting alert.
    #[serde(default)]
    pub source_match: Option<BTreeMap<String, String>>,
    /// Deprecated regex matchers for the inhibiting alert.
    #[serde(default)]
    pub source_match_re: Option<BTreeMap<String, ConfigRegex>>,
    /// Matchers for the inhibiting alert.
    #[serde(default)]
    pub source_matchers: Option<ConfigMatchers>,
    /// Deprecated equality matchers for the muted alert.
    #[serde(default)]
    pub target_match: Option<BTreeMap<String, String>>,
    /// Deprecated regex matchers for the muted alert.
    #[serde(default)]
    pub target_match_re: Option<BTreeMap<String, ConfigRegex>>,
    /// Matchers for the muted alert.
    #[serde(default)]
    pub target_matchers: Option<ConfigMatchers>,
    /// Labels that must be equal on both alerts.
    #[serde(default)]
    pub equal: Vec<String>,
}

fn legacy(
    eq: &Option<BTreeMap<String, String>>,
    re: &Option<BTreeMap<String, ConfigRegex>>,
    m: &Option<ConfigMatchers>,
) -> Matchers {
    let mut out = Vec::new();
    for (k, v) in eq.iter().flatten() {
        out.extend(Matcher::new(MatchType::Equal, k, v));
    }
    for (k, v) in re.iter().flatten() {
        out.extend(Matcher::new(MatchType::Regexp, k, &v.0));
    }
    if let Some(m) = m {
        out.extend(m.0.0.iter().cloned());
    }
    Matchers(out)
}

impl InhibitRuleConfig {
    /// Matchers the inhibiting (source) alert must match.
    pub fn source(&self) -> Matchers {
        legacy(&self.source_match, &self.source_match_re, &self.source_matchers)
    }

    /// Matchers the muted (target) alert must match.
    pub fn target(&self) -> Matchers {
        legacy(&self.target_match, &self.target_match_re, &self.target_matchers)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<GlobalConfig>,
    #[serde(default)]
    route: Option<Spanned<RouteConfig>>,
    #[serde(default)]
    receivers: Vec<Spanned<ReceiverConfig>>,
    #[serde(default)]
    inhibit_rules: Vec<Spanned<InhibitRuleConfig>>,
    #[serde(default)]
    time_intervals: Vec<Spanned<NamedTimeInterval>>,
    #[serde(default)]
    mute_time_intervals: Vec<Spanned<NamedTimeInterval>>,
    #[serde(default)]
    templates: Vec<String>,
}

fn at<T>(file: &Arc<str>, s: &Spanned<T>) -> Position {
    Position { file: file.clone(), line: s.referenced.line().max(1), column: s.referenced.column().max(1) }
}

/// Parses and validates `alertmanager.yml` text; `file` names it in error positions.
pub fn parse_config(file: &str, text: &str) -> Result<AlertmanagerConfig, ConfigErrors> {
    parse_config_in(file, text, None)
}

/// Reads, parses and validates an `alertmanager.yml`; template globs are later resolved
/// against the file's directory, as Alertmanager does.
pub fn load_config(path: &Path) -> Result<AlertmanagerConfig, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            Position { file: Arc::from(file.as_str()), line: 1, column: 1 },
            format!("cannot read file: {e}"),
        )
    })?;
    parse_config_in(&file, &text, path.parent())
}

fn parse_config_in(file: &str, text: &str, base: Option<&Path>) -> Result<AlertmanagerConfig, ConfigErrors> {
    let file: Arc<str> = Arc::from(file);
    let top = Position { file: file.clone(), line: 1, column: 1 };
    let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| ConfigError::from_yaml(&file, &e, None))?;
    let mut errors = Vec::new();

    let global = raw.global.clone().unwrap_or_default();
    let mut receiver_names = HashSet::new();
    for r in &raw.receivers {
        // Integration settings Alertmanager refuses at load (missing URLs, bad keys, ...).
        if let Err(e) = r.value.validate(&global) {
            errors.push(ConfigError::new(at(&file, r), e.to_string()));
        }
        if r.value.name.is_empty() {
            errors.push(ConfigError::new(at(&file, r), "missing name in receiver"));
        } else if !receiver_names.insert(r.value.name.clone()) {
            errors.push(ConfigError::new(
                at(&file, r),
                format!("notification config name {:?} is not unique", r.value.name),
            ));
        }
    }

    let mut time_intervals = BTreeMap::new();
    for ti in raw.mute_time_intervals.iter().chain(&raw.time_intervals) {
        if time_intervals.insert(ti.value.name.clone(), ti.value.time_intervals.clone()).is_some() {
            errors.push(ConfigError::new(at(&file, ti), format!("time interval {:?} is not unique", ti.value.name)));
        }
    }

    for rule in &raw.inhibit_rules {
        let r = &rule.value;
        for l in &r.equal {
            if !valid_label_name(l) {
                errors.push(ConfigError::new(at(&file, rule), format!("invalid label name {l:?}")));
            }
        }
        for k in r.source_match.iter().flatten().map(|(k, _)| k).chain(r.target_match.iter().flatten().map(|(k, _)| k))
        {
            if !valid_label_name(k) {
                errors.push(ConfigError::new(at(&file, rule), format!("invalid label name {k:?}")));
            }
        }
    }

    let route = match raw.route {
        None => {
            errors.push(ConfigError::new(top.clone(), "no routes provided"));
            RouteConfig::default()
        }
        Some(root) => {
            let p = at(&file, &root);
            let r = &root.value;
            if r.receiver.as_ref().is_none_or(|s| s.value.is_empty()) {
                errors.push(ConfigError::new(p.clone(), "root route must specify a default receiver"));
            }
            if !r.all_matchers().0.is_empty() {
                errors.push(ConfigError::new(p.clone(), "root route must not have any matchers"));
            }
            if !r.mute_time_intervals.is_empty() {
                errors.push(ConfigError::new(p.clone(), "root route must not have any mute time intervals"));
            }
            if !r.active_time_intervals.is_empty() {
                errors.push(ConfigError::new(p.clone(), "root route must not have any active time intervals"));
            }
            check_route(&file, &root, &receiver_names, &time_intervals, &mut errors);
            root.value
        }
    };
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).sorted());
    }
    Ok(AlertmanagerConfig {
        global,
        route,
        receivers: raw.receivers.into_iter().map(|r| r.value).collect(),
        inhibit_rules: raw.inhibit_rules.into_iter().map(|r| r.value).collect(),
        time_intervals,
        templates: raw.templates,
        base_dir: base
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        original: lookout_config::Secret::new(text),
    })
}

fn check_route(
    file: &Arc<str>,
    route: &Spanned<RouteConfig>,
    receivers: &HashSet<String>,
    intervals: &BTreeMap<String, Vec<TimeInterval>>,
    errors: &mut Vec<ConfigError>,
) {
    let r = &route.value;
    if let Some(rcv) = &r.receiver
        && !rcv.value.is_empty()
        && !receivers.contains(&rcv.value)
    {
        errors.push(ConfigError::new(at(file, rcv), format!("undefined receiver {:?} used in route", rcv.value)));
    }
    for name in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
        if !intervals.contains_key(&name.value) {
            errors.push(ConfigError::new(
                at(file, name),
                format!("undefined time interval {:?} used in route", name.value),
            ));
        }
    }
    for k in r.match_eq.iter().flatten().map(|(k, _)| k).chain(r.match_re.iter().flatten().map(|(k, _)| k)) {
        if !valid_label_name(k) {
            errors.push(ConfigError::new(at(file, route), format!("invalid label name {k:?}")));
        }
    }
    if r.group_interval.is_some_and(|d| d.0.is_zero()) {
        errors.push(ConfigError::new(at(file, route), "group_interval cannot be zero"));
    }
    if r.repeat_interval.is_some_and(|d| d.0.is_zero()) {
        errors.push(ConfigError::new(at(file, route), "repeat_interval cannot be zero"));
    }
    for child in &r.routes {
        check_route(file, child, receivers, intervals, errors);
    }
}

/// The routing file used when the pipeline names none: every alert to the console, with
/// critical alerts notified sooner and repeated more often than warnings.
pub const DEFAULT_CONFIG_YAML: &str = "\
route:
  receiver: console
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity=\"critical\"']
      receiver: console-critical
      group_wait: 10s
      repeat_interval: 1h
    - matchers: ['severity=\"warning\"']
      receiver: console
      repeat_interval: 12h
receivers:
  - name: console
    console_configs:
      - send_resolved: true
  - name: console-critical
    console_configs:
      - send_resolved: true
inhibit_rules:
  - source_matchers: ['severity=\"critical\"']
    target_matchers: ['severity=\"warning\"']
    equal: [alertname, instance]
";

/// The built-in routing (see [`DEFAULT_CONFIG_YAML`]).
pub fn default_config() -> AlertmanagerConfig {
    // The embedded text is covered by a test; failing here would be a build defect.
    parse_config("<default alertmanager.yml>", DEFAULT_CONFIG_YAML).expect("embedded default config is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_config("am.yml", text).unwrap_err().to_string()
    }

    #[test]
    fn default_config_is_valid_and_routes_by_severity() {
        let cfg = default_config();
        let tree = crate::route::RouteTree::new(&cfg.route);
        let recv = |sev: &str| {
            let l: BTreeMap<String, String> =
                [("alertname".to_string(), "X".to_string()), ("severity".to_string(), sev.to_string())].into();
            tree.get(tree.matches(&l)[0]).opts.receiver.clone()
        };
        assert_eq!(recv("critical"), "console-critical");
        assert_eq!(recv("warning"), "console");
        assert_eq!(cfg.global.resolve_timeout.0, std::time::Duration::from_secs(300));
        crate::check_config(&cfg).unwrap();
        let mut missing = cfg.clone();
        missing.templates = vec!["/nonexistent-dir/*.tmpl".into()];
        // A glob matching nothing is fine, as in Alertmanager.
        crate::check_config(&missing).unwrap();
    }

    #[test]
    fn unknown_fields_point_at_the_line() {
        let e = err("route:\n  receiver: a\n  group_wiat: 1s\nreceivers: [{name: a}]\n");
        assert!(e.starts_with("am.yml:3:3: unknown field `group_wiat`"), "{e}");
        let e = err(
            "route: {receiver: a}\nreceivers: [{name: a}]\ninhibit_rules:\n  - source_matchers: [a=b]\n    tagret_matchers: [c=d]\n",
        );
        assert!(e.starts_with("am.yml:5:5: unknown field `tagret_matchers`"), "{e}");
    }

    #[test]
    fn value_errors_point_at_the_value() {
        let e = err("route:\n  receiver: a\n  group_wait: 5x\nreceivers: [{name: a}]\n");
        assert!(e.starts_with("am.yml:3:") && e.contains("not a valid duration string"), "{e}");
        let e = err("route:\n  receiver: a\n  routes:\n    - matchers: ['foo']\nreceivers: [{name: a}]\n");
        assert!(e.starts_with("am.yml:4:") && e.contains("bad matcher format: foo"), "{e}");
        let e = err("route:\n  receiver: a\n  group_by: ['...', x]\nreceivers: [{name: a}]\n");
        assert!(e.contains("cannot have wildcard group_by"), "{e}");
    }

    #[test]
    fn receiver_settings_are_checked_at_load() {
        let e = err("route: {receiver: a}\nreceivers:\n  - name: a\n    webhook_configs: [{send_resolved: true}]\n");
        assert!(e.starts_with("am.yml:3:5: receiver \"a\": webhook_configs[0]"), "{e}");
    }

    #[test]
    fn semantic_checks() {
        let e = err("route:\n  receiver: a\n  routes:\n    - receiver: nope\nreceivers: [{name: a}]\n");
        assert_eq!(e, "am.yml:4:17: undefined receiver \"nope\" used in route");
        assert_eq!(
            err("route: {group_by: [x]}\nreceivers: [{name: a}]\n"),
            "am.yml:1:8: root route must specify a default receiver"
        );
        assert!(err("receivers: [{name: a}]\n").ends_with("no routes provided"));
        let e = err("route: {receiver: a, matchers: [x=y]}\nreceivers: [{name: a}]\n");
        assert!(e.ends_with("root route must not have any matchers"), "{e}");
        let e = err("route: {receiver: a}\nreceivers:\n  - name: a\n  - name: a\n");
        assert_eq!(e, "am.yml:4:5: notification config name \"a\" is not unique");
        let e = err("route:\n  receiver: a\n  routes: [{mute_time_intervals: [off]}]\nreceivers: [{name: a}]\n");
        assert!(e.ends_with("undefined time interval \"off\" used in route"), "{e}");
        let e = err("route:\n  receiver: a\n  routes: [{repeat_interval: 0s}]\nreceivers: [{name: a}]\n");
        assert!(e.ends_with("repeat_interval cannot be zero"), "{e}");
    }
}
