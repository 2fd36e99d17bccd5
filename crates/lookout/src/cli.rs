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
    after_help = "Examples:\n  lookout run                       # the embedded default pipeline\n  lookout run --config my.yaml\n  lookout check --config my.yaml    # validate only; errors as FILE:LINE:COL: message"
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
    /// Validate a pipeline file without starting it (exit 1 on errors).
    Check(ConfigArg),
    /// List the component types this build knows.
    Components,
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
    fn parses_run_and_check() {
        let cli = Cli::parse_from(["lookout", "run", "--config", "x.yaml", "--threads", "1"]);
        match cli.command {
            Command::Run(a) => {
                assert_eq!(a.config.config.unwrap(), PathBuf::from("x.yaml"));
                assert_eq!(a.threads, Some(1));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(Cli::parse_from(["lookout", "check"]).command, Command::Check(ConfigArg { config: None })));
    }
}
