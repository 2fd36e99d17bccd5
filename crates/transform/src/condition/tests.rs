use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_event::{Batch, RecordRef};

use super::Condition;
use crate::test_util::{V, log, logs, resource, span, spans};

/// Evaluates `cond` against the first record of `batch`.
fn eval(cond: &str, batch: &Batch) -> bool {
    let c = Condition::parse(cond).unwrap_or_else(|e| panic!("{cond}: {e}"));
    let mut result = None;
    batch.for_each(|r: RecordRef<'_>| {
        result.get_or_insert(c.matches(&r));
    });
    result.expect("a record")
}

fn sample_log() -> Batch {
    logs(
        resource(&[("service.name", V::S("api")), ("k8s.pod.name", V::S("api-7f9"))]),
        vec![log(
            "upstream timeout after 30s",
            17,
            &[
                ("http.status_code", V::I(500)),
                ("user.id", V::S("u-42")),
                ("ratio", V::F(0.25)),
                ("retry", V::B(true)),
                ("version", V::S("1.10")),
                ("code", V::S("500")),
            ],
        )],
    )
}

fn err(cond: &str) -> String {
    Condition::parse(cond).map(|_| ()).expect_err(cond).to_string()
}

#[test]
fn comparisons_on_typed_fields() {
    let b = sample_log();
    for (cond, want) in [
        ("severity_number >= 17", true),
        ("severity_number > 17", false),
        ("severity_number < 17.5", true),
        ("severity_number <= 16", false),
        ("attributes.http.status_code == 500", true),
        ("attributes.http.status_code != 500", false),
        ("attributes.http.status_code == 500.0", true),
        ("attributes.http.status_code == \"500\"", true),
        ("attributes.code == 500", true),
        ("attributes.ratio < 0.5", true),
        ("attributes.retry == true", true),
        ("attributes.retry != false", true),
        ("resource.service.name == \"api\"", true),
        ("resource.service.name == 'api'", true),
        ("resource.service.name != \"web\"", true),
        ("service.name == \"api\"", true),
        ("attributes.version == \"1.1\"", false),
        ("attributes.version > \"1.0\"", true),
        ("signal == \"log\"", true),
        ("true", true),
        ("false", false),
    ] {
        assert_eq!(eval(cond, &b), want, "{cond}");
    }
}

#[test]
fn missing_fields_equal_nothing() {
    let b = sample_log();
    assert!(!eval("attributes.nope == \"x\"", &b));
    assert!(eval("attributes.nope != \"x\"", &b));
    assert!(!eval("attributes.nope < 3", &b));
    assert!(!eval("attributes.nope =~ \".*\"", &b));
    assert!(eval("attributes.nope !~ \"x\"", &b));
    // Span fields do not exist on logs.
    assert!(!eval("kind == \"server\"", &b));
    // Strings that are not numbers are not comparable with numbers.
    assert!(!eval("body > 3", &b));
    assert!(eval("body != 3", &b));
}

#[test]
fn regex_match() {
    let b = sample_log();
    assert!(eval("body =~ \"timeout|refused\"", &b));
    assert!(!eval("body !~ \"timeout|refused\"", &b));
    assert!(eval("body =~ \"after \\d+s$\"", &b));
    assert!(!eval("body =~ \"^timeout\"", &b));
    assert!(eval("attributes.http.status_code =~ \"^5\\d\\d$\"", &b));
}

#[test]
fn exists_and_negation() {
    let b = sample_log();
    assert!(eval("exists(attributes.user.id)", &b));
    assert!(!eval("exists(attributes.user.name)", &b));
    assert!(eval("!exists(attributes.user.name)", &b));
    assert!(eval("not exists(resource.user.id)", &b));
    assert!(eval("exists(resource.k8s.pod.name)", &b));
    assert!(eval("not not true", &b));
    assert!(eval("!(severity_number < 17)", &b));
}

#[test]
fn and_binds_tighter_than_or() {
    let b = sample_log();
    // true or (false and false) = true; (true or false) and false would be false.
    assert!(eval("severity_number == 17 or severity_number == 1 and attributes.nope == 1", &b));
    assert!(eval("severity_number == 17 || severity_number == 1 && attributes.nope == 1", &b));
    assert!(!eval("(severity_number == 17 or severity_number == 1) and attributes.nope == 1", &b));
    // not binds tighter than and.
    assert!(!eval("not severity_number == 17 and true", &b));
    assert!(eval("not (severity_number == 1 and true)", &b));
}

#[test]
fn span_fields_and_trace_ids() {
    let b = spans(resource(&[]), vec![span(7, "GET /", &[("http.route", V::S("/"))])]);
    assert!(eval("name == \"GET /\" and signal == \"span\"", &b));
    assert!(eval("exists(trace_id) and trace_id =~ \"^0000000000000007\"", &b));
    assert!(eval("kind == \"unspecified\"", &b));
    assert!(!eval("exists(body)", &b));
}

#[test]
fn fields_compared_with_fields() {
    let b = logs(None, vec![log("x", 9, &[("a", V::I(3)), ("b", V::F(3.0)), ("c", V::S("3"))])]);
    assert!(eval("attributes.a == attributes.b", &b));
    assert!(eval("attributes.a == attributes.c", &b));
    assert!(eval("severity_number > attributes.a", &b));
}

#[test]
fn parse_errors_name_the_column() {
    assert_eq!(err(""), "empty condition at column 1");
    assert_eq!(err("   "), "empty condition at column 1");
    assert_eq!(err("severity_number = 17"), "`=` is not an operator; use `==` to compare at column 17");
    assert_eq!(
        err("severity_number 17"),
        "expected a comparison operator (==, !=, <, <=, >, >=, =~, !~) after `severity_number`, found `17` at column 17"
    );
    assert_eq!(err("body =~ \"(unclosed\""), "invalid regex: unclosed group at column 9");
    assert_eq!(err("body =~ timeout"), "expected a quoted regex after `=~`/`!~`, found `timeout` at column 9");
    assert_eq!(
        err("(a == 1 or b == 2"),
        "expected `)` to close `(` at column 1, found the end of the condition at column 18"
    );
    assert_eq!(err("a == 1)"), "unmatched `)` at column 7");
    assert_eq!(err("a == 1 b == 2"), "expected `and`, `or` or the end of the condition, found `b` at column 8");
    assert_eq!(err("a == \"open"), "unterminated string at column 6");
    assert_eq!(err("a == 1 and"), "expected a field or a value, found the end of the condition at column 11");
    assert_eq!(err("a == and"), "expected a field or a value, found `and` at column 6");
    assert_eq!(err("exists(\"x\")"), "expected a field name in `exists(...)`, found `\"x\"` at column 8");
    assert_eq!(err("a == 1 # x"), "unexpected character `#` at column 8");
    assert_eq!(err("a == 1.2.3"), "invalid number `1.2.3` at column 6");
    // Columns count characters, not bytes.
    assert_eq!(err("body == \"é\" §"), "unexpected character `§` at column 13");
}

#[test]
fn negative_numbers_and_hyphenated_keys() {
    let b = logs(None, vec![log("x", 0, &[("delta", V::I(-5)), ("x-request-id", V::S("r1"))])]);
    assert!(eval("attributes.delta == -5", &b));
    assert!(eval("attributes.delta>-6", &b));
    assert!(eval("attributes.x-request-id == \"r1\"", &b));
}

#[test]
fn records_without_resource() {
    let b = Batch::logs(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default()], ..Default::default() }],
        ..Default::default()
    }]);
    assert!(!eval("resource.service.name == \"api\"", &b));
    assert!(!eval("exists(body)", &b));
    assert!(eval("severity_number == 0", &b));
}
