//! The bodies of Lookout's fuzz targets, one public function per target.
//!
//! Each function takes the fuzzer's bytes and runs them through the entry point users
//! reach with untrusted or hand-written text: the OTLP/HTTP (and gRPC) body decoders,
//! the pipeline file check, rule files, PromQL, Go templates and `alertmanager.yml`.
//! Errors are expected and ignored (`let _ = …`): only a panic, a hang or a blown
//! memory limit is a finding. The few `assert!`s are invariants whose failure is a
//! bug too (a sink writing a line that is not JSON).
//!
//! The libFuzzer binaries in `fuzz_targets/` call these; `tests/replay.rs` runs the
//! seeds and the saved regressions through them on stable Rust.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use lookout_event::Batch;
use lookout_event::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_event::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_event::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_ingest::otlp::OtlpRequest;

/// Every target: its name (the `fuzz_targets/NAME.rs` binary and `seeds/NAME/`) and body.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("otlp_protobuf", otlp_protobuf),
    ("otlp_json", otlp_json),
    ("pipeline_config", pipeline_config),
    ("rule_file", rule_file),
    ("promql", promql),
    ("template", template),
    ("alertmanager_config", alertmanager_config),
];

/// Runs a target body the way the fuzz binaries do: a panic that escapes `body` is a
/// crash (abort, so libFuzzer saves the input); a panic that project code catches
/// itself (`catch_unwind` around a third-party parser) is not.
///
/// libfuzzer-sys installs a panic hook that aborts on *every* panic, caught or not;
/// the first call puts the default hook (message and backtrace) back in its place.
pub fn guarded(body: fn(&[u8]), data: &[u8]) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let _libfuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|info| {
            eprintln!("{info}\n{}", std::backtrace::Backtrace::force_capture());
        }));
    });
    if std::panic::catch_unwind(|| body(data)).is_err() {
        eprintln!("lookout-fuzz: the panic above escaped the entry point");
        std::process::abort();
    }
}

// ---------------------------------------------------------------------------------------
// OTLP

/// What happens to a decoded request in Lookout: validation into a batch (the shared
/// admission path of gRPC and HTTP), the NDJSON every log-store sink writes, and the
/// Prometheus translation the `metrics_store` sink does.
fn after_decode<R: OtlpRequest>(request: R) {
    let (batch, _partial): (Batch, _) = request.into_batch();
    let _ = batch.len();
    let _ = batch.encoded_len();
    let mut out = Vec::new();
    lookout_event::encode::write_ndjson(&batch, &mut out);
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(line) {
            panic!("write_ndjson wrote a line that is not JSON ({e}): {}", String::from_utf8_lossy(line));
        }
    }
    let _ = lookout_tsdb::otlp::translate(&batch);
}

/// An OTLP/HTTP `application/x-protobuf` body (also what the gRPC services decode),
/// tried as each of the three export requests.
pub fn otlp_protobuf(data: &[u8]) {
    use prost::Message;
    if let Ok(r) = ExportLogsServiceRequest::decode(data) {
        after_decode(r);
    }
    if let Ok(r) = ExportTraceServiceRequest::decode(data) {
        after_decode(r);
    }
    if let Ok(r) = ExportMetricsServiceRequest::decode(data) {
        after_decode(r);
    }
}

/// An OTLP/HTTP `application/json` body, decoded as `POST /v1/logs|traces|metrics`
/// decodes it (`serde_json::from_slice`), tried as each of the three export requests.
pub fn otlp_json(data: &[u8]) {
    if let Ok(r) = serde_json::from_slice::<ExportLogsServiceRequest>(data) {
        after_decode(r);
    }
    if let Ok(r) = serde_json::from_slice::<ExportTraceServiceRequest>(data) {
        after_decode(r);
    }
    if let Ok(r) = serde_json::from_slice::<ExportMetricsServiceRequest>(data) {
        after_decode(r);
    }
}

// ---------------------------------------------------------------------------------------
// Text formats

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A pipeline file, checked as `lookout check` / start-up checks it: `${VAR}`
/// interpolation, the top level, every component's own config, and the graph.
pub fn pipeline_config(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let env = |name: &str| match name {
        "HOME" => Some("/home/lookout".to_string()),
        "PORT" => Some("4318".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let registry = lookout_topology::registry();
    let _ = lookout_topology::check_str("fuzz.yaml", text, &env, &registry);
}

/// A Prometheus-format rule file (groups, alerting and recording rules, their PromQL
/// and templates), as `lookout check` and the rule engine load it.
pub fn rule_file(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let _ = lookout_rules::parse_rule_file("fuzz.rules.yml", text);
}

/// An `alertmanager.yml`: parsed and validated, then what `lookout check` adds
/// (receivers' integrations built, without templates files or network), and the route
/// tree built and matched against a few label sets.
pub fn alertmanager_config(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(cfg) = lookout_notify::parse_config("alertmanager.yml", text) else { return };
    // `templates:` globs would read files on this machine: leave them out.
    if cfg.templates.is_empty() {
        let _ = lookout_notify::check_config(&cfg);
    }
    let tree = lookout_notify::RouteTree::new(&cfg.route);
    for labels in alert_label_sets() {
        for idx in tree.matches(&labels) {
            let _ = tree.get(idx).group_labels(&labels);
        }
    }
}

fn alert_label_sets() -> Vec<BTreeMap<String, String>> {
    let set = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vec![
        set(&[("alertname", "HighErrorRate"), ("severity", "critical"), ("job", "api"), ("team", "billing")]),
        set(&[("alertname", "DiskFull"), ("severity", "warning"), ("instance", "db1:9100")]),
        set(&[]),
    ]
}

// ---------------------------------------------------------------------------------------
// PromQL

/// A fixed start: 2024-01-01T00:00:00Z in ms.
const T0: i64 = 1_704_067_200_000;
const STEP: i64 = 15_000;
const POINTS: i64 = 41; // ten minutes every 15 s

fn store() -> &'static lookout_tsdb::Store {
    static STORE: OnceLock<lookout_tsdb::Store> = OnceLock::new();
    STORE.get_or_init(|| {
        use lookout_tsdb::{Labels, Store, StoreConfig};
        let store = Store::new(StoreConfig { retention_ms: i64::MAX / 4, max_series: 1000 });
        let labels = |pairs: &[(&str, &str)]| Labels::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let series: Vec<(Labels, Box<dyn Fn(i64) -> f64>)> = vec![
            (
                labels(&[("__name__", "http_requests_total"), ("job", "api"), ("instance", "a:9100"), ("code", "200")]),
                Box::new(|i| (i * 10) as f64),
            ),
            (
                // A counter reset half way.
                labels(&[("__name__", "http_requests_total"), ("job", "api"), ("instance", "b:9100"), ("code", "500")]),
                Box::new(|i| ((i % 20) * 3) as f64),
            ),
            (labels(&[("__name__", "up"), ("job", "api"), ("instance", "a:9100")]), Box::new(|_| 1.0)),
            (labels(&[("__name__", "up"), ("job", "api"), ("instance", "b:9100")]), Box::new(|i| (i % 2) as f64)),
            (
                labels(&[("__name__", "node_memory_free_bytes"), ("instance", "a:9100")]),
                Box::new(|i| 1e9 - (i as f64) * 1e6),
            ),
            (labels(&[("__name__", "weird_values"), ("kind", "nan")]), Box::new(|_| f64::NAN)),
            (labels(&[("__name__", "weird_values"), ("kind", "inf")]), Box::new(|i| if i % 2 == 0 { f64::INFINITY } else { f64::NEG_INFINITY })),
            (
                // Goes stale half way.
                labels(&[("__name__", "weird_values"), ("kind", "stale")]),
                Box::new(|i| if i == 20 { lookout_tsdb::stale_nan() } else { i as f64 }),
            ),
        ];
        for le in ["0.1", "0.5", "1", "+Inf"] {
            let bound: f64 = if le == "+Inf" { 1.0 } else { le.parse().unwrap() };
            let l = labels(&[("__name__", "http_request_duration_seconds_bucket"), ("job", "api"), ("le", le)]);
            for i in 0..POINTS {
                let _ = store.append(&l, T0 + i * STEP, (i as f64) * 4.0 * bound.min(1.0));
            }
        }
        for (l, f) in &series {
            for i in 0..POINTS {
                let _ = store.append(l, T0 + i * STEP, f(i));
            }
        }
        store
    })
}

/// A PromQL expression: parsed (`lookout_tsdb::promql::parse`), checked against what the evaluator supports, and
/// evaluated as an instant query (Prometheus 3 and 2 window semantics) against a small
/// in-memory store.
pub fn promql(data: &[u8]) {
    let Some(text) = text(data) else { return };
    // Lookout's own entry point (it turns the parser's panics into errors).
    let Ok(expr) = lookout_tsdb::promql::parse(text) else { return };
    if lookout_tsdb::promql::check(&expr).is_err() {
        return;
    }
    let q = store();
    let end = T0 + (POINTS - 1) * STEP;
    let _ = lookout_tsdb::promql::instant_query_expr(q, &expr, end);
    let _ = lookout_tsdb::promql::EvalOptions::prometheus2().instant_query_expr(q, &expr, T0 + 5 * 60_000);
}

// ---------------------------------------------------------------------------------------
// Go templates

const NOTIFICATION_DATA: &str = r#"{
  "receiver": "team-x",
  "status": "firing",
  "alerts": [
    {"status": "firing",
     "labels": {"alertname": "HighLatency", "job": "api", "severity": "page", "instance": "a:9090"},
     "annotations": {"summary": "latency high", "description": "p99 > 1s"},
     "startsAt": "2024-01-01T08:15:30.123Z", "endsAt": "0001-01-01T00:00:00Z",
     "generatorURL": "http://prom/graph?g0.expr=x", "fingerprint": "abc123"},
    {"status": "resolved",
     "labels": {"alertname": "HighLatency", "job": "api", "severity": "page", "instance": "b:9090"},
     "annotations": {"summary": "latency high"},
     "startsAt": "2024-01-01T08:00:00Z", "endsAt": "2024-01-01T09:00:00Z",
     "generatorURL": "http://prom/graph", "fingerprint": "def456"}
  ],
  "groupLabels": {"alertname": "HighLatency"},
  "commonLabels": {"alertname": "HighLatency", "job": "api", "severity": "page"},
  "commonAnnotations": {"summary": "latency high"},
  "externalURL": "http://am:9093"
}"#;

struct TemplateFixture {
    prometheus_funcs: lookout_template::Funcs,
    prometheus_data: lookout_template::Value,
    alertmanager_funcs: lookout_template::Funcs,
    notification_data: lookout_template::Value,
}

fn template_fixture() -> &'static TemplateFixture {
    static FIXTURE: OnceLock<TemplateFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let hook: lookout_template::QueryHook = Arc::new(|q: &str| {
            if q.contains("error") {
                // `.into()`: the hook's error type is the template crate's (String, then FuncError).
                return Err("query failed".into());
            }
            let labels: BTreeMap<String, String> =
                [("__name__", "up"), ("instance", "a:9100"), ("job", "api")].map(|(k, v)| (k.into(), v.into())).into();
            Ok(vec![(labels.clone(), 1.0), (BTreeMap::new(), 0.25)])
        });
        TemplateFixture {
            prometheus_funcs: lookout_template::Funcs::go_builtins().with_prometheus(Some(hook)),
            prometheus_data: lookout_template::data::prometheus_alert_data(
                [("alertname", "HighLatency"), ("instance", "db1.example.com:9100"), ("job", "api")],
                [("cluster", "eu-1")],
                "http://lookout:9090",
                0.123456,
            ),
            alertmanager_funcs: lookout_template::Funcs::go_builtins().with_alertmanager(),
            notification_data: lookout_template::data::notification_data_from_json(
                &serde_json::from_str(NOTIFICATION_DATA).unwrap(),
            )
            .unwrap(),
        }
    })
}

/// A Go template, two ways: as a Prometheus rule annotation (the `$labels`/`$value`
/// prefix, Prometheus functions with a `query` that answers) and as an Alertmanager
/// notification template (parsed into a set, executed as text and as HTML).
pub fn template(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let f = template_fixture();
    let annotation = format!("{}{text}", lookout_template::data::PROMETHEUS_ALERT_PREFIX);
    let _ = lookout_template::render_named("__alert_Fuzz", &annotation, &f.prometheus_data, &f.prometheus_funcs);

    let mut set = lookout_template::TemplateSet::new(f.alertmanager_funcs.clone());
    if set.parse("fuzz.tmpl", text).is_ok() {
        let _ = set.execute("fuzz.tmpl", &f.notification_data);
        let _ = set.execute_html("fuzz.tmpl", &f.notification_data);
        let _ = set.execute_text(r#"{{ template "fuzz.tmpl" . }}"#, &f.notification_data);
    }
}

// ---------------------------------------------------------------------------------------
// Seed tooling

/// Writes each OTLP request `data` decodes to (as JSON) as protobuf into the directory
/// `$LOOKOUT_FUZZ_SEED_OUT`, named after the input's hash and the signal.
pub fn seed_json_to_protobuf(data: &[u8]) {
    use std::hash::{Hash, Hasher};
    let Some(dir) = std::env::var_os("LOOKOUT_FUZZ_SEED_OUT") else { return };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    let name = format!("{:016x}", h.finish());
    let write = |signal: &str, bytes: Vec<u8>| {
        let path = std::path::Path::new(&dir).join(format!("{signal}-{name}.pb"));
        std::fs::write(&path, bytes).expect("write a protobuf seed");
    };
    use prost::Message;
    if let Ok(r) = serde_json::from_slice::<ExportLogsServiceRequest>(data) {
        if !r.resource_logs.is_empty() {
            write("logs", r.encode_to_vec());
        }
    }
    if let Ok(r) = serde_json::from_slice::<ExportTraceServiceRequest>(data) {
        if !r.resource_spans.is_empty() {
            write("traces", r.encode_to_vec());
        }
    }
    if let Ok(r) = serde_json::from_slice::<ExportMetricsServiceRequest>(data) {
        if !r.resource_metrics.is_empty() {
            write("metrics", r.encode_to_vec());
        }
    }
}
