//! Scaler (being written).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod hpa;
pub mod alerts;
pub mod policy;
pub mod quantity;
pub mod schedule;
pub mod step;
