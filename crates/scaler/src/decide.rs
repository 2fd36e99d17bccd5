//! One evaluation of one scaler: bounds, target tracking, step policies and alerts combined into
//! a [`Decision`] with its reason chain. Pure apart from the [`ScalerState`] it updates, so the
//! running engine and the simulator share it.
//!
//! Precedence, in order (each stage's effect is a [`Reason`]):
//!
//! 1. **Bounds**: `minReplicas`/`maxReplicas`, replaced while a schedule is open (several open
//!    schedules: the largest min and the largest max win; a min above the max raises the max),
//!    then narrowed to the actuated group's own limits when it has some (an Auto Scaling
//!    group's MinSize/MaxSize: the cloud refuses a count outside them).
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
use crate::step::{StepKind, StepOutcome, StepState};

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
    /// The actuated group's own limits, when the actuator reads them.
    pub group_limits: Option<GroupLimits>,
}

/// Limits a cloud group sets on its own size (e.g. an Auto Scaling group's MinSize/MaxSize).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLimits {
    /// What the group is, for the reason text (`Auto Scaling group api-asg`).
    pub group: String,
    /// Its minimum.
    pub min: i32,
    /// Its maximum.
    pub max: i32,
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

/// Which stage proposed the winning count.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Hpa,
    Step(usize),
}

/// Effective `minReplicas`/`maxReplicas` of one evaluation.
#[derive(Clone, Copy)]
struct Bounds {
    min: i32,
    max: i32,
}

/// Evaluates `policy` at `now_ms`: the stages of the module docs, in order.
pub fn decide(policy: &ScalerPolicy, state: &mut ScalerState, inputs: &Inputs, now_ms: i64) -> Decision {
    let mut reasons = inputs.notes.clone();
    let mut metrics = Vec::new();
    let current = inputs.current;
    let bounds = scheduled_bounds(policy, now_ms, &mut reasons);
    let bounds = narrow_to_group(bounds, inputs.group_limits.as_ref(), &mut reasons);
    // Step proposals that were carried out: they start their cooldown or warm-up.
    let mut carried_out = Vec::new();
    let desired = match out_of_range(current, bounds) {
        Some((desired, why)) => {
            reasons.push(why);
            desired
        }
        None => {
            let tracked = target_tracking(policy, &mut state.hpa, inputs, now_ms, bounds, &mut metrics, &mut reasons);
            let steps = step_policies(policy, &state.steps, inputs, now_ms, &mut reasons);
            let (desired, winner) = largest_capacity(policy, current, tracked, &steps, &mut reasons);
            let (desired, raised) =
                alert_floors(policy, &inputs.firing, current, desired, &mut state.alert_bases, &mut reasons);
            if winner.is_some() && !raised {
                carried_out = steps;
            }
            clamp_to_bounds(desired, bounds, &mut reasons)
        }
    };
    // Alerts that stopped firing forget their base even when an earlier stage returned.
    state.alert_bases.retain(|a, _| inputs.firing.contains(a));
    if desired != current {
        record_scale(policy, state, now_ms, current, desired, bounds, &carried_out);
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
        min_replicas: bounds.min,
        max_replicas: bounds.max,
        metrics,
        reasons,
    }
}

/// Stage 1: `minReplicas`/`maxReplicas`, replaced by the open schedules (the largest of each
/// wins; a min above the max raises the max).
fn scheduled_bounds(policy: &ScalerPolicy, now_ms: i64, reasons: &mut Vec<Reason>) -> Bounds {
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
    Bounds { min, max }
}

/// Stage 1, end: the bounds within the group's own limits, with a `GroupLimits` reason when
/// they are narrower. Bounds that miss the group's range entirely give way to it: no other
/// count can be applied.
fn narrow_to_group(b: Bounds, limits: Option<&GroupLimits>, reasons: &mut Vec<Reason>) -> Bounds {
    let Some(g) = limits else { return b };
    let (mut min, mut max) = (b.min.max(g.min), b.max.min(g.max));
    if min > max {
        (min, max) = (g.min, g.max);
    }
    if (min, max) != (b.min, b.max) {
        reasons.push(reason(
            "GroupLimits",
            format!(
                "{} allows {} to {}, narrower than minReplicas {} to maxReplicas {}: bounds {min} to {max}",
                g.group, g.min, g.max, b.min, b.max
            ),
        ));
    }
    Bounds { min, max }
}

/// Stage 2: the count to go to when the current one is outside the bounds (nothing else is
/// considered then), or zero replicas with a minimum above zero (the HPA's `ScalingDisabled`).
fn out_of_range(current: i32, Bounds { min, max }: Bounds) -> Option<(i32, Reason)> {
    if current == 0 && min != 0 {
        Some((0, reason("ScalingDisabled", "scaling is disabled since the replica count of the target is zero")))
    } else if current > max {
        Some((max, reason("CurrentAboveMax", format!("current number of replicas above maxReplicas: {max}"))))
    } else if current < min {
        Some((min, reason("CurrentBelowMin", format!("current number of replicas below minReplicas: {min}"))))
    } else {
        None
    }
}

/// Stage 3: the HPA algorithm over `policy.metrics`, stabilized and limited by `behavior`.
/// Returns its count when that differs from the current one.
fn target_tracking(
    policy: &ScalerPolicy,
    hpa_state: &mut HpaState,
    inputs: &Inputs,
    now_ms: i64,
    Bounds { min, max }: Bounds,
    metrics: &mut Vec<MetricReport>,
    reasons: &mut Vec<Reason>,
) -> Option<i32> {
    if policy.metrics.is_empty() {
        return None;
    }
    let current = inputs.current;
    let proposals = metric_proposals(policy, inputs, metrics, reasons);
    let (replicas, w) = match hpa::combine_metrics(current, &proposals) {
        MetricsOutcome::Blocked { message } => {
            reasons.push(reason("FailedGetMetrics", format!("{message}; not scaling down")));
            return None;
        }
        MetricsOutcome::Proposal { replicas, winner, .. } => (replicas, winner),
    };
    let name = &policy.metrics[w].name;
    let prenormalized = replicas.max(0);
    if prenormalized > current {
        reasons.push(reason("MetricAboveTarget", format!("{name} above target: {prenormalized}")));
    } else if prenormalized < current {
        reasons.push(reason("AllMetricsBelowTarget", format!("all metrics below target: {prenormalized}")));
    } else {
        reasons.push(reason("ReadyForNewScale", format!("recommended size matches current size: {current}")));
    }
    let n = match &policy.behavior {
        Some(b) => hpa::normalize_with_behaviors(hpa_state, now_ms, current, prenormalized, min, max, b),
        None => hpa::normalize_legacy(hpa_state, now_ms, current, prenormalized, min, max),
    };
    if let Some((v, code, msg)) = n.stabilized {
        reasons.push(reason(code, format!("{msg}: {v}")));
    }
    if n.limit.0 != "DesiredWithinRange" {
        reasons.push(reason(n.limit.0, format!("{}: {}", n.limit.1, n.replicas)));
    }
    (n.replicas != current).then_some(n.replicas)
}

/// Each metric's proposal, reported in `metrics` and `reasons`.
fn metric_proposals(
    policy: &ScalerPolicy,
    inputs: &Inputs,
    metrics: &mut Vec<MetricReport>,
    reasons: &mut Vec<Reason>,
) -> Vec<Result<hpa::MetricProposal, hpa::MetricError>> {
    let proposals: Vec<_> = policy
        .metrics
        .iter()
        .zip(&inputs.metric_values)
        .map(|(m, v)| match v {
            Ok(v) => hpa::metric_replicas(inputs.current, &m.target, *v, &policy.tolerances),
            Err(e) => Err(hpa::MetricError::QueryFailed(e.clone())),
        })
        .collect();
    for ((m, v), p) in policy.metrics.iter().zip(&inputs.metric_values).zip(&proposals) {
        let value = v.as_ref().ok().copied().flatten();
        metrics.push(MetricReport {
            name: m.name.clone(),
            value,
            target: target_text(&m.target),
            usage_ratio: p.as_ref().ok().map(|p| p.usage_ratio),
            proposal: p.as_ref().ok().map(|p| p.replicas),
            error: p.as_ref().err().map(ToString::to_string),
        });
        reasons.push(match p {
            Ok(p) => reason(
                "Metric",
                format!(
                    "{}: {} against {} (ratio {:.3}) proposes {}",
                    m.name,
                    value.map(|v| v.to_string()).unwrap_or_default(),
                    target_text(&m.target),
                    p.usage_ratio,
                    p.replicas
                ),
            ),
            Err(e) => reason("InvalidMetric", format!("{}: {e}", m.name)),
        });
    }
    proposals
}

/// Stage 4: the breached step policies' proposals that differ from the current count, as
/// (index into `policy.steps`, replicas); cooldown and warm-up hold some back.
fn step_policies(
    policy: &ScalerPolicy,
    step_state: &StepState,
    inputs: &Inputs,
    now_ms: i64,
    reasons: &mut Vec<Reason>,
) -> Vec<(usize, i32)> {
    let current = inputs.current;
    let mut proposals = Vec::new();
    for (i, (s, v)) in policy.steps.iter().zip(&inputs.step_values).enumerate() {
        let value = match v {
            Ok(v) => *v,
            Err(e) => {
                reasons.push(reason("NoData", format!("{}: query failed: {e}", s.name)));
                continue;
            }
        };
        match s.evaluate(value, current, step_state, now_ms) {
            StepOutcome::NoData => reasons.push(reason("NoData", format!("{}: the alarm has no data", s.name))),
            StepOutcome::NotBreached => {}
            StepOutcome::Held { code, message } => reasons.push(reason(code, message)),
            StepOutcome::Propose { replicas, message } => {
                let code = match s.kind {
                    StepKind::Simple { .. } => "SimpleScaling",
                    StepKind::Step { .. } => "StepScaling",
                };
                reasons.push(reason(code, message));
                if replicas != current {
                    proposals.push((i, replicas));
                }
            }
        }
    }
    proposals
}

/// Stage 5: of target tracking and the step policies that want a change, the largest count
/// wins (the first of equals, so target tracking before step policies). No source: the
/// count stays. Returns the count and its source.
fn largest_capacity(
    policy: &ScalerPolicy,
    current: i32,
    tracked: Option<i32>,
    steps: &[(usize, i32)],
    reasons: &mut Vec<Reason>,
) -> (i32, Option<Source>) {
    let candidates: Vec<(i32, Source)> =
        tracked.map(|n| (n, Source::Hpa)).into_iter().chain(steps.iter().map(|&(i, n)| (n, Source::Step(i)))).collect();
    let best = candidates.iter().fold(None::<&(i32, Source)>, |b, c| match b {
        Some(b) if b.0 >= c.0 => Some(b),
        _ => Some(c),
    });
    let Some(&(n, src)) = best else { return (current, None) };
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
    (n, Some(src))
}

/// Stage 6: firing alerts' floors raise the count (past `behavior` limits). Returns the count
/// and whether an alert raised it.
fn alert_floors(
    policy: &ScalerPolicy,
    firing: &[String],
    current: i32,
    mut desired: i32,
    bases: &mut AlertBases,
    reasons: &mut Vec<Reason>,
) -> (i32, bool) {
    let mut raised = false;
    for a in &policy.alerts {
        if let Some((floor, msg)) = a.floor(firing, current, bases) {
            if floor > desired {
                desired = floor;
                raised = true;
                reasons.push(reason("Alert", msg));
            } else {
                reasons.push(reason("Alert", format!("{msg}, already met by {desired}")));
            }
        }
    }
    (desired, raised)
}

/// Stage 7: the count brought within the bounds of stage 1.
fn clamp_to_bounds(desired: i32, Bounds { min, max }: Bounds, reasons: &mut Vec<Reason>) -> i32 {
    if desired > max {
        reasons.push(reason(
            "TooManyReplicas",
            format!("the desired replica count is more than the maximum replica count: {max}"),
        ));
        return max;
    }
    if desired < min {
        reasons.push(reason(
            "TooFewReplicas",
            format!("the desired replica count is less than the minimum replica count: {min}"),
        ));
        return min;
    }
    desired
}

/// Records a change as a scale event for the `behavior` periods, and starts the cooldown or
/// warm-up of every step policy whose proposal was carried out (alone or tied).
fn record_scale(
    policy: &ScalerPolicy,
    state: &mut ScalerState,
    now_ms: i64,
    current: i32,
    desired: i32,
    Bounds { min, max }: Bounds,
    carried_out: &[(usize, i32)],
) {
    hpa::store_scale_event(&mut state.hpa, now_ms, policy.behavior.as_ref(), current, desired);
    for &(i, n) in carried_out {
        if n.clamp(min, max) == desired {
            state.steps.record(&policy.steps[i], now_ms, current, desired);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(min: i32, max: i32) -> GroupLimits {
        GroupLimits { group: "Auto Scaling group api-asg".to_string(), min, max }
    }

    #[test]
    fn a_group_narrower_than_the_policy_bounds_the_decision_and_says_so() {
        let policy = crate::parse_policy_file(
            "p.yml",
            "scalers:\n  - name: api\n    minReplicas: 1\n    maxReplicas: 20\n    metrics:\n      \
             - { name: cpu, query: cpu, target: { type: Utilization, averageUtilization: 70 } }\n",
        )
        .unwrap()
        .scalers
        .remove(0);
        let run = |current: i32, cpu: f64, group: Option<GroupLimits>| {
            let inputs =
                Inputs { current, metric_values: vec![Ok(Some(cpu))], group_limits: group, ..Inputs::default() };
            decide(&policy, &mut ScalerState::default(), &inputs, 1_800_000_000_000)
        };
        // 4 × 700 / 70 = 40 wanted; the policy allows 20, the group 8.
        let d = run(4, 700.0, Some(limits(2, 8)));
        assert_eq!((d.desired, d.min_replicas, d.max_replicas), (8, 2, 8));
        let codes: Vec<&str> = d.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes.first(), Some(&"GroupLimits"), "{codes:?}");
        assert_eq!(
            d.reasons[0].message,
            "Auto Scaling group api-asg allows 2 to 8, narrower than minReplicas 1 to maxReplicas 20: bounds 2 to 8"
        );
        assert!(codes.contains(&"TooManyReplicas"), "{codes:?}");
        // Scale-in below the group's MinSize stops at it.
        let d = run(4, 7.0, Some(limits(2, 8)));
        assert_eq!(d.desired, 2);
        // A group as wide as the policy (or wider) changes nothing and says nothing.
        let d = run(4, 700.0, Some(limits(0, 50)));
        assert_eq!(d.desired, 8, "the legacy scale-up limit max(2 × 4, 4)");
        assert!(d.reasons.iter().all(|r| r.code != "GroupLimits"));
        // Bounds that miss the group's range give way to it.
        let d = run(30, 700.0, Some(limits(25, 40)));
        assert_eq!((d.min_replicas, d.max_replicas), (25, 40));
        assert!(d.reasons[0].message.ends_with("bounds 25 to 40"), "{:?}", d.reasons);
    }
}
