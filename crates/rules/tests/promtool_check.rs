//! Differential test of rule-file validation against `promtool check rules` (Debian's
//! 2.42, which CI installs): for each file, the same verdict and the same messages
//! (positions aside: ours are `FILE:LINE:COL` on every message, promtool's are partial).
//! Without promtool on PATH only our expected verdicts are checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use lookout_rules::parse_rule_file;

struct Case {
    name: &'static str,
    text: &'static str,
    valid: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "good",
        text: r#"groups:
  - name: api
    interval: 30s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          tier: backend
      - alert: Down
        expr: job:up:sum == 0
        for: 5m
        keep_firing_for: 1m
        labels:
          severity: "{{ if gt $value 1.0 }}page{{ else }}ticket{{ end }}"
        annotations:
          summary: "{{ $labels.job }} down: {{ $value | humanize }} ({{ $externalLabels.region }})"
          query: '{{ with query "up" }}{{ . | first | value }}{{ end }}'
  - name: other
    rules: []
"#,
        valid: true,
    },
    Case {
        name: "record_and_alert",
        text: "groups:\n  - name: g\n    rules:\n      - alert: A\n        record: b\n        expr: up\n      - expr: up\n",
        valid: false,
    },
    Case {
        name: "recording_fields",
        text: "groups:\n  - name: g\n    rules:\n      - record: bad-name\n        expr: up\n        for: 5m\n        keep_firing_for: 1m\n        annotations:\n          a: b\n",
        valid: false,
    },
    Case {
        name: "names",
        text: "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        labels:\n          bad-label: x\n          __name__: y\n        annotations:\n          bad-annotation: z\n",
        valid: false,
    },
    Case {
        name: "groups",
        text: "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n  - name: ''\n    rules: []\n",
        valid: false,
    },
    Case {
        name: "templates",
        text: r#"groups:
  - name: g
    rules:
      - alert: X
        expr: up == 0
        labels:
          a: "{{ foo }}"
          b: "{{ $undefined }}"
        annotations:
          c: "{{ range }}"
          d: "{{ if .Labels }}x"
          e: "{{ .Foo }"
"#,
        valid: false,
    },
    Case {
        name: "expressions",
        text: "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(up\n      - record: r\n        expr: ''\n",
        valid: false,
    },
    Case { name: "duration", text: "groups:\n  - name: g\n    interval: 1x\n    rules: []\n", valid: false },
];

fn promtool() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("promtool")).find(|p| p.is_file())
}

/// Strips `L:C: ` prefixes (promtool puts up to two) and normalises what differs by
/// design: the PromQL parser's wording after "could not parse expression".
fn normalise(mut m: &str) -> String {
    for _ in 0..2 {
        let pos = m.split_once(": ").filter(|(p, _)| {
            p.split(':').count() == 2 && p.split(':').all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if let Some((_, rest)) = pos {
            m = rest;
        }
    }
    match m.find("could not parse expression") {
        Some(i) => m[..i + "could not parse expression".len()].to_string(),
        None => m.to_string(),
    }
}

fn ours(file: &Path, text: &str) -> (bool, Vec<String>) {
    let name = file.display().to_string();
    match parse_rule_file(&name, text) {
        Ok(_) => (true, Vec::new()),
        Err(e) => {
            let mut v: Vec<String> = e.0.iter().map(|e| normalise(&e.message)).collect();
            v.sort();
            (false, v)
        }
    }
}

fn theirs(promtool: &Path, file: &Path) -> (bool, Vec<String>) {
    let out = Command::new(promtool).args(["check", "rules"]).arg(file).output().expect("run promtool");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let prefix = format!("{}: ", file.display());
    let mut v: Vec<String> = text.lines().filter_map(|l| l.strip_prefix(&prefix)).map(normalise).collect();
    v.sort();
    (out.status.success(), v)
}

#[test]
fn check_messages_match_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let promtool = promtool();
    if promtool.is_none() {
        eprintln!("promtool is not on PATH: checking expected verdicts only");
    }
    let mut problems = Vec::new();
    for case in CASES {
        let file = dir.path().join(format!("{}.yml", case.name));
        std::fs::write(&file, case.text).unwrap();
        let (ok, mine) = ours(&file, case.text);
        if ok != case.valid {
            problems.push(format!("{}: expected valid={}, got {mine:?}", case.name, case.valid));
        }
        let Some(promtool) = &promtool else { continue };
        let (their_ok, their_msgs) = theirs(promtool, &file);
        if their_ok != ok {
            problems
                .push(format!("{}: promtool says valid={their_ok} {their_msgs:?}, we say {ok} {mine:?}", case.name));
        } else if their_msgs != mine {
            problems.push(format!("{}:\n  promtool: {their_msgs:?}\n  ours:     {mine:?}", case.name));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
