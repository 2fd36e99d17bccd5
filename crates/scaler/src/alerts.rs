//! Alert-driven steps: while an alert is firing, at least `base + add` replicas (where `base`
//! is the replica count when the alert started firing, so `+2` adds two once rather than two
//! per evaluation) and/or at least `atLeast` replicas. When the alert resolves the floor goes
//! away and target tracking decides again: its stabilization window holds its own
//! recommendations, not alert floors, so the count can drop at once to what the metrics ask
//! for, within `behavior` rate policies and minReplicas.

use std::collections::BTreeMap;

/// A validated alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertStep {
    /// The alertname.
    pub alert: String,
    /// Replicas to add while firing.
    pub add: Option<i32>,
    /// Floor while firing.
    pub at_least: Option<i32>,
}

/// Replica counts at which each firing alert started (persisted with the scaler state).
pub type AlertBases = BTreeMap<String, i32>;

impl AlertStep {
    /// The floor this rule sets, if its alert is firing; updates `bases`.
    pub fn floor(&self, firing: &[String], current: i32, bases: &mut AlertBases) -> Option<(i32, String)> {
        if !firing.iter().any(|a| a == &self.alert) {
            bases.remove(&self.alert);
            return None;
        }
        let base = *bases.entry(self.alert.clone()).or_insert(current);
        let mut floor = i32::MIN;
        let mut parts = Vec::new();
        if let Some(add) = self.add {
            floor = floor.max(base.saturating_add(add));
            parts.push(format!("{base} when it started + {add}"));
        }
        if let Some(m) = self.at_least {
            floor = floor.max(m);
            parts.push(format!("at least {m}"));
        }
        Some((floor, format!("{} is firing: {} = {floor}", self.alert, parts.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_is_relative_to_the_start_of_firing() {
        let rule = AlertStep { alert: "HighCPU".into(), add: Some(2), at_least: Some(5) };
        let mut bases = AlertBases::new();
        let firing = vec!["HighCPU".to_string()];
        assert_eq!(rule.floor(&firing, 2, &mut bases).unwrap().0, 5);
        assert_eq!(rule.floor(&firing, 5, &mut bases).unwrap().0, 5, "not 7: +2 applies once");
        assert_eq!(rule.floor(&[], 5, &mut bases), None);
        assert!(bases.is_empty());
        assert_eq!(rule.floor(&firing, 6, &mut bases).unwrap().0, 8);
    }
}
