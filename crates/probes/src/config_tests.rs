//! The `probes:` map: defaults, every key, and one case per validation error.

use std::path::Path;

use super::*;

fn check(probes_yaml: &str) -> Result<Vec<Probe>, String> {
    let text = format!("sources:\n  in: {{ type: otlp }}\nprobes:\n{probes_yaml}");
    let cfg = lookout_config::load_str("p.yaml", &text, &|_| None).map_err(|e| e.to_string())?;
    check_probes(&cfg.probes, Path::new(".")).map_err(|e| e.to_string())
}

fn error(probes_yaml: &str) -> String {
    check(probes_yaml).expect_err("should be refused")
}

#[test]
fn the_example_from_the_issue() {
    let probes = check(
        "  checkout_health:
    type: http                      # http | tcp | icmp (when permitted) | grpc
    url: https://checkout.internal/api/health
    interval: 30s
    timeout: 5s
    expect: { status: [200], body_regex: '\"status\":\\s*\"ok\"' }
    failure_threshold: 3
    success_threshold: 2
    labels: { service: checkout }
    headers: { X-Check: lookout }
    bearer_token: PlantedProbeToken
    follow_redirects: false
",
    )
    .unwrap();
    let p = &probes[0];
    assert_eq!(
        (p.name.as_str(), p.kind, p.target.as_str()),
        ("checkout_health", ProbeKind::Http, "https://checkout.internal/api/health")
    );
    assert_eq!((p.interval, p.timeout), (Duration::from_secs(30), Duration::from_secs(5)));
    assert_eq!(p.expect_status, vec![200]);
    assert!(p.body_regex.as_ref().unwrap().is_match("{\"status\": \"ok\"}"));
    assert_eq!((p.failure_threshold, p.success_threshold, p.follow_redirects), (3, 2, false));
    assert_eq!(p.labels["service"], "checkout");
    assert_eq!(p.headers, vec![("X-Check".to_string(), "lookout".to_string())]);
    assert_eq!(p.bearer_token.as_ref().unwrap().expose(), "PlantedProbeToken");
    assert!(!format!("{p:?}").contains("PlantedProbeToken"));
}

#[test]
fn defaults_and_other_types() {
    let probes = check(
        "  db: { type: tcp, address: '127.0.0.1:5432' }
  api:
    type: grpc
    address: localhost:50051
    service: orders.v1.Orders
    interval: 2s
    tls: { insecure_skip_verify: true }
",
    )
    .unwrap();
    let (db, api) = (&probes[0], &probes[1]);
    assert_eq!((db.kind, db.interval, db.timeout), (ProbeKind::Tcp, DEFAULT_INTERVAL, DEFAULT_TIMEOUT));
    assert_eq!((db.failure_threshold, db.success_threshold), (DEFAULT_FAILURE_THRESHOLD, DEFAULT_SUCCESS_THRESHOLD));
    assert!(db.tls.is_none());
    // Without `timeout`, the default is cut to the interval.
    assert_eq!(
        (api.kind, api.timeout, api.service.as_str()),
        (ProbeKind::Grpc, Duration::from_secs(2), "orders.v1.Orders")
    );
    assert!(api.tls.is_some());
}

#[test]
fn each_mistake_is_reported_where_it_is_written() {
    for (yaml, expected) in [
        ("  a: { type: icmp }\n", "p.yaml:4:14: probe `a`: type `icmp` is not supported"),
        (
            "  a:\n    type: ping\n",
            "p.yaml:5:11: probe `a`: unknown probe type `ping`, expected one of http, tcp, grpc",
        ),
        ("  a:\n    type: http\n", "p.yaml:5:11: probe `a`: an http probe needs `url`"),
        (
            "  a:\n    type: http\n    url: ftp://x/\n",
            "p.yaml:5:11: probe `a`: url `ftp://x/`: scheme `ftp` is not http or https",
        ),
        (
            "  a:\n    type: tcp\n    address: localhost\n",
            "p.yaml:5:11: probe `a`: address `localhost` is not host:port",
        ),
        (
            "  a:\n    type: tcp\n    address: h:1\n    url: http://x\n",
            "p.yaml:5:11: probe `a`: `url` does not apply to tcp probes",
        ),
        (
            "  a:\n    type: http\n    url: http://x\n    interval: 5s\n    timeout: 10s\n",
            "p.yaml:5:11: probe `a`: timeout (10s) must not be longer than interval (5s)",
        ),
        ("  a:\n    type: http\n    url: http://x\n    interval: 0s\n", "p.yaml:7:15: must be greater than 0"),
        ("  a:\n    type: http\n    url: http://x\n    failure_threshold: 0\n", "p.yaml:7:24: must be at least 1"),
        (
            "  a:\n    type: http\n    url: http://x\n    expect: { body_regex: '(' }\n",
            "p.yaml:7:27: invalid body_regex `(`: unclosed group",
        ),
        (
            "  a:\n    type: http\n    url: http://x\n    expect: { status: [999] }\n",
            "p.yaml:5:11: probe `a`: expect.status: 999 is not an HTTP status code",
        ),
        (
            "  a:\n    type: http\n    url: http://x\n    labels: { 1x: y }\n",
            "p.yaml:5:11: probe `a`: labels: `1x` is not a valid label name",
        ),
        ("  a:\n    type: http\n    url: http://x\n    retries: 3\n", "p.yaml:7:5: unknown field `retries`"),
        (
            "  a:\n    type: http\n    url: http://x\n    tls: { ca_file: /nonexistent/ca.pem }\n",
            "p.yaml:5:11: probe `a`: tls: ca_file /nonexistent/ca.pem:",
        ),
    ] {
        let e = error(yaml);
        assert!(e.starts_with(expected), "{yaml}\nexpected: {expected}\nactual:   {e}");
    }
}

#[test]
fn a_reload_sees_what_changed() {
    let a = check("  a: { type: tcp, address: 'h:1', interval: 10s }\n").unwrap();
    let same = check("  a: { type: tcp, address: 'h:1', interval: 10s }\n").unwrap();
    let other = check("  a: { type: tcp, address: 'h:1', interval: 20s }\n").unwrap();
    assert!(a[0].same_as(&same[0]));
    assert!(!a[0].same_as(&other[0]));
    let t1 = check("  a: { type: http, url: 'http://h/', bearer_token: one }\n").unwrap();
    let t2 = check("  a: { type: http, url: 'http://h/', bearer_token: two }\n").unwrap();
    assert!(!t1[0].same_as(&t2[0]), "a changed secret is a change");
}
