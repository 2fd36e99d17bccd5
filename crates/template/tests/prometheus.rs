//! Prometheus's template functions and rule data. Cases and expected outputs are those of
//! Prometheus's `template/template_test.go` (`TestTemplateExpansion`; Prometheus wraps errors in
//! `error executing template test: …`, which the rules crate adds, so only the inner message is
//! compared), plus rule annotations as Prometheus renders them.

use std::collections::BTreeMap;
use std::sync::Arc;

use lookout_template::data::{PROMETHEUS_ALERT_PREFIX, prometheus_alert_data};
use lookout_template::{Funcs, MissingKey, QueryHook, TemplateSet, Value, render_named};

type Vector = Vec<(BTreeMap<String, String>, f64)>;

fn metric(pairs: &[(&str, &str)], v: f64) -> (BTreeMap<String, String>, f64) {
    (pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), v)
}

fn funcs(result: Vector) -> Funcs {
    let hook: QueryHook = Arc::new(move |_q: &str| Ok(result.clone()));
    Funcs::go_builtins().with_prometheus(Some(hook))
}

fn floats(v: &[f64]) -> Value {
    Value::List(v.iter().map(|f| Value::Float(*f)).collect())
}

fn ints(v: &[i64]) -> Value {
    Value::List(v.iter().map(|i| Value::Int(*i)).collect())
}

fn strs(v: &[&str]) -> Value {
    Value::List(v.iter().map(|s| Value::str(*s)).collect())
}

struct Case {
    text: &'static str,
    input: Value,
    query: Vector,
    /// `Ok(output)` or `Err(message)`.
    want: Result<&'static str, &'static str>,
}

fn case(text: &'static str, want: &'static str) -> Case {
    Case { text, input: Value::Nil, query: Vec::new(), want: Ok(want) }
}

#[test]
fn template_expansion() {
    let ab = || vec![metric(&[("__name__", "metric"), ("instance", "a")], 11.0)];
    let ext = Value::map([("ExternalURL", Value::str("http://testhost:9090/path/prefix"))]);
    let cases = vec![
        case("plain text", "plain text"),
        case("{{ 1 }}", "1"),
        Case { want: Err("template: test:1: unrecognized character in action: U+00A0"), ..case("{{\u{a0}}}", "") },
        case("{{ \"<b>\" }}", "<b>"),
        case("{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}", "1 2"),
        Case { query: vec![metric(&[], 1.5)], ..case("{{ query \"1.5\" | first | value }}", "1.5") },
        Case { query: ab(), ..case("{{ query \"metric{instance='a'}\" | first | value }}", "11") },
        Case { query: ab(), ..case("{{ query \"metric{instance='a'}\" | first | label \"instance\" }}", "a") },
        Case {
            query: vec![metric(&[("__name__", "metric"), ("__value__", "a")], 11.0)],
            ..case("{{ query \"metric{__value__='a'}\" | first | strvalue }}", "a")
        },
        Case { query: ab(), ..case("{{ query \"metric{instance='a'}\" | first | label \"foo\" }}", "") },
        Case { query: ab(), ..case("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}", "") },
        Case {
            query: vec![
                metric(&[("__name__", "metric"), ("instance", "b")], 21.0),
                metric(&[("__name__", "metric"), ("instance", "a")], 11.0),
            ],
            ..case(
                "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
                "a:11: b:21: ",
            )
        },
        case("{{ \"foo.example.com\" | stripPort }}", "foo.example.com"),
        case("{{ \"foo.example.com:12345\" | stripPort }}", "foo.example.com"),
        case("{{ \"192.0.2.1\" | stripPort }}", "192.0.2.1"),
        case("{{ \"192.0.2.1:12345\" | stripPort }}", "192.0.2.1"),
        case("{{ \"2001:0DB8::1\" | stripPort }}", "2001:0DB8::1"),
        case("{{ \"[2001:0DB8::1]:12345\" | stripPort }}", "2001:0DB8::1"),
        case("{{ \"[2001:0DB8::1]::12345\" | stripPort }}", "[2001:0DB8::1]::12345"),
        case("{{ .Foo }}", "<no value>"),
        Case { want: Err("template: test:1: unclosed action"), ..case("{{", "") },
        Case {
            want: Err(
                "template: test:1:21: executing \"test\" at <first>: error calling first: first() called on vector with no elements",
            ),
            ..case("{{ query \"missing\" | first }}", "")
        },
        case("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", "xa"),
        Case {
            input: floats(&[0.0, 1.0, 1234567.0, 0.12]),
            ..case("{{ range . }}{{ humanize . }}:{{ end }}", "0:1:1.235M:120m:")
        },
        Case {
            input: strs(&["0.0", "1.0", "1234567.0", ".12"]),
            ..case("{{ range . }}{{ humanize . }}:{{ end }}", "0:1:1.235M:120m:")
        },
        Case {
            want: Err(
                "template: test:1:3: executing \"test\" at <humanize \"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax",
            ),
            ..case("{{ humanize \"one\" }}", "")
        },
        Case {
            input: ints(&[0, -1, 1, 1234567, i64::MAX]),
            ..case("{{ range . }}{{ humanize . }}:{{ end }}", "0:-1:1:1.235M:9.223E:")
        },
        Case {
            input: floats(&[0.0, 1.0, 1048576.0, 0.12]),
            ..case("{{ range . }}{{ humanize1024 . }}:{{ end }}", "0:1:1Mi:0.12:")
        },
        Case {
            input: strs(&["0.0", "1.0", "1048576.0", ".12"]),
            ..case("{{ range . }}{{ humanize1024 . }}:{{ end }}", "0:1:1Mi:0.12:")
        },
        Case {
            input: ints(&[0, -1, 1, 1234567, i64::MAX]),
            ..case("{{ range . }}{{ humanize1024 . }}:{{ end }}", "0:-1:1:1.177Mi:8Ei:")
        },
        Case {
            input: floats(&[
                0.0,
                1.0,
                60.0,
                3600.0,
                86400.0,
                86400.0 + 3600.0,
                -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
                899.99,
            ]),
            ..case(
                "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
                "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
            )
        },
        Case {
            input: strs(&["0", "1", "60", "3600", "86400"]),
            ..case("{{ range . }}{{ humanizeDuration . }}:{{ end }}", "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:")
        },
        Case {
            input: floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]),
            ..case("{{ range . }}{{ humanizeDuration . }}:{{ end }}", "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:")
        },
        Case {
            input: strs(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"]),
            ..case("{{ range . }}{{ humanizeDuration . }}:{{ end }}", "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:")
        },
        Case {
            input: ints(&[0, -1, 1, 1234567]),
            ..case("{{ range . }}{{ humanizeDuration . }}:{{ end }}", "0s:-1s:1s:14d 6h 56m 7s:")
        },
        Case {
            input: floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]),
            ..case(
                "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
                "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
            )
        },
        Case {
            input: strs(&["+Inf", "-Inf", "NaN"]),
            ..case(
                "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
                "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
            )
        },
        case(
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
            "-22.22%:0%:12.35%:123.5%",
        ),
        Case {
            input: ints(&[0, -1, 1, 1234567, i64::MAX]),
            ..case("{{ range . }}{{ humanizePercentage . }}:{{ end }}", "0%:-100%:100%:1.235e+08%:9.223e+20%:")
        },
        case(
            "{{ \"-0.22222\" | humanizePercentage }}:{{ \"0.0\" | humanizePercentage }}:{{ \"0.1234567\" | humanizePercentage }}:{{ \"1.23456\" | humanizePercentage }}",
            "-22.22%:0%:12.35%:123.5%",
        ),
        Case {
            want: Err(
                "template: test:1:11: executing \"test\" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing \"one\": invalid syntax",
            ),
            ..case("{{ \"one\" | humanizePercentage }}", "")
        },
        Case {
            input: ints(&[0, -1, 1, 1234567, 9223372036]),
            ..case(
                "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
                "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
            )
        },
        Case {
            input: ints(&[i64::MIN, i64::MAX]),
            want: Err(
                "template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64",
            ),
            ..case("{{ range . }}{{ humanizeTimestamp . }}:{{ end }}", "")
        },
        case("{{ 1435065584.128 | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        case("{{ \"1435065584.128\" | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        case("{{ (1435065584.128 | toTime).Format \"2006\" }}", "2015"),
        case("{{ (\"1435065584.128\" | toTime).Format \"2006\" }}", "2015"),
        case("{{ \"aa bb CC\" | title }}", "Aa Bb CC"),
        case("{{ \"aa bb CC\" | toUpper }}", "AA BB CC"),
        case("{{ \"aA bB CC\" | toLower }}", "aa bb cc"),
        case("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", "true false"),
        case("{{ graphLink \"up\" }}", "/graph?g0.expr=up&g0.tab=0"),
        case("{{ tableLink \"up\" }}", "/graph?g0.expr=up&g0.tab=1"),
        Case { input: ext.clone(), ..case("{{ pathPrefix }}", "/path/prefix") },
        Case { input: ext, ..case("{{ externalURL }}", "http://testhost:9090/path/prefix") },
        case("{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}", "3720.01"),
        case("{{ \"foo.example.com\" | stripDomain }}", "foo"),
        case("{{ \"foo.example.com:12345\" | stripDomain }}", "foo:12345"),
        case("{{ \"192.0.2.1\" | stripDomain }}", "192.0.2.1"),
        case("{{ \"192.0.2.1:12345\" | stripDomain }}", "192.0.2.1:12345"),
        case("{{ \"2001:0DB8::1\" | stripDomain }}", "2001:0DB8::1"),
        case("{{ \"[2001:0DB8::1]:12345\" | stripDomain }}", "[2001:0DB8::1]:12345"),
        case("{{ \"[2001:0DB8::1]::12345\" | stripDomain }}", "[2001:0DB8::1]::12345"),
    ];
    for c in cases {
        let got = render_named("test", c.text, &c.input, &funcs(c.query.clone()));
        match (&got, c.want) {
            (Ok(out), Ok(want)) => assert_eq!(out, want, "template {:?}", c.text),
            (Err(e), Err(want)) => assert_eq!(e.to_string(), want, "template {:?}", c.text),
            _ => panic!("template {:?}: got {got:?}, want {:?}", c.text, c.want),
        }
    }
}

#[test]
fn missing_key_error_option() {
    let mut set = TemplateSet::new(Funcs::go_builtins().with_prometheus(None));
    set.set_missing_key(MissingKey::Error);
    set.parse("test", "{{ .Foo }}").unwrap();
    assert_eq!(
        set.execute("test", &Value::Nil).unwrap_err().to_string(),
        "template: test:1:3: executing \"test\" at <.Foo>: nil data; no entry for key \"Foo\""
    );
}

#[test]
fn query_without_engine_is_an_error_not_a_panic() {
    let e =
        render_named("t", "{{ query \"up\" }}", &Value::Nil, &Funcs::go_builtins().with_prometheus(None)).unwrap_err();
    assert!(e.to_string().contains("error calling query: no query engine"), "{e}");
}

/// Rule annotations as Prometheus renders them: the variable prefix, then the user's text.
#[test]
fn rule_annotations() {
    let funcs = funcs(vec![metric(&[("instance", "db1:9100")], 0.25)]);
    let data = prometheus_alert_data(
        [("alertname", "DiskFull"), ("instance", "db1.example.com:9100"), ("severity", "page")],
        [("cluster", "eu1")],
        "http://prom.example.com:9090",
        0.934567,
    );
    let cases = [
        ("{{ $labels.instance }} is {{ $value | humanizePercentage }} full", "db1.example.com:9100 is 93.46% full"),
        ("{{ $labels.instance | stripDomain }} in {{ $externalLabels.cluster }}", "db1:9100 in eu1"),
        ("{{ $value }} {{ .Value }} {{ printf \"%.2f\" $value }}", "0.934567 0.934567 0.93"),
        ("[{{ $labels.nope }}]", "[]"),
        ("{{ if gt $value 0.9 }}critical{{ else }}warning{{ end }}", "critical"),
        ("{{ $externalURL }}/alerts", "http://prom.example.com:9090/alerts"),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            "alertname=DiskFull;instance=db1.example.com:9100;severity=page;",
        ),
        ("{{ with query \"up\" }}{{ . | first | value | humanize }}{{ end }}", "250m"),
        ("{{ $labels.severity | toUpper }} {{ title \"disk full\" }}", "PAGE Disk Full"),
    ];
    for (text, want) in cases {
        let full = format!("{PROMETHEUS_ALERT_PREFIX}{text}");
        assert_eq!(render_named("__alert_DiskFull", &full, &data, &funcs).unwrap(), want, "{text}");
    }
    // Go's typed comparison: a float64 value against an integer constant is an error, as in
    // Prometheus; the column counts the prepended variable definitions.
    let full = format!("{PROMETHEUS_ALERT_PREFIX}{{{{ if gt $value 1 }}}}x{{{{ end }}}}");
    assert_eq!(
        render_named("__alert_DiskFull", &full, &data, &funcs).unwrap_err().to_string(),
        "template: __alert_DiskFull:1:118: executing \"__alert_DiskFull\" at <gt $value 1>: error calling gt: incompatible types for comparison"
    );
}

/// A rule's templates parsed once, executed per evaluation with that evaluation's `query`.
#[test]
fn parse_once_execute_with_per_evaluation_funcs() {
    let mut set = TemplateSet::new(Funcs::go_builtins().with_prometheus(None));
    set.parse(
        "__alert_X",
        &format!("{PROMETHEUS_ALERT_PREFIX}{{{{ query \"up\" | first | value }}}}/{{{{ $value }}}}"),
    )
    .unwrap();
    let data = prometheus_alert_data([], [], "", 2.0);
    for v in [1.0, 5.0] {
        assert_eq!(set.execute_with("__alert_X", &data, &funcs(vec![metric(&[], v)])).unwrap(), format!("{v}/2"));
    }
    let e = set.execute_with("__alert_X", &data, &Funcs::go_builtins()).unwrap_err();
    assert!(e.to_string().contains("\"query\" is not a defined function"), "{e}");
}

#[test]
fn sets_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TemplateSet>();
    assert_send_sync::<Funcs>();
    let mut set = TemplateSet::new(Funcs::go_builtins().with_prometheus(None));
    set.parse("t", "{{ . | humanize }}").unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let set = set.clone();
            std::thread::spawn(move || set.execute("t", &Value::Float(1000.0 * f64::from(i + 1))).unwrap())
        })
        .collect();
    let outs: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outs, ["1k", "2k", "3k", "4k"]);
}
