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
        let out = Command::new("amtool")
            .args(["template", "render", "--template.glob"])
            .arg(&lib)
            .arg("--template.text")
            .arg(text)
            .arg("--template.data")
            .arg(&data)
            .output()
            .unwrap();
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
