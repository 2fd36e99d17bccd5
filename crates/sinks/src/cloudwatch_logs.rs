//! The `cloudwatch_logs` sink: Amazon CloudWatch Logs `PutLogEvents`.
//!
//! ```yaml
//! sinks:
//!   cloudwatch:
//!     type: cloudwatch_logs
//!     inputs: [enrich]
//!     group: "/lookout/{service.name}"                 # templates: record fields, its date (UTC)
//!     stream: "{resource.host.name}-%Y-%m-%d"
//!     region: eu-west-1                                # default: the standard chain, else us-east-1
//!     endpoint: http://127.0.0.1:5000                  # optional: LocalStack, moto, a VPC endpoint
//!     create_missing_group: true                       # default true
//!     create_missing_stream: true                      # default true
//!     dead_letter: ./data/dead/cloudwatch.ndjson
//!     batch: { max_events: 10000, max_bytes: 1048576, timeout_ms: 1000 }
//!     request: { timeout_secs: 30, concurrency: 4, retry_max_duration_secs: 300 }
//!     circuit_breaker: { failures: 5, cooldown_secs: 60 }
//! ```
//!
//! Each record's message is its JSON document (the same one the file and Elasticsearch
//! sinks write); its timestamp is the record's time in milliseconds (the time it was
//! received when the record has none).
//!
//! Credentials and region come from the AWS SDK's standard chain (environment, profile,
//! web identity, ECS, IMDS); `endpoint` overrides the service URL. The SDK's own retries
//! are turned off: the shared delivery machinery ([`crate::delivery`]) retries with
//! backoff, limits concurrency, dead-letters, and — when `endpoint` is set — keeps a
//! circuit breaker on it (without `endpoint` the one pseudo-endpoint `aws` has it).
//!
//! **Requests.** The driver hands [`send`](Protocol::send) any slice of records, so
//! `send` plans the `PutLogEvents` calls itself ([`plan`]): one call per (group, stream),
//! events sorted by timestamp, at most 10,000 events, 1,048,576 bytes counting each
//! message plus 26 bytes, and less than 24 hours between the first and last event; the
//! calls run in parallel (there are no sequence tokens any more). Each call's outcome
//! maps back to its records: throttling, `ServiceUnavailableException`, other 5xx,
//! connection errors and timeouts retry them; `ResourceNotFoundException` creates the
//! missing stream (and group), ignoring `ResourceAlreadyExistsException`, and sends the
//! call again at once; `InvalidParameterException` and other client errors send them to
//! the dead-letter file with AWS's message. Events named in the response's
//! `rejectedLogEventsInfo` (too old, too new, expired) are dead-lettered too.
//!
//! **Records CloudWatch would refuse are never sent.** [`Protocol::encode`] has no
//! metrics handle, so `send` refuses them itself, as rejected items: they are counted in
//! the sink's `failed_events` and `dead_letter_events` metrics and written to the
//! dead-letter file with the reason:
//! - older than 14 days: `older than 14 days`;
//! - more than 2 hours ahead of this machine's clock: `more than 2 hours in the future`;
//! - a message over 1,048,550 bytes (1 MiB less the 26-byte overhead): dead-lettered,
//!   not truncated — a truncated JSON document is no longer JSON, and the dead-letter
//!   file keeps the whole record for replay.
//!
//! Group and stream names are sent as rendered; a name CloudWatch does not accept
//! (e.g. a `:` in a stream name) is refused with `InvalidParameterException`, which
//! dead-letters its records with that message.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::config::Region;
use aws_sdk_cloudwatchlogs::config::http::HttpResponse;
use aws_sdk_cloudwatchlogs::config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::{InputLogEvent, RejectedLogEventsInfo};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentFuture, SinkConfig, SinkContext};
use lookout_config::{ComponentDecl, ConfigErrors};
use lookout_event::{Batch, FieldPath, encode};
use serde::Deserialize;

use crate::Error;
use crate::delivery::{
    self, BatchSettings, Endpoint, EndpointSpec, HealthCheckSettings, Item, Protocol, SendError, Sent,
};
use crate::destination;
use crate::template::Template;

mod plan;

pub use plan::{Event, MAX_BATCH_BYTES, MAX_EVENT_BYTES, MAX_EVENTS, MAX_SPAN_MS, OVERHEAD, age_verdict, plan};

crate::network_sink_config! {
    /// `type: cloudwatch_logs`
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CloudWatchLogsConfig {
        /// Log group name template.
        pub group: String,
        /// Log stream name template.
        pub stream: String,
        /// AWS region (default: the SDK's chain, else `us-east-1`).
        #[serde(default)]
        pub region: Option<String>,
        /// Service URL override.
        #[serde(default)]
        pub endpoint: Option<String>,
        /// Create a missing log group.
        #[serde(default = "default_true")]
        pub create_missing_group: bool,
        /// Create a missing log stream.
        #[serde(default = "default_true")]
        pub create_missing_stream: bool,
        /// Batching (default: CloudWatch's own limits, 10,000 events and 1 MiB).
        #[serde(default = "default_batch")]
        pub batch: BatchSettings,
        /// The sink's buffer.
        #[serde(default)]
        pub buffer: BufferConfig,
    }
    delivery { request, circuit_breaker, dead_letter }
}

fn default_true() -> bool {
    true
}

fn default_batch() -> BatchSettings {
    BatchSettings { max_events: MAX_EVENTS, max_bytes: MAX_BATCH_BYTES, ..BatchSettings::default() }
}

impl CloudWatchLogsConfig {
    fn templates(&self) -> Result<(Template, Template), Error> {
        Ok((Template::parse(&self.group)?, Template::parse(&self.stream)?))
    }

    fn endpoint_spec(&self) -> EndpointSpec {
        EndpointSpec::Url(self.endpoint.clone().unwrap_or_else(|| "aws".into()))
    }
}

impl SinkConfig for CloudWatchLogsConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        if self.group.trim().is_empty() || self.stream.trim().is_empty() {
            return Err(decl.error("a cloudwatch_logs sink needs non-empty `group` and `stream`").into());
        }
        if let Some(e) = &self.endpoint
            && !e.starts_with("http://")
            && !e.starts_with("https://")
        {
            return Err(decl
                .error(format!("endpoint `{}` must start with http:// or https://", lookout_config::redact_url(e)))
                .into());
        }
        if self.region.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(decl.error("`region` is empty").into());
        }
        self.templates().map_err(|e| ConfigErrors::from(decl.error(e.to_string())))?;
        Ok(())
    }

    fn buffer(&self) -> BufferConfig {
        self.buffer
    }

    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            let (group, stream) = config.templates()?;
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
            loader = match &config.region {
                Some(r) => loader.region(Region::new(r.clone())),
                None => loader.region(
                    aws_config::meta::region::RegionProviderChain::default_provider().or_else(Region::new("us-east-1")),
                ),
            };
            if let Some(url) = &config.endpoint {
                loader = loader.endpoint_url(url.trim_end_matches('/'));
            }
            let shared = loader.load().await;
            // The driver retries (with backoff, a time limit and dead letters): no second layer.
            let client_config =
                aws_sdk_cloudwatchlogs::config::Builder::from(&shared).retry_config(RetryConfig::disabled()).build();
            let protocol = PutLogEvents {
                client: Client::from_conf(client_config),
                group,
                stream,
                create_group: config.create_missing_group,
                tenant_field: FieldPath::tenant(),
                create_stream: config.create_missing_stream,
            };
            // `endpoint` here is the AWS service URL override, not a delivery endpoint
            // list, and `batch` defaults to CloudWatch's own limits: both are this sink's keys.
            let delivery = delivery::DeliveryConfig {
                endpoints: vec![config.endpoint_spec()],
                batch: config.batch.clone(),
                health_check: HealthCheckSettings::disabled(),
                ..config.delivery()
            };
            Ok(delivery::component(cx, protocol, delivery.settings()))
        }
        .boxed()
    }
}

/// The `PutLogEvents` protocol.
pub struct PutLogEvents {
    client: Client,
    group: Template,
    stream: Template,
    create_group: bool,
    create_stream: bool,
    tenant_field: FieldPath,
}

/// Separates group and stream in [`Item::route`] (and so in dead letters:
/// `/lookout/shop:web-1-2026-11-20`). Neither a group nor a stream name may contain
/// `:`, so splitting at the first one is exact for every name CloudWatch accepts.
const ROUTE_SEP: char = ':';

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Why a route (`<refusal>:<stream>`) was refused, if it was: the reason without the
/// stream (stream names hold no `:`).
fn refusal_of(route: &str) -> Option<&str> {
    let why = route.strip_prefix(destination::REFUSED)?;
    Some(why.rsplit_once(ROUTE_SEP).map_or(why, |(why, _)| why))
}

impl Protocol for PutLogEvents {
    fn encode(&self, batch: &Batch, items: &mut Vec<Item>) {
        let promote = batch.meta.promote.as_deref();
        let fallback = batch.meta.received_unix_nano;
        let received_at = batch.meta.received_at;
        // One buffer for the whole batch; each item is a slice of it.
        let mut buf = Vec::with_capacity(batch.len() * 512);
        let mut spans = Vec::with_capacity(batch.len());
        let mut routes: HashMap<String, Arc<str>> = HashMap::new();
        let (mut route, mut stream) = (String::new(), String::new());
        let mut verdicts = destination::Verdicts::new(destination::Kind::LogGroup);
        batch.for_each(|r| {
            let time = match r.time_unix_nano() {
                0 => fallback,
                t => t,
            };
            let start = buf.len();
            encode::write_record(&mut buf, &r, promote, fallback);
            self.group.render(&r, time, "unknown", &mut route);
            self.stream.render(&r, time, "unknown", &mut stream);
            // Names from record fields are made valid CloudWatch names; a group outside
            // the record's tenant's `destinations.log_groups` is refused (and so never
            // created by `create_missing_group`).
            destination::log_group(&mut route);
            destination::log_stream(&mut stream);
            if verdicts.active() {
                let tenant = r.get(&self.tenant_field);
                if let Some(refused) = verdicts.refused(tenant.as_ref().and_then(|v| v.as_str()), &route) {
                    route.clear();
                    route.push_str(&refused);
                }
            }
            route.push(ROUTE_SEP);
            route.push_str(&stream);
            let route = match routes.get(route.as_str()) {
                Some(a) => a.clone(),
                None => routes.entry(route.clone()).or_insert_with(|| Arc::from(route.as_str())).clone(),
            };
            spans.push((start, buf.len(), route, time));
        });
        let buf = Bytes::from(buf);
        items.extend(spans.into_iter().map(|(start, end, route, time_unix_nano)| Item {
            doc: buf.slice(start..end),
            route,
            id: None,
            time_unix_nano,
            received_at,
            origin: None,
            ack: None,
        }));
    }

    fn send(&self, _endpoint: &Endpoint, items: &[Item]) -> BoxFuture<'static, Result<Sent, SendError>> {
        let now = now_ms();
        let mut sent = Sent::default();
        // Records CloudWatch would refuse are refused here; the rest are planned.
        let mut events = Vec::with_capacity(items.len());
        let mut index = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let timestamp_ms = (item.time_unix_nano / 1_000_000) as i64;
            if let Some(why) = refusal_of(&item.route) {
                sent.rejected.push((i, why.to_string()));
            } else if item.doc.len() > MAX_EVENT_BYTES {
                let why = format!("message of {} bytes is over CloudWatch's {MAX_EVENT_BYTES}", item.doc.len());
                sent.rejected.push((i, why));
            } else if let Some(why) = age_verdict(timestamp_ms, now) {
                sent.rejected.push((i, why.to_string()));
            } else {
                events.push(Event { route: &item.route, timestamp_ms, bytes: item.doc.len() });
                index.push(i);
            }
        }
        let calls: Vec<Call> = plan(&events)
            .into_iter()
            .map(|call| {
                let route = events[call[0]].route;
                let (group, stream) = route.split_once(ROUTE_SEP).unwrap_or((route, ""));
                let events = call
                    .iter()
                    .map(|&e| {
                        let item = &items[index[e]];
                        InputLogEvent::builder()
                            .timestamp(events[e].timestamp_ms)
                            .message(String::from_utf8_lossy(&item.doc).into_owned())
                            .build()
                            .expect("timestamp and message are set")
                    })
                    .collect();
                Call {
                    group: group.to_string(),
                    stream: stream.to_string(),
                    items: call.iter().map(|&e| index[e]).collect(),
                    events,
                }
            })
            .collect();
        let client = self.client.clone();
        let (create_group, create_stream) = (self.create_group, self.create_stream);
        async move {
            let outcomes =
                futures::future::join_all(calls.iter().map(|c| put(&client, c, create_group, create_stream))).await;
            let mut transient = None;
            let mut all_transient = !calls.is_empty() && sent.rejected.is_empty();
            for (call, outcome) in calls.iter().zip(outcomes) {
                match outcome {
                    Outcome::Delivered(None) => all_transient = false,
                    Outcome::Delivered(Some(info)) => {
                        all_transient = false;
                        for (k, why) in rejected_events(&info, call.items.len()) {
                            sent.rejected.push((call.items[k], why.to_string()));
                        }
                    }
                    Outcome::Retry(why) => {
                        sent.retry.extend_from_slice(&call.items);
                        transient.get_or_insert(why);
                    }
                    Outcome::Reject(why) => {
                        all_transient = false;
                        sent.rejected.extend(call.items.iter().map(|&i| (i, why.clone())));
                    }
                }
            }
            // Nothing got through: an endpoint failure (it counts against the breaker).
            match transient {
                Some(why) if all_transient => Err(SendError::Retryable(why)),
                _ => Ok(sent),
            }
        }
        .boxed()
    }
}

/// One planned `PutLogEvents` call.
struct Call {
    group: String,
    stream: String,
    /// Indexes into the slice sent, in the order of `events`.
    items: Vec<usize>,
    events: Vec<InputLogEvent>,
}

/// What became of one call.
enum Outcome {
    /// Accepted, perhaps except the events named.
    Delivered(Option<RejectedLogEventsInfo>),
    /// Worth retrying.
    Retry(String),
    /// Refused for good.
    Reject(String),
}

/// How an AWS error is handled.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Retry,
    Missing,
    Reject,
}

/// Classifies a service error by its code and HTTP status.
fn classify(code: Option<&str>, status: u16) -> Verdict {
    match code {
        Some("ResourceNotFoundException") => Verdict::Missing,
        Some(
            "ThrottlingException"
            | "ServiceUnavailableException"
            | "OperationAbortedException"
            | "RequestTimeout"
            | "RequestTimeoutException"
            | "ExpiredTokenException"
            | "InternalFailure"
            | "LimitExceededException",
        ) => Verdict::Retry,
        _ if status == 429 || status >= 500 => Verdict::Retry,
        _ => Verdict::Reject,
    }
}

/// Reads an SDK error: how to handle it, and the message for logs and dead letters.
fn read_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, HttpResponse>,
    what: &str,
) -> (Verdict, String) {
    match e {
        SdkError::ServiceError(s) => {
            let code = s.err().code();
            let status = s.raw().status().as_u16();
            let message = format!(
                "{what}: {} (HTTP {status}): {}",
                code.unwrap_or("error"),
                s.err().message().unwrap_or("no message")
            );
            (classify(code, status), message)
        }
        SdkError::ConstructionFailure(_) => (Verdict::Reject, format!("{what}: {}", DisplayErrorContext(e))),
        // Dispatch failures, timeouts, unreadable responses: transient.
        _ => (Verdict::Retry, format!("{what}: {}", DisplayErrorContext(e))),
    }
}

/// Sends one call; on `ResourceNotFoundException` creates what is missing and sends it
/// once more.
async fn put(client: &Client, call: &Call, create_group: bool, create_stream: bool) -> Outcome {
    let mut created = false;
    loop {
        let result = client
            .put_log_events()
            .log_group_name(&call.group)
            .log_stream_name(&call.stream)
            .set_log_events(Some(call.events.clone()))
            .send()
            .await;
        let e = match result {
            Ok(out) => return Outcome::Delivered(out.rejected_log_events_info().cloned()),
            Err(e) => e,
        };
        let what = format!("PutLogEvents to group `{}` stream `{}`", call.group, call.stream);
        match read_error(&e, &what) {
            (Verdict::Missing, why) if created => return Outcome::Retry(why),
            (Verdict::Missing, why) => {
                if !create_stream {
                    return Outcome::Reject(format!("{why} (create_missing_stream is false)"));
                }
                if let Err(o) = create(client, &call.group, &call.stream, create_group).await {
                    return o;
                }
                created = true;
            }
            (Verdict::Retry, why) => return Outcome::Retry(why),
            (Verdict::Reject, why) => return Outcome::Reject(why),
        }
    }
}

/// Creates the stream, and the group first if the stream cannot be made without it.
async fn create(client: &Client, group: &str, stream: &str, create_group: bool) -> Result<(), Outcome> {
    let what = format!("CreateLogStream `{stream}` in group `{group}`");
    let e = match client.create_log_stream().log_group_name(group).log_stream_name(stream).send().await {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    match read_error(&e, &what) {
        _ if e.code() == Some("ResourceAlreadyExistsException") => return Ok(()),
        (Verdict::Missing, why) if !create_group => {
            return Err(Outcome::Reject(format!("{why} (create_missing_group is false)")));
        }
        (Verdict::Missing, _) => {}
        (Verdict::Retry, why) => return Err(Outcome::Retry(why)),
        (Verdict::Reject, why) => return Err(Outcome::Reject(why)),
    }
    if let Err(e) = client.create_log_group().log_group_name(group).send().await
        && e.code() != Some("ResourceAlreadyExistsException")
    {
        return Err(match read_error(&e, &format!("CreateLogGroup `{group}`")) {
            (Verdict::Reject, why) => Outcome::Reject(why),
            (_, why) => Outcome::Retry(why),
        });
    }
    match client.create_log_stream().log_group_name(group).log_stream_name(stream).send().await {
        Err(e) if e.code() != Some("ResourceAlreadyExistsException") => Err(match read_error(&e, &what) {
            (Verdict::Reject, why) => Outcome::Reject(why),
            (_, why) => Outcome::Retry(why),
        }),
        _ => Ok(()),
    }
}

/// The events of a call (positions in its sorted order) that `rejectedLogEventsInfo`
/// names, with why.
fn rejected_events(info: &RejectedLogEventsInfo, n: usize) -> Vec<(usize, &'static str)> {
    let clamp = |i: Option<i32>| i.map(|i| (i.max(0) as usize).min(n));
    let mut out: Vec<(usize, &'static str)> = Vec::new();
    let mut named = vec![false; n];
    let mut mark = |range: std::ops::Range<usize>, why: &'static str, out: &mut Vec<(usize, &'static str)>| {
        for k in range {
            if !std::mem::replace(&mut named[k], true) {
                out.push((k, why));
            }
        }
    };
    if let Some(end) = clamp(info.too_old_log_event_end_index()) {
        mark(0..end, "CloudWatch refused it: too old", &mut out);
    }
    if let Some(end) = clamp(info.expired_log_event_end_index()) {
        mark(0..end, "CloudWatch refused it: older than the group's retention", &mut out);
    }
    if let Some(start) = clamp(info.too_new_log_event_start_index()) {
        mark(start..n, "CloudWatch refused it: too far in the future", &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_retried_created_or_refused() {
        assert_eq!(classify(Some("ThrottlingException"), 400), Verdict::Retry);
        assert_eq!(classify(Some("ServiceUnavailableException"), 503), Verdict::Retry);
        assert_eq!(classify(None, 502), Verdict::Retry);
        assert_eq!(classify(Some("Whatever"), 429), Verdict::Retry);
        assert_eq!(classify(Some("ResourceNotFoundException"), 400), Verdict::Missing);
        assert_eq!(classify(Some("InvalidParameterException"), 400), Verdict::Reject);
        assert_eq!(classify(Some("UnrecognizedClientException"), 400), Verdict::Reject);
    }

    #[test]
    fn rejected_log_events_info_names_events_once() {
        let info = RejectedLogEventsInfo::builder()
            .too_old_log_event_end_index(2)
            .expired_log_event_end_index(3)
            .too_new_log_event_start_index(8)
            .build();
        let got = rejected_events(&info, 10);
        let idx: Vec<usize> = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(idx, vec![0, 1, 2, 8, 9], "end indexes exclusive, start index inclusive");
        assert!(got[0].1.contains("too old") && got[2].1.contains("retention") && got[3].1.contains("future"));
        let out_of_range = RejectedLogEventsInfo::builder().too_new_log_event_start_index(50).build();
        assert!(rejected_events(&out_of_range, 3).is_empty());
        assert!(rejected_events(&RejectedLogEventsInfo::builder().build(), 3).is_empty());
    }

    /// The protocol with `group` and `stream` templates and an offline client.
    fn put_log_events(group: &str, stream: &str) -> PutLogEvents {
        PutLogEvents {
            client: Client::from_conf(
                aws_sdk_cloudwatchlogs::Config::builder()
                    .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
                    .region(Region::new("us-east-1"))
                    .build(),
            ),
            group: Template::parse(group).unwrap(),
            stream: Template::parse(stream).unwrap(),
            create_group: true,
            create_stream: true,
            tenant_field: FieldPath::tenant(),
        }
    }

    #[test]
    fn encode_routes_by_group_and_stream_and_the_batch_default_is_cloudwatchs() {
        let protocol = put_log_events("/lookout/{service.name}", "{host.name}-%Y-%m-%d");
        let mut items = Vec::new();
        protocol.encode(&crate::test_util::logs(3), &mut items);
        assert_eq!(items.len(), 3);
        assert_eq!(&*items[0].route, "/lookout/svc:unknown-2023-11-14");
        assert!(Arc::ptr_eq(&items[0].route, &items[2].route), "routes are shared");
        let doc: serde_json::Value = serde_json::from_slice(&items[1].doc).unwrap();
        assert_eq!(doc["body"], "log 1");
        let b = default_batch();
        assert_eq!((b.max_events, b.max_bytes), (10_000, 1_048_576));
    }

    #[test]
    fn a_group_outside_the_tenants_log_groups_is_refused_once_per_batch() {
        let _t = destination::tenant_for_tests("cw-unit", "{log_groups: [\"/shop/*\"]}");
        let protocol = put_log_events("/{attributes.idx}/app", "s");
        let mut items = Vec::new();
        protocol.encode(&destination::tenant_logs("cw-unit", &["shop", "blog", "shop", "blog"]), &mut items);
        assert_eq!(&*items[0].route, "/shop/app:s");
        assert!(Arc::ptr_eq(&items[1].route, &items[3].route));
        // What `send` dead-letters them with (before any request, so no group is created).
        assert_eq!(refusal_of(&items[0].route), None);
        assert_eq!(
            refusal_of(&items[1].route),
            Some("destination `/blog/app` is not in tenant `cw-unit`'s destinations.log_groups")
        );
    }
}
