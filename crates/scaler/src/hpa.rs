//! Target tracking with the Kubernetes HorizontalPodAutoscaler v2 algorithm, step for step.
//!
//! Ported from kubernetes `pkg/controller/podautoscaler` (horizontal.go, replica_calculator.go):
//! the per-metric replica calculation with the tolerance band, the max over metrics where a
//! metric that cannot be computed blocks scale-down only (`computeReplicasForMetrics`), the
//! legacy normalization used when `behavior` is absent (`stabilizeRecommendation`,
//! `convertDesiredReplicasWithRules`: scale-up limit max(2×current, 4), 5-minute scale-down
//! window), and the `behavior` path (`stabilizeRecommendationWithBehaviors`,
//! `convertDesiredReplicasWithBehaviorRate`, `storeScaleEvent`) with Pods/Percent policies over
//! `periodSeconds` of scale-event history and `selectPolicy`. Names of the Go functions are kept
//! in comments so a reader can compare line by line; condition reasons (`ScaleUpLimit`,
//! `TooFewReplicas`, …) are the controller's.
//!
//! Time is an explicit `now_ms` everywhere so the simulator can replay a timeline; the
//! controller's `Before`/`After` comparisons are strict and are kept strict here.

use serde::{Deserialize, Serialize};

use crate::quantity::Quantity;

/// `Max`/`Min`/`Disabled` (HPAScalingRules.selectPolicy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectPolicy {
    /// The policy allowing the biggest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// `Pods` or `Percent` (HPAScalingPolicy.type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyKind {
    /// An absolute number of replicas per period.
    Pods,
    /// A percentage of the replicas at the start of the period.
    Percent,
}

/// One rate policy: at most `value` pods (or percent) per `period_seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingPolicy {
    /// Pods or Percent.
    pub kind: PolicyKind,
    /// The amount of change allowed.
    pub value: i32,
    /// The window the change is counted over (1..=1800).
    pub period_seconds: i32,
}

/// Rules for one direction, with every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingRules {
    /// Past recommendations considered (0..=3600 s).
    pub stabilization_window_seconds: i32,
    /// How policies are combined.
    pub select_policy: SelectPolicy,
    /// Rate policies (at least one).
    pub policies: Vec<ScalingPolicy>,
    /// Usage ratios within this distance of 1.0 (in this direction) cause no change.
    pub tolerance: f64,
}

/// The controller-wide tolerance (`--horizontal-pod-autoscaler-tolerance`).
pub const DEFAULT_TOLERANCE: f64 = 0.1;
/// The controller-wide scale-down window (`--horizontal-pod-autoscaler-downscale-stabilization`).
pub const DEFAULT_DOWNSCALE_WINDOW_SECONDS: i32 = 300;
const SCALE_UP_LIMIT_FACTOR: f64 = 2.0;
const SCALE_UP_LIMIT_MINIMUM: f64 = 4.0;

impl ScalingRules {
    /// `GenerateHPAScaleUpRules` defaults: window 0, Max of 4 pods / 100 % per 15 s.
    pub fn default_scale_up() -> Self {
        ScalingRules {
            stabilization_window_seconds: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![
                ScalingPolicy { kind: PolicyKind::Pods, value: 4, period_seconds: 15 },
                ScalingPolicy { kind: PolicyKind::Percent, value: 100, period_seconds: 15 },
            ],
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// `GenerateHPAScaleDownRules` defaults: window 300 s (the controller's flag), Max of 100 % per 15 s.
    pub fn default_scale_down() -> Self {
        ScalingRules {
            stabilization_window_seconds: DEFAULT_DOWNSCALE_WINDOW_SECONDS,
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy { kind: PolicyKind::Percent, value: 100, period_seconds: 15 }],
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    fn longest_period(&self) -> i32 {
        self.policies.iter().map(|p| p.period_seconds).max().unwrap_or(0)
    }
}

/// HorizontalPodAutoscalerBehavior with defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Behavior {
    /// Rules for scaling up.
    pub scale_up: ScalingRules,
    /// Rules for scaling down.
    pub scale_down: ScalingRules,
}

/// The tolerance band: a usage ratio in `[1 - scale_down, 1 + scale_up]` keeps the current count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Below 1.0.
    pub scale_down: f64,
    /// Above 1.0.
    pub scale_up: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances { scale_down: DEFAULT_TOLERANCE, scale_up: DEFAULT_TOLERANCE }
    }
}

impl Tolerances {
    /// `Tolerances.isWithin`.
    pub fn is_within(&self, usage_ratio: f64) -> bool {
        (1.0 - self.scale_down) <= usage_ratio && usage_ratio <= (1.0 + self.scale_up)
    }
}

/// What a metric's target is (MetricTarget).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Target {
    /// The query returns the average utilization in percent; target percent.
    Utilization {
        /// Target percent.
        average_utilization: i32,
    },
    /// The query returns the total across replicas; target per replica.
    AverageValue {
        /// Target per replica.
        average_value: Quantity,
    },
    /// The query returns one value; target value.
    Value {
        /// Target value.
        value: Quantity,
    },
}

/// Why a metric makes no proposal (it then only blocks scale-down, as in the HPA).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricError {
    /// The query failed; holds its error.
    #[error("query failed: {0}")]
    QueryFailed(String),
    /// The query returned nothing.
    #[error("the query returned no data")]
    NoData,
    /// The query returned NaN or an infinity.
    #[error("the query returned {0}")]
    NotFinite(f64),
    /// The query's value does not fit a milli-value quantity.
    #[error("the query returned {0}, out of range")]
    OutOfRange(f64),
    /// A utilization target with no replicas to average over.
    #[error("no replicas to average utilization over")]
    NoReplicas,
}

/// One metric's proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricProposal {
    /// Replicas this metric asks for.
    pub replicas: i32,
    /// The usage ratio (current / target) it was computed from.
    pub usage_ratio: f64,
}

/// The replica count one metric asks for, as replica_calculator.go computes it for a query
/// result `value` (`None`: the query returned nothing). `current` is the scale's replica count
/// (the controller's `currentReplicas`, also used as the ready-pod and status count since
/// Lookout sees no pods).
pub fn metric_replicas(
    current: i32,
    target: &Target,
    value: Option<f64>,
    tol: &Tolerances,
) -> Result<MetricProposal, MetricError> {
    let value = value.ok_or(MetricError::NoData)?;
    if !value.is_finite() {
        return Err(MetricError::NotFinite(value));
    }
    let usage = Quantity::from_f64(value).ok_or(MetricError::OutOfRange(value))?;
    match *target {
        Target::Utilization { average_utilization } => {
            // GetResourceReplicas: utilization is an integer percent (metricsTotal*100/requestsTotal).
            if current == 0 {
                return Err(MetricError::NoReplicas);
            }
            let utilization = value.trunc();
            let ratio = utilization / average_utilization as f64;
            if tol.is_within(ratio) {
                return Ok(MetricProposal { replicas: current, usage_ratio: ratio });
            }
            Ok(MetricProposal { replicas: ceil_i32(ratio * current as f64), usage_ratio: ratio })
        }
        Target::AverageValue { average_value } => {
            // GetExternalPerPodMetricReplicas.
            let ratio = usage.0 as f64 / (average_value.0 as f64 * current as f64);
            let mut replicas = current;
            if !tol.is_within(ratio) {
                replicas = ceil_i32(usage.0 as f64 / average_value.0 as f64);
            }
            Ok(MetricProposal { replicas, usage_ratio: ratio })
        }
        Target::Value { value: target } => {
            // GetExternalMetricReplicas + getUsageRatioReplicaCount.
            let ratio = usage.0 as f64 / target.0 as f64;
            if current != 0 {
                if tol.is_within(ratio) {
                    return Ok(MetricProposal { replicas: current, usage_ratio: ratio });
                }
                Ok(MetricProposal { replicas: ceil_i32(ratio * current as f64), usage_ratio: ratio })
            } else {
                Ok(MetricProposal { replicas: ceil_i32(ratio), usage_ratio: ratio })
            }
        }
    }
}

fn ceil_i32(v: f64) -> i32 {
    // Go's int32(math.Ceil(x)) on an out-of-range float is undefined; saturate instead.
    let c = v.ceil();
    if c.is_nan() { 0 } else { c.clamp(i32::MIN as f64, i32::MAX as f64) as i32 }
}

/// The result of `computeReplicasForMetrics`.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsOutcome {
    /// The highest proposal and the index of the metric that made it.
    Proposal {
        /// Replicas.
        replicas: i32,
        /// Index of the winning metric.
        winner: usize,
        /// How many metrics could not be computed (they only block scale-down).
        invalid: usize,
    },
    /// All metrics invalid, or some invalid and the rest would scale down: no scaling.
    Blocked {
        /// `invalid metrics (n invalid out of m), first error is: …`
        message: String,
    },
}

/// `computeReplicasForMetrics`: the max over metrics; an invalid metric blocks scale-down.
pub fn combine_metrics(spec_replicas: i32, proposals: &[Result<MetricProposal, MetricError>]) -> MetricsOutcome {
    let mut replicas = 0;
    let mut winner = 0;
    let mut invalid = 0;
    let mut first_error: Option<&MetricError> = None;
    for (i, p) in proposals.iter().enumerate() {
        match p {
            Err(e) => {
                if invalid == 0 {
                    first_error = Some(e);
                }
                invalid += 1;
            }
            Ok(p) => {
                if replicas == 0 || p.replicas > replicas {
                    replicas = p.replicas;
                    winner = i;
                }
            }
        }
    }
    if invalid >= proposals.len() || (invalid > 0 && replicas < spec_replicas) {
        return MetricsOutcome::Blocked {
            message: format!(
                "invalid metrics ({invalid} invalid out of {}), first error is: {}",
                proposals.len(),
                first_error.map_or_else(|| "no metrics".to_string(), ToString::to_string)
            ),
        };
    }
    MetricsOutcome::Proposal { replicas, winner, invalid }
}

/// A past unstabilized recommendation (timestampedRecommendation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Replicas recommended.
    pub replicas: i32,
    /// When (unix ms).
    pub at_ms: i64,
}

/// A past change of the replica count (timestampedScaleEvent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleEvent {
    /// Replicas added (scale-up list) or removed (scale-down list), positive.
    pub change: i32,
    /// When (unix ms).
    pub at_ms: i64,
    /// Older than the longest policy period: may be overwritten.
    pub outdated: bool,
}

/// The controller's per-HPA memory: recommendations and scale events. Lookout persists it, so
/// unlike kube-controller-manager a restart does not forget the stabilization windows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HpaState {
    /// `recommendations[key]`.
    pub recommendations: Vec<Recommendation>,
    /// `scaleUpEvents[key]`.
    pub scale_up_events: Vec<ScaleEvent>,
    /// `scaleDownEvents[key]`.
    pub scale_down_events: Vec<ScaleEvent>,
}

/// Why normalization chose its number (the AbleToScale / ScalingLimited condition reasons).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The final number.
    pub replicas: i32,
    /// Stabilized value when the window changed the number: (reason, message).
    pub stabilized: Option<(i32, &'static str, &'static str)>,
    /// Limit reason and message (`DesiredWithinRange` when none applied).
    pub limit: (&'static str, &'static str),
}

const WITHIN_RANGE: (&str, &str) = ("DesiredWithinRange", "the desired count is within the acceptable range");

/// `stabilizeRecommendation` (legacy path): the max recommendation within the window.
pub fn stabilize_legacy(state: &mut HpaState, now_ms: i64, window_seconds: i32, desired: i32) -> i32 {
    let mut max_recommendation = desired;
    let mut old_index = None;
    let cutoff = now_ms - window_seconds as i64 * 1000;
    for (i, rec) in state.recommendations.iter().enumerate() {
        if rec.at_ms < cutoff {
            old_index = Some(i);
        } else if rec.replicas > max_recommendation {
            max_recommendation = rec.replicas;
        }
    }
    let new = Recommendation { replicas: desired, at_ms: now_ms };
    match old_index {
        Some(i) => state.recommendations[i] = new,
        None => state.recommendations.push(new),
    }
    max_recommendation
}

/// `calculateScaleUpLimit`: max(2 × current, 4).
pub fn legacy_scale_up_limit(current: i32) -> i32 {
    (SCALE_UP_LIMIT_FACTOR * current as f64).max(SCALE_UP_LIMIT_MINIMUM) as i32
}

/// `convertDesiredReplicasWithRules` (legacy path).
pub fn convert_with_rules(current: i32, desired: i32, min: i32, max: i32) -> (i32, &'static str, &'static str) {
    let scale_up_limit = legacy_scale_up_limit(current);
    let (maximum, cond, msg) = if max > scale_up_limit {
        (scale_up_limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
    } else {
        (max, "TooManyReplicas", "the desired replica count is more than the maximum replica count")
    };
    if desired < min {
        return (min, "TooFewReplicas", "the desired replica count is less than the minimum replica count");
    } else if desired > maximum {
        return (maximum, cond, msg);
    }
    (desired, WITHIN_RANGE.0, WITHIN_RANGE.1)
}

/// `normalizeDesiredReplicas` (legacy path, no `behavior`).
pub fn normalize_legacy(
    state: &mut HpaState,
    now_ms: i64,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
) -> Normalized {
    let stabilized = stabilize_legacy(state, now_ms, DEFAULT_DOWNSCALE_WINDOW_SECONDS, desired);
    let (replicas, cond, msg) = convert_with_rules(current, stabilized, min, max);
    Normalized {
        replicas,
        stabilized: (stabilized != desired).then_some((
            stabilized,
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation",
        )),
        limit: (cond, msg),
    }
}

/// `stabilizeRecommendationWithBehaviors`.
pub fn stabilize_with_behaviors(
    state: &mut HpaState,
    now_ms: i64,
    current: i32,
    desired: i32,
    behavior: &Behavior,
) -> (i32, &'static str, &'static str) {
    let up_cutoff = now_ms - behavior.scale_up.stabilization_window_seconds as i64 * 1000;
    let down_cutoff = now_ms - behavior.scale_down.stabilization_window_seconds as i64 * 1000;
    let mut up_recommendation = desired;
    let mut down_recommendation = desired;
    let mut old_index = None;
    for (i, rec) in state.recommendations.iter().enumerate() {
        if rec.at_ms > up_cutoff {
            up_recommendation = up_recommendation.min(rec.replicas);
        }
        if rec.at_ms > down_cutoff {
            down_recommendation = down_recommendation.max(rec.replicas);
        }
        if rec.at_ms < up_cutoff && rec.at_ms < down_cutoff {
            old_index = Some(i);
        }
    }
    let mut recommendation = current;
    if recommendation < up_recommendation {
        recommendation = up_recommendation;
    }
    if recommendation > down_recommendation {
        recommendation = down_recommendation;
    }
    let new = Recommendation { replicas: desired, at_ms: now_ms };
    match old_index {
        Some(i) => state.recommendations[i] = new,
        None => state.recommendations.push(new),
    }
    if desired >= current {
        (
            recommendation,
            "ScaleUpStabilized",
            "recent recommendations were lower than current one, applying the lowest recent recommendation",
        )
    } else {
        (
            recommendation,
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation",
        )
    }
}

/// `getReplicasChangePerPeriod`: the sum of changes newer than `period_seconds`.
pub fn replicas_change_per_period(now_ms: i64, period_seconds: i32, events: &[ScaleEvent]) -> i32 {
    let cutoff = now_ms - period_seconds as i64 * 1000;
    events.iter().filter(|e| e.at_ms > cutoff).map(|e| e.change).sum()
}

/// `calculateScaleUpLimitWithScalingRules`.
pub fn scale_up_limit(now_ms: i64, current: i32, up: &[ScaleEvent], down: &[ScaleEvent], rules: &ScalingRules) -> i32 {
    let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select_policy {
        SelectPolicy::Disabled => return current,
        SelectPolicy::Min => (i32::MAX as i64, i64::min),
        SelectPolicy::Max => (i32::MIN as i64, i64::max),
    };
    for policy in &rules.policies {
        let added = replicas_change_per_period(now_ms, policy.period_seconds, up);
        let deleted = replicas_change_per_period(now_ms, policy.period_seconds, down);
        let period_start = (current - added + deleted) as i64;
        let proposed = match policy.kind {
            PolicyKind::Pods => period_start + policy.value as i64,
            // Rounded up: otherwise a small percentage of a small count never scales up.
            PolicyKind::Percent => (period_start as f64 * (1.0 + policy.value as f64 / 100.0)).ceil() as i64,
        };
        result = pick(result, proposed);
    }
    result.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// `calculateScaleDownLimitWithBehaviors`.
pub fn scale_down_limit(
    now_ms: i64,
    current: i32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &ScalingRules,
) -> i32 {
    let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select_policy {
        SelectPolicy::Disabled => return current,
        SelectPolicy::Min => (i32::MIN as i64, i64::max),
        SelectPolicy::Max => (i32::MAX as i64, i64::min),
    };
    for policy in &rules.policies {
        let added = replicas_change_per_period(now_ms, policy.period_seconds, up);
        let deleted = replicas_change_per_period(now_ms, policy.period_seconds, down);
        let period_start = (current - added + deleted) as i64;
        let proposed = match policy.kind {
            PolicyKind::Pods => period_start - policy.value as i64,
            // Go's int32(float64) truncates toward zero.
            PolicyKind::Percent => (period_start as f64 * (1.0 - policy.value as f64 / 100.0)) as i64,
        };
        result = pick(result, proposed);
    }
    result.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// `convertDesiredReplicasWithBehaviorRate`.
pub fn convert_with_behavior_rate(
    state: &HpaState,
    now_ms: i64,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    behavior: &Behavior,
) -> (i32, &'static str, &'static str) {
    if desired > current {
        let mut limit =
            scale_up_limit(now_ms, current, &state.scale_up_events, &state.scale_down_events, &behavior.scale_up);
        if limit < current {
            // No further scale-up until the events age out.
            limit = current;
        }
        let (maximum, cond, msg) = if max > limit {
            (limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
        } else {
            (max, "TooManyReplicas", "the desired replica count is more than the maximum replica count")
        };
        if desired > maximum {
            return (maximum, cond, msg);
        }
    } else if desired < current {
        let mut limit =
            scale_down_limit(now_ms, current, &state.scale_up_events, &state.scale_down_events, &behavior.scale_down);
        if limit > current {
            limit = current;
        }
        let (minimum, cond, msg) = if min < limit {
            (limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")
        } else {
            (min, "TooFewReplicas", "the desired replica count is less than the minimum replica count")
        };
        if desired < minimum {
            return (minimum, cond, msg);
        }
    }
    (desired, WITHIN_RANGE.0, WITHIN_RANGE.1)
}

/// `normalizeDesiredReplicasWithBehaviors`.
pub fn normalize_with_behaviors(
    state: &mut HpaState,
    now_ms: i64,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    behavior: &Behavior,
) -> Normalized {
    let (stabilized, s_reason, s_msg) = stabilize_with_behaviors(state, now_ms, current, desired, behavior);
    let (replicas, cond, msg) = convert_with_behavior_rate(state, now_ms, current, stabilized, min, max, behavior);
    Normalized {
        replicas,
        stabilized: (stabilized != desired).then_some((stabilized, s_reason, s_msg)),
        limit: (cond, msg),
    }
}

/// `storeScaleEvent`: remembers a change for the rate policies (nothing without `behavior`).
pub fn store_scale_event(state: &mut HpaState, now_ms: i64, behavior: Option<&Behavior>, prev: i32, new: i32) {
    let Some(behavior) = behavior else { return };
    let (events, longest, change) = if new > prev {
        (&mut state.scale_up_events, behavior.scale_up.longest_period(), new - prev)
    } else {
        (&mut state.scale_down_events, behavior.scale_down.longest_period(), prev - new)
    };
    // markScaleEventsOutdated, then overwrite the last outdated slot (bounded memory).
    let cutoff = now_ms - longest as i64 * 1000;
    for e in events.iter_mut() {
        if e.at_ms < cutoff {
            e.outdated = true;
        }
    }
    let event = ScaleEvent { change, at_ms: now_ms, outdated: false };
    match events.iter().rposition(|e| e.outdated) {
        Some(i) => events[i] = event,
        None => events.push(event),
    }
}

#[cfg(test)]
#[path = "hpa_tests.rs"]
mod tests;
