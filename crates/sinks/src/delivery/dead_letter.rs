//! Dead letters: records a store refused for good (or whose retries ran out with no
//! buffer or client waiting to resend them), one JSON object per line with the record,
//! the sink, the error and the time, so nothing accepted is ever silently lost.
//!
//! Each write is whole lines, synced to disk (`fdatasync`) before it counts; a write
//! that fails part-way is cut back. The file is bounded ([`MAX_BYTES`]): past it, new
//! dead letters are counted as lost rather than filling the disk. `lookout replay
//! dead-letter FILE --config C --sink NAME` sends the log records back through a sink.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Item, Origin};

fn render(origin: &Origin, out: &mut Vec<u8>) {
    let batch = &origin.batch;
    let mut position = 0u32;
    let start = out.len();
    batch.for_each(|r| {
        if position == origin.index {
            lookout_event::encode::write_record(out, &r, batch.meta.promote.as_deref(), batch.meta.received_unix_nano);
        }
        position += 1;
    });
    if out.len() == start {
        out.extend_from_slice(b"null");
    }
}

/// The most a dead-letter file grows to.
pub const MAX_BYTES: u64 = 1 << 30;

/// A sink's dead-letter file.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    sink: String,
    buf: Vec<u8>,
    max_bytes: u64,
}

impl DeadLetters {
    /// Opens (creates) `path` for appending; fails early when it cannot be written.
    pub fn open(path: &Path, sink: &str) -> std::io::Result<DeadLetters> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(DeadLetters { path: path.to_path_buf(), sink: sink.to_string(), buf: Vec::new(), max_bytes: MAX_BYTES })
    }

    /// The same with another bound (tests).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> DeadLetters {
        self.max_bytes = max_bytes;
        self
    }

    /// Appends `items` with their reasons; returns how many were written.
    pub fn write(&mut self, items: &[(Item, String)]) -> std::io::Result<usize> {
        if items.is_empty() {
            return Ok(0);
        }
        self.buf.clear();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for (item, error) in items {
            self.buf.extend_from_slice(b"{\"time\":");
            serde_json::to_writer(&mut self.buf, &now)?;
            self.buf.extend_from_slice(b",\"sink\":");
            serde_json::to_writer(&mut self.buf, &self.sink)?;
            self.buf.extend_from_slice(b",\"route\":");
            serde_json::to_writer(&mut self.buf, &*item.route)?;
            self.buf.extend_from_slice(b",\"error\":");
            serde_json::to_writer(&mut self.buf, error)?;
            self.buf.extend_from_slice(b",\"record\":");
            match &item.origin {
                // Sinks that forward OTLP structure render the document only now.
                Some(origin) if item.doc.is_empty() => render(origin, &mut self.buf),
                _ => self.buf.extend_from_slice(&item.doc),
            }
            self.buf.extend_from_slice(b"}\n");
        }
        let f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        let len = f.metadata()?.len();
        if len + self.buf.len() as u64 > self.max_bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!("the dead-letter file has reached its bound of {} bytes", self.max_bytes),
            ));
        }
        let result = (&f).write_all(&self.buf).and_then(|()| f.sync_data());
        if let Err(e) = result {
            // Whole lines or nothing.
            let _ = f.set_len(len);
            return Err(e);
        }
        Ok(items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn item(doc: &str) -> Item {
        Item {
            doc: bytes::Bytes::from(doc.to_string()),
            route: Arc::from("logs"),
            id: None,
            time_unix_nano: 0,
            received_at: std::time::Instant::now(),
            origin: None,
            ack: None,
        }
    }

    #[test]
    fn whole_lines_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead/es.ndjson");
        let mut d = DeadLetters::open(&path, "es").unwrap().with_max_bytes(400);
        assert_eq!(d.write(&[(item(r#"{"body":"a"}"#), "HTTP 400".into())]).unwrap(), 1);
        let first = std::fs::read_to_string(&path).unwrap();
        let line: serde_json::Value = serde_json::from_str(first.trim_end()).unwrap();
        assert_eq!((line["sink"].as_str(), line["error"].as_str()), (Some("es"), Some("HTTP 400")));
        assert_eq!(line["record"]["body"], "a");
        // Past the bound: refused as a whole, the file unchanged.
        let many: Vec<(Item, String)> =
            (0..10).map(|_| (item(r#"{"body":"bbbbbbbbbb"}"#), "HTTP 400".into())).collect();
        let err = d.write(&many).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
    }
}
