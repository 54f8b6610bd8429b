//! The remote_write sink: the collector pushes its series to Prometheus-compatible
//! receivers (VictoriaMetrics, Prometheus, Mimir, Thanos Receive) over Prometheus remote
//! write 1.0, losing nothing on the way. Operators' guide: `docs/remote-write.md`.
//!
//! Data flow: `live::ingest::commit` stores a report, then hands it to
//! [`Sinks::observe_report`], which turns it into series (`samples.rs`, stamped with the
//! agent's own time placed on the collector's clock) and appends them as one record to each
//! target's durable queue (`queue.rs`, whose module doc gives the format and invariants).
//! Every `state_interval` the state task appends what the collector derives (`state.rs`:
//! up, link states, department and data-center sums), on the lease holder only. One sender
//! per target (`sink.rs`) reads rounds from its queue, splits each round over its shards by
//! series (so one series' samples stay in order), sends, retries 5xx/429/network failures
//! with backoff (`send.rs`), drops what a receiver refuses for good, and moves the queue's
//! cursor once the whole round is done.

pub mod queue;
pub mod samples;
pub mod send;
pub mod settings;
pub mod sink;
pub mod state;
pub mod stats;
pub mod wire;

pub use settings::{RemoteWrite, Target};
pub use sink::{Running, Sinks, StateSource};
pub use stats::{DropReason, SinkReading, SinkStats};
