//! `filter`: keeps the records for which a condition is true; the rest are discarded
//! and counted in `lookout_component_discarded_events_total`.
//!
//! ```yaml
//! transforms:
//!   errors_only:
//!     type: filter
//!     inputs: [otlp]
//!     condition: 'severity_number >= 17 or status.code == "error"'
//! ```

use lookout_component::{BuildError, Transform, TransformConfig, TransformContext, TransformOutput};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::Batch;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::Condition;

/// `type: filter`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Records for which this condition is true are kept (see `docs/conditions.md`).
    pub condition: Spanned<String>,
}

impl TransformConfig for FilterConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        crate::check_condition(decl, &self.condition)?;
        Ok(())
    }

    fn build(&self, _cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError> {
        Ok(Box::new(Filter { condition: crate::build_condition(&self.condition)? }))
    }
}

/// The running `filter`.
#[derive(Debug)]
pub struct Filter {
    condition: Condition,
}

impl Transform for Filter {
    fn transform(&mut self, mut batch: Batch, out: &mut TransformOutput) {
        out.discarded += batch.retain(|r| self.condition.matches(r)) as u64;
        out.push(batch);
    }
}

#[cfg(test)]
mod tests {
    use crate::test_util::{V, bodies, build, log, logs, parse, run};

    #[test]
    fn keeps_matching_records_and_counts_the_rest() {
        let mut t = build("filter", "    condition: 'severity_number >= 17 or body =~ \"refused\"'\n");
        let batch = logs(
            None,
            vec![
                log("ok", 9, &[]),
                log("boom", 17, &[]),
                log("connection refused", 9, &[]),
                log("fine", 5, &[("a", V::I(1))]),
            ],
        );
        let out = run(t.as_mut(), batch);
        assert_eq!(out.discarded, 2);
        assert_eq!(out.default.len(), 1);
        assert_eq!(bodies(&out.default[0]), ["boom", "connection refused"]);
    }

    #[test]
    fn an_all_discarded_batch_is_not_sent() {
        let mut t = build("filter", "    condition: 'false'\n");
        let out = run(t.as_mut(), logs(None, vec![log("x", 1, &[]), log("y", 1, &[])]));
        assert_eq!(out.discarded, 2);
        assert!(out.default.is_empty());
    }

    #[test]
    fn bad_conditions_are_reported_at_their_position() {
        let err = parse("filter", "    condition: 'severity_number >== 17'\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.yaml:8:16: invalid condition `severity_number >== 17`: `=` is not an operator; use `==` to compare at column 19"
        );
        let err = parse("filter", "    condition: x == 1\n    extra: 1\n").unwrap_err();
        assert!(err.to_string().starts_with("p.yaml:9:5: unknown field `extra`"), "{err}");
    }
}
