//! Running one test file the way promtool's `ruleUnitTest` and `testGroup.test` do.
//!
//! Per test group: the input series are parsed up front and loaded lazily (at each
//! evaluation step, the samples up to that time), every rule group is evaluated at
//! `0, evaluation_interval, …` up to the largest `eval_time` in the group's tests, and
//! the firing alerts asked about are compared right after the step whose interval
//! contains their `eval_time`. PromQL tests run after the last step against everything
//! loaded and recorded. A rule evaluation error ends the test group, as in promtool.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lookout_rules::duration::{format_duration, format_go_duration};
use lookout_rules::{EvalContext, GroupState, LocalDatasource, Rule, RuleGroup, eval_group};
use lookout_template::quote::go_quote;
use lookout_tsdb::promql::{EvalOptions, Value};
use lookout_tsdb::{Labels, Store, StoreConfig};

use crate::appender::CheckingAppender;
use crate::error::RunError;
use crate::file::{AlertTestCase, PromqlTestCase, TestGroup, UnitTestFile};
use crate::format::{LabelsAndAnnotations, alerts_string, indent_lines, samples_string};
use crate::notation::{RawLabels, parse_metric, parse_series_desc};
use crate::paths::{go_dir, go_glob, go_join};

/// promtool's default `evaluation_interval`.
const DEFAULT_EVAL_INTERVAL_MS: i64 = 60_000;
/// Prometheus's default lookback delta.
const LOOKBACK_MS: i64 = 5 * 60_000;
/// Limits that keep memory bounded (promtool has none; no real test comes near them):
/// input samples per test group, and evaluation steps (each may record samples).
const MAX_INPUT_SAMPLES: usize = 20_000_000;
const MAX_EVAL_STEPS: i64 = 5_000_000;

/// Runs every test group of one file; the errors promtool would print (none: success).
/// Warnings (rule-file patterns matching nothing) go to `warn` as they happen.
pub fn rule_unit_test(filename: &Path, warn: &mut dyn Write) -> Vec<String> {
    let text = match std::fs::read(filename) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => return vec![format!("open {}: {}", filename.display(), io_message(&e))],
    };
    let mut file = match crate::file::decode(&text) {
        Ok(f) => f,
        Err(e) => return vec![e.to_string()],
    };
    let rule_files = match resolve_rule_files(filename, &file, warn) {
        Ok(f) => f,
        Err(e) => return vec![e.to_string()],
    };
    if file.evaluation_interval_ms == 0 {
        file.evaluation_interval_ms = DEFAULT_EVAL_INTERVAL_MS;
    }
    let mut order: HashMap<&str, usize> = HashMap::new();
    for (i, g) in file.group_eval_order.iter().enumerate() {
        if order.insert(g.as_str(), i).is_some() {
            return vec![format!("group name repeated in evaluation order: {g}")];
        }
    }
    let mut errs = Vec::new();
    for tg in &file.tests {
        errs.extend(test_group(tg, file.evaluation_interval_ms, &order, &rule_files));
    }
    errs
}

/// Go's `*PathError` text: `no such file or directory`, not Rust's "(os error 2)".
fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// `resolveAndGlobFilepaths`: relative paths joined to the test file's directory, then
/// globbed; a pattern matching nothing is a warning.
fn resolve_rule_files(filename: &Path, file: &UnitTestFile, warn: &mut dyn Write) -> Result<Vec<PathBuf>, RunError> {
    let base = go_dir(&filename.to_string_lossy());
    let mut out: Vec<PathBuf> = Vec::new();
    for rf in &file.rule_files {
        let pattern = if !rf.is_empty() && !rf.starts_with('/') { go_join(&base, rf) } else { rf.clone() };
        let matches = go_glob(&pattern)?;
        if matches.is_empty() {
            let _ = writeln!(warn, "  WARNING: no file match pattern {pattern}");
        }
        for m in matches {
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// An input series after parsing: its labels (as written, sorted) and samples.
struct Loaded {
    labels: RawLabels,
    samples: Vec<(i64, f64)>,
    /// Next sample to append.
    next: usize,
    /// Why the store (Prometheus's TSDB) refuses it, if it does.
    invalid: Option<String>,
}

/// The input series, read like Prometheus's loader reads the `load` command promtool
/// builds from them: one `  SERIES VALUES` line each, split on newlines (so a `values`
/// block with several lines defines more series), trimmed, `#` lines blanked, and the
/// first blank line ending the command (later series are silently not loaded). A later
/// definition of the same label set replaces an earlier one.
fn parse_input(tg: &TestGroup) -> Result<Vec<Loaded>, RunError> {
    let mut text = String::new();
    for s in &tg.input_series {
        text.push_str(&format!("  {} {}\n", s.series, s.values));
    }
    let mut out: Vec<Loaded> = Vec::new();
    let mut total = 0usize;
    for line in text.split('\n').map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            break;
        }
        let (mut labels, values) = parse_series_desc(line)?;
        total += values.len();
        if total > MAX_INPUT_SAMPLES {
            return Err(RunError::TooManySamples { limit: MAX_INPUT_SAMPLES });
        }
        labels.sort();
        let mut samples: Vec<(i64, f64)> = Vec::with_capacity(values.len());
        for (i, v) in values.into_iter().enumerate() {
            let t = i as i64 * tg.interval_ms;
            if let Some(v) = v {
                // With `interval: 0` every sample lands on t=0: the TSDB keeps the first.
                if samples.last().is_some_and(|(lt, _)| *lt == t) {
                    continue;
                }
                samples.push((t, v));
            }
        }
        let invalid = if labels.is_empty() {
            Some("empty labelset: invalid sample".to_string())
        } else {
            labels
                .windows(2)
                .find(|w| w[0].0 == w[1].0)
                .map(|w| format!("label name {} is not unique: invalid sample", go_quote(&w[0].0)))
        };
        let loaded = Loaded { labels, samples, next: 0, invalid };
        match out.iter_mut().find(|l| l.labels == loaded.labels) {
            Some(slot) => *slot = loaded,
            None => out.push(loaded),
        }
    }
    Ok(out)
}

/// `WithSamplesTill(ts)`: appends every sample up to `ts`, or fails as the TSDB would
/// on a series it refuses (then nothing is appended, and the same error comes back at
/// every later step, as promtool's loader never gets past it).
fn load_till(series: &mut [Loaded], store: &Store, ts: i64) -> Result<(), RunError> {
    if let Some(bad) = series.iter().find(|s| s.invalid.is_some() && s.samples.first().is_some_and(|(t, _)| *t <= ts)) {
        return Err(RunError::SeriesRefused(bad.invalid.clone().unwrap_or_default()));
    }
    for s in series.iter_mut().filter(|s| s.invalid.is_none()) {
        let labels = Labels::new(s.labels.iter().cloned());
        while let Some(&(t, v)) = s.samples.get(s.next) {
            if t > ts {
                break;
            }
            // Refusals cannot happen here: samples are in order and the store unlimited.
            let _ = store.append(&labels, t, v);
            s.next += 1;
        }
    }
    Ok(())
}

/// `orderedGroups`: groups named in `group_eval_order` in that order; the others (rank
/// 0, like the first named one) keep their file order, where promtool's is random.
fn ordered_groups(mut groups: Vec<RuleGroup>, order: &HashMap<&str, usize>) -> Vec<RuleGroup> {
    groups.sort_by_key(|g| order.get(g.name.as_str()).copied().unwrap_or(0));
    groups
}

fn test_group(
    tg: &TestGroup,
    eval_interval_ms: i64,
    order: &HashMap<&str, usize>,
    rule_files: &[PathBuf],
) -> Vec<String> {
    let mut series = match parse_input(tg) {
        Ok(s) => s,
        Err(e) => return vec![e.to_string()],
    };
    let groups = match load_rule_groups(rule_files, order) {
        Ok(g) => g,
        Err(errors) => return errors,
    };
    let alert_times = match alert_eval_times(tg) {
        Ok(t) => t,
        Err(e) => return vec![e.to_string()],
    };
    let maxt = match last_eval_time(tg, eval_interval_ms) {
        Ok(t) => t,
        Err(e) => return vec![e.to_string()],
    };

    let store = Arc::new(Store::new(StoreConfig { retention_ms: i64::MAX / 4, max_series: usize::MAX }));
    // promtool 2.x: closed lookback and range windows; subqueries without a step use
    // the evaluation interval (the loader's `SubqueryInterval`).
    let opts = EvalOptions {
        lookback_delta_ms: LOOKBACK_MS,
        default_subquery_step_ms: eval_interval_ms,
        ..EvalOptions::prometheus2()
    };
    let datasource = LocalDatasource { store: store.clone(), opts };
    let appender = CheckingAppender::new(store.clone());
    let mut ctx = EvalContext::new(&datasource, &appender);
    ctx.external_labels = &tg.external_labels;
    ctx.external_url = &tg.external_url;
    ctx.default_interval_ms = tg.interval_ms;
    let mut states: Vec<GroupState> = groups.iter().map(|_| GroupState::default()).collect();

    let mut errs: Vec<String> = Vec::new();
    let mut curr = 0;
    let mut ts = 0i64;
    while ts <= maxt {
        match load_till(&mut series, &store, ts) {
            Err(e) => errs.push(e.to_string()),
            Ok(()) => {
                let eval_errs = evaluate_groups(&groups, &mut states, &ctx, &appender, ts);
                if !eval_errs.is_empty() {
                    errs.extend(eval_errs);
                    return errs;
                }
            }
        }
        // Alert tests whose eval_time falls in [ts, ts + evaluation_interval).
        while curr < alert_times.len() && ts <= alert_times[curr] && alert_times[curr] < ts + eval_interval_ms {
            errs.extend(check_alerts_at(tg, &groups, &states, alert_times[curr]));
            curr += 1;
        }
        ts += eval_interval_ms;
    }
    errs.extend(tg.promql_expr_tests.iter().filter_map(|case| check_promql(case, &datasource, &store)));
    errs
}

/// Loads the rule files, groups in the order the test file names them; rulefmt's
/// `FILE: LINE:COL: message` for every error.
fn load_rule_groups(rule_files: &[PathBuf], order: &HashMap<&str, usize>) -> Result<Vec<RuleGroup>, Vec<String>> {
    let mut groups = Vec::new();
    let mut load_errors = Vec::new();
    for f in rule_files {
        match lookout_rules::load_rule_file(f) {
            Ok(g) => groups.extend(g),
            Err(e) => load_errors.extend(
                e.0.iter()
                    .map(|e| format!("{}: {}:{}: {}", e.position.file, e.position.line, e.position.column, e.message)),
            ),
        }
    }
    if !load_errors.is_empty() {
        return Err(load_errors);
    }
    Ok(ordered_groups(groups, order))
}

/// The distinct `eval_time`s of the alert tests, sorted; an alert test without
/// `alertname` is an error.
fn alert_eval_times(tg: &TestGroup) -> Result<Vec<i64>, RunError> {
    let mut alert_times: Vec<i64> = Vec::new();
    for a in &tg.alert_rule_tests {
        if a.alertname.is_empty() {
            return Err(RunError::MissingAlertname { eval_time_ms: a.eval_time_ms, group: tg.name.clone() });
        }
        if !alert_times.contains(&a.eval_time_ms) {
            alert_times.push(a.eval_time_ms);
        }
    }
    alert_times.sort_unstable();
    Ok(alert_times)
}

/// The largest `eval_time` of any test: evaluation runs up to it, within
/// [`MAX_EVAL_STEPS`] steps.
fn last_eval_time(tg: &TestGroup, eval_interval_ms: i64) -> Result<i64, RunError> {
    let maxt = tg
        .alert_rule_tests
        .iter()
        .map(|a| a.eval_time_ms)
        .chain(tg.promql_expr_tests.iter().map(|p| p.eval_time_ms))
        .max()
        .unwrap_or(0);
    if maxt / eval_interval_ms > MAX_EVAL_STEPS {
        return Err(RunError::TooManySteps { maxt_ms: maxt, interval_ms: eval_interval_ms, limit: MAX_EVAL_STEPS });
    }
    Ok(maxt)
}

/// Evaluates every group at `ts`; the rules' evaluation errors and refused writes, as
/// promtool lists them.
fn evaluate_groups(
    groups: &[RuleGroup],
    states: &mut [GroupState],
    ctx: &EvalContext<'_>,
    appender: &CheckingAppender,
    ts: i64,
) -> Vec<String> {
    let mut eval_errs = Vec::new();
    for (g, st) in groups.iter().zip(states.iter_mut()) {
        eval_group(g, st, ctx, ts);
        let refused = appender.take_refused();
        for (i, (rule, rs)) in g.rules.iter().zip(&st.rules).enumerate() {
            // A refusal belongs to the last rule writing that series: with two
            // rules of one name, the second is the one that collides.
            let append_error = refused
                .iter()
                .rev()
                .find(|(l, _)| g.rules.iter().rposition(|r| produced_by(r, l)) == Some(i))
                .map(|(_, why)| *why);
            if let Some(e) = rs.last_error.as_deref().or(append_error) {
                eval_errs.push(format!("    rule: {}, time: {}, err: {e}", rule.name(), format_go_duration(ts)));
            }
        }
    }
    eval_errs
}

/// Compares the alerts firing now with what each alert test at `t` expects.
fn check_alerts_at(tg: &TestGroup, groups: &[RuleGroup], states: &[GroupState], t: i64) -> Vec<String> {
    let mut errs = Vec::new();
    for case in tg.alert_rule_tests.iter().filter(|a| a.eval_time_ms == t) {
        let mut got = firing(groups, states, &case.alertname);
        let mut exp = expected_alerts(case);
        got.sort();
        exp.sort();
        if exp != got {
            let name = if tg.name.is_empty() { String::new() } else { format!("    name: {},\n", tg.name) };
            errs.push(format!(
                "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                case.alertname,
                format_duration(t),
                indent_lines(&alerts_string(&exp), "            "),
                indent_lines(&alerts_string(&got), "            ")
            ));
        }
    }
    errs
}

/// An alert test's expected alerts, `alertname` set from the test, labels and
/// annotations sorted.
fn expected_alerts(case: &AlertTestCase) -> Vec<LabelsAndAnnotations> {
    case.exp_alerts
        .iter()
        .map(|a| {
            let mut labels: Vec<(String, String)> =
                a.exp_labels.iter().filter(|(k, _)| k != "alertname").cloned().collect();
            labels.push(("alertname".to_string(), case.alertname.clone()));
            labels.sort();
            let mut annotations = a.exp_annotations.clone();
            annotations.sort();
            LabelsAndAnnotations { labels, annotations }
        })
        .collect()
}

/// Runs one PromQL test against everything loaded and recorded; its failure, if any.
fn check_promql(case: &PromqlTestCase, datasource: &LocalDatasource, store: &Store) -> Option<String> {
    let time = format_duration(case.eval_time_ms);
    let expr = go_quote(&case.expr);
    let mut got = match datasource.opts.instant_query(store, &case.expr, case.eval_time_ms) {
        Ok(Value::Vector(v)) => v.into_iter().map(|(l, v)| (l.pairs().to_vec(), v)).collect::<Vec<_>>(),
        Ok(Value::Scalar(v)) => vec![(Vec::new(), v)],
        Ok(_) => return Some(format!("    expr: {expr}, time: {time}, err: rule result is not a vector or scalar")),
        Err(e) => return Some(format!("    expr: {expr}, time: {time}, err: {e}")),
    };
    let mut exp = Vec::with_capacity(case.exp_samples.len());
    for s in &case.exp_samples {
        match parse_metric(&s.labels) {
            Ok(mut l) => {
                l.sort();
                exp.push((l, s.value));
            }
            Err(e) => {
                return Some(format!("    expr: {expr}, time: {time}, err: labels {}: {e}", go_quote(&s.labels)));
            }
        }
    }
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    got.sort_by(|a, b| a.0.cmp(&b.0));
    // reflect.DeepEqual: float ==, so NaN never matches.
    let same = exp.len() == got.len() && exp.iter().zip(&got).all(|(e, g)| e.0 == g.0 && e.1 == g.1);
    (!same).then(|| {
        format!(
            "    expr: {expr}, time: {time},\n        exp: {}\n        got: {}",
            samples_string(&exp),
            samples_string(&got)
        )
    })
}

/// Whether `labels` is a series `rule` writes: a recording rule's output is named
/// after it, an alerting rule's `ALERTS`/`ALERTS_FOR_STATE` carry its `alertname`.
fn produced_by(rule: &Rule, labels: &Labels) -> bool {
    match rule {
        Rule::Recording(r) => labels.name() == Some(r.name.as_str()),
        Rule::Alerting(a) => {
            matches!(labels.name(), Some("ALERTS" | "ALERTS_FOR_STATE")) && labels.get("alertname") == Some(&a.name)
        }
    }
}

/// The firing alerts of every alerting rule named `alertname`, across groups.
fn firing(groups: &[RuleGroup], states: &[GroupState], alertname: &str) -> Vec<LabelsAndAnnotations> {
    let mut out = Vec::new();
    for (g, st) in groups.iter().zip(states) {
        for (rule, rs) in g.rules.iter().zip(&st.rules) {
            if !matches!(rule, Rule::Alerting(a) if a.name == alertname) {
                continue;
            }
            for a in rs.alerts.values().filter(|a| a.state == lookout_rules::AlertState::Firing) {
                let mut annotations = a.annotations.clone();
                annotations.sort();
                out.push(LabelsAndAnnotations { labels: a.labels.pairs().to_vec(), annotations });
            }
        }
    }
    out
}
