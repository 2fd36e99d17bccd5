//! The error groups of one `data_dir`: held in memory, persisted in
//! `data_dir/errors/groups.redb`, bounded by `max_groups`.
//!
//! Memory holds the authoritative copy; changes mark groups dirty and [`ErrorGroups::flush`]
//! writes every dirty group (and removes every evicted one) in **one** redb transaction,
//! so a burst of exceptions costs one commit per flush, not one per record. The sink
//! flushes after each batch it drained at most once a second, and on shutdown; the API
//! flushes after a state change so a resolve survives a crash.
//!
//! Full (`max_groups`): a new group evicts a hundredth of them (at least one), resolved
//! groups seen least recently first, then the groups seen least recently whatever their
//! state; one scan per hundred new groups, so a flood of new fingerprints stays cheap.
//!
//! One open database per directory per process (redb refuses a second open), shared
//! by the sink and the API through [`ErrorGroups::shared`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::fingerprint::Identity;
use crate::group::{Change, ErrorGroup, GroupState, Occurrence};

const GROUPS: TableDefinition<'static, &'static str, &'static [u8]> = TableDefinition::new("groups");
/// The file under `data_dir/errors/`.
pub const FILE: &str = "groups.redb";

/// Why the groups could not be opened or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `data_dir/errors` could not be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened (permissions, a disk error).
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: redb::Error,
    },
    /// A corrupt file could not be moved aside.
    #[error("cannot move the corrupt {} aside: {source}", path.display())]
    MoveAside {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing failed; the changes stay in memory and are retried by the next flush.
    #[error("cannot save error groups: {0}")]
    Write(#[from] redb::Error),
}

/// What recording one occurrence did, for the series.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The group's fingerprint.
    pub fingerprint: String,
    /// The group's exception type.
    pub r#type: String,
    /// The group's culprit.
    pub culprit: String,
    /// The occurrence's service, release and environment.
    pub service: String,
    /// `service.version` of the occurrence.
    pub release: String,
    /// `deployment.environment` of the occurrence.
    pub environment: String,
    /// The occurrence's tenant (empty without one).
    pub tenant: String,
    /// New group, regression, or seen.
    pub change: Change,
    /// The group's state after it (a new or regressed group is open).
    pub state: GroupState,
    /// Occurrences of the group from this service so far.
    pub service_count: u64,
    /// Regressions of the group so far.
    pub regressions: u64,
}

struct Inner {
    groups: HashMap<String, ErrorGroup>,
    dirty: HashSet<String>,
    removed: HashSet<String>,
    max_groups: usize,
    max_samples: usize,
    evicted: u64,
}

/// The error groups of one directory.
pub struct ErrorGroups {
    path: PathBuf,
    inner: Mutex<Inner>,
    /// Held across snapshot and commit so flushes commit in order.
    db: Mutex<Database>,
    moved_aside: Option<PathBuf>,
}

/// Defaults until a sink configures them.
pub const DEFAULT_MAX_GROUPS: usize = 10_000;
/// Samples kept per group by default.
pub const DEFAULT_SAMPLES: usize = 5;

static OPEN: LazyLock<Mutex<HashMap<PathBuf, Arc<ErrorGroups>>>> = LazyLock::new(Default::default);

impl ErrorGroups {
    /// The groups under `data_dir/errors/`, opened once per process and shared.
    pub fn shared(data_dir: &Path) -> Result<Arc<ErrorGroups>, Error> {
        let dir = data_dir.join("errors");
        let mut open = lock(&OPEN);
        if let Some(g) = open.get(&dir) {
            return Ok(g.clone());
        }
        let g = Arc::new(ErrorGroups::open(&dir)?);
        open.insert(dir, g.clone());
        Ok(g)
    }

    /// The shared groups of `data_dir` if a sink opened them or a previous run left a
    /// file, else `None` (nothing is created for a pipeline without error tracking).
    pub fn existing(data_dir: &Path) -> Result<Option<Arc<ErrorGroups>>, Error> {
        let dir = data_dir.join("errors");
        if lock(&OPEN).contains_key(&dir) || dir.join(FILE).exists() {
            return ErrorGroups::shared(data_dir).map(Some);
        }
        Ok(None)
    }

    /// Opens (or creates) `dir/groups.redb` and loads every group. A file redb reports as
    /// corrupt is moved aside to `groups.redb.corrupt-<unix time>` and the groups start
    /// empty: losing groups is better than a pipeline that cannot start.
    pub fn open(dir: &Path) -> Result<ErrorGroups, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir { path: dir.to_path_buf(), source })?;
        let path = dir.join(FILE);
        let (db, groups, moved_aside) = match open_db(&path) {
            Ok((db, groups)) => (db, groups, None),
            Err(e) if is_corrupt(&e) => {
                let aside = move_aside(&path)?;
                tracing::error!(
                    path = %path.display(), moved_to = %aside.display(), error = %e,
                    "Error groups file is corrupt; moved it aside and starting with no groups."
                );
                let (db, groups) = open_db(&path).map_err(|source| Error::Open { path: path.clone(), source })?;
                (db, groups, Some(aside))
            }
            Err(source) => return Err(Error::Open { path, source }),
        };
        let inner = Inner {
            groups,
            dirty: HashSet::new(),
            removed: HashSet::new(),
            max_groups: DEFAULT_MAX_GROUPS,
            max_samples: DEFAULT_SAMPLES,
            evicted: 0,
        };
        Ok(ErrorGroups { path, inner: Mutex::new(inner), db: Mutex::new(db), moved_aside })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a corrupt file was moved at open, if it was.
    pub fn moved_aside(&self) -> Option<&Path> {
        self.moved_aside.as_deref()
    }

    /// Sets the bounds (from the sink's config): groups kept, samples per group.
    pub fn configure(&self, max_groups: usize, samples_per_group: usize) {
        let mut inner = lock(&self.inner);
        inner.max_groups = max_groups.max(1);
        inner.max_samples = samples_per_group;
    }

    /// Records occurrences, each with its group identity, evicting as needed.
    pub fn record(&self, occurrences: impl IntoIterator<Item = (Identity, Occurrence)>) -> Vec<Recorded> {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let mut out = Vec::new();
        for (identity, o) in occurrences {
            if !inner.groups.contains_key(&identity.fingerprint) {
                if inner.groups.len() >= inner.max_groups {
                    // 1% at a time (at least one, and at least down to the limit): one
                    // scan of the groups per hundredth of them, not one per new group.
                    let excess = inner.groups.len() + 1 - inner.max_groups;
                    let n = excess.max(inner.max_groups / 100).max(1);
                    for victim in eviction_victims(&inner.groups, n) {
                        inner.groups.remove(&victim);
                        inner.dirty.remove(&victim);
                        inner.removed.insert(victim);
                        inner.evicted += 1;
                        crate::metrics::metrics().evicted.inc();
                    }
                }
                inner.groups.insert(identity.fingerprint.clone(), ErrorGroup::new(&identity, &o));
                inner.removed.remove(&identity.fingerprint);
            }
            let Some(g) = inner.groups.get_mut(&identity.fingerprint) else { continue };
            let (service, release, environment, tenant) =
                (o.service.clone(), o.release.clone(), o.environment.clone(), o.tenant.clone());
            let change = g.record(&identity, o, inner.max_samples);
            out.push(Recorded {
                fingerprint: g.fingerprint.clone(),
                r#type: g.r#type.clone(),
                culprit: g.culprit.clone(),
                service_count: g.count_for(&service),
                service,
                release,
                environment,
                tenant,
                change,
                state: g.state,
                regressions: g.regressions,
            });
            inner.dirty.insert(identity.fingerprint);
        }
        crate::metrics::metrics().occurrences.inc_by(out.len() as u64);
        out
    }

    /// What `f` makes of one group, without copying it.
    pub fn view<T>(&self, fingerprint: &str, f: impl FnOnce(&ErrorGroup) -> T) -> Option<T> {
        lock(&self.inner).groups.get(fingerprint).map(f)
    }

    /// A copy of one group.
    pub fn get(&self, fingerprint: &str) -> Option<ErrorGroup> {
        lock(&self.inner).groups.get(fingerprint).cloned()
    }

    /// Copies of the groups `keep` selects.
    pub fn select(&self, mut keep: impl FnMut(&ErrorGroup) -> bool) -> Vec<ErrorGroup> {
        self.collect(|g| keep(g).then(|| g.clone()))
    }

    /// What `f` makes of each group, where it makes something: a list without copying
    /// every group's samples (up to `max_groups` × `samples_per_group` stack traces).
    pub fn collect<T>(&self, f: impl FnMut(&ErrorGroup) -> Option<T>) -> Vec<T> {
        lock(&self.inner).groups.values().filter_map(f).collect()
    }

    /// Sets a group's state; `None` if there is no such group. Not yet saved: call
    /// [`ErrorGroups::flush`].
    pub fn set_state(&self, fingerprint: &str, state: GroupState, now_ms: i64) -> Option<ErrorGroup> {
        let mut inner = lock(&self.inner);
        let g = inner.groups.get_mut(fingerprint)?;
        g.set_state(state, now_ms);
        let copy = g.clone();
        inner.dirty.insert(fingerprint.to_string());
        Some(copy)
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        lock(&self.inner).groups.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Groups evicted to stay within `max_groups` since the process started.
    pub fn evicted(&self) -> u64 {
        lock(&self.inner).evicted
    }

    /// Whether changes wait for a flush.
    pub fn has_unsaved(&self) -> bool {
        let inner = lock(&self.inner);
        !inner.dirty.is_empty() || !inner.removed.is_empty()
    }

    /// Writes every changed group and removes every evicted one, in one transaction.
    /// Blocking (an fsync): call it from a blocking thread. On failure the changes stay
    /// marked and the next flush retries them.
    pub fn flush(&self) -> Result<usize, Error> {
        let db = lock(&self.db);
        let (puts, removes) = {
            let mut inner = lock(&self.inner);
            publish_state_counts(&inner.groups);
            let dirty = std::mem::take(&mut inner.dirty);
            let removes: Vec<String> = inner.removed.drain().collect();
            let puts: Vec<(String, Vec<u8>)> = dirty
                .into_iter()
                .filter_map(|fp| {
                    let g = inner.groups.get(&fp)?;
                    Some((fp, serde_json::to_vec(g).unwrap_or_default()))
                })
                .collect();
            (puts, removes)
        };
        if puts.is_empty() && removes.is_empty() {
            return Ok(0);
        }
        let n = puts.len() + removes.len();
        let result = (|| -> Result<(), redb::Error> {
            let w = db.begin_write()?;
            {
                let mut t = w.open_table(GROUPS)?;
                for (k, v) in &puts {
                    t.insert(k.as_str(), v.as_slice())?;
                }
                for k in &removes {
                    t.remove(k.as_str())?;
                }
            }
            w.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            // Mark them again (unless changed or evicted since: then they are marked anyway).
            let mut inner = lock(&self.inner);
            for (k, _) in puts {
                if inner.groups.contains_key(&k) {
                    inner.dirty.insert(k);
                }
            }
            for k in removes {
                if !inner.groups.contains_key(&k) {
                    inner.removed.insert(k);
                }
            }
            crate::metrics::metrics().save_failures.inc();
            return Err(Error::Write(e));
        }
        Ok(n)
    }
}

/// Sets `lookout_error_groups{state}` (at each flush: at most once a second).
fn publish_state_counts(groups: &HashMap<String, ErrorGroup>) {
    let mut counts = [0i64; 3];
    for g in groups.values() {
        counts[g.state as usize] += 1;
    }
    for (state, n) in [GroupState::Open, GroupState::Resolved, GroupState::Ignored].into_iter().zip(counts) {
        let label = crate::metrics::StateLabel { state: state.as_str().to_string() };
        crate::metrics::metrics().groups.get_or_create(&label).set(n);
    }
}

/// The `n` groups to evict: resolved ones seen least recently first, then the others
/// seen least recently.
fn eviction_victims(groups: &HashMap<String, ErrorGroup>, n: usize) -> Vec<String> {
    let mut order: Vec<(bool, i64, &str)> =
        groups.values().map(|g| (g.state != GroupState::Resolved, g.last_seen_ms, g.fingerprint.as_str())).collect();
    let n = n.min(order.len());
    if n == 0 {
        return Vec::new();
    }
    order.select_nth_unstable(n - 1);
    order.truncate(n);
    order.into_iter().map(|(_, _, fp)| fp.to_string()).collect()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding it left consistent data (every update is a few field
    // writes): keep serving rather than poison every later call.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_db(path: &Path) -> Result<(Database, HashMap<String, ErrorGroup>), redb::Error> {
    let db = Database::create(path)?;
    let w = db.begin_write()?;
    w.open_table(GROUPS)?;
    w.commit()?;
    let r = db.begin_read()?;
    let table = r.open_table(GROUPS)?;
    let mut groups = HashMap::new();
    for row in table.iter()? {
        let (k, v) = row?;
        match serde_json::from_slice::<ErrorGroup>(v.value()) {
            Ok(g) => {
                groups.insert(k.value().to_string(), g);
            }
            // One unreadable row (a newer format, a bad write) loses that group only.
            Err(e) => tracing::warn!(fingerprint = k.value(), error = %e, "Skipped an unreadable error group."),
        }
    }
    drop(table);
    drop(r);
    Ok((db, groups))
}

/// Whether the file itself is bad, as opposed to the disk, permissions or another
/// process holding it (those must fail the start rather than lose the groups).
fn is_corrupt(e: &redb::Error) -> bool {
    use std::io::ErrorKind;
    match e {
        redb::Error::Corrupted(_) | redb::Error::UpgradeRequired(_) => true,
        redb::Error::Io(io) => matches!(io.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof),
        _ => false,
    }
}

fn move_aside(path: &Path) -> Result<PathBuf, Error> {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{unix}"));
    let aside = PathBuf::from(name);
    std::fs::rename(path, &aside).map_err(|source| Error::MoveAside { path: path.to_path_buf(), source })?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Basis;

    fn occurrence(fp: &str, t: i64, release: &str) -> (Identity, Occurrence) {
        let id = Identity { fingerprint: fp.into(), title: fp.into(), culprit: String::new(), basis: Basis::Message };
        let o = Occurrence {
            time_ms: t,
            service: "api".into(),
            release: release.into(),
            r#type: "E".into(),
            source: "log".into(),
            ..Default::default()
        };
        (id, o)
    }

    #[test]
    fn full_evicts_the_oldest_resolved_group_first_then_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let groups = ErrorGroups::open(dir.path()).unwrap();
        groups.configure(3, 2);
        groups.record([occurrence("a", 1, "1"), occurrence("b", 2, "1"), occurrence("c", 3, "1")]);
        groups.set_state("c", GroupState::Resolved, 4);
        groups.record([occurrence("d", 5, "1")]);
        let mut left: Vec<String> = groups.select(|_| true).into_iter().map(|g| g.fingerprint).collect();
        left.sort();
        assert_eq!(left, ["a", "b", "d"], "c, resolved, went first although a is older");
        groups.record([occurrence("e", 6, "1")]);
        let mut left: Vec<String> = groups.select(|_| true).into_iter().map(|g| g.fingerprint).collect();
        left.sort();
        assert_eq!(left, ["b", "d", "e"], "then the oldest: a");
        assert_eq!(groups.evicted(), 2);
    }

    #[test]
    fn a_full_large_set_evicts_a_hundredth_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let groups = ErrorGroups::open(dir.path()).unwrap();
        groups.configure(1000, 0);
        groups.record((0..1000).map(|i| occurrence(&format!("g{i:04}"), i, "1")));
        groups.set_state("g0999", GroupState::Resolved, 2000);
        groups.record([occurrence("new", 3000, "1")]);
        assert_eq!(groups.len(), 991, "10 evicted, 1 added");
        assert_eq!(groups.evicted(), 10);
        assert!(groups.get("g0999").is_none(), "the resolved group first, although the newest");
        assert!(groups.get("g0008").is_none() && groups.get("g0009").is_some(), "then the 9 oldest");
        // Room now: the next nine new groups evict nothing.
        groups.record((0..9).map(|i| occurrence(&format!("more{i}"), 4000, "1")));
        assert_eq!((groups.len(), groups.evicted()), (1000, 10));
    }

    #[test]
    fn groups_survive_a_reopen_and_evicted_ones_stay_gone() {
        let dir = tempfile::tempdir().unwrap();
        {
            let groups = ErrorGroups::open(dir.path()).unwrap();
            groups.configure(2, 2);
            let r = groups.record([occurrence("a", 1, "1"), occurrence("a", 2, "1"), occurrence("b", 3, "1")]);
            assert_eq!(r.iter().map(|r| r.change).collect::<Vec<_>>(), [Change::New, Change::Seen, Change::New]);
            groups.set_state("a", GroupState::Resolved, 4);
            assert_eq!(groups.flush().unwrap(), 2, "two groups, one transaction");
            groups.record([occurrence("c", 5, "1")]);
            assert!(groups.has_unsaved());
            groups.flush().unwrap();
            assert_eq!(groups.flush().unwrap(), 0, "nothing left to write");
        }
        let groups = ErrorGroups::open(dir.path()).unwrap();
        let mut left: Vec<String> = groups.select(|_| true).into_iter().map(|g| g.fingerprint).collect();
        left.sort();
        assert_eq!(left, ["b", "c"]);
        let b = groups.get("b").unwrap();
        assert_eq!((b.count, b.state), (1, GroupState::Open));
        // A resolved group reloaded still regresses in a new release.
        groups.set_state("b", GroupState::Resolved, 6);
        let r = groups.record([occurrence("b", 7, "2")]);
        assert_eq!((r[0].change, r[0].state, r[0].regressions), (Change::Regression, GroupState::Open, 1));
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_groups_start_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"garbage, not a redb file at all".repeat(200)).unwrap();
        let groups = ErrorGroups::open(dir.path()).unwrap();
        assert!(groups.is_empty());
        let aside = groups.moved_aside().expect("moved aside");
        assert!(aside.to_str().unwrap().contains("groups.redb.corrupt-"), "{aside:?}");
        groups.record([occurrence("a", 1, "1")]);
        groups.flush().unwrap();
    }

    #[test]
    fn shared_opens_once_per_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ErrorGroups::existing(dir.path()).unwrap().is_none(), "nothing created");
        assert!(!dir.path().join("errors").exists());
        let a = ErrorGroups::shared(dir.path()).unwrap();
        let b = ErrorGroups::existing(dir.path()).unwrap().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }
}
