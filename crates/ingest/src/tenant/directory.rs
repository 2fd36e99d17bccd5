//! The tenants every running `otlp` source knows, by name, for the stages after ingest
//! that need a tenant's policy: sinks checking a rendered destination against the
//! tenant's `destinations` allow-list, and the metrics store's per-tenant `max_series`.
//!
//! A source publishes its table when it loads (or reloads) its tenants file and
//! withdraws it when it stops. Looked up once per destination per batch, never per
//! record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

use lookout_tsdb::Store;

use super::file::{Tenant, Tenants};

struct Entry {
    owner: u64,
    tenants: Arc<Tenants>,
    /// The series store the owner's pipeline writes to.
    store: Arc<Store>,
}

static DIRECTORY: LazyLock<RwLock<Vec<Entry>>> = LazyLock::new(RwLock::default);

/// A fresh owner id for [`publish`] / [`withdraw`].
pub(crate) fn owner_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Publishes (or replaces) `owner`'s table, and hands the series limits of every
/// tenant published for `store` to it.
pub(crate) fn publish(owner: u64, tenants: Arc<Tenants>, store: &Arc<Store>) {
    let mut d = DIRECTORY.write().expect("tenant directory lock");
    match d.iter_mut().find(|e| e.owner == owner) {
        Some(e) => e.tenants = tenants,
        None => d.push(Entry { owner, tenants, store: store.clone() }),
    }
    push_series_limits(&d, store);
}

/// Withdraws `owner`'s table (its tenants' limits leave `store`).
pub(crate) fn withdraw(owner: u64, store: &Arc<Store>) {
    let mut d = DIRECTORY.write().expect("tenant directory lock");
    d.retain(|e| e.owner != owner);
    push_series_limits(&d, store);
}

fn push_series_limits(d: &[Entry], store: &Arc<Store>) {
    let limits = d
        .iter()
        .filter(|e| Arc::ptr_eq(&e.store, store))
        .flat_map(|e| e.tenants.iter())
        .filter_map(|t| Some((t.name.to_string(), t.limits.max_series?)))
        .collect();
    store.set_tenant_series_limits(limits);
}

/// The tenant named `name`, if a running source knows it.
pub fn lookup(name: &str) -> Option<Arc<Tenant>> {
    let d = DIRECTORY.read().expect("tenant directory lock");
    d.iter().find_map(|e| e.tenants.get(name).cloned())
}

/// Whether any tenant a running source knows satisfies `pred` (e.g. has an allow-list
/// for some kind of destination): when none does, sinks need not look at records'
/// tenants at all.
pub fn any(pred: impl Fn(&Tenant) -> bool) -> bool {
    let d = DIRECTORY.read().expect("tenant directory lock");
    d.iter().flat_map(|e| e.tenants.iter()).any(|t| pred(t))
}
