//! SLA engine: per-slot states of hosts and links, root cause, monthly figures (docs/sla.md).

pub mod model;
