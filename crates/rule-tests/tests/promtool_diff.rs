//! Differential test: every case is a rule file plus a promtool-format test file; the
//! runner's verdict must be the expected one, and, when `promtool` is on PATH (CI
//! installs Debian's 2.42), the same as `promtool test rules` on the same files, with
//! the same stdout and stderr text where promtool's message is deterministic.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    name: &'static str,
    rules: &'static str,
    test: &'static str,
    /// The verdict promtool 2.42 gives.
    pass: bool,
    /// Whether the output must match promtool's byte for byte.
    exact: bool,
}

const RULES: &str = r#"
groups:
- name: recording
  rules:
  - record: job:errors:rate5m
    expr: sum by (job) (rate(errors_total[5m]))
- name: alerts
  rules:
  - alert: InstanceDown
    expr: up == 0
    for: 5m
    labels:
      severity: page
    annotations:
      summary: "Instance {{ $labels.instance }} of {{ $labels.job }} down"
      value: "{{ $value }}"
  - alert: HighErrors
    expr: job:errors:rate5m > 0.5
    labels:
      severity: page
    annotations:
      summary: "{{ $labels.job }}: {{ $value }} errors/s"
      ext: "{{ $externalLabels.cluster }} {{ $externalURL }}"
"#;

/// Rule templates as users write them for Prometheus (functions, comparisons).
const TEMPLATE_RULES: &str = r#"
groups:
- name: recording
  rules:
  - record: job:errors:rate5m
    expr: sum by (job) (rate(errors_total[5m]))
- name: alerts
  rules:
  - alert: HighErrors
    expr: job:errors:rate5m > 0.5
    labels:
      severity: '{{ if gt $value 1.0 }}critical{{ else }}warning{{ end }}'
    annotations:
      summary: "{{ $labels.job }}: {{ humanize $value }} errors/s ({{ $value | printf \"%.3f\" }})"
"#;

const CASES: &[Case] = &[
    Case {
        name: "alert_fires_after_for",
        rules: RULES,
        test: r#"
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'up{job="api", instance="a"}'
    values: '1 0x12'
  - series: 'up{job="api", instance="b"}'
    values: '1x12'
  alert_rule_test:
  - eval_time: 5m
    alertname: InstanceDown
  - eval_time: 6m
    alertname: InstanceDown
    exp_alerts:
    - exp_labels: {severity: page, instance: a, job: api}
      exp_annotations: {summary: "Instance a of api down", value: "0"}
  - eval_time: 12m
    alertname: InstanceDown
    exp_alerts:
    - exp_labels: {severity: page, instance: a, job: api}
      exp_annotations: {summary: "Instance a of api down", value: "0"}
"#,
        pass: true,
        exact: true,
    },
    Case {
        name: "for_boundary_off_by_one",
        rules: RULES,
        test: r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: 'up{job="api", instance="a"}'
    values: '1 0x12'
  alert_rule_test:
  - eval_time: 5m
    alertname: InstanceDown
    exp_alerts:
    - exp_labels: {severity: page, instance: a, job: api}
      exp_annotations: {summary: "Instance a of api down", value: "0"}
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "wrong_labels_and_annotation",
        rules: RULES,
        test: r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  name: wrong things
  input_series:
  - series: 'up{job="api", instance="a"}'
    values: '0x10'
  - series: 'up{job="db", instance="b"}'
    values: '0x10'
  alert_rule_test:
  - eval_time: 10m
    alertname: InstanceDown
    exp_alerts:
    - exp_labels: {severity: warning, instance: a, job: api}
      exp_annotations: {summary: "Instance a of api down", value: "0"}
    - exp_labels: {severity: page, instance: b, job: db}
      exp_annotations: {summary: "Instance b down", value: "0"}
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "recording_rule_feeds_alert",
        rules: RULES,
        test: r#"
rule_files: [rules.yml]
group_eval_order: [recording, alerts]
tests:
- interval: 1m
  external_labels: {cluster: eu1}
  external_url: http://prom.example
  input_series:
  - series: 'errors_total{job="api", instance="a"}'
    values: '0+120x20'
  - series: 'errors_total{job="web", instance="b"}'
    values: '0+45x20'
  alert_rule_test:
  - eval_time: 10m
    alertname: HighErrors
    exp_alerts:
    - exp_labels: {severity: page, job: api}
      exp_annotations: {summary: "api: 2 errors/s", ext: "eu1 http://prom.example"}
    - exp_labels: {severity: page, job: web}
      exp_annotations: {summary: "web: 0.75 errors/s", ext: "eu1 http://prom.example"}
  promql_expr_test:
  - expr: job:errors:rate5m
    eval_time: 10m
    exp_samples:
    - labels: 'job:errors:rate5m{job="api"}'
      value: 2
    - labels: 'job:errors:rate5m{job="web"}'
      value: 0.75
"#,
        pass: true,
        exact: true,
    },
    Case {
        name: "promql_wrong_value_missing_series_and_nan",
        rules: RULES,
        test: r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: 'm{a="1"}'
    values: '1 2 3 4'
  - series: 'm{a="2"}'
    values: '_ _ 7 NaN'
  promql_expr_test:
  - expr: m
    eval_time: 2m
    exp_samples:
    - labels: 'm{a="1"}'
      value: 3.5
    - labels: 'm{a="2"}'
      value: 7
  - expr: m{a="3"}
    eval_time: 2m
    exp_samples:
    - labels: 'm{a="3"}'
      value: 1
  - expr: m{a="2"}
    eval_time: 3m
    exp_samples:
    - labels: 'm{a="2"}'
      value: .nan
  - expr: sum(m)
    eval_time: 1m
    exp_samples:
    - labels: '{}'
      value: 2
  - expr: scalar(m{a="1"}) * 2
    eval_time: 3m
    exp_samples:
    - labels: '{}'
      value: 8
  - expr: m[5m]
    eval_time: 3m
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "stale_marker_resolves_alert",
        rules: r#"
groups:
- name: g
  rules:
  - alert: Down
    expr: up == 0
"#,
        test: r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: 'up{job="a"}'
    values: '0 0 stale _ 0'
  alert_rule_test:
  - eval_time: 1m
    alertname: Down
    exp_alerts: [{exp_labels: {job: a}}]
  - eval_time: 2m
    alertname: Down
  - eval_time: 3m
    alertname: Down
  - eval_time: 4m
    alertname: Down
    exp_alerts: [{exp_labels: {job: a}}]
  promql_expr_test:
  - expr: up
    eval_time: 3m
  - expr: count_over_time(up[10m])
    eval_time: 4m
    exp_samples: [{labels: '{job="a"}', value: 3}]
"#,
        pass: true,
        exact: true,
    },
    Case {
        name: "closed_windows_and_lookback_edges",
        rules: r#"
groups:
- name: g
  rules:
  - record: r
    expr: count_over_time(x[2m])
"#,
        test: r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: x
    values: '1 2 3'
  promql_expr_test:
  - expr: count_over_time(x[2m])
    eval_time: 2m
    exp_samples: [{labels: '{}', value: 3}]
  - expr: r
    eval_time: 2m
    exp_samples: [{labels: 'r', value: 3}]
  - expr: x
    eval_time: 7m
    exp_samples: [{labels: 'x', value: 3}]
  - expr: x
    eval_time: 8m
"#,
        pass: true,
        exact: true,
    },
    Case {
        name: "unaligned_eval_time_and_fast_evaluation",
        rules: r#"
groups:
- name: g
  rules:
  - alert: Up
    expr: x > 1
    for: 30s
"#,
        test: r#"
rule_files: [rules.yml]
evaluation_interval: 15s
tests:
- interval: 30s
  input_series:
  - series: x
    values: '0 2 2 2'
  alert_rule_test:
  - eval_time: 44s
    alertname: Up
  - eval_time: 1m
    alertname: Up
  - eval_time: 1m40s
    alertname: Up
    exp_alerts: [{}]
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "keep_firing_for",
        rules: r#"
groups:
- name: g
  rules:
  - alert: A
    expr: x > 0
    keep_firing_for: 3m
"#,
        test: r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: x
    values: '1 1 0 0 0 0 0'
  alert_rule_test:
  - eval_time: 4m
    alertname: A
    exp_alerts: [{}]
  - eval_time: 5m
    alertname: A
    exp_alerts: [{}]
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "rule_evaluation_error_stops_the_group",
        rules: r#"
groups:
- name: g
  rules:
  - alert: Dup
    expr: label_replace(x, "a", "", "a", ".*")
"#,
        test: r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: 'x{a="1"}'
    values: '_ 1 1'
  - series: 'x{a="2"}'
    values: '_ 1 1'
  alert_rule_test:
  - eval_time: 0m
    alertname: Dup
    exp_alerts: [{}]
  - eval_time: 2m
    alertname: Dup
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "bad_input_series",
        rules: RULES,
        test: r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: 'up{job="api"}'
    values: '1 2 3x'
  promql_expr_test:
  - expr: up
    eval_time: 0m
- interval: 1m
  input_series:
  - series: '{}'
    values: '1 2'
  promql_expr_test:
  - expr: up
    eval_time: 1m
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "strict_yaml_errors",
        rules: RULES,
        test: r#"
rule_files: [rules.yml]
bogus: 1
tests:
- interval: 1m
  input_series:
  - series: up
    values: 1
    extra: 2
  promql_expr_test:
  - expr: up
    eval_time: 0m
    exp_samples:
    - labels: up
      value: "1"
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "missing_alertname_and_bad_expected_labels",
        rules: RULES,
        test: r#"
rule_files: [rules.yml, nothing*.yml]
tests:
- interval: 1m
  name: first
  promql_expr_test:
  - expr: vector(1)
    eval_time: 0m
    exp_samples: [{labels: 'x{', value: 1}]
- interval: 1m
  name: second
  alert_rule_test:
  - eval_time: 1m
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "interval_zero_keeps_first_sample_and_redefinition_wins",
        rules: RULES,
        test: r#"
rule_files: [rules.yml]
tests:
- input_series:
  - series: a
    values: '5 6 7'
  - series: b
    values: '1'
  - series: b
    values: '2'
  promql_expr_test:
  - expr: a
    eval_time: 1m
    exp_samples: [{labels: a, value: 5}]
  - expr: b
    eval_time: 0m
    exp_samples: [{labels: b, value: 2}]
"#,
        pass: true,
        exact: true,
    },
    Case {
        name: "group_eval_order_repeated",
        rules: RULES,
        test: "rule_files: [rules.yml]\ngroup_eval_order: [a, b, a]\ntests: []\n",
        pass: false,
        exact: true,
    },
    Case {
        name: "broken_rule_file",
        rules: "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'sum(('\n",
        test: "rule_files: [rules.yml]\ntests:\n- interval: 1m\n  promql_expr_test:\n  - expr: '1'\n    eval_time: 0m\n",
        pass: false,
        // Rule-file errors carry a FILE:LINE:COL position here, promtool's do not.
        exact: false,
    },
    Case {
        name: "bad_query_in_promql_test",
        rules: RULES,
        test: "rule_files: [rules.yml]\ntests:\n- interval: 1m\n  promql_expr_test:\n  - expr: 'foo('\n    eval_time: 0m\n",
        pass: false,
        // promql-parser's messages lack promtool's `1:5:` position.
        exact: false,
    },
    Case {
        name: "yaml_merge_keys_and_anchors",
        rules: r#"
groups:
- name: g
  rules:
  - alert: A
    expr: x > 0
    labels: {team: ops}
"#,
        test: r#"
rule_files: [rules.yml]
tests:
  - name: defaults
    interval: 1m
    input_series: &in
      - series: x
        values: '1 1'
    alert_rule_test: &art
      - eval_time: 1m
        alertname: A
        exp_alerts: [{exp_labels: {team: ops}}]
  - <<: {name: merged, interval: 1m}
    input_series: *in
    alert_rule_test: *art
  - <<: [{name: first}, {name: second, interval: 1m}]
    input_series: *in
    alert_rule_test:
      - eval_time: 1m
        alertname: A
        exp_alerts:
          - exp_labels: &l {team: ops}
          - exp_labels:
              <<: *l
              team: dev
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "recording_into_an_input_series_is_a_rule_error",
        rules: r#"
groups:
- name: h
  rules:
  - record: x
    expr: x * 10
"#,
        test: r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: x
    values: '1 2 3'
  promql_expr_test:
  - expr: x
    eval_time: 1m
"#,
        pass: false,
        exact: true,
    },
    Case {
        name: "loader_reads_lines_like_prometheus",
        rules: "groups: []\n",
        test: r##"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: a
    values: |
      1 2 3
  - series: b
    values: '1'
  promql_expr_test:
  - {expr: a, eval_time: 0m}
  - {expr: b, eval_time: 0m}
- interval: 1m
  input_series:
  - series: a
    values: "1 2\nb 3"
  - series: c
    values: "# x"
  promql_expr_test:
  - {expr: b, eval_time: 0m}
"##,
        pass: false,
        exact: true,
    },
];

/// Two rules of a group writing one series at one time: Prometheus's storage refuses
/// the second (different) sample and the group sets that as the rule's error.
const DUPLICATE_CASES: &[Case] = &[Case {
    name: "duplicate_rule_output_is_a_rule_error",
    rules: r#"
groups:
- name: g
  rules:
  - record: r
    expr: vector(1)
  - record: r
    expr: vector(2)
- name: h
  rules:
  - record: x
    expr: x * 10
"#,
    // promtool orders groups without `group_eval_order` by an unstable sort over a Go
    // map, so with two groups its output order would be random.
    test: r#"
rule_files: [rules.yml]
group_eval_order: [g, h]
tests:
- interval: 1m
  input_series:
  - series: x
    values: '1 2 3'
  promql_expr_test:
  - expr: r
    eval_time: 1m
- interval: 1m
  promql_expr_test:
  - expr: r
    eval_time: 1m
"#,
    pass: false,
    exact: true,
}];

/// Cases whose rules use template functions (`humanize`, `printf`, `gt`).
const TEMPLATE_CASES: &[Case] = &[
    Case {
        name: "templated_labels_and_humanize",
        rules: TEMPLATE_RULES,
        test: r#"
rule_files: [rules.yml]
group_eval_order: [recording, alerts]
tests:
- interval: 1m
  input_series:
  - series: 'errors_total{job="api", instance="a"}'
    values: '0+120x20'
  - series: 'errors_total{job="web", instance="b"}'
    values: '0+45x20'
  alert_rule_test:
  - eval_time: 10m
    alertname: HighErrors
    exp_alerts:
    - exp_labels: {severity: critical, job: api}
      exp_annotations: {summary: "api: 2 errors/s (2.000)"}
    - exp_labels: {severity: warning, job: web}
      exp_annotations: {summary: "web: 750m errors/s (0.750)"}
"#,
        pass: true,
        exact: true,
    },
    Case {
        name: "templated_wrong_expectation",
        rules: TEMPLATE_RULES,
        test: r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: 'errors_total{job="web", instance="b"}'
    values: '0+45x20'
  alert_rule_test:
  - eval_time: 10m
    alertname: HighErrors
    exp_alerts:
    - exp_labels: {severity: critical, job: web}
      exp_annotations: {summary: "web: 0.75 errors/s"}
"#,
        pass: false,
        exact: true,
    },
];

fn promtool() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("promtool")).find(|p| p.is_file())
}

struct Outcome {
    pass: bool,
    stdout: String,
    stderr: String,
}

fn ours(files: &[PathBuf]) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let pass = lookout_rule_tests::run_files_split(files, &mut out, &mut err);
    Outcome { pass, stdout: String::from_utf8(out).unwrap(), stderr: String::from_utf8(err).unwrap() }
}

fn theirs(promtool: &Path, files: &[PathBuf]) -> Outcome {
    let out = Command::new(promtool).args(["test", "rules"]).args(files).output().expect("run promtool");
    Outcome {
        pass: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write_case(root: &Path, case: &Case) -> PathBuf {
    let dir = root.join(case.name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.yml"), case.rules).unwrap();
    let test = dir.join("test.yml");
    std::fs::write(&test, case.test).unwrap();
    test
}

#[test]
fn verdicts_and_messages_match_promtool() {
    check_cases(CASES);
}

#[test]
fn duplicate_rule_output_matches_promtool() {
    check_cases(DUPLICATE_CASES);
}

#[test]
fn templates_match_promtool() {
    check_cases(TEMPLATE_CASES);
}

fn check_cases(cases: &[Case]) {
    let root = tempfile::tempdir().unwrap();
    let promtool = promtool();
    if promtool.is_none() {
        eprintln!("promtool is not on PATH: checking expected verdicts only, not comparing with promtool");
    }
    let mut problems = Vec::new();
    for case in cases {
        let file = write_case(root.path(), case);
        let got = ours(std::slice::from_ref(&file));
        if got.pass != case.pass {
            problems.push(format!(
                "{}: verdict {} (expected {})\n{}{}",
                case.name, got.pass, case.pass, got.stdout, got.stderr
            ));
        }
        let Some(promtool) = &promtool else { continue };
        let want = theirs(promtool, std::slice::from_ref(&file));
        if want.pass != got.pass {
            problems.push(format!("{}: promtool says {}, we say {}\n{}", case.name, want.pass, got.pass, want.stderr));
        }
        if want.pass != case.pass {
            problems.push(format!("{}: the case expects {}, promtool says {}", case.name, case.pass, want.pass));
        }
        if case.exact && (want.stdout != got.stdout || want.stderr != got.stderr) {
            problems.push(format!(
                "{}: output differs\n--- promtool stdout\n{}--- ours\n{}--- promtool stderr\n{}--- ours\n{}",
                case.name, want.stdout, got.stdout, want.stderr, got.stderr
            ));
        }
        if !case.exact && got.stderr.lines().filter(|l| l.starts_with("  FAILED:")).count() != 1 {
            problems.push(format!("{}: expected one FAILED block\n{}", case.name, got.stderr));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn several_files_fail_together_and_missing_paths_stop_the_run() {
    let root = tempfile::tempdir().unwrap();
    let good = write_case(root.path(), &CASES[0]);
    let bad = write_case(root.path(), &CASES[1]);
    let got = ours(&[good.clone(), bad.clone(), good.clone()]);
    assert!(!got.pass);
    assert_eq!(got.stdout.matches("  SUCCESS").count(), 2);
    assert_eq!(got.stderr.matches("  FAILED:").count(), 1);
    if let Some(promtool) = promtool() {
        let want = theirs(&promtool, &[good.clone(), bad, good.clone()]);
        assert_eq!((want.pass, &want.stdout, &want.stderr), (got.pass, &got.stdout, &got.stderr));
    }

    let missing = root.path().join("nope.yml");
    let got = ours(&[good.clone(), missing.clone()]);
    assert!(!got.pass);
    assert!(got.stdout.is_empty(), "nothing runs when an argument is missing");
    assert_eq!(got.stderr, format!("error: path '{}' does not exist\n", missing.display()));
    let got = ours(&[root.path().to_path_buf()]);
    assert!(!got.pass && got.stderr.contains("is a directory"));
}

#[test]
fn one_writer_interleaves_like_a_terminal() {
    let root = tempfile::tempdir().unwrap();
    let bad = write_case(root.path(), &CASES[1]);
    let mut out = Vec::new();
    assert!(!lookout_rule_tests::run_files(std::slice::from_ref(&bad), &mut out));
    let text = String::from_utf8(out).unwrap();
    let expected_start =
        format!("Unit Testing:  {}\n  FAILED:\n    alertname: InstanceDown, time: 5m, \n", bad.display());
    assert!(text.starts_with(&expected_start), "{text}");
    assert!(text.ends_with("\n        got:[]\n\n\n"), "{text:?}");
}

/// promtool 2.42's stderr for some cases, recorded, so the messages are checked where
/// promtool is not installed too.
#[test]
fn recorded_promtool_messages() {
    // (case, number of errors, stderr)
    let recorded: &[(&str, usize, &str)] = &[
        (
            "bad_input_series",
            3,
            "  FAILED:\n1:21: parse error: unexpected end of input in series values\n\
             empty labelset: invalid sample\nempty labelset: invalid sample\n",
        ),
        (
            "promql_wrong_value_missing_series_and_nan",
            4,
            concat!(
                "  FAILED:\n",
                "    expr: \"m\", time: 2m,\n",
                "        exp: {__name__=\"m\", a=\"1\"} 3.5E+00, {__name__=\"m\", a=\"2\"} 7E+00\n",
                "        got: {__name__=\"m\", a=\"1\"} 3E+00, {__name__=\"m\", a=\"2\"} 7E+00\n",
                "    expr: \"m{a=\\\"3\\\"}\", time: 2m,\n",
                "        exp: {__name__=\"m\", a=\"3\"} 1E+00\n",
                "        got: nil\n",
                "    expr: \"m{a=\\\"2\\\"}\", time: 3m,\n",
                "        exp: {__name__=\"m\", a=\"2\"} NaN\n",
                "        got: {__name__=\"m\", a=\"2\"} NaN\n",
                "    expr: \"m[5m]\", time: 3m, err: rule result is not a vector or scalar\n",
            ),
        ),
        (
            "rule_evaluation_error_stops_the_group",
            2,
            concat!(
                "  FAILED:\n",
                "    alertname: Dup, time: 0s, \n",
                "        exp:[\n",
                "            0:\n",
                "              Labels:{alertname=\"Dup\"}\n",
                "              Annotations:{}\n",
                "            ], \n",
                "        got:[]\n",
                "    rule: Dup, time: 1m0s, err: vector cannot contain metrics with the same labelset\n",
            ),
        ),
    ];
    let root = tempfile::tempdir().unwrap();
    for (name, errors, stderr) in recorded {
        let case = CASES.iter().find(|c| c.name == *name).unwrap();
        let file = write_case(root.path(), case);
        let got = ours(std::slice::from_ref(&file));
        assert_eq!(got.stderr, *stderr, "{name}");
        // A blank line per error on stdout, and one after the file.
        assert_eq!(got.stdout, format!("Unit Testing:  {}\n{}\n", file.display(), "\n".repeat(*errors)), "{name}");
    }
}

/// A seeded corpus of series notations (valid and not, metric and values) in one
/// file: expansion, loading and every parse error must match promtool's output.
#[test]
fn generated_series_notations_match_promtool() {
    const METRIC: &[&str] = &[
        "x", "up", "{", "}", "a", "=", "\"b\"", ",", " ", "1", "!=", "=~", "(", ")", "5m", "*", "@", "sum", "0x1F",
        "1e", "#c", "!", "Inf", "+", "-", "_", ".5", "é", "\"\\n\"", ":a", "a:b", "`r`", "'q'",
    ];
    const VALUES: &[&str] = &[
        "1", "2", "+", "-", "x", "_", "stale", "x3", " ", "0x10", "1e5", "Inf", "-Inf", "NaN", ".", "5m", ",", "1.5",
        "3x1", "+1x2", "e", "010", "_x2", "1e400", "x1.5",
    ];
    // A small LCG: the corpus is the same on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    };
    let mut test = String::from("tests:\n");
    for _ in 0..150 {
        let metric: String = (0..1 + next(4)).map(|_| METRIC[next(METRIC.len())]).collect();
        let values: String = (0..next(6)).map(|_| VALUES[next(VALUES.len())]).collect();
        let (metric, values) = (metric.replace('\'', "''"), values.replace('\'', "''"));
        test.push_str(&format!(
            "- interval: 1m\n  input_series:\n  - series: '{metric}'\n    values: '{values}'\n  promql_expr_test:\n  \
             - {{expr: 'count({{__name__=~\".+\"}})', eval_time: 1m}}\n  \
             - {{expr: 'sum(count_over_time({{__name__=~\".+\"}}[10m]))', eval_time: 10m}}\n  \
             - {{expr: 'vector(1)', eval_time: 0m, exp_samples: [{{labels: '{metric}', value: 1}}]}}\n"
        ));
    }
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("generated.yml");
    std::fs::write(&file, &test).unwrap();
    let got = ours(std::slice::from_ref(&file));
    assert!(!got.pass, "the corpus holds invalid notations");
    assert!(got.stderr.matches("parse error").count() > 50, "{}", got.stderr);
    let Some(promtool) = promtool() else {
        eprintln!("promtool is not on PATH: not comparing the generated corpus");
        return;
    };
    let want = theirs(&promtool, std::slice::from_ref(&file));
    assert_eq!(want.stdout, got.stdout);
    if want.stderr != got.stderr {
        let first = want.stderr.lines().zip(got.stderr.lines()).find(|(a, b)| a != b);
        panic!("stderr differs; first differing line (promtool, ours): {first:?}");
    }
}

#[test]
fn pathological_files_fail_with_a_clear_error_instead_of_exhausting_memory() {
    let root = tempfile::tempdir().unwrap();
    let steps = root.path().join("steps.yml");
    std::fs::write(
        &steps,
        "evaluation_interval: 1ms\ntests:\n- interval: 1m\n  promql_expr_test:\n  - {expr: '1', eval_time: 100d}\n",
    )
    .unwrap();
    let got = ours(std::slice::from_ref(&steps));
    assert!(!got.pass);
    assert!(got.stderr.contains("evaluating up to 100d every 1ms takes more than 5000000 steps"), "{}", got.stderr);

    let samples = root.path().join("samples.yml");
    let series: String = (0..5).map(|i| format!("  - {{series: s{i}, values: '1x4999999'}}\n")).collect();
    std::fs::write(&samples, format!("tests:\n- interval: 1m\n  input_series:\n{series}")).unwrap();
    let got = ours(std::slice::from_ref(&samples));
    assert!(got.stderr.contains("input series expand to more than 20000000 samples"), "{}", got.stderr);

    let repetition = root.path().join("repetition.yml");
    std::fs::write(&repetition, "tests:\n- interval: 1m\n  input_series:\n  - {series: s, values: '1x9999999999'}\n")
        .unwrap();
    let got = ours(std::slice::from_ref(&repetition));
    assert!(got.stderr.contains("is too long"), "{}", got.stderr);
}
