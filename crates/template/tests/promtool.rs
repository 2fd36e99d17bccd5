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
    // Go's number formatting and the humanize functions over a range of values.
    (
        r#"{{ humanize 0.000001234 }}|{{ humanize1024 0.000001234 }}|{{ humanizeDuration 0.000001234 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 0.000001234 0.000001234 0.000001234 0.000001234 0.000001234 0.000001234 0.000001234 }}|{{ humanizePercentage 0.000001234 }}|{{ 0.000001234 }}"#,
        r#"1.234u|1.234e-06|1.234us|1.234e-06 1.234e-06 1.23e-06 1.234000e-06 0.00 1.234e-06 1.234E-06|0.0001234%|1.234e-06"#,
    ),
    (
        r#"{{ humanize 12345678901234.0 }}|{{ humanize1024 12345678901234.0 }}|{{ humanizeDuration 12345678901234.0 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 12345678901234.0 12345678901234.0 12345678901234.0 12345678901234.0 12345678901234.0 12345678901234.0 12345678901234.0 }}|{{ humanizePercentage 12345678901234.0 }}|{{ 12345678901234.0 }}"#,
        r#"12.35T|11.23Ti|142889802d 2h 20m 34s|1.2345678901234e+13 1.2345678901234e+13 1.23e+13 1.234568e+13 12345678901234.00 1.235e+13 1.2345678901234E+13|1.235e+15%|1.2345678901234e+13"#,
    ),
    (
        r#"{{ humanize -0.5 }}|{{ humanize1024 -0.5 }}|{{ humanizeDuration -0.5 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" -0.5 -0.5 -0.5 -0.5 -0.5 -0.5 -0.5 }}|{{ humanizePercentage -0.5 }}|{{ -0.5 }}"#,
        r#"-500m|-0.5|-500ms|-0.5 -0.5 -0.5 -5.000000e-01 -0.50 -5.000e-01 -0.5|-50%|-0.5"#,
    ),
    (
        r#"{{ humanize 1e-10 }}|{{ humanize1024 1e-10 }}|{{ humanizeDuration 1e-10 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 1e-10 1e-10 1e-10 1e-10 1e-10 1e-10 1e-10 }}|{{ humanizePercentage 1e-10 }}|{{ 1e-10 }}"#,
        r#"100p|1e-10|100ps|1e-10 1e-10 1e-10 1.000000e-10 0.00 1.000e-10 1E-10|1e-08%|1e-10"#,
    ),
    (
        r#"{{ humanize 999.99999 }}|{{ humanize1024 999.99999 }}|{{ humanizeDuration 999.99999 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 999.99999 999.99999 999.99999 999.99999 999.99999 999.99999 999.99999 }}|{{ humanizePercentage 999.99999 }}|{{ 999.99999 }}"#,
        r#"1000|1000|16m 39s|999.99999 999.99999 1e+03 1.000000e+03 1000.00 1.000e+03 999.99999|1e+05%|999.99999"#,
    ),
    (
        r#"{{ humanize 1023.9 }}|{{ humanize1024 1023.9 }}|{{ humanizeDuration 1023.9 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 1023.9 1023.9 1023.9 1023.9 1023.9 1023.9 1023.9 }}|{{ humanizePercentage 1023.9 }}|{{ 1023.9 }}"#,
        r#"1.024k|1024|17m 3s|1023.9 1023.9 1.02e+03 1.023900e+03 1023.90 1.024e+03 1023.9|1.024e+05%|1023.9"#,
    ),
    (
        r#"{{ humanize 1024.0 }}|{{ humanize1024 1024.0 }}|{{ humanizeDuration 1024.0 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 1024.0 1024.0 1024.0 1024.0 1024.0 1024.0 1024.0 }}|{{ humanizePercentage 1024.0 }}|{{ 1024.0 }}"#,
        r#"1.024k|1ki|17m 4s|1024 1024 1.02e+03 1.024000e+03 1024.00 1.024e+03 1024|1.024e+05%|1024"#,
    ),
    (
        r#"{{ humanize 59.9999 }}|{{ humanize1024 59.9999 }}|{{ humanizeDuration 59.9999 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 59.9999 59.9999 59.9999 59.9999 59.9999 59.9999 59.9999 }}|{{ humanizePercentage 59.9999 }}|{{ 59.9999 }}"#,
        r#"60|60|60s|59.9999 59.9999 60 5.999990e+01 60.00 6.000e+01 59.9999|6000%|59.9999"#,
    ),
    (
        r#"{{ humanize 3599.5 }}|{{ humanize1024 3599.5 }}|{{ humanizeDuration 3599.5 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 3599.5 3599.5 3599.5 3599.5 3599.5 3599.5 3599.5 }}|{{ humanizePercentage 3599.5 }}|{{ 3599.5 }}"#,
        r#"3.599k|3.515ki|59m 59s|3599.5 3599.5 3.6e+03 3.599500e+03 3599.50 3.600e+03 3599.5|3.6e+05%|3599.5"#,
    ),
    (
        r#"{{ humanize 86399.99 }}|{{ humanize1024 86399.99 }}|{{ humanizeDuration 86399.99 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 86399.99 86399.99 86399.99 86399.99 86399.99 86399.99 86399.99 }}|{{ humanizePercentage 86399.99 }}|{{ 86399.99 }}"#,
        r#"86.4k|84.37ki|23h 59m 59s|86399.99 86399.99 8.64e+04 8.639999e+04 86399.99 8.640e+04 86399.99|8.64e+06%|86399.99"#,
    ),
    (
        r#"{{ humanize 0.0 }}|{{ humanize1024 0.0 }}|{{ humanizeDuration 0.0 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 0.0 0.0 0.0 0.0 0.0 0.0 0.0 }}|{{ humanizePercentage 0.0 }}|{{ 0.0 }}"#,
        r#"0|0|0s|0 0 0 0.000000e+00 0.00 0.000e+00 0|0%|0"#,
    ),
    (
        r#"{{ humanize 123456.789 }}|{{ humanize1024 123456.789 }}|{{ humanizeDuration 123456.789 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 123456.789 123456.789 123456.789 123456.789 123456.789 123456.789 123456.789 }}|{{ humanizePercentage 123456.789 }}|{{ 123456.789 }}"#,
        r#"123.5k|120.6ki|1d 10h 17m 36s|123456.789 123456.789 1.23e+05 1.234568e+05 123456.79 1.235e+05 123456.789|1.235e+07%|123456.789"#,
    ),
    (
        r#"{{ humanize 0.1 }}|{{ humanize1024 0.1 }}|{{ humanizeDuration 0.1 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 0.1 0.1 0.1 0.1 0.1 0.1 0.1 }}|{{ humanizePercentage 0.1 }}|{{ 0.1 }}"#,
        r#"100m|0.1|100ms|0.1 0.1 0.1 1.000000e-01 0.10 1.000e-01 0.1|10%|0.1"#,
    ),
    (
        r#"{{ humanize 0.30000000000000004 }}|{{ humanize1024 0.30000000000000004 }}|{{ humanizeDuration 0.30000000000000004 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 0.30000000000000004 0.30000000000000004 0.30000000000000004 0.30000000000000004 0.30000000000000004 0.30000000000000004 0.30000000000000004 }}|{{ humanizePercentage 0.30000000000000004 }}|{{ 0.30000000000000004 }}"#,
        r#"300m|0.3|300ms|0.30000000000000004 0.30000000000000004 0.3 3.000000e-01 0.30 3.000e-01 0.30000000000000004|30%|0.30000000000000004"#,
    ),
    (
        r#"{{ humanize 2.5 }}|{{ humanize1024 2.5 }}|{{ humanizeDuration 2.5 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 2.5 2.5 2.5 2.5 2.5 2.5 2.5 }}|{{ humanizePercentage 2.5 }}|{{ 2.5 }}"#,
        r#"2.5|2.5|2.5s|2.5 2.5 2.5 2.500000e+00 2.50 2.500e+00 2.5|250%|2.5"#,
    ),
    (
        r#"{{ humanize -1234567.0 }}|{{ humanize1024 -1234567.0 }}|{{ humanizeDuration -1234567.0 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" -1234567.0 -1234567.0 -1234567.0 -1234567.0 -1234567.0 -1234567.0 -1234567.0 }}|{{ humanizePercentage -1234567.0 }}|{{ -1234567.0 }}"#,
        r#"-1.235M|-1.177Mi|-14d 6h 56m 7s|-1.234567e+06 -1.234567e+06 -1.23e+06 -1.234567e+06 -1234567.00 -1.235e+06 -1.234567E+06|-1.235e+08%|-1.234567e+06"#,
    ),
    (
        r#"{{ humanize 1e-5 }}|{{ humanize1024 1e-5 }}|{{ humanizeDuration 1e-5 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 1e-5 1e-5 1e-5 1e-5 1e-5 1e-5 1e-5 }}|{{ humanizePercentage 1e-5 }}|{{ 1e-5 }}"#,
        r#"10u|1e-05|10us|1e-05 1e-05 1e-05 1.000000e-05 0.00 1.000e-05 1E-05|0.001%|1e-05"#,
    ),
    (
        r#"{{ humanize 7.0e-3 }}|{{ humanize1024 7.0e-3 }}|{{ humanizeDuration 7.0e-3 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 7.0e-3 7.0e-3 7.0e-3 7.0e-3 7.0e-3 7.0e-3 7.0e-3 }}|{{ humanizePercentage 7.0e-3 }}|{{ 7.0e-3 }}"#,
        r#"7m|0.007|7ms|0.007 0.007 0.007 7.000000e-03 0.01 7.000e-03 0.007|0.7%|0.007"#,
    ),
    (
        r#"{{ humanize 1.5e21 }}|{{ humanize1024 1.5e21 }}|{{ humanizeDuration 1.5e21 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 1.5e21 1.5e21 1.5e21 1.5e21 1.5e21 1.5e21 1.5e21 }}|{{ humanizePercentage 1.5e21 }}|{{ 1.5e21 }}"#,
        r#"1.5Z|1.271Zi|-106751991167300d -15h -30m -8s|1.5e+21 1.5e+21 1.5e+21 1.500000e+21 1500000000000000000000.00 1.500e+21 1.5E+21|1.5e+23%|1.5e+21"#,
    ),
    (
        r#"{{ humanize 65536.0 }}|{{ humanize1024 65536.0 }}|{{ humanizeDuration 65536.0 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 65536.0 65536.0 65536.0 65536.0 65536.0 65536.0 65536.0 }}|{{ humanizePercentage 65536.0 }}|{{ 65536.0 }}"#,
        r#"65.54k|64ki|18h 12m 16s|65536 65536 6.55e+04 6.553600e+04 65536.00 6.554e+04 65536|6.554e+06%|65536"#,
    ),
    (
        r#"{{ humanize 1048575.0 }}|{{ humanize1024 1048575.0 }}|{{ humanizeDuration 1048575.0 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 1048575.0 1048575.0 1048575.0 1048575.0 1048575.0 1048575.0 1048575.0 }}|{{ humanizePercentage 1048575.0 }}|{{ 1048575.0 }}"#,
        r#"1.049M|1024ki|12d 3h 16m 15s|1.048575e+06 1.048575e+06 1.05e+06 1.048575e+06 1048575.00 1.049e+06 1.048575E+06|1.049e+08%|1.048575e+06"#,
    ),
    (
        r#"{{ humanize 0.999999 }}|{{ humanize1024 0.999999 }}|{{ humanizeDuration 0.999999 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 0.999999 0.999999 0.999999 0.999999 0.999999 0.999999 0.999999 }}|{{ humanizePercentage 0.999999 }}|{{ 0.999999 }}"#,
        r#"1000m|1|1000ms|0.999999 0.999999 1 9.999990e-01 1.00 1.000e+00 0.999999|100%|0.999999"#,
    ),
    (
        r#"{{ humanize 100.0 }}|{{ humanize1024 100.0 }}|{{ humanizeDuration 100.0 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 100.0 100.0 100.0 100.0 100.0 100.0 100.0 }}|{{ humanizePercentage 100.0 }}|{{ 100.0 }}"#,
        r#"100|100|1m 40s|100 100 100 1.000000e+02 100.00 1.000e+02 100|1e+04%|100"#,
    ),
    (
        r#"{{ humanize 1000.0 }}|{{ humanize1024 1000.0 }}|{{ humanizeDuration 1000.0 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 1000.0 1000.0 1000.0 1000.0 1000.0 1000.0 1000.0 }}|{{ humanizePercentage 1000.0 }}|{{ 1000.0 }}"#,
        r#"1k|1000|16m 40s|1000 1000 1e+03 1.000000e+03 1000.00 1.000e+03 1000|1e+05%|1000"#,
    ),
    (
        r#"{{ humanize 1e6 }}|{{ humanize1024 1e6 }}|{{ humanizeDuration 1e6 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 1e6 1e6 1e6 1e6 1e6 1e6 1e6 }}|{{ humanizePercentage 1e6 }}|{{ 1e6 }}"#,
        r#"1M|976.6ki|11d 13h 46m 40s|1e+06 1e+06 1e+06 1.000000e+06 1000000.00 1.000e+06 1E+06|1e+08%|1e+06"#,
    ),
    (
        r#"{{ humanize 9.999e5 }}|{{ humanize1024 9.999e5 }}|{{ humanizeDuration 9.999e5 }}|{{ printf "%v %g %.3g %e %.2f %8.3e %G" 9.999e5 9.999e5 9.999e5 9.999e5 9.999e5 9.999e5 9.999e5 }}|{{ humanizePercentage 9.999e5 }}|{{ 9.999e5 }}"#,
        r#"999.9k|976.5ki|11d 13h 45m 0s|999900 999900 1e+06 9.999000e+05 999900.00 9.999e+05 999900|9.999e+07%|999900"#,
    ),
    (r#"{{ humanizeDuration 1e300 }}"#, r#"-106751991167300d -15h -30m -8s"#),
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
