//! The reports of one simulated agent: shaped like a real agent's (labels, CPU, memory, three
//! filesystems, two interfaces, agent stats; link windows for the share of agents that probe
//! links), with values that move from report to report, so that bodies compress like real
//! ones and not like a block of repeated bytes.

use zerofault_protocol::{
    AgentStats, BlockDevice, ClockSync, Cpu, ErrorCount, Filesystem, Interface, Labels, LinkResult,
    LossRun, Memory, PROTOCOL_VERSION, Report, SystemInfo, TcpStats,
};

/// A small, fast, deterministic generator (SplitMix64): the figures must be reproducible
/// from the agent index and the run's seed, and 50,000 agents need no shared RNG.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `stream` under `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        Self(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0.0..1.0`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Link windows per probing agent and the number of distinct links they share.
#[derive(Debug, Clone, Copy)]
pub struct LinkPlan {
    /// Link windows in each report of a probing agent.
    pub per_agent: usize,
    /// Distinct link ids; a probing agent probes `per_agent` consecutive ones (mod this),
    /// so that a link has several vantage points, as in a real backbone.
    pub distinct: usize,
}

/// One simulated agent: identity, boot, sequence and the state its values drift from.
#[derive(Debug)]
pub struct Agent {
    /// Agent id = certificate CN.
    pub id: String,
    boot_id: String,
    boot_time_unix_seconds: i64,
    sequence: u64,
    interval_ms: u32,
    /// First link index probed, when this agent probes links.
    links: Option<usize>,
    plan: LinkPlan,
    labels: Labels,
    cores: u32,
    memory_total: u64,
    usage: f64,
    fs_used: [u64; 3],
    counters: [u64; 2],
    rng: Rng,
}

/// Filesystems of every simulated host: mount point, device, type, size.
const FILESYSTEMS: [(&str, &str, &str, u64); 3] = [
    ("/", "/dev/vda1", "ext4", 50 << 30),
    ("/data", "/dev/vdb1", "xfs", 500 << 30),
    ("/var/log", "/dev/vda3", "ext4", 20 << 30),
];

impl Agent {
    /// Agent number `index` of the run seeded `seed`; `probes` says whether it probes links.
    pub fn new(
        index: usize,
        id: String,
        seed: u64,
        interval_ms: u32,
        probes: bool,
        plan: LinkPlan,
    ) -> Self {
        let mut rng = Rng::new(seed, index as u64);
        // A fresh boot id per run and agent: a second run against the same database is a
        // new boot, never a replay of the first run's sequence numbers.
        let b = [rng.next_u64(), rng.next_u64()];
        let boot_id = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            b[0] >> 32,
            (b[0] >> 16) & 0xffff,
            b[0] & 0xfff,
            (b[1] >> 48) & 0xfff,
            b[1] & 0xffff_ffff_ffff
        );
        let now_s = unix_ms() / 1000;
        // 90 departments, 660 business systems, 30 data centers, as in the brief's city.
        let labels = Labels {
            department: format!("dept-{:02}", index % 90),
            business_system: format!("sys-{:03}", index % 660),
            datacenter: format!("dc-{:02}", index % 30),
            site: format!("site-{:04}", index % 2000),
        };
        let links = probes.then(|| (index * plan.per_agent) % plan.distinct.max(1));
        Self {
            id,
            boot_id,
            boot_time_unix_seconds: now_s - 86_400 - rng.below(30 * 86_400) as i64,
            sequence: 0,
            interval_ms,
            links,
            plan,
            labels,
            cores: [4, 8, 16, 32][rng.below(4) as usize],
            memory_total: [8u64, 16, 32, 64][rng.below(4) as usize] << 30,
            usage: rng.unit() * 0.6,
            fs_used: FILESYSTEMS.map(|(_, _, _, size)| size / 10 + rng.below(size / 2)),
            counters: [rng.below(1 << 40), rng.below(1 << 30)],
            rng,
        }
    }

    /// The next report, stamped `now_ms` (a new sequence number each call).
    pub fn next_report(&mut self, now_ms: i64) -> Report {
        self.sequence += 1;
        let rng = &mut self.rng;
        self.usage = (self.usage + (rng.unit() - 0.5) * 0.1).clamp(0.01, 0.99);
        let used = (self.memory_total as f64 * (0.3 + 0.5 * rng.unit())) as u64;
        let mut filesystems = Vec::with_capacity(FILESYSTEMS.len());
        for (i, (mount, dev, fs, size)) in FILESYSTEMS.iter().enumerate() {
            self.fs_used[i] = (self.fs_used[i] + rng.below(4 << 20)).min(*size);
            filesystems.push(Filesystem {
                mount_point: (*mount).into(),
                device: (*dev).into(),
                fs_type: (*fs).into(),
                size_bytes: *size,
                used_bytes: self.fs_used[i],
                available_bytes: size - self.fs_used[i],
                ..Default::default()
            });
        }
        self.counters[0] += rng.below(50 << 20);
        self.counters[1] += rng.below(1 << 20);
        let interfaces = ["eth0", "eth1"]
            .iter()
            .zip(self.counters)
            .map(|(name, bytes)| Interface {
                name: (*name).into(),
                receive_bytes: bytes,
                transmit_bytes: bytes / 3 * 2,
                receive_packets: bytes / 800,
                transmit_packets: bytes / 1100,
                oper_state: "up".into(),
                carrier: Some(true),
                speed_bits_per_second: 10_000_000_000,
                ..Default::default()
            })
            .collect();
        let load = self.usage * f64::from(self.cores);
        let links = match self.links {
            Some(first) => (0..self.plan.per_agent)
                .map(|k| {
                    link_window(
                        (first + k) % self.plan.distinct,
                        now_ms,
                        self.interval_ms,
                        rng,
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        Report {
            protocol_version: PROTOCOL_VERSION,
            agent_id: self.id.clone(),
            hostname: format!("{}.gov.example", self.id),
            boot_id: self.boot_id.clone(),
            boot_time_unix_seconds: self.boot_time_unix_seconds,
            sequence: self.sequence,
            timestamp_unix_ms: now_ms,
            interval_ms: self.interval_ms,
            labels: Some(self.labels.clone()),
            system: Some(SystemInfo {
                os_name: "Kylin Linux Advanced Server".into(),
                os_version: "V10 (Lance)".into(),
                kernel_version: "4.19.90-52.22.v2207.ky10.x86_64".into(),
                uptime_seconds: (now_ms / 1000 - self.boot_time_unix_seconds).max(0) as u64,
            }),
            cpu: Some(Cpu {
                logical_cores: self.cores,
                physical_cores: self.cores / 2,
                usage_ratio: self.usage,
                load1: load,
                load5: load * 0.9,
                load15: load * 0.8,
                modes: None,
            }),
            memory: Some(Memory {
                total_bytes: self.memory_total,
                used_bytes: used,
                available_bytes: self.memory_total - used,
                swap_total_bytes: 4 << 30,
                swap_used_bytes: rng.below(64 << 20),
            }),
            filesystems,
            interfaces,
            links,
            agent_version: "0.1.0-load".into(),
            interface_transitions: Vec::new(),
            agent_stats: Some(AgentStats {
                spool_bytes: 4096,
                spool_reports: 1,
                reports_acknowledged_total: self.sequence - 1,
                ..Default::default()
            }),
            pressure: None,
            // What a VM's agent sends: one virtio disk, TCP counters, a synchronised clock.
            block_devices: vec![BlockDevice {
                name: "vda".into(),
                reads_completed_total: self.sequence * 40,
                read_bytes_total: self.sequence * (1 << 20),
                read_time_ms_total: self.sequence * 20,
                writes_completed_total: self.sequence * 120,
                written_bytes_total: self.sequence * (3 << 20),
                write_time_ms_total: self.sequence * 90,
                in_flight: rng.below(3),
                io_time_ms_total: self.sequence * 100,
                weighted_io_time_ms_total: self.sequence * 130,
            }],
            tcp: Some(TcpStats {
                established: 40 + rng.below(20),
                segments_sent_total: self.sequence * 2_000,
                segments_retransmitted_total: self.sequence * 2,
                segments_received_total: self.sequence * 1_900,
            }),
            clock: Some(ClockSync {
                synchronised: true,
                max_error_seconds: 0.05,
                estimated_error_seconds: 0.000_2,
            }),
        }
    }
}

/// One ICMP window of link `index` ending at `end_ms`: 1 probe a second, 2% of windows lose
/// one probe (with its loss run and error kind, as the agent reports it).
fn link_window(index: usize, end_ms: i64, interval_ms: u32, rng: &mut Rng) -> LinkResult {
    let start = end_ms - i64::from(interval_ms);
    let sent = (interval_ms / 1000).max(1);
    let lost = u32::from(rng.below(50) == 0).min(sent);
    let received = sent - lost;
    // Backbone levels as in the brief's province: few province-city, most county-township.
    let level = match index % 100 {
        0 => "province-city",
        1..=9 => "city-county",
        _ => "county-township",
    };
    let base = 0.002 + (index % 40) as f64 * 0.0005;
    let jitter = base * 0.1 * rng.unit();
    let (errors, loss_runs) = if lost > 0 {
        let at = start + 1000 * rng.below(u64::from(sent)) as i64;
        (
            vec![ErrorCount {
                kind: "timeout".into(),
                count: lost,
            }],
            vec![LossRun {
                first_lost_unix_ms: at,
                last_lost_unix_ms: at,
                count: lost,
                open_start: false,
                open_end: false,
            }],
        )
    } else {
        (Vec::new(), Vec::new())
    };
    LinkResult {
        link_id: format!("link-{index:05}"),
        kind: "icmp".into(),
        target: format!("198.18.{}.{}", (index / 250) % 256, index % 250 + 1),
        level: level.into(),
        domain: if index.is_multiple_of(2) {
            "administrative"
        } else {
            "public"
        }
        .into(),
        window_start_unix_ms: start,
        window_end_unix_ms: end_ms,
        probe_interval_ms: 1000,
        sent,
        received,
        loss_ratio: f64::from(lost) / f64::from(sent),
        rtt_min_seconds: base * 0.8,
        rtt_avg_seconds: base + jitter,
        rtt_max_seconds: base * 2.0 + jitter * 3.0,
        rtt_p50_seconds: base,
        rtt_p95_seconds: base * 1.6 + jitter,
        jitter_seconds: jitter,
        errors,
        missed_ticks: 0,
        loss_runs,
        first_probe_unix_ms: start,
        last_probe_unix_ms: end_ms - 1000,
        http_status: 0,
    }
}

/// Now, in Unix milliseconds.
pub fn unix_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
