//! Output sinks: what the collector pushes to other systems. Each sink is fed from the one
//! place a report becomes part of the record (`live::ingest::commit`, after the store
//! accepted it), owns its settings and reports its own figures on `/metrics`.

pub mod notify;
pub mod remote_write;
