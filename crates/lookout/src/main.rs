//! The `lookout` binary: parses flags, loads the pipeline, wires the stages together
//! and maps failures to exit codes (0 ok, 1 invalid config or failed run). Everything
//! else lives in the library crates.
//!
//! Signals: SIGTERM/SIGINT stop accepting, drain every buffer and exit; SIGHUP
//! re-reads the pipeline file and, only if it is valid, swaps the pipeline (drain the
//! old one, start the new one); an invalid file is reported and the running pipeline
//! keeps going.

mod alerting;
mod backtest;
mod cli;
mod demo;
mod telemetry;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use lookout_component::{Health, Shutdown, Taps, Telemetry};
use lookout_config::ConfigErrors;
use lookout_rules::engine::Engine;
use lookout_scaler::{FiringAlerts, ScalerService, StoreSource};
use lookout_topology::CheckedPipeline;
use lookout_tsdb::{StoreService, StoreSettings};
use tracing::{error, info, warn};

use crate::cli::{CheckTarget, Cli, Command, ConfigArg, ReplayTarget, RulesAction, RunArgs, ScaleAction, TestTarget};

/// The default pipeline, built in so `lookout run` works from any directory.
const EMBEDDED_DEFAULT: &str = include_str!("../../../pipelines/default.yaml");
const DEFAULT_PATH: &str = "pipelines/default.yaml";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => match args.target {
            Some(CheckTarget::Rules { files }) => check_rule_files(&files),
            None => match load(&args.config) {
                Ok((checked, name)) => {
                    for w in &checked.warnings {
                        eprintln!("warning: {w}");
                    }
                    let probes = match checked.probes.len() {
                        0 => String::new(),
                        n => format!(", {n} probes"),
                    };
                    println!(
                        "{name}: ok ({} sources, {} transforms, {} sinks{probes})",
                        checked.sources.len(),
                        checked.transforms.len(),
                        checked.sinks.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(errors) => report(&errors),
            },
        },
        Command::Test(args) => match args.target {
            TestTarget::Rules { files } => {
                let passed = lookout_rule_tests::run_files_split(
                    &files,
                    &mut std::io::stdout().lock(),
                    &mut std::io::stderr().lock(),
                );
                if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
            }
        },
        Command::Scale(args) => match args.action {
            ScaleAction::Simulate { file } => {
                let name = file.display().to_string();
                let text = match std::fs::read_to_string(&file) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("{name}:1:1: cannot read file: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                match lookout_scaler::simulate(&name, &text, &mut std::io::stdout().lock()) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(errors) => report(&errors),
                }
            }
        },
        Command::Replay(args) => match args.what {
            ReplayTarget::DeadLetter { file, sink, config } => replay_dead_letters(&config, &sink, &file),
        },
        Command::Rules(args) => match args.action {
            RulesAction::Backtest(b) => match backtest::run(b) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            },
        },
        Command::Components => {
            for (kind, name, description) in lookout_topology::registry().describe() {
                println!("{kind:<10} {name:<12} {description}");
            }
            ExitCode::SUCCESS
        }
        Command::Tap(args) => tap(args),
        Command::Demo(args) => demo::run(args),
        Command::Run(args) => {
            let (checked, _) = match load(&args.config) {
                Ok(c) => c,
                Err(errors) => return report(&errors),
            };
            match run(args, checked) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `lookout tap`: stream a component's records from a running Lookout to stdout.
fn tap(args: cli::TapArgs) -> ExitCode {
    let request = lookout_tap::client::TapRequest {
        api: args.api,
        component: args.component,
        condition: args.condition,
        limit: args.limit,
        rate: args.rate,
        token: args.token,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    let result = runtime.block_on(async {
        tokio::select! {
            r = lookout_tap::client::run(&request, &mut out, &mut err) => r.map(|_| ()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn report(errors: &ConfigErrors) -> ExitCode {
    eprintln!("{errors}");
    ExitCode::FAILURE
}

/// `lookout check rules`: promtool's report per file, errors as FILE:LINE:COL.
fn check_rule_files(files: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for f in files {
        println!("Checking {}", f.display());
        match lookout_rules::load_rule_file(f) {
            Ok(groups) => {
                let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                println!("  SUCCESS: {n} rules found\n");
            }
            Err(errors) => {
                ok = false;
                println!("  FAILED:");
                eprintln!("{errors}");
                println!();
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `lookout replay dead-letter FILE --sink NAME`: exit 0 when every record sent was
/// confirmed delivered.
fn replay_dead_letters(config: &ConfigArg, sink: &str, file: &Path) -> ExitCode {
    let (checked, _) = match load(config) {
        Ok(c) => c,
        Err(errors) => return report(&errors),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(lookout_topology::replay_dead_letters(&checked, sink, file)) {
        Ok(r) => {
            println!(
                "{}: {} lines, {} log records sent to sink `{sink}`: {} delivered, {} refused again, {} not confirmed; {} lines skipped (not log records)",
                file.display(),
                r.lines,
                r.sent,
                r.delivered,
                r.rejected,
                r.sent - r.delivered - r.rejected,
                r.skipped
            );
            if r.delivered == r.sent { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads and checks the pipeline named by `--config`, or the default one, with the
/// files it names.
fn load(args: &ConfigArg) -> Result<(CheckedPipeline, String), ConfigErrors> {
    let registry = lookout_topology::registry();
    let path = match &args.config {
        Some(p) => p.clone(),
        None if Path::new(DEFAULT_PATH).exists() => PathBuf::from(DEFAULT_PATH),
        None => {
            let name = format!("<embedded>/{DEFAULT_PATH}");
            let env = |k: &str| std::env::var(k).ok();
            let checked = lookout_topology::check_str(&name, EMBEDDED_DEFAULT, &env, &registry)?;
            return Ok((checked, name));
        }
    };
    let checked = lookout_topology::check(&path, &registry)?;
    check_web_config(&checked)?;
    Ok((checked, path.display().to_string()))
}

/// `api.web_config_file`, checked with the pipeline so `lookout check` and a reload
/// report it (FILE:LINE:COL).
fn check_web_config(checked: &CheckedPipeline) -> Result<(), ConfigErrors> {
    let Some(path) = web_config_path(checked) else { return Ok(()) };
    let file = path.display().to_string();
    let web = lookout_server::auth::load_web_config(&path)?;
    if let Some(tls) = &web.tls
        && let Err(e) = lookout_server::listener::Tls::check(tls)
    {
        let position = lookout_config::Position { file: file.as_str().into(), line: 1, column: 1 };
        return Err(lookout_config::ConfigError::new(position, format!("tls_server_config: {e}")).into());
    }
    Ok(())
}

/// `api.web_config_file`, a relative path read from the pipeline file's directory (as
/// `tenants_file` and TLS files are).
fn web_config_path(checked: &CheckedPipeline) -> Option<std::path::PathBuf> {
    let file = checked.config.api.web_config_file.as_deref()?;
    let dir = Path::new(&*checked.config.file).parent().unwrap_or(Path::new(""));
    Some(dir.join(file))
}

fn run(args: RunArgs, checked: CheckedPipeline) -> anyhow::Result<bool> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all().thread_name("lookout-worker");
    if let Some(n) = args.threads {
        runtime.worker_threads(n.max(1));
    }
    let runtime = runtime.build().context("cannot start the async runtime")?;
    let _guard = runtime.block_on(async { telemetry::init(&checked.config.telemetry) })?;
    runtime.block_on(serve(args, checked))
}

async fn serve(args: RunArgs, mut checked: CheckedPipeline) -> anyhow::Result<bool> {
    for w in &checked.warnings {
        warn!(message = %w, "Configuration warning.");
    }
    let started = Instant::now();
    let mut signals = Signals::install()?;
    let telemetry = Telemetry::new();
    // Per-tenant and ingest-authentication counters (`otlp` sources with `auth:`).
    telemetry.with_registry(lookout_ingest::register_metrics);
    // Error groups per state, occurrences, evictions (the `error_groups` sink).
    telemetry.with_registry(lookout_errors::register_metrics);
    let health = Health::default();
    // Tap points outlive reloads, so a running `lookout tap` keeps streaming across one.
    let taps = Taps::new();
    telemetry.with_registry(|r| taps.register_metrics(r));
    std::fs::create_dir_all(&checked.config.data_dir)
        .with_context(|| format!("cannot create data_dir `{}`", checked.config.data_dir))?;
    lookout_component::memory::set_limit(checked.config.limits.memory.map_or(0, |m| m.bytes()));

    let api_address = checked.config.api.address.clone();
    let listener = tokio::net::TcpListener::bind(&api_address)
        .await
        .with_context(|| format!("cannot listen on api.address {api_address}"))?;
    // The series store: opened (blocks loaded, WAL replayed) before anything reads or
    // writes it; damage inside is skipped and reported, never fatal.
    let settings = StoreSettings::from_config(&checked.config);
    let store = {
        let (s, dir) = (settings.clone(), PathBuf::from(&checked.config.data_dir));
        let opened = tokio::task::spawn_blocking(move || s.open(&dir)).await.context("cannot open the series store")?;
        Arc::new(opened.context("cannot open the series store")?)
    };
    let report = store.open_report();
    info!(
        blocks = report.blocks,
        series = report.replayed_series,
        samples = report.replayed_samples,
        "Series store opened."
    );
    let store_health = health.register("tsdb", "store", "tsdb");
    store_health.ready();
    if let Some(first) = report.corruptions.first() {
        store_health.set_state(lookout_component::ComponentState::Degraded(format!(
            "{} damaged part(s) of the store skipped at start, first: {first}",
            report.corruptions.len()
        )));
    }
    let store_service = telemetry.with_registry(|r| StoreService::start(store.clone(), settings, r))?;
    let audit = lookout_server::auth::AuditMetrics::new();
    telemetry.with_registry(|r| audit.register(r));
    let auth = match web_config_path(&checked) {
        Some(file) => lookout_server::auth::ApiAuth::from_file(&file, audit)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("invalid api.web_config_file")?,
        None => lookout_server::auth::ApiAuth::open(audit),
    };
    // web.yml's tls_server_config: the API over HTTPS (files re-read when they change).
    let api_tls = match auth.config().and_then(|c| c.tls) {
        Some(t) => Some(lookout_server::listener::Tls::new(t).context("api.web_config_file: tls_server_config")?),
        None => None,
    };
    // Where every link in a notification points: the UI on this API.
    let rules_external_url = checked.config.rules.as_ref().and_then(|r| r.external_url.as_deref());
    let external_url = checked.config.api.external_url(rules_external_url, api_tls.is_some());
    let routing = checked.routing.clone();
    let cluster = checked.notifier_cluster.clone();
    let alerting =
        alerting::Alerting::start(&checked.config, routing, cluster, store.clone(), &telemetry, &health, &external_url)
            .await?;
    let scaler = match checked.policies.take() {
        None => None,
        Some(policies) => {
            let rules = alerting.rules.clone();
            let firing: FiringAlerts = Arc::new(move || rules.as_ref().map(Engine::firing_alerts).unwrap_or_default());
            let source = Arc::new(StoreSource::new(store.clone(), firing));
            let data_dir = Path::new(&checked.config.data_dir);
            let service = telemetry.with_registry(|r| ScalerService::start(policies, data_dir, source, r))?;
            let moved_to = service.scaler().corrupt_state_moved_to();
            let handle = health.register("scaler", "scaler", "scaler");
            alerting::report_state_file(&handle, moved_to, "its scaling memory or decision history");
            Some(service)
        }
    };
    // Uptime probes: their own tasks, writing into the store the rules read.
    let probes = telemetry
        .with_registry(|r| lookout_probes::ProbeService::start(std::mem::take(&mut checked.probes), store.clone(), r));
    let mut router = alerting.router().merge(lookout_probes::api::router(probes.clone()));
    if let Some(s) = &scaler {
        router = router.merge(s.router());
    }
    // The Prometheus query API over the store (Grafana, promtool, generatorURL links).
    let query_api = lookout_query::QueryApi::new(store.clone())
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_metadata(store.clone());
    router = router.merge(telemetry.with_registry(|r| query_api.with_registry(r)).router());
    router = router.merge(lookout_tap::router(taps.clone()));
    let (reload_requests, mut api_reloads) = tokio::sync::mpsc::channel(4);
    router = router.merge(lookout_server::auth::reload::router(reload_requests));
    // Error groups (the `error_groups` sink's), listed and resolved on the API.
    router = router.merge(lookout_errors::api::router(&checked.config.data_dir));
    // The web UI: pages reading the API above, behind the same access control.
    router = router.merge(lookout_ui::router());
    let graph = lookout_server::pipeline::PipelineGraph::default();
    let api_shutdown = Shutdown::new();
    let state = lookout_server::ApiState::new(telemetry.clone(), health.clone(), env!("CARGO_PKG_VERSION"))
        .with_auth(auth.clone())
        .with_pipeline(graph.clone());
    // Lookout's own metrics into its own store, for dashboards/ (stops with the API).
    if let Some(every) = checked.config.telemetry.self_scrape_interval.filter(|d| !d.0.is_zero()) {
        let instance = api_address.clone();
        lookout_server::self_scrape::spawn(state.clone(), store.clone(), instance, every.0, api_shutdown.clone());
    }
    let api = tokio::spawn(lookout_server::serve_with(listener, state, router, api_tls, api_shutdown.clone()));
    info!(address = %api_address, "API listening.");

    let deadline = Duration::from_secs(args.shutdown_timeout);
    graph.set(checked.nodes.clone());
    let mut topology = lookout_topology::start(checked, &telemetry, &health, &taps, &store, Shutdown::new()).await?;
    info!(startup_ms = started.elapsed().as_millis() as u64, "Lookout is running.");

    let mut clean = true;
    loop {
        let signal = tokio::select! {
            s = signals.next() => s,
            Some(request) = api_reloads.recv() => Signal::ApiReload(request),
            () = topology.failed() => {
                error!("A component failed; stopping so that a supervisor can restart Lookout.");
                clean = false;
                break;
            }
        };
        let api_request = match signal {
            Signal::Stop => break,
            Signal::Reload => None,
            Signal::ApiReload(request) => Some(request),
        };
        alerting.reload().await;
        let web_config = auth.reload().map_err(|e| e.to_string());
        // A broken file never replaces the running pipeline.
        let mut checked = match load(&args.config) {
            Ok((c, _)) => c,
            Err(errors) => {
                for e in &errors.0 {
                    error!(error = %e, "Reload refused: the pipeline file is invalid; keeping the running pipeline.");
                }
                if let Some(r) = api_request {
                    r.done(Err(errors.to_string()));
                }
                continue;
            }
        };
        probes.reload(std::mem::take(&mut checked.probes));
        info!("Reloading: draining the running pipeline.");
        clean &= topology.stop(deadline).await;
        health.clear();
        graph.set(checked.nodes.clone());
        topology = match lookout_topology::start(checked, &telemetry, &health, &taps, &store, Shutdown::new()).await {
            Ok(t) => t,
            Err(e) => {
                error!(error = %e, "Reload failed to start the new pipeline.");
                return Ok(false);
            }
        };
        info!("Reloaded.");
        if let Some(r) = api_request {
            r.done(web_config);
        }
    }
    info!("Shutting down: no longer accepting; draining buffers.");
    clean &= topology.stop(deadline).await;
    // The rest (scaler, probes, rules and notifier, store, API) saves its state and stops at
    // once; bounded all the same, so the process always exits.
    let rest = async {
        if let Some(s) = scaler {
            s.stop().await;
        }
        probes.stop().await;
        alerting.stop().await;
        store_service.stop().await;
        api_shutdown.cancel();
        let _ = api.await;
    };
    if tokio::time::timeout(STOP_REST_WITHIN, rest).await.is_err() {
        error!(
            secs = STOP_REST_WITHIN.as_secs(),
            "The alerting, scaler, store or API did not stop in time; exiting anyway."
        );
        clean = false;
    }
    info!(clean, "Lookout stopped.");
    Ok(clean)
}

/// How long the parts that stop after the pipeline may take together.
const STOP_REST_WITHIN: Duration = Duration::from_secs(10);

enum Signal {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP: re-read the pipeline file.
    Reload,
    /// `POST /-/reload`: the same, answered when done.
    ApiReload(lookout_server::auth::reload::ReloadRequest),
}

/// The process signals Lookout acts on; installed once so none is missed between waits.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
