//! The commands of `zerofault-collector` (the command line itself is in `main.rs`).

pub mod certs;
pub mod demo;
pub mod import;
pub mod report;
pub mod serve;
