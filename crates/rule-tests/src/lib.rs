//! `lookout test rules FILE...`: rule unit tests in the `promtool test rules` file
//! format, with promtool's verdicts, messages and output.
//!
//! Users keep the test files they wrote for Prometheus (`rule_files`,
//! `evaluation_interval`, `group_eval_order`, `tests` with `input_series`,
//! `alert_rule_test`, `promql_expr_test`, `external_labels`, `external_url`), and a
//! file that passes or fails under promtool 2.42 passes or fails here, with the same
//! text: `Unit Testing:  FILE`, then `  SUCCESS` or `  FAILED:` and promtool's error
//! lines.
//!
//! - [`run_files`] / [`run_files_split`]: the command (true when every file passed).
//! - `file` + `yaml`: the test file, decoded with yaml.v2's strict rules (every type
//!   error and unknown field as `line N: ...`), which serde cannot reproduce.
//! - `notation`: the series notation (`up{job="a"} 1+2x3 _ stale`) with Prometheus's
//!   expansion and parse errors.
//! - `runner`: loading input series into a [`lookout_tsdb::Store`] step by step,
//!   evaluating every group with [`lookout_rules::eval_group`] (so `for`, `keep_firing_for`
//!   and templates are the engine's own), comparing firing alerts and query results.
//! - `appender`: the TSDB's refusals (duplicate or out-of-order samples), which promtool
//!   reports as rule errors.
//! - `format`: Go's quoting and float formatting in promtool's messages.
//!
//! Why a separate crate: the rule engine stays free of test-file concerns, and the
//! runner uses only the engine's public step function, so what is tested is exactly
//! what runs in production.
//!
//! ```no_run
//! let ok = lookout_rule_tests::run_files(&["alerts_test.yml".into()], &mut std::io::stdout());
//! std::process::exit(if ok { 0 } else { 1 });
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod appender;
mod error;
pub mod file;
mod format;
pub mod notation;
mod paths;
mod runner;
mod yaml;

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;

pub use error::DecodeError;
pub use format::{format_float_e, labels_string};

/// Runs the test files in order, writing promtool's output to `out`; true when all
/// passed. Paths that are missing or are directories fail the whole run before any
/// file is tested, as promtool's argument check does.
pub fn run_files(paths: &[PathBuf], out: &mut dyn Write) -> bool {
    // One writer for both streams: the interleaving is the one a terminal shows.
    let cell = RefCell::new(out);
    run_files_split(paths, &mut Shared(&cell), &mut Shared(&cell))
}

struct Shared<'a, 'b>(&'a RefCell<&'b mut dyn Write>);

impl Write for Shared<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

/// [`run_files`] with promtool's split: progress (`Unit Testing:`, `SUCCESS`, blank
/// lines) to `stdout`, `FAILED:`, error lines and warnings to `stderr`.
pub fn run_files_split(paths: &[PathBuf], stdout: &mut dyn Write, stderr: &mut dyn Write) -> bool {
    for p in paths {
        match std::fs::metadata(p) {
            Err(_) => {
                let _ = writeln!(stderr, "error: path '{}' does not exist", p.display());
                return false;
            }
            Ok(m) if m.is_dir() => {
                let _ = writeln!(stderr, "error: '{}' is a directory", p.display());
                return false;
            }
            Ok(_) => {}
        }
    }
    let mut failed = false;
    for p in paths {
        let _ = writeln!(stdout, "Unit Testing:  {}", p.display());
        let errs = runner::rule_unit_test(p, stderr);
        if errs.is_empty() {
            let _ = writeln!(stdout, "  SUCCESS");
        } else {
            failed = true;
            let _ = writeln!(stderr, "  FAILED:");
            for e in errs {
                let _ = writeln!(stderr, "{e}");
                let _ = writeln!(stdout);
            }
        }
        let _ = writeln!(stdout);
    }
    let _ = stdout.flush();
    let _ = stderr.flush();
    !failed
}
