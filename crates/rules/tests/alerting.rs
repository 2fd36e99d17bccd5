//! The alert state machine against Prometheus's `rules/alerting.go`, evaluation by
//! evaluation with explicit timestamps.

mod common;

use common::{Harness, MIN, pairs};
use lookout_rules::{AlertState, Health};

const DOWN: &str = r#"
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 2m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} is down ({{ $value }})"
"#;

fn down(h: &Harness, t: i64, v: f64) {
    h.set(&[("__name__", "up"), ("job", "a")], t, v);
}

#[test]
fn pending_then_firing_then_resolved_with_resends() {
    let mut h = Harness::new(DOWN);
    let alerts_a = r#"ALERTS{alertname="Down", alertstate="pending", job="a", severity="page"}"#;
    let firing_a = r#"ALERTS{alertname="Down", alertstate="firing", job="a", severity="page"}"#;
    let for_state = r#"ALERTS_FOR_STATE{alertname="Down", job="a", severity="page"}"#;

    // t=0: pending, nothing sent.
    down(&h, 0, 0.0);
    assert!(h.eval(0).is_empty());
    assert_eq!(h.alerts(), vec![(r#"{alertname="Down", job="a", severity="page"}"#.to_string(), "pending")]);
    assert_eq!(h.at("ALERTS", 0), vec![(alerts_a.to_string(), "1".to_string())]);
    assert_eq!(h.at("ALERTS_FOR_STATE", 0), vec![(for_state.to_string(), "0".to_string())]);
    assert_eq!(h.state.rule_health(0), Health::Ok);

    // t=1m: still pending (1m < for).
    down(&h, MIN, 0.0);
    assert!(h.eval(MIN).is_empty());
    assert_eq!(h.alerts()[0].1, "pending");

    // t=2m: fires and is sent; endsAt = t + 4 × max(resend delay, interval).
    down(&h, 2 * MIN, 0.0);
    let sent = h.eval(2 * MIN);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].labels.to_string(), r#"{alertname="Down", job="a", severity="page"}"#);
    assert_eq!(sent[0].annotations, pairs(&[("summary", "a is down (0)")]));
    assert_eq!((sent[0].starts_at_ms, sent[0].ends_at_ms), (2 * MIN, 6 * MIN));
    assert_eq!(sent[0].generator_url, "http://lookout:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1");
    // The pending series goes stale, the firing one appears; the for-state keeps active_at.
    assert_eq!(h.at("ALERTS", 2 * MIN), vec![(firing_a.into(), "1".into()), (alerts_a.into(), "stale".into())]);
    assert_eq!(h.at("ALERTS_FOR_STATE", 2 * MIN), vec![(for_state.to_string(), "0".to_string())]);
    let a = h.state.alerts().next().unwrap().1.clone();
    assert_eq!(
        (a.active_at_ms, a.fired_at_ms, a.last_sent_ms, a.valid_until_ms),
        (0, Some(2 * MIN), Some(2 * MIN), 6 * MIN)
    );

    // t=3m: sent at 2m, and 2m + 1m is not before 3m: not re-sent yet.
    down(&h, 3 * MIN, 0.0);
    assert!(h.eval(3 * MIN).is_empty());
    // t=4m: re-sent.
    down(&h, 4 * MIN, 0.0);
    assert_eq!(h.eval(4 * MIN).len(), 1);

    // t=5m: up again: resolved and sent at once with endsAt = resolved time.
    down(&h, 5 * MIN, 1.0);
    let sent = h.eval(5 * MIN);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].starts_at_ms, sent[0].ends_at_ms), (2 * MIN, 5 * MIN));
    assert_eq!(h.alerts()[0].1, "inactive");
    assert_eq!(h.at("ALERTS", 5 * MIN), vec![(firing_a.into(), "stale".into())]);
    assert_eq!(h.at("ALERTS_FOR_STATE", 5 * MIN), vec![(for_state.into(), "stale".into())]);

    // Resolved alerts are re-sent every resend delay while retained.
    down(&h, 6 * MIN, 1.0);
    assert!(h.eval(6 * MIN).is_empty());
    down(&h, 7 * MIN, 1.0);
    let sent = h.eval(7 * MIN);
    assert_eq!((sent.len(), sent[0].ends_at_ms), (1, 5 * MIN));
    assert!(h.at("ALERTS", 7 * MIN).is_empty());

    // Kept 15 minutes after resolving (20m: exactly 15m, kept), dropped after.
    down(&h, 20 * MIN, 1.0);
    h.eval(20 * MIN);
    assert_eq!(h.alerts().len(), 1);
    down(&h, 21 * MIN, 1.0);
    h.eval(21 * MIN);
    assert!(h.alerts().is_empty());
}

#[test]
fn pending_alert_that_goes_away_is_dropped_and_a_returning_resolved_one_starts_over() {
    let mut h = Harness::new(DOWN);
    down(&h, 0, 0.0);
    h.eval(0);
    down(&h, MIN, 1.0);
    assert!(h.eval(MIN).is_empty(), "a pending alert is never sent");
    assert!(h.alerts().is_empty());
    assert_eq!(
        h.at("ALERTS", MIN),
        vec![(r#"ALERTS{alertname="Down", alertstate="pending", job="a", severity="page"}"#.into(), "stale".into())]
    );

    // Fire, resolve, come back: a fresh pending alert with a new active_at.
    for t in [2, 3, 4] {
        down(&h, t * MIN, 0.0);
        h.eval(t * MIN);
    }
    assert_eq!(h.alerts()[0].1, "firing");
    down(&h, 5 * MIN, 1.0);
    h.eval(5 * MIN);
    assert_eq!(h.alerts()[0].1, "inactive");
    down(&h, 6 * MIN, 0.0);
    h.eval(6 * MIN);
    let a = h.state.alerts().next().unwrap().1;
    assert_eq!((a.state, a.active_at_ms, a.fired_at_ms, a.resolved_at_ms), (AlertState::Pending, 6 * MIN, None, None));
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let mut h = Harness::new(
        "groups:\n  - name: g\n    rules:\n      - alert: Flap\n        expr: up == 0\n        keep_firing_for: 2m\n",
    );
    // for: 0 fires in the first evaluation.
    down(&h, 0, 0.0);
    let sent = h.eval(0);
    assert_eq!((sent.len(), sent[0].starts_at_ms), (1, 0));
    // Condition gone at 1m: keeps firing since 1m, for less than 2m.
    for t in [1, 2] {
        down(&h, t * MIN, 1.0);
        h.eval(t * MIN);
        let a = h.state.alerts().next().unwrap().1;
        assert_eq!((a.state, a.keep_firing_since_ms), (AlertState::Firing, Some(MIN)), "at {t}m");
        assert_eq!(h.at("ALERTS", t * MIN).len(), 1);
        assert_eq!(h.at("ALERTS", t * MIN)[0].1, "1");
    }
    // Back during keep-firing: the timer resets.
    down(&h, 3 * MIN, 0.0);
    h.eval(3 * MIN);
    assert_eq!(h.state.alerts().next().unwrap().1.keep_firing_since_ms, None);
    // Gone from 4m: still firing at 5m (1m < 2m), resolved at 6m.
    for t in [4, 5] {
        down(&h, t * MIN, 1.0);
        h.eval(t * MIN);
        assert_eq!(h.alerts()[0].1, "firing", "at {t}m");
    }
    down(&h, 6 * MIN, 1.0);
    let sent = h.eval(6 * MIN);
    assert_eq!(h.alerts()[0].1, "inactive");
    assert_eq!((sent.len(), sent[0].ends_at_ms), (1, 6 * MIN));
}

#[test]
fn labels_annotations_and_external_labels() {
    let mut h = Harness::new(
        r#"
groups:
  - name: g
    labels:
      team: db
    rules:
      - alert: High
        expr: errors > 1
        labels:
          severity: "{{ if gt $value 5.0 }}page{{ else }}ticket{{ end }}"
          instance: ""
          env: rule
        annotations:
          where: "{{ $labels.__name__ }} on {{ $labels.instance }} ({{ $externalLabels.region }}, {{ $externalURL }})"
          pct: "{{ $value | humanizePercentage }}"
          broken: "{{ .Labels.job.nope }}"
"#,
    );
    h.external_labels = pairs(&[("region", "eu"), ("env", "prod")]);
    h.set(&[("__name__", "errors"), ("instance", "db1:9100"), ("env", "x")], 0, 7.0);
    h.set(&[("__name__", "errors"), ("instance", "db2:9100"), ("env", "y")], 0, 9.0);
    // Two series that differ only in `instance`, which the rule removes: duplicates.
    let sent = h.eval(0);
    assert_eq!(h.state.rule_health(0), Health::Err);
    assert_eq!(
        h.state.rule(0).unwrap().last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying alert labels")
    );
    assert!(sent.is_empty());

    let mut h = Harness::new(&h_yaml_without_instance_override());
    h.external_labels = pairs(&[("region", "eu"), ("env", "prod")]);
    h.set(&[("__name__", "errors"), ("instance", "db1:9100"), ("env", "x")], 0, 7.0);
    let sent = h.eval(0);
    assert_eq!(sent.len(), 1);
    // Rule labels (expanded) override result labels; `__name__` dropped; group labels in;
    // external labels only where missing.
    assert_eq!(
        sent[0].labels.to_string(),
        r#"{alertname="High", env="rule", instance="db1:9100", region="eu", severity="page", team="db"}"#
    );
    let ann: std::collections::BTreeMap<_, _> = sent[0].annotations.iter().cloned().collect();
    assert_eq!(ann["where"], "errors on db1:9100 (eu, http://lookout:9090)");
    assert_eq!(ann["pct"], "700%");
    assert!(
        ann["broken"].starts_with("<error expanding template: error executing template __alert_High: "),
        "{}",
        ann["broken"]
    );
    // The state keeps the alert's own labels (no external labels).
    assert_eq!(h.alerts()[0].0, r#"{alertname="High", env="rule", instance="db1:9100", severity="page", team="db"}"#);
}

fn h_yaml_without_instance_override() -> String {
    r#"
groups:
  - name: g
    labels:
      team: db
    rules:
      - alert: High
        expr: errors > 1
        labels:
          severity: "{{ if gt $value 5.0 }}page{{ else }}ticket{{ end }}"
          env: rule
        annotations:
          where: "{{ $labels.__name__ }} on {{ $labels.instance }} ({{ $externalLabels.region }}, {{ $externalURL }})"
          pct: "{{ $value | humanizePercentage }}"
          broken: "{{ .Labels.job.nope }}"
"#
    .to_string()
}

#[test]
fn templates_can_query_the_datasource() {
    let mut h = Harness::new(
        r#"
groups:
  - name: g
    rules:
      - alert: Q
        expr: vector(1)
        annotations:
          total: '{{ with query "sum(up)" }}{{ . | first | value }}{{ end }}'
"#,
    );
    down(&h, 0, 3.0);
    h.set(&[("__name__", "up"), ("job", "b")], 0, 4.0);
    let sent = h.eval(0);
    assert_eq!(sent[0].annotations, pairs(&[("total", "7")]));
    // Scalar result: one alert with only alertname.
    assert_eq!(sent[0].labels.to_string(), r#"{alertname="Q"}"#);
}

#[test]
fn limit_drops_every_alert_of_the_rule() {
    let mut h =
        Harness::new("groups:\n  - name: g\n    limit: 1\n    rules:\n      - alert: Down\n        expr: up == 0\n");
    down(&h, 0, 0.0);
    assert_eq!(h.eval(0).len(), 1);
    h.set(&[("__name__", "up"), ("job", "b")], MIN, 0.0);
    down(&h, MIN, 0.0);
    assert!(h.eval(MIN).is_empty());
    assert_eq!(h.state.rule(0).unwrap().last_error.as_deref(), Some("exceeded limit of 1 with 2 alerts"));
    assert!(h.alerts().is_empty());
    // A failed evaluation appends nothing (no stale markers either).
    assert!(h.at("ALERTS", MIN).is_empty());
    // Back under the limit: a new alert (the old one was dropped, not resolved).
    h.set(&[("__name__", "up"), ("job", "b")], 2 * MIN, 1.0);
    down(&h, 2 * MIN, 0.0);
    let sent = h.eval(2 * MIN);
    assert_eq!(h.state.rule_health(0), Health::Ok);
    assert_eq!((sent.len(), sent[0].starts_at_ms), (1, 2 * MIN));
}

#[test]
fn query_errors_keep_the_alerts() {
    // `on()` with one series per side works; two on the right fail the match.
    let mut h =
        Harness::new("groups:\n  - name: g\n    rules:\n      - alert: S\n        expr: up == on() group_left up\n");
    down(&h, 0, 0.0);
    assert_eq!(h.eval(0).len(), 1);
    down(&h, MIN, 0.0);
    h.set(&[("__name__", "up"), ("job", "b")], MIN, 0.0);
    assert!(h.eval(MIN).is_empty());
    assert_eq!(h.state.rule_health(0), Health::Err);
    let err = h.state.rule(0).unwrap().last_error.clone().unwrap();
    assert!(err.contains("duplicate series"), "{err}");
    assert_eq!(h.alerts(), vec![(r#"{alertname="S", job="a"}"#.to_string(), "firing")]);
    // The series of a failed evaluation are neither written nor marked stale.
    assert!(h.at("ALERTS", MIN).is_empty());
}

#[test]
fn query_offset_shifts_the_query_and_the_series() {
    let mut h = Harness::new(
        "groups:\n  - name: g\n    query_offset: 1m\n    rules:\n      - alert: Down\n        expr: up == 0\n",
    );
    // At 10m the rule sees the data of 9m (the 10m sample is newer).
    down(&h, 9 * MIN, 0.0);
    down(&h, 10 * MIN, 1.0);
    let sent = h.eval(10 * MIN);
    assert_eq!(sent.len(), 1);
    // active_at is the evaluation time, the series are written at the query time.
    assert_eq!(h.state.alerts().next().unwrap().1.active_at_ms, 10 * MIN);
    assert_eq!(h.at("ALERTS", 9 * MIN).len(), 1);
    assert_eq!(h.at("ALERTS_FOR_STATE", 9 * MIN)[0].1, "600");
}

#[test]
fn resend_delay_and_group_interval_set_valid_until() {
    let mut h = Harness::new(
        "groups:\n  - name: g\n    interval: 5m\n    rules:\n      - alert: Down\n        expr: up == 0\n",
    );
    h.resend_delay_ms = 2 * MIN;
    down(&h, 0, 0.0);
    let sent = h.eval(0);
    assert_eq!(sent[0].ends_at_ms, 20 * MIN);
}

#[test]
fn common_template_idioms() {
    let mut h = Harness::new(
        r#"
groups:
  - name: g
    rules:
      - alert: T
        expr: bytes > 0
        labels:
          missing: "x{{ $labels.nope }}y"
        annotations:
          human: "{{ $value | humanize1024 }}B"
          fixed: '{{ printf "%.2f" $value }}'
          port: "{{ $labels.instance | stripPort }}"
          url: "{{ $externalURL }}/alerts"
"#,
    );
    h.set(&[("__name__", "bytes"), ("instance", "db1:9100")], 0, 1536.0);
    let sent = h.eval(0);
    assert_eq!(sent[0].labels.get("missing"), Some("xy"));
    let ann: std::collections::BTreeMap<_, _> = sent[0].annotations.iter().cloned().collect();
    assert_eq!(ann["human"], "1.5kiB");
    assert_eq!(ann["fixed"], "1536.00");
    assert_eq!(ann["port"], "db1");
    assert_eq!(ann["url"], "http://lookout:9090/alerts");
}
