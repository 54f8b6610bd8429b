//! The commands of `zerofault-collector` (the command line itself is in `main.rs`), one
//! file each; what they share on the console (exit codes, the progress line) is in
//! [`console`]; the lease by which one of several collectors does the deployment-wide work
//! is in [`deployment`].

pub mod audit;
pub mod backup;
pub mod certs;
pub mod console;
pub mod demo;
pub mod deployment;
pub mod hash_password;
pub mod import;
pub mod report;
pub mod serve;
pub mod sla;
pub mod validate;
pub mod verify;
