//! zerofault collector: mTLS ingest, storage, latest state per host, Prometheus exposition.
#![forbid(unsafe_code)]

pub mod certs;
pub mod config;
pub mod delivery;
pub mod demo;
pub use zerofault_common::duration;
pub mod export;
pub mod expose;
pub mod import;
pub mod ingest;
pub mod inventory;
pub mod links;
pub mod monthly;
pub mod server;
pub mod sla;
pub mod state;
pub mod store;
pub mod tls;
