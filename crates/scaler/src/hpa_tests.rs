//! Table tests ported from kubernetes pkg/controller/podautoscaler (horizontal_test.go,
//! replica_calculator_test.go). Case names are the upstream ones so a failure can be compared
//! with the Go table; `time.Now()` becomes a fixed `NOW`.

use super::*;

const NOW: i64 = 1_000_000_000;

fn ago(seconds: f64) -> i64 {
    NOW - (seconds * 1000.0) as i64
}

/// `generateScalingRules`.
fn rules(pods: i32, pods_period: i32, percent: i32, percent_period: i32, window: i32) -> ScalingRules {
    let mut policies = Vec::new();
    if pods != 0 {
        policies.push(ScalingPolicy { kind: PolicyKind::Pods, value: pods, period_seconds: pods_period });
    }
    if percent != 0 {
        policies.push(ScalingPolicy { kind: PolicyKind::Percent, value: percent, period_seconds: percent_period });
    }
    ScalingRules {
        stabilization_window_seconds: window,
        select_policy: SelectPolicy::Max,
        policies,
        tolerance: DEFAULT_TOLERANCE,
    }
}

/// `generateEventsUniformDistribution`.
fn uniform(raw: &[i32], period: i32) -> Vec<ScaleEvent> {
    let seg = period as f64 / raw.len() as f64;
    raw.iter()
        .enumerate()
        .map(|(i, &change)| {
            // Go truncates the float to a time.Duration (integer) before multiplying by a second.
            let boundary = (period as f64 - seg * (i + 1) as f64 + seg / 2.0).trunc();
            ScaleEvent { change, at_ms: ago(boundary), outdated: false }
        })
        .collect()
}

fn ext(v: i64) -> Quantity {
    Quantity(v)
}

#[test]
fn replica_calc_external_and_utilization() {
    let tol = Tolerances::default();
    // (name, current, target, value, expected)
    let cases: Vec<(&str, i32, Target, f64, i32)> = vec![
        ("TestReplicaCalcScaleUpCMExternal", 1, Target::Value { value: ext(4400) }, 8.6, 2),
        ("TestReplicaCalcScaleDownCMExternal", 5, Target::Value { value: ext(14334) }, 8.6, 3),
        ("TestReplicaCalcToleranceCMExternal", 3, Target::Value { value: ext(8888) }, 8.9, 3),
        ("TestReplicaCalcScaleUpPerPodCMExternal", 3, Target::AverageValue { average_value: ext(2150) }, 8.6, 4),
        ("TestReplicaCalcScaleDownPerPodCMExternal", 5, Target::AverageValue { average_value: ext(2867) }, 8.6, 3),
        ("TestReplicaCalcTolerancePerPodCMExternal", 3, Target::AverageValue { average_value: ext(2900) }, 8.6, 3),
        // Resource: 300m+500m+700m of 3 × 1 CPU requested = 50 %, target 30 %.
        ("TestReplicaCalcScaleUp", 3, Target::Utilization { average_utilization: 30 }, 50.0, 5),
        // 1400m of 5 CPU = 28 %, target 50 %.
        ("TestReplicaCalcScaleDown", 5, Target::Utilization { average_utilization: 50 }, 28.0, 3),
        // 3060m of 3 CPU = 102 %, target 100 %.
        ("TestReplicaCalcTolerance", 3, Target::Utilization { average_utilization: 100 }, 102.0, 3),
        // Utilization is an integer percent: 33.9 % is 33 %, ratio 0.66 → ceil(1.98) = 2.
        ("integer utilization", 3, Target::Utilization { average_utilization: 50 }, 33.9, 2),
        // Scale from zero on a Value target ignores the tolerance.
        ("TestReplicaCalcScaleFromZeroExternal", 0, Target::Value { value: ext(1000) }, 1.05, 2),
    ];
    for (name, current, target, value, expected) in cases {
        let got = metric_replicas(current, &target, Some(value), &tol).unwrap();
        assert_eq!(got.replicas, expected, "{name}");
    }
    assert!(metric_replicas(3, &Target::Value { value: ext(1) }, None, &tol).is_err());
    assert!(metric_replicas(3, &Target::Value { value: ext(1) }, Some(f64::NAN), &tol).is_err());
}

#[test]
fn tolerance_boundaries_follow_is_within() {
    // 1.1 exactly is within [0.9, 1.1]: no change (isWithin, not |1 - r| <= t).
    let tol = Tolerances::default();
    let t = Target::AverageValue { average_value: ext(1000) };
    assert_eq!(metric_replicas(10, &t, Some(11.0), &tol).unwrap().replicas, 10);
    assert_eq!(metric_replicas(10, &t, Some(11.001), &tol).unwrap().replicas, 12);
    assert_eq!(metric_replicas(10, &t, Some(9.0), &tol).unwrap().replicas, 10);
    assert_eq!(metric_replicas(10, &t, Some(8.999), &tol).unwrap().replicas, 9);
    // Per-direction tolerances (HPAScalingRules.tolerance).
    let tight_up = Tolerances { scale_down: 0.2, scale_up: 0.01 };
    assert_eq!(metric_replicas(10, &t, Some(10.5), &tight_up).unwrap().replicas, 11);
    assert_eq!(metric_replicas(10, &t, Some(8.5), &tight_up).unwrap().replicas, 10);
}

#[test]
fn missing_metrics_block_scale_down_only() {
    // TestScaleUpOneMetricEmpty: CPU 40 % of target 30 on 3 pods → 4; the external metric errors.
    let tol = Tolerances::default();
    let cpu = metric_replicas(3, &Target::Utilization { average_utilization: 30 }, Some(40.0), &tol);
    let broken = metric_replicas(3, &Target::Value { value: ext(100) }, None, &tol);
    assert_eq!(
        combine_metrics(3, &[cpu.clone(), broken.clone()]),
        MetricsOutcome::Proposal { replicas: 4, winner: 0, invalid: 1 }
    );
    // TestNoScaleDownOneMetricEmpty: CPU 28 % of 50 on 5 → 3, external errors → no scaling.
    let cpu = metric_replicas(5, &Target::Utilization { average_utilization: 50 }, Some(28.0), &tol);
    let broken = metric_replicas(5, &Target::Value { value: ext(1000) }, None, &tol);
    match combine_metrics(5, &[cpu, broken.clone()]) {
        MetricsOutcome::Blocked { message } => {
            assert!(message.starts_with("invalid metrics (1 invalid out of 2), first error is:"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // All invalid: blocked.
    assert!(matches!(combine_metrics(5, &[broken]), MetricsOutcome::Blocked { .. }));
    // The max over metrics wins; ties keep the first.
    let a = Ok(MetricProposal { replicas: 4, usage_ratio: 1.0 });
    let b = Ok(MetricProposal { replicas: 7, usage_ratio: 1.0 });
    let c = Ok(MetricProposal { replicas: 7, usage_ratio: 1.0 });
    assert_eq!(combine_metrics(5, &[a, b, c]), MetricsOutcome::Proposal { replicas: 7, winner: 1, invalid: 0 });
}

#[test]
fn convert_desired_replicas_with_rules() {
    // TestConvertDesiredReplicasWithRules
    let cases = [
        (5, 7, 3, 8, 7, "DesiredWithinRange"),
        (3, 1, 2, 8, 2, "TooFewReplicas"),
        (1, 0, 0, 10, 0, "DesiredWithinRange"),
        (20, 1000, 1, 10, 10, "TooManyReplicas"),
        (3, 1000, 1, 2000, legacy_scale_up_limit(3), "ScaleUpLimit"),
    ];
    for (current, desired, min, max, expected, cond) in cases {
        let (got, c, _) = convert_with_rules(current, desired, min, max);
        assert_eq!((got, c), (expected, cond), "{current} {desired} {min} {max}");
    }
    assert_eq!(legacy_scale_up_limit(3), 6);
    assert_eq!(legacy_scale_up_limit(1), 4);
}

#[test]
fn normalize_desired_replicas_legacy() {
    // TestNormalizeDesiredReplicas: (recommendations, desired, expected, log length)
    let rec = |r: i32, s: f64| Recommendation { replicas: r, at_ms: ago(s) };
    let cases = vec![
        ("empty log", vec![], 5, 5, 1),
        ("stabilize", vec![rec(4, 120.0), rec(5, 60.0)], 3, 5, 3),
        ("no stabilize", vec![rec(1, 120.0), rec(2, 60.0)], 3, 3, 3),
        ("no stabilize - old recommendations", vec![rec(10, 600.0), rec(9, 540.0)], 3, 3, 2),
        ("stabilize - old recommendations", vec![rec(10, 600.0), rec(4, 60.0), rec(5, 120.0), rec(9, 540.0)], 3, 5, 4),
    ];
    for (name, recs, desired, expected, len) in cases {
        let mut st = HpaState { recommendations: recs, ..Default::default() };
        assert_eq!(stabilize_legacy(&mut st, NOW, 300, desired), expected, "{name}");
        assert_eq!(st.recommendations.len(), len, "{name}");
    }
}

#[test]
fn stabilize_recommendation_with_behaviors() {
    // TestNormalizeDesiredReplicasWithBehavior: (name, recs, current, desired, expected, stored, up, down)
    let rec = |r: i32, s: f64| Recommendation { replicas: r, at_ms: ago(s) };
    type Case = (&'static str, Vec<Recommendation>, i32, i32, i32, Vec<i32>, i32, i32);
    let cases: Vec<Case> = vec![
        ("empty recommendations for scaling down", vec![], 100, 5, 5, vec![5], 0, 0),
        ("simple scale down stabilization", vec![rec(4, 120.0), rec(5, 60.0)], 100, 3, 5, vec![4, 5, 3], 0, 180),
        ("simple scale up stabilization", vec![rec(4, 120.0), rec(5, 60.0)], 1, 7, 4, vec![4, 5, 7], 300, 0),
        ("no scale down stabilization", vec![rec(1, 120.0), rec(2, 60.0)], 100, 3, 3, vec![1, 2, 3], 300, 0),
        ("no scale up stabilization", vec![rec(4, 120.0), rec(5, 60.0)], 1, 3, 3, vec![4, 5, 3], 0, 300),
        (
            "no scale down stabilization, reuse recommendation element",
            vec![rec(10, 600.0), rec(9, 540.0)],
            100,
            3,
            3,
            vec![10, 3],
            0,
            0,
        ),
        (
            "no scale up stabilization, reuse recommendation element",
            vec![rec(10, 600.0), rec(9, 540.0)],
            1,
            100,
            100,
            vec![10, 100],
            0,
            0,
        ),
        (
            "scale down stabilization, reuse one of obsolete recommendation element",
            vec![rec(10, 600.0), rec(4, 60.0), rec(5, 120.0), rec(9, 540.0)],
            100,
            3,
            5,
            vec![10, 4, 5, 3],
            0,
            180,
        ),
        (
            "scale up stabilization, reuse one of obsolete recommendation element",
            vec![rec(10, 6000.0), rec(6, 60.0), rec(5, 120.0), rec(9, 180.0)],
            1,
            100,
            5,
            vec![100, 6, 5, 9],
            300,
            0,
        ),
    ];
    for (name, recs, current, desired, expected, stored, up, down) in cases {
        let mut st = HpaState { recommendations: recs, ..Default::default() };
        let behavior = Behavior { scale_up: rules(0, 0, 0, 0, up), scale_down: rules(0, 0, 0, 0, down) };
        let (got, _, _) = stabilize_with_behaviors(&mut st, NOW, current, desired, &behavior);
        assert_eq!(got, expected, "{name}");
        let got_stored: Vec<i32> = st.recommendations.iter().map(|r| r.replicas).collect();
        assert_eq!(got_stored, stored, "{name}");
    }
}

#[test]
fn scaling_with_rules() {
    // TestScalingWithRules: (name, up events, down events, min, max, up rules, down rules,
    // current, prenormalized, expected, condition)
    type Case = (
        &'static str,
        Vec<ScaleEvent>,
        Vec<ScaleEvent>,
        i32,
        i32,
        Option<ScalingRules>,
        Option<ScalingRules>,
        i32,
        i32,
        i32,
        &'static str,
    );
    let none = Vec::new;
    let e159 = || uniform(&[1, 5, 9], 120);
    let cases: Vec<Case> = vec![
        ("within range", none(), none(), 3, 8, None, None, 5, 7, 7, "DesiredWithinRange"),
        ("< minReplicas", none(), none(), 2, 8, None, None, 3, 1, 2, "TooFewReplicas"),
        ("minReplicas is 0", none(), none(), 0, 10, None, None, 1, 0, 0, "DesiredWithinRange"),
        ("maxReplicas < scaleUpLimit", none(), none(), 1, 10, None, None, 20, 1000, 10, "TooManyReplicas"),
        ("more than the maximum", none(), none(), 100, 150, None, None, 100, 1000, 150, "TooManyReplicas"),
        (
            "scaleUpLimit < maxReplicas with user policies",
            none(),
            none(),
            1,
            2000,
            Some(rules(0, 0, 1, 60, 0)),
            None,
            3,
            1000,
            4,
            "ScaleUpLimit",
        ),
        ("scaleUp with default behavior", none(), none(), 1, 1000, None, None, 10, 50, 20, "ScaleUpLimit"),
        (
            "scaleUp with pods policy larger than percent policy",
            none(),
            none(),
            1,
            1000,
            Some(rules(100, 60, 100, 60, 0)),
            None,
            10,
            500,
            110,
            "ScaleUpLimit",
        ),
        (
            "scaleUp with percent policy larger than pods policy",
            none(),
            none(),
            1,
            1000,
            Some(rules(2, 60, 100, 60, 0)),
            None,
            10,
            500,
            20,
            "ScaleUpLimit",
        ),
        (
            "scaleUp with spec MaxReplicas limitation with large pod policy",
            none(),
            none(),
            1,
            1000,
            Some(rules(100, 60, 0, 0, 0)),
            None,
            10,
            50,
            50,
            "DesiredWithinRange",
        ),
        (
            "scaleUp with spec MaxReplicas limitation with large percent policy",
            none(),
            none(),
            1,
            1000,
            Some(rules(10000, 60, 0, 0, 0)),
            None,
            10,
            50,
            50,
            "DesiredWithinRange",
        ),
        (
            "scaleUp with pod policy limitation",
            none(),
            none(),
            1,
            1000,
            Some(rules(30, 60, 0, 0, 0)),
            None,
            10,
            50,
            40,
            "ScaleUpLimit",
        ),
        (
            "scaleUp with percent policy limitation",
            none(),
            none(),
            1,
            1000,
            Some(rules(0, 0, 200, 60, 0)),
            None,
            10,
            50,
            30,
            "ScaleUpLimit",
        ),
        (
            "scaleDown with percent policy larger than pod policy",
            none(),
            none(),
            1,
            1000,
            None,
            Some(rules(20, 60, 1, 60, 300)),
            100,
            2,
            80,
            "ScaleDownLimit",
        ),
        (
            "scaleDown with pod policy larger than percent policy",
            none(),
            none(),
            1,
            1000,
            None,
            Some(rules(2, 60, 1, 60, 300)),
            100,
            2,
            98,
            "ScaleDownLimit",
        ),
        (
            "scaleDown with spec MinReplicas=nil limitation with large pod policy",
            none(),
            none(),
            1,
            1000,
            None,
            Some(rules(100, 60, 0, 0, 300)),
            10,
            0,
            1,
            "TooFewReplicas",
        ),
        (
            "scaleDown with spec MinReplicas limitation with large percent policy",
            none(),
            none(),
            5,
            1000,
            None,
            Some(rules(0, 0, 100, 60, 300)),
            10,
            2,
            5,
            "TooFewReplicas",
        ),
        (
            "scaleDown with pod policy limitation",
            none(),
            none(),
            1,
            1000,
            None,
            Some(rules(5, 60, 0, 0, 300)),
            10,
            2,
            5,
            "ScaleDownLimit",
        ),
        (
            "scaleDown with percent policy limitation",
            none(),
            none(),
            1,
            1000,
            None,
            Some(rules(0, 0, 50, 60, 300)),
            10,
            5,
            5,
            "DesiredWithinRange",
        ),
        (
            "scaleUp with spec MaxReplicas limitation with large pod policy and events",
            e159(),
            none(),
            1,
            200,
            Some(rules(300, 60, 0, 0, 0)),
            None,
            100,
            500,
            200,
            "TooManyReplicas",
        ),
        (
            "scaleUp with spec MaxReplicas limitation with large percent policy and events",
            e159(),
            none(),
            1,
            200,
            Some(rules(0, 0, 10000, 60, 0)),
            None,
            100,
            500,
            200,
            "TooManyReplicas",
        ),
        (
            "scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events",
            e159(),
            none(),
            1,
            1000,
            Some(rules(5, 120, 0, 0, 0)),
            None,
            100,
            500,
            100,
            "ScaleUpLimit",
        ),
        (
            "scaleUp with pod policy and previous scale up events",
            e159(),
            none(),
            1,
            1000,
            Some(rules(150, 120, 0, 0, 0)),
            None,
            100,
            500,
            235,
            "ScaleUpLimit",
        ),
        (
            "scaleUp with percent policy and previous scale up events",
            e159(),
            none(),
            1,
            1000,
            Some(rules(0, 0, 200, 120, 0)),
            None,
            100,
            500,
            255,
            "ScaleUpLimit",
        ),
        (
            "scaleDown with default policy and previous events",
            none(),
            e159(),
            1,
            1000,
            None,
            None,
            10,
            5,
            5,
            "DesiredWithinRange",
        ),
        (
            "scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events",
            none(),
            e159(),
            1,
            1000,
            None,
            Some(rules(115, 120, 0, 0, 300)),
            100,
            0,
            1,
            "TooFewReplicas",
        ),
        (
            "scaleDown with spec MinReplicas limitation with large pod policy and previous events",
            none(),
            e159(),
            5,
            1000,
            None,
            Some(rules(130, 120, 0, 0, 300)),
            100,
            0,
            5,
            "TooFewReplicas",
        ),
        (
            "scaleDown with spec MinReplicas limitation with large percent policy and previous events",
            none(),
            e159(),
            5,
            1000,
            None,
            Some(rules(0, 0, 100, 120, 300)),
            100,
            2,
            5,
            "TooFewReplicas",
        ),
        (
            "scaleDown with pod policy limitation and previous events",
            none(),
            e159(),
            1,
            1000,
            None,
            Some(rules(5, 120, 0, 0, 300)),
            100,
            2,
            100,
            "ScaleDownLimit",
        ),
        (
            "scaleDown with percent policy limitation and previous events",
            none(),
            uniform(&[2, 4, 6], 120),
            1,
            1000,
            None,
            Some(rules(0, 0, 50, 120, 300)),
            100,
            0,
            56,
            "ScaleDownLimit",
        ),
        (
            "scaleDown with previous events preventing further scale down",
            none(),
            uniform(&[10, 10, 10], 120),
            1,
            1000,
            None,
            Some(rules(0, 0, 10, 120, 300)),
            100,
            0,
            100,
            "ScaleDownLimit",
        ),
        (
            "scaleDown with with previous events still allowing more scale down",
            none(),
            uniform(&[10, 10, 10], 120),
            1,
            1000,
            None,
            Some(rules(0, 0, 1000, 120, 300)),
            10,
            5,
            5,
            "DesiredWithinRange",
        ),
        (
            "check 'outdated' flag for events for one behavior for up",
            uniform(&[8, 12, 9, 11], 120),
            none(),
            1,
            1000,
            Some(rules(1000, 60, 0, 0, 0)),
            None,
            100,
            200,
            200,
            "DesiredWithinRange",
        ),
        (
            "check that events were marked 'outdated' for two different policies in the behavior for down",
            none(),
            uniform(&[8, 12, 9, 11], 120),
            1,
            1000,
            None,
            Some(rules(1000, 30, 100, 60, 300)),
            100,
            5,
            5,
            "DesiredWithinRange",
        ),
    ];
    for (name, up_events, down_events, min, max, up, down, current, desired, expected, cond) in cases {
        let st = HpaState { recommendations: vec![], scale_up_events: up_events, scale_down_events: down_events };
        let behavior = Behavior {
            scale_up: up.unwrap_or_else(ScalingRules::default_scale_up),
            scale_down: down.unwrap_or_else(ScalingRules::default_scale_down),
        };
        let (got, c, _) = convert_with_behavior_rate(&st, NOW, current, desired, min, max, &behavior);
        assert_eq!((got, c), (expected, cond), "{name}");
    }
}

#[test]
fn select_policy_min_and_disabled() {
    // TestCalculateScaleUpLimitWithScalingRules / TestCalculateScaleDownLimitWithBehaviors
    let mut r = rules(2, 60, 50, 60, 300);
    r.select_policy = SelectPolicy::Min;
    assert_eq!(scale_up_limit(NOW, 1, &[], &[], &r), 2);
    assert_eq!(scale_down_limit(NOW, 5, &[], &[], &r), 3);
    r.select_policy = SelectPolicy::Disabled;
    assert_eq!(scale_up_limit(NOW, 7, &[], &[], &r), 7);
    assert_eq!(scale_down_limit(NOW, 7, &[], &[], &r), 7);
    // Disabled scale-down through the full conversion keeps the count.
    let behavior = Behavior { scale_up: ScalingRules::default_scale_up(), scale_down: r };
    let (got, cond, _) = convert_with_behavior_rate(&HpaState::default(), NOW, 7, 2, 1, 10, &behavior);
    assert_eq!((got, cond), (7, "ScaleDownLimit"));
}

#[test]
fn store_scale_events() {
    // TestStoreScaleEvents: (name, prev, expected stored (change, outdated), rules, change in last 60 s)
    let ev = |c: i32, s: f64| ScaleEvent { change: c, at_ms: ago(s), outdated: false };
    type Case = (&'static str, Vec<ScaleEvent>, Vec<(i32, bool)>, Option<ScalingRules>, i32);
    let cases: Vec<Case> = vec![
        ("empty entries with default behavior", vec![], vec![], None, 0),
        ("empty entries with two-policy-behavior", vec![], vec![(5, false)], Some(rules(10, 60, 100, 60, 0)), 0),
        ("one outdated entry to be kept untouched without behavior", vec![ev(7, 61.0)], vec![(7, false)], None, 0),
        (
            "one outdated entry to be replaced with behavior",
            vec![ev(7, 61.0)],
            vec![(5, false)],
            Some(rules(10, 60, 100, 60, 0)),
            0,
        ),
        (
            "one actual entry to be not touched with behavior",
            vec![ev(7, 58.0)],
            vec![(7, false), (5, false)],
            Some(rules(10, 60, 100, 60, 0)),
            7,
        ),
        (
            "two entries, one of them to be replaced",
            vec![ev(7, 61.0), ev(6, 59.0)],
            vec![(5, false), (6, false)],
            Some(rules(10, 60, 0, 0, 0)),
            6,
        ),
        (
            "replace one entry, use policies with different periods",
            vec![ev(8, 29.0), ev(6, 59.0), ev(7, 61.0), ev(9, 61.0)],
            vec![(8, false), (6, false), (7, true), (5, false)],
            Some(rules(10, 60, 100, 30, 0)),
            14,
        ),
        (
            "two entries, both actual",
            vec![ev(7, 58.0), ev(6, 59.0)],
            vec![(7, false), (6, false), (5, false)],
            Some(rules(10, 120, 100, 30, 0)),
            13,
        ),
    ];
    for (name, prev, expected, r, change) in cases {
        for up in [true, false] {
            let mut st = HpaState::default();
            let behavior = r.clone().map(|r| {
                if up {
                    Behavior { scale_up: r, scale_down: ScalingRules::default_scale_down() }
                } else {
                    Behavior { scale_up: ScalingRules::default_scale_up(), scale_down: r }
                }
            });
            if up {
                st.scale_up_events = prev.clone();
            } else {
                st.scale_down_events = prev.clone();
            }
            let events = if up { &st.scale_up_events } else { &st.scale_down_events };
            assert_eq!(replicas_change_per_period(NOW, 60, events), change, "{name}");
            let new = if up { 15 } else { 5 };
            if behavior.is_none() {
                // No behavior: nothing stored, the list is left as it was.
                store_scale_event(&mut st, NOW, None, 10, new);
                let events = if up { &st.scale_up_events } else { &st.scale_down_events };
                let got: Vec<(i32, bool)> = events.iter().map(|e| (e.change, e.outdated)).collect();
                let want: Vec<(i32, bool)> = prev.iter().map(|e| (e.change, e.outdated)).collect();
                assert_eq!(got, want, "{name}");
                continue;
            }
            store_scale_event(&mut st, NOW, behavior.as_ref(), 10, new);
            let events = if up { &st.scale_up_events } else { &st.scale_down_events };
            let got: Vec<(i32, bool)> = events.iter().map(|e| (e.change, e.outdated)).collect();
            assert_eq!(got, expected, "{name} (up: {up})");
        }
    }
}

#[test]
fn legacy_normalization_reasons() {
    let mut st = HpaState::default();
    let n = normalize_legacy(&mut st, NOW, 3, 1000, 1, 100);
    assert_eq!((n.replicas, n.limit.0), (6, "ScaleUpLimit"), "max(2 x current, 4)");
    let n = normalize_legacy(&mut st, NOW + 30_000, 6, 8, 1, 100);
    // The window still holds the 1000 recommendation: 12 = 2 x 6.
    assert_eq!((n.replicas, n.limit.0), (12, "ScaleUpLimit"));
    // A lower recommendation within 5 minutes is held at the highest recent one.
    let mut st = HpaState::default();
    normalize_legacy(&mut st, NOW, 5, 5, 1, 100);
    let n = normalize_legacy(&mut st, NOW + 60_000, 5, 2, 1, 100);
    assert_eq!(n.replicas, 5);
    assert_eq!(n.stabilized.map(|s| s.1), Some("ScaleDownStabilized"));
    // Once both are older than 5 minutes the low recommendation goes through.
    let n = normalize_legacy(&mut st, NOW + 400_000, 5, 2, 1, 100);
    assert_eq!(n.replicas, 2);
}
