//! Rule file parsing and validation: positions and messages (compared with
//! `promtool check rules` 2.42 on the same files where it reports positions).

use lookout_rules::{Rule, load_rule_files, parse_rule_file};

fn errors(text: &str) -> Vec<String> {
    match parse_rule_file("r.yml", text) {
        Ok(g) => panic!("expected errors, got {} groups", g.len()),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn parses_a_valid_file() {
    let text = r#"
groups:
  - name: api
    interval: 30s
    query_offset: 1m
    limit: 10
    labels:
      team: api
      tier: backend
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
        labels:
          tier: frontend
      - alert: HighErrorRate
        expr: |
          job:http_requests:rate5m > 1
        for: 5m
        keep_firing_for: 10m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} is at {{ $value }}"
  - name: empty
    rules: []
"#;
    let groups = parse_rule_file("r.yml", text).unwrap();
    assert_eq!(groups.len(), 2);
    let g = &groups[0];
    assert_eq!((g.name.as_str(), g.interval_ms, g.query_offset_ms, g.limit), ("api", Some(30_000), Some(60_000), 10));
    assert_eq!(g.position.to_string(), "r.yml:3:5");
    assert_eq!(g.rules.len(), 2);
    let Rule::Recording(rec) = &g.rules[0] else { panic!("recording rule expected") };
    assert_eq!(rec.name, "job:http_requests:rate5m");
    // Group labels merged in, the rule's own winning.
    assert_eq!(rec.labels, vec![("team".into(), "api".into()), ("tier".into(), "frontend".into())]);
    assert_eq!(rec.position.to_string(), "r.yml:11:9");
    assert_eq!(rec.expr_position.to_string(), "r.yml:12:15");
    let Rule::Alerting(a) = &g.rules[1] else { panic!("alerting rule expected") };
    assert_eq!((a.for_ms, a.keep_firing_for_ms), (300_000, 600_000));
    assert_eq!(a.expr_text.trim(), "job:http_requests:rate5m > 1");
    // A block scalar's position is where its text starts (promtool gives the `|`).
    assert_eq!(a.expr_position.to_string(), "r.yml:17:11");
    assert_eq!(a.annotations, vec![("summary".into(), "{{ $labels.job }} is at {{ $value }}".into())]);
    assert_eq!(g.rules[1].kind(), "alerting");
    assert_eq!(g.rules[0].kind(), "recording");
    assert!(groups[1].rules.is_empty());
    assert_eq!(groups[1].interval_ms, None);
}

#[test]
fn empty_files_have_no_groups() {
    assert!(parse_rule_file("r.yml", "").unwrap().is_empty());
    assert!(parse_rule_file("r.yml", "# nothing\n\n").unwrap().is_empty());
    assert!(parse_rule_file("r.yml", "groups: []\n").unwrap().is_empty());
}

/// The same file `promtool check rules` 2.42 reports as:
/// ```text
/// bad.yml: 6:17: 5:16: group "g", rule 1, "A": only one of 'record' and 'alert' must be set
/// bad.yml: 9:15: group "g", rule 2, "bad-name": could not parse expression: 1:7: parse error: unclosed left parenthesis
/// bad.yml: 8:17: group "g", rule 2, "bad-name": invalid field 'annotations' in recording rule
/// bad.yml: 8:17: group "g", rule 2, "bad-name": invalid field 'for' in recording rule
/// bad.yml: 8:17: group "g", rule 2, "bad-name": invalid recording rule name: bad-name
/// bad.yml: group "g", rule 3, "X": invalid label name: bad-label
/// bad.yml: group "g", rule 3, "X": annotation "summary": template: __alert_X:1: unexpected "}" in operand
/// bad.yml: 0:0: group "g", rule 4, "": one of 'record' or 'alert' must be set
/// bad.yml: 22:5: groupname: "g" is repeated in the same file
/// bad.yml: 24:5: Groupname must not be empty
/// bad.yml: 27:15: group "", rule 1, "ok": could not parse expression: 1:11: parse error: unclosed left parenthesis
/// ```
/// Every problem gets a position here, the more precise one where promtool's is coarse.
#[test]
fn every_problem_with_its_position() {
    let text = r#"groups:
  - name: g
    interval: 1m
    rules:
      - alert: A
        record: b
        expr: up
      - record: bad-name
        expr: sum(up
        for: 5m
        annotations:
          a: b
      - alert: X
        expr: up == 0
        for: 5m
        labels:
          bad-label: x
          ok: "{{ $labels.foo "
        annotations:
          summary: "{{ .Foo }"
      - expr: up
  - name: g
    rules: []
  - name: ""
    rules:
      - record: ok
        expr: rate(x[5m]
"#;
    let got = errors(text);
    assert_eq!(
        got,
        vec![
            "r.yml:6:17: group \"g\", rule 1, \"A\": only one of 'record' and 'alert' must be set",
            "r.yml:8:17: group \"g\", rule 2, \"bad-name\": invalid recording rule name: bad-name",
            "r.yml:9:15: group \"g\", rule 2, \"bad-name\": could not parse expression: parse error: unclosed left parenthesis",
            "r.yml:10:14: group \"g\", rule 2, \"bad-name\": invalid field 'for' in recording rule",
            "r.yml:12:11: group \"g\", rule 2, \"bad-name\": invalid field 'annotations' in recording rule",
            "r.yml:17:11: group \"g\", rule 3, \"X\": invalid label name: bad-label",
            "r.yml:18:15: group \"g\", rule 3, \"X\": label \"ok\": template: __alert_X:1: unclosed action",
            "r.yml:20:20: group \"g\", rule 3, \"X\": annotation \"summary\": template: __alert_X:1: unexpected \"}\" in operand",
            "r.yml:21:9: group \"g\", rule 4, \"\": one of 'record' or 'alert' must be set",
            "r.yml:22:5: groupname: \"g\" is repeated in the same file",
            "r.yml:24:5: Groupname must not be empty",
            "r.yml:27:15: group \"\", rule 1, \"ok\": could not parse expression: parse error: unclosed left parenthesis",
        ]
    );
}

#[test]
fn unknown_keys_everywhere_are_all_reported() {
    let text = "groups:\n  - name: g\n    intervall: 1m\n    rules:\n      - alert: A\n        expr: up\n        four: 5m\nother: 1\n";
    assert_eq!(
        errors(text),
        vec![
            "r.yml:3:5: field intervall not found in a rule group (valid fields: name, interval, query_offset, limit, labels, rules)",
            "r.yml:7:9: field four not found in a rule (valid fields: record, alert, expr, for, keep_firing_for, labels, annotations)",
            "r.yml:8:1: field other not found in the rule file (valid fields: groups)",
        ]
    );
}

#[test]
fn durations_are_prometheus_durations_at_their_position() {
    let text = "groups:\n  - name: g\n    interval: 1x\n    query_offset: 5 m\n    rules:\n      - alert: A\n        expr: up\n        for: 1h30\n        keep_firing_for: 2d\n";
    assert_eq!(
        errors(text),
        vec![
            "r.yml:3:15: not a valid duration string: \"1x\"",
            "r.yml:4:19: not a valid duration string: \"5 m\"",
            "r.yml:8:14: group \"g\", rule 1, \"A\": not a valid duration string: \"1h30\"",
        ]
    );
    let zero = "groups:\n  - name: g\n    interval: 0s\n    query_offset: 0s\n    rules: []\n";
    let g = parse_rule_file("r.yml", zero).unwrap();
    assert_eq!((g[0].interval_ms, g[0].query_offset_ms), (None, Some(0)));
}

#[test]
fn recording_rules_refuse_alerting_fields_unless_zero() {
    let text = "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n        for: 0s\n        keep_firing_for: 1m\n";
    assert_eq!(
        errors(text),
        vec!["r.yml:7:26: group \"g\", rule 1, \"a\": invalid field 'keep_firing_for' in recording rule"]
    );
}

#[test]
fn names_labels_and_expressions() {
    let text = r#"groups:
  - name: g
    labels:
      __name__: x
    rules:
      - record: "foo{job=\"a\"}"
        expr: up
      - alert: A
        expr: ""
      - alert: B
        expr: histogram_count(x)
      - alert: C
        expr: up[5m]
        annotations:
          bad-name: x
      - record: r
        expr: 1
"#;
    assert_eq!(
        errors(text),
        vec![
            "r.yml:4:7: invalid label name: __name__",
            "r.yml:6:17: group \"g\", rule 1, \"foo{job=\\\"a\\\"}\": braces present in the recording rule name; should it be in expr?: foo{job=\"a\"}",
            "r.yml:9:15: group \"g\", rule 2, \"A\": field 'expr' must be set in rule",
            "r.yml:11:15: group \"g\", rule 3, \"B\": unsupported PromQL: function histogram_count (in `histogram_count(x)`)",
            "r.yml:13:15: group \"g\", rule 4, \"C\": the expression must evaluate to an instant vector or a scalar, not a range vector",
            "r.yml:15:11: group \"g\", rule 4, \"C\": invalid annotation name: bad-name",
        ]
    );
}

#[test]
fn yaml_errors_are_fatal_with_a_position() {
    let e = errors("groups:\n  - name: g\n    rules: nope\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("r.yml:3:12: "), "{}", e[0]);
    let e = errors("groups:\n  - name: [g\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("r.yml:"), "{}", e[0]);
}

#[test]
fn duplicate_keys_and_documents() {
    let dup = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        expr: down\n";
    assert_eq!(errors(dup), vec!["r.yml:6:9: mapping key \"expr\" already defined"]);
    let multi = "groups: []\n---\ngroups:\n  - name: x\n    rules: []\n";
    assert_eq!(errors(multi), vec!["r.yml:3:1: a rule file holds one YAML document (a second one starts here)"]);
}

#[test]
fn wrong_types() {
    assert_eq!(
        errors("groups:\n  - name: g\n    limit: abc\n    rules: []\n"),
        vec!["r.yml:3:12: limit must be an integer, not \"abc\""]
    );
    assert_eq!(
        errors("groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up\n        labels: [a]\n"),
        vec!["r.yml:6:17: expected a map (`name: value` entries) here"]
    );
    let e = errors("groups:\n  - just a string\n");
    assert!(e[0].starts_with("r.yml:2:5: invalid type: string"), "{e:?}");
}

#[test]
fn numbers_and_bools_are_strings_where_prometheus_reads_strings() {
    let text = "groups:\n  - name: 2024\n    rules:\n      - record: r\n        expr: 1\n        labels:\n          prio: 2\n          on: true\n";
    let g = parse_rule_file("r.yml", text).unwrap();
    assert_eq!(g[0].name, "2024");
    assert_eq!(
        g[0].rules[0].labels(),
        &[("prio".to_string(), "2".to_string()), ("on".to_string(), "true".to_string())]
    );
}

#[test]
fn globs_and_duplicate_groups_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let one = "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n";
    std::fs::write(dir.path().join("a.yml"), one).unwrap();
    std::fs::write(dir.path().join("b.yml"), one).unwrap();
    std::fs::write(
        dir.path().join("c.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: 'a b'\n        expr: up\n",
    )
    .unwrap();
    let pat = |p: &str| dir.path().join(p).display().to_string();
    // The same group name in two files is fine; a pattern matching nothing too; a
    // file named twice is read once.
    let groups = load_rule_files(&[pat("[ab].yml"), pat("none-*.yml"), pat("a.yml")]).unwrap();
    assert_eq!(groups.len(), 2);
    assert!(groups[0].file.ends_with("a.yml") && groups[1].file.ends_with("b.yml"));
    let err = load_rule_files(&[pat("*.yml")]).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(
        err.0[0].to_string(),
        format!("{}:4:17: group \"g\", rule 1, \"a b\": invalid recording rule name: a b", pat("c.yml"))
    );
    let missing = lookout_rules::load_rule_file(&dir.path().join("missing.yml")).unwrap_err();
    assert!(missing.to_string().contains("cannot read file"), "{missing}");
}

#[test]
fn same_definition_ignores_positions() {
    let a = parse_rule_file("r.yml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n").unwrap();
    let b = parse_rule_file("r.yml", "\n\ngroups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n").unwrap();
    let c = parse_rule_file(
        "r.yml",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        for: 1m\n",
    )
    .unwrap();
    let d =
        parse_rule_file("r.yml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          up\n")
            .unwrap();
    assert!(a[0].same_definition(&b[0]));
    assert!(a[0].same_definition(&d[0]));
    assert!(!a[0].same_definition(&c[0]));
}

/// Bad input gives errors, never a panic: every prefix of a valid file, and the file with
/// each line's indentation broken.
#[test]
fn truncated_and_mangled_files_never_panic() {
    let text = r#"groups:
  - name: api
    interval: 30s
    labels: {team: api}
    rules:
      - record: job:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
      - alert: High
        expr: |
          job:rate5m > 1
        for: 5m
        keep_firing_for: 1m
        labels:
          severity: "{{ if gt $value 2.0 }}page{{ end }}"
        annotations:
          summary: "{{ $labels.job }}: {{ $value | humanize }}"
"#;
    let mut outcomes = (0, 0);
    for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
        match parse_rule_file("r.yml", &text[..end]) {
            Ok(_) => outcomes.0 += 1,
            Err(e) => {
                assert!(!e.0.is_empty());
                outcomes.1 += 1;
            }
        }
    }
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "{outcomes:?}");
    let lines: Vec<&str> = text.lines().collect();
    for i in 0..lines.len() {
        let mut mangled = lines.clone();
        let shifted = format!(" {}", lines[i]);
        mangled[i] = &shifted;
        let _ = parse_rule_file("r.yml", &mangled.join("\n"));
        let mut dropped = lines.clone();
        dropped.remove(i);
        let _ = parse_rule_file("r.yml", &dropped.join("\n"));
    }
}
