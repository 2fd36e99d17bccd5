use std::process::Command;

use crate::util::{lookout_bin, workspace_root};

/// Runs `lookout check` on `yaml`; returns (exit code, stderr with the temp path shown as `p.yaml`).
fn check(yaml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(lookout_bin()).arg("check").arg("--config").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "p.yaml");
    (out.status.code().unwrap_or(-1), stderr)
}

const HEAD: &str = "sources:\n  otlp:\n    type: otlp\n    http: { address: 127.0.0.1:4318 }\n";

fn expect_error(yaml: &str, expected: &str) {
    let (code, stderr) = check(yaml);
    assert_eq!(code, 1, "exit 1 expected; stderr:\n{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with(expected)),
        "expected a line starting with\n  {expected}\ngot:\n{stderr}"
    );
}

#[test]
fn unknown_key() {
    expect_error(
        &format!("{HEAD}sinks:\n  out:\n    type: file\n    inputs: [otlp]\n    pathh: x.ndjson\n"),
        "p.yaml:9:5: unknown field `pathh`",
    );
}

#[test]
fn unknown_top_level_key() {
    expect_error(&format!("{HEAD}sink:\n  out: {{}}\n"), "p.yaml:5:1: unknown field `sink`");
}

#[test]
fn wrong_type() {
    expect_error(
        &format!(
            "{HEAD}sinks:\n  out:\n    type: file\n    inputs: [otlp]\n    path: x\n    buffer:\n      max_events: lots\n"
        ),
        "p.yaml:11:19: ",
    );
}

#[test]
fn unknown_component_type() {
    expect_error(
        &format!("{HEAD}sinks:\n  out:\n    type: fiel\n    inputs: [otlp]\n"),
        "p.yaml:7:11: unknown sink type `fiel`",
    );
}

#[test]
fn input_that_names_nothing() {
    expect_error(
        &format!("{HEAD}sinks:\n  out:\n    type: file\n    inputs: [otlp, enrich]\n    path: x\n"),
        "p.yaml:8:20: input `enrich` does not name a source or transform",
    );
}

#[test]
fn cycle() {
    let yaml = format!(
        "{HEAD}transforms:\n  a:\n    type: filter\n    inputs: [otlp, b]\n    condition: 'severity_number > 0'\n  b:\n    type: filter\n    inputs: [a]\n    condition: 'severity_number > 0'\nsinks:\n  out:\n    type: file\n    inputs: [b]\n    path: x\n"
    );
    let (code, stderr) = check(&yaml);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(": cycle in the pipeline: "), "{stderr}");
    assert!(stderr.starts_with("p.yaml:"), "{stderr}");
}

#[test]
fn yaml_syntax_error() {
    let (code, stderr) = check("sources:\n  otlp:\n    type: otlp\n   bad indent: [\n");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("p.yaml:"), "{stderr}");
}

#[test]
fn several_errors_are_all_reported() {
    let (code, stderr) = check(&format!(
        "{HEAD}sinks:\n  a:\n    type: fiel\n    inputs: [otlp]\n  b:\n    type: file\n    inputs: [nope]\n    path: x\n"
    ));
    assert_eq!(code, 1);
    assert!(stderr.contains("p.yaml:7:11: unknown sink type `fiel`"), "{stderr}");
    assert!(stderr.contains("p.yaml:11:14: input `nope` does not name a source or transform"), "{stderr}");
}

#[test]
fn the_default_pipeline_is_valid() {
    let out = Command::new(lookout_bin())
        .arg("check")
        .arg("--config")
        .arg(workspace_root().join("pipelines/default.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // And the copy built into the binary, used when no file is given.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(lookout_bin()).arg("check").current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("<embedded>/pipelines/default.yaml: ok"));
}

#[test]
fn version_and_help_read_well() {
    let out = Command::new(lookout_bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lookout "));
    let out = Command::new(lookout_bin()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["run", "check", "Usage"] {
        assert!(help.contains(word), "{help}");
    }
}
