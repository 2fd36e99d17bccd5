//! Where each file was read to, saved under `data_dir/file_source/<name>/checkpoints.json`.
//!
//! Only offsets whose records the sinks acknowledged are saved, and the file is replaced
//! atomically ([`lookout_state::write_atomic`]), so after a crash reading resumes at or
//! before the first record not yet delivered: at least once, never a gap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A file's identity: device and inode (stable across a rename).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileKey {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

/// The first bytes of a file, hashed: tells a file from another that got the same inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Head {
    /// How many bytes were hashed (less than `fingerprint_bytes` while the file is short).
    pub len: u64,
    /// The first 8 bytes of their SHA-256.
    pub hash: u64,
}

impl Head {
    /// The head of `bytes`.
    pub fn of(bytes: &[u8]) -> Head {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(bytes);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Head { len: bytes.len() as u64, hash: u64::from_be_bytes(first) }
    }
}

/// One file's saved position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Its identity.
    #[serde(flatten)]
    pub key: FileKey,
    /// Its head when saved.
    pub head: Head,
    /// Everything before this offset was delivered.
    pub offset: u64,
    /// Where it was last seen (for people reading the file).
    pub path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    files: Vec<Checkpoint>,
}

/// The checkpoint file of one source.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// `dir/checkpoints.json`.
    pub fn new(dir: &Path) -> Store {
        Store { path: dir.join("checkpoints.json") }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved positions, and where a corrupt file was moved (reading then starts
    /// over as on a first start).
    pub fn load(&self) -> std::io::Result<(HashMap<FileKey, Checkpoint>, Option<PathBuf>)> {
        let parse = |b: &[u8]| serde_json::from_slice::<Saved>(b);
        Ok(match lookout_state::read_or_quarantine(&self.path, parse)? {
            lookout_state::Loaded::Found(saved) => (saved.files.into_iter().map(|c| (c.key, c)).collect(), None),
            lookout_state::Loaded::Missing => (HashMap::new(), None),
            lookout_state::Loaded::Quarantined(q) => {
                tracing::error!(file = %self.path.display(), moved_to = %q.moved_to.display(), "file source checkpoints corrupt; starting over");
                (HashMap::new(), Some(q.moved_to))
            }
        })
    }

    /// Replaces the file with `files`.
    pub fn save(&self, files: Vec<Checkpoint>) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(&Saved { version: 1, files }).map_err(std::io::Error::other)?;
        lookout_state::write_atomic(&self.path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_positions_load_back_and_a_corrupt_file_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("file_source").join("app"));
        assert!(store.load().unwrap().0.is_empty());
        let c = Checkpoint {
            key: FileKey { dev: 1, ino: 2 },
            head: Head::of(b"2024-01-01 first line"),
            offset: 42,
            path: "/var/log/app.log".into(),
        };
        store.save(vec![c.clone()]).unwrap();
        assert_eq!(store.load().unwrap().0.get(&FileKey { dev: 1, ino: 2 }), Some(&c));
        std::fs::write(store.path(), b"{not json").unwrap();
        let (files, moved) = store.load().unwrap();
        assert!(files.is_empty());
        assert!(moved.unwrap().exists());
        assert!(!store.path().exists(), "the corrupt file is moved aside");
    }

    #[test]
    fn heads_differ_by_content_and_length() {
        assert_eq!(Head::of(b"abc"), Head::of(b"abc"));
        assert_ne!(Head::of(b"abc"), Head::of(b"abd"));
        assert_ne!(Head::of(b"ab").hash, Head::of(b"abc").hash);
    }
}
