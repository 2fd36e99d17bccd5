//! The `file` sink: NDJSON, one object per log record, span or metric point.
//!
//! ```yaml
//! sinks:
//!   archive:
//!     type: file
//!     inputs: [enrich]
//!     path: ./data/archive-%Y-%m-%d.ndjson   # strftime specifiers, rendered in UTC
//!     encoding: ndjson                       # the default (and only) encoding
//!     buffer: { max_events: 50000, when_full: block }
//! ```
//!
//! The path is rendered from the current UTC time before each write; when the rendered
//! path changes the current file is flushed, synced and closed and the new one opened
//! (appending), so `%Y-%m-%d` rotates daily and `%H` hourly. Parent directories are
//! created. The first file is opened when the sink is built, so a path that cannot be
//! written fails the start (and a reload) instead of the first write. Everything
//! already queued is coalesced into one write, flushed and synced (`fdatasync`) at once,
//! so readers tailing the file see it promptly and a batch counts as delivered only once
//! it is on disk.
//!
//! Whole lines or nothing: a write that fails part-way (disk full) is cut back to where
//! it started, and a file opened after a crash that ends in a torn line is cut back to
//! its last newline, so a half-written record never glues itself to the next one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentFuture, SinkConfig, SinkContext};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::{Batch, encode};
use serde::Deserialize;
use tokio::fs::File;
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use crate::writer::{self, Output};

/// `type: file`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The file to append to; may contain strftime specifiers (rendered in UTC).
    pub path: String,
    /// How records are written.
    #[serde(default)]
    pub encoding: FileEncoding,
    /// The sink's buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
}

/// `encoding:` of the file sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileEncoding {
    /// One JSON object per line, in the documented document shape.
    #[default]
    Ndjson,
}

impl SinkConfig for FileSinkConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        PathTemplate::parse(&self.path).map(|_| ()).map_err(|e| decl.error(e).into())
    }

    fn buffer(&self) -> BufferConfig {
        self.buffer
    }

    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            let template = PathTemplate::parse(&config.path).map_err(BuildError)?;
            let output = FileOutput::open(template, Arc::new(Utc::now)).await?;
            let fut: ComponentFuture = Box::pin(writer::run(cx, output));
            Ok(fut)
        }
        .boxed()
    }
}

/// A path with optional strftime specifiers.
#[derive(Debug, Clone)]
pub(crate) struct PathTemplate {
    template: String,
    /// Whether it contains any `%` (else it renders to itself).
    dynamic: bool,
}

impl PathTemplate {
    /// Checks the specifiers.
    pub(crate) fn parse(template: &str) -> Result<PathTemplate, String> {
        if template.trim().is_empty() {
            return Err("`path` must not be empty".into());
        }
        if StrftimeItems::new(template).any(|item| matches!(item, Item::Error)) {
            return Err(format!("`path` `{template}` has an invalid strftime specifier (use %% for a literal %)"));
        }
        Ok(PathTemplate { template: template.to_string(), dynamic: template.contains('%') })
    }

    /// The path at time `now`.
    pub(crate) fn render(&self, now: DateTime<Utc>) -> PathBuf {
        if self.dynamic { PathBuf::from(now.format(&self.template).to_string()) } else { PathBuf::from(&self.template) }
    }
}

/// What reads the time, so tests can move it.
pub(crate) type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The open file of a file sink and how to choose the next one.
pub(crate) struct FileOutput {
    template: PathTemplate,
    clock: Clock,
    /// The open file and its length (where the next write starts).
    current: Option<(PathBuf, File, u64)>,
}

/// Opens `path` for appending, first cutting a torn last line (no final newline) back
/// to the last newline. Returns the file and its length.
async fn open_append(path: &Path) -> Result<(File, u64), String> {
    let file = create_append(path).await?;
    let len = repair_torn_tail(path.to_path_buf())
        .await
        .map_err(|e| format!("cannot check the end of `{}`: {e}", path.display()))?;
    Ok((file, len))
}

/// Cuts the file back to just after its last `\n` if it does not end with one.
async fn repair_torn_tail(path: PathBuf) -> std::io::Result<u64> {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek, SeekFrom};
        let std_file = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
        let mut f = &std_file;
        let len = f.metadata()?.len();
        if len == 0 {
            return Ok(0);
        }
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
        if last[0] == b'\n' {
            return Ok(len);
        }
        // Walk back in 64 KiB steps to the last newline.
        let mut end = len;
        let mut chunk = vec![0u8; 64 * 1024];
        let keep = loop {
            let start = end.saturating_sub(chunk.len() as u64);
            let n = (end - start) as usize;
            f.seek(SeekFrom::Start(start))?;
            f.read_exact(&mut chunk[..n])?;
            if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
                break start + i as u64 + 1;
            }
            if start == 0 {
                break 0;
            }
            end = start;
        };
        std_file.set_len(keep)?;
        std_file.sync_data()?;
        warn!(path = %path.display(), cut_bytes = len - keep, "The output file ended in a torn line (an earlier crash); cut back to its last whole line.");
        Ok(keep)
    })
    .await
    .map_err(std::io::Error::other)?
}

async fn create_append(path: &Path) -> Result<File, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| format!("cannot create directory `{}` for `{}`: {e}", dir.display(), path.display()))?;
    }
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(|e| format!("cannot open `{}` for writing: {e}", path.display()))
}

impl FileOutput {
    /// Opens the file for the current time: fails if it cannot be created or written.
    pub(crate) async fn open(template: PathTemplate, clock: Clock) -> Result<FileOutput, BuildError> {
        let path = template.render(clock());
        let (file, len) = open_append(&path).await.map_err(BuildError)?;
        Ok(FileOutput { template, clock, current: Some((path, file, len)) })
    }

    /// Closes the current file: flush and sync. Errors are returned, the file is gone.
    async fn close_current(&mut self) -> std::io::Result<()> {
        if let Some((_, mut file, _)) = self.current.take() {
            file.flush().await?;
            file.sync_all().await?;
        }
        Ok(())
    }
}

impl Output for FileOutput {
    fn encode(&mut self, batch: &Batch, out: &mut Vec<u8>) {
        encode::write_ndjson(batch, out);
    }

    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let path = self.template.render((self.clock)());
        if self.current.as_ref().is_none_or(|(p, _, _)| *p != path) {
            if let Some((old, _, _)) = &self.current {
                info!(from = %old.display(), to = %path.display(), "Rotating the output file.");
                let old = old.clone();
                if let Err(e) = self.close_current().await {
                    warn!(path = %old.display(), error = %e, "Cannot flush the previous output file.");
                }
            }
            let (file, len) = open_append(&path).await.map_err(std::io::Error::other)?;
            self.current = Some((path, file, len));
        }
        let (_, file, len) = self.current.as_mut().expect("a file is open");
        let result = async {
            file.write_all(data).await?;
            file.flush().await?;
            file.sync_data().await
        }
        .await;
        match result {
            Ok(()) => *len += data.len() as u64,
            Err(_) => {
                // Whole lines or nothing: cut what part of this write landed, then
                // reopen on the next write rather than keep a broken handle.
                let _ = file.set_len(*len).await;
                self.current = None;
            }
        }
        result
    }

    async fn close(&mut self) -> std::io::Result<()> {
        self.close_current().await
    }

    fn describe(&self) -> String {
        match &self.current {
            Some((p, _, _)) => p.display().to_string(),
            None => self.template.template.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{context, logs, ndjson, parse};
    use chrono::TimeZone;
    use std::sync::Mutex;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn renders_strftime_paths() {
        let t = PathTemplate::parse("/data/archive-%Y-%m-%d.ndjson").unwrap();
        assert_eq!(t.render(at(2024, 2, 29, 23)), PathBuf::from("/data/archive-2024-02-29.ndjson"));
        assert_eq!(t.render(at(2024, 3, 1, 0)), PathBuf::from("/data/archive-2024-03-01.ndjson"));
        let fixed = PathTemplate::parse("out.ndjson").unwrap();
        assert!(!fixed.dynamic);
        assert_eq!(fixed.render(at(2024, 1, 1, 0)), PathBuf::from("out.ndjson"));
        assert_eq!(PathTemplate::parse("100%%.log").unwrap().render(at(2024, 1, 1, 0)), PathBuf::from("100%.log"));
        assert!(PathTemplate::parse("bad-%").is_err());
        assert!(PathTemplate::parse("").is_err());
    }

    #[test]
    fn config_keys() {
        assert!(parse("file", "    path: x.ndjson\n    encoding: ndjson\n    buffer: { max_events: 10 }\n").is_ok());
        let err = parse("file", "    path: x\n    pathh: y\n").unwrap_err().to_string();
        assert!(err.contains("p.yaml:9:5: unknown field `pathh`"), "{err}");
        let err = parse("file", "    path: x\n    encoding: csv\n").unwrap_err().to_string();
        assert!(err.contains("p.yaml:9:"), "{err}");
        let err = parse("file", "    path: x-%\n").unwrap_err().to_string();
        assert!(err.contains("invalid strftime specifier"), "{err}");
        assert!(parse("file", "    encoding: ndjson\n").is_err(), "path is required");
    }

    #[tokio::test]
    async fn writes_exact_ndjson_and_flushes_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/out.ndjson");
        let config = parse("file", &format!("    path: {}\n", path.display())).unwrap();
        let (tx, cx, health, metrics) = context(1000);
        let batch = logs(3);
        let expected = ndjson(&batch);
        assert_eq!(expected.lines().count(), 3);
        let first: serde_json::Value = serde_json::from_str(expected.lines().next().unwrap()).unwrap();
        assert_eq!(first["body"], "log 0");
        // Queue everything before the sink starts: the buffer is drained, then closed.
        tx.send(batch).await.unwrap();
        tx.send(logs(2)).await.unwrap();
        drop(tx);
        let sink = config.build(cx).await.unwrap();
        sink.await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{expected}{}", ndjson(&logs(2))));
        assert_eq!(metrics.sent_events.get(), 5);
        assert_eq!(metrics.sent_bytes.get(), text.len() as u64);
        assert_eq!(metrics.errors.get(), 0);
        assert_eq!(health.snapshot()["out"].state, lookout_component::ComponentState::Running);
    }

    #[tokio::test]
    async fn tail_readers_see_each_batch_promptly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let config = parse("file", &format!("    path: {}\n", path.display())).unwrap();
        let (tx, cx, _health, _metrics) = context(1000);
        let task = tokio::spawn(config.build(cx).await.unwrap());
        tx.send(logs(1)).await.unwrap();
        let expected = ndjson(&logs(1));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(&path).unwrap() != expected {
            assert!(std::time::Instant::now() < deadline, "batch not flushed while the sink runs");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(tx);
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn rotates_when_the_rendered_path_changes() {
        let dir = tempfile::tempdir().unwrap();
        let template = PathTemplate::parse(&format!("{}/archive-%Y-%m-%d.ndjson", dir.path().display())).unwrap();
        let now = Arc::new(Mutex::new(at(2024, 2, 29, 23)));
        let clock_now = now.clone();
        let mut out = FileOutput::open(template, Arc::new(move || *clock_now.lock().unwrap())).await.unwrap();
        out.write(b"one\n").await.unwrap();
        out.write(b"two\n").await.unwrap();
        *now.lock().unwrap() = at(2024, 3, 1, 0);
        out.write(b"three\n").await.unwrap();
        out.close().await.unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("archive-2024-02-29.ndjson"), "one\ntwo\n");
        assert_eq!(read("archive-2024-03-01.ndjson"), "three\n");
    }

    #[tokio::test]
    async fn unwritable_path_fails_the_build() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, "").unwrap();
        // A directory cannot be created under a regular file (even as root).
        let path = blocker.join("sub/out.ndjson");
        let config = parse("file", &format!("    path: {}\n", path.display())).unwrap();
        let (_tx, cx, _, _) = context(10);
        let err = config.build(cx).await.err().expect("build fails").to_string();
        assert!(err.contains(&blocker.join("sub").display().to_string()), "{err}");
        assert!(err.contains("cannot create directory"), "{err}");
        // A path that is a directory cannot be opened as a file.
        let config = parse("file", &format!("    path: {}\n", dir.path().display())).unwrap();
        let (_tx, cx, _, _) = context(10);
        let err = config.build(cx).await.err().expect("build fails").to_string();
        assert!(err.contains("cannot open") && err.contains(&dir.path().display().to_string()), "{err}");
    }

    #[tokio::test]
    async fn a_torn_last_line_is_cut_back_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        // What a crash mid-write leaves: whole lines, then half a record.
        std::fs::write(&path, "{\"a\":1}\n{\"a\":2}\n{\"a\":3,\"bo").unwrap();
        let template = PathTemplate::parse(&path.display().to_string()).unwrap();
        let mut out = FileOutput::open(template, Arc::new(Utc::now)).await.unwrap();
        out.write(b"{\"a\":4}\n").await.unwrap();
        out.close().await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"a\":2}\n{\"a\":4}\n");

        // A file that is one torn line is emptied; a long torn tail is found across chunks.
        std::fs::write(&path, "x".repeat(200_000)).unwrap();
        let template = PathTemplate::parse(&path.display().to_string()).unwrap();
        FileOutput::open(template, Arc::new(Utc::now)).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 0);
        std::fs::write(&path, format!("ok\n{}", "y".repeat(150_000))).unwrap();
        let template = PathTemplate::parse(&path.display().to_string()).unwrap();
        FileOutput::open(template, Arc::new(Utc::now)).await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ok\n");
    }

    #[tokio::test]
    async fn acknowledges_a_batch_once_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let config = parse("file", &format!("    path: {}\n", path.display())).unwrap();
        let (tx, cx, _health, _metrics) = context(1000);
        let task = tokio::spawn(config.build(cx).await.unwrap());
        let (notifier, outcome) = lookout_event::BatchNotifier::new();
        let mut batch = logs(2);
        batch.meta.finalizers = lookout_event::Finalizers::new(notifier);
        tx.send(batch).await.unwrap();
        assert_eq!(outcome.wait().await, lookout_event::DeliveryStatus::Delivered);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ndjson(&logs(2)), "on disk when acknowledged");
        drop(tx);
        task.await.unwrap().unwrap();
    }
}
