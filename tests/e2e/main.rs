//! End-to-end tests: each starts the real `lookout` binary in its own temp dir and
//! drives it over real sockets on 127.0.0.1.

/// Starting Lookout, finding free ports, reading its output.
mod util;

/// The OpenTelemetry Python SDK over gRPC and HTTP (gzip): every record arrives once, enriched.
mod python_sdk;

/// Malformed and oversized requests get clear errors and the process stays up.
mod bad_input;

/// `lookout check` reports FILE:LINE:COL for broken configs.
mod check;

/// Health, metrics, and graceful shutdown.
mod lifecycle;

/// parse_json → redact → sample → route through the binary, read at `route.output`.
mod transforms;

/// The elasticsearch sink against an OpenSearch-compatible server: delivery, dead
/// letters for mapping conflicts, retries through 503s, a dead endpoint, a late peer.
mod elasticsearch;

/// Index templates and lifecycles (ILM, ISM, data stream lifecycle) the elasticsearch
/// sink installs; data streams and gzip end to end.
mod es_templates;

/// Scaling out over NATS JetStream: a nats sink, two workers sharing a durable
/// consumer, `kill -9` of one under load loses nothing acknowledged.
mod nats;

/// The same two tiers on a 3-server JetStream cluster (stream with 3 replicas): `kill -9`
/// of a processing worker and of the stream's leading server under load loses nothing
/// acknowledged.
mod nats_cluster;

/// nats-server peers (one server or a cluster), the two tiers' pipelines and sequenced
/// OTLP load, shared by the NATS tests.
mod nats_util;

/// The notifier cluster: two replicas over a shared JetStream bucket notify once per
/// group, share silences, and keep notifying after `kill -9` of the one that sent.
mod notify_cluster;

/// The scaler in HA: two Lookouts, one lease in NATS: only the holder calls the webhook,
/// `kill -9` of it hands over within the TTL with the stabilisation window intact.
mod scaler_lease;

/// The otlp sink: one Lookout forwarding to another over OTLP/HTTP and OTLP/gRPC.
mod forward;

/// A Splunk HEC test double (written from Splunk's HEC docs) for the splunk_hec tests.
mod hec_receiver;

/// The splunk_hec sink against the HEC test double: metadata templates, exactly-once
/// delivery, indexer acknowledgements, resends, retries through 503s, dead letters.
mod splunk;

/// The cloudwatch_logs sink against moto: delivery, ordering, stale records dead-lettered.
mod cloudwatch;

/// The alert engine in the binary: rules over series from logs and OTLP metrics, the
/// Prometheus-shaped API, reload that keeps good rules, state across a restart, and the
/// shipped rules' unit tests (checked against promtool).
mod alerts;

/// Evidence end to end: log lines with trace ids → a derived series with exemplars → an
/// alert whose webhook payload, `$evidence` template and API entry name them.
mod evidence;

/// Rules evaluated on Debian's Prometheus through its query API, fed by remote write.
mod remote_rules;

/// The prometheus_remote_write sink into Debian's Prometheus and VictoriaMetrics: SDK deltas,
/// exponential histograms and exemplars exact; Prometheus down across a restart (disk buffer); a 400.
mod remote_write;

/// The scaler in the binary (decisions from OTLP metrics on /api/v1/scaler and /metrics)
/// and `lookout scale simulate` on the shipped timelines.
mod scaling;

/// The scaler on AWS against moto: an Auto Scaling group resized within its limits through
/// throttling and a cooldown refusal; ALB target health as series and an alert.
mod aws_scaling;
/// Test doubles of Google's OAuth token endpoint and Compute Engine managed instance groups,
/// and of Microsoft Entra ID and Azure Resource Manager scale sets (written from their API
/// references), for the cloud actuators.
mod azure_receiver;
mod gcp_receiver;

/// The scaler resizing a GCP managed instance group and an Azure scale set from OTLP metrics:
/// tokens, 401 refresh, 429 retries, a refused change on /api/v1/scaler and /metrics.
mod cloud_groups;

/// `kill -9` at random moments under load with disk buffers and acknowledgements:
/// every acknowledged record arrives, in the file and in the store.
mod crash;

/// Garbage in every state file under data_dir: moved aside, reported degraded on /health,
/// Lookout starts anyway and the next start is clean.
mod state;

/// SIGTERM with a dead store then a restart, a full disk under a disk buffer, and dead
/// letters replayed once their cause is fixed: nothing acknowledged is lost.
mod durability;

/// Ingest authentication and tenants: tokens from the Python SDK, 401/UNAUTHENTICATED,
/// one tenant flooding past its limit while another is never slowed, per-tenant counters.
mod tenants;

/// TLS on the OTLP listeners: the Python SDK over TLS and mTLS, plain-text and untrusted
/// clients refused, certificates rotated on disk, bad certificate files refused at start.
mod tls;

/// Credentials planted in every config file and YAML style never appear in `lookout
/// check`, debug logs, `/api/v2/status` or any other API, or `/metrics`.
mod secrets;

/// `api.web_config_file` (Prometheus's web.yml with roles): the role matrix over every API
/// route, amtool and Prometheus with basic auth, the anonymous silence refused, the audit trail.
mod api_auth;

/// The README's complete "Securing Lookout" example, as written: ingest over TLS with tenant
/// tokens (the Python SDK), the API over HTTPS with web.yml roles, and `lookout check`.
mod securing;

/// The Prometheus query API against Debian's Prometheus fed the same data: a few hundred
/// generated queries, promtool, and Grafana's requests answered alike.
mod query_api;

/// `lookout rules backtest`: the shipped rules over a recorded incident, promtool's
/// verdicts, and the same replay against Debian's Prometheus.
mod backtest;

/// The embedded series store: samples survive `kill -9`; a damaged WAL segment is
/// skipped and reported on /metrics and /health.
mod store;

/// Error tracking: exceptions recorded by the OpenTelemetry Python SDK grouped by
/// fingerprint, the API's filters and state changes, regressions (series and the shipped
/// alert), and the groups across a restart.
mod errors;

/// The web UI in headless Chromium (playwright-core): alerts, a silence made in the
/// form, Explore from a generatorURL, live pipeline rates, backtests, scaler; the
/// pages behind web.yml's users.
mod ui;

/// Uptime probes against local HTTP, HTTPS (a certificate expiring in 10 days), TCP and a
/// closed port: blackbox_exporter's series, thresholds, the shipped EndpointDown rule
/// reaching a webhook, a reload, and `lookout check` on bad probes.
mod probes;

/// `lookout tap`: filtered, limited and rate-limited streams of a transform's output and
/// a sink's input, across a reload; clear errors for unknown components and the 17th tap.
mod tap;

/// `lookout demo` against the default pipeline: records, series, alerts and a scaler
/// decision; every PromQL expression of dashboards/ returns data; every field the
/// Kibana saved objects name exists in what the elasticsearch sink wrote.
mod demo;

/// compose/ stacks accepted by `docker-compose config`; the Dockerfile by hadolint.
mod compose;

/// deploy/kubernetes/ without a cluster: Kubernetes' schemas, kustomize, references
/// between objects, the ConfigMap'd pipelines through `lookout check`, the NATS config
/// forming a 3-server JetStream cluster.
mod deploy;

/// The http_server source: bodies shaped as curl, Vector, Fluent Bit (gzip) and Logstash
/// send them, zstd, text; malformed, oversized and unauthenticated bodies refused whole.
/// The syslog source: RFC 5424 / 3164 examples over TCP (both framings), UDP, TLS and logger(1).
mod sources;

/// The file source: rotation by rename and copytruncate, replacement, multi-line
/// records, and `kill -9` mid-stream without a lost line.
mod file_source;
/// The vector source: Vector's native gRPC protocol; logs to a file sink, counters and
/// gauges and histograms queryable; traces, undecodable and oversized requests refused;
/// with auth a token is required and its tenant stamped, with acknowledgements the answer
/// waits for the file sink.
mod vector_source;
