//! The test file (`unitTestFile` in promtool's `unittest.go`), decoded with yaml.v2's
//! strict rules so a bad file fails with promtool's message.

use crate::yaml::{Decoder, Node};

/// A whole test file.
#[derive(Debug, Clone, Default)]
pub struct UnitTestFile {
    /// `rule_files`: paths or globs, relative to the test file.
    pub rule_files: Vec<String>,
    /// `evaluation_interval` in ms (0 when unset: the caller applies the 1m default).
    pub evaluation_interval_ms: i64,
    /// `group_eval_order`.
    pub group_eval_order: Vec<String>,
    /// `tests`.
    pub tests: Vec<TestGroup>,
}

/// One entry of `tests`.
#[derive(Debug, Clone, Default)]
pub struct TestGroup {
    /// `interval`: the step between input samples, in ms.
    pub interval_ms: i64,
    /// `input_series`.
    pub input_series: Vec<InputSeries>,
    /// `alert_rule_test`.
    pub alert_rule_tests: Vec<AlertTestCase>,
    /// `promql_expr_test`.
    pub promql_expr_tests: Vec<PromqlTestCase>,
    /// `external_labels`, sorted by name.
    pub external_labels: Vec<(String, String)>,
    /// `external_url`.
    pub external_url: String,
    /// `name`.
    pub name: String,
}

/// One entry of `input_series`.
#[derive(Debug, Clone, Default)]
pub struct InputSeries {
    /// `series`: `name{label="value"}`.
    pub series: String,
    /// `values`: the expanding notation.
    pub values: String,
}

/// One entry of `alert_rule_test`.
#[derive(Debug, Clone, Default)]
pub struct AlertTestCase {
    /// `eval_time` in ms.
    pub eval_time_ms: i64,
    /// `alertname`.
    pub alertname: String,
    /// `exp_alerts`.
    pub exp_alerts: Vec<ExpAlert>,
}

/// One expected alert.
#[derive(Debug, Clone, Default)]
pub struct ExpAlert {
    /// `exp_labels`.
    pub exp_labels: Vec<(String, String)>,
    /// `exp_annotations`.
    pub exp_annotations: Vec<(String, String)>,
}

/// One entry of `promql_expr_test`.
#[derive(Debug, Clone, Default)]
pub struct PromqlTestCase {
    /// `expr`.
    pub expr: String,
    /// `eval_time` in ms.
    pub eval_time_ms: i64,
    /// `exp_samples`.
    pub exp_samples: Vec<ExpSample>,
}

/// One expected sample.
#[derive(Debug, Clone, Default)]
pub struct ExpSample {
    /// `labels`: `name{label="value"}` or `{}`.
    pub labels: String,
    /// `value`.
    pub value: f64,
}

/// Decodes a test file's text; the error is promtool's message.
pub fn decode(text: &str) -> Result<UnitTestFile, crate::DecodeError> {
    let Some(root) = crate::yaml::parse(text)? else { return Ok(UnitTestFile::default()) };
    let mut d = Decoder::default();
    let file = unit_test_file(&mut d, &root);
    d.finish().map(|()| file)
}

fn strings(d: &mut Decoder, n: &Node) -> Vec<String> {
    let items = d.seq(n, "[]string");
    items.iter().map(|i| d.string(i)).collect()
}

fn unit_test_file(d: &mut Decoder, n: &Node) -> UnitTestFile {
    let mut f = UnitTestFile::default();
    for (key, v) in d.fields(n, "unitTestFile", &["rule_files", "evaluation_interval", "group_eval_order", "tests"]) {
        match key {
            "rule_files" => f.rule_files = strings(d, v),
            "evaluation_interval" => f.evaluation_interval_ms = d.duration(v),
            "group_eval_order" => f.group_eval_order = strings(d, v),
            _ => {
                let items = d.seq(v, "[]main.testGroup");
                f.tests = items.iter().map(|i| test_group(d, i)).collect();
            }
        }
    }
    f
}

fn test_group(d: &mut Decoder, n: &Node) -> TestGroup {
    let mut g = TestGroup::default();
    let known =
        ["interval", "input_series", "alert_rule_test", "promql_expr_test", "external_labels", "external_url", "name"];
    for (key, v) in d.fields(n, "testGroup", &known) {
        match key {
            "interval" => g.interval_ms = d.duration(v),
            "input_series" => {
                let items = d.seq(v, "[]main.series");
                g.input_series = items.iter().map(|i| input_series(d, i)).collect();
            }
            "alert_rule_test" => {
                let items = d.seq(v, "[]main.alertTestCase");
                g.alert_rule_tests = items.iter().map(|i| alert_test_case(d, i)).collect();
            }
            "promql_expr_test" => {
                let items = d.seq(v, "[]main.promqlTestCase");
                g.promql_expr_tests = items.iter().map(|i| promql_test_case(d, i)).collect();
            }
            "external_labels" => {
                // labels.Labels: a map, then sorted (labels.FromMap).
                let mut l = d.string_map(v).unwrap_or_default();
                l.sort();
                g.external_labels = l;
            }
            "external_url" => g.external_url = d.string(v),
            _ => g.name = d.string(v),
        }
    }
    g
}

fn input_series(d: &mut Decoder, n: &Node) -> InputSeries {
    let mut s = InputSeries::default();
    for (key, v) in d.fields(n, "series", &["series", "values"]) {
        match key {
            "series" => s.series = d.string(v),
            _ => s.values = d.string(v),
        }
    }
    s
}

fn alert_test_case(d: &mut Decoder, n: &Node) -> AlertTestCase {
    let mut c = AlertTestCase::default();
    for (key, v) in d.fields(n, "alertTestCase", &["eval_time", "alertname", "exp_alerts"]) {
        match key {
            "eval_time" => c.eval_time_ms = d.duration(v),
            "alertname" => c.alertname = d.string(v),
            _ => {
                let items = d.seq(v, "[]main.alert");
                c.exp_alerts = items.iter().map(|i| exp_alert(d, i)).collect();
            }
        }
    }
    c
}

fn exp_alert(d: &mut Decoder, n: &Node) -> ExpAlert {
    let mut a = ExpAlert::default();
    for (key, v) in d.fields(n, "alert", &["exp_labels", "exp_annotations"]) {
        match key {
            "exp_labels" => a.exp_labels = d.string_map(v).unwrap_or_default(),
            _ => a.exp_annotations = d.string_map(v).unwrap_or_default(),
        }
    }
    a
}

fn promql_test_case(d: &mut Decoder, n: &Node) -> PromqlTestCase {
    let mut c = PromqlTestCase::default();
    for (key, v) in d.fields(n, "promqlTestCase", &["expr", "eval_time", "exp_samples"]) {
        match key {
            "expr" => c.expr = d.string(v),
            "eval_time" => c.eval_time_ms = d.duration(v),
            _ => {
                let items = d.seq(v, "[]main.sample");
                c.exp_samples = items.iter().map(|i| exp_sample(d, i)).collect();
            }
        }
    }
    c
}

fn exp_sample(d: &mut Decoder, n: &Node) -> ExpSample {
    let mut s = ExpSample::default();
    for (key, v) in d.fields(n, "sample", &["labels", "value"]) {
        match key {
            "labels" => s.labels = d.string(v),
            _ => s.value = d.float(v),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_full_file() {
        let f = decode(
            r#"
rule_files: [a.yml, "b/*.yml"]
evaluation_interval: 30s
group_eval_order: [g2, g1]
tests:
  - interval: 1m
    name: t
    external_labels: {z: "1", a: "2"}
    external_url: http://x
    input_series:
      - series: 'up{job="a"}'
        values: 1 0x5
    alert_rule_test:
      - eval_time: 5m
        alertname: Down
        exp_alerts:
          - exp_labels: {job: a}
            exp_annotations: {summary: "s"}
    promql_expr_test:
      - expr: up
        eval_time: 1m
        exp_samples:
          - labels: 'up{job="a"}'
            value: 0
          - labels: '{}'
            value: .inf
"#,
        )
        .unwrap();
        assert_eq!(f.rule_files, vec!["a.yml", "b/*.yml"]);
        assert_eq!(f.evaluation_interval_ms, 30_000);
        let t = &f.tests[0];
        assert_eq!(t.external_labels, vec![("a".into(), "2".into()), ("z".into(), "1".into())]);
        assert_eq!(t.input_series[0].values, "1 0x5");
        assert_eq!(t.alert_rule_tests[0].eval_time_ms, 300_000);
        assert_eq!(t.alert_rule_tests[0].exp_alerts[0].exp_annotations, vec![("summary".into(), "s".into())]);
        assert_eq!(t.promql_expr_tests[0].exp_samples[1].value, f64::INFINITY);
    }

    #[test]
    fn errors_read_like_promtool() {
        // Messages checked against promtool 2.42.
        let e = decode("rule_files: [r.yml]\nbogus: 1\ntests:\n- interval: 1m\n  foo: 2\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "yaml: unmarshal errors:\n  line 2: field bogus not found in type main.unitTestFile\n  \
             line 5: field foo not found in type main.testGroup"
        );
        assert_eq!(
            decode("- a\n").unwrap_err().to_string(),
            "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into main.unitTestFile"
        );
        let e = decode("tests:\n- interval: 1m\n  promql_expr_test:\n  - expr: 1\n    eval_time: 5x\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "not a valid duration string: \"5x\"");
        let e = decode(
            "tests:\n- interval: 1m\n  promql_expr_test:\n  - expr: 1\n    eval_time: [1]\n    exp_samples: [{labels: \"{}\", value: \"1\"}]\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "yaml: unmarshal errors:\n  line 5: cannot unmarshal !!seq into string\n  \
             line 6: cannot unmarshal !!str `1` into float64"
        );
        assert!(decode("").unwrap().tests.is_empty());
        assert!(decode("tests:\n").unwrap().tests.is_empty());
    }
}
