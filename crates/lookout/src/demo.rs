//! `lookout demo`: flags to settings, progress to stderr, errors to an exit code.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::DemoArgs;

pub(crate) fn run(args: DemoArgs) -> ExitCode {
    let mut settings = lookout_demo::Settings::new(&args.otlp_http);
    if !(args.interval.is_finite() && args.interval > 0.0) {
        eprintln!("error: --interval must be a positive number of seconds");
        return ExitCode::FAILURE;
    }
    settings.interval = Duration::from_secs_f64(args.interval);
    if let Some(d) = &args.duration {
        match lookout_demo::parse_duration(d) {
            Ok(d) => settings.duration = Some(d),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "Sending a shop's telemetry (checkout, bookings, payments, api) to {} every {:?}; Ctrl-C stops.",
        settings.otlp_http, settings.interval
    );
    let report = |s: &lookout_demo::Sent| {
        if s.ticks == 1 || s.ticks.is_multiple_of(6) {
            eprintln!(
                "sent {} logs, {} spans, {} metric points{}",
                s.total.logs,
                s.total.spans,
                s.total.points,
                if s.refused > 0 {
                    format!(" ({} exports refused: Lookout was busy)", s.refused)
                } else {
                    String::new()
                }
            );
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = lookout_demo::run(&settings, report) => r.map(Some),
            _ = tokio::signal::ctrl_c() => Ok(None),
        }
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
