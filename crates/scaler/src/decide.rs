//! One evaluation of one scaler: bounds, target tracking, step policies and alerts combined into
//! a [`Decision`] with its reason chain. Pure apart from the [`ScalerState`] it updates, so the
//! running engine and the simulator share it.
//!
//! Precedence, in order (each stage's effect is a [`Reason`]):
//!
//! 1. **Bounds**: `minReplicas`/`maxReplicas`, replaced while a schedule is open (several open
//!    schedules: the largest min and the largest max win; a min above the max raises the max).
//! 2. **Out of range**: a current count above max or below min is brought to the bound and
//!    nothing else is considered (the HPA's "Current number of replicas above Spec.MaxReplicas");
//!    a current count of 0 with min > 0 disables scaling (the HPA's `ScalingDisabled`).
//! 3. **Target tracking**: the HPA algorithm with stabilization and `behavior` limits.
//! 4. **Step policies**: each breached policy proposes a count; cooldown and warm-up hold some back.
//! 5. **Combination**: of the sources that want a change (target tracking when its result differs
//!    from current, and breached step policies) the largest count wins — EC2 Auto Scaling's rule
//!    for several policies triggering at once. No source: the count stays.
//! 6. **Alerts**: a firing alert's floor raises the count (past `behavior` limits: it is an
//!    operator's explicit instruction) but not past max.
//! 7. **Clamp** to the bounds of step 1.
//!
//! The resulting change is recorded as a scale event for the `behavior` periods, and every step
//! policy whose proposal was carried out (alone or tied with another source) starts its cooldown
//! or warm-up; one overridden by an alert or a larger source starts none.

use chrono::{SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::AlertBases;
use crate::hpa::{self, HpaState, MetricsOutcome, Target};
use crate::policy::ScalerPolicy;
use crate::step::{StepOutcome, StepState};

/// Everything a scaler remembers between evaluations (persisted under `data_dir`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScalerState {
    /// Recommendations and scale events of the HPA algorithm.
    pub hpa: HpaState,
    /// Cooldown and warm-up of step policies.
    pub steps: StepState,
    /// Replica counts at which firing alerts started.
    pub alert_bases: AlertBases,
}

/// One link of the reason chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Kubernetes condition reasons where one exists (`ScaleUpLimit`, `ScaleDownStabilized`, …),
    /// else `Metric`, `StepScaling`, `SimpleScaling`, `Cooldown`, `WarmUp`, `Schedule`, `Alert`, ….
    pub code: String,
    /// What happened, with the number it led to.
    pub message: String,
}

/// One metric's part in a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricReport {
    /// Metric name.
    pub name: String,
    /// The query result (none: no data).
    pub value: Option<f64>,
    /// The target, as written.
    pub target: String,
    /// current / target.
    pub usage_ratio: Option<f64>,
    /// Replicas this metric asks for.
    pub proposal: Option<i32>,
    /// Why it could not be computed.
    pub error: Option<String>,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Scaler name.
    pub scaler: String,
    /// Evaluation time (unix ms).
    pub at_ms: i64,
    /// The same, RFC 3339.
    pub time: String,
    /// Replicas before.
    pub current: i32,
    /// Replicas decided.
    pub desired: i32,
    /// Effective minReplicas (after schedules).
    pub min_replicas: i32,
    /// Effective maxReplicas (after schedules).
    pub max_replicas: i32,
    /// Each metric's value and proposal.
    pub metrics: Vec<MetricReport>,
    /// Why `desired` is what it is, in the order the stages ran.
    pub reasons: Vec<Reason>,
}

/// What one evaluation reads.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Replicas now.
    pub current: i32,
    /// Query results of `policy.metrics`, in order (`Err`: the query failed).
    pub metric_values: Vec<Result<Option<f64>, String>>,
    /// Alarm values of `policy.steps`, in order.
    pub step_values: Vec<Result<Option<f64>, String>>,
    /// Names of firing alerts.
    pub firing: Vec<String>,
    /// Reasons gathered while reading the inputs (e.g. how `current` was found).
    pub notes: Vec<Reason>,
}

fn reason(code: &str, message: impl Into<String>) -> Reason {
    Reason { code: code.to_string(), message: message.into() }
}

fn target_text(t: &Target) -> String {
    match t {
        Target::Utilization { average_utilization } => format!("Utilization {average_utilization}%"),
        Target::AverageValue { average_value } => format!("AverageValue {average_value}"),
        Target::Value { value } => format!("Value {value}"),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Source {
    Hpa,
    Step(usize),
}

/// Evaluates `policy` at `now_ms`.
pub fn decide(policy: &ScalerPolicy, state: &mut ScalerState, inputs: &Inputs, now_ms: i64) -> Decision {
    let mut reasons = inputs.notes.clone();
    let current = inputs.current;

    // 1. Bounds.
    let (mut min, mut max) = (policy.min_replicas, policy.max_replicas);
    let open: Vec<_> = policy.schedules.iter().filter(|s| s.is_active(now_ms)).collect();
    if let Some(m) = open.iter().filter_map(|s| s.min_replicas).max() {
        min = m;
    }
    if let Some(m) = open.iter().filter_map(|s| s.max_replicas).max() {
        max = m;
    }
    for s in &open {
        let mut parts = Vec::new();
        if let Some(m) = s.min_replicas {
            parts.push(format!("minReplicas {m}"));
        }
        if let Some(m) = s.max_replicas {
            parts.push(format!("maxReplicas {m}"));
        }
        reasons.push(reason("Schedule", format!("schedule {} is open: {}", s.name, parts.join(", "))));
    }
    if min > max {
        reasons.push(reason(
            "Schedule",
            format!("minReplicas {min} is above maxReplicas {max}: maxReplicas raised to {min}"),
        ));
        max = min;
    }

    let mut metrics = Vec::new();
    let mut desired;
    let mut winner = None;
    let mut step_proposals: Vec<(usize, i32)> = Vec::new();
    if current == 0 && min != 0 {
        // 2. The HPA's ScalingDisabled.
        desired = 0;
        reasons.push(reason("ScalingDisabled", "scaling is disabled since the replica count of the target is zero"));
    } else if current > max {
        desired = max;
        reasons.push(reason("CurrentAboveMax", format!("current number of replicas above maxReplicas: {max}")));
    } else if current < min {
        desired = min;
        reasons.push(reason("CurrentBelowMin", format!("current number of replicas below minReplicas: {min}")));
    } else {
        let mut candidates: Vec<(i32, Source)> = Vec::new();
        // 3. Target tracking.
        if !policy.metrics.is_empty() {
            let proposals: Vec<Result<hpa::MetricProposal, String>> = policy
                .metrics
                .iter()
                .zip(&inputs.metric_values)
                .map(|(m, v)| match v {
                    Ok(v) => hpa::metric_replicas(current, &m.target, *v, &policy.tolerances),
                    Err(e) => Err(format!("query failed: {e}")),
                })
                .collect();
            for ((m, v), p) in policy.metrics.iter().zip(&inputs.metric_values).zip(&proposals) {
                metrics.push(MetricReport {
                    name: m.name.clone(),
                    value: v.as_ref().ok().copied().flatten(),
                    target: target_text(&m.target),
                    usage_ratio: p.as_ref().ok().map(|p| p.usage_ratio),
                    proposal: p.as_ref().ok().map(|p| p.replicas),
                    error: p.as_ref().err().cloned(),
                });
                match p {
                    Ok(p) => reasons.push(reason(
                        "Metric",
                        format!(
                            "{}: {} against {} (ratio {:.3}) proposes {}",
                            m.name,
                            v.as_ref().ok().copied().flatten().map(|v| v.to_string()).unwrap_or_default(),
                            target_text(&m.target),
                            p.usage_ratio,
                            p.replicas
                        ),
                    )),
                    Err(e) => reasons.push(reason("InvalidMetric", format!("{}: {e}", m.name))),
                }
            }
            match hpa::combine_metrics(current, &proposals) {
                MetricsOutcome::Blocked { message } => {
                    reasons.push(reason("FailedGetMetrics", format!("{message}; not scaling down")));
                }
                MetricsOutcome::Proposal { replicas, winner: w, .. } => {
                    let name = &policy.metrics[w].name;
                    let prenormalized = replicas.max(0);
                    if prenormalized > current {
                        reasons.push(reason("MetricAboveTarget", format!("{name} above target: {prenormalized}")));
                    } else if prenormalized < current {
                        reasons.push(reason(
                            "AllMetricsBelowTarget",
                            format!("all metrics below target: {prenormalized}"),
                        ));
                    } else {
                        reasons.push(reason(
                            "ReadyForNewScale",
                            format!("recommended size matches current size: {current}"),
                        ));
                    }
                    let n = match &policy.behavior {
                        Some(b) => {
                            hpa::normalize_with_behaviors(&mut state.hpa, now_ms, current, prenormalized, min, max, b)
                        }
                        None => hpa::normalize_legacy(&mut state.hpa, now_ms, current, prenormalized, min, max),
                    };
                    if let Some((v, code, msg)) = n.stabilized {
                        reasons.push(reason(code, format!("{msg}: {v}")));
                    }
                    if n.limit.0 != "DesiredWithinRange" {
                        reasons.push(reason(n.limit.0, format!("{}: {}", n.limit.1, n.replicas)));
                    }
                    if n.replicas != current {
                        candidates.push((n.replicas, Source::Hpa));
                    }
                }
            }
        }
        // 4. Step policies.
        for (i, (s, v)) in policy.steps.iter().zip(&inputs.step_values).enumerate() {
            let value = match v {
                Ok(v) => *v,
                Err(e) => {
                    reasons.push(reason("NoData", format!("{}: query failed: {e}", s.name)));
                    continue;
                }
            };
            match s.evaluate(value, current, &state.steps, now_ms) {
                StepOutcome::NoData => reasons.push(reason("NoData", format!("{}: the alarm has no data", s.name))),
                StepOutcome::NotBreached => {}
                StepOutcome::Held { code, message } => reasons.push(reason(code, message)),
                StepOutcome::Propose { replicas, message } => {
                    let code = match s.kind {
                        crate::step::StepKind::Simple { .. } => "SimpleScaling",
                        crate::step::StepKind::Step { .. } => "StepScaling",
                    };
                    reasons.push(reason(code, message));
                    if replicas != current {
                        candidates.push((replicas, Source::Step(i)));
                        step_proposals.push((i, replicas));
                    }
                }
            }
        }
        // 5. The largest capacity wins.
        desired = current;
        // The first of equal candidates wins, so target tracking is named before step policies.
        let best = candidates.iter().fold(None::<&(i32, Source)>, |b, c| match b {
            Some(b) if b.0 >= c.0 => Some(b),
            _ => Some(c),
        });
        if let Some(&(n, src)) = best {
            desired = n;
            winner = Some(src);
            if candidates.len() > 1 {
                let name = match src {
                    Source::Hpa => "target tracking".to_string(),
                    Source::Step(i) => format!("step policy {}", policy.steps[i].name),
                };
                reasons.push(reason(
                    "LargestCapacity",
                    format!("{} sources want a change; the largest, {name}, wins: {n}", candidates.len()),
                ));
            }
        }
        // 6. Alerts.
        for a in &policy.alerts {
            if let Some((floor, msg)) = a.floor(&inputs.firing, current, &mut state.alert_bases) {
                if floor > desired {
                    desired = floor;
                    winner = None;
                    reasons.push(reason("Alert", msg));
                } else {
                    reasons.push(reason("Alert", format!("{msg}, already met by {desired}")));
                }
            }
        }
        // 7. Clamp.
        if desired > max {
            desired = max;
            reasons.push(reason(
                "TooManyReplicas",
                format!("the desired replica count is more than the maximum replica count: {max}"),
            ));
        }
        if desired < min {
            desired = min;
            reasons.push(reason(
                "TooFewReplicas",
                format!("the desired replica count is less than the minimum replica count: {min}"),
            ));
        }
    }
    // Alerts that stopped firing forget their base even when an earlier stage returned.
    state.alert_bases.retain(|a, _| inputs.firing.contains(a));

    if desired != current {
        hpa::store_scale_event(&mut state.hpa, now_ms, policy.behavior.as_ref(), current, desired);
        // Every step policy whose proposal was carried out (alone or tied) starts its cooldown or warm-up.
        if winner.is_some() {
            for (i, n) in step_proposals {
                if n.clamp(min, max) == desired {
                    state.steps.record(&policy.steps[i], now_ms, current, desired);
                }
            }
        }
    }
    Decision {
        scaler: policy.name.clone(),
        at_ms: now_ms,
        time: Utc
            .timestamp_millis_opt(now_ms)
            .single()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_default(),
        current,
        desired,
        min_replicas: min,
        max_replicas: max,
        metrics,
        reasons,
    }
}
