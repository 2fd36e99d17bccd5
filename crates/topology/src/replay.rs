//! `lookout replay dead-letter FILE --sink NAME`: sends the log records of a
//! dead-letter file back through one sink of a pipeline, once the cause (a mapping
//! conflict fixed, a credential rotated) is gone.
//!
//! The file is read whole first (a record the sink refuses again is appended to the
//! sink's own dead-letter file, which may be this one). The records go through the
//! sink exactly as in `lookout run` (a memory buffer, its batching, retries and dead
//! letters), with acknowledgements, so the report says how many were confirmed.

use std::path::Path;

use lookout_buffer::{WhenFull, memory};
use lookout_component::{BuildError, Health, SinkContext, Telemetry};
use lookout_event::{BatchNotifier, DeliveryStatus, Finalizers};

use crate::CheckedPipeline;

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Lines in the file.
    pub lines: usize,
    /// Log records sent to the sink.
    pub sent: usize,
    /// Of those, confirmed delivered.
    pub delivered: usize,
    /// Of those, refused for good again (dead-lettered anew).
    pub rejected: usize,
    /// Lines skipped: not JSON, no `record`, or not a log record.
    pub skipped: usize,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The pipeline has no sink of that name.
    #[error("the pipeline has no sink `{0}` (its sinks: {1})")]
    NoSuchSink(String, String),
    /// The dead-letter file cannot be read.
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    /// The sink cannot be built.
    #[error("sink `{0}`: {1}")]
    Build(String, BuildError),
}

/// Records per batch handed to the sink.
const CHUNK: usize = 500;

/// Replays the log records of dead-letter `file` through sink `sink` of `pipeline`.
pub async fn replay_dead_letters(
    pipeline: &CheckedPipeline,
    sink: &str,
    file: &Path,
) -> Result<ReplayReport, ReplayError> {
    let config = pipeline.sinks.get(sink).ok_or_else(|| {
        ReplayError::NoSuchSink(sink.to_string(), pipeline.sinks.keys().cloned().collect::<Vec<_>>().join(", "))
    })?;
    let text = std::fs::read_to_string(file).map_err(|e| ReplayError::Read(file.display().to_string(), e))?;
    let mut report = ReplayReport::default();
    let mut records = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        report.lines += 1;
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v.get("record").is_some_and(|r| r.is_object()) => {
                match lookout_event::decode::log_record(&v["record"]) {
                    Ok(parts) => records.push(parts),
                    Err(_) => report.skipped += 1,
                }
            }
            _ => report.skipped += 1,
        }
    }

    let telemetry = Telemetry::new();
    let health = Health::default();
    let (tx, rx) = memory(CHUNK * 4, WhenFull::Block);
    let type_name = pipeline.config.sinks.get(sink).map(|d| d.type_name.clone()).unwrap_or_default();
    let cx = SinkContext {
        id: sink.to_string(),
        input: rx,
        health: health.register(sink, "sink", &type_name),
        metrics: telemetry.component(sink, "sink", &type_name),
        data_dir: pipeline.config.data_dir.clone().into(),
        // Dead letters are log records, which no sink writes into the series store: a
        // private in-memory one leaves the running process's store (and its lock) alone.
        store: std::sync::Arc::new(lookout_tsdb::Store::new(Default::default())),
    };
    let running = tokio::spawn(config.build(cx).await.map_err(|e| ReplayError::Build(sink.to_string(), e))?);
    let mut outcomes = Vec::new();
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let chunk: Vec<_> = records.by_ref().take(CHUNK).collect();
        let n = chunk.len();
        let mut batch = lookout_event::decode::batch_of(chunk);
        let (notifier, outcome) = BatchNotifier::new();
        batch.meta.finalizers = Finalizers::new(notifier);
        if tx.send(batch).await.is_err() {
            break;
        }
        report.sent += n;
        outcomes.push((n, outcome));
    }
    drop(tx);
    for (n, outcome) in outcomes {
        match outcome.wait().await {
            DeliveryStatus::Delivered => report.delivered += n,
            DeliveryStatus::Rejected => report.rejected += n,
            DeliveryStatus::Errored => {}
        }
    }
    let _ = running.await;
    Ok(report)
}
