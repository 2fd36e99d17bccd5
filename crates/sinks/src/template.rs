//! Name templates for where records go: literal text with strftime specifiers (rendered
//! from the record's own time, UTC) and `{field.path}` placeholders (rendered from the
//! record), e.g. `logs-{service.name}-%Y.%m.%d`.

use std::fmt::Write;

use chrono::format::{Item, StrftimeItems};
use lookout_event::{FieldPath, RecordRef};

use crate::Error;

#[derive(Debug, Clone)]
enum Segment {
    /// Literal text, possibly with strftime specifiers (parsed once).
    Text { items: Vec<Item<'static>>, dated: bool },
    /// A record field.
    Field(FieldPath),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    segments: Vec<Segment>,
    source: String,
}

impl Template {
    /// Parses `source`; errors say what is wrong.
    pub fn parse(source: &str) -> Result<Template, Error> {
        let mut segments = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            let (text, after) = match rest.find('{') {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            if !text.is_empty() {
                let items = StrftimeItems::new(text)
                    .parse_to_owned()
                    .map_err(|_| Error::Template(format!("invalid strftime specifier in `{source}`")))?;
                segments.push(Segment::Text { dated: text.contains('%'), items });
            }
            match after {
                Some(a) => {
                    let end = a.find('}').ok_or_else(|| Error::Template(format!("unclosed `{{` in `{source}`")))?;
                    let field = a[..end].trim();
                    if field.is_empty() {
                        return Err(Error::Template(format!("empty `{{}}` in `{source}`")));
                    }
                    segments.push(Segment::Field(FieldPath::parse(field)));
                    rest = &a[end + 1..];
                }
                None => rest = "",
            }
        }
        Ok(Template { segments, source: source.to_string() })
    }

    /// The text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether it renders the same for every record.
    pub fn is_constant(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Text { dated: false, .. }))
    }

    /// Renders into `out` (cleared first). A missing field renders as `missing`.
    pub fn render(&self, record: &RecordRef<'_>, time_unix_nano: u64, missing: &str, out: &mut String) {
        out.clear();
        for segment in &self.segments {
            match segment {
                Segment::Text { items, dated } => {
                    if *dated {
                        let t = chrono::DateTime::from_timestamp_nanos(time_unix_nano as i64);
                        let _ = write!(out, "{}", t.format_with_items(items.iter()));
                    } else {
                        for i in items {
                            match i {
                                Item::Literal(s) | Item::Space(s) => out.push_str(s),
                                Item::OwnedLiteral(s) | Item::OwnedSpace(s) => out.push_str(s),
                                _ => {}
                            }
                        }
                    }
                }
                Segment::Field(path) => match record.get(path) {
                    Some(v) => {
                        let _ = write!(out, "{v}");
                    }
                    None => out.push_str(missing),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::logs;

    #[test]
    fn renders_fields_and_the_records_date() {
        let t = Template::parse("logs-{service.name}-%Y.%m.%d").unwrap();
        let batch = logs(1);
        let mut out = String::new();
        batch.for_each(|r| t.render(&r, 1_700_000_000_000_000_000, "unknown", &mut out));
        assert_eq!(out, "logs-svc-2023.11.14");
        assert!(!t.is_constant());
        assert!(Template::parse("plain").unwrap().is_constant());
        assert!(Template::parse("a-{oops").is_err());
        assert!(Template::parse("a-%Q").is_err());
    }
}
