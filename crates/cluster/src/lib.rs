//! What connects Lookout processes to each other: the NATS connection every `nats`
//! component, the notifier cluster and the scaler's lease share (one set of keys, one
//! way to connect), and the JetStream key-value buckets they keep shared state in.

pub mod nats;

pub use nats::{NatsConnection, NatsTls};
pub mod kv;

pub use kv::KvConfig;
