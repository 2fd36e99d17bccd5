//! Random templates built from language fragments never panic: every failure is an error.
//! Deterministic (a fixed xorshift seed) and bounded.

use lookout_template::data::notification_data_from_json;
use lookout_template::{Funcs, TemplateSet, render};
#[test]
fn random_templates_error_instead_of_panicking() {
    let frags = [
        "{{",
        "}}",
        "{{- ",
        " -}}",
        " ",
        ".",
        ".Alerts",
        ".Status",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "\"a\"",
        "`b`",
        "'c'",
        "1",
        "-2",
        "1.5e3",
        "0x1f",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "\"t\"",
        "printf",
        "\"%d %s %v %5.2f %[9]d %",
        "index",
        "slice",
        "len",
        "eq",
        "lt",
        "and",
        "or",
        "not",
        "nil",
        "true",
        ",",
        "/*",
        "*/",
        "\n",
        "é",
        "\\",
        "\"",
        "html",
        "js",
        "urlquery",
        "print",
        ".CommonLabels",
        ".SortedPairs",
        ".Remove",
        "stringSlice",
        "tz",
        "date",
        ".StartsAt",
        ".Format",
        "humanizeDuration",
        "toJson",
        "join",
        "match",
        "reReplaceAll",
        "\"(\"",
        "title",
        "since",
    ];
    let data =
        notification_data_from_json(&serde_json::from_str(include_str!("testdata/notify_data.json")).unwrap()).unwrap();
    let funcs = Funcs::go_builtins().with_alertmanager().with_prometheus(None);
    let mut set = TemplateSet::new(funcs.clone());
    set.parse("t", "{{define \"t\"}}{{template \"t\" .}}{{end}}").unwrap();
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut ok = 0;
    for _ in 0..30000 {
        let n = (next() % 14) as usize + 1;
        let mut s = String::from(if next() % 2 == 0 { "{{ " } else { "{{range .Alerts}}{{ " });
        for _ in 0..n {
            s.push_str(frags[(next() % frags.len() as u64) as usize]);
        }
        s.push_str(" }}{{end}}");
        if render(&s, &data, &funcs).is_ok() {
            ok += 1;
        }
        let _ = set.execute_text(&s, &data);
    }
    // The generator reaches both outcomes.
    assert!(ok > 0 && ok < 30000, "{ok} of 30000 rendered");
}
