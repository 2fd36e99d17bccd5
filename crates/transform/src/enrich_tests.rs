use std::sync::Arc;

use lookout_event::Promote;
use serde_json::json;

use crate::test_util::{V, build, docs, log, logs, parse, parse_env, resource, run};

fn enrich(body: &str, batch: lookout_event::Batch) -> Vec<serde_json::Value> {
    let mut t = build("enrich", body);
    let out = run(t.as_mut(), batch);
    assert_eq!(out.default.len(), 1);
    docs(&out.default[0])
}

#[test]
fn set_overwrites_add_fills_gaps() {
    let body = "    set:\n      deployment.environment: prod\n      region: eu\n    add:\n      region: us\n      team: core\n";
    let batch =
        logs(resource(&[("deployment.environment", V::S("dev")), ("team", V::S("web"))]), vec![log("x", 9, &[])]);
    let d = enrich(body, batch);
    assert_eq!(d[0]["resource"], json!({"deployment.environment": "prod", "team": "web", "region": "eu"}));
}

#[test]
fn resource_writes_once_per_resource_even_without_one() {
    let body = "    set:\n      deployment.environment: prod\n";
    let d = enrich(body, logs(None, vec![log("a", 9, &[]), log("b", 9, &[])]));
    assert_eq!(d.len(), 2);
    for doc in &d {
        assert_eq!(doc["resource"], json!({"deployment.environment": "prod"}));
        assert!(doc.get("attributes").is_none_or(|a| a.get("deployment.environment").is_none()));
    }
}

#[test]
fn record_target_and_prefixes() {
    let body = "    target: attributes\n    set:\n      pipeline: lookout\n      resource.cluster: c1\n    add:\n      attributes.user: nobody\n";
    let d = enrich(body, logs(None, vec![log("a", 9, &[("user", V::S("ann"))]), log("b", 9, &[])]));
    assert_eq!(d[0]["attributes"], json!({"user": "ann", "pipeline": "lookout"}));
    assert_eq!(d[1]["attributes"], json!({"pipeline": "lookout", "user": "nobody"}));
    assert_eq!(d[1]["resource"], json!({"cluster": "c1"}));
}

#[test]
fn values_are_strings_as_written_with_env_and_hostname() {
    let body = "    set:\n      n: 3\n      v: 1.10\n      c: no\n      b: true\n      env: ${ENVIRONMENT:-dev}\n      team: ${TEAM:-core}\n      h: $(hostname)\n      id: lookout-$(hostname)\n";
    let env = |k: &str| (k == "ENVIRONMENT").then(|| "staging".to_string());
    let mut t =
        parse_env("enrich", body, &env).unwrap().build(&lookout_component::TransformContext::detached("t")).unwrap();
    let out = run(t.as_mut(), logs(None, vec![log("a", 9, &[])]));
    let r = &docs(&out.default[0])[0]["resource"];
    assert_eq!((&r["n"], &r["v"], &r["c"], &r["b"]), (&json!("3"), &json!("1.10"), &json!("no"), &json!("true")));
    assert_eq!((&r["env"], &r["team"]), (&json!("staging"), &json!("core")));
    let host = r["h"].as_str().unwrap();
    assert!(!host.is_empty() && host != "$(hostname)");
    assert_eq!(r["id"], format!("lookout-{host}"));
}

#[test]
fn bad_config_is_reported_where_written() {
    let err = parse("enrich", "    set:\n      a: { env: X }\n").unwrap_err();
    assert!(err.to_string().starts_with("p.yaml:9:10: "), "{err}");
    let err = parse("enrich", "    set:\n      resource.: x\n").unwrap_err();
    assert_eq!(err.to_string(), "p.yaml:9:18: `resource.` names no attribute");
    let err = parse("enrich", "    target: everywhere\n").unwrap_err();
    assert!(err.to_string().starts_with("p.yaml:8:13: "), "{err}");
    let err = parse("enrich", "    promote: ['a*b']\n").unwrap_err();
    assert!(err.to_string().contains("promote pattern `a*b`"), "{err}");
}

/// The end-to-end expectation: after `enrich` with default `promote`, output documents
/// carry `service.name`, `deployment.environment` and `k8s.*` at the top level.
#[test]
fn default_promote_lifts_service_name_to_the_top_level() {
    let body = "    set:\n      deployment.environment: e2e\n";
    let res =
        resource(&[("service.name", V::S("checkout")), ("k8s.pod.name", V::S("p-1")), ("host.arch", V::S("x86"))]);
    let d = enrich(body, logs(res, vec![log("hello #1", 9, &[])]));
    assert_eq!(d[0]["service.name"], "checkout");
    assert_eq!(d[0]["deployment.environment"], "e2e");
    assert_eq!(d[0]["k8s.pod.name"], "p-1");
    assert!(d[0].get("host.arch").is_none());
    assert_eq!(d[0]["resource"]["service.name"], "checkout");
    assert_eq!(d[0]["resource"]["deployment.environment"], "e2e");
}

#[test]
fn promote_merges_with_an_earlier_choice_and_can_be_left_alone() {
    let mut t = build("enrich", "    promote: [team]\n");
    let mut batch = logs(resource(&[("team", V::S("core")), ("service.name", V::S("api"))]), vec![log("x", 9, &[])]);
    batch.meta.promote = Some(Arc::new(Promote::new(["service.name".to_string()])));
    let out = run(t.as_mut(), batch);
    let promote = out.default[0].meta.promote.as_deref().unwrap();
    assert!(promote.matches("team") && promote.matches("service.name") && !promote.matches("k8s.x"));
    let d = docs(&out.default[0]);
    assert_eq!((&d[0]["team"], &d[0]["service.name"]), (&json!("core"), &json!("api")));

    let mut t = build("enrich", "    promote: []\n");
    let out = run(t.as_mut(), logs(resource(&[("service.name", V::S("api"))]), vec![log("x", 9, &[])]));
    assert!(out.default[0].meta.promote.is_none());
}
