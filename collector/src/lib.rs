//! zerofault collector: mTLS ingest, storage, latest state per host, Prometheus exposition.
#![forbid(unsafe_code)]

pub mod certs;
pub mod demo;
pub mod expose;
pub mod state;
