//! The zerofault wire contract: what an agent sends to the collector.
//!
//! This crate holds types and pure encode/decode/validate functions only; no I/O.
//! `docs/protocol.md` is the human-readable form of this module and must change with it.
//!
//! # Envelope
//!
//! One report is one HTTPS `POST /api/v1/report` whose body is a protobuf-encoded
//! [`Report`] compressed with zstd (a single frame). The request carries
//! `Content-Type: application/x-zerofault-report` ([`CONTENT_TYPE`]) and
//! `X-Zerofault-Protocol: 1` ([`VERSION_HEADER`]).
//!
//! # Compatibility rules
//!
//! * Field tags are never reused or renumbered. New fields get new tags; a collector that
//!   does not know a field skips it (protobuf semantics), so an older collector accepts a
//!   newer agent's report.
//! * [`Report::protocol_version`] is the major version. It changes only for a change an
//!   older peer cannot ignore; a collector refuses a major version it does not know.
//! * Every field is optional on the wire: a missing scalar decodes as its zero value, and
//!   [`Report::validate`] decides which zeroes are not acceptable.
#![forbid(unsafe_code)]

mod body;
pub mod enroll;
pub mod remote_write;
mod report;
mod validate;
mod wire;

pub use body::{
    CONTENT_TYPE, DecodeError, INGEST_PATH, VERSION_HEADER, ZSTD_LEVEL, decode_report,
    decompress_bounded, encode_report,
};
pub use report::{
    AgentStats, BlockDevice, ClockSync, Cpu, CpuModes, ErrorCount, Filesystem, Interface,
    InterfaceTransition, Labels, LinkResult, LossRun, Memory, PROTOCOL_VERSION, Pressure,
    PressureLine, PressureStat, Report, SystemInfo, TcpStats,
};
pub use validate::{
    LINK_DOMAINS, LINK_KINDS, LINK_LEVELS, Limits, MAX_AGENT_ID_BYTES, MAX_INTERVAL_MS,
    MAX_TIMESTAMP_UNIX_MS, MIN_INTERVAL_MS, MIN_TIMESTAMP_UNIX_MS, ValidationError,
    is_valid_agent_id,
};
pub use wire::{WireError, WireSummary, check_wire, decoded_bytes_bound};

#[cfg(test)]
mod tests;
