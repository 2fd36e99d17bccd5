//! `cargo run -p lookout-rule-tests --example test_rules -- FILE...`: the runner alone,
//! with promtool's stdout/stderr split and exit status (for side-by-side comparison).

fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let ok = lookout_rule_tests::run_files_split(&paths, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(if ok { 0 } else { 1 });
}
