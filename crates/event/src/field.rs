//! Field paths: how configs name a part of a record.

use std::fmt;

/// A field of a record, named in configs (conditions, templates, sampling keys).
///
/// | path | meaning |
/// |---|---|
/// | `body`, `severity_text`, `severity_number`, `event_name` | log record fields |
/// | `name`, `kind`, `status.code`, `status.message`, `duration_ms`, `parent_span_id` | span fields (`name` is also a metric's name) |
/// | `type`, `unit`, `description`, `value` | metric point fields |
/// | `timestamp`, `trace_id`, `span_id`, `flags`, `signal` | common fields (`signal` is `log`, `span` or `metric`) |
/// | `attributes.KEY` | the record's attribute `KEY` (keys may contain dots) |
/// | `resource.KEY` | the resource attribute `KEY` |
/// | `scope.name`, `scope.version` | the instrumentation scope |
/// | anything else, e.g. `service.name` | the record attribute of that name, else the resource attribute |
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum FieldPath {
    Body,
    SeverityText,
    SeverityNumber,
    EventName,
    Name,
    Kind,
    StatusCode,
    StatusMessage,
    DurationMs,
    ParentSpanId,
    MetricType,
    Unit,
    Description,
    Value,
    Timestamp,
    TraceId,
    SpanId,
    Flags,
    Signal,
    ScopeName,
    ScopeVersion,
    /// `attributes.KEY`
    Attribute(String),
    /// `resource.KEY`
    Resource(String),
    /// A bare key: record attribute first, then resource attribute.
    Auto(String),
}

/// The resource attribute (and series label) carrying a record's tenant, set by an
/// `otlp` source's authentication.
pub const TENANT: &str = "tenant";

impl FieldPath {
    /// Where a record's tenant is read from: its resource's [`TENANT`] attribute.
    pub fn tenant() -> FieldPath {
        FieldPath::parse("resource.tenant")
    }

    /// Parses a path; every string is a valid path (unknown names are attribute keys).
    pub fn parse(path: &str) -> FieldPath {
        use FieldPath as F;
        let path = path.trim();
        if let Some(k) = path.strip_prefix("attributes.") {
            return F::Attribute(k.to_string());
        }
        if let Some(k) = path.strip_prefix("resource.") {
            return F::Resource(k.to_string());
        }
        match path {
            "body" | "message" => F::Body,
            "severity_text" | "severity" => F::SeverityText,
            "severity_number" => F::SeverityNumber,
            "event_name" => F::EventName,
            "name" => F::Name,
            "kind" => F::Kind,
            "status.code" => F::StatusCode,
            "status.message" => F::StatusMessage,
            "duration_ms" => F::DurationMs,
            "parent_span_id" => F::ParentSpanId,
            "type" => F::MetricType,
            "unit" => F::Unit,
            "description" => F::Description,
            "value" => F::Value,
            "timestamp" | "@timestamp" => F::Timestamp,
            "trace_id" => F::TraceId,
            "span_id" => F::SpanId,
            "flags" => F::Flags,
            "signal" => F::Signal,
            "scope.name" => F::ScopeName,
            "scope.version" => F::ScopeVersion,
            other => F::Auto(other.to_string()),
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FieldPath as F;
        let s = match self {
            F::Body => "body",
            F::SeverityText => "severity_text",
            F::SeverityNumber => "severity_number",
            F::EventName => "event_name",
            F::Name => "name",
            F::Kind => "kind",
            F::StatusCode => "status.code",
            F::StatusMessage => "status.message",
            F::DurationMs => "duration_ms",
            F::ParentSpanId => "parent_span_id",
            F::MetricType => "type",
            F::Unit => "unit",
            F::Description => "description",
            F::Value => "value",
            F::Timestamp => "timestamp",
            F::TraceId => "trace_id",
            F::SpanId => "span_id",
            F::Flags => "flags",
            F::Signal => "signal",
            F::ScopeName => "scope.name",
            F::ScopeVersion => "scope.version",
            F::Attribute(k) => return write!(f, "attributes.{k}"),
            F::Resource(k) => return write!(f, "resource.{k}"),
            F::Auto(k) => k,
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixes_and_dotted_keys() {
        assert_eq!(FieldPath::parse("attributes.http.method"), FieldPath::Attribute("http.method".into()));
        assert_eq!(FieldPath::parse("resource.service.name"), FieldPath::Resource("service.name".into()));
        assert_eq!(FieldPath::parse("service.name"), FieldPath::Auto("service.name".into()));
        assert_eq!(FieldPath::parse("status.code"), FieldPath::StatusCode);
        for p in ["body", "attributes.a.b", "resource.k8s.pod.name", "scope.name", "x.y"] {
            assert_eq!(FieldPath::parse(p).to_string(), p);
        }
    }
}
