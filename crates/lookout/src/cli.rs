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
    /// Rule tools: `lookout rules backtest FILE... --from T --to T`.
    Rules(RulesArgs),
    /// List the component types this build knows.
    Components,
    /// Stream the records passing a component of a running Lookout, one JSON document
    /// per line (what a source or transform emits, what a sink receives).
    #[command(
        after_help = "Examples:\n  lookout tap enrich\n  lookout tap enrich --where 'severity_text == \"ERROR\"' --limit 100\n  lookout tap archive --rate 10 --api http://alice:secret@lookout:8686"
    )]
    Tap(TapArgs),
    /// Send realistic OTLP logs, traces and metrics of a small shop (checkout,
    /// bookings, payments) to a running Lookout, so its records, series, alerts and
    /// scaler have something to show.
    Demo(DemoArgs),
}

/// Flags of `lookout tap`.
#[derive(Debug, Args)]
pub struct TapArgs {
    /// The component to watch (`lookout tap nope` lists the running pipeline's).
    #[arg(value_name = "COMPONENT")]
    pub component: String,
    /// Only records matching this condition (the `filter` transform's syntax,
    /// docs/conditions.md).
    #[arg(long = "where", value_name = "CONDITION")]
    pub condition: Option<String>,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// At most this many records a second; the rest are skipped (and said so on stderr).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// The API of the running Lookout (`user:password@` in it is sent as basic auth).
    #[arg(long, value_name = "URL", env = "LOOKOUT_API_URL", default_value = "http://127.0.0.1:8686")]
    pub api: String,
    /// A bearer token for the API (web.yml `bearer_tokens`).
    #[arg(long, value_name = "TOKEN", env = "LOOKOUT_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Flags of `lookout demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The OTLP/HTTP endpoint of the running Lookout (`/v1/logs`, ... are appended).
    #[arg(long, value_name = "URL", env = "LOOKOUT_DEMO_OTLP_HTTP", default_value = "http://127.0.0.1:4318")]
    pub otlp_http: String,
    /// Stop after this long (`90s`, `10m`, `1h`); default: until interrupted.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Seconds between two exports (each export covers that much shop time).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub interval: f64,
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

/// `lookout rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: RulesAction,
}

/// Rule tools.
#[derive(Debug, Subcommand)]
pub enum RulesAction {
    /// When would these rules have fired? Replays rule files over past data with
    /// Prometheus's alert state machine and prints, per alert, when it went pending,
    /// fired and resolved.
    #[command(
        after_help = "Times: RFC 3339 (2026-12-01T10:00:00Z), Unix seconds, `now`, or relative to now (-6h, now-90m).\n\nExamples:\n  lookout rules backtest alert-rules/*.yml --data recorded.om --from 1764583200 --to 1764604800\n  lookout rules backtest alert-rules/http.yml --prometheus-url http://prometheus:9090 --from -24h --step 1m\n  lookout rules backtest rules.yml --data series.yml --from 0 --to 2h --alertmanager-config alertmanager.yml --output json"
    )]
    Backtest(BacktestArgs),
}

/// How `lookout rules backtest` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned table, one line per alert episode.
    Table,
    /// One JSON document.
    Json,
}

/// Flags of `lookout rules backtest`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["data", "prometheus_url", "config"]))]
pub struct BacktestArgs {
    /// Rule files (Prometheus format).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// First evaluation time.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub from: String,
    /// Last evaluation time.
    #[arg(long, value_name = "TIME", default_value = "now", allow_hyphen_values = true)]
    pub to: String,
    /// Evaluate every group at this step (default: each group's `interval`, else
    /// `--evaluation-interval`).
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,
    /// The interval of groups without `interval` (Prometheus's `evaluation_interval`).
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    pub evaluation_interval: String,
    /// Data file: OpenMetrics text with a timestamp (Unix seconds) on every sample, or
    /// (`.yml`/`.yaml`) `input_series` in the `promtool test rules` notation.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// A Prometheus-compatible query API to read the data from (rules are sent to
    /// `/api/v1/query` at each step).
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// A pipeline file: read the series store under its `data_dir` (Lookout must be
    /// stopped; a running one holds the store: use `POST /api/v1/rules/backtest`).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Also simulate an Alertmanager routing file: how many notifications each
    /// receiver would have got, and when.
    #[arg(long, value_name = "FILE")]
    pub alertmanager_config: Option<PathBuf>,
    /// Prometheus 2 window semantics (`[t - 5m, t]` instead of `(t - 5m, t]`), as
    /// promtool 2.x evaluates; only matters for samples exactly on a window's start.
    #[arg(long)]
    pub closed_windows: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
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
        match Cli::parse_from(["lookout", "rules", "backtest", "a.yml", "--from", "-6h", "--data", "d.om"]).command {
            Command::Rules(RulesArgs { action: RulesAction::Backtest(b) }) => {
                assert_eq!((b.from.as_str(), b.to.as_str()), ("-6h", "now"));
                assert_eq!(b.data, Some(PathBuf::from("d.om")));
                assert_eq!(b.output, OutputFormat::Table);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            Cli::parse_from(["lookout", "rules", "backtest", "a.yml", "--from", "0", "-c", "p.yaml"]).command,
            Command::Rules(RulesArgs { action: RulesAction::Backtest(BacktestArgs { config: Some(_), .. }) })
        ));
        // A data source is required, and only one.
        assert!(Cli::try_parse_from(["lookout", "rules", "backtest", "a.yml", "--from", "0"]).is_err());
        assert!(
            Cli::try_parse_from([
                "lookout",
                "rules",
                "backtest",
                "a.yml",
                "--from",
                "0",
                "--data",
                "d",
                "--prometheus-url",
                "http://x"
            ])
            .is_err()
        );
        match Cli::parse_from(["lookout", "tap", "enrich", "--where", "severity_number >= 17", "--limit", "5"]).command
        {
            Command::Tap(t) => {
                assert_eq!((t.component.as_str(), t.limit, t.rate), ("enrich", Some(5), None));
                assert_eq!(t.condition.as_deref(), Some("severity_number >= 17"));
            }
            other => panic!("unexpected {other:?}"),
        }
        match Cli::parse_from(["lookout", "demo", "--duration", "30s", "--interval", "0.5"]).command {
            Command::Demo(d) => assert_eq!((d.duration.as_deref(), d.interval), (Some("30s"), 0.5)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            Cli::parse_from(["lookout", "scale", "simulate", "s.yml"]).command,
            Command::Scale(ScaleArgs { action: ScaleAction::Simulate { .. } })
        ));
    }
}
