//! `sample`: keeps 1 record in `rate`, deciding by a hash of the record's trace id so
//! that every span and log of one trace is kept or dropped together, in every Lookout
//! process (the hash is FNV-1a with a fixed finalizer, not a per-process random seed).
//!
//! Records without the key field (metric points, logs outside a trace) are sampled by
//! a counter instead: the 1st, (N+1)th, (2N+1)th... such record seen by this transform
//! is kept. Records matching `exclude` are always kept and never counted.
//!
//! ```yaml
//! transforms:
//!   sampled:
//!     type: sample
//!     inputs: [otlp]
//!     rate: 10                              # keep 1 trace in 10
//!     exclude: 'severity_number >= 17'      # but every error log
//! ```

use lookout_component::{BuildError, Transform, TransformConfig, TransformContext, TransformOutput, spanned_error};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::{Batch, FieldPath, FieldValue, RecordRef};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::Condition;

/// `type: sample`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Keep 1 in `rate` (1 keeps everything).
    pub rate: Spanned<u64>,
    /// The field whose value decides; records with equal values share one fate.
    #[serde(default = "default_key_field")]
    pub key_field: String,
    /// Records for which this condition is true are always kept.
    #[serde(default)]
    pub exclude: Option<Spanned<String>>,
}

fn default_key_field() -> String {
    "trace_id".to_string()
}

impl TransformConfig for SampleConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if self.rate.value == 0 {
            errors.push(spanned_error(decl, &self.rate, "`rate` must be at least 1 (keep 1 in `rate`)"));
        }
        if let Some(exclude) = &self.exclude
            && let Err(e) = crate::check_condition(decl, exclude)
        {
            errors.push(e);
        }
        if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors)) }
    }

    fn build(&self, _cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError> {
        Ok(Box::new(Sample {
            rate: self.rate.value.max(1),
            key: FieldPath::parse(&self.key_field),
            exclude: self.exclude.as_ref().map(crate::build_condition).transpose()?,
            unkeyed: 0,
        }))
    }
}

/// The running `sample`.
#[derive(Debug)]
pub struct Sample {
    rate: u64,
    key: FieldPath,
    exclude: Option<Condition>,
    unkeyed: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, then a splitmix64 finalizer so every bit of the result depends
/// on every input byte (plain FNV's low bits are weak for `% rate`).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Sample {
    /// The hash of the record's key, or `None` when it has none.
    fn key_hash(&self, r: &RecordRef<'_>) -> Option<u64> {
        if self.key == FieldPath::TraceId {
            // The raw id, not its hex text: no allocation per record.
            return r.trace_id().map(stable_hash);
        }
        Some(match r.get(&self.key)? {
            FieldValue::Str(s) => stable_hash(s.as_bytes()),
            other => stable_hash(other.to_string().as_bytes()),
        })
    }

    fn keep(&mut self, r: &RecordRef<'_>) -> bool {
        if self.rate == 1 || self.exclude.as_ref().is_some_and(|c| c.matches(r)) {
            return true;
        }
        match self.key_hash(r) {
            Some(h) => h.is_multiple_of(self.rate),
            None => {
                let keep = self.unkeyed.is_multiple_of(self.rate);
                self.unkeyed = self.unkeyed.wrapping_add(1);
                keep
            }
        }
    }
}

impl Transform for Sample {
    fn transform(&mut self, mut batch: Batch, out: &mut TransformOutput) {
        out.discarded += batch.retain(|r| self.keep(r)) as u64;
        out.push(batch);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use lookout_event::RecordRef;

    use super::stable_hash;
    use crate::test_util::{V, build, log, logs, parse, run, span, spans};

    #[test]
    fn the_hash_is_stable_across_processes() {
        // Fixed values: a change here changes which traces every deployment keeps.
        assert_eq!(stable_hash(b""), stable_hash(b""));
        assert_ne!(stable_hash(b"a"), stable_hash(b"b"));
        assert_eq!(stable_hash(b"trace"), 0xc5d4_cfc9_2744_bc45);
    }

    #[test]
    fn keeps_whole_traces_at_about_the_rate() {
        let mut t = build("sample", "    rate: 10\n");
        // 10,000 traces of 3 spans each, spread over batches of 250 traces.
        let mut kept: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        let mut discarded = 0;
        for chunk in 0..40u64 {
            let all = (chunk * 250..(chunk + 1) * 250)
                .flat_map(|trace| (0..3).map(move |i| span(trace, &format!("op-{i}"), &[])))
                .collect();
            let out = run(t.as_mut(), spans(None, all));
            discarded += out.discarded;
            for b in &out.default {
                b.for_each(|r: RecordRef<'_>| *kept.entry(r.trace_id().unwrap().to_vec()).or_default() += 1);
            }
        }
        assert!(kept.values().all(|&n| n == 3), "a trace was split");
        let traces = kept.len();
        assert!((850..=1150).contains(&traces), "kept {traces} of 10000 traces at rate 10");
        assert_eq!(discarded as usize, (10_000 - traces) * 3);
    }

    #[test]
    fn another_process_keeps_the_same_traces() {
        let run_once = || {
            let mut t = build("sample", "    rate: 4\n");
            let out = run(t.as_mut(), spans(None, (0..200).map(|i| span(i, "x", &[])).collect()));
            let mut ids = BTreeSet::new();
            out.default
                .iter()
                .for_each(|b| b.for_each(|r: RecordRef<'_>| ids.extend(r.trace_id().map(<[u8]>::to_vec))));
            ids
        };
        assert_eq!(run_once(), run_once());
    }

    #[test]
    fn unkeyed_records_are_counted_and_exclude_keeps() {
        let mut t = build("sample", "    rate: 3\n    exclude: severity_number >= 17\n");
        let records = (0..9).map(|i| log("x", if i == 4 { 17 } else { 9 }, &[("i", V::I(i))])).collect();
        let out = run(t.as_mut(), logs(None, records));
        let mut kept = Vec::new();
        out.default[0]
            .for_each(|r: RecordRef<'_>| kept.push(r.get(&lookout_event::FieldPath::parse("i")).unwrap().to_string()));
        // Counter over non-excluded records 0,1,2,3,5,6,7,8 keeps the 1st, 4th, 7th; 4 is excluded.
        assert_eq!(kept, ["0", "3", "4", "7"]);
        assert_eq!(out.discarded, 5);
    }

    #[test]
    fn other_key_fields() {
        let mut t = build("sample", "    rate: 2\n    key_field: attributes.user\n");
        let records = (0..40).map(|i| log("x", 9, &[("user", V::S(if i % 2 == 0 { "ann" } else { "bob" }))])).collect();
        let out = run(t.as_mut(), logs(None, records));
        let kept = out.default.first().map_or(0, |b| b.len());
        assert!(kept == 0 || kept == 20 || kept == 40, "all of a user's records share a fate: {kept}");
    }

    #[test]
    fn rate_zero_is_rejected() {
        let err = parse("sample", "    rate: 0\n").unwrap_err();
        assert_eq!(err.to_string(), "p.yaml:8:11: `rate` must be at least 1 (keep 1 in `rate`)");
    }
}
