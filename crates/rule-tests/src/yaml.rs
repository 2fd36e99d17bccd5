//! YAML decoding with `gopkg.in/yaml.v2`'s `UnmarshalStrict` semantics, which is what
//! promtool reads test files with.
//!
//! serde would stop at the first problem and cannot tell `1` from `"1"`; yaml.v2 keeps
//! going, reports every type error and unknown field as `line N: ...`, lets any scalar
//! fill a string field with its source text, and resolves plain scalars by YAML 1.1
//! rules (`yes` is a bool, `.nan` a float, `NaN` a string). So the file is parsed into a
//! small node tree (with lines and scalar styles) and decoded by hand through
//! [`Decoder`], which collects the same messages.

use std::borrow::Cow;
use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle};
use lookout_template::quote::go_quote;

use crate::error::DecodeError;

/// A YAML node with the line it starts on (1-based).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub line: usize,
    pub kind: Kind,
    /// An explicit tag (`!!str`), in its short form.
    pub tag: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Scalar { value: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// Parses the first document of `text`; `None` when it has none (an empty file).
pub(crate) fn parse(text: &str) -> Result<Option<Node>, DecodeError> {
    let mut b = Builder { anchors: HashMap::new(), stack: Vec::new(), root: None };
    for ev in Parser::new_from_str(text) {
        let (event, span) = ev.map_err(|e| DecodeError(format!("yaml: line {}: {}", e.marker().line(), e.info())))?;
        let line = span.start.line();
        match event {
            Event::DocumentEnd => break,
            Event::Scalar(value, style, anchor, tag) => {
                let node = Node {
                    line,
                    kind: Kind::Scalar { value: value.into_owned(), plain: style == ScalarStyle::Plain },
                    tag: tag.map(|t| short_tag(t.handle(), t.suffix())),
                };
                b.push(node, anchor);
            }
            Event::SequenceStart(_, anchor, tag) => {
                b.stack.push(Open { node: node_open(line, Kind::Seq(Vec::new()), tag), anchor, key: None });
            }
            Event::MappingStart(_, anchor, tag) => {
                b.stack.push(Open { node: node_open(line, Kind::Map(Vec::new()), tag), anchor, key: None });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let open = b.stack.pop().expect("balanced YAML events");
                b.push(open.node, open.anchor);
            }
            Event::Alias(id) => {
                let node = b
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| DecodeError(format!("yaml: line {line}: unknown anchor")))?;
                b.push(node, 0);
            }
            _ => {}
        }
        if b.root.is_some() {
            break;
        }
    }
    Ok(b.root)
}

fn node_open(line: usize, kind: Kind, tag: Option<Cow<'_, granit_parser::Tag>>) -> Node {
    Node { line, kind, tag: tag.map(|t| short_tag(t.handle(), t.suffix())) }
}

fn short_tag(handle: &str, suffix: &str) -> String {
    match handle {
        "tag:yaml.org,2002:" => format!("!!{suffix}"),
        _ => format!("{handle}{suffix}"),
    }
}

struct Open {
    node: Node,
    anchor: usize,
    /// A mapping's key waiting for its value.
    key: Option<Node>,
}

struct Builder {
    anchors: HashMap<usize, Node>,
    stack: Vec<Open>,
    root: Option<Node>,
}

impl Builder {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(top) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut top.node.kind {
            Kind::Seq(items) => items.push(node),
            Kind::Map(pairs) => match top.key.take() {
                None => top.key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
            Kind::Scalar { .. } => unreachable!("scalars are never open"),
        }
    }
}

/// What a node resolves to under yaml.v2's rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool,
    Int(f64),
    Float(f64),
    Str,
    Seq,
    Map,
}

impl Resolved {
    fn tag(&self) -> &'static str {
        match self {
            Resolved::Null => "!!null",
            Resolved::Bool => "!!bool",
            Resolved::Int(_) => "!!int",
            Resolved::Float(_) => "!!float",
            Resolved::Str => "!!str",
            Resolved::Seq => "!!seq",
            Resolved::Map => "!!map",
        }
    }
}

/// yaml.v2 `resolve`: plain scalars by YAML 1.1 rules, quoted ones are strings.
pub(crate) fn resolve(n: &Node) -> Resolved {
    let (value, plain) = match &n.kind {
        Kind::Seq(_) => return Resolved::Seq,
        Kind::Map(_) => return Resolved::Map,
        Kind::Scalar { value, plain } => (value.as_str(), *plain),
    };
    match n.tag.as_deref() {
        Some("!!str") => return Resolved::Str,
        Some("!!null") => return Resolved::Null,
        _ => {}
    }
    if !plain {
        return Resolved::Str;
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "true" | "True" | "TRUE" | "false"
        | "False" | "FALSE" | "on" | "On" | "ON" | "off" | "Off" | "OFF" => return Resolved::Bool,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let plain_num = value.replace('_', "");
    if let Some(i) = go_parse_int(&plain_num) {
        return Resolved::Int(i);
    }
    if is_yaml_float(&plain_num)
        && let Ok(f) = plain_num.parse::<f64>()
    {
        return Resolved::Float(f);
    }
    Resolved::Str
}

/// Go's base-0 integer syntax (`strconv.ParseInt(s, 0, 64)`): the sign, the radix from a
/// `0x`/`0o`/`0b` prefix or a leading `0` (octal), and the magnitude; `None` when `s`
/// is not an integer in that syntax or the magnitude overflows `u64`.
pub(crate) fn go_int_parts(s: &str) -> Option<(bool, u64)> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, r)
    } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, r)
    } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, r)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some((neg, u64::from_str_radix(digits, radix).ok()?))
}

/// Go's `strconv.ParseInt(s, 0, 64)` (or `ParseUint`), as a float.
fn go_parse_int(s: &str) -> Option<f64> {
    let (neg, v) = go_int_parts(s)?;
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        return Some(-(v as f64));
    }
    Some(v as f64)
}

/// yaml.v2's float pattern `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Decodes nodes into Rust values, collecting yaml.v2's type errors.
#[derive(Default)]
pub(crate) struct Decoder {
    /// `line N: ...` messages, in decoding order.
    pub errors: Vec<String>,
    /// An error returned by a custom unmarshaler (a duration): it replaces everything.
    pub fatal: Option<String>,
}

impl Decoder {
    /// The final error, as yaml.v2 reports it, if any.
    pub fn finish(self) -> Result<(), DecodeError> {
        if let Some(f) = self.fatal {
            return Err(DecodeError(f));
        }
        if self.errors.is_empty() {
            return Ok(());
        }
        Err(DecodeError(format!("yaml: unmarshal errors:\n  {}", self.errors.join("\n  "))))
    }

    fn terror(&mut self, n: &Node, into: &str) {
        let r = resolve(n);
        let tag = n.tag.clone().unwrap_or_else(|| r.tag().to_string());
        let value = match &n.kind {
            Kind::Scalar { value, .. } if !matches!(r, Resolved::Seq | Resolved::Map) => {
                if value.len() > 10 {
                    let cut: String = value.chars().take(7).collect();
                    format!(" `{cut}...`")
                } else {
                    format!(" `{value}`")
                }
            }
            _ => String::new(),
        };
        self.errors.push(format!("line {}: cannot unmarshal {tag}{value} into {into}", n.line));
    }

    /// A string field: any scalar's source text; null is empty.
    pub fn string(&mut self, n: &Node) -> String {
        match (&n.kind, resolve(n)) {
            (_, Resolved::Null) => String::new(),
            (Kind::Scalar { value, .. }, _) => value.clone(),
            _ => {
                self.terror(n, "string");
                String::new()
            }
        }
    }

    /// A `float64` field: ints and floats; null is 0.
    pub fn float(&mut self, n: &Node) -> f64 {
        match resolve(n) {
            Resolved::Null => 0.0,
            Resolved::Int(v) | Resolved::Float(v) => v,
            _ => {
                self.terror(n, "float64");
                0.0
            }
        }
    }

    /// A `model.Duration` field in ms: its string, then `ParseDuration`, whose error is
    /// fatal (it comes from `UnmarshalYAML`). Null is 0.
    pub fn duration(&mut self, n: &Node) -> i64 {
        if resolve(n) == Resolved::Null {
            return 0;
        }
        let before = self.errors.len();
        let s = self.string(n);
        if self.errors.len() > before {
            return 0;
        }
        match lookout_rules::duration::parse_duration(&s) {
            Ok(ms) => ms,
            Err(e) => {
                self.fatal.get_or_insert(e.to_string());
                0
            }
        }
    }

    /// A sequence; null is empty.
    pub fn seq<'n>(&mut self, n: &'n Node, into: &str) -> &'n [Node] {
        match &n.kind {
            Kind::Seq(items) => items,
            _ if resolve(n) == Resolved::Null => &[],
            _ => {
                self.terror(n, into);
                &[]
            }
        }
    }

    /// A `map[string]string`; `None` for null. `<<` merges keys in, and a key set
    /// twice (merged or not) is an error, as in yaml.v2's strict mode.
    pub fn string_map(&mut self, n: &Node) -> Option<Vec<(String, String)>> {
        match &n.kind {
            Kind::Map(_) => {}
            _ if resolve(n) == Resolved::Null => return None,
            _ => {
                self.terror(n, "map[string]string");
                return Some(Vec::new());
            }
        }
        let mut out = Vec::new();
        self.string_map_into(n, &mut out);
        Some(out)
    }

    fn string_map_into(&mut self, n: &Node, out: &mut Vec<(String, String)>) {
        let Kind::Map(pairs) = &n.kind else {
            self.terror(n, "map[string]string");
            return;
        };
        for (k, v) in pairs {
            if is_merge(k) {
                for m in self.merged(v) {
                    self.string_map_into(m, out);
                }
                continue;
            }
            let key = self.string(k);
            let value = self.string(v);
            if out.iter().any(|(name, _)| *name == key) {
                self.errors.push(format!("line {}: key {} already set in map", v.line, go_quote(&key)));
                continue;
            }
            out.push((key, value));
        }
    }

    /// The maps a `<<` value merges, in the order yaml.v2 applies them (a sequence
    /// backwards, so earlier maps win); anything else is fatal.
    fn merged<'n>(&mut self, v: &'n Node) -> Vec<&'n Node> {
        match &v.kind {
            Kind::Map(_) => vec![v],
            Kind::Seq(items) if items.iter().all(|i| matches!(i.kind, Kind::Map(_))) => items.iter().rev().collect(),
            _ => {
                self.fatal
                    .get_or_insert_with(|| "yaml: map merge requires map or sequence of maps as the value".into());
                Vec::new()
            }
        }
    }

    /// A struct (`main.<type_name>`): its known fields in file order; unknown and
    /// repeated fields are errors.
    pub fn fields<'n>(&mut self, n: &'n Node, type_name: &str, known: &[&str]) -> Vec<(&'static str, &'n Node)> {
        let mut out = Vec::new();
        let pairs = match &n.kind {
            Kind::Map(pairs) => pairs,
            _ if resolve(n) == Resolved::Null => return out,
            _ => {
                self.terror(n, &format!("main.{type_name}"));
                return out;
            }
        };
        let mut seen: Vec<String> = Vec::new();
        for (k, v) in pairs {
            if is_merge(k) {
                // Decoded into the same struct, with its own duplicate tracking.
                for m in self.merged(v) {
                    let more = self.fields(m, type_name, known);
                    out.extend(more);
                }
                continue;
            }
            let key = match &k.kind {
                Kind::Scalar { value, .. } => value.clone(),
                _ => String::new(),
            };
            match KNOWN_FIELDS.iter().find(|f| **f == key && known.contains(f)) {
                Some(f) => {
                    if seen.contains(&key) {
                        self.errors.push(format!("line {}: field {key} already set in type main.{type_name}", k.line));
                        continue;
                    }
                    seen.push(key);
                    out.push((*f, v));
                }
                None => self.errors.push(format!("line {}: field {key} not found in type main.{type_name}", k.line)),
            }
        }
        out
    }
}

/// yaml.v2 `isMerge`: a plain (or `!!merge`-tagged) `<<` key.
fn is_merge(k: &Node) -> bool {
    matches!(&k.kind, Kind::Scalar { value, plain } if value == "<<" && (*plain || k.tag.as_deref() == Some("!!merge")))
}

/// Every field name of the test-file format (so [`Decoder::fields`] can hand back
/// `'static` names).
const KNOWN_FIELDS: &[&str] = &[
    "rule_files",
    "evaluation_interval",
    "group_eval_order",
    "tests",
    "interval",
    "input_series",
    "alert_rule_test",
    "promql_expr_test",
    "external_labels",
    "external_url",
    "name",
    "series",
    "values",
    "eval_time",
    "alertname",
    "exp_alerts",
    "exp_labels",
    "exp_annotations",
    "expr",
    "exp_samples",
    "labels",
    "value",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str) -> Node {
        parse(text).unwrap().unwrap()
    }

    #[test]
    fn resolves_like_yaml_v2() {
        let n = node("[1, 0x10, 1.5, .nan, NaN, '1', yes, ~, 1e3, 010, -.inf, 1_000]");
        let Kind::Seq(items) = &n.kind else { panic!() };
        let r: Vec<Resolved> = items.iter().map(resolve).collect();
        assert_eq!(r[0], Resolved::Int(1.0));
        assert_eq!(r[1], Resolved::Int(16.0));
        assert_eq!(r[2], Resolved::Float(1.5));
        assert!(matches!(r[3], Resolved::Float(v) if v.is_nan()));
        assert_eq!(r[4], Resolved::Str);
        assert_eq!(r[5], Resolved::Str);
        assert_eq!(r[6], Resolved::Bool);
        assert_eq!(r[7], Resolved::Null);
        assert_eq!(r[8], Resolved::Float(1000.0));
        assert_eq!(r[9], Resolved::Int(8.0));
        assert_eq!(r[10], Resolved::Float(f64::NEG_INFINITY));
        assert_eq!(r[11], Resolved::Int(1000.0));
    }

    #[test]
    fn collects_type_errors_and_unknown_fields() {
        let n = node("a: 1\nbogus: 2\nb: [x]\nc: NaN\nd: 5x\n");
        let mut d = Decoder::default();
        let f = d.fields(&n, "unitTestFile", &["tests", "interval", "series", "values"]);
        assert!(f.is_empty());
        assert_eq!(d.errors.len(), 5);
        assert_eq!(d.errors[0], "line 1: field a not found in type main.unitTestFile");

        let n = node("s: [1]\nv: NaN\nw: 'a very long string'\nd: 5x\n");
        let Kind::Map(p) = &n.kind else { panic!() };
        let mut d = Decoder::default();
        assert_eq!(d.string(&p[0].1), "");
        assert_eq!(d.float(&p[1].1), 0.0);
        d.float(&p[2].1);
        assert_eq!(
            d.errors,
            vec![
                "line 1: cannot unmarshal !!seq into string",
                "line 2: cannot unmarshal !!str `NaN` into float64",
                "line 3: cannot unmarshal !!str `a very ...` into float64",
            ]
        );
        d.duration(&p[3].1);
        assert_eq!(d.finish().unwrap_err().to_string(), "not a valid duration string: \"5x\"");
    }

    #[test]
    fn strings_keep_source_text_and_aliases_resolve() {
        let n = node("a: &x 1.50\nb: *x\nc:\n");
        let Kind::Map(p) = &n.kind else { panic!() };
        let mut d = Decoder::default();
        assert_eq!(d.string(&p[0].1), "1.50");
        assert_eq!(d.string(&p[1].1), "1.50");
        assert_eq!(d.string(&p[2].1), "");
        assert!(parse("").unwrap().is_none());
        assert!(parse("# only a comment\n").unwrap().is_none());
    }

    #[test]
    fn merge_keys_like_yaml_v2() {
        let n = node(
            "base: &b {a: '1', b: '2'}
m:
  <<: *b
  c: '3'
dup:
  <<: *b
  a: x
bad:
  <<: 1
",
        );
        let Kind::Map(p) = &n.kind else { panic!() };
        let mut d = Decoder::default();
        let m = d.string_map(&p[1].1).unwrap();
        assert_eq!(m, vec![("a".into(), "1".into()), ("b".into(), "2".into()), ("c".into(), "3".into())]);
        d.string_map(&p[2].1);
        assert_eq!(d.errors, vec!["line 7: key \"a\" already set in map"]);
        d.string_map(&p[3].1);
        assert_eq!(
            d.finish().unwrap_err().to_string(),
            "yaml: map merge requires map or sequence of maps as the value"
        );

        // Structs: merged fields first (a sequence backwards), explicit keys after win.
        let n = node(
            "<<: [{series: a, values: '1'}, {series: b}]
values: '2'
",
        );
        let mut d = Decoder::default();
        let f = d.fields(&n, "series", &["series", "values"]);
        let got: Vec<(&str, String)> = f.iter().map(|(k, v)| (*k, d.string(v))).collect();
        assert_eq!(
            got,
            vec![("series", "b".into()), ("series", "a".into()), ("values", "1".into()), ("values", "2".into())]
        );
        assert!(d.errors.is_empty());
    }
}
