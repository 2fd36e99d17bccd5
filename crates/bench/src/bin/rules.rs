//! `bench-rules`: the cost of rule evaluation over the embedded store (not a test).
//!
//! Fills a store with `--series` counter series (`http_requests_total` over `--jobs`
//! jobs × instances × routes × status codes, one sample every 15 s for `--minutes`),
//! then evaluates `--rules` alert-style expressions — each selecting one job, the way
//! real rule files do — once per round, and prints one JSON line: time per round, time
//! per rule, series, samples and the process's resident bytes per series.
//!
//! `--engine` runs the rules as one alerting-rule group through the rule engine's
//! evaluation (`eval_group`: alert state machine, `ALERTS` series written back to the
//! store) instead of bare instant queries. The JSON also splits a round: the time the
//! store's `select` alone takes for the rules' selectors (copying series and samples
//! out, which the evaluator itself no longer does), and the time one ranking of the
//! series in label order takes (what the store service does in the background).
//!
//! The 10,000 rules × 1,000,000 series run (10,000 jobs: 100 series per job, as 1,000
//! jobs over 100,000 series):
//! `bench-rules --series 1000000 --jobs 10000 --rules 10000 --rounds 3`.

use std::time::Instant;

use clap::Parser;
use std::sync::Arc;

use lookout_rules::{EvalContext, GroupState, RuleGroup, eval_group, parse_rule_file};
use lookout_tsdb::promql::EvalOptions;
use lookout_tsdb::{Labels, MatchOp, Matcher, Store, StoreConfig};

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
    /// Evaluate through the rule engine (one group of alerting rules) instead of bare
    /// instant queries.
    #[arg(long)]
    engine: bool,
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
    let store = Arc::new(Store::new(StoreConfig {
        retention_ms: (args.minutes + 5) * 60_000,
        max_series: args.series * 2 + args.rules * 4,
    }));
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
    // What the store service does every few seconds while series appear.
    let started = Instant::now();
    store.rank_series();
    let rank_ms = started.elapsed().as_secs_f64() * 1e3;
    let loaded = rss_bytes().saturating_sub(before);
    let texts: Vec<String> = (0..args.rules)
        .map(|r| {
            let job = r % args.jobs;
            format!(
                r#"sum by (job) (rate(http_requests_total{{job="job-{job}", code=~"5.."}}[5m])) / sum by (job) (rate(http_requests_total{{job="job-{job}"}}[5m])) > 0.05"#
            )
        })
        .collect();
    let rules: Vec<promql_parser::parser::Expr> =
        texts.iter().map(|q| promql_parser::parser::parse(q).expect("valid rule")).collect();
    let opts = EvalOptions::default();
    let mut firing = 0usize;
    let mut rounds = Vec::new();
    let mut selects = Vec::new();
    // The selectors alone: what the store costs before the evaluator sees a sample.
    let selectors: Vec<Vec<Vec<Matcher>>> = (0..args.rules)
        .map(|r| {
            let job = format!("job-{}", r % args.jobs);
            let name = Matcher::equal("__name__", "http_requests_total");
            let five = Matcher::new("code", MatchOp::Regex, "5..").expect("regex");
            vec![vec![name.clone(), Matcher::equal("job", job.clone()), five], vec![name, Matcher::equal("job", job)]]
        })
        .collect();
    let group = args.engine.then(|| engine_group(&texts));
    let mut state = GroupState::default();
    let datasource = lookout_rules::LocalDatasource::new(store.clone());
    for round in 0..args.rounds {
        let started = Instant::now();
        for sel in &selectors {
            for m in sel {
                std::hint::black_box(store.select(m, end - 300_000, end));
            }
        }
        selects.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        match &group {
            Some(g) => {
                let ctx = EvalContext::new(&datasource, &*store);
                // Evaluations a minute apart, as a group with a 1m interval.
                let t = end + round as i64 * 60_000;
                eval_group(g, &mut state, &ctx, t);
                firing += state.alerts().count();
            }
            None => {
                for e in &rules {
                    if let Ok(lookout_tsdb::promql::Value::Vector(v)) = opts.instant_query_expr(&*store, e, end) {
                        firing += v.len();
                    }
                }
            }
        }
        rounds.push(started.elapsed().as_secs_f64());
    }
    selects.sort_by(f64::total_cmp);
    rounds.sort_by(f64::total_cmp);
    let median = rounds[rounds.len() / 2];
    println!(
        "{}",
        serde_json::json!({
            "series": args.series,
            "samples": samples,
            "rules": args.rules,
            "mode": if args.engine { "engine" } else { "query" },
            "round_ms_median": (median * 1e5).round() / 100.0,
            "select_ms_median": (selects[selects.len() / 2] * 1e5).round() / 100.0,
            "rank_series_ms": rank_ms.round(),
            "per_rule_us": (median / args.rules as f64 * 1e7).round() / 10.0,
            "resident_bytes_per_series": loaded / args.series as u64,
            "resident_bytes_per_sample": loaded / samples.max(1),
            "results_per_round": firing / args.rounds,
        })
    );
}

/// One group (1m interval) of alerting rules with these expressions, as a rule file
/// would hold them.
fn engine_group(exprs: &[String]) -> RuleGroup {
    let mut yaml = String::from("groups:\n  - name: bench\n    interval: 1m\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        yaml.push_str(&format!(
            "      - alert: HighErrorRate{i}\n        expr: '{e}'\n        for: 5m\n        labels: {{ severity: critical }}\n        annotations: {{ summary: \"{{{{ $labels.job }}}} fails {{{{ $value | humanizePercentage }}}}\" }}\n"
        ));
    }
    parse_rule_file("bench.yml", &yaml).expect("valid rules").remove(0)
}
