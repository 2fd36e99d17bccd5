//! Per-tenant series limits: series carrying a `tenant` label (set by the `otlp`
//! source's authentication) count against their tenant's `max_series`, next to the
//! store's global `max_series`. Kept under the store's lock with the series themselves,
//! and touched only when a series is created or dropped, never per sample.

use std::collections::HashMap;

use crate::Labels;

/// The label a series' tenant is read from.
pub const TENANT_LABEL: &str = lookout_event::TENANT;

#[derive(Debug, Default)]
pub(crate) struct TenantSeries {
    limits: HashMap<String, usize>,
    live: HashMap<String, usize>,
    refused: HashMap<String, u64>,
}

impl TenantSeries {
    pub(crate) fn set_limits(&mut self, limits: HashMap<String, usize>) {
        self.limits = limits;
    }

    /// Whether a new series with `labels` may be created; `Err((tenant, limit))` counts
    /// a refusal.
    pub(crate) fn admit(&mut self, labels: &Labels) -> Result<(), (String, usize)> {
        let Some(tenant) = labels.get(TENANT_LABEL) else { return Ok(()) };
        let Some(&limit) = self.limits.get(tenant) else { return Ok(()) };
        if self.live.get(tenant).copied().unwrap_or(0) >= limit {
            *self.refused.entry(tenant.to_string()).or_default() += 1;
            return Err((tenant.to_string(), limit));
        }
        Ok(())
    }

    pub(crate) fn created(&mut self, labels: &Labels) {
        if let Some(tenant) = labels.get(TENANT_LABEL) {
            match self.live.get_mut(tenant) {
                Some(n) => *n += 1,
                None => {
                    self.live.insert(tenant.to_string(), 1);
                }
            }
        }
    }

    pub(crate) fn removed(&mut self, labels: &Labels) {
        if let Some(tenant) = labels.get(TENANT_LABEL)
            && let Some(n) = self.live.get_mut(tenant)
        {
            *n -= 1;
            if *n == 0 {
                self.live.remove(tenant);
            }
        }
    }

    /// Live series and refusals per tenant, sorted by tenant.
    pub(crate) fn stats(&self) -> Vec<TenantSeriesStats> {
        let mut names: Vec<&String> = self.live.keys().chain(self.refused.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|t| TenantSeriesStats {
                tenant: t.clone(),
                series: self.live.get(t).copied().unwrap_or(0),
                refused: self.refused.get(t).copied().unwrap_or(0),
            })
            .collect()
    }
}

/// One tenant's series in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSeriesStats {
    /// The tenant.
    pub tenant: String,
    /// Its live series.
    pub series: usize,
    /// New series refused by its `max_series`.
    pub refused: u64,
}

#[cfg(test)]
mod tests {
    use crate::{AppendError, Labels, Store, StoreConfig};

    fn series(tenant: &str, n: usize) -> Labels {
        Labels::new([
            ("__name__".to_string(), "up".to_string()),
            ("n".to_string(), n.to_string()),
            ("tenant".to_string(), tenant.to_string()),
        ])
    }

    #[test]
    fn a_tenant_at_its_series_limit_leaves_others_alone() {
        let store = Store::new(StoreConfig { retention_ms: 1000, max_series: 100 });
        store.set_tenant_series_limits([("shop".to_string(), 2)].into());
        store.append(&series("shop", 1), 10, 1.0).unwrap();
        store.append(&series("shop", 2), 10, 1.0).unwrap();
        store.append(&series("shop", 1), 20, 1.0).unwrap();
        assert_eq!(
            store.append(&series("shop", 3), 10, 1.0),
            Err(AppendError::TenantSeriesLimit { tenant: "shop".into(), limit: 2 })
        );
        for n in 0..5 {
            store.append(&series("blog", n), 10, 1.0).unwrap();
        }
        let stats = store.tenant_series();
        assert_eq!((stats[0].tenant.as_str(), stats[0].series, stats[0].refused), ("blog", 5, 0));
        assert_eq!((stats[1].tenant.as_str(), stats[1].series, stats[1].refused), ("shop", 2, 1));
        // Series dropped by retention free their tenant's room.
        store.gc(5000);
        store.append(&series("shop", 3), 6000, 1.0).unwrap();
        assert_eq!(store.tenant_series().iter().find(|s| s.tenant == "shop").unwrap().series, 1);
    }
}
