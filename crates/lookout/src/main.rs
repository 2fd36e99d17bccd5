//! The `lookout` binary: parses flags, loads the pipeline, wires the stages together
//! and maps failures to exit codes (0 ok, 1 invalid config or failed run). Everything
//! else lives in the library crates.
//!
//! Signals: SIGTERM/SIGINT stop accepting, drain every buffer and exit; SIGHUP
//! re-reads the pipeline file and, only if it is valid, swaps the pipeline (drain the
//! old one, start the new one); an invalid file is reported and the running pipeline
//! keeps going.

mod alerting;
mod cli;
mod telemetry;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use lookout_component::{Health, Shutdown, Telemetry};
use lookout_config::ConfigErrors;
use lookout_rules::engine::Engine;
use lookout_scaler::{FiringAlerts, ScalerService, StoreSource};
use lookout_topology::CheckedPipeline;
use lookout_tsdb::{StoreService, StoreSettings};
use tracing::{error, info, warn};

use crate::cli::{CheckTarget, Cli, Command, ConfigArg, ReplayTarget, RunArgs, ScaleAction, TestTarget};

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
                    println!(
                        "{name}: ok ({} sources, {} transforms, {} sinks)",
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
        Command::Components => {
            for (kind, name, description) in lookout_topology::registry().describe() {
                println!("{kind:<10} {name:<12} {description}");
            }
            ExitCode::SUCCESS
        }
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
    Ok((checked, path.display().to_string()))
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
    let health = Health::default();
    std::fs::create_dir_all(&checked.config.data_dir)
        .with_context(|| format!("cannot create data_dir `{}`", checked.config.data_dir))?;
    lookout_component::memory::set_limit(checked.config.limits.memory.map_or(0, |m| m.bytes()));

    let api_address = checked.config.api.address.clone();
    let listener = tokio::net::TcpListener::bind(&api_address)
        .await
        .with_context(|| format!("cannot listen on api.address {api_address}"))?;
    let store = lookout_tsdb::shared();
    let settings = StoreSettings::from_config(&checked.config);
    let store_service = telemetry.with_registry(|r| StoreService::start(store.clone(), settings, r))?;
    let routing = checked.routing.clone();
    let alerting = alerting::Alerting::start(&checked.config, routing, store.clone(), &telemetry, &health).await?;
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
    let mut router = alerting.router();
    if let Some(s) = &scaler {
        router = router.merge(s.router());
    }
    let api_shutdown = Shutdown::new();
    let state = lookout_server::ApiState::new(telemetry.clone(), health.clone(), env!("CARGO_PKG_VERSION"));
    let api = tokio::spawn(lookout_server::serve_with(listener, state, router, api_shutdown.clone()));
    info!(address = %api_address, "API listening.");

    let deadline = Duration::from_secs(args.shutdown_timeout);
    let mut topology = lookout_topology::start(checked, &telemetry, &health, Shutdown::new()).await?;
    info!(startup_ms = started.elapsed().as_millis() as u64, "Lookout is running.");

    let mut clean = true;
    loop {
        let signal = tokio::select! {
            s = signals.next() => s,
            () = topology.failed() => {
                error!("A component failed; stopping so that a supervisor can restart Lookout.");
                clean = false;
                break;
            }
        };
        match signal {
            Signal::Stop => break,
            Signal::Reload => {
                alerting.reload().await;
                // A broken file never replaces the running pipeline.
                let checked = match load(&args.config) {
                    Ok((c, _)) => c,
                    Err(errors) => {
                        for e in &errors.0 {
                            error!(error = %e, "Reload refused: the pipeline file is invalid; keeping the running pipeline.");
                        }
                        continue;
                    }
                };
                info!("Reloading: draining the running pipeline.");
                clean &= topology.stop(deadline).await;
                health.clear();
                topology = match lookout_topology::start(checked, &telemetry, &health, Shutdown::new()).await {
                    Ok(t) => t,
                    Err(e) => {
                        error!(error = %e, "Reload failed to start the new pipeline.");
                        return Ok(false);
                    }
                };
                info!("Reloaded.");
            }
        }
    }
    info!("Shutting down: no longer accepting; draining buffers.");
    clean &= topology.stop(deadline).await;
    if let Some(s) = scaler {
        s.stop().await;
    }
    alerting.stop().await;
    store_service.stop().await;
    api_shutdown.cancel();
    let _ = api.await;
    info!(clean, "Lookout stopped.");
    Ok(clean)
}

enum Signal {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP: re-read the pipeline file.
    Reload,
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
