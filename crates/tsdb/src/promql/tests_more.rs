//! Evaluator tests: binary operators, vector matching, instant-vector functions,
//! histogram_quantile, date functions, and `check`.

use promql_parser::parser::parse;

use super::tests::{add, approx, one, store, vec_at};
use super::*;

fn err(s: &Store, q: &str) -> String {
    match instant_query(s, q, 10_000) {
        Err(e) => e.to_string(),
        Ok(v) => panic!("{q}: expected an error, got {v:?}"),
    }
}

fn pairs(v: &[(&str, f64)]) -> Vec<(String, f64)> {
    v.iter().map(|(l, x)| (l.to_string(), *x)).collect()
}

#[test]
fn arithmetic_comparison_and_bool() {
    let s = store();
    add(&s, "a", &[("i", "1")], &[(0, 6.0)]);
    add(&s, "a", &[("i", "2")], &[(0, 2.0)]);
    add(&s, "b", &[("i", "1")], &[(0, 4.0)]);
    add(&s, "b", &[("i", "3")], &[(0, 1.0)]);
    let v = |q: &str| vec_at(&s, q, 10);
    assert_eq!(v("a + b"), pairs(&[("{i=\"1\"}", 10.0)]), "one-to-one, names ignored, unmatched dropped");
    assert_eq!(v("a * 2"), pairs(&[("{i=\"1\"}", 12.0), ("{i=\"2\"}", 4.0)]), "arithmetic drops the name");
    assert_eq!(v("a % 4"), pairs(&[("{i=\"1\"}", 2.0), ("{i=\"2\"}", 2.0)]));
    assert_eq!(v("2 ^ a")[1].1, 4.0);
    assert_eq!(v("-a")[0], ("{i=\"1\"}".into(), -6.0));
    assert_eq!(v("a / 0")[0].1, f64::INFINITY);
    assert_eq!(v("a > 3"), pairs(&[("a{i=\"1\"}", 6.0)]), "comparison filters and keeps the name");
    assert_eq!(v("3 < a"), pairs(&[("a{i=\"1\"}", 6.0)]), "scalar on the left keeps the vector value");
    assert_eq!(v("a > bool 3"), pairs(&[("{i=\"1\"}", 1.0), ("{i=\"2\"}", 0.0)]));
    assert_eq!(v("a > b"), pairs(&[("a{i=\"1\"}", 6.0)]));
    assert_eq!(v("a < bool b"), pairs(&[("{i=\"1\"}", 0.0)]));
    assert_eq!(v("a == 2"), pairs(&[("a{i=\"2\"}", 2.0)]));
    assert_eq!(v("a != 2"), pairs(&[("a{i=\"1\"}", 6.0)]));
    assert_eq!(v("a >= 6 or a <= 2").len(), 2);
    assert!(approx(v("a atan2 b")[0].1, 6f64.atan2(4.0)));
    match instant_query(&s, "1 < bool 2", 10_000).unwrap() {
        Value::Scalar(x) => assert_eq!(x, 1.0),
        other => panic!("{other:?}"),
    }
    match instant_query(&s, "2 * 3 + 1", 10_000).unwrap() {
        Value::Scalar(x) => assert_eq!(x, 7.0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn set_operators() {
    let s = store();
    add(&s, "a", &[("i", "1")], &[(0, 1.0)]);
    add(&s, "a", &[("i", "2")], &[(0, 2.0)]);
    add(&s, "b", &[("i", "2")], &[(0, 20.0)]);
    add(&s, "b", &[("i", "3")], &[(0, 30.0)]);
    let v = |q: &str| vec_at(&s, q, 10);
    assert_eq!(v("a and b"), pairs(&[("a{i=\"2\"}", 2.0)]), "and keeps lhs values and names");
    assert_eq!(v("a unless b"), pairs(&[("a{i=\"1\"}", 1.0)]));
    assert_eq!(v("a or b"), pairs(&[("a{i=\"1\"}", 1.0), ("a{i=\"2\"}", 2.0), ("b{i=\"3\"}", 30.0)]));
    assert_eq!(v("a and on() b").len(), 2, "on() matches everything when rhs is non-empty");
    assert!(v("a and on(i) nothing").is_empty());
}

#[test]
fn vector_matching_group_left_and_errors() {
    let s = store();
    add(&s, "req", &[("inst", "x"), ("path", "/a")], &[(0, 10.0)]);
    add(&s, "req", &[("inst", "x"), ("path", "/b")], &[(0, 20.0)]);
    add(&s, "req", &[("inst", "y"), ("path", "/a")], &[(0, 30.0)]);
    add(&s, "info", &[("inst", "x"), ("team", "red"), ("v", "1")], &[(0, 1.0)]);
    add(&s, "info", &[("inst", "y"), ("team", "blue"), ("v", "1")], &[(0, 2.0)]);
    let v = |q: &str| vec_at(&s, q, 10);
    assert_eq!(
        v("req * on(inst) group_left(team) info"),
        pairs(&[
            ("{inst=\"x\", path=\"/a\", team=\"red\"}", 10.0),
            ("{inst=\"x\", path=\"/b\", team=\"red\"}", 20.0),
            ("{inst=\"y\", path=\"/a\", team=\"blue\"}", 60.0),
        ])
    );
    assert_eq!(
        v("info * on(inst) group_right(team) req")[0],
        ("{inst=\"x\", path=\"/a\", team=\"red\"}".into(), 10.0),
        "group_right: the right side is many, values keep their sides"
    );
    assert_eq!(v("info - on(inst) group_right req")[2], ("{inst=\"y\", path=\"/a\"}".into(), -28.0));
    assert_eq!(v("req > on(inst) group_left info")[0].0, "req{inst=\"x\", path=\"/a\"}", "comparisons keep names");
    assert_eq!(v("sum by (inst) (req) / on(inst) info"), pairs(&[("{inst=\"x\"}", 30.0), ("{inst=\"y\"}", 15.0)]));
    assert_eq!(v("info / ignoring(team, v) sum by (inst) (req)")[0], ("{inst=\"x\"}".into(), 1.0 / 30.0));

    let e = err(&s, "info * on(v) group_left req");
    assert!(e.contains("many-to-many matching not allowed: matching labels must be unique on one side"), "{e}");
    assert_eq!(
        e,
        "found duplicate series for the match group {} on the right hand-side of the operation: \
         [{__name__=\"req\", inst=\"x\", path=\"/b\"}, {__name__=\"req\", inst=\"x\", path=\"/a\"}];\
         many-to-many matching not allowed: matching labels must be unique on one side"
    );
    let e = err(&s, "req * on(v) group_right info");
    assert!(e.contains("on the left hand-side"), "{e}");
    let e = err(&s, "req * on(inst) info");
    assert_eq!(e, "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
    let e = err(&s, "info * on(v) req");
    assert!(e.contains("many-to-many matching not allowed"), "{e}");
    assert_eq!(v("req * on(inst) group_left info * on() group_left vector(2)")[2].1, 120.0);
}

#[test]
fn dropped_names_must_stay_unique() {
    let s = store();
    add(&s, "a_total", &[("i", "1")], &[(0, 1.0), (5, 2.0)]);
    add(&s, "b_total", &[("i", "1")], &[(0, 1.0), (5, 2.0)]);
    assert_eq!(
        err(&s, "rate({__name__=~\"a_total|b_total\"}[1m])"),
        "vector cannot contain metrics with the same labelset"
    );
    assert_eq!(err(&s, "{__name__=~\"a_total|b_total\"} * 2"), "vector cannot contain metrics with the same labelset");
    assert_eq!(vec_at(&s, "{__name__=~\"a_total|b_total\"} > 0", 10).len(), 2);
    assert_eq!(vec_at(&s, "last_over_time({__name__=~\"a_total|b_total\"}[1m])", 10).len(), 2);
}

#[test]
fn histogram_quantile_classic_buckets() {
    let s = store();
    for (le, c) in [("1", 10.0), ("2", 20.0), ("+Inf", 30.0)] {
        add(&s, "h_bucket", &[("job", "a"), ("le", le)], &[(0, c)]);
    }
    assert_eq!(vec_at(&s, "histogram_quantile(0.5, h_bucket)", 10), pairs(&[("{job=\"a\"}", 1.5)]));
    assert!(approx(one(&s, "histogram_quantile(0.05, h_bucket)", 10), 0.15));
    assert_eq!(one(&s, "histogram_quantile(0.9, h_bucket)", 10), 2.0, "rank in +Inf bucket: the highest finite bound");
    assert_eq!(one(&s, "histogram_quantile(1.5, h_bucket)", 10), f64::INFINITY);
    assert!(one(&s, "histogram_quantile(0.5, h_bucket{le!=\"+Inf\"})", 10).is_nan(), "no +Inf bucket");
    // Non-monotonic buckets (le=2 below le=1) are forced monotonic: [10, 10, 20, 20].
    for (le, c) in [("1", 10.0), ("2", 8.0), ("3", 20.0), ("+Inf", 20.0)] {
        add(&s, "n_bucket", &[("le", le)], &[(0, c)]);
    }
    assert!(approx(one(&s, "histogram_quantile(0.75, n_bucket)", 10), 2.5));
    // Grouping ignores the name and `le`; a sum by le works as usual.
    for (le, c) in [("1", 5.0), ("2", 10.0), ("+Inf", 10.0)] {
        add(&s, "h_bucket", &[("job", "b"), ("le", le)], &[(0, c)]);
    }
    assert_eq!(vec_at(&s, "histogram_quantile(0.5, h_bucket)", 10).len(), 2);
    // Summed buckets [15, 30, 40]: rank 20 falls in (1, 2] holding 15 → 1 + 5/15.
    assert!(approx(one(&s, "histogram_quantile(0.5, sum by (le) (h_bucket))", 10), 1.0 + 5.0 / 15.0));
    // First bucket with a non-positive upper bound returns that bound.
    for (le, c) in [("-1", 5.0), ("+Inf", 10.0)] {
        add(&s, "z_bucket", &[("le", le)], &[(0, c)]);
    }
    assert_eq!(one(&s, "histogram_quantile(0.1, z_bucket)", 10), -1.0);
}

#[test]
fn label_replace_and_label_join() {
    let s = store();
    add(&s, "x", &[("src", "abc")], &[(0, 1.0)]);
    add(&s, "x", &[("src", "xabc")], &[(0, 2.0)]);
    let v = |q: &str| vec_at(&s, q, 10);
    assert_eq!(
        v("label_replace(x, \"dst\", \"<$1>\", \"src\", \"a(.*)\")"),
        pairs(&[("x{dst=\"<bc>\", src=\"abc\"}", 1.0), ("x{src=\"xabc\"}", 2.0)]),
        "the regex is anchored at both ends; no match leaves the series unchanged"
    );
    assert_eq!(v("label_replace(x, \"src\", \"\", \"src\", \"abc\")")[1].0, "x{}", "an empty result deletes");
    assert_eq!(
        v("label_replace(x, \"n\", \"${1}z\", \"src\", \"(x)?abc\")"),
        pairs(&[("x{n=\"xz\", src=\"xabc\"}", 2.0), ("x{n=\"z\", src=\"abc\"}", 1.0)]),
        "an unmatched group expands to nothing"
    );
    assert_eq!(
        v("label_replace(x, \"n\", \"$1z\", \"src\", \"(x)abc\")")[1].0,
        "x{src=\"xabc\"}",
        "$1z names group `1z`"
    );
    assert_eq!(v("label_replace(x, \"__name__\", \"y\", \"src\", \"abc\")")[1].0, "y{src=\"abc\"}");
    assert!(err(&s, "label_replace(x, \"d\", \"\", \"src\", \"(\")").contains("invalid regular expression"));
    assert_eq!(
        err(&s, "label_replace(x, \"src\", \"same\", \"src\", \".*\")"),
        "vector cannot contain metrics with the same labelset"
    );
    assert_eq!(v("label_join(x, \"j\", \"-\", \"src\", \"__name__\", \"none\")")[0].0, "x{j=\"abc-x-\", src=\"abc\"}");
}

#[test]
fn math_clamp_round_and_misc_functions() {
    let s = store();
    add(&s, "x", &[("i", "1")], &[(0, -2.5)]);
    add(&s, "x", &[("i", "2")], &[(5, 7.25)]);
    let v = |q: &str| vec_at(&s, q, 10).into_iter().map(|(_, x)| x).collect::<Vec<f64>>();
    assert_eq!(vec_at(&s, "abs(x)", 10), pairs(&[("{i=\"1\"}", 2.5), ("{i=\"2\"}", 7.25)]));
    assert_eq!(v("ceil(x)"), vec![-2.0, 8.0]);
    assert_eq!(v("floor(x)"), vec![-3.0, 7.0]);
    assert_eq!(v("round(x)"), vec![-2.0, 7.0], "ties round up");
    assert_eq!(v("round(x, 5)"), vec![0.0, 5.0]);
    assert_eq!(v("round(x, 0.5)"), vec![-2.5, 7.5]);
    assert_eq!(v("clamp(x, 0, 5)"), vec![0.0, 5.0]);
    assert!(v("clamp(x, 5, 0)").is_empty(), "max < min: empty");
    assert_eq!(v("clamp_min(x, 0)"), vec![0.0, 7.25]);
    assert_eq!(v("clamp_max(x, 0)"), vec![-2.5, 0.0]);
    assert!(v("clamp_max(x, NaN)")[0].is_nan(), "Go math.Min propagates NaN");
    assert_eq!(v("sqrt(x)")[1], 7.25f64.sqrt());
    assert_eq!(v("exp(x)")[0], (-2.5f64).exp());
    assert_eq!(v("ln(x)")[1], 7.25f64.ln());
    assert_eq!(v("log2(x)")[1], 7.25f64.log2());
    assert_eq!(v("log10(x)")[1], 7.25f64.log10());
    assert_eq!(v("sgn(x)"), vec![-1.0, 1.0]);
    assert_eq!(v("timestamp(x)"), vec![0.0, 5.0], "timestamp of a selector is the sample's");
    assert_eq!(v("timestamp(x * 1)"), vec![10.0, 10.0], "of a computed vector, the eval time");
    assert_eq!(v("timestamp(x offset 3s)"), vec![0.0, 5.0]);
    assert_eq!(v("timestamp(x offset 6s)"), vec![0.0], "(−296, 4]: only i=1's sample");
    match instant_query(&s, "sort_desc(x)", 10_000).unwrap() {
        Value::Vector(v) => assert_eq!(v[0].1, 7.25),
        other => panic!("{other:?}"),
    }
    match instant_query(&s, "sort(x)", 10_000).unwrap() {
        Value::Vector(v) => assert_eq!(v[0].1, -2.5),
        other => panic!("{other:?}"),
    }
    match instant_query(&s, "scalar(x{i=\"1\"})", 10_000).unwrap() {
        Value::Scalar(v) => assert_eq!(v, -2.5),
        other => panic!("{other:?}"),
    }
    match instant_query(&s, "scalar(x)", 10_000).unwrap() {
        Value::Scalar(v) => assert!(v.is_nan(), "more than one element"),
        other => panic!("{other:?}"),
    }
    match instant_query(&s, "time()", 12_500).unwrap() {
        Value::Scalar(v) => assert_eq!(v, 12.5),
        other => panic!("{other:?}"),
    }
    assert_eq!(vec_at(&s, "vector(3)", 10), pairs(&[("{}", 3.0)]));
    assert_eq!(vec_at(&s, "vector(time())", 10), pairs(&[("{}", 10.0)]));
    assert!(vec_at(&s, "absent(x)", 10).is_empty());
    assert_eq!(vec_at(&s, "absent(nope{job=\"a\", env=~\"p.*\"})", 10), pairs(&[("{job=\"a\"}", 1.0)]));
    assert_eq!(vec_at(&s, "absent(nope{job=\"a\", job=\"b\"})", 10), pairs(&[("{}", 1.0)]));
    assert_eq!(vec_at(&s, "absent(sum(nope))", 10), pairs(&[("{}", 1.0)]));
}

#[test]
fn date_functions() {
    let s = store();
    // 2024-02-29T13:45:30Z, a Thursday, day 60 of a leap year.
    let t = 1_709_214_330;
    add(&s, "ts", &[("k", "v")], &[(t - 100, t as f64)]);
    let at = |f: &str| one(&s, &format!("{f}(ts)"), t);
    assert_eq!(at("minute"), 45.0);
    assert_eq!(at("hour"), 13.0);
    assert_eq!(at("day_of_month"), 29.0);
    assert_eq!(at("day_of_week"), 4.0);
    assert_eq!(at("day_of_year"), 60.0);
    assert_eq!(at("days_in_month"), 29.0);
    assert_eq!(at("month"), 2.0);
    assert_eq!(at("year"), 2024.0);
    assert_eq!(vec_at(&s, "hour(ts)", t)[0].0, "{k=\"v\"}", "drops the name");
    assert_eq!(vec_at(&s, "year()", t), pairs(&[("{}", 2024.0)]), "defaults to vector(time())");
    assert_eq!(one(&s, "day_of_week()", t), 4.0);
    // Before the epoch: -60s is 1969-12-31T23:59:00Z, a Wednesday.
    assert_eq!(one(&s, "minute(vector(-60))", t), 59.0);
    assert_eq!(one(&s, "day_of_week(vector(-60))", t), 3.0);
    assert_eq!(one(&s, "year(vector(-60))", t), 1969.0);
    assert_eq!(one(&s, "days_in_month(vector(1709214330 - 86400 * 60))", t), 31.0, "Dec 2023");
}

#[test]
fn check_refuses_unimplemented_constructs() {
    let ok = ["rate(x[5m]) > 0", "sum by (a) (x) / on(a) group_left y", "max_over_time(x[1h:5m])", "-x @ start()"];
    for q in ok {
        assert_eq!(check(&parse(q).unwrap()), Ok(()), "{q}");
    }
    let e = check(&parse("sum(histogram_count(x))").unwrap()).unwrap_err();
    assert_eq!(e.construct, "function histogram_count");
    assert!(e.location.contains("histogram_count(x)"), "{}", e.location);
    let e = check(&parse("limitk(2, x)").unwrap()).unwrap_err();
    assert_eq!(e.construct, "aggregation limitk");
    let e = check(&parse("sort_by_label(x, \"a\")").unwrap()).unwrap_err();
    assert_eq!(e.construct, "function sort_by_label");
    let s = store();
    match instant_query(&s, "info(x)", 0) {
        Err(EvalError::Unsupported(u)) => assert_eq!(u.construct, "function info"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(instant_query(&s, "sum(", 0), Err(EvalError::Parse(_))));
}

#[test]
fn matching_checks_count_filtered_comparisons_and_skip_empty_sides() {
    let s = store();
    add(&s, "l", &[("k", "1"), ("x", "a")], &[(0, 1.0)]);
    add(&s, "l", &[("k", "1"), ("x", "b")], &[(0, 5.0)]);
    add(&s, "r", &[("k", "1")], &[(0, 3.0)]);
    add(&s, "r", &[("k", "1"), ("z", "q")], &[(0, 3.0)]);
    // Only one lhs element passes `>`, but both matched: Prometheus (3.x) errors.
    let e = err(&s, "l > on(k) r{z=\"\"}");
    assert!(e.starts_with("multiple matches for labels: many-to-one"), "{e}");
    assert_eq!(vec_at(&s, "l > on(k) group_left r{z=\"\"}", 10), vec![("l{k=\"1\", x=\"b\"}".to_string(), 5.0)]);
    // An empty side short-circuits before the duplicate check on the other.
    assert!(vec_at(&s, "nothing * on(k) r", 10).is_empty());
    assert!(err(&s, "l * on(k) group_left r").contains("many-to-many"));
    // timestamp() of a selector with @ ignores the offset (Prometheus quirk).
    add(&s, "p", &[], &[(0, 1.0), (50, 2.0)]);
    assert_eq!(one(&s, "timestamp(p @ 60 offset 20s)", 100), 50.0);
    assert_eq!(one(&s, "p @ 60 offset 20s", 100), 1.0);
}

#[test]
fn regex_matchers_are_anchored_and_accept_go_syntax() {
    let s = store();
    add(&s, "r", &[("v", "abc")], &[(0, 1.0)]);
    add(&s, "r", &[("v", "a{b}")], &[(0, 2.0)]);
    assert_eq!(vec_at(&s, "r{v=~\"b.*\"}", 10).len(), 0, "anchored at the start");
    assert_eq!(vec_at(&s, "r{v=~\"a.\"}", 10).len(), 0, "anchored at the end");
    assert_eq!(vec_at(&s, "r{v=~\"a.*\"}", 10).len(), 2);
    assert_eq!(vec_at(&s, "r{v!~\"abc\"}", 10), vec![("r{v=\"a{b}\"}".to_string(), 2.0)]);
    assert_eq!(
        vec_at(&s, "r{v=~\"a{b}\"}", 10),
        vec![("r{v=\"a{b}\"}".to_string(), 2.0)],
        "Go treats `{{b}}` literally"
    );
    assert_eq!(vec_at(&s, "sum(r)", 10)[0].1, 3.0);
    assert_eq!(vec_at(&s, "avg(r)", 10)[0].1, 1.5);
}

#[test]
fn parser_panics_become_parse_errors() {
    // Found by fuzzing: the parser panics on durations too large for `Duration`.
    for expr in ["up[1e33]", "up offset 1e33"] {
        let e = super::parse(expr).unwrap_err();
        assert!(e.contains("invalid expression"), "{expr}: {e}");
    }
    assert!(super::parse("up[5m]").is_ok());
}

#[test]
fn holt_winters_is_double_exponential_smoothing() {
    let s = store();
    add(&s, "hw", &[("job", "a")], &[(10, 1.0), (20, 3.0), (30, 4.0), (40, 8.0)]);
    add(&s, "hw", &[("job", "one")], &[(40, 8.0)]);
    // By hand from Prometheus's funcHoltWinters: s1 = 3, 4.5, 7.125 with b = 2, 2, 1.75.
    let want = vec![("{job=\"a\"}".to_string(), 7.125)];
    assert_eq!(vec_at(&s, "holt_winters(hw[1m], 0.5, 0.5)", 40), want, "fewer than two samples: no value");
    assert_eq!(vec_at(&s, "double_exponential_smoothing(hw[1m], 0.5, 0.5)", 40), want);
    assert_eq!(vec_at(&s, "holt_winters (hw[1m], 0.5, 0.5)", 40), want, "space before the parenthesis");
    for (q, msg) in [
        ("holt_winters(hw[1m], 1, 0.5)", "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"),
        ("holt_winters(hw[1m], 0.5, 0)", "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"),
        ("holt_winters(hw[1m], 0.5, -Inf)", "invalid trend factor. Expected: 0 < tf < 1, got: -Inf"),
    ] {
        assert_eq!(instant_query(&s, q, 40_000), Err(EvalError::Exec(msg.into())), "{q}");
    }
    assert_eq!(vec_at(&s, "holt_winters(nothing[1m], 2, 2)", 40), vec![], "no series, no factor check");
    // Only calls are renamed: not strings, label names or longer identifiers.
    let renamed = super::parse(r#"label_replace(holt_winters(hw[1m], 0.1, 0.1), "holt_winters", "holt_winters(", "job", "(.*)") + on(holt_winters) holt_winters_total"#)
        .unwrap()
        .to_string();
    assert_eq!(renamed.matches("double_exponential_smoothing").count(), 1, "{renamed}");
    assert_eq!(renamed.matches("holt_winters").count(), 4, "{renamed}");
}
