use super::*;
use crate::hpa::{PolicyKind, ScalingPolicy, ScalingRules, SelectPolicy};
use crate::quantity::Quantity;

const ISSUE_EXAMPLE: &str = r#"scalers:
  - name: api
    minReplicas: 2
    maxReplicas: 10
    replicas: { query: 'count(up{job="api"} == 1)' }   # or taken from the actuator
    metrics:
      - name: cpu
        query: 'avg(rate(process_cpu_seconds_total{job="api"}[1m])) * 100'
        target: { type: Utilization, averageUtilization: 70 }
      - name: rpm
        query: 'sum(rate(http_server_request_duration_seconds_count{job="api"}[1m])) * 60'
        target: { type: AverageValue, averageValue: 1000 }
    behavior:            # Kubernetes HPA v2 behavior schema, verbatim
      scaleUp:
        stabilizationWindowSeconds: 0
        policies: [{ type: Pods, value: 2, periodSeconds: 300 }]
      scaleDown:
        stabilizationWindowSeconds: 600
        policies: [{ type: Pods, value: 1, periodSeconds: 600 }]
"#;

fn errors(text: &str) -> String {
    parse_policy_file("s.yml", text).unwrap_err().to_string()
}

#[test]
fn the_issue_example_parses_as_written() {
    let f = parse_policy_file("s.yml", ISSUE_EXAMPLE).unwrap();
    let s = &f.scalers[0];
    assert_eq!((s.name.as_str(), s.min_replicas, s.max_replicas), ("api", 2, 10));
    assert_eq!(s.metrics[0].target, Target::Utilization { average_utilization: 70 });
    assert_eq!(s.metrics[1].target, Target::AverageValue { average_value: Quantity(1_000_000) });
    let b = s.behavior.as_ref().unwrap();
    assert_eq!(b.scale_up.policies, vec![ScalingPolicy { kind: PolicyKind::Pods, value: 2, period_seconds: 300 }]);
    assert_eq!(b.scale_up.select_policy, SelectPolicy::Max, "defaulted");
    assert_eq!(b.scale_down.stabilization_window_seconds, 600);
    assert_eq!(s.actuator, ActuatorConfig::DryRun);
    assert_eq!(s.interval_seconds, 15);
}

#[test]
fn partial_behavior_gets_kubernetes_defaults() {
    let f = parse_policy_file(
        "s.yml",
        "scalers:\n  - name: a\n    maxReplicas: 5\n    behavior:\n      scaleDown:\n        selectPolicy: Disabled\n        tolerance: 50m\n",
    )
    .unwrap();
    let b = f.scalers[0].behavior.as_ref().unwrap();
    assert_eq!(b.scale_up, ScalingRules::default_scale_up());
    assert_eq!(b.scale_down.select_policy, SelectPolicy::Disabled);
    assert_eq!(b.scale_down.stabilization_window_seconds, 300);
    assert_eq!(f.scalers[0].tolerances, Tolerances { scale_down: 0.05, scale_up: 0.1 });
    assert_eq!(f.scalers[0].min_replicas, 1, "Kubernetes' default minReplicas");
}

#[test]
fn errors_point_at_the_offending_line() {
    let e = errors("scalers:\n  - name: api\n    maxReplicas: 10\n    bogus: 1\n");
    assert!(e.starts_with("s.yml:4:5: unknown field `bogus`"), "{e}");
    let e = errors("scalers:\n  - name: api\n    minReplicas: 5\n    maxReplicas: 3\n");
    assert_eq!(e, "s.yml:3:18: minReplicas (5) must not exceed maxReplicas (3)");
    let e = errors(
        "scalers:\n  - name: api\n    maxReplicas: 3\n    metrics:\n      - name: cpu\n        query: 'rate(x[1m]'\n        target: { type: Utilisation, averageUtilization: 70 }\n",
    );
    let lines: Vec<&str> = e.lines().collect();
    assert!(lines[0].starts_with("s.yml:6:16: invalid PromQL query"), "{e}");
    assert_eq!(
        lines[1],
        "s.yml:7:25: unknown target type `Utilisation`, expected one of Utilization, AverageValue, Value"
    );
    let e = errors(
        "scalers:\n  - name: api\n    maxReplicas: 3\n    behavior:\n      scaleUp:\n        policies: [{ type: Pods, value: 2, periodSeconds: 3600 }]\n",
    );
    assert!(e.starts_with("s.yml:6:59: periodSeconds must be between 1 and 1800"), "{e}");
    let e = errors("scalers:\n  - name: api\n    maxReplicas: 3\n  - name: api\n    maxReplicas: 3\n");
    assert_eq!(e, "s.yml:4:11: scaler name `api` is already used at s.yml:2:11");
    let e = errors(
        "scalers:\n  - name: api\n    maxReplicas: 3\n    schedules:\n      - { name: s, start: '0 8 * * *', end: '0 99 * * *', timezone: Nowhere/City, minReplicas: 2 }\n",
    );
    assert!(e.contains("s.yml:5:45: invalid cron expression `0 99 * * *`"), "{e}");
    assert!(e.contains("unknown time zone `Nowhere/City`"), "{e}");
    let e = errors("scalers:\n  - name: api\n    maxReplicas: 3\n    actuator: { type: webhook }\n");
    assert_eq!(e, "s.yml:4:15: a webhook actuator needs `url`");
    assert!(errors("scalers: [").starts_with("s.yml:"));
    let e = errors(
        "scalers:\n  - name: api\n    minReplicas: 0\n    maxReplicas: 3\n    metrics:\n      - { name: cpu, query: x, target: { type: Utilization, averageUtilization: 50 } }\n",
    );
    assert!(e.contains("minReplicas 0 cannot be used with a Utilization target"), "{e}");
}

#[test]
fn step_policies_are_checked_like_aws() {
    let base = "scalers:\n  - name: api\n    maxReplicas: 10\n    metrics:\n      - { name: cpu, query: 'x', target: { type: Utilization, averageUtilization: 70 } }\n    steps:\n";
    let ok = format!(
        "{base}      - name: up\n        metric: cpu\n        comparison: GreaterThanThreshold\n        threshold: 70\n        adjustmentType: PercentChangeInCapacity\n        minAdjustmentMagnitude: 2\n        stepAdjustments:\n          - {{ metricIntervalLowerBound: 0, metricIntervalUpperBound: 10, scalingAdjustment: 10 }}\n          - {{ metricIntervalLowerBound: 10, scalingAdjustment: 30 }}\n"
    );
    let f = parse_policy_file("s.yml", &ok).unwrap();
    assert_eq!(f.scalers[0].steps[0].query, "x");
    let gap = ok.replace("metricIntervalLowerBound: 10,", "metricIntervalLowerBound: 15,");
    assert!(errors(&gap).contains("must not overlap or leave a gap"));
    let wrong = format!(
        "{base}      - {{ name: up, metric: mem, comparison: Above, threshold: 1, adjustmentType: ChangeInCapacity, scalingAdjustment: 1, minAdjustmentMagnitude: 1 }}\n"
    );
    let e = errors(&wrong);
    assert!(e.contains("reads metric `mem`, which this scaler does not define"), "{e}");
    assert!(e.contains("unknown comparison `Above`"), "{e}");
    assert!(e.contains("minAdjustmentMagnitude is valid only with adjustmentType PercentChangeInCapacity"), "{e}");
}

#[test]
fn a_lease_is_parsed_and_checked_at_its_position() {
    let scaler = "scalers:\n  - name: api\n    maxReplicas: 3\n";
    let ok = format!("{scaler}lease:\n  nats: {{ url: nats://127.0.0.1:4222, bucket: lookout-scaler }}\n  ttl: 3s\n");
    let lease = parse_policy_file("s.yml", &ok).unwrap().lease.expect("lease");
    assert_eq!(lease.ttl.0, std::time::Duration::from_secs(3));
    assert_eq!(lease.renew_interval(), std::time::Duration::from_secs(1));
    let bad_url = ok.replace("nats://", "http://");
    assert!(errors(&bad_url).starts_with("s.yml:5:3: lease.nats: `url`"), "{}", errors(&bad_url));
    let short = ok.replace("ttl: 3s", "ttl: 500ms");
    assert!(errors(&short).contains("`ttl` must be at least 1s"), "{}", errors(&short));
    let unknown = format!("{ok}  tll: 3s\n");
    assert!(errors(&unknown).contains("s.yml:7:3") && errors(&unknown).contains("tll"), "{}", errors(&unknown));
}
