//! A pre-decode check of a report's protobuf bytes: counts what decoding would allocate,
//! before anything is allocated.
//!
//! Why: protobuf is not size-proportional. An empty repeated entry is 2 bytes on the wire
//! and a few hundred bytes once decoded (a `LinkResult` holds strings, vectors and doubles),
//! so a 747-byte zstd body that decompresses to 8 MiB of empty `links` entries decodes to
//! more than a gigabyte. [`Report::validate`] counts entries too, but only after
//! `prost::Message::decode` has built them. [`check_wire`] walks the encoded bytes with the
//! report's schema (field tags and kinds, mirrored from the `prost` structs in `report.rs`),
//! counts the entries of every repeated message field against [`Limits`] and the bytes of
//! every string against `max_string_bytes`, and refuses before the decoder runs. What
//! passes decodes to at most [`decoded_bytes_bound`] bytes.
//!
//! It also reports the fields the schema does not know (a newer agent's, or padding): prost
//! skips them without allocating, and the collector stores only what this version defines.
//!
//! The schema here must change with the structs: the unit tests encode every field of a
//! full report and require that the walk sees no unknown field, so a field added to a
//! struct and not here fails them.

use crate::validate::Limits;
use crate::validate::ValidationError;

/// Why encoded report bytes were refused before decoding.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    /// The bytes are not a well-formed protobuf message of the report's schema.
    #[error("body is not a protobuf report: {0}")]
    Malformed(String),
    /// A field holds more entries or bytes than the limits allow.
    #[error(transparent)]
    Limit(#[from] ValidationError),
}

/// What [`check_wire`] saw besides what it checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireSummary {
    /// Fields (at any depth) whose tag the schema does not define.
    pub unknown_fields: usize,
    /// Encoded bytes of those fields (tag, length and value).
    pub unknown_bytes: usize,
    /// What the report decodes to, about: the in-memory size of the report and of every
    /// entry of its repeated fields, plus every string's bytes. The collector weighs a
    /// decoded report by it while the report waits for its commit.
    pub decoded_bytes: usize,
}

/// How a field is encoded and what decoding it allocates.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Varint scalar (integers, bools, enums).
    Varint,
    /// 64-bit fixed scalar (`double`).
    Fixed64,
    /// UTF-8 string: allocates its length.
    Str,
    /// Embedded message.
    Msg(&'static Schema),
}

/// How many entries a repeated field may hold.
#[derive(Debug, Clone, Copy)]
enum Cap {
    /// Not repeated: a second occurrence merges into (or replaces) the first and allocates
    /// nothing new beyond what its own content is checked for.
    Single,
    /// Repeated, at most `Limits::max_filesystems` per report.
    Filesystems,
    /// Repeated, at most `Limits::max_interfaces` per report.
    Interfaces,
    /// Repeated, at most `Limits::max_links` per report.
    Links,
    /// Repeated, at most `Limits::max_block_devices` per report.
    BlockDevices,
    /// Repeated, at most `Limits::max_interface_transitions` per report.
    Transitions,
    /// Repeated, at most `Limits::max_errors_per_link` per link result.
    LinkErrors,
    /// Repeated, at most `Limits::max_loss_runs` in the whole report.
    LossRuns,
    /// Repeated, at most `Limits::max_send_error_kinds` per report.
    SendErrors,
}

#[derive(Debug)]
struct Field {
    tag: u32,
    /// Path used in error messages, as in [`ValidationError`].
    name: &'static str,
    kind: Kind,
    cap: Cap,
}

#[derive(Debug)]
struct Schema {
    /// In-memory size of one decoded message of this type.
    size: usize,
    fields: &'static [Field],
}

const fn f(tag: u32, name: &'static str, kind: Kind) -> Field {
    Field {
        tag,
        name,
        kind,
        cap: Cap::Single,
    }
}

const fn rep(tag: u32, name: &'static str, kind: Kind, cap: Cap) -> Field {
    Field {
        tag,
        name,
        kind,
        cap,
    }
}

use Kind::{Fixed64, Msg, Str, Varint};

static ERROR_COUNT: Schema = Schema {
    size: std::mem::size_of::<crate::report::ErrorCount>(),
    fields: &[
        f(1, "links.errors.kind", Str),
        f(2, "links.errors.count", Varint),
    ],
};
static SEND_ERROR_COUNT: Schema = Schema {
    size: std::mem::size_of::<crate::report::ErrorCount>(),
    fields: &[
        f(1, "agent_stats.send_errors_total.kind", Str),
        f(2, "agent_stats.send_errors_total.count", Varint),
    ],
};
static LOSS_RUN: Schema = Schema {
    size: std::mem::size_of::<crate::report::LossRun>(),
    fields: &[
        f(1, "links.loss_runs.first_lost_unix_ms", Varint),
        f(2, "links.loss_runs.last_lost_unix_ms", Varint),
        f(3, "links.loss_runs.count", Varint),
        f(4, "links.loss_runs.open_start", Varint),
        f(5, "links.loss_runs.open_end", Varint),
    ],
};
static LINK_RESULT: Schema = Schema {
    size: std::mem::size_of::<crate::report::LinkResult>(),
    fields: &[
        f(1, "links.link_id", Str),
        f(2, "links.kind", Str),
        f(3, "links.target", Str),
        f(4, "links.level", Str),
        f(5, "links.domain", Str),
        f(6, "links.window_start_unix_ms", Varint),
        f(7, "links.window_end_unix_ms", Varint),
        f(8, "links.probe_interval_ms", Varint),
        f(9, "links.sent", Varint),
        f(10, "links.received", Varint),
        f(11, "links.loss_ratio", Fixed64),
        f(12, "links.rtt_min_seconds", Fixed64),
        f(13, "links.rtt_avg_seconds", Fixed64),
        f(14, "links.rtt_max_seconds", Fixed64),
        f(15, "links.rtt_p50_seconds", Fixed64),
        f(16, "links.rtt_p95_seconds", Fixed64),
        f(17, "links.jitter_seconds", Fixed64),
        rep(18, "links.errors", Msg(&ERROR_COUNT), Cap::LinkErrors),
        f(19, "links.missed_ticks", Varint),
        rep(20, "links.loss_runs", Msg(&LOSS_RUN), Cap::LossRuns),
        f(21, "links.first_probe_unix_ms", Varint),
        f(22, "links.last_probe_unix_ms", Varint),
        f(23, "links.http_status", Varint),
    ],
};
static AGENT_STATS: Schema = Schema {
    size: std::mem::size_of::<crate::report::AgentStats>(),
    fields: &[
        f(1, "agent_stats.spool_bytes", Varint),
        f(2, "agent_stats.spool_reports", Varint),
        f(3, "agent_stats.oldest_unsent_unix_ms", Varint),
        f(4, "agent_stats.spool_dropped_total", Varint),
        f(5, "agent_stats.spool_corrupt_total", Varint),
        rep(
            6,
            "agent_stats.send_errors_total",
            Msg(&SEND_ERROR_COUNT),
            Cap::SendErrors,
        ),
        f(7, "agent_stats.reports_acknowledged_total", Varint),
    ],
};
static TRANSITION: Schema = Schema {
    size: std::mem::size_of::<crate::report::InterfaceTransition>(),
    fields: &[
        f(1, "interface_transitions.interface", Str),
        f(2, "interface_transitions.at_unix_ms", Varint),
        f(3, "interface_transitions.oper_state", Str),
        f(4, "interface_transitions.carrier", Varint),
    ],
};
static LABELS: Schema = Schema {
    size: std::mem::size_of::<crate::report::Labels>(),
    fields: &[
        f(1, "labels.department", Str),
        f(2, "labels.business_system", Str),
        f(3, "labels.datacenter", Str),
        f(4, "labels.site", Str),
    ],
};
static SYSTEM: Schema = Schema {
    size: std::mem::size_of::<crate::report::SystemInfo>(),
    fields: &[
        f(1, "system.os_name", Str),
        f(2, "system.os_version", Str),
        f(3, "system.kernel_version", Str),
        f(4, "system.uptime_seconds", Varint),
    ],
};
static CPU: Schema = Schema {
    size: std::mem::size_of::<crate::report::Cpu>(),
    fields: &[
        f(1, "cpu.logical_cores", Varint),
        f(2, "cpu.physical_cores", Varint),
        f(3, "cpu.usage_ratio", Fixed64),
        f(4, "cpu.load1", Fixed64),
        f(5, "cpu.load5", Fixed64),
        f(6, "cpu.load15", Fixed64),
        f(7, "cpu.modes", Msg(&CPU_MODES)),
    ],
};
static CPU_MODES: Schema = Schema {
    size: std::mem::size_of::<crate::report::CpuModes>(),
    fields: &[
        f(1, "cpu.modes.user", Fixed64),
        f(2, "cpu.modes.nice", Fixed64),
        f(3, "cpu.modes.system", Fixed64),
        f(4, "cpu.modes.idle", Fixed64),
        f(5, "cpu.modes.iowait", Fixed64),
        f(6, "cpu.modes.irq", Fixed64),
        f(7, "cpu.modes.softirq", Fixed64),
        f(8, "cpu.modes.steal", Fixed64),
    ],
};
static PRESSURE: Schema = Schema {
    size: std::mem::size_of::<crate::report::Pressure>(),
    fields: &[
        f(1, "pressure.cpu", Msg(&PRESSURE_STAT)),
        f(2, "pressure.memory", Msg(&PRESSURE_STAT)),
        f(3, "pressure.io", Msg(&PRESSURE_STAT)),
    ],
};
static PRESSURE_STAT: Schema = Schema {
    size: std::mem::size_of::<crate::report::PressureStat>(),
    fields: &[
        f(1, "pressure.some", Msg(&PRESSURE_LINE)),
        f(2, "pressure.full", Msg(&PRESSURE_LINE)),
    ],
};
static PRESSURE_LINE: Schema = Schema {
    size: std::mem::size_of::<crate::report::PressureLine>(),
    fields: &[
        f(1, "pressure.avg10", Fixed64),
        f(2, "pressure.avg60", Fixed64),
        f(3, "pressure.avg300", Fixed64),
        f(4, "pressure.total_us", Varint),
    ],
};
static MEMORY: Schema = Schema {
    size: std::mem::size_of::<crate::report::Memory>(),
    fields: &[
        f(1, "memory.total_bytes", Varint),
        f(2, "memory.used_bytes", Varint),
        f(3, "memory.available_bytes", Varint),
        f(4, "memory.swap_total_bytes", Varint),
        f(5, "memory.swap_used_bytes", Varint),
    ],
};
static FILESYSTEM: Schema = Schema {
    size: std::mem::size_of::<crate::report::Filesystem>(),
    fields: &[
        f(1, "filesystems.mount_point", Str),
        f(2, "filesystems.device", Str),
        f(3, "filesystems.fs_type", Str),
        f(4, "filesystems.size_bytes", Varint),
        f(5, "filesystems.used_bytes", Varint),
        f(6, "filesystems.available_bytes", Varint),
        f(7, "filesystems.inodes_total", Varint),
        f(8, "filesystems.inodes_free", Varint),
        f(9, "filesystems.read_only", Varint),
    ],
};
static INTERFACE: Schema = Schema {
    size: std::mem::size_of::<crate::report::Interface>(),
    fields: &[
        f(1, "interfaces.name", Str),
        f(2, "interfaces.receive_bytes", Varint),
        f(3, "interfaces.transmit_bytes", Varint),
        f(4, "interfaces.receive_packets", Varint),
        f(5, "interfaces.transmit_packets", Varint),
        f(6, "interfaces.receive_errors", Varint),
        f(7, "interfaces.transmit_errors", Varint),
        f(8, "interfaces.receive_drops", Varint),
        f(9, "interfaces.transmit_drops", Varint),
        f(10, "interfaces.oper_state", Str),
        f(11, "interfaces.carrier", Varint),
        f(12, "interfaces.speed_bits_per_second", Varint),
        f(13, "interfaces.full_duplex", Varint),
    ],
};
static BLOCK_DEVICE: Schema = Schema {
    size: std::mem::size_of::<crate::report::BlockDevice>(),
    fields: &[
        f(1, "block_devices.name", Str),
        f(2, "block_devices.reads_completed_total", Varint),
        f(3, "block_devices.read_bytes_total", Varint),
        f(4, "block_devices.read_time_ms_total", Varint),
        f(5, "block_devices.writes_completed_total", Varint),
        f(6, "block_devices.written_bytes_total", Varint),
        f(7, "block_devices.write_time_ms_total", Varint),
        f(8, "block_devices.in_flight", Varint),
        f(9, "block_devices.io_time_ms_total", Varint),
        f(10, "block_devices.weighted_io_time_ms_total", Varint),
    ],
};
static TCP: Schema = Schema {
    size: std::mem::size_of::<crate::report::TcpStats>(),
    fields: &[
        f(1, "tcp.established", Varint),
        f(2, "tcp.segments_sent_total", Varint),
        f(3, "tcp.segments_retransmitted_total", Varint),
        f(4, "tcp.segments_received_total", Varint),
    ],
};
static CLOCK: Schema = Schema {
    size: std::mem::size_of::<crate::report::ClockSync>(),
    fields: &[
        f(1, "clock.synchronised", Varint),
        f(2, "clock.max_error_seconds", Fixed64),
        f(3, "clock.estimated_error_seconds", Fixed64),
    ],
};
static REPORT: Schema = Schema {
    size: std::mem::size_of::<crate::report::Report>(),
    fields: &[
        f(1, "protocol_version", Varint),
        f(2, "agent_id", Str),
        f(3, "hostname", Str),
        f(4, "boot_id", Str),
        f(5, "boot_time_unix_seconds", Varint),
        f(6, "sequence", Varint),
        f(7, "timestamp_unix_ms", Varint),
        f(8, "interval_ms", Varint),
        f(9, "labels", Msg(&LABELS)),
        f(10, "system", Msg(&SYSTEM)),
        f(11, "cpu", Msg(&CPU)),
        f(12, "memory", Msg(&MEMORY)),
        rep(13, "filesystems", Msg(&FILESYSTEM), Cap::Filesystems),
        rep(14, "interfaces", Msg(&INTERFACE), Cap::Interfaces),
        rep(15, "links", Msg(&LINK_RESULT), Cap::Links),
        f(16, "agent_version", Str),
        rep(
            17,
            "interface_transitions",
            Msg(&TRANSITION),
            Cap::Transitions,
        ),
        f(18, "agent_stats", Msg(&AGENT_STATS)),
        f(19, "pressure", Msg(&PRESSURE)),
        rep(20, "block_devices", Msg(&BLOCK_DEVICE), Cap::BlockDevices),
        f(21, "tcp", Msg(&TCP)),
        f(22, "clock", Msg(&CLOCK)),
    ],
};

// Protobuf wire types. Unknown fields are skipped without descending into them, so the
// walk's recursion is as deep as the schema (4: report, pressure, stat, line), whatever
// the bytes say.
const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

/// Entry counts across the whole report, for the caps that are per report.
#[derive(Debug, Default)]
struct Counts {
    filesystems: usize,
    interfaces: usize,
    links: usize,
    block_devices: usize,
    transitions: usize,
    loss_runs: usize,
    send_errors: usize,
    summary: WireSummary,
}

/// Checks encoded (decompressed) report bytes against `limits` without allocating per
/// entry; see the module doc. `Ok` means `prost` may decode them: the result holds at most
/// the limits' entries, and no string longer than `max_string_bytes`.
pub fn check_wire(raw: &[u8], limits: &Limits) -> Result<WireSummary, WireError> {
    let mut counts = Counts::default();
    counts.summary.decoded_bytes = REPORT.size;
    walk(raw, &REPORT, limits, &mut counts)?;
    Ok(counts.summary)
}

/// An upper bound of the heap and inline memory a report that passed [`check_wire`] with
/// `limits` decodes to, for `raw_bytes` of encoded input: every byte of string content
/// once, plus the in-memory size of the most entries each repeated field may hold.
pub fn decoded_bytes_bound(raw_bytes: usize, limits: &Limits) -> usize {
    use std::mem::size_of;
    let entries = limits.max_filesystems * size_of::<crate::report::Filesystem>()
        + limits.max_interfaces * size_of::<crate::report::Interface>()
        + limits.max_block_devices * size_of::<crate::report::BlockDevice>()
        + limits.max_links
            * (size_of::<crate::report::LinkResult>()
                + limits.max_errors_per_link * size_of::<crate::report::ErrorCount>())
        + limits.max_loss_runs * size_of::<crate::report::LossRun>()
        + limits.max_interface_transitions * size_of::<crate::report::InterfaceTransition>()
        + limits.max_send_error_kinds * size_of::<crate::report::ErrorCount>();
    // Vectors grow by doubling, so a vector may hold up to twice its entries' size.
    size_of::<crate::report::Report>() + 2 * entries + raw_bytes
}

fn walk(
    mut buf: &[u8],
    schema: &'static Schema,
    limits: &Limits,
    counts: &mut Counts,
) -> Result<(), WireError> {
    // Per-message caps (errors per link) are counted per walk of that message.
    let mut link_errors = 0usize;
    while !buf.is_empty() {
        let start_len = buf.len();
        let key = varint(&mut buf)?;
        let tag = u32::try_from(key >> 3)
            .ok()
            .filter(|t| *t != 0)
            .ok_or_else(|| WireError::Malformed(format!("invalid field key {key}")))?;
        let wire = (key & 7) as u8;
        let field = schema.fields.iter().find(|f| f.tag == tag);
        let Some(field) = field else {
            skip(&mut buf, wire, tag)?;
            counts.summary.unknown_fields += 1;
            counts.summary.unknown_bytes += start_len - buf.len();
            continue;
        };
        match (field.kind, wire) {
            (Kind::Varint, WIRE_VARINT) => {
                varint(&mut buf)?;
            }
            (Kind::Fixed64, WIRE_FIXED64) => {
                take(&mut buf, 8, field.name)?;
            }
            (Kind::Str, WIRE_LEN) => {
                let value = length_delimited(&mut buf, field.name)?;
                if value.len() > limits.max_string_bytes {
                    return Err(ValidationError::TooLong {
                        field: field.name,
                        len: value.len(),
                        limit: limits.max_string_bytes,
                    }
                    .into());
                }
                counts.summary.decoded_bytes += value.len();
            }
            (Kind::Msg(inner), WIRE_LEN) => {
                let value = length_delimited(&mut buf, field.name)?;
                let (n, limit) = match field.cap {
                    Cap::Single => (0, usize::MAX),
                    Cap::Filesystems => (bump(&mut counts.filesystems), limits.max_filesystems),
                    Cap::Interfaces => (bump(&mut counts.interfaces), limits.max_interfaces),
                    Cap::Links => (bump(&mut counts.links), limits.max_links),
                    Cap::BlockDevices => {
                        (bump(&mut counts.block_devices), limits.max_block_devices)
                    }
                    Cap::Transitions => (
                        bump(&mut counts.transitions),
                        limits.max_interface_transitions,
                    ),
                    Cap::LinkErrors => (bump(&mut link_errors), limits.max_errors_per_link),
                    Cap::LossRuns => (bump(&mut counts.loss_runs), limits.max_loss_runs),
                    Cap::SendErrors => (bump(&mut counts.send_errors), limits.max_send_error_kinds),
                };
                if n > limit {
                    // The count so far is enough to refuse: the rest is not read.
                    return Err(ValidationError::TooMany {
                        field: field.name,
                        len: n,
                        limit,
                    }
                    .into());
                }
                // A repeated entry is a new value in its vector; a singular message is one
                // optional value, counted once here however often it appears (prost merges).
                if !matches!(field.cap, Cap::Single) {
                    counts.summary.decoded_bytes += inner.size;
                }
                walk(value, inner, limits, counts)?;
            }
            (_, wire) => {
                return Err(WireError::Malformed(format!(
                    "field `{}` (tag {tag}) has wire type {wire}, which its type cannot have",
                    field.name
                )));
            }
        }
    }
    Ok(())
}

fn bump(n: &mut usize) -> usize {
    *n += 1;
    *n
}

/// Skips an unknown field. Groups (wire types 3 and 4) are deprecated, never written by
/// this protocol, and would need nesting to skip: refused.
fn skip(buf: &mut &[u8], wire: u8, tag: u32) -> Result<(), WireError> {
    match wire {
        WIRE_VARINT => varint(buf).map(drop),
        WIRE_FIXED64 => take(buf, 8, "unknown field").map(drop),
        WIRE_LEN => length_delimited(buf, "unknown field").map(drop),
        WIRE_FIXED32 => take(buf, 4, "unknown field").map(drop),
        other => Err(WireError::Malformed(format!(
            "unknown field {tag} has wire type {other} (groups are not accepted)"
        ))),
    }
}

fn length_delimited<'a>(buf: &mut &'a [u8], name: &str) -> Result<&'a [u8], WireError> {
    let len = varint(buf)?;
    let len = usize::try_from(len)
        .map_err(|_| WireError::Malformed(format!("field `{name}`: length {len} is too large")))?;
    take(buf, len, name)
}

fn take<'a>(buf: &mut &'a [u8], n: usize, name: &str) -> Result<&'a [u8], WireError> {
    if buf.len() < n {
        return Err(WireError::Malformed(format!(
            "field `{name}` is truncated: {n} bytes declared, {} left",
            buf.len()
        )));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

fn varint(buf: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for i in 0..10 {
        let Some((&byte, rest)) = buf.split_first() else {
            return Err(WireError::Malformed("truncated varint".into()));
        };
        *buf = rest;
        // The tenth byte may only carry the top bit of a u64.
        if i == 9 && byte > 1 {
            return Err(WireError::Malformed("varint longer than 64 bits".into()));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::Malformed("varint longer than 10 bytes".into()))
}

#[cfg(test)]
mod tests;
