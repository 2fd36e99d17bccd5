//! The `file` source: tails application log files, one record per line (or per
//! multi-line group), at least once across crashes.
//!
//! ```yaml
//! sources:
//!   appfile:
//!     type: file
//!     include: ["/var/log/app/*.log"]
//!     exclude: ["/var/log/app/debug-*.log"]
//!     read_from: beginning          # or `end`: files present at the first start begin at their end
//!     multiline: { start_pattern: '^\d{4}-', timeout_ms: 1000 }
//! ```
//!
//! Files are found and read by polling ([`tail`]); rotation by rename and copytruncate
//! are followed. Every batch carries an acknowledgement; a file's position is saved
//! ([`checkpoint`]) only up to records the sinks confirmed, so after `kill -9` reading
//! resumes where nothing can have been lost (records may come twice, never not at all).
//! Records: the line as body, `log.file.path` and `log.file.name` attributes, the
//! `host.name` resource attribute; a cut line has `log.file.error`.

pub mod checkpoint;
pub mod discover;
pub mod multiline;
pub mod tail;

use std::path::Path;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_component::{BuildError, ComponentError, ComponentFuture, Shutdown, SourceConfig, SourceContext};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_event::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_event::otlp::resource::v1::Resource;
use serde::Deserialize;
use tracing::warn;

use crate::otlp::{Ingest, Rejection};
use tail::{Ready, Settings, Tailer};

/// `read_from:`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadFrom {
    /// Whole files.
    #[default]
    Beginning,
    /// Files present at the first start from their end (later files whole).
    End,
}

/// `multiline:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A line matching this regular expression starts a record; others join the current one.
    pub start_pattern: String,
    /// The last record is complete when no line came for this long.
    #[serde(default = "default_multiline_timeout_ms")]
    pub timeout_ms: u64,
}

/// `type: file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Absolute glob patterns of files to follow.
    pub include: Vec<String>,
    /// Glob patterns of files to leave alone.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where files present at the first start begin.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// How often files are looked for and read.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Longer lines (and multi-line records) are cut and flagged.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Bytes at a file's start hashed to tell it from another with the same inode.
    #[serde(default = "default_fingerprint_bytes")]
    pub fingerprint_bytes: usize,
    /// A file renamed away or deleted is still read until it stops growing for this long.
    #[serde(default = "default_rotate_wait_ms")]
    pub rotate_wait_ms: u64,
    /// Joins lines into records.
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// How long a batch waits for the sinks' confirmation before it is sent again.
    #[serde(default = "default_ack_timeout_secs")]
    pub ack_timeout_secs: f64,
}

fn default_multiline_timeout_ms() -> u64 {
    1000
}
fn default_poll_interval_ms() -> u64 {
    250
}
fn default_max_line_bytes() -> usize {
    64 * 1024
}
fn default_fingerprint_bytes() -> usize {
    256
}
fn default_rotate_wait_ms() -> u64 {
    1000
}
fn default_ack_timeout_secs() -> f64 {
    30.0
}

impl FileSourceConfig {
    fn settings(&self) -> Result<Settings, String> {
        if let Some(p) = self.include.iter().find(|p| !Path::new(p).is_absolute()) {
            return Err(format!("`include` patterns must be absolute paths: {p:?}"));
        }
        if self.include.is_empty() {
            return Err("`include` needs at least one pattern".into());
        }
        if self.poll_interval_ms == 0 || self.max_line_bytes == 0 || self.fingerprint_bytes == 0 {
            return Err("`poll_interval_ms`, `max_line_bytes` and `fingerprint_bytes` must be greater than 0".into());
        }
        if !(self.ack_timeout_secs > 0.0 && self.ack_timeout_secs.is_finite()) {
            return Err("`ack_timeout_secs` must be a positive number".into());
        }
        let globs = discover::Globs::new(&self.include, &self.exclude)?;
        let (start, timeout) = match &self.multiline {
            Some(m) => {
                let re = regex::bytes::Regex::new(&m.start_pattern)
                    .map_err(|e| format!("`multiline.start_pattern` is not a valid regular expression: {e}"))?;
                (Some(re), Duration::from_millis(m.timeout_ms))
            }
            None => (None, Duration::ZERO),
        };
        Ok(Settings {
            globs,
            start_at_end: self.read_from == ReadFrom::End,
            max_line_bytes: self.max_line_bytes,
            fingerprint_bytes: self.fingerprint_bytes,
            rotate_wait: Duration::from_millis(self.rotate_wait_ms),
            merger: multiline::Merger::new(start, timeout, self.max_line_bytes),
        })
    }
}

impl SourceConfig for FileSourceConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        self.settings().map(|_| ()).map_err(|e| decl.error(e).into())
    }

    fn build(&self, cx: SourceContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            let settings = config.settings().map_err(BuildError)?;
            let store = checkpoint::Store::new(&cx.data_dir.join("file_source").join(&cx.id));
            let (restored, quarantined) = store.load().map_err(|e| {
                BuildError(format!("cannot read file source checkpoints {}: {e}", store.path().display()))
            })?;
            let tailer = Tailer::new(settings, restored);
            // The size limit is the reader's; a batch is what one poll read from one file.
            let ingest = Ingest::new(cx.out, cx.metrics, usize::MAX, Duration::from_millis(1000), 1)
                .with_acknowledgements(Duration::from_secs_f64(config.ack_timeout_secs));
            let poll = Duration::from_millis(config.poll_interval_ms);
            let (id, health, shutdown) = (cx.id, cx.health, cx.shutdown);
            let fut: ComponentFuture = async move {
                tracing::info!(source = %id, include = ?config.include, "file source following");
                health.ready();
                if let Some(moved) = quarantined {
                    // Reported, not fatal: files are read as on a first start (read_from decides).
                    health.set_state(lookout_component::ComponentState::Degraded(format!(
                        "state file was corrupt; moved to {}; files are read as on a first start",
                        moved.display()
                    )));
                }
                run(tailer, store, ingest, poll, shutdown).await.map_err(ComponentError::new)
            }
            .boxed();
            Ok(fut)
        }
        .boxed()
    }
}

/// Polls, delivers each file's records and waits for their acknowledgement, saves the
/// acknowledged positions; until shutdown.
async fn run(
    mut tailer: Tailer,
    store: checkpoint::Store,
    ingest: Ingest,
    poll: Duration,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let resource = resource();
    while !shutdown.is_cancelled() {
        let (t, ready) = tokio::task::spawn_blocking(move || {
            let ready = tailer.poll(Instant::now());
            (tailer, ready)
        })
        .await
        .map_err(std::io::Error::other)?;
        tailer = t;
        let more = ready.iter().any(|r| r.more);
        for r in ready {
            let (key, end) = (r.key, r.entries.last().map(|e| e.end).unwrap_or(0));
            if !deliver(&ingest, &resource, r, &shutdown).await {
                break;
            }
            tailer.acked(key, end);
        }
        save(&store, &mut tailer).await;
        if !more {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
    save(&store, &mut tailer).await;
    Ok(())
}

async fn save(store: &checkpoint::Store, tailer: &mut Tailer) {
    let Some(files) = tailer.take_checkpoints() else { return };
    let store = store.clone();
    let saved = tokio::task::spawn_blocking(move || store.save(files)).await;
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "file source cannot save its checkpoints"),
        Err(e) => warn!(error = %e, "file source checkpoint task failed"),
    }
}

fn resource() -> Resource {
    let host = hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into());
    Resource { attributes: vec![string("host.name", host)], ..Default::default() }
}

fn string(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value)) }),
        ..Default::default()
    }
}

fn records(ready: Ready, max_line_bytes_hint: &str) -> (Vec<LogRecord>, usize) {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let path = ready.path.display().to_string();
    let name = ready.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut bytes = 0;
    let records = ready
        .entries
        .into_iter()
        .map(|e| {
            bytes += e.text.len() + 1;
            let mut attributes = vec![string("log.file.path", path.clone()), string("log.file.name", name.clone())];
            if e.truncated {
                attributes.push(string("log.file.error", max_line_bytes_hint.to_string()));
            }
            LogRecord {
                time_unix_nano: now,
                observed_time_unix_nano: now,
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(String::from_utf8_lossy(&e.text).into_owned())),
                }),
                attributes,
                ..Default::default()
            }
        })
        .collect();
    (records, bytes)
}

/// Hands one file's records on and waits for the sinks' confirmation, sending again
/// while the pipeline is full or a sink did not confirm. False: shutting down, not delivered.
async fn deliver(ingest: &Ingest, resource: &Resource, ready: Ready, shutdown: &Shutdown) -> bool {
    let (records, bytes) = records(ready, "line longer than max_line_bytes: cut");
    let scope = InstrumentationScope { name: "lookout.file".into(), ..Default::default() };
    let resource_logs = vec![ResourceLogs {
        resource: Some(resource.clone()),
        scope_logs: vec![ScopeLogs { scope: Some(scope), log_records: records, ..Default::default() }],
        ..Default::default()
    }];
    loop {
        let result = match ingest.check_memory() {
            Ok(()) => ingest
                .accept(ExportLogsServiceRequest { resource_logs: resource_logs.clone() }, bytes)
                .await
                .map(|_| ()),
            Err(r) => Err(r),
        };
        match result {
            Ok(()) => return true,
            Err(Rejection::ShuttingDown) => return false,
            Err(_) if shutdown.is_cancelled() => return false,
            Err(e) => {
                tracing::debug!(reason = %e.message(), "file source batch not taken; sending it again");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> FileSourceConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn settings_refuse_what_cannot_work() {
        let cases = [
            ("include: ['var/log/*.log']", "must be absolute"),
            ("include: []", "at least one pattern"),
            ("include: ['/var/log/[x.log']", "`include` pattern"),
            ("{include: ['/l/*.log'], exclude: ['/l/[']}", "`exclude` pattern"),
            ("{include: ['/l/*.log'], poll_interval_ms: 0}", "greater than 0"),
            ("{include: ['/l/*.log'], ack_timeout_secs: -1}", "positive"),
            ("{include: ['/l/*.log'], multiline: {start_pattern: '(unclosed'}}", "not a valid regular expression"),
        ];
        for (yaml, expected) in cases {
            let err = config(yaml).settings().err().unwrap_or_else(|| panic!("{yaml} accepted"));
            assert!(err.contains(expected), "{yaml}: {err}");
        }
        let ok = config("{include: ['/l/*.log'], read_from: end, multiline: {start_pattern: '^\\d{4}-'}}");
        let settings = ok.settings().unwrap();
        assert!(settings.start_at_end);
        assert_eq!(ok.multiline.unwrap().timeout_ms, 1000);
        assert!(serde_saphyr::from_str::<FileSourceConfig>("{include: ['/l/*'], read_from: middle}").is_err());
    }
}
