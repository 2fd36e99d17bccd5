use super::*;

fn parse(yaml: &str) -> Result<WebConfig, String> {
    parse_web_config("web.yml", yaml, Path::new("/etc/lookout")).map_err(|e| e.to_string())
}

/// exporter-toolkit's `docs/web-config.yml`, as published.
const TOOLKIT_EXAMPLE: &str = r#"# TLS and basic authentication configuration example.
#
# Additionally, a certificate and a key file are needed.
tls_server_config:
  cert_file: server.crt
  key_file: server.key

# Usernames and passwords required to connect.
# Passwords are hashed with bcrypt: https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md#about-bcrypt.
basic_auth_users:
  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze
  bob: $2y$10$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m

# Exclude /-/healthy and /-/ready from basic authentication
basic_auth_excluded_paths:
- /-/healthy
- /-/ready
"#;

#[test]
fn the_toolkit_example_parses() {
    let c = parse(TOOLKIT_EXAMPLE).unwrap();
    assert_eq!(c.users.keys().collect::<Vec<_>>(), ["alice", "bob"]);
    let tls = c.tls.as_ref().expect("tls");
    // Relative to the web.yml's directory, as exporter-toolkit resolves them.
    assert_eq!(tls.cert_path(), Path::new("/etc/lookout/server.crt"));
    assert_eq!(tls.key_path(), Path::new("/etc/lookout/server.key"));
    assert_eq!(c.excluded_paths, ["/-/healthy", "/-/ready"]);
    assert!(c.requires_auth());
    assert_eq!(c.role_of("alice"), Role::Viewer);
    assert!(c.http.http2);
}

#[test]
fn toolkit_testdata_files_parse() {
    // web/testdata/tls_config_noAuth.good.yml (note the spaces before the colons).
    let c = parse(
        "tls_server_config :\n  cert_file : \"server.crt\"\n  key_file : \"server.key\"\n  \
         client_auth_type : \"VerifyClientCertIfGiven\"\n  client_ca_file : \"tls-ca-chain.pem\"\n",
    )
    .unwrap();
    assert!(!c.requires_auth());
    assert_eq!(c.tls.unwrap().client_ca_path().unwrap(), Path::new("/etc/lookout/tls-ca-chain.pem"));
    // web/testdata/web_config_headers.good.yml
    let c = parse(
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    \
         Strict-Transport-Security: max-age=31536000; includeSubDomains\n    X-Content-Type-Options: nosniff\n    \
         X-XSS-Protection: 1\n    Content-Security-Policy: \"default-src 'self' *.test.example.net\"\n",
    )
    .unwrap();
    assert_eq!(c.http.headers.len(), 5);
    assert_eq!(c.http.headers["X-XSS-Protection"], "1");
    // tls_config_noAuth_noHTTP2.good.yml's http2 switch, and an empty file.
    assert!(!parse("http_server_config:\n  http2: false\n").unwrap().http.http2);
    assert!(parse("").unwrap().tls.is_none());
    assert!(parse("tls_server_config: {}\nbasic_auth_users:\n").unwrap().tls.is_none());
}

#[test]
fn toolkit_bad_files_are_refused() {
    // web/testdata/web_config_auth_user_list_invalid.bad.yml: a password, not a hash.
    let e = parse(
        "tls_server_config:\n  cert_file: \"server.crt\"\n  key_file: \"server.key\"\nbasic_auth_users:\n  john: doe\n",
    )
    .unwrap_err();
    assert!(e.starts_with("web.yml:5:9: basic_auth_users.john: not a bcrypt hash"), "{e}");
    // web_config_headers_extra_header.bad.yml, web_config_headers_frame_options.bad.yml
    let e = parse("http_server_config:\n  headers:\n    Foo: Bar\n").unwrap_err();
    assert!(e.contains("web.yml:3:5: HTTP header \"Foo\" can not be configured"), "{e}");
    let e = parse("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").unwrap_err();
    assert!(e.contains("invalid value for X-Frame-Options"), "{e}");
    // Strict YAML: unknown keys, at any level.
    let e = parse("basic_auth_user:\n  a: b\n").unwrap_err();
    assert!(e.starts_with("web.yml:1:1:") && e.contains("basic_auth_user"), "{e}");
    let e = parse("tls_server_config:\n  cert_file: a\n  key_file: b\n  bogus: 1\n").unwrap_err();
    assert!(e.contains("tls_server_config") && e.contains("bogus"), "{e}");
}

#[test]
fn every_bcrypt_prefix_is_a_hash() {
    for prefix in ["2y", "2a", "2b"] {
        let hash = format!("${prefix}$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze");
        parse(&format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    }
}

#[test]
fn roles_and_tokens() {
    let digest = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let c = parse(&format!(
        "basic_auth_users:\n  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n\
         bearer_tokens:\n  ci-bot: \"{digest}\"\nroles:\n  alice: admin\n  ci-bot: editor\n"
    ))
    .unwrap();
    assert_eq!(c.role_of("alice"), Role::Admin);
    assert_eq!(c.role_of("ci-bot"), Role::Editor);
    assert_eq!(c.tokens["ci-bot"][0], 0x9f);

    let e = parse("roles:\n  carol: editor\n").unwrap_err();
    assert!(e.contains("web.yml:2:3: roles.carol: no such user"), "{e}");
    let e = parse(&format!("bearer_tokens:\n  bot: \"{digest}\"\nroles:\n  bot: root\n")).unwrap_err();
    assert!(e.contains("web.yml:4:8: roles.bot: unknown role `root`"), "{e}");
    let e = parse("bearer_tokens:\n  bot: plaintext-token\n").unwrap_err();
    assert!(e.contains("web.yml:2:8: bearer_tokens.bot: expected `sha256:`"), "{e}");
}

#[test]
fn rate_limit() {
    let c = parse("rate_limit:\n  interval: 100ms\n  burst: 5\n").unwrap();
    assert_eq!(c.rate_limit, Some(RateLimit { interval: Duration::from_millis(100), burst: 5 }));
    assert_eq!(parse("rate_limit:\n  interval: 0\n  burst: 0\n").unwrap().rate_limit, None);
    assert!(parse("rate_limit:\n  interval: 1s\n").unwrap_err().contains("burst must be at least 1"));
}

#[test]
fn tls_contradictions_are_refused() {
    let e = parse("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n")
        .unwrap_err();
    assert!(e.starts_with("web.yml:2:3: tls_server_config: tls: `min_version`"), "{e}");
}
