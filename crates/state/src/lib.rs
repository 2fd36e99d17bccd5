//! Crash-safe state files under `data_dir`, done once for all of Lookout.
//!
//! # The job
//!
//! The rule engine (`rules/state.json`) and the scaler (`scaler/state.json`) each keep a
//! small file that is read whole at start and rewritten whole while running. Two things
//! must hold for every such file, and this crate is where they are written down:
//!
//! - **A crash never tears the file.** [`write_atomic`] writes a temporary file next to
//!   it, fsyncs it, renames it over the old one and fsyncs the directory, so after a crash
//!   at any point the path holds either the whole old file or the whole new one.
//! - **A bad file never stops the process.** [`read_or_quarantine`] parses the file with
//!   the caller's function; when that fails, the file is renamed to
//!   `<file>.corrupt-<unix seconds>` (kept for a post-mortem, out of the way of the next
//!   start) and the caller gets [`Loaded::Quarantined`] with the new path, to log at ERROR
//!   and report on `/health` as degraded before it starts with empty state.
//!
//! # Main types
//!
//! - [`write_atomic`]: replace a file durably.
//! - [`read_or_quarantine`] → [`Loaded`]: missing, found, or moved aside ([`Quarantined`]).
//!
//! # Why so
//!
//! The file formats stay the callers' own (JSON read with `jq` during an incident); this
//! crate only knows bytes, so it adds no schema. A file that cannot be *read* (permissions,
//! a disk error) is not corrupt: it is returned as an `io::Error` and left where it is,
//! because moving it aside could not help and starting over would overwrite state that may
//! be fine. Only a file whose bytes the caller rejects is moved. The notifier's redb file
//! follows the same rule with redb's own corruption check (`lookout_notify`).
//!
//! One writer per path: the temporary file has a fixed name (`<file>.tmp`), so a crash
//! leaves at most one stale temporary file, which the next write replaces.
//!
//! # Example
//!
//! ```
//! use lookout_state::{Loaded, read_or_quarantine, write_atomic};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("scaler").join("state.json");
//! let parse = |b: &[u8]| std::str::from_utf8(b).map(str::to_owned);
//!
//! // No file yet: start empty.
//! assert!(matches!(read_or_quarantine(&path, parse)?, Loaded::Missing));
//!
//! write_atomic(&path, b"{\"version\":1}")?;
//! assert_eq!(read_or_quarantine(&path, parse)?.value().as_deref(), Some("{\"version\":1}"));
//!
//! // A file the parser rejects is moved aside and reported; the next start is clean.
//! std::fs::write(&path, [0xff, 0xfe])?;
//! let Loaded::Quarantined(q) = read_or_quarantine(&path, parse)? else { panic!("not moved") };
//! assert!(q.moved_to.to_str().unwrap().contains("state.json.corrupt-"));
//! assert!(q.moved_to.exists() && !path.exists());
//! assert!(matches!(read_or_quarantine(&path, parse)?, Loaded::Missing));
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::error::Error;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What [`read_or_quarantine`] found at start.
#[derive(Debug)]
pub enum Loaded<T> {
    /// No file: a first start (or the previous one was moved aside).
    Missing,
    /// The file, parsed.
    Found(T),
    /// The file did not parse and was moved aside: start empty and say so.
    Quarantined(Quarantined),
}

/// A state file that did not parse, and where it went.
#[derive(Debug)]
pub struct Quarantined {
    /// `<file>.corrupt-<unix seconds>` (with `.<n>` appended if that name was taken).
    pub moved_to: PathBuf,
    /// Why the parser rejected it.
    pub error: Box<dyn Error + Send + Sync>,
}

impl<T> Loaded<T> {
    /// The parsed state, if there was one.
    pub fn value(self) -> Option<T> {
        match self {
            Loaded::Found(t) => Some(t),
            Loaded::Missing | Loaded::Quarantined(_) => None,
        }
    }

    /// The moved-aside file, if the state was corrupt.
    pub fn quarantined(&self) -> Option<&Quarantined> {
        match self {
            Loaded::Quarantined(q) => Some(q),
            Loaded::Missing | Loaded::Found(_) => None,
        }
    }
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves the old file or the new
/// one, whole: write `<file>.tmp` in the same directory, fsync it, rename it over `path`,
/// fsync the directory. Creates the parent directory if missing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = write_temp(path, bytes)?;
    std::fs::rename(&tmp, path)?;
    sync_dir(parent(path))
}

/// Reads `path` and parses it with `parse`.
///
/// A missing file is [`Loaded::Missing`]. A file `parse` rejects is renamed to
/// `<file>.corrupt-<unix seconds>` and returned as [`Loaded::Quarantined`]. Errors are
/// only those of reading the file (other than not found) or of moving it aside; the file
/// is then left in place.
pub fn read_or_quarantine<T, E>(path: &Path, parse: impl FnOnce(&[u8]) -> Result<T, E>) -> io::Result<Loaded<T>>
where
    E: Into<Box<dyn Error + Send + Sync>>,
{
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => return Err(e),
    };
    match parse(&bytes) {
        Ok(t) => Ok(Loaded::Found(t)),
        Err(error) => {
            let moved_to = move_aside(path)?;
            Ok(Loaded::Quarantined(Quarantined { moved_to, error: error.into() }))
        }
    }
}

/// The first half of [`write_atomic`]: the new content, durable, beside `path`.
fn write_temp(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    std::fs::create_dir_all(parent(path))?;
    let tmp = with_suffix(path, ".tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(tmp)
}

/// Renames `path` to a free `<file>.corrupt-<unix seconds>[.<n>]`.
fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let base = format!(".corrupt-{secs}");
    // Two bad starts within a second must not overwrite the first file kept for a
    // post-mortem (rename replaces silently on Unix).
    let moved_to = (0..)
        .map(|n| if n == 0 { with_suffix(path, &base) } else { with_suffix(path, &format!("{base}.{n}")) })
        .find(|p| !p.exists())
        .expect("an unused name");
    std::fs::rename(path, &moved_to)?;
    // The move is done; a failed directory sync only risks the old name coming back
    // after a power loss, when the next start moves it again.
    let _ = sync_dir(parent(path));
    Ok(moved_to)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes renames in `dir` durable (a rename is a change to the directory, not the file).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; `MoveFileEx` there is durable enough.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json_ish(b: &[u8]) -> Result<String, String> {
        let s = std::str::from_utf8(b).map_err(|e| e.to_string())?;
        if s.starts_with('{') && s.ends_with('}') { Ok(s.to_string()) } else { Err(format!("not an object: {s:?}")) }
    }

    fn corrupt_files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_str().unwrap().contains(".corrupt-"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_creates_the_directory_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("state.json");
        write_atomic(&path, b"{1}").unwrap();
        write_atomic(&path, b"{2}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{2}");
        assert!(!with_suffix(&path, ".tmp").exists());
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn a_crash_between_temp_write_and_rename_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"{old}").unwrap();
        // The process dies after writing the temporary file, before the rename.
        let tmp = write_temp(&path, b"{new, half writ").unwrap();
        assert!(tmp.exists());
        let loaded = read_or_quarantine(&path, parse_json_ish).unwrap();
        assert_eq!(loaded.value().as_deref(), Some("{old}"));
        assert!(corrupt_files(dir.path()).is_empty());
        // The next write replaces the stale temporary file.
        write_atomic(&path, b"{new}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{new}");
        assert!(!tmp.exists());
    }

    #[test]
    fn a_missing_file_is_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = read_or_quarantine(&dir.path().join("nope.json"), parse_json_ish).unwrap();
        assert!(matches!(loaded, Loaded::Missing));
        assert!(loaded.quarantined().is_none());
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_the_next_start_is_clean() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"\0\0\0garbage").unwrap();
        let loaded = read_or_quarantine(&path, parse_json_ish).unwrap();
        let q = loaded.quarantined().expect("quarantined");
        let name = q.moved_to.file_name().unwrap().to_str().unwrap();
        let secs = name.strip_prefix("state.json.corrupt-").expect(name);
        assert!(secs.parse::<u64>().unwrap() > 1_600_000_000, "{name}");
        assert_eq!(std::fs::read(&q.moved_to).unwrap(), b"\0\0\0garbage");
        assert!(q.error.to_string().starts_with("not an object"), "{}", q.error);
        assert!(!path.exists());
        // The next start finds nothing, then what it saved.
        assert!(matches!(read_or_quarantine(&path, parse_json_ish).unwrap(), Loaded::Missing));
        write_atomic(&path, b"{fresh}").unwrap();
        assert_eq!(read_or_quarantine(&path, parse_json_ish).unwrap().value().as_deref(), Some("{fresh}"));
        assert_eq!(corrupt_files(dir.path()).len(), 1);
    }

    #[test]
    fn an_empty_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"").unwrap();
        assert!(read_or_quarantine(&path, parse_json_ish).unwrap().quarantined().is_some());
    }

    #[test]
    fn quarantines_in_the_same_second_keep_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for i in 0..3 {
            std::fs::write(&path, format!("bad {i}")).unwrap();
            assert!(read_or_quarantine(&path, parse_json_ish).unwrap().quarantined().is_some());
        }
        let kept: Vec<String> = corrupt_files(dir.path()).iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
        assert_eq!(kept.len(), 3, "{kept:?}");
        for i in 0..3 {
            assert!(kept.contains(&format!("bad {i}")), "{kept:?}");
        }
    }

    #[test]
    fn an_unreadable_path_is_an_error_and_stays() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading fails, and nothing is moved.
        let path = dir.path().join("state.json");
        std::fs::create_dir(&path).unwrap();
        assert!(read_or_quarantine(&path, parse_json_ish).is_err());
        assert!(path.is_dir());
        assert!(corrupt_files(dir.path()).is_empty());
    }
}
