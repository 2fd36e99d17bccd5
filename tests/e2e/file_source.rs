//! The `file` source against a writer that rotates its log: by rename (the old file
//! still written to after the rename) and by copytruncate, a file replaced by another of
//! the same name, multi-line records; and `kill -9` mid-stream: after restarts every line
//! is in the file sink's output at least once (duplicates counted, none lost).
//!
//! Bounded: a few thousand lines, each test well under 30 s.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Lookout, free_port, read_ndjson};

struct Setup {
    dir: tempfile::TempDir,
    api: String,
    config: String,
}

impl Setup {
    /// A pipeline following `logs/*.log` (plus `extra_source(logs dir)`, a source named `traces`).
    fn new(extra_source: impl FnOnce(&Path) -> String) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        let extra_source = extra_source(&dir.path().join("logs"));
        let api = format!("127.0.0.1:{}", free_port());
        let config = format!(
            r#"api: {{ address: {api} }}
data_dir: {data}
sources:
  appfile:
    type: file
    include: ["{logs}/*.log"]
    exclude: ["{logs}/ignored*"]
    poll_interval_ms: 50
    rotate_wait_ms: 500
{extra_source}
sinks:
  archive:
    type: file
    inputs: [appfile{extra_input}]
    path: {out}
"#,
            data = dir.path().join("data").display(),
            logs = dir.path().join("logs").display(),
            out = dir.path().join("out.ndjson").display(),
            extra_input = if extra_source.is_empty() { "" } else { ", traces" },
        );
        Setup { dir, api, config }
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join("logs").join(name)
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out.ndjson")
    }

    async fn start(&self) -> Lookout {
        Lookout::start_in(self.dir.path(), &self.config, &self.api, "").await
    }
}

/// How many times each body arrived.
fn bodies(out: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for doc in read_ndjson(out) {
        if let Some(b) = doc["body"].as_str() {
            *counts.entry(b.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Waits until every one of `lines` arrived; panics naming the first missing ones.
async fn wait_all(out: &Path, lines: &[String], within: Duration) -> HashMap<String, usize> {
    let deadline = Instant::now() + within;
    loop {
        let got = bodies(out);
        let missing: Vec<_> = lines.iter().filter(|l| !got.contains_key(*l)).collect();
        if missing.is_empty() {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} lines never arrived, first: {:?}",
            missing.len(),
            lines.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap()
}

#[tokio::test]
async fn file_source_follows_rename_and_copytruncate_rotation_and_replacement() {
    let setup = Setup::new(|logs| {
        format!(
            r#"  traces:
    type: file
    include: ["{}/trace.txt"]
    multiline: {{ start_pattern: '^\d{{4}}-', timeout_ms: 300 }}
    max_line_bytes: 200"#,
            logs.display()
        )
    });
    // Present before the start (read_from: beginning), and a file the exclude leaves alone.
    writeln!(append(&setup.log("app.log")), "before start").unwrap();
    writeln!(append(&setup.log("ignored.log")), "never read").unwrap();
    let lookout = setup.start().await;
    let out = setup.out();
    let mut expected = vec!["before start".to_string()];

    let app = setup.log("app.log");
    let mut file = append(&app);
    let mut n = 0;
    for round in 0..6 {
        for _ in 0..200 {
            let line = format!("line {n} of round {round}");
            writeln!(file, "{line}").unwrap();
            expected.push(line);
            n += 1;
            if n % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        if round % 2 == 0 {
            // Rename: the writer goes on in the old file for a moment, then reopens the name.
            std::fs::rename(&app, setup.log(&format!("app.log.{round}"))).unwrap();
            for _ in 0..20 {
                let line = format!("line {n} late in the renamed file");
                writeln!(file, "{line}").unwrap();
                expected.push(line);
                n += 1;
            }
            file = append(&app);
        } else {
            // copytruncate: what was written after the last read and before the
            // truncation is lost by design of copytruncate, so the copy is taken once
            // the source has everything; then the size shrinks under the reader.
            wait_all(&out, &expected, Duration::from_secs(15)).await;
            std::fs::copy(&app, setup.log(&format!("app.copy.{round}"))).unwrap();
            file.set_len(0).unwrap();
        }
    }
    let got = wait_all(&out, &expected, Duration::from_secs(15)).await;
    let duplicates: Vec<_> = got.iter().filter(|(_, c)| **c > 1).collect();
    assert!(duplicates.is_empty(), "without a crash no line comes twice: {duplicates:?}");
    assert!(!got.contains_key("never read"));

    // A file replaced by one with the same name is read from its start.
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::remove_file(&app).unwrap();
    let mut file = append(&app);
    writeln!(file, "line 0 of the replacement").unwrap();
    writeln!(file, "line 1 of the replacement").unwrap();
    expected.extend(["line 0 of the replacement".to_string(), "line 1 of the replacement".to_string()]);

    // Multi-line records; an over-long line cut and flagged.
    let mut trace = append(&setup.log("trace.txt"));
    write!(trace, "2024-05-06 12:00:00 ERROR boom\n  at a()\n  at b()\n2024-05-06 12:00:01 INFO ok\n").unwrap();
    writeln!(trace, "2024-05-06 {}", "x".repeat(400)).unwrap();
    wait_all(&out, &expected, Duration::from_secs(10)).await;
    let docs = crate::util::wait_for(&out, "multi-line records", |docs| {
        docs.iter().filter(|d| d["attributes"]["log.file.name"] == "trace.txt").count() == 3
    })
    .await;
    let traces: Vec<&Value> = docs.iter().filter(|d| d["attributes"]["log.file.name"] == "trace.txt").collect();
    assert_eq!(traces[0]["body"], "2024-05-06 12:00:00 ERROR boom\n  at a()\n  at b()");
    assert_eq!(traces[1]["body"], "2024-05-06 12:00:01 INFO ok");
    assert_eq!(traces[2]["body"].as_str().unwrap().len(), 200);
    assert!(traces[2]["attributes"]["log.file.error"].is_string(), "{}", traces[2]);
    let rec = docs.iter().find(|d| d["body"] == "before start").unwrap();
    assert_eq!(rec["attributes"]["log.file.path"], app.display().to_string());
    assert_eq!(rec["attributes"]["log.file.name"], "app.log");
    assert!(rec["resource"]["host.name"].is_string(), "{rec}");
    drop(lookout);
}

fn kill_9(lookout: &mut Lookout) {
    std::process::Command::new("kill").arg("-KILL").arg(lookout.child.id().to_string()).status().unwrap();
    let _ = lookout.child.wait();
}

#[tokio::test]
async fn file_source_after_kill_9_loses_no_line() {
    let setup = Setup::new(|_| String::new());
    let app = setup.log("app.log");
    let mut lookout = setup.start().await;
    let out = setup.out();
    let mut file = append(&app);
    let mut expected = Vec::new();
    let mut kills = 0;
    let mut next_kill = Instant::now() + Duration::from_millis(400);
    // 20 lines every 5 ms; kill -9 every ~0.4-0.7 s and start again on the same data_dir.
    while expected.len() < 6000 || kills < 4 {
        for _ in 0..20 {
            let line = format!("seq {}", expected.len());
            writeln!(file, "{line}").unwrap();
            expected.push(line);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        if Instant::now() >= next_kill && kills < 4 {
            kill_9(&mut lookout);
            kills += 1;
            // A moment down while the writer goes on.
            tokio::time::sleep(Duration::from_millis(100)).await;
            lookout = setup.start().await;
            next_kill = Instant::now() + Duration::from_millis(400 + 100 * kills);
        }
    }
    let got = wait_all(&out, &expected, Duration::from_secs(20)).await;
    let duplicates: usize = got.values().map(|c| c - 1).sum();
    let unexpected = got.keys().filter(|k| !k.starts_with("seq ")).count();
    assert_eq!(unexpected, 0);
    eprintln!("file source kill -9: {} lines, {kills} kills, {duplicates} duplicates", expected.len());
    assert!(duplicates < expected.len(), "checkpoints were saved: not everything came again");

    // A corrupt checkpoint file: moved aside, the source degraded, the file read again.
    lookout.stop().await;
    let before = bodies(&out)["seq 0"];
    let checkpoints = setup.dir.path().join("data/file_source/appfile/checkpoints.json");
    assert!(std::fs::read_to_string(&checkpoints).unwrap().contains("\"offset\""));
    std::fs::write(&checkpoints, b"\0garbage").unwrap();
    let lookout = setup.start().await;
    let health: Value = reqwest::get(format!("http://{}/health", setup.api)).await.unwrap().json().await.unwrap();
    let source = &health["components"]["appfile"];
    assert_eq!(source["state"], "degraded", "{health}");
    assert!(source["reason"].as_str().unwrap().starts_with("state file was corrupt; moved to "), "{health}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while bodies(&out)["seq 0"] <= before {
        assert!(Instant::now() < deadline, "the file was not read again after its checkpoints were lost");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(lookout);
}

#[test]
fn check_points_at_a_bad_file_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    let yaml = "api: { address: 127.0.0.1:0 }\nsources:\n  appfile:\n    type: file\n    include: [\"var/log/*.log\"]\nsinks:\n  out: { type: file, inputs: [appfile], path: out.ndjson }\n";
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(crate::util::lookout_bin())
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = format!("{}:4:11: `include` patterns must be absolute paths", path.display());
    assert!(stderr.lines().any(|l| l.starts_with(&expected)), "{stderr}");
}
