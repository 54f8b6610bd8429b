//! The monthly report: reads a month from the store and the inventory, runs the SLA engine,
//! writes the exports, and closes months (docs/sla.md).

pub mod placement;
