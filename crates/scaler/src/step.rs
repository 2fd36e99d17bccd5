//! Step and simple scaling with Amazon EC2 Auto Scaling semantics.
//!
//! A policy watches one value (a metric of the scaler or its own query) against a threshold,
//! like the CloudWatch alarm behind an AWS policy. When breached:
//!
//! - **SimpleScaling** (`scalingAdjustment` + `cooldown`): one adjustment, then every simple
//!   policy of the scaler ignores alarms until the cooldown (default 300 s, the group's
//!   default cooldown) has passed.
//! - **StepScaling** (`stepAdjustments` + `estimatedInstanceWarmup`): the step whose interval
//!   contains `value - threshold` applies. Bounds are relative to the threshold; above the
//!   threshold the lower bound is inclusive and the upper exclusive, below it the other way
//!   round; a missing bound is infinite. Replicas added by a step policy warm up for
//!   `estimatedInstanceWarmup` seconds: they do not count as current capacity when the next
//!   scale-out is computed (so breaches within the same step add nothing more, a bigger step
//!   adds only the difference), and scale-in waits until they are warm.
//!
//! Adjustments: `ChangeInCapacity` (±n), `ExactCapacity` (= n) and `PercentChangeInCapacity`,
//! rounded as AWS documents (above 1 down, between 0 and 1 to 1, between -1 and 0 to -1, below
//! -1 up) and raised to `minAdjustmentMagnitude` when smaller. The result is then held within the
//! scaler's min/max by the engine.

use serde::{Deserialize, Serialize};

/// How an adjustment changes capacity (AdjustmentType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdjustmentType {
    /// Add (or remove) this many replicas.
    ChangeInCapacity,
    /// Set the replica count.
    ExactCapacity,
    /// Add (or remove) this percentage of the current replicas.
    PercentChangeInCapacity,
}

/// The alarm's ComparisonOperator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// `value >= threshold`.
    GreaterThanOrEqualToThreshold,
    /// `value > threshold`.
    GreaterThanThreshold,
    /// `value < threshold`.
    LessThanThreshold,
    /// `value <= threshold`.
    LessThanOrEqualToThreshold,
}

impl Comparison {
    fn breached(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::GreaterThanThreshold => value > threshold,
            Comparison::LessThanThreshold => value < threshold,
            Comparison::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    fn upper(self) -> bool {
        matches!(self, Comparison::GreaterThanOrEqualToThreshold | Comparison::GreaterThanThreshold)
    }
}

/// One StepAdjustment: bounds relative to the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepAdjustment {
    /// `metricIntervalLowerBound` (none: minus infinity).
    pub lower: Option<f64>,
    /// `metricIntervalUpperBound` (none: infinity).
    pub upper: Option<f64>,
    /// `scalingAdjustment`.
    pub adjustment: i32,
}

/// Simple or step policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StepKind {
    /// SimpleScaling.
    Simple {
        /// The adjustment.
        adjustment: i32,
        /// Seconds during which simple policies ignore alarms after this one scaled.
        cooldown_seconds: i64,
    },
    /// StepScaling.
    Step {
        /// Contiguous, non-overlapping steps.
        adjustments: Vec<StepAdjustment>,
        /// Seconds a replica added by this policy is warming up.
        warmup_seconds: i64,
    },
}

/// A validated step or simple scaling policy.
#[derive(Debug, Clone, PartialEq)]
pub struct StepPolicy {
    /// Its name (for reasons).
    pub name: String,
    /// The query whose value the alarm watches.
    pub query: String,
    /// The scaler metric it reads, if it names one (its query result is reused).
    pub metric: Option<String>,
    /// Alarm comparison.
    pub comparison: Comparison,
    /// Alarm threshold.
    pub threshold: f64,
    /// How the adjustment applies.
    pub adjustment_type: AdjustmentType,
    /// Simple or step.
    pub kind: StepKind,
    /// Smallest change for `PercentChangeInCapacity`.
    pub min_adjustment_magnitude: Option<i32>,
}

/// A batch of replicas still warming up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warming {
    /// How many.
    pub count: i32,
    /// Warm from this time (unix ms).
    pub until_ms: i64,
}

/// Per-scaler memory of step scaling: the simple-scaling cooldown and warming replicas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    /// Simple policies ignore alarms before this time (unix ms).
    pub cooldown_until_ms: i64,
    /// Replicas added by step policies that are still warming up.
    pub warming: Vec<Warming>,
}

impl StepState {
    /// Replicas still warming at `now_ms`.
    pub fn warming_at(&self, now_ms: i64) -> i32 {
        self.warming.iter().filter(|w| w.until_ms > now_ms).map(|w| w.count).sum()
    }

    /// Records the side effect of `policy` having changed `from` → `to` at `now_ms`.
    pub fn record(&mut self, policy: &StepPolicy, now_ms: i64, from: i32, to: i32) {
        self.warming.retain(|w| w.until_ms > now_ms);
        match &policy.kind {
            StepKind::Simple { cooldown_seconds, .. } => {
                self.cooldown_until_ms = now_ms + cooldown_seconds * 1000;
            }
            StepKind::Step { warmup_seconds, .. } => {
                if to > from && *warmup_seconds > 0 {
                    self.warming.push(Warming { count: to - from, until_ms: now_ms + warmup_seconds * 1000 });
                }
            }
        }
    }
}

/// What a policy says at one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// The alarm has no data (INSUFFICIENT_DATA): no action.
    NoData,
    /// The alarm is OK.
    NotBreached,
    /// Breached, but the cooldown or warm-up holds it back.
    Held {
        /// `Cooldown` or `WarmUp`.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// Breached: the replica count it asks for (before min/max).
    Propose {
        /// Replicas.
        replicas: i32,
        /// How it was computed.
        message: String,
    },
}

/// AWS rounding of a PercentChangeInCapacity result.
pub fn aws_round_percent(v: f64) -> i32 {
    let r = if v > 1.0 {
        v.floor()
    } else if v > 0.0 && v < 1.0 {
        1.0
    } else if v < 0.0 && v > -1.0 {
        -1.0
    } else if v < -1.0 {
        v.ceil()
    } else {
        v
    };
    r.clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

impl StepPolicy {
    /// Evaluates the policy for an alarm `value` with `current` replicas.
    pub fn evaluate(&self, value: Option<f64>, current: i32, state: &StepState, now_ms: i64) -> StepOutcome {
        let Some(value) = value.filter(|v| !v.is_nan()) else { return StepOutcome::NoData };
        if !self.comparison.breached(value, self.threshold) {
            return StepOutcome::NotBreached;
        }
        let (adjustment, base, what) = match &self.kind {
            StepKind::Simple { adjustment, .. } => {
                if now_ms < state.cooldown_until_ms {
                    return StepOutcome::Held {
                        code: "Cooldown",
                        message: format!(
                            "{}: {value} breaches {}, but simple scaling is cooling down for another {}s",
                            self.name,
                            self.threshold,
                            (state.cooldown_until_ms - now_ms + 999) / 1000
                        ),
                    };
                }
                (*adjustment, current, String::new())
            }
            StepKind::Step { adjustments, .. } => {
                let diff = value - self.threshold;
                let upper = self.comparison.upper();
                let step = adjustments.iter().find(|s| {
                    let lo = s.lower.unwrap_or(f64::NEG_INFINITY);
                    let hi = s.upper.unwrap_or(f64::INFINITY);
                    if upper { lo <= diff && diff < hi } else { lo < diff && diff <= hi }
                });
                let Some(step) = step else {
                    return StepOutcome::NotBreached;
                };
                let warming = state.warming_at(now_ms);
                (step.adjustment, current - warming, format!(" (step {}..{})", bound(step.lower), bound(step.upper)))
            }
        };
        let proposed = match self.adjustment_type {
            AdjustmentType::ExactCapacity => adjustment,
            AdjustmentType::ChangeInCapacity => base.saturating_add(adjustment),
            AdjustmentType::PercentChangeInCapacity => {
                let mut delta = aws_round_percent(base as f64 * adjustment as f64 / 100.0);
                if let Some(m) = self.min_adjustment_magnitude
                    && delta.abs() < m
                {
                    delta = if adjustment < 0 { -m } else { m };
                }
                base.saturating_add(delta)
            }
        };
        if let StepKind::Step { .. } = self.kind {
            let warming = state.warming_at(now_ms);
            if warming > 0 && proposed < current {
                return StepOutcome::Held {
                    code: "WarmUp",
                    message: format!("{}: scale-in waits for {warming} replicas still warming up", self.name),
                };
            }
            if warming > 0 && proposed <= current {
                return StepOutcome::Held {
                    code: "WarmUp",
                    message: format!(
                        "{}: the {warming} replicas warming up already cover this step ({proposed})",
                        self.name
                    ),
                };
            }
        }
        StepOutcome::Propose {
            replicas: proposed,
            message: format!(
                "{}: {value} breaches {} {}{what}: {:?} {adjustment} from {base} proposes {proposed}",
                self.name,
                comparison_symbol(self.comparison),
                self.threshold,
                self.adjustment_type,
            ),
        }
    }
}

fn bound(b: Option<f64>) -> String {
    b.map(|v| v.to_string()).unwrap_or_default()
}

fn comparison_symbol(c: Comparison) -> &'static str {
    match c {
        Comparison::GreaterThanOrEqualToThreshold => ">=",
        Comparison::GreaterThanThreshold => ">",
        Comparison::LessThanThreshold => "<",
        Comparison::LessThanOrEqualToThreshold => "<=",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step_policy(t: AdjustmentType, steps: Vec<StepAdjustment>, comparison: Comparison) -> StepPolicy {
        StepPolicy {
            name: "p".into(),
            query: "q".into(),
            metric: None,
            comparison,
            threshold: 50.0,
            adjustment_type: t,
            kind: StepKind::Step { adjustments: steps, warmup_seconds: 300 },
            min_adjustment_magnitude: None,
        }
    }

    fn proposed(o: StepOutcome) -> i32 {
        match o {
            StepOutcome::Propose { replicas, .. } => replicas,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn aws_percent_rounding() {
        // The examples of the EC2 Auto Scaling user guide.
        assert_eq!(aws_round_percent(12.7), 12);
        assert_eq!(aws_round_percent(0.67), 1);
        assert_eq!(aws_round_percent(-0.67), -1);
        assert_eq!(aws_round_percent(-6.67), -6);
        assert_eq!(aws_round_percent(1.0), 1);
        assert_eq!(aws_round_percent(0.0), 0);
    }

    /// The user guide's example: threshold 50, +10 % for [0, 10), +20 % for [10, 20),
    /// +30 % from 20, on 10 instances.
    #[test]
    fn step_bounds_relative_to_threshold() {
        let s = |lo: Option<f64>, hi: Option<f64>, a| StepAdjustment { lower: lo, upper: hi, adjustment: a };
        let p = step_policy(
            AdjustmentType::PercentChangeInCapacity,
            vec![s(Some(0.0), Some(10.0), 10), s(Some(10.0), Some(20.0), 20), s(Some(20.0), None, 30)],
            Comparison::GreaterThanOrEqualToThreshold,
        );
        let st = StepState::default();
        assert_eq!(p.evaluate(Some(49.0), 10, &st, 0), StepOutcome::NotBreached);
        assert_eq!(proposed(p.evaluate(Some(50.0), 10, &st, 0)), 11, "lower bound inclusive");
        assert_eq!(proposed(p.evaluate(Some(60.0), 10, &st, 0)), 12, "upper bound exclusive");
        assert_eq!(proposed(p.evaluate(Some(75.0), 10, &st, 0)), 13);
        assert_eq!(p.evaluate(None, 10, &st, 0), StepOutcome::NoData);
        // Below the threshold: lower exclusive, upper inclusive.
        let down = step_policy(
            AdjustmentType::ChangeInCapacity,
            vec![s(Some(-10.0), Some(0.0), -1), s(None, Some(-10.0), -2)],
            Comparison::LessThanOrEqualToThreshold,
        );
        assert_eq!(proposed(down.evaluate(Some(50.0), 10, &st, 0)), 9, "upper bound 0 inclusive");
        assert_eq!(proposed(down.evaluate(Some(40.0), 10, &st, 0)), 8, "-10 is in the lower step");
        assert_eq!(proposed(down.evaluate(Some(41.0), 10, &st, 0)), 9);
    }

    #[test]
    fn min_adjustment_magnitude_and_exact() {
        let s = StepAdjustment { lower: Some(0.0), upper: None, adjustment: 10 };
        let mut p = step_policy(AdjustmentType::PercentChangeInCapacity, vec![s], Comparison::GreaterThanThreshold);
        let st = StepState::default();
        assert_eq!(proposed(p.evaluate(Some(60.0), 3, &st, 0)), 4, "0.3 rounds to 1");
        p.min_adjustment_magnitude = Some(2);
        assert_eq!(proposed(p.evaluate(Some(60.0), 3, &st, 0)), 5);
        let e = StepAdjustment { lower: Some(0.0), upper: None, adjustment: 7 };
        let p = step_policy(AdjustmentType::ExactCapacity, vec![e], Comparison::GreaterThanThreshold);
        assert_eq!(proposed(p.evaluate(Some(60.0), 3, &st, 0)), 7);
    }

    #[test]
    fn warm_up_counts_and_blocks_scale_in() {
        let s = |lo: Option<f64>, hi: Option<f64>, a| StepAdjustment { lower: lo, upper: hi, adjustment: a };
        let p = step_policy(
            AdjustmentType::ChangeInCapacity,
            vec![s(Some(0.0), Some(25.0), 1), s(Some(25.0), None, 3)],
            Comparison::GreaterThanThreshold,
        );
        let mut st = StepState::default();
        assert_eq!(proposed(p.evaluate(Some(60.0), 10, &st, 0)), 11);
        st.record(&p, 0, 10, 11);
        // Same step again during warm-up: nothing more.
        assert!(matches!(p.evaluate(Some(60.0), 11, &st, 60_000), StepOutcome::Held { code: "WarmUp", .. }));
        // A bigger step during warm-up adds only the difference: 10 warm + 3 = 13.
        assert_eq!(proposed(p.evaluate(Some(80.0), 11, &st, 60_000)), 13);
        // After the warm-up the instance counts.
        assert_eq!(proposed(p.evaluate(Some(60.0), 11, &st, 300_000)), 12);
        // Scale-in waits for warm-up.
        let down =
            step_policy(AdjustmentType::ChangeInCapacity, vec![s(None, Some(0.0), -1)], Comparison::LessThanThreshold);
        assert!(matches!(down.evaluate(Some(10.0), 11, &st, 60_000), StepOutcome::Held { code: "WarmUp", .. }));
        assert_eq!(proposed(down.evaluate(Some(10.0), 11, &st, 300_000)), 10);
    }

    #[test]
    fn simple_scaling_cooldown() {
        let p = StepPolicy {
            name: "up".into(),
            query: "q".into(),
            metric: None,
            comparison: Comparison::GreaterThanThreshold,
            threshold: 70.0,
            adjustment_type: AdjustmentType::ChangeInCapacity,
            kind: StepKind::Simple { adjustment: 2, cooldown_seconds: 300 },
            min_adjustment_magnitude: None,
        };
        let mut st = StepState::default();
        assert_eq!(proposed(p.evaluate(Some(80.0), 2, &st, 0)), 4);
        st.record(&p, 0, 2, 4);
        assert!(matches!(p.evaluate(Some(80.0), 4, &st, 299_000), StepOutcome::Held { code: "Cooldown", .. }));
        assert_eq!(proposed(p.evaluate(Some(80.0), 4, &st, 300_000)), 6);
    }
}
