//! Alertmanager notification templates. Expected outputs were printed by the real Alertmanager
//! (`amtool template render` 0.25, the Debian package) for `testdata/notify.tmpl` and
//! `testdata/notify_data.json`; `matches_real_amtool` re-checks every case against `amtool`
//! when it is installed (the test command installs it), so the table cannot drift from Go.
//! Cases avoid what changed after 0.25 (printing a `KV`/`Pairs` whole, `title`, functions added
//! later), which are tested separately against Alertmanager's current sources.

use std::process::Command;

use lookout_template::data::notification_data_from_json;
use lookout_template::{Funcs, TemplateSet, Value};

const LIB: &str = include_str!("testdata/notify.tmpl");
const DATA: &str = include_str!("testdata/notify_data.json");

/// (template text, `Ok(output)` or `Err(message)`).
const CASES: &[(&str, Result<&str, &str>)] = &[
    (r#"{{ template "title" . }}"#, Ok("[FIRING:1] HighLatency")),
    (
        r#"{{ template "body" . }}"#,
        Ok(
            "[FIRING:1] HighLatency\nFiring:\n- HighLatency on a:9090: p99 > 1s alertname=HighLatency instance=a:9090 job=api severity=page\nResolved:\n- HighLatency on b:9090 alertname=HighLatency instance=b:9090 job=api severity=page\n",
        ),
    ),
    (
        "{{ range $i, $a := .Alerts }}{{ $i }}:{{ $a.Status }}:{{ $a.Labels.instance }}:{{ $a.Fingerprint }} {{ end }}",
        Ok("0:firing:a:9090:abc123 1:resolved:b:9090:def456 "),
    ),
    (
        r#"{{ .CommonLabels.Names }}|{{ .CommonLabels.Values }}|{{ .CommonLabels.SortedPairs.Names }}|{{ .CommonLabels.missing }}|{{ index .CommonLabels "job" }}"#,
        Ok("[alertname job severity]|[HighLatency api page]|[alertname job severity]||api"),
    ),
    (
        r#"{{ with .GroupLabels.Remove (stringSlice "alertname") }}{{ .SortedPairs.Values }}{{ else }}none{{ end }}"#,
        Ok("none"),
    ),
    (
        r#"{{ with .CommonLabels.Remove (stringSlice "alertname" "job") }}{{ .SortedPairs.Values }}{{ end }}"#,
        Ok("[page]"),
    ),
    (
        r#"{{ (index .Alerts 0).StartsAt.Format "2006-01-02T15:04:05Z07:00" }} {{ (index .Alerts 1).EndsAt.Unix }} {{ (index .Alerts 0).EndsAt.IsZero }}"#,
        Ok("2024-01-01T08:15:30Z 1704099600 true"),
    ),
    (
        r#"{{ (index .Alerts 0).StartsAt.Format "Mon Jan _2 3:04:05 PM 2006 .000" }}"#,
        Ok("Mon Jan  1 8:15:30 AM 2024 .123"),
    ),
    (r#"{{ printf "%s" (index .Alerts 0).StartsAt }}"#, Ok("2024-01-01 08:15:30.123 +0000 UTC")),
    (
        "{{ range .Alerts.Firing }}{{ .Labels.instance }} {{ .StartsAt }} {{ .EndsAt }}{{ end }}",
        Ok("a:9090 2024-01-01 08:15:30.123 +0000 UTC 0001-01-01 00:00:00 +0000 UTC"),
    ),
    (
        r#"{{ urlquery "a b/c" }} {{ html "<x&y>" }} {{ js "a\"b<" }} {{ safeHtml "<b>" }}"#,
        Ok(r#"a+b%2Fc &lt;x&amp;y&gt; a\"b\u003C <b>"#),
    ),
    (
        "{{ range .Alerts }}{{ range $k, $v := .Annotations }}{{ $k }}={{ $v }},{{ end }};{{ end }}",
        Ok("description=p99 > 1s,summary=latency high,;summary=latency high,;"),
    ),
    (
        "{{ $first := index .Alerts 0 }}{{ $first.Labels.severity }} {{ $first.GeneratorURL }}",
        Ok("page http://prom/graph?g0.expr=x"),
    ),
    (
        r#"{{ range .Alerts }}{{ if eq .Status "resolved" }}{{ break }}{{ end }}{{ .Labels.instance }}{{ end }}"#,
        Ok("a:9090"),
    ),
    (
        r#"{{ len .CommonAnnotations }} {{ slice "abcdef" 1 3 }} {{ not .Alerts }} {{ and .Receiver .Status }} {{ or "" .Status }}"#,
        Ok("1 bc false firing firing"),
    ),
    (
        r#"{{ range .Alerts }}{{ .Labels.instance }}{{ else }}none{{ end }}{{ range .Alerts.Resolved }}{{ .EndsAt.Format "15:04" }}{{ end }}"#,
        Ok("a:9090b:909009:00"),
    ),
    (r#"{{ printf "%d alerts, %s" (len .Alerts) .Status }}"#, Ok("2 alerts, firing")),
    ("{{ $n := 0 }}{{ range .Alerts }}{{ $n = 1 }}{{ end }}{{ $n }}", Ok("1")),
    (
        r#"{{ define "x" }}X{{ .Status }}{{ end }}{{ template "x" . }}{{ block "y" .Receiver }}Y{{ . }}{{ end }}"#,
        Ok("XfiringYteam-x"),
    ),
    ("{{- /* c */ -}} {{ .Status -}}   !", Ok("firing!")),
    (
        r#"{{ eq .Status "firing" "resolved" }} {{ ne (len .Alerts) 2 }} {{ lt 1 2 }} {{ ge 2.5 2.5 }}"#,
        Ok("true false true true"),
    ),
    (
        "{{ range .CommonLabels.SortedPairs }}{{ .Name }}:{{ .Value }} {{ end }}",
        Ok("alertname:HighLatency job:api severity:page "),
    ),
    (r#"{{ join "," (stringSlice "a" "b") }} {{ toLower "ABC" }} {{ toUpper "abc" }}"#, Ok("a,b abc ABC")),
    (r#"{{ reReplaceAll "(a+)" "<$1>" "baaad" }} {{ match "^High" .CommonLabels.alertname }}"#, Ok("b<aaa>d true")),
    (r#"{{ printf "%q %5.1f %-4d| %x %v" "a\"b" 2.25 42 255 (len .Alerts) }}"#, Ok(r#""a\"b"   2.2 42  | ff 2"#)),
    (
        r#"{{ template "missing" . }}"#,
        Err(r#"template: :1:12: executing "" at <{{template "missing" .}}>: template "missing" not defined"#),
    ),
    (
        "{{ index .Alerts 5 }}",
        Err(r#"template: :1:3: executing "" at <index .Alerts 5>: error calling index: index out of range: 5"#),
    ),
    (
        "{{ .CommonLabels.job.x }}",
        Err(r#"template: :1:16: executing "" at <.CommonLabels.job.x>: can't evaluate field x in type string"#),
    ),
    ("{{ if }}", Err("template: :1: missing value for if")),
    (
        "{{ eq (len .Alerts) 2.0 }}",
        Err(
            r#"template: :1:3: executing "" at <eq (len .Alerts) 2.0>: error calling eq: incompatible types for comparison"#,
        ),
    ),
    // Language corner cases (numbers, printf verbs, scopes, trim markers, errors).
    (
        r#"{{ 1e6 }} {{ 0.000001 }} {{ 1e21 }} {{ 123456789.0 }} {{ 1.0 }} {{ 3.0e-5 }} {{ 0x1F }} {{ 1_000_000 }} {{ 'x' }} {{ '\n' }} {{ -0.0 }} {{ 0.1 }} {{ 2.5e-300 }}"#,
        Ok(r#"1e+06 1e-06 1e+21 1.23456789e+08 1 3e-05 31 1000000 120 10 -0 0.1 2.5e-300"#),
    ),
    (
        r#"{{ printf "%5s|%-5s|%05d|%x|%X|%o|%b" "ab" "cd" 42 3054 "hi" 8 5 }}"#,
        Ok(r#"   ab|cd   |00042|bee|6869|10|101"#),
    ),
    (
        r#"{{ printf "%e|%E|%g|%G|%8.3f|%+d|% d|%c|%U|%q" 1234.5678 0.000123 1e-7 1e21 3.14159 5 7 65 9731 65 }}"#,
        Ok(r#"1.234568e+03|1.230000E-04|1e-07|1E+21|   3.142|+5| 7|A|U+2603|'A'"#),
    ),
    (
        r#"{{ printf "%T %T %T %T %T" 1 1.5 "s" .Alerts .CommonLabels }}"#,
        Ok(r#"int float64 string template.Alerts template.KV"#),
    ),
    (r#"{{ printf "%d %s" "x" 5 }}"#, Ok(r#"%!d(string=x) %!s(int=5)"#)),
    (r#"{{ printf "%d" }} {{ printf "x" 1 2 }}"#, Ok(r#"%!d(MISSING) x%!(EXTRA int=1, int=2)"#)),
    (r#"{{ printf "%v|%+v|%#v" .Status 1.5 "q" }}"#, Ok(r#"firing|1.5|"q""#)),
    (r#"{{ printf "%6.2f%%" 12.3456 }}"#, Ok(r#" 12.35%"#)),
    (
        r#"{{ printf "%.3s|%.0f|%.1e|%10.4v|%-10v|" "abcdef" 2.5 123456.0 3.14159265 "x" }}"#,
        Ok(r#"abc|2|1.2e+05|     3.142|x         |"#),
    ),
    (
        r#"{{ print 1 2 "a" "b" 3 .Status 4 }}|{{ println 1 "a" 2 }}|{{ print }}|{{ print nil }}"#,
        Ok(r#"1 2ab3firing4|1 a 2
||<nil>"#),
    ),
    (r#"{{ html "<a>" 1 "b" }} {{ js "x" 2 }} {{ urlquery "a" "b c" 3 }}"#, Ok(r#"&lt;a&gt;1b x2 ab+c3"#)),
    (
        r#"{{ eq 1 1.0 }}"#,
        Err(r#"template: :1:3: executing "" at <eq 1 1.0>: error calling eq: incompatible types for comparison"#),
    ),
    (
        r#"{{ eq "a" 1 }}"#,
        Err(r#"template: :1:3: executing "" at <eq "a" 1>: error calling eq: incompatible types for comparison"#),
    ),
    (r#"{{ eq .Status nil }} {{ eq nil nil }}"#, Ok(r#"false true"#)),
    (r#"{{ not 0 }} {{ not "x" }} {{ not .Alerts }} {{ not .CommonLabels }}"#, Ok(r#"true false false false"#)),
    (r#"{{ and false (index .Alerts 99) }} {{ or true (index .Alerts 99) }}"#, Ok(r#"false true"#)),
    (r#"{{ with $x := .Status }}{{ $x }}{{ end }}"#, Ok(r#"firing"#)),
    (r#"{{- 3 }} {{3 -}} x"#, Ok(r#"3 3x"#)),
    (r#"{{ 3 - 4 }}"#, Err(r#"template: :1: illegal number syntax: "-""#)),
    (r#"{{ .Status | printf "%s-%s" "x" }}"#, Ok(r#"x-firing"#)),
    (r#"{{ (index .Alerts 0).Labels.SortedPairs.Values }}"#, Ok(r#"[HighLatency a:9090 api page]"#)),
    (r#"{{ range .Alerts }}{{ $x := .Status }}{{ end }}{{ $x }}"#, Err(r#"template: :1: undefined variable "$x""#)),
    (
        r#"{{ toUpper .Nope.X }}"#,
        Err(r#"template: :1:16: executing "" at <.Nope.X>: can't evaluate field Nope in type template.Data"#),
    ),
    (r#"{{ toUpper .CommonLabels.missing }}|{{ toUpper (index .CommonLabels "nope") }}"#, Ok(r#"|"#)),
    (
        r#"{{ index .CommonLabels 1 }}"#,
        Err(
            r#"template: :1:3: executing "" at <index .CommonLabels 1>: error calling index: value has type int; should be string"#,
        ),
    ),
    (
        r#"{{ index .Alerts "x" }}"#,
        Err(
            r#"template: :1:3: executing "" at <index .Alerts "x">: error calling index: cannot index slice/array with type string"#,
        ),
    ),
    (
        r#"{{ index nil 1 }}"#,
        Err(r#"template: :1:3: executing "" at <index nil 1>: error calling index: index of untyped nil"#),
    ),
    (r#"{{ len 3 }}"#, Err(r#"template: :1:3: executing "" at <len 3>: error calling len: len of type int"#)),
    (r#"{{ if and .Alerts (gt (len .Alerts) 1) }}many{{ else if .Alerts }}one{{ else }}none{{ end }}"#, Ok(r#"many"#)),
    (
        r#"{{ define "t" }}{{ if . }}{{ . }}{{ template "t" (slice . 1) }}{{ end }}{{ end }}{{ template "t" "abc" }}"#,
        Ok(r#"abcbcc"#),
    ),
    (r#"{{ $a := 1 }}{{ with .Status }}{{ $a := 2 }}{{ $a }}{{ end }}{{ $a }}"#, Ok(r#"21"#)),
    (
        r#"{{ range $k, $v := .CommonLabels }}{{ $k }}={{ $v }} {{ end }}"#,
        Ok(r#"alertname=HighLatency job=api severity=page "#),
    ),
    (r#"{{ range .CommonLabels }}{{ . }} {{ end }}"#, Ok(r#"HighLatency api page "#)),
    (
        r#"{{ range $i, $p := .CommonLabels.SortedPairs }}{{ $i }}{{ $p.Name }} {{ end }}"#,
        Ok(r#"0alertname 1job 2severity "#),
    ),
    (r#"{{ range $i := .Alerts }}{{ $i.Status }}{{ end }}"#, Ok(r#"firingresolved"#)),
    (r#"{{ .Alerts.Firing | len }} {{ len .Alerts.Resolved }}"#, Ok(r#"1 1"#)),
    (r#"{{ "a" | printf "%s%s" | printf "[%s]" }}"#, Ok(r#"[a%!s(MISSING)]"#)),
    (
        r#"{{ .Status.Foo }}"#,
        Err(r#"template: :1:10: executing "" at <.Status.Foo>: can't evaluate field Foo in type string"#),
    ),
    (r#"{{ nil }}"#, Err(r#"template: :1:3: executing "" at <nil>: nil is not a command"#)),
    (
        r#"{{ .Status 1 }}"#,
        Err(r#"template: :1:3: executing "" at <.Status>: Status has arguments but cannot be invoked as function"#),
    ),
    (
        r#"{{ $x := 1 }}{{ $x 2 }}"#,
        Err(r#"template: :1:16: executing "" at <$x>: can't give argument to non-function $x"#),
    ),
    (r#"{{ if 1 }}a{{ end }}{{ if 0.0 }}b{{ end }}{{ if "" }}c{{ end }}{{ if "0" }}d{{ end }}"#, Ok(r#"ad"#)),
    (r#"{{/* a comment */}}x{{- /* trimmed */ -}} y"#, Ok(r#"xy"#)),
    (r#"{{ /* bad */ }}"#, Err(r#"template: :1: unexpected "/" in command"#)),
    (r#"{{ "unterminated }}"#, Err(r#"template: :1: unterminated quoted string"#)),
    (r#"{{ range }}{{ end }}"#, Err(r#"template: :1: missing value for range"#)),
    (r#"{{ else }}"#, Err(r#"template: :1: unexpected {{else}}"#)),
    (r#"{{ if .Status }}{{ else }}{{ else }}{{ end }}"#, Err(r#"template: :1: expected end; found {{else}}"#)),
    (r#"{{ define "a" }}{{ end }}{{ define "a" }}x{{ end }}{{ template "a" }}"#, Ok(r#"x"#)),
    (r#"{{ template "a" }}{{ define "a" }}1{{ end }}"#, Ok(r#"1"#)),
    (r#"{{ .Receiver | len | printf "%03d" }}"#, Ok(r#"006"#)),
    (r#"{{ (index .Alerts 1).EndsAt.Sub (index .Alerts 1).StartsAt }}"#, Ok(r#"1h0m0s"#)),
    (
        r#"{{ (index .Alerts 0).StartsAt.UnixMilli }} {{ (index .Alerts 0).StartsAt.Year }} {{ (index .Alerts 0).StartsAt.Month }} {{ (index .Alerts 0).StartsAt.Weekday }}"#,
        Ok(r#"1704096930123 2024 January Monday"#),
    ),
    (
        r#"{{ (index .Alerts 0).StartsAt.Format "Monday, 02-Jan-06 15:04:05.999999 -07:00 Z0700" }}"#,
        Ok(r#"Monday, 01-Jan-24 08:15:30.123 +00:00 Z"#),
    ),
    (r#"{{ ge 3 2 1 }}"#, Err(r#"template: :1:3: executing "" at <ge>: wrong number of args for ge: want 2 got 3"#)),
    (r#"{{ lt "a" }}"#, Err(r#"template: :1:3: executing "" at <lt>: wrong number of args for lt: want 2 got 1"#)),
    (
        r#"{{ lt true false }}"#,
        Err(r#"template: :1:3: executing "" at <lt true false>: error calling lt: invalid type for comparison"#),
    ),
    (
        r#"{{ lt .Alerts .Alerts }}"#,
        Err(r#"template: :1:3: executing "" at <lt .Alerts .Alerts>: error calling lt: invalid type for comparison"#),
    ),
    (r#"{{ eq .CommonLabels.job "api" }} {{ ne .CommonLabels.job "x" }}"#, Ok(r#"true true"#)),
    (r#"{{ block "b" . }}{{ .Status }}{{ end }}"#, Ok(r#"firing"#)),
    (r#"{{ continue }}"#, Err(r#"template: :1: {{continue}} outside {{range}}"#)),
    (r#"{{ range .Alerts }}{{ continue }}x{{ end }}done"#, Ok(r#"done"#)),
    (r#"{{ printf "%x %X % x" "hello" 255 "ab" }}"#, Ok(r#"68656c6c6f FF 61 62"#)),
    (r#"{{ printf "%08.3f|%-8.2f|%+.1e" -3.14159 2.5 12345.678 }}"#, Ok(r#"-003.142|2.50    |+1.2e+04"#)),
    (r#"{{ printf "%t %v" true false }} {{ printf "%t" 1 }}"#, Ok(r#"true false %!t(int=1)"#)),
    (r#"{{ printf "%s" nil }} {{ printf "%v" nil }} {{ printf "%d" nil }}"#, Ok(r#"%!s(<nil>) <nil> %!d(<nil>)"#)),
    (r#"{{ printf "%[2]s %[1]s" "a" "b" }} {{ printf "%[3]s" "a" }}"#, Ok(r#"b a %!s(BADINDEX)"#)),
    (
        r#"{{ printf "%q" 'x' }} {{ printf "%c" 0x1F600 }} {{ printf "%q" "héllo\x01" }} {{ printf "%+q" "héllo" }} {{ printf "%#q" "a`b" }} {{ printf "%#q" "ab" }}"#,
        Ok(r#"'x' 😀 "héllo\x01" "h\u00e9llo" "a`b" `ab`"#),
    ),
    (r#"{{ printf "%5t|%-7v|%3c|" true nil 65 }}"#, Ok(r#" true|<nil>  |  A|"#)),
    (r#"{{ printf "%#x %#o %#b" 255 8 5 }}"#, Ok(r#"0xff 010 0b101"#)),
    (r#"{{ printf "%.2d %5.3d" 7 7 }}"#, Ok(r#"07   007"#)),
    (r#"{{ printf "%g %g %g %g" 100000.0 1000000.0 0.0001 0.00001 }}"#, Ok(r#"100000 1e+06 0.0001 1e-05"#)),
    (r#"{{ printf "%.3g %.10g %.0g" 1234.5678 1.0 0.5 }}"#, Ok(r#"1.23e+03 1 0.5"#)),
    (
        r#"{{ printf "%e" 0.0 }} {{ printf "%f" 1e21 }} {{ printf "%.0f %.0f %.0f" 0.5 1.5 2.5 }}"#,
        Ok(r#"0.000000e+00 1000000000000000000000.000000 0 2 2"#),
    ),
    (
        r#"{{ printf "%v %v" 1e20 1e21 }} {{ printf "%v" 123456789012.0 }}
"#,
        Ok(r#"1e+20 1e+21 1.23456789012e+11
"#),
    ),
    // Go struct semantics of template.Data and template.Alert.
    (
        r#"{{ .Nope }}"#,
        Err(r#"template: :1:3: executing "" at <.Nope>: can't evaluate field Nope in type template.Data"#),
    ),
    (
        r#"{{ range .Alerts }}{{ .Labels.Nope }}|{{ .Nope }}{{ end }}"#,
        Err(r#"template: :1:41: executing "" at <.Nope>: can't evaluate field Nope in type template.Alert"#),
    ),
    (r#"{{ with index .Alerts 0 }}{{ .Status }} {{ .StartsAt.Unix }}{{ end }}"#, Ok(r#"firing 1704096930"#)),
    (
        r#"{{ .Receiver.x }}"#,
        Err(r#"template: :1:12: executing "" at <.Receiver.x>: can't evaluate field x in type string"#),
    ),
    (r#"{{ range $a := .Alerts }}{{ $a.Annotations.summary }};{{ end }}"#, Ok(r#"latency high;latency high;"#)),
];

/// HTML mode (email bodies), as `amtool template render --template.type=html` prints it.
const HTML_CASES: &[(&str, &str)] = &[
    (r#"<p>{{ "a<b>&\"'+c" }}</p>"#, "<p>a&lt;b&gt;&amp;&#34;&#39;&#43;c</p>"),
    (r#"<a href="{{ .ExternalURL }}/#/alerts">x</a>"#, r#"<a href="http://am:9093/#/alerts">x</a>"#),
    (r#"<b title="{{ .CommonLabels.alertname }} <x>">{{ 1.5 }}</b>"#, r#"<b title="HighLatency <x>">1.5</b>"#),
    ("{{ range .Alerts }}<li>{{ .Labels.instance }}</li>{{ end }}", "<li>a:9090</li><li>b:9090</li>"),
    (r#"{{ template "title" . }}"#, "[FIRING:1] HighLatency"),
    (r#"{{ "<b>" | safeHtml }}|{{ .CommonLabels.missing }}|"#, "<b>||"),
];

fn set() -> TemplateSet {
    let mut set = TemplateSet::new(Funcs::go_builtins().with_alertmanager());
    set.parse("notify.tmpl", LIB).unwrap();
    set
}

fn data() -> Value {
    notification_data_from_json(&serde_json::from_str(DATA).unwrap()).unwrap()
}

#[test]
fn notification_templates() {
    let (set, data) = (set(), data());
    for (text, want) in CASES {
        let got = set.execute_text(text, &data);
        match (&got, want) {
            (Ok(out), Ok(want)) => assert_eq!(out, want, "template {text:?}"),
            (Err(e), Err(want)) => assert_eq!(&e.to_string(), want, "template {text:?}"),
            _ => panic!("template {text:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn html_notification_templates() {
    let (set, data) = (set(), data());
    for (text, want) in HTML_CASES {
        assert_eq!(set.execute_text_html(text, &data).unwrap(), *want, "template {text:?}");
    }
}

fn amtool(lib: &std::path::Path, data: &std::path::Path, text: &str, html: bool) -> std::process::Output {
    let mut cmd = Command::new("amtool");
    cmd.args(["template", "render", "--template.glob"]).arg(lib).arg("--template.text").arg(text);
    cmd.arg("--template.data").arg(data);
    if html {
        cmd.arg("--template.type=html");
    }
    cmd.output().unwrap()
}

/// Every table case, printed by the real Alertmanager (skipped where `amtool` is not installed).
#[test]
fn matches_real_amtool() {
    if Command::new("amtool").arg("--version").output().is_err() {
        eprintln!("amtool not installed; the table's expectations are not re-checked against it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("notify.tmpl");
    let data = dir.path().join("data.json");
    std::fs::write(&lib, LIB).unwrap();
    std::fs::write(&data, DATA).unwrap();
    for (text, want) in CASES {
        let out = amtool(&lib, &data, text, false);
        match want {
            Ok(want) => {
                assert!(out.status.success(), "amtool failed on {text:?}: {}", String::from_utf8_lossy(&out.stderr));
                // amtool prints the rendering followed by nothing else.
                assert_eq!(String::from_utf8_lossy(&out.stdout), *want, "amtool on {text:?}");
            }
            Err(want) => {
                assert!(!out.status.success(), "amtool accepted {text:?}");
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(stderr.contains(want), "amtool on {text:?}: {stderr}");
            }
        }
    }
    for (text, want) in HTML_CASES {
        let out = amtool(&lib, &data, text, true);
        assert!(out.status.success(), "amtool failed on {text:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), *want, "amtool (html) on {text:?}");
    }
}

/// What changed in Alertmanager after 0.25, from its current `template/template.go` and
/// `template_test.go`: `KV`/`Pairs` print through their `String` methods, `title` is
/// `cases.Title`, and `trimSpace`, `urlUnescape`, `date`, `tz`, `since`, `humanizeDuration`,
/// `toJson` exist.
#[test]
fn current_alertmanager_functions() {
    let (set, data) = (set(), data());
    let t = Value::time_from_unix_millis(1_704_096_930_000); // 2024-01-01 08:15:30 UTC
    let cases: &[(&str, &Value, &str)] = &[
        ("{{ .CommonLabels }}", &data, "alertname=HighLatency, job=api, severity=page"),
        ("{{ .CommonLabels.SortedPairs }}", &data, "alertname=HighLatency, job=api, severity=page"),
        (r#"{{ "abc" | title }} {{ "hello wORLD" | title }}"#, &data, "Abc Hello World"),
        (r#"{{ " a b c " | trimSpace }}"#, &data, "a b c"),
        (r#"{{ urlUnescape "a%20b%2Fc+d" }}"#, &data, "a b/c d"),
        (r#"{{ . | date "2006-01-02" }}"#, &t, "2024-01-01"),
        (r#"{{ . | tz "Europe/Paris" }}"#, &t, "2024-01-01 09:15:30 +0100 CET"),
        (r#"{{ (index .Alerts 0).StartsAt | tz "America/New_York" | date "15:04 MST" }}"#, &data, "03:15 EST"),
        ("{{ humanizeDuration 3661 }} {{ humanizeDuration 0.25 }}", &data, "1h 1m 1s 250ms"),
        ("{{ .CommonAnnotations | toJson }}", &data, r#"{"summary":"latency high"}"#),
    ];
    for (text, d, want) in cases {
        assert_eq!(set.execute_text(text, d).unwrap(), *want, "{text}");
    }
    assert_eq!(
        set.execute_text(r#"{{ . | tz "Invalid/Timezone" }}"#, &t).unwrap_err().to_string(),
        r#"template: :1:7: executing "" at <tz "Invalid/Timezone">: error calling tz: unknown time zone Invalid/Timezone"#
    );
    // `since`: an hour ago, humanized.
    let hour_ago = Value::time_from_unix_millis(chrono::Utc::now().timestamp_millis() - 3_600_000);
    assert_eq!(set.execute_text("{{ . | since | humanizeDuration }}", &hour_ago).unwrap(), "1h 0m 0s");
    // Empty text renders to nothing without parsing, as ExecuteTextString does.
    assert_eq!(set.execute_text("", &data).unwrap(), "");
}
