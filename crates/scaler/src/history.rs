//! Scaler state and decision history under `data_dir`, kept across restarts.
//!
//! One JSON file, `<data_dir>/scaler/state.json`, rewritten after every evaluation with
//! [`lookout_state::write_atomic`] (temporary file, fsync, rename, fsync directory), so a crash
//! leaves either the old or the new file, never a torn one. A file that does not parse (or has
//! another version) is moved aside to `state.json.corrupt-<unix seconds>` at start and the
//! scaler starts empty, degraded on `/health` ([`lookout_state::read_or_quarantine`]). Chosen
//! over redb because the data is small and
//! bounded (the HPA memory of each scaler plus its last [`HISTORY_LIMIT`] decisions), always
//! read and written whole, and worth reading with `jq` during an incident; a database would add
//! a file lock and a schema without making any of that better.
//!
//! Persisting the HPA memory is deliberate: kube-controller-manager keeps recommendations and
//! scale events in memory only, so a restart there lets every HPA scale down at once.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use lookout_state::Loaded;
use serde::{Deserialize, Serialize};

use crate::decide::{Decision, ScalerState};

/// Decisions kept per scaler (at the default 15 s interval, a little over 2 hours).
pub const HISTORY_LIMIT: usize = 500;

/// What is kept for one scaler.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Persisted {
    /// The decision logic's memory.
    pub state: ScalerState,
    /// Recent decisions, oldest first.
    pub history: VecDeque<Decision>,
}

#[derive(Serialize, Deserialize)]
struct FileV1 {
    version: u32,
    scalers: BTreeMap<String, Persisted>,
}

/// The state file.
#[derive(Debug, Clone)]
pub struct HistoryStore {
    path: PathBuf,
}

impl HistoryStore {
    /// The store under `data_dir` (the directory is created on first save).
    pub fn new(data_dir: &Path) -> Self {
        HistoryStore { path: data_dir.join("scaler").join("state.json") }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file: missing (an empty state), found, or corrupt and moved aside. Errors
    /// are only those of reading the file (it is then left in place).
    pub fn load(&self) -> std::io::Result<Loaded<BTreeMap<String, Persisted>>> {
        lookout_state::read_or_quarantine(&self.path, |bytes| {
            let file: FileV1 = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            match file.version {
                1 => Ok(file.scalers),
                v => Err(format!("unsupported version {v}")),
            }
        })
    }

    /// Replaces the file atomically.
    pub fn save(&self, scalers: &BTreeMap<String, Persisted>) -> std::io::Result<()> {
        let body = serde_json::to_vec(&FileV1Ref { version: 1, scalers })?;
        lookout_state::write_atomic(&self.path, &body)
    }
}

#[derive(Serialize)]
struct FileV1Ref<'a> {
    version: u32,
    scalers: &'a BTreeMap<String, Persisted>,
}

/// Appends a decision, dropping the oldest past [`HISTORY_LIMIT`].
pub fn push_bounded(history: &mut VecDeque<Decision>, d: Decision) {
    history.push_back(d);
    while history.len() > HISTORY_LIMIT {
        history.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::new(dir.path());
        assert!(matches!(store.load().unwrap(), Loaded::Missing));
        let mut m = BTreeMap::new();
        let mut p = Persisted::default();
        p.state.hpa.recommendations.push(crate::hpa::Recommendation { replicas: 3, at_ms: 7 });
        m.insert("api".to_string(), p.clone());
        store.save(&m).unwrap();
        assert_eq!(store.load().unwrap().value().unwrap()["api"], p);
        assert!(!store.path().with_extension("json.tmp").exists());
    }

    #[test]
    fn a_corrupt_or_unknown_version_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::new(dir.path());
        std::fs::create_dir_all(store.path().parent().unwrap()).unwrap();
        for (body, why) in
            [(&b"{not json"[..], "key must be a string"), (b"{\"version\":2,\"scalers\":{}}", "version 2")]
        {
            std::fs::write(store.path(), body).unwrap();
            let loaded = store.load().unwrap();
            let q = loaded.quarantined().expect("moved aside");
            assert!(q.error.to_string().contains(why), "{}", q.error);
            assert_eq!(std::fs::read(&q.moved_to).unwrap(), body);
            assert!(!store.path().exists());
            assert!(matches!(store.load().unwrap(), Loaded::Missing));
        }
    }

    #[test]
    fn history_is_bounded() {
        let mut h = VecDeque::new();
        for i in 0..(HISTORY_LIMIT + 10) {
            let d = Decision {
                scaler: "a".into(),
                at_ms: i as i64,
                time: String::new(),
                current: 1,
                desired: 1,
                min_replicas: 1,
                max_replicas: 1,
                metrics: vec![],
                reasons: vec![],
            };
            push_bounded(&mut h, d);
        }
        assert_eq!(h.len(), HISTORY_LIMIT);
        assert_eq!(h.front().unwrap().at_ms, 10);
    }
}
