//! `route`: sends each record to every named output whose condition it matches, and
//! records that match none to `_unmatched`. Outputs are read as `NAME.ROUTE` in
//! `inputs:`; `route` has no default output.
//!
//! ```yaml
//! transforms:
//!   by_team:
//!     type: route
//!     inputs: [otlp]
//!     routes:
//!       payments: 'resource.service.name == "payments"'
//!       errors: 'severity_number >= 17 or status.code == "error"'
//! sinks:
//!   payments_archive: { type: file, inputs: [by_team.payments], path: ./payments.ndjson }
//!   everything_else: { type: file, inputs: [by_team._unmatched], path: ./rest.ndjson }
//! ```

use indexmap::IndexMap;
use lookout_component::{BuildError, Transform, TransformConfig, TransformContext, TransformOutput, spanned_error};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::Batch;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::Condition;

/// The output that receives records matching no route.
pub const UNMATCHED: &str = "_unmatched";

/// `type: route`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Output name → condition, in order. A record goes to every route it matches.
    pub routes: IndexMap<String, Spanned<String>>,
}

impl TransformConfig for RouteConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if self.routes.is_empty() {
            errors.push(decl.error("`routes` needs at least one route"));
        }
        for (name, condition) in &self.routes {
            // Keys carry no position in every config form; the condition next to it does.
            let bad_name = |m: String| spanned_error(decl, condition, m);
            if name == UNMATCHED {
                errors.push(bad_name(format!("`{UNMATCHED}` is reserved for records that match no route")));
            } else if name.is_empty() || name.contains('.') {
                errors.push(bad_name(format!("route name `{name}` must be non-empty and contain no `.`")));
            }
            if let Err(e) = crate::check_condition(decl, condition) {
                errors.push(e);
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors)) }
    }

    fn named_outputs(&self) -> Vec<String> {
        let mut names: Vec<String> = self.routes.keys().cloned().collect();
        names.push(UNMATCHED.to_string());
        names
    }

    fn has_default_output(&self) -> bool {
        false
    }

    fn build(&self, _cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError> {
        let routes = self.routes.values().map(crate::build_condition).collect::<Result<_, _>>()?;
        Ok(Box::new(Route { routes }))
    }
}

/// The running `route`.
#[derive(Debug)]
pub struct Route {
    /// One condition per named output, in `named_outputs()` order.
    routes: Vec<Condition>,
}

impl Transform for Route {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for (i, condition) in self.routes.iter().enumerate() {
            out.push_named(i, batch.filtered(|r| condition.matches(r)));
        }
        let mut rest = batch;
        rest.retain(|r| !self.routes.iter().any(|c| c.matches(r)));
        out.push_named(self.routes.len(), rest);
    }
}

#[cfg(test)]
mod tests {
    use crate::test_util::{V, bodies, build, log, logs, parse, resource, run};

    const CONFIG: &str =
        "    routes:\n      api: 'resource.service.name == \"api\"'\n      errors: severity_number >= 17\n";

    #[test]
    fn records_go_to_every_matching_route_and_the_rest_to_unmatched() {
        let config = parse("route", CONFIG).unwrap();
        assert_eq!(config.named_outputs(), ["api", "errors", "_unmatched"]);
        assert!(!config.has_default_output());
        let mut t = config.build(&lookout_component::TransformContext::detached("r")).unwrap();
        let mut batch =
            logs(resource(&[("service.name", V::S("api"))]), vec![log("a-info", 9, &[]), log("a-err", 17, &[])]);
        let other =
            logs(resource(&[("service.name", V::S("web"))]), vec![log("w-info", 9, &[]), log("w-err", 18, &[])]);
        if let (lookout_event::Payload::Logs(a), lookout_event::Payload::Logs(b)) = (&mut batch.payload, other.payload)
        {
            a.extend(b);
        }
        let out = run(t.as_mut(), batch);
        assert!(out.default.is_empty());
        assert_eq!(out.discarded, 0);
        let of = |i: usize| -> Vec<String> {
            out.named.iter().filter(|(n, _)| *n == i).flat_map(|(_, b)| bodies(b)).collect()
        };
        assert_eq!(of(0), ["a-info", "a-err"]);
        assert_eq!(of(1), ["a-err", "w-err"]);
        assert_eq!(of(2), ["w-info"]);
    }

    #[test]
    fn empty_outputs_are_not_sent() {
        let mut t = build("route", CONFIG);
        let out = run(t.as_mut(), logs(None, vec![log("x", 1, &[])]));
        assert_eq!(out.named.len(), 1);
        assert_eq!(out.named[0].0, 2);
    }

    #[test]
    fn bad_routes_are_reported_each_at_its_place() {
        let err = parse("route", "    routes:\n      _unmatched: 'a == 1'\n      ok: 'a ==='\n      a.b: 'true'\n")
            .unwrap_err()
            .sorted();
        let lines: Vec<String> = err.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            [
                "p.yaml:9:19: `_unmatched` is reserved for records that match no route",
                "p.yaml:10:11: invalid condition `a ===`: `=` is not an operator; use `==` to compare at column 5",
                "p.yaml:11:12: route name `a.b` must be non-empty and contain no `.`",
            ]
        );
        let err = parse("route", "    routes: {}\n").unwrap_err();
        assert!(err.to_string().ends_with("`routes` needs at least one route"), "{err}");
    }
}
