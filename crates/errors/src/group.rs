//! One error group: what it remembers of its exceptions, its state, and how an
//! occurrence changes it (new group, regression, or just one more).
//!
//! Everything a group holds is bounded: at most [`MAX_LISTED`] services, releases and
//! environments, `samples_per_group` samples with their stack traces cut to
//! [`MAX_TRACE_BYTES`], so `max_groups` bounds the memory and the file.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::fingerprint::{Basis, Identity};

/// Services, releases and environments remembered per group.
pub const MAX_LISTED: usize = 32;
/// A sample's stack trace is cut to this many bytes.
pub const MAX_TRACE_BYTES: usize = 16 * 1024;
/// A sample's message is cut to this many bytes.
pub const MAX_MESSAGE_BYTES: usize = 2 * 1024;

/// Open, resolved or ignored, as a user set it (or a regression reopened it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GroupState {
    /// Needs attention.
    #[default]
    Open,
    /// Fixed: seen again in a release it was not seen in before, it regresses to open.
    Resolved,
    /// Counted, never reopened, never paged for.
    Ignored,
}

impl GroupState {
    /// The state named `s` (`open`, `resolved`, `ignored`).
    pub fn parse(s: &str) -> Option<GroupState> {
        match s {
            "open" => Some(GroupState::Open),
            "resolved" => Some(GroupState::Resolved),
            "ignored" => Some(GroupState::Ignored),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Open => "open",
            GroupState::Resolved => "resolved",
            GroupState::Ignored => "ignored",
        }
    }
}

/// One occurrence of an exception, as read from a span event or a log record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Occurrence {
    /// When it happened, Unix milliseconds.
    pub time_ms: i64,
    /// `service.name` (empty when unset).
    pub service: String,
    /// `service.version` (empty when unset).
    pub release: String,
    /// `deployment.environment` (or `deployment.environment.name`; empty when unset).
    pub environment: String,
    /// `exception.type`.
    pub r#type: String,
    /// `exception.message`, cut to [`MAX_MESSAGE_BYTES`].
    pub message: String,
    /// `exception.stacktrace`, cut to [`MAX_TRACE_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<String>,
    /// The trace id in hex, when the record has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The span id in hex, when the record has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// `span` or `log`: where the exception was recorded.
    pub source: String,
    /// The resource's `tenant` (set by ingest authentication), empty without one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tenant: String,
}

/// What an occurrence did to its group, for the series that rules page on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The first occurrence: a new group.
    New,
    /// A resolved group seen in a release it was not seen in before resolving: reopened.
    Regression,
    /// Counted; nothing else changed.
    Seen,
}

/// An error group, as persisted and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    /// The group key.
    pub fingerprint: String,
    /// `Type: message` of the first occurrence.
    pub title: String,
    /// `exception.type`.
    pub r#type: String,
    /// The top in-app frame of the first occurrence with a trace.
    pub culprit: String,
    /// What decided the fingerprint.
    pub basis: Basis,
    /// Occurrences, all services together.
    pub count: u64,
    /// Occurrences per service (the value of its `lookout_error_group_events_total`).
    pub services: BTreeMap<String, u64>,
    /// Releases (`service.version`) seen in, oldest first.
    pub releases: Vec<String>,
    /// Environments seen in.
    pub environments: Vec<String>,
    /// First occurrence, Unix milliseconds.
    pub first_seen_ms: i64,
    /// Last occurrence, Unix milliseconds.
    pub last_seen_ms: i64,
    /// Open, resolved or ignored.
    pub state: GroupState,
    /// When the state last changed (by a user or a regression), Unix milliseconds.
    pub state_changed_ms: i64,
    /// The releases known when it was resolved: an occurrence in any other is a regression.
    #[serde(default)]
    pub resolved_releases: Vec<String>,
    /// How many times it regressed.
    #[serde(default)]
    pub regressions: u64,
    /// The most recent occurrences, newest last.
    pub samples: VecDeque<Occurrence>,
    /// The tenant whose group it is (empty without tenants): groups are per tenant.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tenant: String,
}

impl ErrorGroup {
    /// A new group for `identity`, from its first occurrence.
    pub fn new(identity: &Identity, first: &Occurrence) -> ErrorGroup {
        ErrorGroup {
            fingerprint: identity.fingerprint.clone(),
            title: identity.title.clone(),
            r#type: first.r#type.clone(),
            culprit: identity.culprit.clone(),
            basis: identity.basis,
            count: 0,
            services: BTreeMap::new(),
            releases: Vec::new(),
            environments: Vec::new(),
            first_seen_ms: first.time_ms,
            last_seen_ms: first.time_ms,
            state: GroupState::Open,
            state_changed_ms: first.time_ms,
            resolved_releases: Vec::new(),
            regressions: 0,
            samples: VecDeque::new(),
            tenant: first.tenant.clone(),
        }
    }

    /// Counts `o`, keeping at most `max_samples` samples, and says what changed. The
    /// first call on a [`ErrorGroup::new`] group is [`Change::New`].
    pub fn record(&mut self, identity: &Identity, o: Occurrence, max_samples: usize) -> Change {
        let first = self.count == 0;
        let regression = self.state == GroupState::Resolved && !self.resolved_releases.contains(&o.release);
        self.count += 1;
        if self.services.len() < MAX_LISTED || self.services.contains_key(&o.service) {
            *self.services.entry(o.service.clone()).or_default() += 1;
        }
        push_bounded(&mut self.releases, &o.release);
        push_bounded(&mut self.environments, &o.environment);
        self.first_seen_ms = self.first_seen_ms.min(o.time_ms);
        self.last_seen_ms = self.last_seen_ms.max(o.time_ms);
        if self.culprit.is_empty() && !identity.culprit.is_empty() {
            self.culprit = identity.culprit.clone();
        }
        let change = if first {
            Change::New
        } else if regression {
            self.state = GroupState::Open;
            self.state_changed_ms = o.time_ms;
            self.regressions += 1;
            Change::Regression
        } else {
            Change::Seen
        };
        if max_samples > 0 {
            if self.samples.len() >= max_samples {
                self.samples.pop_front();
            }
            self.samples.push_back(o);
        }
        change
    }

    /// Sets the state (a user's resolve, ignore or reopen) at `now_ms`. Resolving
    /// remembers the releases seen so far: the fix is expected in the next one.
    pub fn set_state(&mut self, state: GroupState, now_ms: i64) {
        if state == GroupState::Resolved {
            self.resolved_releases = self.releases.clone();
        }
        if state != self.state {
            self.state = state;
            self.state_changed_ms = now_ms;
        }
    }

    /// The count of occurrences from `service` (0 if it was never seen or not listed).
    pub fn count_for(&self, service: &str) -> u64 {
        self.services.get(service).copied().unwrap_or(0)
    }
}

fn push_bounded(list: &mut Vec<String>, value: &str) {
    if list.len() < MAX_LISTED && !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            fingerprint: "fp".into(),
            title: "E: x".into(),
            culprit: "f (a.py:1)".into(),
            basis: Basis::StackTrace,
        }
    }

    fn at(t: i64, release: &str) -> Occurrence {
        Occurrence {
            time_ms: t,
            service: "checkout".into(),
            release: release.into(),
            environment: "production".into(),
            r#type: "E".into(),
            message: "x".into(),
            source: "span".into(),
            ..Default::default()
        }
    }

    #[test]
    fn first_occurrence_is_new_then_seen() {
        let mut g = ErrorGroup::new(&identity(), &at(1000, "1.0"));
        assert_eq!(g.record(&identity(), at(1000, "1.0"), 3), Change::New);
        assert_eq!(g.record(&identity(), at(2000, "1.0"), 3), Change::Seen);
        assert_eq!((g.count, g.first_seen_ms, g.last_seen_ms), (2, 1000, 2000));
        assert_eq!(g.releases, ["1.0"]);
        assert_eq!(g.count_for("checkout"), 2);
    }

    #[test]
    fn resolved_then_seen_in_a_new_release_regresses_but_not_in_an_old_one() {
        let id = identity();
        let mut g = ErrorGroup::new(&id, &at(0, "1.0"));
        g.record(&id, at(0, "1.0"), 3);
        g.set_state(GroupState::Resolved, 10);
        // Instances still on 1.0 during the rollout: counted, still resolved.
        assert_eq!(g.record(&id, at(20, "1.0"), 3), Change::Seen);
        assert_eq!(g.state, GroupState::Resolved);
        assert_eq!(g.record(&id, at(30, "1.1"), 3), Change::Regression);
        assert_eq!((g.state, g.state_changed_ms, g.regressions), (GroupState::Open, 30, 1));
        // Open again: 1.1 again is just seen.
        assert_eq!(g.record(&id, at(40, "1.1"), 3), Change::Seen);
        // Resolved in 1.1, seen in 1.2: a second regression.
        g.set_state(GroupState::Resolved, 50);
        assert_eq!(g.record(&id, at(60, "1.2"), 3), Change::Regression);
        assert_eq!(g.regressions, 2);
    }

    #[test]
    fn ignored_groups_count_but_never_regress() {
        let id = identity();
        let mut g = ErrorGroup::new(&id, &at(0, "1.0"));
        g.record(&id, at(0, "1.0"), 3);
        g.set_state(GroupState::Ignored, 5);
        assert_eq!(g.record(&id, at(10, "2.0"), 3), Change::Seen);
        assert_eq!((g.state, g.count), (GroupState::Ignored, 2));
        g.set_state(GroupState::Open, 20);
        assert_eq!((g.state, g.state_changed_ms), (GroupState::Open, 20));
    }

    #[test]
    fn samples_releases_and_services_are_bounded() {
        let id = identity();
        let mut g = ErrorGroup::new(&id, &at(0, "0"));
        for i in 0..100 {
            let mut o = at(i, &i.to_string());
            o.service = format!("svc-{i}");
            g.record(&id, o, 5);
        }
        assert_eq!(g.samples.len(), 5);
        assert_eq!(g.samples.back().unwrap().time_ms, 99, "newest kept");
        assert_eq!(g.releases.len(), MAX_LISTED);
        assert_eq!(g.services.len(), MAX_LISTED);
        assert_eq!(g.count, 100);
        assert_eq!(truncate("héllo".into(), 2), "h");
    }
}
