//! Where records land when a destination name is built from record fields: each
//! store's naming rules applied to the rendered name, and the tenant's allow-list.
//!
//! A template like `logs-{service.name}` lets the sender choose part of the name, so
//! every rendered name is made valid for its store (a client cannot reach `.security`,
//! `../../etc` or `*`), and when the record carries a `tenant` (set by an `otlp` source
//! with `auth:`) whose tenants-file entry lists `destinations`, a name outside that list
//! is refused: the record is dead-lettered with the reason, never sent to the name it
//! asked for.

use crate::delivery::{Item, Sent};

/// Prefix of a route that was refused (NUL is in no sanitised name): the rest is why.
pub const REFUSED: char = '\0';

/// Truncates `name` to at most `max` bytes on a character boundary.
fn truncate(name: &mut String, max: usize) {
    if name.len() > max {
        let cut = name.floor_char_boundary(max);
        name.truncate(cut);
    }
}

/// Elasticsearch index names: lowercase; none of `\ / * ? " < > | , #`, `:` or space;
/// not starting with `-`, `_`, `+` (nor `.`, which names hidden and system indices
/// such as `.security`); not `.` or `..`; at most 255 bytes. Offending characters
/// become `_`; an empty result is `unknown`.
pub fn elasticsearch_index(name: &mut String) {
    let bad =
        |c: char| matches!(c, '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':' | ' ') || c.is_control();
    if name.chars().any(|c| bad(c) || c.is_uppercase()) {
        *name = name.chars().map(|c| if bad(c) { '_' } else { c }).flat_map(char::to_lowercase).collect();
    }
    let lead = name.len() - name.trim_start_matches(['-', '_', '+', '.']).len();
    name.drain(..lead);
    truncate(name, 255);
    if name.is_empty() {
        name.push_str("unknown");
    }
}

/// CloudWatch Logs group names: `[.\-_/#A-Za-z0-9]`, 1 to 512 characters; others
/// become `_`.
pub fn log_group(name: &mut String) {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#');
    if !name.chars().all(ok) {
        *name = name.chars().map(|c| if ok(c) { c } else { '_' }).collect();
    }
    truncate(name, 512);
    if name.is_empty() {
        name.push_str("unknown");
    }
}

/// CloudWatch Logs stream names: no `:` or `*`, 1 to 512 characters.
pub fn log_stream(name: &mut String) {
    let bad = |c: char| c == ':' || c == '*' || c.is_control();
    if name.chars().any(bad) {
        *name = name.chars().map(|c| if bad(c) { '_' } else { c }).collect();
    }
    truncate(name, 512);
    if name.is_empty() {
        name.push_str("unknown");
    }
}

/// Splunk index names: lowercase letters, digits, `_` and `-`, not starting with `_`
/// or `-`; others become `_`. Empty stays empty (the HEC token's default index).
pub fn splunk_index(name: &mut String) {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if !name.chars().all(ok) {
        *name = name.to_lowercase().chars().map(|c| if ok(c) { c } else { '_' }).collect();
    }
    let lead = name.len() - name.trim_start_matches(['-', '_']).len();
    name.drain(..lead);
    truncate(name, 80);
}

/// Which allow-list of a tenant's `destinations` a sink checks.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `indices` (Elasticsearch).
    Index,
    /// `log_groups` (CloudWatch Logs).
    LogGroup,
    /// `splunk_indexes` (Splunk HEC `index`; an empty name is the HEC token's default
    /// index, allowed only by a pattern that matches the empty name, such as `*`).
    SplunkIndex,
}

impl Kind {
    /// This kind's list in a tenant's `destinations`, and its key there.
    fn list(self, d: &lookout_ingest::tenant::Destinations) -> (Option<&[String]>, &'static str) {
        match self {
            Kind::Index => (d.indices.as_deref(), "indices"),
            Kind::LogGroup => (d.log_groups.as_deref(), "log_groups"),
            Kind::SplunkIndex => (d.splunk_indexes.as_deref(), "splunk_indexes"),
        }
    }
}

/// `None` if `tenant` may write to `name`; else why not. A record without a tenant, or
/// a tenant without a list for this kind, is not restricted.
pub fn refusal(kind: Kind, tenant: Option<&str>, name: &str) -> Option<String> {
    let tenant = lookout_ingest::tenant::directory::lookup(tenant?)?;
    let (list, key) = kind.list(&tenant.destinations);
    if lookout_ingest::tenant::Destinations::allows(list, name) {
        return None;
    }
    if name.is_empty() {
        return Some(format!(
            "destination: the HEC token's default index (no `index` rendered) is not in tenant `{}`'s destinations.{key}",
            tenant.name
        ));
    }
    Some(format!("destination `{name}` is not in tenant `{}`'s destinations.{key}", tenant.name))
}

/// The allow-list verdicts of one batch: each distinct (tenant, name) is checked once,
/// and when no running tenant has a list of this kind, records' tenants are not looked
/// at at all (the usual case: no `auth:`, or tenants without `destinations`).
pub struct Verdicts {
    kind: Kind,
    active: bool,
    seen: Vec<(Option<String>, String, Option<std::sync::Arc<str>>)>,
}

impl Verdicts {
    /// Verdicts of `kind` for one batch.
    pub fn new(kind: Kind) -> Verdicts {
        let active = lookout_ingest::tenant::directory::any(|t| kind.list(&t.destinations).0.is_some());
        Verdicts { kind, active, seen: Vec::new() }
    }

    /// Whether records' tenants need reading: some running tenant has a list of this
    /// kind.
    pub fn active(&self) -> bool {
        self.active
    }

    /// `None` if `tenant` may write to `name`; else the refused route ([`REFUSED`] +
    /// why).
    pub fn refused(&mut self, tenant: Option<&str>, name: &str) -> Option<std::sync::Arc<str>> {
        if !self.active {
            return None;
        }
        if let Some((_, _, verdict)) = self.seen.iter().find(|(t, n, _)| t.as_deref() == tenant && n == name) {
            return verdict.clone();
        }
        let verdict = refusal(self.kind, tenant, name).map(|why| std::sync::Arc::from(format!("{REFUSED}{why}")));
        self.seen.push((tenant.map(str::to_string), name.to_string(), verdict.clone()));
        verdict
    }
}

/// A tenant named `name` with `destinations` (YAML flow mapping), published for as long
/// as the returned value lives: for tests of the allow-lists. Use a name no other test
/// uses (the directory is process-wide).
#[cfg(test)]
pub(crate) fn tenant_for_tests(
    name: &str,
    destinations: &str,
) -> std::sync::Arc<lookout_ingest::tenant::Authenticator> {
    let dir = std::env::temp_dir().join(format!("lookout-sinks-tenant-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tenants.yaml");
    let token = format!("sha256:{}", "ab".repeat(32));
    std::fs::write(
        &file,
        format!("tenants:\n  {name}:\n    tokens: [\"{token}\"]\n    destinations: {destinations}\n"),
    )
    .unwrap();
    lookout_ingest::tenant::Authenticator::load("test", file, Default::default()).unwrap()
}

/// Items refused with why, by position.
pub type Refused = Vec<(usize, String)>;

/// Splits off the items whose destination was refused: the items to send, their
/// positions in `items`, and the refused ones with why (to dead-letter).
pub fn split_refused(items: &[Item]) -> (std::borrow::Cow<'_, [Item]>, Vec<usize>, Refused) {
    if !items.iter().any(|i| i.route.starts_with(REFUSED)) {
        return (std::borrow::Cow::Borrowed(items), (0..items.len()).collect(), Vec::new());
    }
    let mut refused = Vec::new();
    let mut sendable = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.route.strip_prefix(REFUSED) {
            Some(why) => refused.push((i, why.to_string())),
            None => sendable.push(i),
        }
    }
    let owned = sendable.iter().map(|&i| items[i].clone()).collect();
    (std::borrow::Cow::Owned(owned), sendable, refused)
}

/// Maps a [`Sent`] about the items sent back to positions in the whole slice, and adds
/// the refused ones.
pub fn remap(mut sent: Sent, sendable: &[usize], refused: Refused) -> Sent {
    for i in &mut sent.retry {
        *i = sendable[*i];
    }
    for (i, _) in &mut sent.rejected {
        *i = sendable[*i];
    }
    sent.rejected.extend(refused);
    sent
}

/// Logs of tenant `tenant`, one per `idx` attribute value.
#[cfg(test)]
pub(crate) fn tenant_logs(tenant: &str, idx: &[&str]) -> lookout_event::Batch {
    use lookout_event::any_string;
    use lookout_event::otlp::common::v1::KeyValue;
    use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use lookout_event::otlp::resource::v1::Resource;
    let kv = |k: &str, v: &str| KeyValue { key: k.into(), value: Some(any_string(v)), ..Default::default() };
    let records = idx
        .iter()
        .map(|i| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000,
            body: Some(any_string("hello")),
            attributes: vec![kv("idx", i)],
            ..Default::default()
        })
        .collect();
    lookout_event::Batch::logs(vec![ResourceLogs {
        resource: Some(Resource { attributes: vec![kv("tenant", tenant)], ..Default::default() }),
        scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
        ..Default::default()
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(s: &str) -> String {
        let mut s = s.to_string();
        elasticsearch_index(&mut s);
        s
    }

    #[test]
    fn elasticsearch_names() {
        assert_eq!(es("logs-Shop-2026.11.20"), "logs-shop-2026.11.20");
        assert_eq!(es("../../etc"), "etc");
        assert_eq!(es("*"), "unknown");
        assert_eq!(es(".security"), "security");
        assert_eq!(es(".."), "unknown");
        assert_eq!(es("-+_x"), "x");
        assert_eq!(es("a b,c#d:e|f\"g<h>i?j\\k"), "a_b_c_d_e_f_g_h_i_j_k");
        assert_eq!(es(&"x".repeat(300)).len(), 255);
        assert_eq!(es(&"é".repeat(200)).len(), 254, "cut on a character boundary");
    }

    #[test]
    fn cloudwatch_and_splunk_names() {
        let mut g = "/shop/../x y:z*".to_string();
        log_group(&mut g);
        assert_eq!(g, "/shop/../x_y_z_");
        let mut s = "web-1:2026*".to_string();
        log_stream(&mut s);
        assert_eq!(s, "web-1_2026_");
        let mut i = "_Main Index/../x".to_string();
        splunk_index(&mut i);
        assert_eq!(i, "main_index____x");
        let mut e = String::new();
        log_group(&mut e);
        assert_eq!(e, "unknown");
    }

    #[test]
    fn a_tenants_lists_allow_by_glob_and_refuse_with_why() {
        let _t = tenant_for_tests("dest-unit", "{indices: [\"logs-shop-*\"], splunk_indexes: [shop]}");
        assert_eq!(refusal(Kind::Index, Some("dest-unit"), "logs-shop-web"), None);
        assert_eq!(
            refusal(Kind::Index, Some("dest-unit"), "logs-blog-web").as_deref(),
            Some("destination `logs-blog-web` is not in tenant `dest-unit`'s destinations.indices")
        );
        assert_eq!(refusal(Kind::SplunkIndex, Some("dest-unit"), "shop"), None);
        assert!(refusal(Kind::SplunkIndex, Some("dest-unit"), "main").unwrap().contains("splunk_indexes"));
        assert!(refusal(Kind::SplunkIndex, Some("dest-unit"), "").unwrap().contains("default index"));
        assert_eq!(refusal(Kind::LogGroup, Some("dest-unit"), "/anything"), None, "no list: unrestricted");
    }

    #[test]
    fn records_without_a_known_tenant_are_not_restricted() {
        assert_eq!(refusal(Kind::Index, None, "anything"), None);
        assert_eq!(refusal(Kind::Index, Some("no-such-tenant"), "anything"), None);
    }
}
