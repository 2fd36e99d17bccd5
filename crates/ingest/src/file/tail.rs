//! Following files: new files, growth, rotation by rename, copytruncate and
//! replacement, one poll at a time (no inotify: polling works on every filesystem).
//!
//! A file is known by its device and inode, so a rename keeps its position: the open
//! handle is read to its end even after the name points to a new file, which is then
//! picked up from 0. A file whose size falls below the read position, or whose first
//! bytes changed ([`Head`]), was truncated in place (copytruncate) and is read again from
//! 0. A file is forgotten once it left the globs (renamed away or deleted) and has not
//! grown for `rotate_wait`.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::checkpoint::{Checkpoint, FileKey, Head};
use super::discover::Globs;
use super::multiline::{Entry, Merger};

/// Bytes read per poll across all files, shared out evenly: what one poll holds in memory
/// stays bounded however many files match.
const POLL_BUDGET: usize = 8 * 1024 * 1024;
/// Bytes read from one file per poll, at most (a busy file cannot starve the others) and
/// at least (many files still make progress each poll).
const FILE_BUDGET: std::ops::RangeInclusive<usize> = 64 * 1024..=1024 * 1024;

/// How the tailer behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which files.
    pub globs: Globs,
    /// Start files found at the first scan at their end (those found later start at 0).
    pub start_at_end: bool,
    /// Longer lines are cut.
    pub max_line_bytes: usize,
    /// Bytes hashed to tell files apart.
    pub fingerprint_bytes: usize,
    /// A file gone from the globs is read this long after it last grew.
    pub rotate_wait: Duration,
    /// Groups lines into records.
    pub merger: Merger,
}

/// Records read from one file in one poll.
#[derive(Debug)]
pub struct Ready {
    /// The file.
    pub key: FileKey,
    /// Its path when read.
    pub path: PathBuf,
    /// Complete records, in file order.
    pub entries: Vec<Entry>,
    /// More is waiting (the read budget was used up).
    pub more: bool,
}

struct Tracked {
    file: File,
    path: PathBuf,
    head: Head,
    /// Bytes consumed from the file (into `partial` or records).
    read_pos: u64,
    /// Everything before this was delivered.
    acked: u64,
    /// Size when the head was last checked.
    checked_len: u64,
    /// A line without its newline yet.
    partial: Vec<u8>,
    /// Dropping the rest of a line longer than `max_line_bytes`.
    skipping: bool,
    merger: Merger,
    last_growth: Instant,
}

/// All the files being followed.
pub struct Tailer {
    settings: Settings,
    files: HashMap<FileKey, Tracked>,
    /// Positions from the last run not matched to a file yet.
    restored: HashMap<FileKey, Checkpoint>,
    first_scan: bool,
    dirty: bool,
}

fn key_of(meta: &std::fs::Metadata) -> FileKey {
    FileKey { dev: meta.dev(), ino: meta.ino() }
}

/// The head of `file` over its first `len` bytes.
fn head(file: &mut File, len: u64) -> std::io::Result<Head> {
    let mut buf = vec![0u8; len as usize];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut buf)?;
    Ok(Head::of(&buf))
}

impl Tailer {
    /// A tailer resuming from `restored` positions.
    pub fn new(settings: Settings, restored: HashMap<FileKey, Checkpoint>) -> Tailer {
        Tailer { settings, files: HashMap::new(), restored, first_scan: true, dirty: false }
    }

    /// Scans the globs and reads what is new. Blocking file I/O: run it off the runtime.
    pub fn poll(&mut self, now: Instant) -> Vec<Ready> {
        let found = self.settings.globs.scan();
        let mut seen = BTreeSet::new();
        for path in found {
            match self.track(&path, now) {
                Ok(key) => {
                    seen.insert(key);
                }
                Err(e) => tracing::debug!(path = %path.display(), error = %e, "file source cannot open"),
            }
        }
        self.first_scan = false;
        // Restored positions of files not found are for files gone while Lookout was down.
        self.restored.clear();
        let mut ready = Vec::new();
        let mut gone = Vec::new();
        let budget = (POLL_BUDGET / self.files.len().max(1)).clamp(*FILE_BUDGET.start(), *FILE_BUDGET.end());
        for (key, t) in self.files.iter_mut() {
            let (entries, more) = match read(t, &self.settings, budget, now) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(path = %t.path.display(), error = %e, "file source read failed");
                    (Vec::new(), false)
                }
            };
            let mut entries = entries;
            if t.read_pos < t.acked {
                // Truncated: the saved position restarts at 0 too.
                t.acked = 0;
                self.dirty = true;
            }
            if !seen.contains(key) && !more && now.duration_since(t.last_growth) >= self.settings.rotate_wait {
                // Renamed away or deleted, and read to its end: the last line may lack a newline.
                if !t.partial.is_empty() && !t.skipping {
                    let line = std::mem::take(&mut t.partial);
                    entries.extend(t.merger.push(&line, t.read_pos, false, now));
                }
                entries.extend(t.merger.flush());
                gone.push(*key);
            }
            if !entries.is_empty() {
                ready.push(Ready { key: *key, path: t.path.clone(), entries, more });
            }
        }
        for key in gone {
            tracing::debug!(path = ?self.files.get(&key).map(|t| t.path.display().to_string()), "file source done with a file");
            self.files.remove(&key);
            self.dirty = true;
        }
        ready
    }

    /// Starts following `path` unless it is followed already (perhaps under another name).
    fn track(&mut self, path: &Path, now: Instant) -> std::io::Result<FileKey> {
        let meta = std::fs::metadata(path)?;
        let key = key_of(&meta);
        if let Some(t) = self.files.get_mut(&key) {
            t.path = path.to_path_buf();
            return Ok(key);
        }
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let key = key_of(&meta);
        let len = meta.len();
        // Same inode, same first bytes: the file read before.
        let resumed = match self.restored.remove(&key) {
            Some(c) if c.head.len <= len && head(&mut file, c.head.len)? == c.head => Some(c.offset),
            _ => None,
        };
        let start = match resumed {
            Some(offset) if offset <= len => offset,
            // Shorter than its position: truncated while Lookout was down.
            Some(_) => 0,
            None if self.first_scan && self.settings.start_at_end => len,
            None => 0,
        };
        let head = head(&mut file, len.min(self.settings.fingerprint_bytes as u64))?;
        tracing::debug!(path = %path.display(), offset = start, "file source following");
        self.files.insert(
            key,
            Tracked {
                file,
                path: path.to_path_buf(),
                head,
                read_pos: start,
                acked: start,
                checked_len: len,
                partial: Vec::new(),
                skipping: false,
                merger: self.settings.merger.clone(),
                last_growth: now,
            },
        );
        self.dirty = true;
        Ok(key)
    }

    /// The records of `key` up to `end` were delivered.
    pub fn acked(&mut self, key: FileKey, end: u64) {
        if let Some(t) = self.files.get_mut(&key) {
            t.acked = end;
            self.dirty = true;
        }
    }

    /// The positions to save, if any changed since the last call.
    pub fn take_checkpoints(&mut self) -> Option<Vec<Checkpoint>> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        let mut files: Vec<_> = self
            .files
            .iter()
            .map(|(key, t)| Checkpoint { key: *key, head: t.head, offset: t.acked, path: t.path.clone() })
            .collect();
        files.sort_by_key(|c| c.key);
        Some(files)
    }

    /// How many files are followed.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file is followed.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Reads what `t` gained since the last poll; detects truncation first.
fn read(t: &mut Tracked, s: &Settings, budget: usize, now: Instant) -> std::io::Result<(Vec<Entry>, bool)> {
    let len = t.file.metadata()?.len();
    let mut entries = Vec::new();
    if len != t.checked_len {
        let fp = s.fingerprint_bytes as u64;
        let same = if len < t.read_pos {
            false
        } else if t.head.len == 0 || head(&mut t.file, t.head.len)? == t.head {
            if t.head.len < fp && len > t.head.len {
                t.head = head(&mut t.file, len.min(fp))?;
            }
            true
        } else {
            false
        };
        if !same {
            tracing::info!(path = %t.path.display(), "file truncated or rewritten; reading it from the start");
            t.read_pos = 0;
            t.partial.clear();
            t.skipping = false;
            t.merger.reset();
            t.head = head(&mut t.file, len.min(fp))?;
        }
        t.checked_len = len;
    }
    if len <= t.read_pos {
        entries.extend(t.merger.due(now));
        return Ok((entries, false));
    }
    t.last_growth = now;
    let want = ((len - t.read_pos) as usize).min(budget);
    let mut buf = vec![0u8; want];
    t.file.seek(SeekFrom::Start(t.read_pos))?;
    let n = read_full(&mut t.file, &mut buf)?;
    buf.truncate(n);
    let base = t.read_pos;
    t.read_pos += n as u64;
    let mut line_start = 0;
    for nl in memchr::memchr_iter(b'\n', &buf) {
        let end = base + nl as u64 + 1;
        let piece = &buf[line_start..nl];
        line_start = nl + 1;
        if t.skipping {
            t.skipping = false;
            continue;
        }
        let (line, truncated) = if t.partial.is_empty() {
            cut(piece, s.max_line_bytes)
        } else {
            let room = s.max_line_bytes - t.partial.len();
            t.partial.extend_from_slice(&piece[..piece.len().min(room)]);
            let truncated = piece.len() > room;
            (&t.partial[..], truncated)
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let done = t.merger.push(line, end, truncated, now);
        t.partial.clear();
        entries.extend(done);
    }
    let rest = &buf[line_start..];
    if !t.skipping {
        let room = s.max_line_bytes - t.partial.len();
        if rest.len() > room {
            // Longer than allowed without a newline: hand on the first part, drop the rest
            // of the line. Its position is the line's start, so a restart before the
            // newline reads the line again (a duplicate) instead of its rest as a new line.
            let line_start_offset = base + line_start as u64 - t.partial.len() as u64;
            t.partial.extend_from_slice(&rest[..room]);
            let line = std::mem::take(&mut t.partial);
            entries.extend(t.merger.push(&line, line_start_offset, true, now));
            t.skipping = true;
        } else {
            t.partial.extend_from_slice(rest);
        }
    }
    entries.extend(t.merger.due(now));
    Ok((entries, n == budget))
}

fn cut(line: &[u8], max: usize) -> (&[u8], bool) {
    if line.len() > max { (&line[..max], true) } else { (line, false) }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
#[path = "tail_tests.rs"]
mod tests;
