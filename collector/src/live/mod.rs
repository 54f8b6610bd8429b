//! What arrives now: the mTLS ingest of agent reports, the table of each host's latest
//! report, the link engine (up/degraded/down from every vantage point) and the delivery
//! ledger (sequence gaps, backfill, silence).

pub mod delivery;
pub mod enroll;
pub mod hosts;
pub mod ingest;
pub mod links;
pub mod now;
pub mod revocations;
pub mod slots;
