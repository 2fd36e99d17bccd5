//! The group's severity from its alerts' `severity` labels, for the integrations that have
//! a severity or priority of their own (PagerDuty `payload.severity`, OpsGenie `priority`)
//! when the user did not template one: the most severe firing alert wins, so a group with
//! one critical among ten warnings pages as critical.

use crate::alert::Notification;

/// A normalised severity, least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `info`, `low`, `notice`, `none`, `debug`, `p4`, `p5`.
    Info,
    /// `warning`, `warn`, `medium`, `minor`, `p3`.
    Warning,
    /// `error`, `err`, `high`, `major`, `p2`.
    Error,
    /// `critical`, `crit`, `fatal`, `page`, `emergency`, `alert`, `disaster`, `p1`.
    Critical,
}

impl Level {
    /// Reads a label value (case-insensitive); `None` when unrecognised.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" | "fatal" | "page" | "emergency" | "alert" | "disaster" | "p1" => Level::Critical,
            "error" | "err" | "high" | "major" | "p2" => Level::Error,
            "warning" | "warn" | "medium" | "minor" | "p3" => Level::Warning,
            "info" | "informational" | "information" | "low" | "notice" | "none" | "debug" | "p4" | "p5" => Level::Info,
            _ => return None,
        })
    }

    /// PagerDuty's `payload.severity` value.
    pub fn pagerduty(self) -> &'static str {
        match self {
            Level::Critical => "critical",
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
        }
    }

    /// OpsGenie's priority.
    pub fn opsgenie(self) -> &'static str {
        match self {
            Level::Critical => "P1",
            Level::Error => "P2",
            Level::Warning => "P3",
            Level::Info => "P5",
        }
    }
}

/// The most severe recognised `severity` among the firing alerts (all alerts when none
/// fires any more).
pub fn group_level(n: &Notification) -> Option<Level> {
    let of = |it: &mut dyn Iterator<Item = &crate::Alert>| {
        it.filter_map(|a| a.labels.get("severity").and_then(|s| Level::parse(s))).max()
    };
    of(&mut n.firing()).or_else(|| of(&mut n.alerts.iter()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::Alert;

    #[test]
    fn the_most_severe_firing_alert_wins() {
        let now = chrono::Utc::now();
        let alert = |sev: &str, resolved: bool| {
            let mut a = Alert::new(BTreeMap::from([("severity".to_string(), sev.to_string())]), now);
            if resolved {
                a.ends_at = Some(now);
            }
            a
        };
        let mut n = Notification {
            receiver: "r".into(),
            status_firing: true,
            group_key: String::new(),
            group_labels: BTreeMap::new(),
            alerts: vec![alert("warning", false), alert("CRITICAL", true), alert("info", false)],
            external_url: String::new(),
            truncated_alerts: 0,
            now,
        };
        assert_eq!(group_level(&n), Some(Level::Warning));
        n.alerts[0].ends_at = Some(now);
        n.alerts[2].ends_at = Some(now);
        assert_eq!(group_level(&n), Some(Level::Critical));
        n.alerts = vec![alert("whatever", false)];
        assert_eq!(group_level(&n), None);
    }
}
