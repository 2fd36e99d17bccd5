//! Dead letters: records a store refused for good (or whose retries ran out), one JSON
//! object per line with the record, the sink, the error and the time, so nothing
//! accepted is ever silently lost.

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

/// A sink's dead-letter file.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    sink: String,
    buf: Vec<u8>,
}

impl DeadLetters {
    /// Opens (creates) `path` for appending; fails early when it cannot be written.
    pub fn open(path: &Path, sink: &str) -> std::io::Result<DeadLetters> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(DeadLetters { path: path.to_path_buf(), sink: sink.to_string(), buf: Vec::new() })
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
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        f.write_all(&self.buf)?;
        Ok(items.len())
    }
}
