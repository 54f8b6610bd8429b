//! zerofault collector. The modules follow the data flow (docs/architecture.md):
//!
//! agents --mTLS--> [`live`] (ingest, host table, links, delivery) --> [`store`] -->
//! [`month`] (SLA engine, exports, close/verify); [`aggregate`] and [`http`] (`/metrics`, the
//! API, the SLA report download) show what is live and what is stored; [`cmd`] holds the
//! commands (serve, import, report, certs, demo, validate). [`config`] composes the settings
//! each component declares; [`inventory`] (departments, data centers, links, time zone) is
//! read by all stages.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod audit;
pub mod cmd;
pub mod config;
pub mod figures;
pub use zerofault_common::duration;
pub mod http;
pub mod inventory;
pub mod live;
pub mod month;
pub mod outputs;
pub mod rollup;
pub mod series;
pub mod store;
pub mod tls;
