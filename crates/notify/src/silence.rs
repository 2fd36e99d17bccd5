//! Silences (`silence/silence.go`): matcher sets muting alerts between `startsAt` and
//! `endsAt`, with Alertmanager's update rules (an active silence may only be extended or
//! shortened, otherwise the old one is expired and a new id issued), expiry instead of
//! deletion, and garbage collection after the retention period. Persisted write-through.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use crate::cluster::merge::{Merge, decide};
use crate::cluster::{Item, Outbox};
use crate::error::MatcherError;
use crate::matcher::{MatchType, Matcher, Matchers, valid_label_name};
use crate::persist::{StateDb, Table};
use crate::persisted::{Backing, Durability, Guard, PersistedMap, Retained};

/// One matcher of a silence, as the API carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    /// Label name.
    pub name: String,
    /// Value or regex.
    pub value: String,
    /// `=~`/`!~` instead of `=`/`!=`.
    pub is_regex: bool,
    /// `=`/`=~` instead of `!=`/`!~` (default true, as in the API).
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl SilenceMatcher {
    fn compile(&self) -> Result<Matcher, MatcherError> {
        let kind = match (self.is_regex, self.is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (true, false) => MatchType::NotRegexp,
        };
        if !valid_label_name(&self.name) {
            return Err(MatcherError::new(format!("invalid label name {:?}", self.name)));
        }
        Matcher::new(kind, &self.name, &self.value)
    }
}

/// A silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// UUID (empty when creating).
    #[serde(default)]
    pub id: String,
    /// All must match for an alert to be muted.
    pub matchers: Vec<SilenceMatcher>,
    /// Start of the muting.
    pub starts_at: DateTime<Utc>,
    /// End of the muting.
    pub ends_at: DateTime<Utc>,
    /// Last change.
    #[serde(default = "epoch")]
    pub updated_at: DateTime<Utc>,
    /// Author.
    #[serde(default)]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

fn epoch() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

/// A silence's state at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SilenceState {
    /// Starts in the future.
    Pending,
    /// Muting now.
    Active,
    /// Over.
    Expired,
}

impl SilenceState {
    /// `pending`, `active` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    /// State at `now` (`CalcSilenceState`).
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    /// No silence with that id.
    #[error("silence not found")]
    NotFound,
    /// The silence is invalid or the change is not allowed.
    #[error("{0}")]
    Invalid(String),
    /// The change is in memory but could not be committed to disk, so it is not
    /// acknowledged.
    #[error("{0}")]
    Persist(String),
}

/// A silence with its compiled matchers; persisted as the bare [`Silence`], and validated
/// again when read back.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "Silence", into = "Silence")]
struct Entry {
    silence: Silence,
    matchers: Matchers,
}

impl TryFrom<Silence> for Entry {
    type Error = SilenceError;

    fn try_from(silence: Silence) -> Result<Entry, SilenceError> {
        Ok(Entry { matchers: validate(&silence)?, silence })
    }
}

impl From<Entry> for Silence {
    fn from(e: Entry) -> Silence {
        e.silence
    }
}

impl Retained for Entry {
    fn expires_at(&self, retention: ChronoDuration) -> DateTime<Utc> {
        self.silence.ends_at + retention
    }
}

/// The silence store.
pub struct Silences {
    entries: PersistedMap<Entry>,
    /// Where changes go to be replicated, in a cluster.
    outbox: Option<Arc<Outbox>>,
}

fn validate(s: &Silence) -> Result<Matchers, SilenceError> {
    let invalid = |m: &str| Err(SilenceError::Invalid(m.into()));
    if s.matchers.is_empty() {
        return invalid("at least one matcher required");
    }
    let mut out = Vec::new();
    let mut all_match_empty = true;
    for (i, m) in s.matchers.iter().enumerate() {
        let c = m.compile().map_err(|e| SilenceError::Invalid(format!("invalid label matcher {i}: {e}")))?;
        all_match_empty &= c.matches("");
        out.push(c);
    }
    if all_match_empty {
        return invalid("at least one matcher must not match the empty string");
    }
    if s.ends_at < s.starts_at {
        return invalid("end time must not be before start time");
    }
    Ok(Matchers(out))
}

fn can_update(a: &Silence, b: &Silence, now: DateTime<Utc>) -> bool {
    if a.matchers != b.matchers {
        return false;
    }
    match a.state(now) {
        SilenceState::Active => b.starts_at == a.starts_at && b.ends_at >= now,
        SilenceState::Pending => b.starts_at >= now,
        SilenceState::Expired => false,
    }
}

/// A random (version 4) UUID, formatted as usual.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Silences {
    /// An empty store; `retention` is how long expired silences are kept (Alertmanager: 120h).
    /// Changes are acknowledged once committed to disk; in a cluster, each is also marked
    /// in `outbox` for replication.
    pub(crate) fn new(
        db: Option<Arc<StateDb>>,
        retention: std::time::Duration,
        outbox: Option<Arc<Outbox>>,
    ) -> Silences {
        let backing = db.map(|db| Backing::new(db, Table::Silences, Durability::Committed));
        Silences { entries: PersistedMap::new(backing, retention), outbox }
    }

    fn replicate(&self, id: String) {
        if let Some(o) = &self.outbox {
            o.mark(Item::Silence(id));
        }
    }

    /// Merges a silence another replica changed (newer `updatedAt` wins; not replicated
    /// again). Written to disk with the next batch: the replica that accepted the change
    /// committed it already.
    pub(crate) fn merge(&self, sil: Silence, now: DateTime<Utc>) -> Merge {
        let entry = match Entry::try_from(sil) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "Ignoring an invalid replicated silence.");
                return Merge::Expired;
            }
        };
        let expires_at = entry.expires_at(self.entries.retention());
        let mut map = self.entries.lock();
        let local = map.get(&entry.silence.id).map(|e| e.silence.updated_at);
        let verdict = decide(local, entry.silence.updated_at, expires_at, now);
        if verdict == Merge::Take {
            map.insert(entry.silence.id.clone(), entry);
        }
        verdict
    }

    /// Loads persisted silences (invalid rows are skipped with a warning).
    pub(crate) fn restore(&self, rows: Vec<(String, Vec<u8>)>) {
        self.entries.restore(rows, "silence");
    }

    /// Stores a change and returns its id, for [`Silences::replicate`] once committed.
    fn store(map: &mut Guard<'_, Entry>, mut silence: Silence, now: DateTime<Utc>) -> Result<String, SilenceError> {
        silence.updated_at = now;
        let entry = Entry::try_from(silence)?;
        let id = entry.silence.id.clone();
        map.insert(id.clone(), entry);
        Ok(id)
    }

    /// Creates or updates a silence (`Silences.Set`); returns its id, which is new when the
    /// change could not be applied in place. Returns once the change is on disk.
    pub fn set(&self, sil: Silence, now: DateTime<Utc>) -> Result<String, SilenceError> {
        // Validate before touching anything so a bad update does not expire the old one.
        validate(&sil)?;
        let mut map = self.entries.lock();
        let mut changed = Vec::new();
        let id = Silences::set_locked(&mut map, sil, now, &mut changed)?;
        map.commit().map_err(|e| SilenceError::Persist(e.to_string()))?;
        changed.into_iter().for_each(|id| self.replicate(id));
        Ok(id)
    }

    fn set_locked(
        map: &mut Guard<'_, Entry>,
        mut sil: Silence,
        now: DateTime<Utc>,
        changed: &mut Vec<String>,
    ) -> Result<String, SilenceError> {
        let prev = if sil.id.is_empty() {
            None
        } else {
            Some(map.get(&sil.id).map(|e| e.silence.clone()).ok_or(SilenceError::NotFound)?)
        };
        if let Some(prev) = prev {
            if can_update(&prev, &sil, now) {
                let id = Silences::store(map, sil, now)?;
                changed.push(id.clone());
                return Ok(id);
            }
            if prev.state(now) != SilenceState::Expired {
                changed.push(Silences::expire_locked(map, &prev.id, now)?);
            }
        }
        sil.id = new_uuid();
        if sil.starts_at < now {
            sil.starts_at = now;
        }
        let id = Silences::store(map, sil, now)?;
        changed.push(id.clone());
        Ok(id)
    }

    fn expire_locked(map: &mut Guard<'_, Entry>, id: &str, now: DateTime<Utc>) -> Result<String, SilenceError> {
        let mut sil = map.get(id).ok_or(SilenceError::NotFound)?.silence.clone();
        match sil.state(now) {
            SilenceState::Expired => return Err(SilenceError::Invalid(format!("silence {id} already expired"))),
            SilenceState::Active => sil.ends_at = now,
            SilenceState::Pending => {
                sil.starts_at = now;
                sil.ends_at = now;
            }
        }
        Silences::store(map, sil, now)
    }

    /// Expires a silence now (`DELETE /api/v2/silence/{id}`); returns once that is on disk.
    pub fn expire(&self, id: &str, now: DateTime<Utc>) -> Result<(), SilenceError> {
        let mut map = self.entries.lock();
        let id = Silences::expire_locked(&mut map, id, now)?;
        map.commit().map_err(|e| SilenceError::Persist(e.to_string()))?;
        self.replicate(id);
        Ok(())
    }

    /// One silence.
    pub fn get(&self, id: &str) -> Option<Silence> {
        self.entries.read(|m| m.get(id).map(|e| e.silence.clone()))
    }

    /// Every silence.
    pub fn list(&self) -> Vec<Silence> {
        self.entries.read(|m| m.values().map(|e| e.silence.clone()).collect())
    }

    /// Ids of the active silences muting this label set, sorted.
    pub fn silenced_by(&self, labels: &BTreeMap<String, String>, now: DateTime<Utc>) -> Vec<String> {
        let mut ids: Vec<String> = self.entries.read(|m| {
            m.values()
                .filter(|e| e.silence.state(now) == SilenceState::Active && e.matchers.matches(labels))
                .map(|e| e.silence.id.clone())
                .collect()
        });
        ids.sort();
        ids
    }

    /// Drops silences expired longer than the retention ago.
    pub fn gc(&self, now: DateTime<Utc>) -> usize {
        let gone = self.entries.gc(now);
        let n = gone.len();
        gone.into_iter().for_each(|id| self.replicate(id));
        n
    }

    /// How many silences are in each state.
    pub fn counts(&self, now: DateTime<Utc>) -> [(SilenceState, i64); 3] {
        let mut c = [(SilenceState::Active, 0), (SilenceState::Pending, 0), (SilenceState::Expired, 0)];
        self.entries.read(|m| {
            for e in m.values() {
                let st = e.silence.state(now);
                for slot in c.iter_mut() {
                    if slot.0 == st {
                        slot.1 += 1;
                    }
                }
            }
        });
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn sil(start: i64, end: i64) -> Silence {
        Silence {
            id: String::new(),
            matchers: vec![SilenceMatcher { name: "job".into(), value: "a.*".into(), is_regex: true, is_equal: true }],
            starts_at: t(start),
            ends_at: t(end),
            updated_at: t(0),
            created_by: "me".into(),
            comment: "c".into(),
        }
    }

    #[test]
    fn lifecycle_and_update_rules() {
        let s = Silences::new(None, std::time::Duration::from_secs(3600), None);
        let id = s.set(sil(0, 100), t(10)).unwrap();
        assert_eq!(id.len(), 36);
        let got = s.get(&id).unwrap();
        // Starts in the past are moved to now.
        assert_eq!(got.starts_at, t(10));
        let labels: BTreeMap<String, String> = [("job".to_string(), "api".to_string())].into();
        assert_eq!(s.silenced_by(&labels, t(20)), vec![id.clone()]);
        // Extending an active silence keeps its id.
        let mut ext = got.clone();
        ext.ends_at = t(200);
        assert_eq!(s.set(ext, t(20)).unwrap(), id);
        // Changing matchers expires it and issues a new id.
        let mut changed = s.get(&id).unwrap();
        changed.matchers[0].value = "b".into();
        let new_id = s.set(changed, t(30)).unwrap();
        assert_ne!(new_id, id);
        assert_eq!(s.get(&id).unwrap().state(t(30)), SilenceState::Expired);
        s.expire(&new_id, t(40)).unwrap();
        assert!(s.expire(&new_id, t(41)).unwrap_err().to_string().contains("already expired"));
        assert_eq!(s.expire("nope", t(41)), Err(SilenceError::NotFound));
        assert_eq!(s.silenced_by(&labels, t(50)), Vec::<String>::new());
        assert_eq!(s.gc(t(40 + 3600)), 2);
    }

    #[test]
    fn rejects_matchers_that_match_everything() {
        let s = Silences::new(None, std::time::Duration::from_secs(3600), None);
        let mut bad = sil(0, 100);
        bad.matchers[0].value = ".*".into();
        assert_eq!(s.set(bad, t(0)).unwrap_err().to_string(), "at least one matcher must not match the empty string");
    }
}
