//! Alerting-rule annotations as Prometheus expands them. Expected outputs were printed by the
//! real Prometheus (`promtool test rules`, 2.42, the Debian package) for one alert over the
//! series `m{instance="a:9090",job="j"} = 1234.5678`; `matches_real_promtool` re-checks every
//! case against `promtool` when it is installed (the test command installs it).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use lookout_template::data::{PROMETHEUS_ALERT_PREFIX, prometheus_alert_data};
use lookout_template::{Funcs, QueryHook, Value, render_named};

/// (annotation template, what Prometheus expands it to).
const CASES: &[(&str, &str)] = &[
    (r#"{{ $value }}|{{ .Value }}|{{ $labels.instance }}|[{{ $labels.nope }}]"#, r#"1234.5678|1234.5678|a:9090|[]"#),
    (
        r#"{{ $value | humanize }}|{{ humanize1024 $value }}|{{ humanizeDuration $value }}|{{ humanizePercentage 0.5 }}|{{ humanizeTimestamp $value }}"#,
        r#"1.235k|1.206ki|20m 34s|50%|1970-01-01 00:20:34.567 +0000 UTC"#,
    ),
    (
        r#"{{ printf "%.2f|%d|%s|%v|%q|%e|%g" $value 3 "s" $value "q" $value $value }}"#,
        r#"1234.57|3|s|1234.5678|"q"|1.234568e+03|1234.5678"#,
    ),
    (
        r#"{{ $labels }}|{{ .Labels.job }}|{{ len $labels }}|{{ index $labels "job" }}"#,
        r#"map[__name__:m instance:a:9090 job:j]|j|3|j"#,
    ),
    (r#"{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"#, r#"__name__=m;instance=a:9090;job=j;"#),
    (r#"{{ if gt $value 1000.0 }}big{{ else if gt $value 1.0 }}mid{{ else }}small{{ end }}"#, r#"big"#),
    (
        r#"{{ with query "m" }}{{ range . }}{{ .Labels.instance }}:{{ .Value }}{{ end }}{{ end }}"#,
        r#"a:9090:1234.5678"#,
    ),
    (r#"{{ query "m" | first | label "job" }}|{{ query "m" | first | value | humanize }}"#, r#"j|1.235k"#),
    (
        r#"{{ $labels.instance | stripPort }}|{{ "h.example.com:80" | stripDomain }}|{{ title "a b" }}|{{ toUpper "x" }}|{{ toLower "Y" }}"#,
        r#"a|h:80|A B|X|y"#,
    ),
    (r#"{{ reReplaceAll ":[0-9]+$" "" $labels.instance }}|{{ match "^a" $labels.instance }}"#, r#"a|true"#),
    (
        r#"{{ graphLink "rate(m[5m])" }}|{{ tableLink "up" }}"#,
        r#"/graph?g0.expr=rate%28m%5B5m%5D%29&g0.tab=0|/graph?g0.expr=up&g0.tab=1"#,
    ),
    (
        r#"{{ (toTime 1435065584.128).Format "2006-01-02 15:04" }}|{{ parseDuration "1m30s" }}"#,
        r#"2015-06-23 13:19|90"#,
    ),
    (
        r#"{{ define "x" }}<{{ . }}>{{ end }}{{ template "x" $value }}{{ template "x" (args 1 "b").arg1 }}"#,
        r#"<1234.5678><b>"#,
    ),
    (r#"{{ $x := 1 }}{{ range $labels }}{{ $x = 2 }}{{ end }}{{ $x }}|{{ $value | printf "%.0f" }}"#, r#"2|1235"#),
    (
        r#"{{ eq $labels.job "j" }}|{{ ne .Value 0.0 }}|{{ and $labels.job $labels.nope }}|{{ or $labels.nope "dflt" }}"#,
        r#"true|true||dflt"#,
    ),
    (
        r#"{{ html "<a>" }}|{{ js "'" }}|{{ urlquery "a b" }}|{{ print 1 2 }}|{{ len "abc" }}|{{ slice "abcd" 1 3 }}"#,
        r#"&lt;a&gt;|\'|a+b|1 2|3|bc"#,
    ),
    (r#"{{ $externalURL }}|{{ $externalLabels }}|{{ len $externalLabels }}"#, r#"|map[]|0"#),
    (r#"{{ 1e21 }}|{{ 0.1 }}|{{ 100.0 }}|{{ -1.5e-7 }}"#, r#"1e+21|0.1|100|-1.5e-07"#),
    (
        r#"{{ $value | humanizeDuration }}|{{ 0.000123 | humanizeDuration }}|{{ 86461 | humanizeDuration }}"#,
        r#"20m 34s|123us|1d 0h 1m 1s"#,
    ),
    (r#"{{ sortByLabel "instance" (query "m") | len }}|{{ strvalue (query "m" | first) }}|"#, r#"1||"#),
    // Errors: Prometheus shows `<error expanding template: error executing template NAME: …>`
    // around our message (the rules crate adds that wrapping).
    (
        "{{ if gt $value 1 }}x{{ end }}",
        r#"template: __alert_A:1:118: executing "__alert_A" at <gt $value 1>: error calling gt: incompatible types for comparison"#,
    ),
    (
        "{{ $labels.instance.x }}",
        r#"template: __alert_A:1:122: executing "__alert_A" at <$labels.instance.x>: can't evaluate field x in type string"#,
    ),
    (
        r#"{{ humanize "x" }}"#,
        r#"template: __alert_A:1:115: executing "__alert_A" at <humanize "x">: error calling humanize: strconv.ParseFloat: parsing "x": invalid syntax"#,
    ),
    (
        "{{ index $labels 1 }}",
        r#"template: __alert_A:1:115: executing "__alert_A" at <index $labels 1>: error calling index: value has type int; should be string"#,
    ),
    (
        r#"{{ query "m" | first | first }}"#,
        r#"template: __alert_A:1:135: executing "__alert_A" at <first>: wrong type for value; expected template.queryResult; got *template.sample"#,
    ),
];

fn expand(text: &str) -> String {
    let labels: BTreeMap<String, String> = [("__name__", "m"), ("instance", "a:9090"), ("job", "j")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let vector = vec![(labels.clone(), 1234.5678)];
    let hook: QueryHook = Arc::new(move |_q: &str| Ok(vector.clone()));
    let funcs = Funcs::go_builtins().with_prometheus(Some(hook));
    let data: Value = prometheus_alert_data(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())), [], "", 1234.5678);
    render_named("__alert_A", &format!("{PROMETHEUS_ALERT_PREFIX}{text}"), &data, &funcs)
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn annotations_expand_like_prometheus() {
    for (text, want) in CASES {
        assert_eq!(expand(text), *want, "template {text:?}");
    }
}

/// Reads `name="quoted", …` as Go's `labels.Labels.String()` prints it.
fn parse_label_set(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim().trim_start_matches('{').trim_end_matches('}');
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches([',', ' ']).to_string();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = 0;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = eq + 2 + i + 1;
                    break;
                }
                '\\' => match chars.next().map(|x| x.1) {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some(c) => value.push(c),
                    None => {}
                },
                c => value.push(c),
            }
        }
        out.insert(name, value);
        rest = &rest[end..];
    }
    out
}

#[test]
fn matches_real_promtool() {
    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!("promtool not installed; the table's expectations are not re-checked against it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // JSON is YAML: one alerting rule whose annotations are the cases.
    let annotations: serde_json::Map<String, serde_json::Value> =
        CASES.iter().enumerate().map(|(i, (t, _))| (format!("a{i:02}"), serde_json::Value::from(*t))).collect();
    let rules = serde_json::json!({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "m > 0", "annotations": annotations}]}]});
    std::fs::write(dir.path().join("rules.yml"), rules.to_string()).unwrap();
    // An expectation that cannot match makes promtool print what it got.
    std::fs::write(
        dir.path().join("test.yml"),
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n  - series: 'm{instance=\"a:9090\",job=\"j\"}'\n    values: '1234.5678 1234.5678'\n  alert_rule_test:\n  - eval_time: 1m\n    alertname: A\n    exp_alerts:\n    - exp_labels: {instance: \"a:9090\", job: j}\n      exp_annotations: {}\n",
    )
    .unwrap();
    let out =
        Command::new("promtool").arg("test").arg("rules").arg("test.yml").current_dir(dir.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let got_at = text.find("got:").unwrap_or_else(|| panic!("no got: in promtool output: {text}"));
    let line = text[got_at..].lines().find(|l| l.trim_start().starts_with("Annotations:")).expect("annotations line");
    let got = parse_label_set(line.trim_start().trim_start_matches("Annotations:"));
    assert_eq!(got.len(), CASES.len(), "promtool printed {line}");
    for (i, (t, want)) in CASES.iter().enumerate() {
        let want = if want.starts_with("template: ") {
            format!("<error expanding template: error executing template __alert_A: {want}>")
        } else {
            want.to_string()
        };
        assert_eq!(got.get(&format!("a{i:02}")), Some(&want), "promtool on {t:?}");
    }
}
