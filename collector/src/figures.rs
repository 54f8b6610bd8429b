//! Report figures named once for every output: the families `/metrics` exposes and
//! remote_write pushes for block devices, TCP and the clock, with their help, type, unit
//! conversion and detail level. Both outputs iterate these tables, so a name or a unit
//! cannot differ between them (`docs/metrics.md` documents the same rows).
//!
//! Names follow node_exporter's (`node_disk_*`, `node_netstat_Tcp_*`, `node_timex_*`) with
//! the `zerofault_host_` prefix, and kernel milliseconds become seconds.

use zerofault_protocol::{BlockDevice, ClockSync, TcpStats};

/// Gauge or counter (a counter's name ends in `_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FigureKind {
    /// A value that goes up and down.
    Gauge,
    /// Cumulative since boot: use `rate()`.
    Counter,
}

/// A figure's value: a whole count as the kernel gave it, or a real number (seconds, 0/1
/// flags converted), so that `/metrics` writes counts as integers like every other family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FigureValue {
    /// A count or byte total.
    Count(u64),
    /// Seconds, ratios.
    Real(f64),
}

impl FigureValue {
    /// The value as a float (remote write samples are floats).
    pub fn as_f64(self) -> f64 {
        match self {
            Self::Count(v) => v as f64,
            Self::Real(v) => v,
        }
    }
}

/// One family: name, help, type, whether essential detail keeps it, and its value.
#[derive(Debug)]
pub struct Figure<T: 'static> {
    /// Full metric name.
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Gauge or counter.
    pub kind: FigureKind,
    /// Kept at essential detail (else full detail only).
    pub essential: bool,
    /// The value, in the family's unit; `None` leaves the series out.
    pub value: fn(&T) -> Option<FigureValue>,
}

const fn counter<T>(
    name: &'static str,
    help: &'static str,
    essential: bool,
    value: fn(&T) -> Option<FigureValue>,
) -> Figure<T> {
    Figure {
        name,
        help,
        kind: FigureKind::Counter,
        essential,
        value,
    }
}

const fn gauge<T>(
    name: &'static str,
    help: &'static str,
    essential: bool,
    value: fn(&T) -> Option<FigureValue>,
) -> Figure<T> {
    Figure {
        name,
        help,
        kind: FigureKind::Gauge,
        essential,
        value,
    }
}

fn ms(v: u64) -> Option<FigureValue> {
    Some(FigureValue::Real(v as f64 / 1000.0))
}

fn count(v: u64) -> Option<FigureValue> {
    Some(FigureValue::Count(v))
}

fn real(v: f64) -> Option<FigureValue> {
    Some(FigureValue::Real(v))
}

/// Per block device (label `device`). Busy time is kept at essential: its rate is the
/// device's utilisation, what capacity alerting and the monthly peaks read.
pub static DISK: [Figure<BlockDevice>; 9] = [
    counter(
        "zerofault_host_disk_reads_completed_total",
        "Reads completed by the block device since boot.",
        false,
        |d| count(d.reads_completed_total),
    ),
    counter(
        "zerofault_host_disk_read_bytes_total",
        "Bytes read from the block device since boot.",
        false,
        |d| count(d.read_bytes_total),
    ),
    counter(
        "zerofault_host_disk_read_time_seconds_total",
        "Time spent by all reads of the block device since boot (rate over reads rate = read await).",
        false,
        |d| ms(d.read_time_ms_total),
    ),
    counter(
        "zerofault_host_disk_writes_completed_total",
        "Writes completed by the block device since boot.",
        false,
        |d| count(d.writes_completed_total),
    ),
    counter(
        "zerofault_host_disk_written_bytes_total",
        "Bytes written to the block device since boot.",
        false,
        |d| count(d.written_bytes_total),
    ),
    counter(
        "zerofault_host_disk_write_time_seconds_total",
        "Time spent by all writes of the block device since boot (rate over writes rate = write await).",
        false,
        |d| ms(d.write_time_ms_total),
    ),
    gauge(
        "zerofault_host_disk_io_now",
        "I/Os in progress on the block device when the report was made.",
        false,
        |d| count(d.in_flight),
    ),
    counter(
        "zerofault_host_disk_io_time_seconds_total",
        "Time the block device had I/O in progress since boot: its rate is the utilisation, 0 to 1.",
        true,
        |d| ms(d.io_time_ms_total),
    ),
    counter(
        "zerofault_host_disk_io_time_weighted_seconds_total",
        "I/O time weighted by the I/Os in progress since boot: its rate is the average queue length.",
        false,
        |d| ms(d.weighted_io_time_ms_total),
    ),
];

/// The host's TCP counters (full detail).
pub static TCP: [Figure<TcpStats>; 4] = [
    gauge(
        "zerofault_host_tcp_established",
        "TCP connections in ESTABLISHED or CLOSE-WAIT (CurrEstab), IPv4 and IPv6.",
        false,
        |t| count(t.established),
    ),
    counter(
        "zerofault_host_tcp_segments_sent_total",
        "TCP segments sent since boot, retransmissions excluded (OutSegs).",
        false,
        |t| count(t.segments_sent_total),
    ),
    counter(
        "zerofault_host_tcp_segments_retransmitted_total",
        "TCP segments retransmitted since boot (RetransSegs): over the sent rate, the retransmission ratio.",
        false,
        |t| count(t.segments_retransmitted_total),
    ),
    counter(
        "zerofault_host_tcp_segments_received_total",
        "TCP segments received since boot (InSegs).",
        false,
        |t| count(t.segments_received_total),
    ),
];

/// The host's clock. Synchronised is kept at essential: an unsynchronised clock misplaces
/// the host's reports in time, which the SLA relies on.
pub static CLOCK: [Figure<ClockSync>; 3] = [
    gauge(
        "zerofault_host_clock_synchronised",
        "1 if the kernel says an NTP/PTP daemon keeps the host's clock synchronised (adjtimex), else 0.",
        true,
        |c| count(u64::from(c.synchronised)),
    ),
    gauge(
        "zerofault_host_clock_max_error_seconds",
        "The kernel's bound on the host clock's error (adjtimex maxerror; 16 once unsynchronised).",
        false,
        |c| real(c.max_error_seconds),
    ),
    gauge(
        "zerofault_host_clock_estimated_error_seconds",
        "The kernel's estimate of the host clock's error (adjtimex esterror).",
        false,
        |c| real(c.estimated_error_seconds),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_their_kind() {
        let kinds = DISK
            .iter()
            .map(|f| (f.name, f.kind))
            .chain(TCP.iter().map(|f| (f.name, f.kind)))
            .chain(CLOCK.iter().map(|f| (f.name, f.kind)));
        for (name, kind) in kinds {
            assert!(name.starts_with("zerofault_host_"), "{name}");
            assert_eq!(
                name.ends_with("_total"),
                kind == FigureKind::Counter,
                "{name}"
            );
        }
    }

    #[test]
    fn milliseconds_become_seconds() {
        let d = BlockDevice {
            io_time_ms_total: 1500,
            ..Default::default()
        };
        let io = DISK
            .iter()
            .find(|f| f.name == "zerofault_host_disk_io_time_seconds_total")
            .unwrap();
        assert_eq!((io.value)(&d), Some(FigureValue::Real(1.5)));
    }
}
