//! Silences (`silence/silence.go`): matcher sets muting alerts between `startsAt` and
//! `endsAt`, with Alertmanager's update rules (an active silence may only be extended or
//! shortened, otherwise the old one is expired and a new id issued), expiry instead of
//! deletion, and garbage collection after the retention period. Persisted write-through.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use crate::matcher::{MatchType, Matcher, Matchers, valid_label_name};
use crate::persist::{StateDb, Table};

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
    fn compile(&self) -> Result<Matcher, String> {
        let kind = match (self.is_regex, self.is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (true, false) => MatchType::NotRegexp,
        };
        if !valid_label_name(&self.name) {
            return Err(format!("invalid label name {:?}", self.name));
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SilenceError {
    /// No silence with that id.
    NotFound,
    /// The silence is invalid or the change is not allowed.
    Invalid(String),
}

impl std::fmt::Display for SilenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SilenceError::NotFound => f.write_str("silence not found"),
            SilenceError::Invalid(m) => f.write_str(m),
        }
    }
}

struct Entry {
    silence: Silence,
    matchers: Matchers,
}

/// The silence store.
pub struct Silences {
    entries: Mutex<HashMap<String, Entry>>,
    db: Option<Arc<StateDb>>,
    retention: ChronoDuration,
}

fn validate(s: &Silence) -> Result<Matchers, String> {
    if s.matchers.is_empty() {
        return Err("at least one matcher required".into());
    }
    let mut out = Vec::new();
    let mut all_match_empty = true;
    for (i, m) in s.matchers.iter().enumerate() {
        let c = m.compile().map_err(|e| format!("invalid label matcher {i}: {e}"))?;
        all_match_empty &= c.matches("");
        out.push(c);
    }
    if all_match_empty {
        return Err("at least one matcher must not match the empty string".into());
    }
    if s.ends_at < s.starts_at {
        return Err("end time must not be before start time".into());
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
    let mut b: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl Silences {
    /// An empty store; `retention` is how long expired silences are kept (Alertmanager: 120h).
    pub(crate) fn new(db: Option<Arc<StateDb>>, retention: std::time::Duration) -> Silences {
        Silences {
            entries: Mutex::new(HashMap::new()),
            db,
            retention: ChronoDuration::from_std(retention).unwrap_or(ChronoDuration::hours(120)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads persisted silences (invalid rows are skipped with a warning).
    pub(crate) fn restore(&self, rows: Vec<(String, Vec<u8>)>) {
        let mut map = self.lock();
        for (id, v) in rows {
            match serde_json::from_slice::<Silence>(&v).map_err(|e| e.to_string()).and_then(|s| Ok((validate(&s)?, s)))
            {
                Ok((matchers, silence)) => {
                    map.insert(id, Entry { silence, matchers });
                }
                Err(e) => tracing::warn!(id, error = %e, "Skipping an unreadable persisted silence."),
            }
        }
    }

    fn store(&self, map: &mut HashMap<String, Entry>, silence: Silence, now: DateTime<Utc>) -> Result<(), String> {
        let mut silence = silence;
        silence.updated_at = now;
        let matchers = validate(&silence)?;
        if let Some(db) = &self.db
            && let Ok(v) = serde_json::to_vec(&silence)
        {
            db.put(Table::Silences, silence.id.clone(), v);
        }
        map.insert(silence.id.clone(), Entry { silence, matchers });
        Ok(())
    }

    /// Creates or updates a silence (`Silences.Set`); returns its id, which is new when the
    /// change could not be applied in place.
    pub fn set(&self, mut sil: Silence, now: DateTime<Utc>) -> Result<String, SilenceError> {
        // Validate before touching anything so a bad update does not expire the old one.
        validate(&sil).map_err(SilenceError::Invalid)?;
        let mut map = self.lock();
        let prev = if sil.id.is_empty() {
            None
        } else {
            Some(map.get(&sil.id).map(|e| e.silence.clone()).ok_or(SilenceError::NotFound)?)
        };
        if let Some(prev) = prev {
            if can_update(&prev, &sil, now) {
                let id = sil.id.clone();
                self.store(&mut map, sil, now).map_err(SilenceError::Invalid)?;
                return Ok(id);
            }
            if prev.state(now) != SilenceState::Expired {
                self.expire_locked(&mut map, &prev.id, now).map_err(SilenceError::Invalid)?;
            }
        }
        sil.id = new_uuid();
        if sil.starts_at < now {
            sil.starts_at = now;
        }
        let id = sil.id.clone();
        self.store(&mut map, sil, now).map_err(SilenceError::Invalid)?;
        Ok(id)
    }

    fn expire_locked(&self, map: &mut HashMap<String, Entry>, id: &str, now: DateTime<Utc>) -> Result<(), String> {
        let Some(e) = map.get(id) else { return Err("silence not found".into()) };
        let mut sil = e.silence.clone();
        match sil.state(now) {
            SilenceState::Expired => return Err(format!("silence {id} already expired")),
            SilenceState::Active => sil.ends_at = now,
            SilenceState::Pending => {
                sil.starts_at = now;
                sil.ends_at = now;
            }
        }
        self.store(map, sil, now)
    }

    /// Expires a silence now (`DELETE /api/v2/silence/{id}`).
    pub fn expire(&self, id: &str, now: DateTime<Utc>) -> Result<(), SilenceError> {
        let mut map = self.lock();
        if !map.contains_key(id) {
            return Err(SilenceError::NotFound);
        }
        self.expire_locked(&mut map, id, now).map_err(SilenceError::Invalid)
    }

    /// One silence.
    pub fn get(&self, id: &str) -> Option<Silence> {
        self.lock().get(id).map(|e| e.silence.clone())
    }

    /// Every silence.
    pub fn list(&self) -> Vec<Silence> {
        self.lock().values().map(|e| e.silence.clone()).collect()
    }

    /// Ids of the active silences muting this label set, sorted.
    pub fn silenced_by(&self, labels: &BTreeMap<String, String>, now: DateTime<Utc>) -> Vec<String> {
        let mut ids: Vec<String> = self
            .lock()
            .values()
            .filter(|e| e.silence.state(now) == SilenceState::Active && e.matchers.matches(labels))
            .map(|e| e.silence.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Drops silences expired longer than the retention ago.
    pub fn gc(&self, now: DateTime<Utc>) -> usize {
        let mut map = self.lock();
        let gone: Vec<String> =
            map.values().filter(|e| e.silence.ends_at + self.retention <= now).map(|e| e.silence.id.clone()).collect();
        for id in &gone {
            map.remove(id);
            if let Some(db) = &self.db {
                db.delete(Table::Silences, id.clone());
            }
        }
        gone.len()
    }

    /// How many silences are in each state.
    pub fn counts(&self, now: DateTime<Utc>) -> [(SilenceState, i64); 3] {
        let mut c = [(SilenceState::Active, 0), (SilenceState::Pending, 0), (SilenceState::Expired, 0)];
        for e in self.lock().values() {
            let st = e.silence.state(now);
            for slot in c.iter_mut() {
                if slot.0 == st {
                    slot.1 += 1;
                }
            }
        }
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
        let s = Silences::new(None, std::time::Duration::from_secs(3600));
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
        let s = Silences::new(None, std::time::Duration::from_secs(3600));
        let mut bad = sil(0, 100);
        bad.matchers[0].value = ".*".into();
        assert_eq!(s.set(bad, t(0)).unwrap_err().to_string(), "at least one matcher must not match the empty string");
    }
}
