//! Setting the tenant on a batch: once per resource, plus a scan (no allocation) that
//! removes a `tenant` attribute a client put on individual records — a bare `{tenant}`
//! in a template or condition looks at record attributes first, so a client-sent one
//! would otherwise impersonate another tenant there.

use lookout_event::otlp::common::v1::KeyValue;
use lookout_event::otlp::metrics::v1::metric::Data;
use lookout_event::otlp::resource::v1::Resource;
use lookout_event::{Batch, Payload, any_string, set_attribute};

use super::TENANT_ATTRIBUTE;

fn strip(attrs: &mut Vec<KeyValue>) {
    if attrs.iter().any(|kv| kv.key == TENANT_ATTRIBUTE) {
        attrs.retain(|kv| kv.key != TENANT_ATTRIBUTE);
    }
}

fn set(resource: &mut Option<Resource>, tenant: &str) {
    let r = resource.get_or_insert_with(Resource::default);
    set_attribute(&mut r.attributes, TENANT_ATTRIBUTE, any_string(tenant), true);
}

/// Sets `tenant` on every resource of `batch` (replacing a client's value) and removes
/// it from records.
pub fn stamp(batch: &mut Batch, tenant: &str) {
    match &mut batch.payload {
        Payload::Logs(resources) => {
            for r in resources {
                set(&mut r.resource, tenant);
                r.scope_logs.iter_mut().flat_map(|s| &mut s.log_records).for_each(|l| strip(&mut l.attributes));
            }
        }
        Payload::Traces(resources) => {
            for r in resources {
                set(&mut r.resource, tenant);
                r.scope_spans.iter_mut().flat_map(|s| &mut s.spans).for_each(|s| strip(&mut s.attributes));
            }
        }
        Payload::Metrics(resources) => {
            for r in resources {
                set(&mut r.resource, tenant);
                for m in r.scope_metrics.iter_mut().flat_map(|s| &mut s.metrics) {
                    match &mut m.data {
                        Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| strip(&mut p.attributes)),
                        Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| strip(&mut p.attributes)),
                        Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| strip(&mut p.attributes)),
                        Some(Data::ExponentialHistogram(h)) => {
                            h.data_points.iter_mut().for_each(|p| strip(&mut p.attributes));
                        }
                        Some(Data::Summary(s)) => s.data_points.iter_mut().for_each(|p| strip(&mut p.attributes)),
                        None => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_event::FieldPath;
    use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    #[test]
    fn the_tenant_replaces_what_the_client_sent() {
        let kv = |k: &str, v: &str| KeyValue { key: k.into(), value: Some(any_string(v)), ..Default::default() };
        let mut batch = Batch::logs(vec![
            ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("tenant", "other"), kv("a", "b")],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord { attributes: vec![kv("tenant", "other")], ..Default::default() }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            ResourceLogs {
                scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default()], ..Default::default() }],
                ..Default::default()
            },
        ]);
        stamp(&mut batch, "shop");
        let (bare, resource) = (FieldPath::parse("tenant"), FieldPath::parse("resource.tenant"));
        let mut seen = Vec::new();
        batch.for_each(|r| seen.push((r.get(&bare).map(|v| v.to_string()), r.get(&resource).map(|v| v.to_string()))));
        let shop = (Some("shop".to_string()), Some("shop".to_string()));
        assert_eq!(seen, vec![shop.clone(), shop]);
    }
}
