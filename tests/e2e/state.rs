//! Durability issue item 8, crash-safe state: garbage in every state file under `data_dir`
//! (the rule engine's, the notifier's, the scaler's, the error groups') never stops
//! Lookout. Each file is moved aside to `<file>.corrupt-<unix seconds>`, the stage starts
//! empty, `/health` says it runs degraded and why (while `/health/ready` stays 200), and
//! the next start is clean.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{Lookout, pipeline};

const RULES: &str = r#"groups:
  - name: e2e
    interval: 200ms
    rules:
      - alert: QueueBacklog
        expr: max(queue_jobs_pending) > 1000
"#;

/// The state files, relative to `data_dir`, with the `/health` component that owns each.
const STATE_FILES: [(&str, &str); 4] = [
    ("rules/state.json", "rules"),
    ("notify.redb", "notifier"),
    ("scaler/state.json", "scaler"),
    ("errors/groups.redb", "errors"),
];

/// The test pipeline with rules, scaling and the metrics store, over a `data_dir` whose
/// state files hold garbage.
fn corrupt_state_pipeline(api: &str, grpc: &str, http: &str, dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/e2e.yml"), RULES).unwrap();
    std::fs::write(dir.join("scaling.yml"), crate::scaling::POLICY).unwrap();
    for (file, _) in STATE_FILES {
        let path = dir.join("data").join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Long enough for redb to read a header and call it corrupt, not truncated.
        std::fs::write(&path, b"\0not a state file, just garbage left by a bad disk\n".repeat(100)).unwrap();
    }
    format!(
        "{}  metrics:\n    type: metrics_store\n    inputs: [enrich]\n  errors:\n    type: error_groups\n    inputs: [enrich]\nrules:\n  files: [rules/*.yml]\nscaling:\n  files: [scaling.yml]\n",
        pipeline(api, grpc, http, dir, "", "enrich")
    )
}

/// The `<file>.corrupt-*` files next to `file`.
fn moved_aside(file: &Path) -> Vec<PathBuf> {
    let name = format!("{}.corrupt-", file.file_name().unwrap().to_str().unwrap());
    std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&name))
        .collect()
}

async fn get_json(lookout: &Lookout, path: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("http://{}{path}", lookout.api)).await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn corrupt_state_files_are_moved_aside_and_reported_degraded() {
    let mut lookout = Lookout::start_custom(corrupt_state_pipeline, &[]).await;
    let data = lookout.dir.path().join("data");

    // Started (Lookout::start waits for /health/ready = 200), degraded, and says why.
    let (code, health) = get_json(&lookout, "/health").await;
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    for (file, component) in STATE_FILES {
        let path = data.join(file);
        let aside = moved_aside(&path);
        assert_eq!(aside.len(), 1, "{file} moved aside once: {aside:?}\n{}", lookout.log());
        assert!(std::fs::read(&aside[0]).unwrap().starts_with(b"\0not a state file"), "{aside:?}");
        let c = &health["components"][component];
        assert_eq!(c["state"], "degraded", "{component}: {health}");
        let reason = c["reason"].as_str().unwrap();
        assert!(reason.starts_with("state file was corrupt; moved to "), "{component}: {reason}");
        assert!(reason.contains(&aside[0].display().to_string()), "{component}: {reason}");
    }
    let (code, ready) = get_json(&lookout, "/health/ready").await;
    assert_eq!((code, &ready["ready"]), (200, &Value::Bool(true)), "degraded is not unready: {ready}");
    let log = lookout.log();
    for what in [
        "Saved alert state is corrupt",
        "Notifier state file is corrupt",
        "Scaler state file is corrupt",
        "Error groups file is corrupt",
    ] {
        let line = log.lines().find(|l| l.contains(what)).unwrap_or_else(|| panic!("no `{what}` in:\n{log}"));
        assert!(line.contains("ERROR"), "{line}");
    }
    assert!(lookout.stop().await.success(), "{}", lookout.log());

    // The next start over the same data_dir finds the files the last run saved: clean.
    let config = std::fs::read_to_string(lookout.dir.path().join("pipeline.yaml")).unwrap();
    let mut again = Lookout::start_in(lookout.dir.path(), &config, &lookout.api, &lookout.http).await;
    let (_, health) = get_json(&again, "/health").await;
    for (file, component) in STATE_FILES {
        assert_eq!(health["components"][component]["state"], "running", "{component}: {health}");
        assert_eq!(moved_aside(&data.join(file)).len(), 1, "{file}: nothing more moved aside");
    }
    assert!(again.stop().await.success(), "{}", again.log());
}
