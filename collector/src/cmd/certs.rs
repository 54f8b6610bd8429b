//! `zerofault-collector certs` (in [`ca`] while it is split).

pub mod ca;

pub use ca::*;
