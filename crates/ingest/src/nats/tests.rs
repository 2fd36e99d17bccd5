use super::*;

fn parse(body: &str) -> Result<(), String> {
    let yaml =
        format!("sources:\n  bus:\n    type: nats\n{body}sinks:\n  out:\n    type: console\n    inputs: [bus]\n");
    let cfg = lookout_config::load_str("p.yaml", &yaml, &|_| None).map_err(|e| e.to_string())?;
    let mut registry = lookout_component::Registry::default();
    crate::register(&mut registry);
    registry.parse_source(&cfg.sources["bus"]).map(|_| ()).map_err(|e| e.to_string())
}

#[test]
fn config_keys_and_errors_point_into_the_file() {
    let ok = "    url: nats://127.0.0.1:4222\n    stream: TELEMETRY\n    consumer: processors\n";
    parse(ok).unwrap();
    parse(&format!("{ok}    ack_wait_secs: 2\n    max_in_flight: 8\n    acknowledgements: true\n    token: t\n"))
        .unwrap();
    let err = parse(&format!("{ok}    consumr: x\n")).unwrap_err();
    assert!(err.contains("p.yaml:7:5") && err.contains("unknown field `consumr`"), "{err}");
    let err = parse("    url: http://x:4222\n    stream: T\n    consumer: c\n").unwrap_err();
    assert!(err.contains("p.yaml:") && err.contains("nats://"), "{err}");
    let err = parse("    url: nats://x\n    stream: a.b\n    consumer: c\n").unwrap_err();
    assert!(err.contains("`stream` `a.b`"), "{err}");
    let err = parse(&format!("{ok}    user: u\n")).unwrap_err();
    assert!(err.contains("`user` and `password` go together"), "{err}");
    let err = parse(&format!("{ok}    token: t\n    creds_file: x.creds\n")).unwrap_err();
    assert!(err.contains("use one of"), "{err}");
    let err = parse(&format!("{ok}    max_in_flight: 0\n")).unwrap_err();
    assert!(err.contains("max_in_flight"), "{err}");
}

#[test]
fn decodes_each_signal_and_refuses_garbage() {
    let logs = ExportLogsServiceRequest { resource_logs: vec![Default::default()] }.encode_to_vec();
    assert_eq!(decode("logs", &logs).unwrap().signal(), lookout_event::Signal::Logs);
    let spans = ExportTraceServiceRequest { resource_spans: vec![] }.encode_to_vec();
    assert_eq!(decode("traces", &spans).unwrap().signal(), lookout_event::Signal::Traces);
    assert!(decode("logs", b"\xff\xff\xff").unwrap_err().contains("not an OTLP logs request"));
    assert!(decode("events", &logs).unwrap_err().contains("unknown Lookout-Signal"));
}
