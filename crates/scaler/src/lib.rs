//! Scaler (being written).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod hpa;
pub mod quantity;
