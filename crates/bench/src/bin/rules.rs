//! `bench-rules`: the cost of rule evaluation over the embedded store (not a test).
//!
//! Fills a store with `--series` counter series (`http_requests_total` over `--jobs`
//! jobs × instances × routes × status codes, one sample every 15 s for `--minutes`),
//! then evaluates `--rules` alert-style expressions — each selecting one job, the way
//! real rule files do — once per round, and prints one JSON line: time per round, time
//! per rule, series, samples and the process's resident bytes per series.

use std::time::Instant;

use clap::Parser;
use lookout_tsdb::promql::EvalOptions;
use lookout_tsdb::{Labels, Store, StoreConfig};

#[derive(Parser, Debug)]
#[command(about = "Evaluate many PromQL rules over many series and report the cost as a JSON line")]
struct Args {
    /// Series to create.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Distinct `job` values.
    #[arg(long, default_value_t = 1000)]
    jobs: usize,
    /// Rules (expressions) per round.
    #[arg(long, default_value_t = 1000)]
    rules: usize,
    /// Minutes of history (one sample every 15 s).
    #[arg(long, default_value_t = 10)]
    minutes: i64,
    /// Rounds to time.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn main() {
    let args = Args::parse();
    let before = rss_bytes();
    let store = Store::new(StoreConfig { retention_ms: (args.minutes + 5) * 60_000, max_series: args.series * 2 });
    let statuses = ["200", "201", "404", "500", "503"];
    let steps = args.minutes * 4;
    let end = 1_700_000_000_000i64;
    let per_job = args.series.div_ceil(args.jobs);
    let mut samples = 0u64;
    for i in 0..args.series {
        let job = i / per_job;
        let labels = Labels::new([
            ("__name__".to_string(), "http_requests_total".to_string()),
            ("job".to_string(), format!("job-{job}")),
            ("instance".to_string(), format!("10.0.{}.{}:8080", (i / 250) % 250, i % 250)),
            ("route".to_string(), format!("/api/v1/r{}", i % 7)),
            ("code".to_string(), statuses[i % statuses.len()].to_string()),
        ]);
        let rate = 1.0 + (i % 13) as f64;
        for s in 0..steps {
            let t = end - (steps - 1 - s) * 15_000;
            store.append(&labels, t, rate * 15.0 * s as f64).expect("append");
            samples += 1;
        }
    }
    let loaded = rss_bytes().saturating_sub(before);
    let rules: Vec<promql_parser::parser::Expr> = (0..args.rules)
        .map(|r| {
            let job = r % args.jobs;
            let q = format!(
                r#"sum by (job) (rate(http_requests_total{{job="job-{job}", code=~"5.."}}[5m])) / sum by (job) (rate(http_requests_total{{job="job-{job}"}}[5m])) > 0.05"#
            );
            promql_parser::parser::parse(&q).expect("valid rule")
        })
        .collect();
    let opts = EvalOptions::default();
    let mut firing = 0usize;
    let mut rounds = Vec::new();
    for _ in 0..args.rounds {
        let started = Instant::now();
        for e in &rules {
            if let Ok(lookout_tsdb::promql::Value::Vector(v)) = opts.instant_query_expr(&store, e, end) {
                firing += v.len();
            }
        }
        rounds.push(started.elapsed().as_secs_f64());
    }
    rounds.sort_by(f64::total_cmp);
    let median = rounds[rounds.len() / 2];
    println!(
        "{}",
        serde_json::json!({
            "series": args.series,
            "samples": samples,
            "rules": args.rules,
            "round_ms_median": (median * 1e5).round() / 100.0,
            "per_rule_us": (median / args.rules as f64 * 1e7).round() / 10.0,
            "resident_bytes_per_series": loaded / args.series as u64,
            "resident_bytes_per_sample": loaded / samples.max(1),
            "results_per_round": firing / args.rounds,
        })
    );
}
