//! The shop: four services and what each of them emits over one tick.
//!
//! Every service is shaped to trip one of the shipped rules (`alert-rules/`) or the
//! shipped scaling policy (`scaling/api.yml`), so a newcomer sees each part work:
//!
//! | service | behaviour | shows |
//! |---|---|---|
//! | `payments` | its database refuses connections: ~1 "database connection refused" ERROR log a second (with the failing request's trace id) and ~20% 5xx | `DatabaseConnectionErrors` fires, `HighErrorRate` pending; evidence on the alert |
//! | `bookings` | a slow search (p95 ≈ 4 s) and a job queue that grows by ~15 jobs a second from 950 (past the rule's 1000 within seconds) | `SlowResponses` and `QueueBacklog` pending |
//! | `checkout` | a busy process (CPU ≈ 90%) on a host with 90% memory used | `HighCPU` and `HighMemoryUsage` pending |
//! | `api` | the front door, two replicas each using 120% of their CPU request | the `api` scaler's decision: 2 → 4 replicas (dry run) |
//!
//! Rules with `for:` stay pending for their 5 or 10 minutes, then fire.

use lookout_event::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_event::otlp::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, metric, number_data_point,
};
use lookout_event::otlp::resource::v1::Resource;
use lookout_event::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status};

/// The OpenTelemetry SDKs' default buckets for `http.server.request.duration`.
const BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

/// History sent with the first export of the CPU counter the scaler reads.
const BACKFILL_NS: u64 = 60_000_000_000;

/// One HTTP route of a service and how it behaves.
struct Route {
    method: &'static str,
    path: &'static str,
    /// Requests a second.
    rate: f64,
    /// Median latency, seconds (log-normal around it).
    median: f64,
    /// Share of requests answered 5xx.
    errors: f64,
}

/// One instance of a service.
struct Instance {
    service: &'static str,
    id: &'static str,
    routes: Vec<Route>,
    /// `http.server.request.duration` so far, per (route, status): bucket counts, sum, count.
    histograms: Vec<(usize, i64, [u64; BUCKETS.len() + 1], f64, u64)>,
    /// Seconds of CPU used so far (for the `container.cpu.usage` counter).
    cpu_seconds: f64,
}

/// The whole shop's state: cumulative counters, the queue, the clock.
pub struct Shop {
    instances: Vec<Instance>,
    started_ns: u64,
    queue: f64,
    /// Log and span counts of the last tick.
    pub last: Counts,
}

/// What one tick produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Log records.
    pub logs: usize,
    /// Spans.
    pub spans: usize,
    /// Metric data points.
    pub points: usize,
}

/// One tick's telemetry, as OTLP resources.
pub struct Tick {
    /// Log records.
    pub logs: Vec<ResourceLogs>,
    /// Spans.
    pub spans: Vec<ResourceSpans>,
    /// Metric points.
    pub metrics: Vec<ResourceMetrics>,
}

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue { value: Some(Value::StringValue(v.to_string())) })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue { key: key.to_string(), value, ..Default::default() }
}

fn int(v: i64) -> Option<AnyValue> {
    Some(AnyValue { value: Some(Value::IntValue(v)) })
}

fn route(method: &'static str, path: &'static str, rate: f64, median: f64, errors: f64) -> Route {
    Route { method, path, rate, median, errors }
}

fn instance(service: &'static str, id: &'static str, routes: Vec<Route>) -> Instance {
    Instance { service, id, routes, histograms: Vec::new(), cpu_seconds: 0.0 }
}

/// How many of something happen in `secs` at `rate` a second: the expectation,
/// rounded at random so small rates still happen.
fn how_many(rate: f64, secs: f64) -> usize {
    let expected = rate * secs;
    let whole = expected.floor();
    whole as usize + usize::from(fastrand::f64() < expected - whole)
}

/// A log-normal latency around `median` (σ = 0.6: p95 ≈ 2.7 × median).
fn latency(median: f64) -> f64 {
    // Box–Muller for a standard normal.
    let (u1, u2) = (fastrand::f64().max(1e-12), fastrand::f64());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (0.6 * z).exp()
}

fn random_id<const N: usize>() -> Vec<u8> {
    (0..N).map(|_| fastrand::u8(..)).collect()
}

fn resource(service: &str, id: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", s(service)),
            kv("service.instance.id", s(id)),
            kv("service.version", s("1.4.2")),
            kv("host.name", s(&format!("{id}.shop.internal"))),
        ],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "lookout-demo".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    })
}

fn gauge(name: &str, unit: &str, now: u64, points: Vec<(f64, Vec<KeyValue>)>) -> Metric {
    let data_points = points
        .into_iter()
        .map(|(v, attributes)| NumberDataPoint {
            attributes,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsDouble(v)),
            ..Default::default()
        })
        .collect();
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(metric::Data::Gauge(Gauge { data_points })),
        ..Default::default()
    }
}

impl Default for Shop {
    fn default() -> Self {
        Self::new()
    }
}

impl Shop {
    /// The shop at its opening.
    pub fn new() -> Shop {
        let started_ns = now_ns();
        let instances = vec![
            instance("api", "api-1", vec![route("GET", "/", 3.0, 0.04, 0.01)]),
            instance("api", "api-2", vec![route("GET", "/", 3.0, 0.04, 0.01)]),
            instance(
                "checkout",
                "checkout-1",
                vec![route("POST", "/checkout", 2.0, 0.3, 0.01), route("GET", "/cart", 4.0, 0.05, 0.0)],
            ),
            instance(
                "bookings",
                "bookings-1",
                vec![route("GET", "/bookings/search", 2.0, 2.0, 0.0), route("POST", "/bookings", 1.0, 0.2, 0.01)],
            ),
            instance("payments", "payments-1", vec![route("POST", "/payments", 3.0, 0.12, 0.2)]),
        ];
        Shop { instances, started_ns, queue: 950.0, last: Counts::default() }
    }

    /// What the shop emitted over the last `secs` seconds, stamped `now`.
    pub fn tick(&mut self, secs: f64) -> Tick {
        let now = now_ns();
        let mut tick = Tick { logs: Vec::new(), spans: Vec::new(), metrics: Vec::new() };
        self.queue += 15.0 * secs * (0.5 + fastrand::f64());
        let mut counts = Counts::default();
        for inst in &mut self.instances {
            let (spans, logs) = inst.requests(secs, now);
            counts.spans += spans.len();
            counts.logs += logs.len();
            let res = resource(inst.service, inst.id);
            tick.spans.push(ResourceSpans {
                resource: res.clone(),
                scope_spans: vec![ScopeSpans { scope: scope(), spans, ..Default::default() }],
                ..Default::default()
            });
            if !logs.is_empty() {
                tick.logs.push(ResourceLogs {
                    resource: res.clone(),
                    scope_logs: vec![ScopeLogs { scope: scope(), log_records: logs, ..Default::default() }],
                    ..Default::default()
                });
            }
            let metrics = inst.metrics(secs, now, self.started_ns, self.queue);
            counts.points += metrics.iter().map(points).sum::<usize>();
            tick.metrics.push(ResourceMetrics {
                resource: res,
                scope_metrics: vec![ScopeMetrics { scope: scope(), metrics, ..Default::default() }],
                ..Default::default()
            });
        }
        self.last = counts;
        tick
    }
}

fn points(m: &Metric) -> usize {
    match &m.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        _ => 0,
    }
}

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl Instance {
    /// The requests of one tick: a server span each (a failing database call as a
    /// child span on payments' errors), and the log lines they write.
    fn requests(&mut self, secs: f64, now: u64) -> (Vec<Span>, Vec<LogRecord>) {
        let (mut spans, mut logs, mut observed) = (Vec::new(), Vec::new(), Vec::new());
        for (r, route) in self.routes.iter().enumerate() {
            for _ in 0..how_many(route.rate, secs) {
                let took = latency(route.median);
                let failed = fastrand::f64() < route.errors;
                let status_code: i64 = if failed { 503 } else { 200 };
                let (trace_id, span_id) = (random_id::<16>(), random_id::<8>());
                let end = now - fastrand::u64(0..(secs * 1e9) as u64 + 1);
                let start = end.saturating_sub((took * 1e9) as u64);
                let name = format!("{} {}", route.method, route.path);
                spans.push(Span {
                    trace_id: trace_id.clone(),
                    span_id: span_id.clone(),
                    name: name.clone(),
                    kind: span::SpanKind::Server as i32,
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    attributes: vec![
                        kv("http.request.method", s(route.method)),
                        kv("http.route", s(route.path)),
                        kv("http.response.status_code", int(status_code)),
                    ],
                    status: failed
                        .then(|| Status { code: status::StatusCode::Error as i32, message: "upstream failed".into() }),
                    ..Default::default()
                });
                if failed && self.service == "payments" {
                    let db_span = random_id::<8>();
                    spans.push(Span {
                        trace_id: trace_id.clone(),
                        span_id: db_span.clone(),
                        parent_span_id: span_id.clone(),
                        name: "connect payments-db".into(),
                        kind: span::SpanKind::Client as i32,
                        start_time_unix_nano: start,
                        end_time_unix_nano: start + 2_000_000,
                        attributes: vec![kv("db.system.name", s("postgresql")), kv("server.address", s("payments-db"))],
                        status: Some(Status {
                            code: status::StatusCode::Error as i32,
                            message: "connection refused".into(),
                        }),
                        ..Default::default()
                    });
                    logs.push(log(
                        end,
                        17,
                        "ERROR",
                        "database connection refused: connect to payments-db:5432 failed (ECONNREFUSED)",
                        &trace_id,
                        &db_span,
                        vec![kv("db.system.name", s("postgresql"))],
                    ));
                } else if failed {
                    let body = format!("{name} answered {status_code}: upstream timed out");
                    logs.push(log(
                        end,
                        17,
                        "ERROR",
                        &body,
                        &trace_id,
                        &span_id,
                        vec![kv("http.response.status_code", int(status_code))],
                    ));
                } else if took > 3.0 {
                    let body = format!("slow request: {name} took {took:.1}s");
                    logs.push(log(end, 13, "WARN", &body, &trace_id, &span_id, vec![kv("http.route", s(route.path))]));
                } else if fastrand::u8(..10) == 0 {
                    let body = format!("{name} {status_code} in {:.0}ms", took * 1000.0);
                    logs.push(log(end, 9, "INFO", &body, &trace_id, &span_id, vec![kv("http.route", s(route.path))]));
                }
                observed.push((r, status_code, took));
            }
        }
        for (r, status_code, took) in observed {
            self.observe(r, status_code, took);
        }
        (spans, logs)
    }

    fn observe(&mut self, route: usize, status_code: i64, took: f64) {
        let i = match self.histograms.iter().position(|h| h.0 == route && h.1 == status_code) {
            Some(i) => i,
            None => {
                self.histograms.push((route, status_code, [0; BUCKETS.len() + 1], 0.0, 0));
                self.histograms.len() - 1
            }
        };
        let h = &mut self.histograms[i];
        let bucket = BUCKETS.iter().position(|b| took <= *b).unwrap_or(BUCKETS.len());
        h.2[bucket] += 1;
        h.3 += took;
        h.4 += 1;
    }

    /// The metrics of one tick: the request histogram (cumulative), and the gauges
    /// and counters that feed the shipped rules and scaling policy.
    fn metrics(&mut self, secs: f64, now: u64, started: u64, queue: f64) -> Vec<Metric> {
        let data_points = self
            .histograms
            .iter()
            .map(|(r, code, buckets, sum, count)| HistogramDataPoint {
                attributes: vec![
                    kv("http.request.method", s(self.routes[*r].method)),
                    kv("http.route", s(self.routes[*r].path)),
                    kv("http.response.status_code", int(*code)),
                ],
                start_time_unix_nano: started,
                time_unix_nano: now,
                count: *count,
                sum: Some(*sum),
                bucket_counts: buckets.to_vec(),
                explicit_bounds: BUCKETS.to_vec(),
                ..Default::default()
            })
            .collect();
        let mut metrics = vec![Metric {
            name: "http.server.request.duration".into(),
            description: "Duration of HTTP server requests.".into(),
            unit: "s".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        }];
        let jitter = || fastrand::f64() * 0.04 - 0.02;
        let (memory, cpu) = match self.service {
            "checkout" => (0.90, 0.90),
            "payments" => (0.62, 0.35),
            _ => (0.55, 0.25),
        };
        metrics.push(gauge(
            "system.memory.utilization",
            "1",
            now,
            vec![
                (memory + jitter(), vec![kv("system.memory.state", s("used"))]),
                (1.0 - memory, vec![kv("system.memory.state", s("free"))]),
            ],
        ));
        metrics.push(gauge(
            "process.cpu.utilization",
            "1",
            now,
            vec![
                (cpu * 0.8 + jitter(), vec![kv("cpu.mode", s("user"))]),
                (cpu * 0.2, vec![kv("cpu.mode", s("system"))]),
            ],
        ));
        if self.service == "bookings" {
            metrics.push(gauge(
                "queue.jobs.pending",
                "{job}",
                now,
                vec![(queue.round(), vec![kv("queue", s("confirmations"))])],
            ));
        }
        if self.service == "api" {
            // What the `api` scaling policy reads, as cAdvisor and kube-state-metrics name it.
            let container = || kv("container", s("api"));
            let cpu_point = |t: u64, v: f64| NumberDataPoint {
                attributes: vec![container()],
                start_time_unix_nano: started.saturating_sub(BACKFILL_NS),
                time_unix_nano: t,
                value: Some(number_data_point::Value::AsDouble(v)),
                ..Default::default()
            };
            let mut cpu_points = Vec::new();
            if self.cpu_seconds == 0.0 {
                // The replicas were busy before the demo started: a minute of history, so
                // `rate(...[1m])` reads their real load at once instead of a ramp from zero
                // (which would look like an idle service to the scaler).
                for k in (1..=4u64).rev() {
                    let t = now.saturating_sub(k * BACKFILL_NS / 4);
                    cpu_points.push(cpu_point(t, 0.6 * (BACKFILL_NS - k * BACKFILL_NS / 4) as f64 / 1e9));
                }
                self.cpu_seconds = 0.6 * BACKFILL_NS as f64 / 1e9;
            }
            self.cpu_seconds += secs * (0.6 + jitter());
            cpu_points.push(cpu_point(now, self.cpu_seconds));
            metrics.push(gauge("up", "", now, vec![(1.0, vec![])]));
            metrics.push(Metric {
                name: "container.cpu.usage".into(),
                unit: "s".into(),
                data: Some(metric::Data::Sum(Sum {
                    data_points: cpu_points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })),
                ..Default::default()
            });
            metrics.push(gauge(
                "container.memory.working_set",
                "By",
                now,
                vec![(300.0 * 1024.0 * 1024.0 * (1.0 + jitter()), vec![container()])],
            ));
            metrics.push(gauge(
                "kube_pod_container_resource_requests",
                "",
                now,
                vec![
                    (0.5, vec![container(), kv("resource", s("cpu"))]),
                    (512.0 * 1024.0 * 1024.0, vec![container(), kv("resource", s("memory"))]),
                ],
            ));
        }
        metrics
    }
}

fn log(
    time: u64,
    severity_number: i32,
    severity_text: &str,
    body: &str,
    trace_id: &[u8],
    span_id: &[u8],
    attributes: Vec<KeyValue>,
) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number,
        severity_text: severity_text.into(),
        body: s(body),
        attributes,
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_has_every_signal_and_the_db_errors() {
        let mut shop = Shop::new();
        let tick = shop.tick(10.0);
        assert!(shop.last.spans > 50 && shop.last.points > 20, "{:?}", shop.last);
        let bodies: Vec<String> = tick
            .logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .filter_map(|l| match l.body.as_ref()?.value.as_ref()? {
                Value::StringValue(b) => Some(b.clone()),
                _ => None,
            })
            .collect();
        assert!(bodies.iter().any(|b| b.starts_with("database connection refused")), "{bodies:?}");
        let names: Vec<&str> = tick
            .metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| m.name.as_str())
            .collect();
        for n in ["http.server.request.duration", "queue.jobs.pending", "container.cpu.usage", "up"] {
            assert!(names.contains(&n), "{n} in {names:?}");
        }
    }

    #[test]
    fn histograms_are_cumulative() {
        let mut shop = Shop::new();
        shop.tick(5.0);
        let first: u64 = shop.instances[4].histograms.iter().map(|h| h.4).sum();
        shop.tick(5.0);
        let second: u64 = shop.instances[4].histograms.iter().map(|h| h.4).sum();
        assert!(second > first && first > 0, "{first} then {second}");
    }
}
