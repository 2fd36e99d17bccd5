//! `lookout scale simulate FILE`: replays a timeline through the decision logic.
//!
//! The file holds `scalers:` (as in a policy file) and a `timeline:` of steps. Each step runs
//! every scaler as if `at` seconds had passed since the first, so windows, periods, cooldowns
//! and warm-ups apply exactly as they would live:
//!
//! ```yaml
//! start: '2026-12-01T09:00:00+01:00'   # optional: wall-clock time of at: 0 (for schedules), default 2026-01-05T00:00:00Z
//! scalers: [...]                 # or `policy: ../api.yml`, a policy file relative to this one
//! timeline:
//!   - at: 0                      # seconds, non-decreasing
//!     replicas: 2                # optional: defaults to the last decision (minReplicas at first)
//!     metrics: { cpu: 140, rpm: 1500 }   # query results by metric name (`scaler/metric` to pick one scaler);
//!                                        # a step policy with its own query reads its name; null or absent: no data
//!     alerts_firing: [HighCPU]
//!     expect: { desired: 4, reasons: [ScaleUpLimit] }   # optional: checked, FILE:LINE:COL on mismatch
//! ```
//!
//! One JSON line is printed per scaler per step with `at`, `scaler`, `current`, `desired`,
//! `min_replicas`, `max_replicas`, `metrics`, `reasons` and `time`. A bad file or an unmet
//! `expect` is an error (`FILE:LINE:COL: message`), printed after the lines.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use lookout_config::{ConfigError, ConfigErrors, Position};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::decide::{Decision, Inputs, MetricReport, Reason, ScalerState, decide};
use crate::policy::{Checker, KedaConfig, RawScaler, check_scalers};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimulation {
    #[serde(default)]
    start: Option<Spanned<String>>,
    #[serde(default)]
    policy: Option<Spanned<String>>,
    #[serde(default)]
    scalers: Option<Vec<Spanned<RawScaler>>>,
    #[serde(default)]
    #[allow(dead_code)] // accepted so a policy file with `keda:` can be simulated unchanged
    keda: Option<KedaConfig>,
    timeline: Spanned<Vec<Spanned<RawStep>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at: Spanned<f64>,
    #[serde(default)]
    replicas: Option<Spanned<i64>>,
    #[serde(default)]
    metrics: BTreeMap<String, Option<f64>>,
    #[serde(default)]
    alerts_firing: Vec<String>,
    #[serde(default)]
    expect: Option<Spanned<RawExpect>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    scaler: Option<String>,
    #[serde(default)]
    current: Option<i32>,
    desired: i32,
    /// Reason codes that must appear, in this order (others may be interleaved).
    #[serde(default)]
    reasons: Vec<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    at: f64,
    scaler: &'a str,
    current: i32,
    desired: i32,
    min_replicas: i32,
    max_replicas: i32,
    metrics: &'a [MetricReport],
    reasons: &'a [Reason],
    time: &'a str,
}

const DEFAULT_START: &str = "2026-01-05T00:00:00Z";

/// Runs a simulation file, writing one JSON line per scaler per timeline step to `out`.
pub fn simulate(file: &str, text: &str, out: &mut dyn Write) -> Result<(), ConfigErrors> {
    let fname: Arc<str> = Arc::from(file);
    let raw: RawSimulation =
        serde_saphyr::from_str(text).map_err(|e| ConfigErrors::from(ConfigError::from_yaml(&fname, &e, None)))?;
    let mut c = Checker::new(file);
    let start_ms = match &raw.start {
        Some(s) => match chrono::DateTime::parse_from_rfc3339(&s.value) {
            Ok(t) => t.timestamp_millis(),
            Err(e) => {
                c.err(s, format!("invalid start time `{}`: {e} (expected RFC 3339)", s.value));
                0
            }
        },
        None => chrono::DateTime::parse_from_rfc3339(DEFAULT_START).map(|t| t.timestamp_millis()).unwrap_or(0),
    };
    let policies = match (raw.policy, raw.scalers) {
        (Some(p), None) => {
            // A policy file next to this one: preview the real file unchanged.
            let path = std::path::Path::new(file).parent().unwrap_or(std::path::Path::new("")).join(&p.value);
            let shown = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(t) => crate::policy::parse_policy_file(&shown, &t)?.scalers,
                Err(e) => {
                    c.err(&p, format!("cannot read policy file {shown}: {e}"));
                    Vec::new()
                }
            }
        }
        (None, Some(s)) => check_scalers(&mut c, s),
        _ => {
            c.errors.push(ConfigError::new(
                Position { file: fname.clone(), line: 1, column: 1 },
                "a simulation needs exactly one of `scalers` or `policy` (a policy file path)",
            ));
            Vec::new()
        }
    };
    let mut last_at = f64::NEG_INFINITY;
    for step in &raw.timeline.value {
        let at = step.value.at.value;
        if !at.is_finite() || at < 0.0 || at < last_at {
            c.err(&step.value.at, "`at` must be a number of seconds, not below the previous step's");
        }
        last_at = at;
        if let Some(r) = &step.value.replicas
            && (r.value < 0 || r.value > i32::MAX as i64)
        {
            c.err(r, "replicas must be between 0 and 2147483647");
        }
        if let Some(e) = &step.value.expect
            && let Some(name) = &e.value.scaler
            && !policies.iter().any(|p| &p.name == name)
        {
            c.err(e, format!("expect names scaler `{name}`, which the file does not define"));
        }
    }
    if raw.timeline.value.is_empty() {
        c.err(&raw.timeline, "the timeline has no steps");
    }
    let mut c = {
        // Configuration problems stop here; expectation mismatches are gathered below.
        let file_errors = std::mem::take(&mut c.errors);
        if !file_errors.is_empty() {
            return Err(ConfigErrors(file_errors).sorted());
        }
        c
    };

    let mut states: Vec<ScalerState> = vec![ScalerState::default(); policies.len()];
    let mut last: Vec<Option<i32>> = vec![None; policies.len()];
    for step in &raw.timeline.value {
        let s = &step.value;
        let now_ms = start_ms + (s.at.value * 1000.0).round() as i64;
        let mut decisions: Vec<Decision> = Vec::new();
        for (i, p) in policies.iter().enumerate() {
            let lookup = |key: &str| -> Option<f64> {
                s.metrics.get(&format!("{}/{key}", p.name)).or_else(|| s.metrics.get(key)).copied().flatten()
            };
            let mut notes = Vec::new();
            let current = match (&s.replicas, last[i]) {
                (Some(r), _) => r.value as i32,
                (None, Some(l)) => l,
                (None, None) => {
                    notes.push(Reason {
                        code: "ReplicasAssumed".into(),
                        message: format!("no replica count given yet: assuming minReplicas {}", p.min_replicas),
                    });
                    p.min_replicas
                }
            };
            let inputs = Inputs {
                current,
                metric_values: p.metrics.iter().map(|m| Ok(lookup(&m.name))).collect(),
                step_values: p.steps.iter().map(|st| Ok(lookup(st.metric.as_deref().unwrap_or(&st.name)))).collect(),
                firing: s.alerts_firing.clone(),
                notes,
                // The actuator is not called in simulation: only the policy's bounds apply.
                group_limits: None,
            };
            let d = decide(p, &mut states[i], &inputs, now_ms);
            last[i] = Some(d.desired);
            let line = Line {
                at: s.at.value,
                scaler: &d.scaler,
                current: d.current,
                desired: d.desired,
                min_replicas: d.min_replicas,
                max_replicas: d.max_replicas,
                metrics: &d.metrics,
                reasons: &d.reasons,
                time: &d.time,
            };
            let json = serde_json::to_string(&line).unwrap_or_default();
            if let Err(e) = writeln!(out, "{json}") {
                return Err(ConfigError::new(
                    Position { file: fname.clone(), line: 1, column: 1 },
                    format!("cannot write output: {e}"),
                )
                .into());
            }
            decisions.push(d);
        }
        if let Some(e) = &s.expect {
            check_expect(&mut c, e, &decisions, s.at.value);
        }
    }
    c.finish(())
}

fn check_expect(c: &mut Checker, e: &Spanned<RawExpect>, decisions: &[Decision], at: f64) {
    let x = &e.value;
    let d = match &x.scaler {
        Some(name) => decisions.iter().find(|d| &d.scaler == name),
        None => decisions.first(),
    };
    let Some(d) = d else { return };
    let mut problems = Vec::new();
    if x.desired != d.desired {
        problems.push(format!("desired {} (got {})", x.desired, d.desired));
    }
    if let Some(cur) = x.current
        && cur != d.current
    {
        problems.push(format!("current {cur} (got {})", d.current));
    }
    let mut codes = d.reasons.iter().map(|r| r.code.as_str());
    for want in &x.reasons {
        if !codes.any(|c| c == want) {
            problems.push(format!("reason {want} in order"));
            break;
        }
    }
    if !problems.is_empty() {
        let got: Vec<&str> = d.reasons.iter().map(|r| r.code.as_str()).collect();
        c.err(
            e,
            format!(
                "at {at}, scaler {}: expected {}; reasons were [{}]",
                d.scaler,
                problems.join(", "),
                got.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (String, Result<(), ConfigErrors>) {
        let mut out = Vec::new();
        let r = simulate("t.yml", text, &mut out);
        (String::from_utf8(out).unwrap(), r)
    }

    #[test]
    fn prints_one_line_per_step_and_checks_expectations() {
        let text = "\
scalers:
  - name: api
    minReplicas: 2
    maxReplicas: 10
    metrics:
      - { name: rpm, query: 'x', target: { type: AverageValue, averageValue: 1000 } }
timeline:
  - { at: 0, replicas: 2, metrics: { rpm: 8000 }, expect: { desired: 4, reasons: [MetricAboveTarget, ScaleUpLimit] } }
  - { at: 15, metrics: { rpm: 8000 }, expect: { current: 4, desired: 8 } }
  - { at: 30, metrics: { rpm: 12000 }, expect: { desired: 9 } }
";
        let (out, r) = run(text);
        let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["at"], 0.0);
        assert_eq!(lines[0]["scaler"], "api");
        assert_eq!(lines[1]["current"], 4);
        let err = r.unwrap_err().to_string();
        assert_eq!(
            err,
            "t.yml:10:48: at 30, scaler api: expected desired 9 (got 10); reasons were [Metric, MetricAboveTarget, TooManyReplicas]"
        );
    }

    #[test]
    fn bad_files_are_positioned() {
        let (_, r) = run("scalers: []\ntimeline:\n  - { at: 5 }\n  - { at: 1 }\n");
        assert_eq!(
            r.unwrap_err().to_string(),
            "t.yml:4:11: `at` must be a number of seconds, not below the previous step's"
        );
        let (_, r) = run("scalers: []\ntimeline: []\nwhat: 1\n");
        assert!(r.unwrap_err().to_string().starts_with("t.yml:3:1: unknown field `what`"));
    }
}
