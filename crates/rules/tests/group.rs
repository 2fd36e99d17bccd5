//! Group evaluation (`rules/group.go`): order, chaining, staleness, limits, reloads.

mod common;

use common::{Harness, MIN, labels};
use lookout_rules::{GroupState, Health, parse_rule_file};

#[test]
fn recording_rules_chain_within_a_group_at_one_timestamp() {
    let mut h = Harness::new(
        r#"
groups:
  - name: g
    labels:
      source: rules
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          kind: agg
      - record: job:up:double
        expr: job:up:sum * 2
      - alert: FewUp
        expr: job:up:double < 10
"#,
    );
    h.set(&[("__name__", "up"), ("job", "a"), ("i", "1")], 0, 1.0);
    h.set(&[("__name__", "up"), ("job", "a"), ("i", "2")], 0, 2.0);
    let sent = h.eval(0);
    assert_eq!(h.at("job:up:sum", 0), vec![(r#"job:up:sum{job="a", kind="agg", source="rules"}"#.into(), "3".into())]);
    // The second rule read the first's output at the same timestamp (labels kept:
    // arithmetic drops only the name).
    assert_eq!(
        h.at("job:up:double", 0),
        vec![(r#"job:up:double{job="a", kind="agg", source="rules"}"#.into(), "6".into())]
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].labels.to_string(), r#"{alertname="FewUp", job="a", kind="agg", source="rules"}"#);
    for i in 0..3 {
        assert_eq!(h.state.rule_health(i), Health::Ok);
        assert_eq!(h.state.rule(i).unwrap().last_eval_ms, Some(0));
    }
    assert_eq!(h.state.last_eval_ms, Some(0));
}

#[test]
fn recorded_series_that_disappear_get_staleness_markers() {
    let mut h = Harness::new("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up > 0\n");
    h.set(&[("__name__", "up"), ("job", "a")], 0, 1.0);
    h.set(&[("__name__", "up"), ("job", "b")], 0, 1.0);
    h.eval(0);
    assert_eq!(h.at("r", 0).len(), 2);
    h.set(&[("__name__", "up"), ("job", "a")], MIN, 1.0);
    h.set(&[("__name__", "up"), ("job", "b")], MIN, 0.0);
    h.eval(MIN);
    assert_eq!(h.at("r", MIN), vec![(r#"r{job="a"}"#.into(), "1".into()), (r#"r{job="b"}"#.into(), "stale".into())]);
    // Marked once, not again.
    h.set(&[("__name__", "up"), ("job", "a")], 2 * MIN, 1.0);
    h.eval(2 * MIN);
    assert_eq!(h.at("r", 2 * MIN), vec![(r#"r{job="a"}"#.into(), "1".into())]);
}

#[test]
fn recording_errors() {
    // Two series that only differ by name collide once renamed.
    let mut h =
        Harness::new("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: '{__name__=~\"a|b\"}'\n");
    h.set(&[("__name__", "a"), ("job", "x")], 0, 1.0);
    h.set(&[("__name__", "b"), ("job", "x")], 0, 1.0);
    h.eval(0);
    assert_eq!(
        h.state.rule(0).unwrap().last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying rule labels")
    );
    assert_eq!(h.state.rule_health(0), Health::Err);
    assert!(h.at("r", 0).is_empty());
}

#[test]
fn string_results_are_refused_at_load() {
    let e = parse_rule_file("t.yml", "groups:\n  - name: g\n    rules:\n      - record: s\n        expr: '\"text\"'\n")
        .unwrap_err();
    assert!(e.to_string().contains("not a string"), "{e}");
}

#[test]
fn scalar_results_record_one_series() {
    let mut h = Harness::new("groups:\n  - name: g\n    rules:\n      - record: answer\n        expr: 6 * 7\n");
    h.eval(0);
    assert_eq!(h.at("answer", 0), vec![("answer{}".into(), "42".into())]);
}

#[test]
fn recording_limit() {
    let mut h = Harness::new("groups:\n  - name: g\n    limit: 1\n    rules:\n      - record: r\n        expr: up\n");
    h.set(&[("__name__", "up"), ("job", "a")], 0, 1.0);
    h.eval(0);
    assert_eq!(h.state.rule_health(0), Health::Ok);
    h.set(&[("__name__", "up"), ("job", "a")], MIN, 1.0);
    h.set(&[("__name__", "up"), ("job", "b")], MIN, 1.0);
    h.eval(MIN);
    assert_eq!(h.state.rule(0).unwrap().last_error.as_deref(), Some("exceeded limit of 1 with 2 series"));
    assert!(h.at("r", MIN).is_empty());
}

const BEFORE: &str = r#"
groups:
  - name: g
    rules:
      - record: old
        expr: up
      - alert: Down
        expr: up == 0
        for: 5m
        annotations:
          summary: old text
      - alert: Other
        expr: up == 0
        labels:
          team: a
"#;

const AFTER: &str = r#"
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 10m
        annotations:
          summary: new text
      - alert: Other
        expr: up == 0
        labels:
          team: b
      - record: new
        expr: up
"#;

#[test]
fn carry_over_keeps_alerts_of_rules_with_the_same_name_and_labels() {
    let mut h = Harness::new(BEFORE);
    h.set(&[("__name__", "up"), ("job", "a")], 0, 0.0);
    h.eval(0);
    assert_eq!(h.state.alerts().count(), 2);
    let new_group = parse_rule_file("t.yml", AFTER).unwrap().remove(0);
    let state = GroupState::carry_over(&h.state, &h.group, &new_group);
    assert_eq!(state.rules.len(), 3);
    // `Down` (same name and labels, other `for` and annotations) keeps its alert and its
    // active_at; `Other` changed labels: starts empty; `new` is new.
    let down: Vec<_> = state.rule(0).unwrap().alerts.values().collect();
    assert_eq!((down.len(), down[0].active_at_ms), (1, 0));
    assert!(state.rule(1).unwrap().alerts.is_empty());
    assert!(state.rules.iter().all(|r| r.health == Health::Unknown));
    // Output of rules without a match (`old`, and `Other` with team=a) is marked stale at
    // the next evaluation.
    let stale: Vec<String> = state.stale_series.iter().map(|l| l.to_string()).collect();
    assert!(stale.contains(&r#"old{job="a"}"#.to_string()), "{stale:?}");
    assert!(stale.iter().any(|s| s.starts_with("ALERTS{alertname=\"Other\"")), "{stale:?}");

    h.group = new_group;
    h.state = state;
    h.set(&[("__name__", "up"), ("job", "a")], MIN, 0.0);
    h.eval(MIN);
    assert_eq!(h.at("old", MIN), vec![(r#"old{job="a"}"#.into(), "stale".into())]);
    assert!(h.state.stale_series.is_empty());
    // `Down` is still pending from t=0 (10m `for` now), with the new annotation.
    let a = h.state.rule(0).unwrap().alerts.values().next().unwrap();
    assert_eq!((a.active_at_ms, a.annotations[0].1.as_str()), (0, "new text"));
}

#[test]
fn state_round_trips_through_json() {
    let mut h = Harness::new(BEFORE);
    h.set(&[("__name__", "up"), ("job", "a")], 0, 0.0);
    h.eval(0);
    let json = serde_json::to_string(&h.state).unwrap();
    let back: GroupState = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(back.alerts().count(), 2);
    assert!(json.contains(r#""health":"ok""#), "{json}");
    assert!(json.contains(r#""state":"pending""#), "{json}");
    assert!(json.contains(r#""labels":{"alertname":"Down","job":"a"}"#), "{json}");
    assert_eq!(
        back.rule(0).unwrap().previous_series.iter().next(),
        Some(&labels(&[("__name__", "old"), ("job", "a")]))
    );
}

#[test]
fn removed_groups_mark_their_series_stale() {
    let mut h = Harness::new(BEFORE);
    h.set(&[("__name__", "up"), ("job", "a")], 0, 0.0);
    h.eval(0);
    h.state.mark_stale(&*h.store, MIN);
    assert_eq!(h.at("old", MIN), vec![(r#"old{job="a"}"#.into(), "stale".into())]);
    assert!(h.at("ALERTS", MIN).iter().all(|(_, v)| v == "stale"));
    assert_eq!(h.at("ALERTS", MIN).len(), 2);
}

#[test]
fn within_one_evaluation_the_first_write_of_a_series_wins() {
    let mut h = Harness::new(
        "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: a\n      - record: x\n        expr: b\n",
    );
    h.set(&[("__name__", "a"), ("job", "j")], 0, 1.0);
    h.set(&[("__name__", "b"), ("job", "j")], 0, 2.0);
    h.eval(0);
    assert_eq!(h.at("x", 0), vec![(r#"x{job="j"}"#.into(), "1".into())]);
}

#[test]
fn stale_markers_of_removed_rules_never_hide_a_series_written_again() {
    let old = "groups:\n  - name: g\n    rules:\n      - record: foo\n        expr: bar\n        labels:\n          env: prod\n";
    let new = "groups:\n  - name: g\n    rules:\n      - record: foo\n        expr: bar\n";
    let mut h = Harness::new(old);
    h.set(&[("__name__", "bar"), ("env", "dev")], 0, 1.0);
    h.eval(0);
    assert_eq!(h.at("foo", 0), vec![(r#"foo{env="prod"}"#.into(), "1".into())]);
    let new_group = parse_rule_file("t.yml", new).unwrap().remove(0);
    h.state = GroupState::carry_over(&h.state, &h.group, &new_group);
    h.group = new_group;
    // The new rule (other labels: no match) now yields foo{env="prod"} itself.
    h.set(&[("__name__", "bar"), ("env", "dev")], MIN, lookout_tsdb::stale_nan());
    h.set(&[("__name__", "bar"), ("env", "prod")], MIN, 5.0);
    h.eval(MIN);
    assert_eq!(
        h.at("foo", MIN),
        vec![(r#"foo{env="prod"}"#.into(), "5".into())],
        "the removed rule's stale marker must not overwrite it"
    );
}

#[test]
fn a_state_that_does_not_match_the_group_is_realigned() {
    let mut h = Harness::new(
        "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n      - record: b\n        expr: up\n",
    );
    h.set(&[("__name__", "up")], 0, 1.0);
    h.eval(0);
    // Another group's definition with this state, without carry_over.
    h.group = parse_rule_file("t.yml", "groups:\n  - name: g\n    rules:\n      - record: c\n        expr: up\n")
        .unwrap()
        .remove(0);
    h.set(&[("__name__", "up")], MIN, 1.0);
    h.eval(MIN);
    assert_eq!(h.state.rules.len(), 1);
    assert_eq!(h.state.rules[0].name, "c");
    assert_eq!(h.at("a", MIN), vec![("a{}".into(), "stale".into())]);
    assert_eq!(h.at("b", MIN), vec![("b{}".into(), "stale".into())]);
    assert_eq!(h.at("c", MIN), vec![("c{}".into(), "1".into())]);
}

#[test]
fn carry_over_matches_duplicate_rules_in_order() {
    let yaml = "groups:\n  - name: g\n    rules:\n      - alert: Dup\n        expr: a > 0\n      - alert: Dup\n        expr: b > 0\n";
    let mut h = Harness::new(yaml);
    h.set(&[("__name__", "a"), ("from", "a")], 0, 1.0);
    h.set(&[("__name__", "b"), ("from", "b")], 0, 1.0);
    h.eval(0);
    let new_group = parse_rule_file("t.yml", yaml).unwrap().remove(0);
    let state = GroupState::carry_over(&h.state, &h.group, &new_group);
    let from = |i: usize| state.rule(i).unwrap().alerts.values().next().unwrap().labels.get("from").map(str::to_string);
    assert_eq!((from(0), from(1)), (Some("a".to_string()), Some("b".to_string())));
    assert!(state.stale_series.is_empty());
}
