//! The replay against hand-computed expectations: `for`, `keep_firing_for`, resolution,
//! flapping, recording rules feeding alerts, templates and errors.

use std::collections::BTreeMap;
use std::sync::Arc;

use lookout_tsdb::{Labels, Store, StoreConfig};

use super::*;
use crate::parse_rule_file;

const M: i64 = 60_000;

/// Label pairs and samples of one series.
type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn store(series: &[SeriesSpec<'_>]) -> Arc<Store> {
    let s = Store::new(StoreConfig { retention_ms: i64::MAX / 4, max_series: 1000 });
    for (labels, samples) in series {
        let l = Labels::new(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        for (t, v) in *samples {
            s.append(&l, *t, *v).unwrap();
        }
    }
    Arc::new(s)
}

/// `x{job="a"}` with one sample a minute over `0..=minutes`, valued by `f(minute)`.
fn minutes(minutes: i64, f: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
    (0..=minutes).map(|m| (m * M, f(m))).collect()
}

fn backtest(rules: &str, store: Arc<Store>, to_min: i64) -> Report {
    let groups = parse_rule_file("t.yml", rules).unwrap();
    let source = Arc::new(StoreSource::new(store, Default::default()));
    let mut settings = Settings::new(0, to_min * M);
    settings.keep_sent = true;
    run(&groups, source, &settings).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// `(pending, firing, ended)` in minutes.
fn spans(r: &Report) -> Vec<(i64, Option<i64>, Option<i64>)> {
    r.episodes
        .iter()
        .map(|e| (e.pending_at_ms / M, e.firing_at_ms.map(|t| t / M), e.ended_at_ms.map(|t| t / M)))
        .collect()
}

const FOR_2M: &str = r#"
groups:
  - name: g
    interval: 1m
    rules:
      - alert: High
        expr: x > 5
        for: 2m
        labels: { severity: page }
        annotations: { summary: "{{ $labels.job }} at {{ $value }}" }
"#;

#[test]
fn for_delays_firing_and_absence_resolves() {
    let data = minutes(12, |m| if (1..=6).contains(&m) { 10.0 } else { 0.0 });
    let r = backtest(FOR_2M, store(&[(&[("__name__", "x"), ("job", "a")], &data)]), 12);
    // Pending at 1m; 3m - 1m >= 2m fires; the 0 at 7m resolves.
    assert_eq!(spans(&r), [(1, Some(3), Some(7))]);
    let e = &r.episodes[0];
    assert_eq!(e.labels, labels(&[("alertname", "High"), ("job", "a"), ("severity", "page")]));
    assert_eq!(e.annotations["summary"], "a at 10");
    assert_eq!(e.value, 10.0);
    assert_eq!(r.state_at(&e.labels, 2 * M), Some(crate::AlertState::Pending));
    assert_eq!(r.state_at(&e.labels, 3 * M), Some(crate::AlertState::Firing));
    assert_eq!(r.state_at(&e.labels, 7 * M), None);
    // Sent at firing, re-sent after each resend delay (1m, strictly after), then resolved.
    let sent: Vec<(i64, i64)> = r.sent.iter().map(|s| (s.at_ms / M, s.alert.ends_at_ms)).collect();
    assert_eq!(sent.first(), Some(&(3, 3 * M + 4 * M)));
    assert!(sent.contains(&(7, 7 * M)), "{sent:?}");
    // A resolved alert is re-sent as resolved for 15 minutes (to the end of the range here).
    assert_eq!(sent.last(), Some(&(11, 7 * M)));
    assert_eq!(r.groups[0].evaluations, 13);
    assert_eq!(r.groups[0].local_rules, 0);
}

#[test]
fn keep_firing_for_holds_past_the_condition() {
    let rules = FOR_2M.replace("for: 2m", "for: 2m\n        keep_firing_for: 3m");
    let data = minutes(14, |m| if (1..=6).contains(&m) { 10.0 } else { 0.0 });
    let r = backtest(&rules, store(&[(&[("__name__", "x"), ("job", "a")], &data)]), 14);
    // Missing from 7m on: kept while t - 7m < 3m, resolved at 10m.
    assert_eq!(spans(&r), [(1, Some(3), Some(10))]);
    assert_eq!(r.episodes[0].kept_firing_since_ms, Some(7 * M));
}

#[test]
fn flapping_makes_separate_episodes() {
    // Up 1-2 (too short to fire), down 3, up 4-7 (fires at 6), down 8, up 10-12 (fires at 12).
    let up = |m: i64| (1..=2).contains(&m) || (4..=7).contains(&m) || (10..=12).contains(&m);
    let data = minutes(14, |m| if up(m) { 10.0 } else { 0.0 });
    let r = backtest(FOR_2M, store(&[(&[("__name__", "x"), ("job", "a")], &data)]), 14);
    assert_eq!(spans(&r), [(1, None, Some(3)), (4, Some(6), Some(8)), (10, Some(12), Some(13))]);
    assert!(!r.episodes[0].fired());
    assert_eq!(r.firing_at(6 * M).len(), 1);
    assert_eq!(r.firing_at(9 * M).len(), 0);
}

#[test]
fn still_active_at_the_end_stays_open() {
    let data = minutes(5, |m| if m >= 2 { 10.0 } else { 0.0 });
    let r = backtest(FOR_2M, store(&[(&[("__name__", "x"), ("job", "a")], &data)]), 5);
    assert_eq!(spans(&r), [(2, Some(4), None)]);
    let r = backtest(FOR_2M, store(&[(&[("__name__", "x"), ("job", "a")], &data)]), 3);
    assert_eq!(spans(&r), [(2, None, None)]);
    let table = render::table(&r);
    assert!(table.contains("never (still pending)"), "{table}");
}

#[test]
fn recording_rules_feed_later_rules_and_source_copies_are_ignored() {
    let rules = r#"
groups:
  - name: g
    interval: 1m
    rules:
      - record: job:x:sum
        expr: sum by (job) (x)
      - alert: HighSum
        expr: job:x:sum / on (job) count by (job) (x) > 7.5
        for: 1m
"#;
    // Two series summing to 20 during minutes 2..=5; the source also holds a bogus
    // `job:x:sum` that must not be read.
    let a = minutes(9, |m| if (2..=5).contains(&m) { 10.0 } else { 1.0 });
    let bogus = minutes(9, |_| 1000.0);
    let s = store(&[
        (&[("__name__", "x"), ("job", "a"), ("i", "1")], &a),
        (&[("__name__", "x"), ("job", "a"), ("i", "2")], &a),
        (&[("__name__", "job:x:sum"), ("job", "a")], &bogus),
    ]);
    let r = backtest(rules, s, 9);
    assert_eq!(spans(&r), [(2, Some(3), Some(6))]);
    assert_eq!(r.episodes[0].value, 10.0);
    assert_eq!(r.groups[0].local_rules, 1);
    // Only `x` was copied (two series, their samples in the window), never `job:x:sum`.
    assert_eq!(r.copied_samples, 20);
}

#[test]
fn rule_errors_are_counted_with_the_first_message() {
    let rules = r#"
groups:
  - name: g
    interval: 1m
    rules:
      - record: both
        expr: '{__name__=~"x|y"}'
"#;
    let data = minutes(3, |_| 1.0);
    let s = store(&[(&[("__name__", "x")], &data), (&[("__name__", "y")], &data)]);
    let r = backtest(rules, s, 3);
    assert_eq!(r.rule_errors.len(), 1);
    assert_eq!(r.rule_errors[0].count, 4);
    assert!(r.rule_errors[0].first_error.contains("same labelset"), "{:?}", r.rule_errors);
    assert!(render::table(&r).contains("failed 4 evaluation(s)"));
}

#[test]
fn bad_ranges_and_limits_are_errors() {
    let groups = parse_rule_file("t.yml", FOR_2M).unwrap();
    let source: Arc<dyn SampleSource> = Arc::new(StoreSource::new(store(&[]), Default::default()));
    let err = run(&groups, source.clone(), &Settings::new(10, 0)).unwrap_err();
    assert!(err.to_string().contains("is after"), "{err}");
    let mut s = Settings::new(0, 100 * M);
    s.step_ms = Some(0);
    assert!(run(&groups, source.clone(), &s).is_err());
    s.step_ms = Some(1000);
    s.max_steps = 100;
    let err = run(&groups, source, &s).unwrap_err();
    assert!(err.to_string().contains("6001 times"), "{err}");
}

#[test]
fn step_overrides_group_intervals_and_json_has_intervals() {
    let data = minutes(12, |m| if (1..=6).contains(&m) { 10.0 } else { 0.0 });
    let groups = parse_rule_file("t.yml", FOR_2M).unwrap();
    let source = Arc::new(StoreSource::new(store(&[(&[("__name__", "x"), ("job", "a")], &data)]), Default::default()));
    let mut s = Settings::new(0, 12 * M);
    s.step_ms = Some(30_000);
    let r = run(&groups, source, &s).unwrap();
    assert_eq!(r.groups[0].evaluations, 25);
    // Pending at 1m, fires at 3m (first step with 2m elapsed), resolves at 7m.
    assert_eq!(spans(&r), [(1, Some(3), Some(7))]);
    let j = render::to_json(&r);
    let a = &j["alerts"][0];
    assert_eq!(a["pending"]["from"], "1970-01-01T00:01:00Z");
    assert_eq!(a["pending"]["to"], "1970-01-01T00:03:00Z");
    assert_eq!(a["firing"]["to"], "1970-01-01T00:07:00Z");
    assert_eq!(a["resolved_at"], "1970-01-01T00:07:00Z");
    assert_eq!(a["labels"]["severity"], "page");
}
