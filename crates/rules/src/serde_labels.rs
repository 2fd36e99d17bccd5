//! Serde forms for label sets (the tsdb's `Labels` has none): a label set is a JSON
//! object `{"name": "value"}`, a set of label sets an array of them.

use std::collections::{BTreeMap, BTreeSet};

use lookout_tsdb::Labels;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::alert::Alert;

/// `Labels` as an object.
pub fn serialize<S: Serializer>(l: &Labels, s: S) -> Result<S::Ok, S::Error> {
    let m: BTreeMap<&str, &str> = l.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    m.serialize(s)
}

/// `Labels` from an object.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
    let m: BTreeMap<String, String> = BTreeMap::deserialize(d)?;
    Ok(Labels::new(m))
}

#[derive(Serialize, Deserialize)]
struct L(#[serde(with = "self")] Labels);

/// A set of label sets as an array of objects.
pub mod set {
    use super::*;

    /// Serializes.
    pub fn serialize<S: Serializer>(v: &BTreeSet<Labels>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|l| L(l.clone())))
    }

    /// Deserializes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<Labels>, D::Error> {
        let v: Vec<L> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|l| l.0).collect())
    }
}

/// Alerts keyed by their labels, as an array of alerts.
pub mod alerts {
    use super::*;

    /// Serializes.
    pub fn serialize<S: Serializer>(v: &BTreeMap<Labels, Alert>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.values())
    }

    /// Deserializes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<Labels, Alert>, D::Error> {
        let v: Vec<Alert> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|a| (a.labels.clone(), a)).collect())
    }
}
