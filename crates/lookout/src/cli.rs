//! Command-line flags: one place, with their help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Lookout: an observability and alerting pipeline.
///
/// Applications send OTLP logs, traces and metrics (gRPC :4317, HTTP :4318); Lookout
/// enriches them and forwards them to files, the console and (soon) log stores,
/// reporting its own health and throughput on its API address.
#[derive(Debug, Parser)]
#[command(name = "lookout", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Examples:\n  lookout run                       # the embedded default pipeline\n  lookout run --config my.yaml\n  lookout check --config my.yaml    # validate only; errors as FILE:LINE:COL: message\n  lookout check rules alert-rules/*.yml\n  lookout test rules alert-rules/tests/*.yml\n  lookout scale simulate scaling/tests/api.yml"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline until SIGTERM/SIGINT, then drain every buffer and exit.
    Run(RunArgs),
    /// Validate a pipeline file (with the rule files it names) without starting it, or
    /// only rule files (`lookout check rules FILE...`); exit 1 on errors.
    Check(CheckArgs),
    /// Run unit tests (`lookout test rules FILE...`, the `promtool test rules` format).
    Test(TestArgs),
    /// Scaling policies: `lookout scale simulate FILE`.
    Scale(ScaleArgs),
    /// Send records again: `lookout replay dead-letter FILE --sink NAME`.
    Replay(ReplayArgs),
    /// List the component types this build knows.
    Components,
}

/// `lookout replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// What to replay.
    #[command(subcommand)]
    pub what: ReplayTarget,
}

/// What `lookout replay` can send again.
#[derive(Debug, Subcommand)]
pub enum ReplayTarget {
    /// The log records of a sink's dead-letter file, through one sink of the pipeline
    /// (batching, retries and dead letters as in `lookout run`).
    DeadLetter {
        /// The dead-letter file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The sink to send through.
        #[arg(long, value_name = "NAME")]
        sink: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `lookout check`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CheckArgs {
    /// Check something other than the pipeline file.
    #[command(subcommand)]
    pub target: Option<CheckTarget>,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// What `lookout check` can check besides the pipeline.
#[derive(Debug, Subcommand)]
pub enum CheckTarget {
    /// Prometheus rule files, like `promtool check rules`: every problem as
    /// FILE:LINE:COL: message.
    Rules {
        /// Rule files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// `lookout test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// What to test.
    #[command(subcommand)]
    pub target: TestTarget,
}

/// What `lookout test` can test.
#[derive(Debug, Subcommand)]
pub enum TestTarget {
    /// Rule unit tests in the `promtool test rules` format; output and exit status as
    /// promtool's.
    Rules {
        /// Test files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// `lookout scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ScaleAction,
}

/// Scaler tools.
#[derive(Debug, Subcommand)]
pub enum ScaleAction {
    /// Replay a `scalers:` + `timeline:` file through the decision logic: one JSON line
    /// per step (`at`, `scaler`, `current`, `desired`, `reasons`).
    Simulate {
        /// The simulation file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// `--config FILE`.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Pipeline file. Default: pipelines/default.yaml, or the copy built into the
    /// binary when that file is not there.
    #[arg(short, long, value_name = "FILE", env = "LOOKOUT_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Flags of `lookout run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Worker threads for the runtime (default: one per core).
    #[arg(long, value_name = "N", env = "LOOKOUT_THREADS")]
    pub threads: Option<usize>,
    /// Longest wait, in seconds, for buffers to drain on shutdown.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub shutdown_timeout: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_replay() {
        let cli = Cli::parse_from(["lookout", "replay", "dead-letter", "dead.ndjson", "--sink", "es", "-c", "p.yaml"]);
        match cli.command {
            Command::Replay(ReplayArgs { what: ReplayTarget::DeadLetter { file, sink, config } }) => {
                assert_eq!((file, sink.as_str()), (PathBuf::from("dead.ndjson"), "es"));
                assert_eq!(config.config.unwrap(), PathBuf::from("p.yaml"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_run_and_check() {
        let cli = Cli::parse_from(["lookout", "run", "--config", "x.yaml", "--threads", "1"]);
        match cli.command {
            Command::Run(a) => {
                assert_eq!(a.config.config.unwrap(), PathBuf::from("x.yaml"));
                assert_eq!(a.threads, Some(1));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            Cli::parse_from(["lookout", "check"]).command,
            Command::Check(CheckArgs { target: None, config: ConfigArg { config: None } })
        ));
        assert!(matches!(
            Cli::parse_from(["lookout", "check", "--config", "p.yaml"]).command,
            Command::Check(CheckArgs { target: None, config: ConfigArg { config: Some(_) } })
        ));
        match Cli::parse_from(["lookout", "check", "rules", "a.yml", "b.yml"]).command {
            Command::Check(CheckArgs { target: Some(CheckTarget::Rules { files }), .. }) => assert_eq!(files.len(), 2),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            Cli::parse_from(["lookout", "test", "rules", "t.yml"]).command,
            Command::Test(TestArgs { target: TestTarget::Rules { .. } })
        ));
        assert!(matches!(
            Cli::parse_from(["lookout", "scale", "simulate", "s.yml"]).command,
            Command::Scale(ScaleArgs { action: ScaleAction::Simulate { .. } })
        ));
    }
}
