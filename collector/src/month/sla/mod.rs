//! SLA engine: per-slot states of hosts and links, root cause, monthly figures (docs/sla.md).
//!
//! Pure: no I/O and no clock. The caller reads the store and the inventory into the plain
//! values of [`input`] and gets a [`model::MonthReport`] from [`build::build`] (or streams
//! hosts through [`build::MonthBuilder`]). The rules are documented where they are applied:
//! [`slots`] (the state of every slot), [`rootcause`] (suppression behind a down link),
//! [`figures`] (availability, faults, groups, capacity), [`build`](mod@build) (the report's rows)
//! and [`period`] (what part of the month has happened; why a month is refused).

pub mod build;
pub mod figures;
pub mod input;
pub mod model;
pub mod period;
pub mod rootcause;
pub mod slots;

pub use build::{MonthBuilder, build};
pub use period::SlaError;
