//! How a replicated entry meets the local one (Alertmanager's `state.merge` in
//! `nflog/nflog.go` and `silence/silence.go`): an entry already past its expiry is
//! ignored; otherwise the newer one wins — log entries by the time they were sent,
//! silences by their last update — and an equal one changes nothing. When the local
//! entry is the newer, it is published again, so the bucket ends up holding the newest
//! (e.g. after a partition in which both sides wrote).

use chrono::{DateTime, Utc};

/// What to do with an incoming entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merge {
    /// It is new or newer: store it.
    Take,
    /// Already past its expiry: ignore it.
    Expired,
    /// The local entry is the same age: nothing to do (typically our own write echoed).
    Same,
    /// The local entry is newer: keep it and publish it again.
    KeepLocal,
}

/// Decides for an incoming entry stamped `incoming` and expiring at `expires_at`, given
/// the local entry's stamp (if any) at `now`.
pub(crate) fn decide(
    local: Option<DateTime<Utc>>,
    incoming: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Merge {
    if expires_at < now {
        return Merge::Expired;
    }
    match local {
        None => Merge::Take,
        Some(l) if l < incoming => Merge::Take,
        Some(l) if l == incoming => Merge::Same,
        Some(_) => Merge::KeepLocal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_wins_and_expired_is_ignored() {
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        let now = t(100);
        assert_eq!(decide(None, t(50), t(200), now), Merge::Take);
        assert_eq!(decide(Some(t(40)), t(50), t(200), now), Merge::Take);
        assert_eq!(decide(Some(t(50)), t(50), t(200), now), Merge::Same);
        assert_eq!(decide(Some(t(60)), t(50), t(200), now), Merge::KeepLocal);
        // Expired entries are ignored whatever the local one is.
        assert_eq!(decide(None, t(50), t(99), now), Merge::Expired);
        assert_eq!(decide(Some(t(10)), t(50), t(99), now), Merge::Expired);
    }
}
