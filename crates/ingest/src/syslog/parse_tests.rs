use super::*;

/// 2026-12-07T12:00:00Z.
const NOW: u64 = 1_796_644_800_000_000_000;

fn attr<'a>(r: &'a LogRecord, key: &str) -> Option<&'a Value> {
    r.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref()?.value.as_ref())
}

fn text<'a>(r: &'a LogRecord, key: &str) -> &'a str {
    match attr(r, key) {
        Some(Value::StringValue(s)) => s,
        other => panic!("{key}: {other:?} in {r:?}"),
    }
}

fn body(r: &LogRecord) -> &str {
    match r.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => s,
        other => panic!("body {other:?}"),
    }
}

#[test]
fn rfc5424_examples() {
    // RFC 5424 §6.5, example 1 (with the BOM before the message).
    let r = parse("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8".as_bytes(), NOW);
    assert_eq!(attr(&r, "syslog.error"), None);
    assert_eq!(body(&r), "'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(r.time_unix_nano, 1_065_910_455_003_000_000);
    assert_eq!((r.severity_text.as_str(), r.severity_number), ("crit", 18));
    assert_eq!(text(&r, "syslog.facility"), "auth");
    assert_eq!(attr(&r, "syslog.severity"), Some(&Value::IntValue(2)));
    assert_eq!(text(&r, "syslog.hostname"), "mymachine.example.com");
    assert_eq!(text(&r, "syslog.appname"), "su");
    assert_eq!(attr(&r, "syslog.procid"), None, "nil PROCID");
    assert_eq!(text(&r, "syslog.msgid"), "ID47");

    // Example 2: microseconds and an offset.
    let r = parse(
        b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
        NOW,
    );
    assert_eq!(r.time_unix_nano, 1_061_727_255_000_003_000);
    assert_eq!(text(&r, "syslog.facility"), "local4");
    assert_eq!((r.severity_text.as_str(), r.severity_number), ("notice", 10));
    assert_eq!(text(&r, "syslog.procid"), "8710");
    assert_eq!(body(&r), "%% It's time to make the do-nuts.");

    // Examples 3 and 4: structured data, one and two elements, the second without a message.
    let r = parse(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry...", NOW);
    assert_eq!(body(&r), "An application event log entry...");
    let Some(Value::KvlistValue(sd)) = attr(&r, "syslog.structured_data") else { panic!("{r:?}") };
    assert_eq!(sd.values[0].key, "exampleSDID@32473");
    let Some(Value::KvlistValue(params)) = sd.values[0].value.as_ref().and_then(|v| v.value.as_ref()) else { panic!() };
    let keys: Vec<_> = params.values.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["iut", "eventSource", "eventID"]);
    let r = parse(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]", NOW);
    let Some(Value::KvlistValue(sd)) = attr(&r, "syslog.structured_data") else { panic!("{r:?}") };
    assert_eq!(sd.values.len(), 2);
    assert_eq!(body(&r), "");
}

#[test]
fn structured_data_escapes() {
    let r = parse(br#"<14>1 - h a - - [x@1 q="a \"b\" c\] d\\"] m"#, NOW);
    let Some(Value::KvlistValue(sd)) = attr(&r, "syslog.structured_data") else { panic!("{r:?}") };
    let Some(Value::KvlistValue(params)) = sd.values[0].value.as_ref().and_then(|v| v.value.as_ref()) else { panic!() };
    assert_eq!(params.values[0].value.as_ref().unwrap().value, Some(Value::StringValue(r#"a "b" c] d\"#.into())));
    assert_eq!(r.time_unix_nano, NOW, "nil timestamp: the arrival time");
}

#[test]
fn rfc3164_examples() {
    let r = parse(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", NOW);
    assert_eq!(attr(&r, "syslog.error"), None);
    assert_eq!(body(&r), "'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(text(&r, "syslog.hostname"), "mymachine");
    assert_eq!(text(&r, "syslog.appname"), "su");
    assert_eq!(r.time_unix_nano, 1_791_756_855_000_000_000, "2026-10-11T22:14:15Z");
    let r = parse(b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", NOW);
    assert_eq!(body(&r), "Use the BFG!");
    assert_eq!(text(&r, "syslog.hostname"), "10.0.0.99");
    assert_eq!(attr(&r, "syslog.appname"), None);
    let r = parse(b"<30>Dec 31 23:59:59 host sshd[4242]: Accepted key\n", NOW);
    assert_eq!(r.time_unix_nano, 1_767_225_599_000_000_000, "the day ahead is last year's");
    assert_eq!(text(&r, "syslog.procid"), "4242");
    assert_eq!(text(&r, "syslog.appname"), "sshd");
    assert_eq!(body(&r), "Accepted key");
    // rsyslog's RFC3339 variant.
    let r = parse(b"<30>2024-05-06T07:08:09.123456+02:00 web-1 nginx[7]: GET /", NOW);
    assert_eq!(r.time_unix_nano, 1_714_972_089_123_456_000);
    assert_eq!(text(&r, "syslog.appname"), "nginx");
    assert_eq!(body(&r), "GET /");
}

#[test]
fn malformed_messages_keep_their_text_and_say_why() {
    for raw in [
        "no pri at all",
        "<999>1 x",
        "<34>1 2003-13-45T99:00:00Z h a - - - m",
        "<34>1 - h a - - [broken",
        "<34>1 short",
    ] {
        let r = parse(raw.as_bytes(), NOW);
        assert_eq!(body(&r), raw);
        assert!(attr(&r, "syslog.error").is_some(), "{raw}: {r:?}");
        assert_eq!(r.time_unix_nano, NOW);
    }
    let r = parse(b"<34>\xff\xfe bytes", NOW);
    assert!(body(&r).contains("bytes"));
}
