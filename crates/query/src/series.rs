//! `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values`: which series,
//! label names and values exist in a time range, as Prometheus lists them (sorted,
//! deduplicated across `match[]` selectors).
//!
//! The store offers one read, `select` (series with their samples in a range), so a
//! listing is built over it in bounded memory: the matching series are first read
//! without samples (a window past every sample), then, unless the range is
//! unbounded, the range is scanned newest first in at most [`MAX_WINDOWS`] windows,
//! each read keeping only the series it finds, until every candidate is found.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use lookout_tsdb::{Labels, Matcher, Store};

use crate::error::{ApiError, ApiResult, Success};
use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params, matcher_sets};
use crate::{QueryApi, json};

/// The most windows a range is scanned in (each one `select` of the store).
const MAX_WINDOWS: i64 = 64;
/// The smallest window, so short ranges take one or two reads.
const MIN_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Every series name: the matcher used when a listing has no `match[]`.
fn any_series() -> Vec<Matcher> {
    vec![Matcher::new("__name__", lookout_tsdb::MatchOp::Regex, ".+").expect("valid regex")]
}

/// Series matching `matchers` with at least one sample in `[start, end]`, in label order.
pub(crate) fn series_in_range(store: &Store, matchers: &[Matcher], start: i64, end: i64) -> Vec<Labels> {
    // No sample is at i64::MAX: this reads the matching series' labels only.
    let candidates: Vec<Labels> = store.select(matchers, i64::MAX, i64::MAX).into_iter().map(|s| s.labels).collect();
    if candidates.is_empty() || (start <= MIN_TIME_MS && end >= MAX_TIME_MS) {
        return candidates;
    }
    // Samples older than the retention window are gone (give or take one collection).
    let now = crate::query::now_ms();
    let retention = store.limits().retention_ms;
    let oldest = now.saturating_sub(retention.saturating_add(3_600_000));
    let start = start.max(oldest);
    if start > end {
        return Vec::new();
    }
    let window = ((end - start) / MAX_WINDOWS).max(MIN_WINDOW_MS);
    let mut found: HashSet<Labels> = HashSet::with_capacity(candidates.len());
    let mut hi = end;
    loop {
        let lo = hi.saturating_sub(window - 1).max(start);
        for s in store.select(matchers, lo, hi) {
            if !s.samples.is_empty() {
                found.insert(s.labels);
            }
        }
        if found.len() >= candidates.len() || lo <= start {
            break;
        }
        hi = lo - 1;
    }
    candidates.into_iter().filter(|l| found.contains(l)).collect()
}

impl QueryApi {
    /// The series of every `match[]` set (or of every series), deduplicated and sorted.
    fn matching(&self, p: &Params, sets: Vec<Vec<Matcher>>) -> Result<BTreeSet<Labels>, ApiError> {
        let start = p.time_or("start", MIN_TIME_MS)?;
        let end = p.time_or("end", MAX_TIME_MS)?;
        let sets = if sets.is_empty() { vec![any_series()] } else { sets };
        let mut out = BTreeSet::new();
        for m in &sets {
            out.extend(series_in_range(&self.store, m, start, end));
        }
        Ok(out)
    }

    /// `GET|POST /api/v1/series`.
    pub(crate) async fn series(self: Arc<Self>, p: Params) -> ApiResult {
        let selectors = p.all("match[]");
        if selectors.is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        // Prometheus reads start and end before the selectors.
        p.time_or("start", MIN_TIME_MS)?;
        p.time_or("end", MAX_TIME_MS)?;
        let limit = limit_param(&p)?;
        let series = self
            .blocking(move |api| {
                let sets = matcher_sets(&p.all("match[]")).map_err(|e| ApiError::invalid_param("match[]", e))?;
                api.matching(&p, sets)
            })
            .await?;
        let mut out = String::from("[");
        for (i, l) in series.iter().take(limit).enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::labels(&mut out, l);
        }
        out.push(']');
        Ok(limited(out, series.len(), limit))
    }

    /// `GET|POST /api/v1/labels`.
    pub(crate) async fn labels(self: Arc<Self>, p: Params) -> ApiResult {
        p.time_or("start", MIN_TIME_MS)?;
        p.time_or("end", MAX_TIME_MS)?;
        let limit = limit_param(&p)?;
        let names = self
            .blocking(move |api| {
                let sets = matcher_sets(&p.all("match[]")).map_err(ApiError::bad_data)?;
                let series = api.matching(&p, sets)?;
                Ok(series.iter().flat_map(|l| l.pairs().iter().map(|(k, _)| k.clone())).collect::<BTreeSet<String>>())
            })
            .await?;
        let mut out = String::new();
        json::strings(&mut out, names.iter().take(limit).map(String::as_str));
        Ok(limited(out, names.len(), limit))
    }

    /// `GET /api/v1/label/<name>/values`.
    pub(crate) async fn label_values(self: Arc<Self>, name: String, p: Params) -> ApiResult {
        if !valid_label_name(&name) {
            return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
        }
        p.time_or("start", MIN_TIME_MS)?;
        p.time_or("end", MAX_TIME_MS)?;
        let limit = limit_param(&p)?;
        let values = self
            .blocking(move |api| {
                let mut sets = matcher_sets(&p.all("match[]")).map_err(ApiError::bad_data)?;
                // Only series that have the label can give it a value.
                let has_label = Matcher::new(name.clone(), lookout_tsdb::MatchOp::NotEqual, "").expect("not a regex");
                if sets.is_empty() {
                    sets.push(vec![has_label]);
                } else {
                    sets.iter_mut().for_each(|s| s.push(has_label.clone()));
                }
                let series = api.matching(&p, sets)?;
                Ok(series.iter().filter_map(|l| l.get(&name).map(str::to_string)).collect::<BTreeSet<String>>())
            })
            .await?;
        let mut out = String::new();
        json::strings(&mut out, values.iter().take(limit).map(String::as_str));
        Ok(limited(out, values.len(), limit))
    }
}

/// The `limit` parameter of the listings: absent or 0 is no limit.
fn limit_param(p: &Params) -> Result<usize, ApiError> {
    match p.get("limit") {
        "" => Ok(usize::MAX),
        v => match v.parse::<i64>() {
            Ok(0) => Ok(usize::MAX),
            Ok(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Ok(_) => Err(ApiError::invalid_param("limit", "limit must be non-negative")),
            Err(_) => Err(ApiError::invalid_param("limit", format!("strconv.Atoi: parsing {v:?}: invalid syntax"))),
        },
    }
}

/// A listing of `total` items cut at `limit`, with Prometheus's warning when cut.
fn limited(data: String, total: usize, limit: usize) -> Success {
    let mut s = Success::new(data);
    if total > limit {
        s.warnings.push("results truncated due to limit".into());
    }
    s
}

/// Prometheus 2's label name rule (`model.LabelNameRE`).
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_tsdb::StoreConfig;

    fn l(name: &str, job: &str) -> Labels {
        Labels::new([("__name__".to_string(), name.to_string()), ("job".to_string(), job.to_string())])
    }

    #[test]
    fn series_in_range_finds_only_series_with_samples_there() {
        let store = Store::new(StoreConfig { retention_ms: i64::MAX / 4, max_series: 100 });
        let now = crate::query::now_ms();
        let hour = 3_600_000;
        store.append(&l("up", "old"), now - 5 * hour, 1.0).unwrap();
        store.append(&l("up", "new"), now - 1000, 1.0).unwrap();
        store.append(&l("up", "both"), now - 5 * hour, 1.0).unwrap();
        store.append(&l("up", "both"), now - 1000, 1.0).unwrap();
        let all = any_series();
        let names = |v: Vec<Labels>| v.iter().map(|l| l.get("job").unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(names(series_in_range(&store, &all, MIN_TIME_MS, MAX_TIME_MS)), ["both", "new", "old"]);
        assert_eq!(names(series_in_range(&store, &all, now - hour, now)), ["both", "new"]);
        assert_eq!(names(series_in_range(&store, &all, now - 6 * hour, now - 4 * hour)), ["both", "old"]);
        assert_eq!(names(series_in_range(&store, &all, now - 3 * hour, now - 2 * hour)), Vec::<String>::new());
        assert!(series_in_range(&store, &all, now, now - 1).is_empty());
    }

    #[test]
    fn label_names() {
        assert!(valid_label_name("job"));
        assert!(valid_label_name("_x9"));
        assert!(!valid_label_name("9x"));
        assert!(!valid_label_name("a-b"));
        assert!(!valid_label_name(""));
    }
}
