//! Loads series written in the notation of `promtool test rules` (`input_series`) into
//! a store: the YAML data file of `lookout rules backtest --data FILE.yml`, so the
//! data of a rule unit test can be backtested as it is.
//!
//! ```yaml
//! start: 2026-12-01T00:00:00Z   # optional: RFC 3339 or Unix seconds; default 0 as promtool
//! interval: 1m                  # optional: the step between values; default 1m
//! input_series:
//!   - series: 'http_requests_total{job="api", code="500"}'
//!     values: '0+10x60 600x30'  # promtool's expanding notation, `_` skips, `stale` marks
//! ```
//!
//! The notation parser is passed in (`lookout-rule-tests` owns it, and depends on this
//! crate).

use lookout_config::duration::parse_duration;
use lookout_tsdb::{Labels, Store};
use serde::Deserialize;

use super::openmetrics::DataError;

/// Parses one `series` + ` ` + `values` line: label pairs in written order, then one
/// value per step (`None` = no sample).
pub type SeriesParser<'a> = &'a dyn Fn(&str) -> Result<(Vec<(String, String)>, Vec<Option<f64>>), String>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    start: Option<StartTime>,
    #[serde(default)]
    interval: Option<String>,
    input_series: Vec<InputSeries>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StartTime {
    Seconds(f64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: String,
}

fn err(msg: String) -> DataError {
    DataError::Syntax { line: 0, msg }
}

/// Parses `text` and appends its samples to `store`; returns the number of samples.
pub fn load_series_yaml(
    text: &str,
    parse: SeriesParser<'_>,
    store: &Store,
    max_samples: usize,
) -> Result<usize, DataError> {
    let file: File = serde_saphyr::from_str(text).map_err(|e| err(e.to_string()))?;
    let start_ms = match file.start {
        None => 0,
        Some(StartTime::Seconds(s)) => (s * 1000.0).round() as i64,
        Some(StartTime::Text(t)) => super::time::parse_time(&t, 0).map_err(|e| err(format!("start: {e}")))?,
    };
    let interval_ms = match &file.interval {
        None => 60_000,
        Some(i) => parse_duration(i).map_err(|e| err(format!("interval: {e}")))?,
    };
    if interval_ms <= 0 {
        return Err(err("interval: must be positive".to_string()));
    }
    let mut count = 0usize;
    for (i, s) in file.input_series.iter().enumerate() {
        let line = format!("{} {}", s.series.trim(), s.values.trim());
        let (pairs, values) = parse(&line).map_err(|e| err(format!("input_series[{i}] {:?}: {e}", s.series)))?;
        let labels = Labels::new(pairs);
        for (step, v) in values.into_iter().enumerate() {
            let Some(v) = v else { continue };
            count += 1;
            if count > max_samples {
                return Err(DataError::TooManySamples(max_samples));
            }
            let t = start_ms.saturating_add(interval_ms.saturating_mul(step as i64));
            store.append(&labels, t, v).map_err(|e| DataError::Store(format!("input_series[{i}]: {e}")))?;
        }
    }
    Ok(count)
}
