//! Alert state that survives a restart: a snapshot of every group's state in
//! `data_dir/rules/state.json`, replaced atomically ([`lookout_state::write_atomic`]:
//! temp file, fsync, rename, fsync directory) so a crash mid-write leaves the previous
//! snapshot. A snapshot that does not parse is moved aside to
//! `state.json.corrupt-<unix seconds>` at start ([`lookout_state::read_or_quarantine`]);
//! the engine then starts afresh and reports itself degraded.
//!
//! Rules are matched on restore the way a reload matches them (kind, name and labels,
//! duplicates in order), so a restart keeps `for` progress — a pending alert fires when
//! its `for` has elapsed since it became active, not `for` after the restart — and a
//! firing alert is not announced again before its resend delay.

use std::path::{Path, PathBuf};

use lookout_state::Loaded;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::file::{Rule, RuleGroup};
use crate::group::{GroupState, RuleState};

const VERSION: u32 = 1;

/// The rule identity used to match saved state: kind, name, sorted labels.
pub(crate) type RuleKey = (String, String, Vec<(String, String)>);

pub(crate) fn rule_key(rule: &Rule) -> RuleKey {
    let mut labels = rule.labels().to_vec();
    labels.sort();
    (rule.kind().to_string(), rule.name().to_string(), labels)
}

#[derive(Serialize, Deserialize)]
struct SavedRule {
    kind: String,
    name: String,
    labels: Vec<(String, String)>,
    state: RuleState,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SavedGroup {
    pub(crate) file: String,
    pub(crate) name: String,
    rules: Vec<SavedRule>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Snapshot {
    version: u32,
    pub(crate) saved_at_ms: i64,
    pub(crate) groups: Vec<SavedGroup>,
}

/// The snapshot file under `data_dir`.
pub(crate) fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("rules").join("state.json")
}

pub(crate) fn snapshot<'a>(groups: impl Iterator<Item = (&'a RuleGroup, GroupState)>, now_ms: i64) -> Snapshot {
    let groups = groups
        .map(|(group, state)| SavedGroup {
            file: group.file.to_string(),
            name: group.name.clone(),
            rules: group
                .rules
                .iter()
                .zip(state.rules)
                .map(|(rule, state)| {
                    let (kind, name, labels) = rule_key(rule);
                    SavedRule { kind, name, labels, state }
                })
                .collect(),
        })
        .collect();
    Snapshot { version: VERSION, saved_at_ms: now_ms, groups }
}

pub(crate) fn save(path: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    lookout_state::write_atomic(path, &serde_json::to_vec(snapshot)?)
}

/// The saved snapshot: missing, found (`None` if of another version), or corrupt and
/// moved aside. Errors are only those of reading the file.
pub(crate) fn load(path: &Path) -> Result<Loaded<Option<Snapshot>>, Error> {
    let loaded = lookout_state::read_or_quarantine(path, |b| serde_json::from_slice::<Snapshot>(b))
        .map_err(|source| Error::ReadState { path: path.display().to_string(), source })?;
    Ok(match loaded {
        Loaded::Found(snap) => Loaded::Found((snap.version == VERSION).then_some(snap)),
        Loaded::Missing => Loaded::Missing,
        Loaded::Quarantined(q) => Loaded::Quarantined(q),
    })
}

/// The state for `group` from its saved twin: each rule takes the saved state of the
/// first unused saved rule with the same key.
pub(crate) fn restore(saved: SavedGroup, group: &RuleGroup) -> GroupState {
    let mut pool: Vec<Option<SavedRule>> = saved.rules.into_iter().map(Some).collect();
    let rules = group
        .rules
        .iter()
        .map(|rule| {
            let (kind, name, labels) = rule_key(rule);
            let found = pool
                .iter_mut()
                .find(|s| s.as_ref().is_some_and(|s| s.kind == kind && s.name == name && s.labels == labels))
                .and_then(Option::take);
            match found {
                Some(s) => RuleState { health: Default::default(), last_error: None, ..s.state },
                None => RuleState { name: name.clone(), ..RuleState::default() },
            }
        })
        .collect();
    GroupState { rules, ..GroupState::default() }
}
