//! What connects Lookout processes to each other: the NATS connection every `nats`
//! component, the notifier cluster and the scaler's lease share (one set of keys, one
//! way to connect), the JetStream key-value buckets they keep shared state in, and the
//! leader [`Lease`] built on such a bucket.

pub mod nats;

pub use nats::{NatsConnection, NatsTls};
pub mod kv;
pub mod lease;

pub use kv::KvConfig;
pub use lease::{Lease, LeaseConfig, LeaseStatus};
#[cfg(any(test, feature = "testing"))]
pub mod testing;
