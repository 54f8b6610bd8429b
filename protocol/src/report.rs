//! The report message and its parts: the protobuf schema of the wire (prost tags) and the
//! JSON shape of `zerofault-agent once --json` (serde names).

use serde::{Deserialize, Serialize};

/// Major protocol version written by this crate and the only one it accepts.
pub const PROTOCOL_VERSION: u32 = 1;

/// One observation of one host by its agent, sent every collection interval.
///
/// `(agent_id, boot_id, sequence)` identifies a report; the collector stores each at most once.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// Major protocol version, [`PROTOCOL_VERSION`] for reports made by this crate.
    #[prost(uint32, tag = "1")]
    pub protocol_version: u32,
    /// Stable agent identity; equals the common name of the agent's client certificate.
    #[prost(string, tag = "2")]
    pub agent_id: String,
    /// Host name as the kernel reports it.
    #[prost(string, tag = "3")]
    pub hostname: String,
    /// Linux boot id (`/proc/sys/kernel/random/boot_id`): changes on every boot.
    #[prost(string, tag = "4")]
    pub boot_id: String,
    /// Boot time, seconds since the Unix epoch (agent clock).
    #[prost(int64, tag = "5")]
    pub boot_time_unix_seconds: i64,
    /// Per-agent sequence number, strictly increasing across reports of one agent.
    #[prost(uint64, tag = "6")]
    pub sequence: u64,
    /// Agent wall-clock time when the report was made, milliseconds since the Unix epoch.
    #[prost(int64, tag = "7")]
    pub timestamp_unix_ms: i64,
    /// The agent's configured collection interval in milliseconds; the collector derives
    /// "host up" (a report within 3 intervals) from it.
    #[prost(uint32, tag = "8")]
    pub interval_ms: u32,
    /// Organisation labels from the agent's config.
    #[prost(message, optional, tag = "9")]
    pub labels: Option<Labels>,
    /// Operating system, kernel and uptime.
    #[prost(message, optional, tag = "10")]
    pub system: Option<SystemInfo>,
    /// CPU capacity and usage.
    #[prost(message, optional, tag = "11")]
    pub cpu: Option<Cpu>,
    /// Memory and swap.
    #[prost(message, optional, tag = "12")]
    pub memory: Option<Memory>,
    /// Real (non-pseudo) filesystems, one per mount point.
    #[prost(message, repeated, tag = "13")]
    pub filesystems: Vec<Filesystem>,
    /// Network interfaces with cumulative counters.
    #[prost(message, repeated, tag = "14")]
    pub interfaces: Vec<Interface>,
    /// Link probe results, one per configured probe target, for the window since the
    /// previous report.
    #[prost(message, repeated, tag = "15")]
    pub links: Vec<LinkResult>,
    /// Version string of the agent that made the report, e.g. `0.1.0`.
    #[prost(string, tag = "16")]
    pub agent_version: String,
    /// Operstate/carrier changes of the host's interfaces seen since the previous report, in
    /// time order, so that the collector can count network uptime per interface.
    #[prost(message, repeated, tag = "17")]
    pub interface_transitions: Vec<InterfaceTransition>,
    /// The agent's own health: spool and delivery, as of when the report was made.
    #[prost(message, optional, tag = "18")]
    pub agent_stats: Option<AgentStats>,
    /// Pressure stall information, where the kernel has it.
    #[prost(message, optional, tag = "19")]
    pub pressure: Option<Pressure>,
    /// Block devices (whole disks and device-mapper/MD devices, not partitions), counters
    /// cumulative since boot as `/proc/diskstats` keeps them.
    #[prost(message, repeated, tag = "20")]
    pub block_devices: Vec<BlockDevice>,
    /// The host's TCP counters (IPv4 and IPv6 together, as the kernel keeps them); absent
    /// when `/proc/net/snmp` cannot be read.
    #[prost(message, optional, tag = "21")]
    pub tcp: Option<TcpStats>,
    /// Whether the host's clock is synchronised, as the kernel's NTP state says
    /// (`adjtimex`); absent when the agent could not ask.
    #[prost(message, optional, tag = "22")]
    pub clock: Option<ClockSync>,
}

/// The agent's spool and delivery counters. Counters are cumulative since the agent's spool
/// was created (they survive agent restarts), so the collector can show them as `_total`.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentStats {
    /// Bytes on disk in the spool (all segments).
    #[prost(uint64, tag = "1")]
    pub spool_bytes: u64,
    /// Reports in the spool not yet acknowledged by the collector.
    #[prost(uint64, tag = "2")]
    pub spool_reports: u64,
    /// Agent timestamp of the oldest unacknowledged report (ms); 0 when none.
    #[prost(int64, tag = "3")]
    pub oldest_unsent_unix_ms: i64,
    /// Reports dropped because the spool was full (oldest first).
    #[prost(uint64, tag = "4")]
    pub spool_dropped_total: u64,
    /// Spool records found torn or corrupt (checksum mismatch) and skipped.
    #[prost(uint64, tag = "5")]
    pub spool_corrupt_total: u64,
    /// Failed delivery attempts by kind (`connect`, `timeout`, `tls`, `http_5xx`, `http_429`,
    /// `http_4xx`, `other`).
    #[prost(message, repeated, tag = "6")]
    pub send_errors_total: Vec<ErrorCount>,
    /// Reports acknowledged by the collector.
    #[prost(uint64, tag = "7")]
    pub reports_acknowledged_total: u64,
}

/// Statistics of one probe target over one report window.
///
/// Probes belong to the window in which their outcome became known; `loss_runs` are in send
/// order. RTT fields are 0 when nothing was received.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkResult {
    /// Link id from the agent's config (the inventory's link id).
    #[prost(string, tag = "1")]
    pub link_id: String,
    /// Probe kind: `icmp`, `tcp` or `http`.
    #[prost(string, tag = "2")]
    pub kind: String,
    /// What was probed: an address, `address:port`, or a URL.
    #[prost(string, tag = "3")]
    pub target: String,
    /// Backbone level: `province-city`, `city-county`, `county-township`, `access`, or empty.
    #[prost(string, tag = "4")]
    pub level: String,
    /// Network domain: `administrative`, `public`, or empty.
    #[prost(string, tag = "5")]
    pub domain: String,
    /// Window start (agent clock), ms since the Unix epoch.
    #[prost(int64, tag = "6")]
    pub window_start_unix_ms: i64,
    /// Window end (agent clock), ms since the Unix epoch.
    #[prost(int64, tag = "7")]
    pub window_end_unix_ms: i64,
    /// Configured time between probes.
    #[prost(uint32, tag = "8")]
    pub probe_interval_ms: u32,
    /// Probes whose outcome is known in this window.
    #[prost(uint32, tag = "9")]
    pub sent: u32,
    /// Probes answered in time (for HTTP: any response with a status below 400).
    #[prost(uint32, tag = "10")]
    pub received: u32,
    /// `1 - received / sent`; 0 when nothing was sent.
    #[prost(double, tag = "11")]
    pub loss_ratio: f64,
    /// Smallest round-trip time of the window, seconds.
    #[prost(double, tag = "12")]
    pub rtt_min_seconds: f64,
    /// Mean round-trip time, seconds.
    #[prost(double, tag = "13")]
    pub rtt_avg_seconds: f64,
    /// Largest round-trip time, seconds.
    #[prost(double, tag = "14")]
    pub rtt_max_seconds: f64,
    /// Median round-trip time (nearest rank), seconds.
    #[prost(double, tag = "15")]
    pub rtt_p50_seconds: f64,
    /// 95th percentile round-trip time (nearest rank), seconds.
    #[prost(double, tag = "16")]
    pub rtt_p95_seconds: f64,
    /// Mean absolute difference of consecutive RTTs (RFC 3550 style), seconds; 0 with fewer
    /// than two replies.
    #[prost(double, tag = "17")]
    pub jitter_seconds: f64,
    /// Failed probes by error kind.
    #[prost(message, repeated, tag = "18")]
    pub errors: Vec<ErrorCount>,
    /// Probe ticks that could not be taken on time (agent overloaded or suspended); these
    /// probes were not sent and are not counted in `sent`.
    #[prost(uint32, tag = "19")]
    pub missed_ticks: u32,
    /// Runs of consecutive lost probes, in send order, so that the collector can place
    /// outages to the probe and stitch runs across windows.
    #[prost(message, repeated, tag = "20")]
    pub loss_runs: Vec<LossRun>,
    /// Send time of the first probe of the window (agent clock, ms); 0 when none.
    #[prost(int64, tag = "21")]
    pub first_probe_unix_ms: i64,
    /// Send time of the last probe of the window (agent clock, ms); 0 when none.
    #[prost(int64, tag = "22")]
    pub last_probe_unix_ms: i64,
    /// Last HTTP status seen (HTTP probes), 0 otherwise.
    #[prost(uint32, tag = "23")]
    pub http_status: u32,
}

/// Number of failed probes of one error kind.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorCount {
    /// `timeout`, `unreachable`, `refused`, `tls`, `http_status` or `other`.
    #[prost(string, tag = "1")]
    pub kind: String,
    /// Probes that failed this way.
    #[prost(uint32, tag = "2")]
    pub count: u32,
}

/// A run of consecutive lost probes within one window.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct LossRun {
    /// Send time of the first lost probe (agent clock, ms).
    #[prost(int64, tag = "1")]
    pub first_lost_unix_ms: i64,
    /// Send time of the last lost probe (agent clock, ms).
    #[prost(int64, tag = "2")]
    pub last_lost_unix_ms: i64,
    /// Lost probes in the run.
    #[prost(uint32, tag = "3")]
    pub count: u32,
    /// The run starts with the window's first probe (it may continue a run of the previous
    /// window).
    #[prost(bool, tag = "4")]
    pub open_start: bool,
    /// The run ends with the window's last probe (it may continue into the next window).
    #[prost(bool, tag = "5")]
    pub open_end: bool,
}

/// A change of an interface's operational state or carrier.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct InterfaceTransition {
    /// Interface name.
    #[prost(string, tag = "1")]
    pub interface: String,
    /// When the agent saw the change (agent clock, ms); within the agent's poll period (1 s)
    /// of the real change.
    #[prost(int64, tag = "2")]
    pub at_unix_ms: i64,
    /// Operational state after the change.
    #[prost(string, tag = "3")]
    pub oper_state: String,
    /// Carrier after the change, absent when unknown.
    #[prost(bool, optional, tag = "4")]
    pub carrier: Option<bool>,
}

/// Labels an agent declares for its host; the collector aggregates by them.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Labels {
    /// Department (单位/部门) code.
    #[prost(string, tag = "1")]
    pub department: String,
    /// Business system (业务系统) code.
    #[prost(string, tag = "2")]
    pub business_system: String,
    /// Data center code.
    #[prost(string, tag = "3")]
    pub datacenter: String,
    /// Network site code.
    #[prost(string, tag = "4")]
    pub site: String,
}

/// Operating system facts.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SystemInfo {
    /// OS name, e.g. `Debian GNU/Linux`.
    #[prost(string, tag = "1")]
    pub os_name: String,
    /// OS version, e.g. `12`.
    #[prost(string, tag = "2")]
    pub os_version: String,
    /// Kernel release, e.g. `6.1.0-26-amd64`.
    #[prost(string, tag = "3")]
    pub kernel_version: String,
    /// Seconds since boot.
    #[prost(uint64, tag = "4")]
    pub uptime_seconds: u64,
}

/// CPU capacity and usage over the last interval.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    /// Logical CPUs (hardware threads) online.
    #[prost(uint32, tag = "1")]
    pub logical_cores: u32,
    /// Physical cores, 0 when unknown.
    #[prost(uint32, tag = "2")]
    pub physical_cores: u32,
    /// Busy share of all logical CPUs since the previous report, 0..=1.
    #[prost(double, tag = "3")]
    pub usage_ratio: f64,
    /// 1-minute load average.
    #[prost(double, tag = "4")]
    pub load1: f64,
    /// 5-minute load average.
    #[prost(double, tag = "5")]
    pub load5: f64,
    /// 15-minute load average.
    #[prost(double, tag = "6")]
    pub load15: f64,
    /// Shares of all CPUs' time per mode since the previous report (`/proc/stat`); absent
    /// where the kernel gives no mode fields (before Linux 2.6.11) or no time passed, and in
    /// reports of agents before these fields: absent, never zero.
    #[prost(message, optional, tag = "7")]
    pub modes: Option<CpuModes>,
}

/// Shares of the CPUs' time per mode over an interval, each 0..=1, summing to 1 (guest
/// time is inside `user` and `nice`, as the kernel counts it). Steal is time the
/// hypervisor gave to other guests while this one wanted to run; iowait is idle time with
/// I/O outstanding.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuModes {
    /// Normal processes in user mode.
    #[prost(double, tag = "1")]
    pub user: f64,
    /// Niced processes in user mode.
    #[prost(double, tag = "2")]
    pub nice: f64,
    /// Kernel mode.
    #[prost(double, tag = "3")]
    pub system: f64,
    /// Idle, without I/O outstanding.
    #[prost(double, tag = "4")]
    pub idle: f64,
    /// Idle with I/O outstanding.
    #[prost(double, tag = "5")]
    pub iowait: f64,
    /// Servicing hardware interrupts.
    #[prost(double, tag = "6")]
    pub irq: f64,
    /// Servicing softirqs.
    #[prost(double, tag = "7")]
    pub softirq: f64,
    /// Stolen by the hypervisor.
    #[prost(double, tag = "8")]
    pub steal: f64,
}

impl CpuModes {
    /// Every mode with its name, in a fixed order (the `mode` label of `/metrics`).
    pub fn named(&self) -> [(&'static str, f64); 8] {
        [
            ("user", self.user),
            ("nice", self.nice),
            ("system", self.system),
            ("idle", self.idle),
            ("iowait", self.iowait),
            ("irq", self.irq),
            ("softirq", self.softirq),
            ("steal", self.steal),
        ]
    }
}

/// Pressure stall information (`/proc/pressure/{cpu,memory,io}`, Linux 4.20 and later with
/// PSI enabled): how much of the time tasks waited for a resource. A resource the kernel
/// does not report is absent.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Pressure {
    /// Waiting for a CPU.
    #[prost(message, optional, tag = "1")]
    pub cpu: Option<PressureStat>,
    /// Waiting for memory (reclaim, swap-in, thrashing).
    #[prost(message, optional, tag = "2")]
    pub memory: Option<PressureStat>,
    /// Waiting for block I/O.
    #[prost(message, optional, tag = "3")]
    pub io: Option<PressureStat>,
}

impl Pressure {
    /// Every `(resource, kind, line)` present, in a fixed order (`cpu`, `memory`, `io`;
    /// `some`, `full`): the labels of `/metrics`.
    pub fn lines(&self) -> impl Iterator<Item = (&'static str, &'static str, &PressureLine)> {
        [
            ("cpu", &self.cpu),
            ("memory", &self.memory),
            ("io", &self.io),
        ]
        .into_iter()
        .filter_map(|(resource, stat)| stat.as_ref().map(|s| (resource, s)))
        .flat_map(|(resource, s)| {
            [("some", &s.some), ("full", &s.full)]
                .into_iter()
                .filter_map(move |(kind, line)| line.as_ref().map(|l| (resource, kind, l)))
        })
    }
}

/// The `some` and `full` lines of one pressure file.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct PressureStat {
    /// At least one task waited.
    #[prost(message, optional, tag = "1")]
    pub some: Option<PressureLine>,
    /// All non-idle tasks waited at once (absent for cpu before Linux 5.13).
    #[prost(message, optional, tag = "2")]
    pub full: Option<PressureLine>,
}

/// One line of a pressure file.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct PressureLine {
    /// Share of the last 10 s spent waiting, 0..=1 (the kernel's `avg10` / 100).
    #[prost(double, tag = "1")]
    pub avg10: f64,
    /// Share of the last 60 s.
    #[prost(double, tag = "2")]
    pub avg60: f64,
    /// Share of the last 300 s.
    #[prost(double, tag = "3")]
    pub avg300: f64,
    /// Time spent waiting since boot, microseconds (`total`).
    #[prost(uint64, tag = "4")]
    pub total_us: u64,
}

/// Memory and swap, in bytes.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    /// `MemTotal`.
    #[prost(uint64, tag = "1")]
    pub total_bytes: u64,
    /// `MemTotal - MemAvailable`: memory the system cannot hand out without reclaiming.
    #[prost(uint64, tag = "2")]
    pub used_bytes: u64,
    /// `MemAvailable`.
    #[prost(uint64, tag = "3")]
    pub available_bytes: u64,
    /// `SwapTotal`.
    #[prost(uint64, tag = "4")]
    pub swap_total_bytes: u64,
    /// `SwapTotal - SwapFree`.
    #[prost(uint64, tag = "5")]
    pub swap_used_bytes: u64,
}

/// One mounted filesystem.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Filesystem {
    /// Mount point, e.g. `/var`.
    #[prost(string, tag = "1")]
    pub mount_point: String,
    /// Device, e.g. `/dev/vda1`.
    #[prost(string, tag = "2")]
    pub device: String,
    /// Filesystem type, e.g. `ext4`.
    #[prost(string, tag = "3")]
    pub fs_type: String,
    /// Total size.
    #[prost(uint64, tag = "4")]
    pub size_bytes: u64,
    /// Used (`size - free`, including root-reserved blocks).
    #[prost(uint64, tag = "5")]
    pub used_bytes: u64,
    /// Available to unprivileged users.
    #[prost(uint64, tag = "6")]
    pub available_bytes: u64,
    /// Inodes (`f_files`); absent for a filesystem without a fixed number (btrfs and the
    /// like report 0) and from agents before this field.
    #[prost(uint64, optional, tag = "7")]
    pub inodes_total: Option<u64>,
    /// Free inodes (`f_ffree`), at most `inodes_total`; absent with it.
    #[prost(uint64, optional, tag = "8")]
    pub inodes_free: Option<u64>,
    /// Mounted read-only (`ST_RDONLY`): a filesystem the kernel remounted read-only after
    /// an error shows here; absent from agents before this field.
    #[prost(bool, optional, tag = "9")]
    pub read_only: Option<bool>,
}

/// One network interface, counters cumulative since boot (as the kernel keeps them).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Interface {
    /// Interface name, e.g. `eth0`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Received bytes.
    #[prost(uint64, tag = "2")]
    pub receive_bytes: u64,
    /// Transmitted bytes.
    #[prost(uint64, tag = "3")]
    pub transmit_bytes: u64,
    /// Received packets.
    #[prost(uint64, tag = "4")]
    pub receive_packets: u64,
    /// Transmitted packets.
    #[prost(uint64, tag = "5")]
    pub transmit_packets: u64,
    /// Receive errors.
    #[prost(uint64, tag = "6")]
    pub receive_errors: u64,
    /// Transmit errors.
    #[prost(uint64, tag = "7")]
    pub transmit_errors: u64,
    /// Received packets dropped.
    #[prost(uint64, tag = "8")]
    pub receive_drops: u64,
    /// Transmitted packets dropped.
    #[prost(uint64, tag = "9")]
    pub transmit_drops: u64,
    /// RFC 2863 operational state as the kernel names it (`up`, `down`, `unknown`,
    /// `dormant`, `lowerlayerdown`, `notpresent`, `testing`).
    #[prost(string, tag = "10")]
    pub oper_state: String,
    /// Carrier (link detected); absent when the kernel does not say (interface down).
    #[prost(bool, optional, tag = "11")]
    pub carrier: Option<bool>,
    /// Link speed in bits per second; 0 when unknown (virtual interfaces).
    #[prost(uint64, tag = "12")]
    pub speed_bits_per_second: u64,
    /// Full duplex (`true`) or half (`false`); absent when the kernel does not say
    /// (virtual interfaces, link down) and from agents before this field.
    #[prost(bool, optional, tag = "13")]
    pub full_duplex: Option<bool>,
}

/// One block device of `/proc/diskstats`, counters cumulative since boot (they wrap only
/// at 2^64 on 64-bit kernels). IOPS, throughput, await and utilisation are rates of these.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockDevice {
    /// Kernel name, e.g. `vda`, `nvme0n1`, `dm-0`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Reads completed.
    #[prost(uint64, tag = "2")]
    pub reads_completed_total: u64,
    /// Bytes read (sectors of 512 bytes, whatever the device's own sector size).
    #[prost(uint64, tag = "3")]
    pub read_bytes_total: u64,
    /// Time spent by reads, milliseconds summed over all reads.
    #[prost(uint64, tag = "4")]
    pub read_time_ms_total: u64,
    /// Writes completed.
    #[prost(uint64, tag = "5")]
    pub writes_completed_total: u64,
    /// Bytes written.
    #[prost(uint64, tag = "6")]
    pub written_bytes_total: u64,
    /// Time spent by writes, milliseconds summed over all writes.
    #[prost(uint64, tag = "7")]
    pub write_time_ms_total: u64,
    /// I/Os in progress when the report was made.
    #[prost(uint64, tag = "8")]
    pub in_flight: u64,
    /// Time the device had at least one I/O in progress, milliseconds: its rate is the
    /// utilisation (1.0 = busy all the time).
    #[prost(uint64, tag = "9")]
    pub io_time_ms_total: u64,
    /// Time spent doing I/Os weighted by the number in progress, milliseconds: its rate is
    /// the average queue length.
    #[prost(uint64, tag = "10")]
    pub weighted_io_time_ms_total: u64,
}

/// TCP counters of `/proc/net/snmp` (RFC 4022's MIB, IPv4 and IPv6 together).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct TcpStats {
    /// Connections in ESTABLISHED or CLOSE-WAIT now (`CurrEstab`).
    #[prost(uint64, tag = "1")]
    pub established: u64,
    /// Segments sent, retransmissions excluded (`OutSegs`).
    #[prost(uint64, tag = "2")]
    pub segments_sent_total: u64,
    /// Segments retransmitted (`RetransSegs`): their rate over `segments_sent_total`'s is
    /// the retransmission ratio.
    #[prost(uint64, tag = "3")]
    pub segments_retransmitted_total: u64,
    /// Segments received (`InSegs`).
    #[prost(uint64, tag = "4")]
    pub segments_received_total: u64,
}

/// The kernel's view of the host clock (`adjtimex(2)` read without changing anything).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ClockSync {
    /// Synchronised: an NTP/PTP daemon disciplines the clock (`STA_UNSYNC` clear and the
    /// state not `TIME_ERROR`). An unsynchronised clock misplaces reports in time, which
    /// the SLA relies on.
    #[prost(bool, tag = "1")]
    pub synchronised: bool,
    /// The kernel's maximum error bound, seconds (`maxerror`; 16 s once unsynchronised).
    #[prost(double, tag = "2")]
    pub max_error_seconds: f64,
    /// The estimated error, seconds (`esterror`).
    #[prost(double, tag = "3")]
    pub estimated_error_seconds: f64,
}
