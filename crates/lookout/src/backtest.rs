//! `lookout rules backtest`: wires the flags to `lookout_rules::backtest` (load the
//! rules, open the data source, replay, print).

use std::sync::Arc;

use anyhow::{Context, bail};
use lookout_rules::backtest::{self, PrometheusSource, SampleSource, Settings, StoreSource};
use lookout_tsdb::promql::EvalOptions;
use lookout_tsdb::{Store, StoreConfig};

use crate::cli::{BacktestArgs, OutputFormat};

/// Most samples a data file may hold (about 1 GB of store).
const MAX_DATA_SAMPLES: usize = 50_000_000;

fn duration(flag: &str, text: &str) -> anyhow::Result<i64> {
    let ms = lookout_rules::duration::parse_duration(text).with_context(|| format!("--{flag} {text:?}"))?;
    if ms <= 0 {
        bail!("--{flag} {text:?}: must be positive");
    }
    Ok(ms)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A store filled from `--data`.
fn load_data(path: &std::path::Path) -> anyhow::Result<Arc<Store>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    let store = Store::new(StoreConfig { retention_ms: i64::MAX / 4, max_series: 10_000_000 });
    let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"));
    let loaded = if yaml {
        let parse = |line: &str| lookout_rule_tests::notation::parse_series_desc(line).map_err(|e| e.to_string());
        backtest::load_series_yaml(&text, &parse, &store, MAX_DATA_SAMPLES)
    } else {
        backtest::load_openmetrics(&text, &store, MAX_DATA_SAMPLES)
    };
    loaded.with_context(|| name.clone())?;
    Ok(Arc::new(store))
}

/// The series store of the pipeline file at `path` (under its `data_dir`).
fn open_pipeline_store(path: &std::path::Path) -> anyhow::Result<Arc<Store>> {
    let arg = crate::cli::ConfigArg { config: Some(path.to_path_buf()) };
    let (checked, _) = crate::load(&arg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let data_dir = std::path::Path::new(&checked.config.data_dir);
    // Opening creates a store where there is none: refuse instead, nothing to replay.
    if !data_dir.join("tsdb").is_dir() {
        bail!("no series store in {} (data_dir of {})", data_dir.join("tsdb").display(), path.display());
    }
    let settings = lookout_tsdb::StoreSettings::from_config(&checked.config);
    let store =
        settings.open(data_dir).with_context(|| format!("cannot open the series store of {}", path.display()))?;
    Ok(Arc::new(store))
}

/// Runs the backtest; `Ok(false)` when the rule files have errors (already printed).
pub fn run(args: BacktestArgs) -> anyhow::Result<bool> {
    let now = now_ms();
    let from_ms = backtest::parse_time(&args.from, now).context("--from")?;
    let to_ms = backtest::parse_time(&args.to, now).context("--to")?;
    // Rule files are loaded as globs, where a missing file matches nothing: refuse it.
    if let Some(missing) = args.files.iter().find(|p| !p.exists()) {
        bail!("{}: no such file", missing.display());
    }
    let patterns: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
    let groups = match lookout_rules::load_rule_files(&patterns) {
        Ok(g) => g,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(false);
        }
    };
    let mut settings = Settings::new(from_ms, to_ms);
    settings.step_ms = args.step.as_deref().map(|s| duration("step", s)).transpose()?;
    settings.default_interval_ms = duration("evaluation-interval", &args.evaluation_interval)?;
    settings.eval_options = if args.closed_windows { EvalOptions::prometheus2() } else { EvalOptions::default() };
    settings.validate()?;
    settings.keep_sent = args.alertmanager_config.is_some();
    let notifier = args
        .alertmanager_config
        .as_deref()
        .map(|p| lookout_notify::load_config(p).map_err(|e| anyhow::anyhow!("{e}")))
        .transpose()?;

    // The runtime only drives HTTP requests of a remote source; the replay itself runs
    // on this thread and blocks on it.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let source: Arc<dyn SampleSource> = match (&args.data, &args.prometheus_url) {
        (Some(path), _) => Arc::new(StoreSource::new(load_data(path)?, settings.eval_options)),
        (None, Some(url)) => {
            let client =
                lookout_tsdb::remote::QueryClient::new(lookout_tsdb::remote::QueryClientConfig::new(url.clone()))
                    .with_context(|| format!("--prometheus-url {}", lookout_config::redact_url(url)))?;
            Arc::new(PrometheusSource::new(client, runtime.handle().clone()))
        }
        (None, None) => match &args.config {
            Some(path) => Arc::new(StoreSource::new(open_pipeline_store(path)?, settings.eval_options)),
            None => bail!("give --data FILE, --prometheus-url URL or --config FILE"),
        },
    };
    let report = backtest::run(&groups, source, &settings)?;
    let simulation =
        notifier.map(|cfg| lookout_notify::simulate::simulate(&cfg, &report_alerts(&report), report.to_ms));
    let mut out = std::io::stdout().lock();
    use std::io::Write as _;
    let written = match args.output {
        OutputFormat::Json => {
            let mut j = backtest::render::to_json(&report);
            if let Some(sim) = &simulation {
                j["notifications"] = sim.to_json();
            }
            writeln!(out, "{j:#}")
        }
        OutputFormat::Table => {
            let mut text = backtest::render::table(&report);
            if let Some(sim) = &simulation {
                text.push('\n');
                text.push_str(&sim.table());
            }
            out.write_all(text.as_bytes())
        }
    };
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(true),
        other => other.map(|()| true).context("writing the report"),
    }
}

/// The alert sends of a backtest as the notifier receives them.
fn report_alerts(report: &backtest::Report) -> Vec<lookout_notify::simulate::Arrival> {
    report
        .sent
        .iter()
        .map(|s| lookout_notify::simulate::Arrival {
            at_ms: s.at_ms,
            labels: s.alert.labels.pairs().iter().cloned().collect(),
            starts_at_ms: s.alert.starts_at_ms,
            ends_at_ms: s.alert.ends_at_ms,
        })
        .collect()
}
