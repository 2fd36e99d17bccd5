//! The live [`MetricSource`]: PromQL instant queries on the embedded series store, the
//! firing alerts of whatever evaluates rules (a closure, so this crate does not depend on
//! the rule engine), and the store the scaler's own samples are written to.

use std::sync::Arc;

use lookout_tsdb::Store;
use lookout_tsdb::promql::Value;

use crate::{MetricSource, QueryError, Sample};

/// Names of the alerts firing now.
pub type FiringAlerts = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Queries `store`; asks `firing` for alerts.
pub struct StoreSource {
    store: Arc<Store>,
    firing: FiringAlerts,
}

impl StoreSource {
    /// Over `store`, with alerts from `firing`.
    pub fn new(store: Arc<Store>, firing: FiringAlerts) -> StoreSource {
        StoreSource { store, firing }
    }
}

impl MetricSource for StoreSource {
    fn query(&self, promql: &str, t_ms: i64) -> Result<Option<f64>, QueryError> {
        let value = lookout_tsdb::promql::instant_query(&*self.store, promql, t_ms)
            .map_err(|e| QueryError::Failed(e.to_string()))?;
        match value {
            Value::Scalar(v) => Ok(Some(v)),
            Value::Vector(v) if v.is_empty() => Ok(None),
            Value::Vector(v) if v.len() == 1 => Ok(Some(v[0].1)),
            Value::Vector(v) => Err(QueryError::NotOneValue(v.len())),
            other => Err(QueryError::NotANumber(format!("{other:?}"))),
        }
    }

    fn firing_alerts(&self) -> Vec<String> {
        (self.firing)()
    }

    fn record(&self, samples: &[Sample], t_ms: i64) {
        for s in samples {
            let pairs = s.labels.iter().cloned().chain([("__name__".to_string(), s.name.clone())]);
            if let Err(e) = self.store.append(&lookout_tsdb::Labels::new(pairs), t_ms, s.value) {
                // Out of order after a clock step, say: the next poll writes again.
                tracing::debug!(series = %s.name, error = %e, "Cannot store a scaler sample.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use lookout_tsdb::{Labels, StoreConfig};

    use super::*;

    #[test]
    fn one_value_or_an_error() {
        let store = Arc::new(Store::new(StoreConfig::default()));
        let l =
            |job: &str| Labels::new([("__name__".to_string(), "up".to_string()), ("job".to_string(), job.to_string())]);
        store.append(&l("a"), 1000, 1.0).unwrap();
        let source = StoreSource::new(store.clone(), Arc::new(|| vec!["HighCPU".to_string()]));
        assert_eq!(source.query("up", 1000), Ok(Some(1.0)));
        assert_eq!(source.query("nothing", 1000), Ok(None));
        assert_eq!(source.query("2", 1000), Ok(Some(2.0)));
        store.append(&l("b"), 1000, 1.0).unwrap();
        assert_eq!(
            source.query("up", 1000).unwrap_err().to_string(),
            "the query returned 2 series; scaling needs one value"
        );
        assert_eq!(source.firing_alerts(), ["HighCPU"]);
    }
}
