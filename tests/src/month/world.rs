//! A month's world: its span, topology and timing, and the reports its hosts make, with the
//! link windows in them.

use zerofault_protocol::{
    AgentStats, Cpu, Filesystem, Interface, Labels, LinkResult, LossRun, Memory, PROTOCOL_VERSION,
    Report, SystemInfo,
};

use crate::month::clock::{MIN, Rng, ceil_div};
use crate::month::plan::{HostPlan, Made, Timing, Topology};

/// The collector config of a generated month's directory: the database `zerofault.db` and
/// the inventory `inventory.yaml` beside it (the certificates are not needed by `report`).
pub const COLLECTOR_YAML: &str = "tls: {ca: certs/ca.pem, cert: certs/collector.pem, key: certs/collector.key}\n\
     storage: {sqlite: {path: zerofault.db}}\n\
     inventory: inventory.yaml\n";

/// What a report says about the host itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStyle {
    /// The least a report holds, constant but for one filesystem growing 1 kB a minute from
    /// 40 GB of 100 GB, with the agent's spool figures: every figure is easy to predict.
    Plain,
    /// Like a real agent's: 2 filesystems, 2 interfaces, load, swap, CPU and memory varying
    /// with the report's number ([`Usage`]); no spool figures.
    Rich,
}

/// How the probes of a link window come out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeModel {
    /// Every probe has the link's RTT (or its slow span's), and is lost exactly during an
    /// outage of the link or of the link it crosses first (`via`); window figures are
    /// computed from the probes.
    Exact,
    /// Outages as in `Exact` (without `via`); besides, seeded per window: 0.1% of windows
    /// lose 3 random probes, 0.2% have a 120 ms RTT, the others the link's RTT plus up to
    /// 0.4 ms; jitter 0.1-0.4 ms. Windows without a probe are left out.
    Noisy,
}

/// Usage figures of the report numbered `sequence`, the same for every host ([`ReportStyle::Rich`]).
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// CPU usage ratio.
    pub cpu: f64,
    /// Used memory, bytes (of 16 GiB).
    pub memory_used: u64,
    /// Used bytes of `/data` (1 TiB).
    pub data_used: u64,
}

impl Usage {
    /// The figures of report `k`.
    pub fn of(k: u64) -> Usage {
        Usage {
            cpu: 0.2 + (k % 50) as f64 / 100.0,
            memory_used: (6 << 30) + (k % 64) * (1 << 24),
            data_used: (300 << 30) + k * (1 << 16),
        }
    }
}

/// The probes of a [`ProbeModel::Noisy`] window.
#[derive(Debug, Clone)]
pub struct NoisyWindow {
    /// Probes sent.
    pub sent: u32,
    /// Lost probe indexes on the window's full probe grid, ascending.
    pub lost: Vec<u32>,
    /// RTT of the received probes, ms.
    pub rtt_ms: f64,
    /// Jitter, ms.
    pub jitter_ms: f64,
}

/// A generated month: what both the SLA ground truth and the SLA benchmark make their
/// reports from.
#[derive(Debug, Clone)]
pub struct World {
    /// Start of the month (true time).
    pub start: i64,
    /// End of the month.
    pub end: i64,
    /// Time between two probes of a link.
    pub probe_interval: i64,
    /// Sites and links.
    pub topology: Topology,
    /// Report interval, boots, delivery and numbering.
    pub timing: Timing,
    /// What reports say about the host.
    pub style: ReportStyle,
    /// How link probes come out.
    pub probes: ProbeModel,
}

impl World {
    /// Whether a probe of link `j` sent at `t` from `site` is lost ([`ProbeModel::Exact`]).
    pub fn lost(&self, j: usize, site: usize, t: i64) -> bool {
        let links = &self.topology.links;
        links[j].out(t)
            || links[j]
                .via
                .iter()
                .any(|&(s, v)| s == site && links[v].out(t))
    }

    /// The RTT of a probe of link `j` sent at `t`, ms ([`ProbeModel::Exact`]).
    pub fn rtt_ms(&self, j: usize, t: i64) -> f64 {
        let l = &self.topology.links[j];
        l.slow
            .iter()
            .find(|(a, b, _)| (*a..*b).contains(&t))
            .map_or(l.rtt_ms, |s| s.2)
    }

    /// The probes of link `j` in the window ending at `t` of a host booted at `start` or
    /// before ([`ProbeModel::Noisy`]).
    pub fn noisy_window(&self, j: usize, t: i64, start: i64) -> NoisyWindow {
        let (interval, probe) = (self.timing.interval, self.probe_interval);
        let l = &self.topology.links[j];
        let w0 = t - interval;
        let first = ceil_div((start - w0).max(0), probe);
        let n = (interval / probe) as u32;
        let mut lost: Vec<u32> = Vec::new();
        for &(a, b) in &l.outages {
            if b <= w0 || a >= t {
                continue;
            }
            let lo = ceil_div((a - w0).max(0), probe) as u32;
            let hi = (ceil_div(b - w0, probe) as u32).min(n);
            lost.extend(lo..hi);
        }
        let mut r = Rng::new(((j as u64) << 40) ^ t as u64);
        let x = r.below(1000);
        if x < 1 {
            for _ in 0..3 {
                lost.push(r.below(u64::from(n)) as u32);
            }
        }
        lost.retain(|p| i64::from(*p) >= first);
        lost.sort_unstable();
        lost.dedup();
        let rtt_ms = if (1..3).contains(&x) {
            120.0
        } else {
            l.rtt_ms + r.below(400) as f64 / 1000.0
        };
        NoisyWindow {
            sent: n - first as u32,
            lost,
            rtt_ms,
            jitter_ms: 0.1 + r.below(300) as f64 / 1000.0,
        }
    }

    /// The window of link `j` in the report `h` makes at `t` in its boot of `boot_time`;
    /// `None` for a window without a probe under [`ProbeModel::Noisy`].
    pub fn link_result(
        &self,
        h: &HostPlan,
        j: usize,
        t: i64,
        boot_time: i64,
    ) -> Option<LinkResult> {
        match self.probes {
            ProbeModel::Exact => Some(self.exact_result(h, j, t, boot_time)),
            ProbeModel::Noisy => self.noisy_result(h, j, t, boot_time),
        }
    }

    fn exact_result(&self, h: &HostPlan, j: usize, t: i64, boot_time: i64) -> LinkResult {
        let (interval, probe) = (self.timing.interval, self.probe_interval);
        let link = &self.topology.links[j];
        let start = (t - interval).max(boot_time);
        let sends: Vec<i64> = (0..interval / probe)
            .map(|k| t - interval + k * probe)
            .filter(|s| *s >= start)
            .collect();
        let outcome: Vec<Option<f64>> = sends
            .iter()
            .map(|&s| (!self.lost(j, h.site, s)).then(|| self.rtt_ms(j, s)))
            .collect();
        let rtts: Vec<f64> = outcome.iter().flatten().copied().collect();
        let lost: Vec<bool> = outcome.iter().map(Option::is_none).collect();
        let sent = sends.len() as u32;
        let received = rtts.len() as u32;
        let s = |ms: f64| ms / 1000.0;
        let avg = if rtts.is_empty() {
            0.0
        } else {
            rtts.iter().sum::<f64>() / rtts.len() as f64
        };
        let jitter = if rtts.len() < 2 {
            0.0
        } else {
            rtts.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (rtts.len() - 1) as f64
        };
        let max = rtts.iter().copied().fold(0.0, f64::max);
        let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
        LinkResult {
            link_id: link.id.clone(),
            kind: "icmp".into(),
            target: "198.18.0.1".into(),
            level: link.level.into(),
            domain: link.domain.into(),
            window_start_unix_ms: h.agent_clock(start),
            window_end_unix_ms: h.agent_clock(t),
            probe_interval_ms: probe as u32,
            sent,
            received,
            loss_ratio: if sent == 0 {
                0.0
            } else {
                1.0 - f64::from(received) / f64::from(sent)
            },
            rtt_min_seconds: if rtts.is_empty() { 0.0 } else { s(min) },
            rtt_avg_seconds: s(avg),
            rtt_max_seconds: s(max),
            rtt_p50_seconds: s(avg),
            rtt_p95_seconds: s(max),
            jitter_seconds: s(jitter),
            loss_runs: loss_runs(h, &sends, &lost),
            first_probe_unix_ms: sends.first().map_or(0, |&x| h.agent_clock(x)),
            last_probe_unix_ms: sends.last().map_or(0, |&x| h.agent_clock(x)),
            ..Default::default()
        }
    }

    fn noisy_result(&self, h: &HostPlan, j: usize, t: i64, boot_time: i64) -> Option<LinkResult> {
        let (interval, probe) = (self.timing.interval, self.probe_interval);
        let s = self.noisy_window(j, t, boot_time);
        let l = &self.topology.links[j];
        let w0 = (t - interval).max(boot_time);
        if s.sent == 0 {
            return None;
        }
        let n = (interval / probe) as u32;
        let base = n - s.sent;
        let first_probe = t - interval + i64::from(base) * probe;
        let received = s.sent - s.lost.len() as u32;
        let sends: Vec<i64> = (base..n)
            .map(|p| t - interval + i64::from(p) * probe)
            .collect();
        let mut lost = vec![false; sends.len()];
        for &p in &s.lost {
            lost[(p - base) as usize] = true;
        }
        let rtt = s.rtt_ms / 1000.0;
        Some(LinkResult {
            link_id: l.id.clone(),
            kind: "icmp".into(),
            target: format!("10.{}.{}.1", j / 250, j % 250),
            level: l.level.into(),
            domain: l.domain.into(),
            window_start_unix_ms: h.agent_clock(w0),
            window_end_unix_ms: h.agent_clock(t),
            probe_interval_ms: probe as u32,
            sent: s.sent,
            received,
            loss_ratio: f64::from(s.sent - received) / f64::from(s.sent),
            rtt_min_seconds: if received > 0 { rtt * 0.8 } else { 0.0 },
            rtt_avg_seconds: if received > 0 { rtt } else { 0.0 },
            rtt_max_seconds: if received > 0 { rtt * 1.5 } else { 0.0 },
            rtt_p50_seconds: if received > 0 { rtt } else { 0.0 },
            rtt_p95_seconds: if received > 0 { rtt * 1.3 } else { 0.0 },
            jitter_seconds: if received > 1 {
                s.jitter_ms / 1000.0
            } else {
                0.0
            },
            first_probe_unix_ms: h.agent_clock(first_probe),
            last_probe_unix_ms: h.agent_clock(t - probe),
            loss_runs: loss_runs(h, &sends, &lost),
            ..Default::default()
        })
    }

    /// The report `h` made as `m`, like an agent's, with one window per probed link.
    pub fn report(&self, h: &HostPlan, m: &Made) -> Report {
        let (hostname, kernel, cpu, memory, filesystems, interfaces, agent_stats) = match self.style
        {
            ReportStyle::Plain => {
                let used = 40_000_000_000 + (m.t - self.start) / MIN * 1_000; // grows 1 kB a minute
                (
                    format!("{}.example", h.id),
                    "6.1.0",
                    Cpu {
                        logical_cores: 8,
                        physical_cores: 4,
                        usage_ratio: 0.25,
                        ..Default::default()
                    },
                    Memory {
                        total_bytes: 16 << 30,
                        used_bytes: 4 << 30,
                        available_bytes: 12 << 30,
                        ..Default::default()
                    },
                    vec![Filesystem {
                        mount_point: "/".into(),
                        device: "/dev/vda1".into(),
                        fs_type: "ext4".into(),
                        size_bytes: 100_000_000_000,
                        used_bytes: used as u64,
                        available_bytes: (100_000_000_000 - used) as u64,
                        ..Default::default()
                    }],
                    vec![],
                    AgentStats {
                        spool_reports: m.pending,
                        oldest_unsent_unix_ms: m.oldest_unsent,
                        ..Default::default()
                    },
                )
            }
            ReportStyle::Rich => {
                let k = m.sequence;
                let u = Usage::of(k);
                (
                    format!("{}.example.gov", h.id),
                    "6.1.0-28-amd64",
                    Cpu {
                        logical_cores: 8,
                        physical_cores: 4,
                        usage_ratio: u.cpu,
                        load1: 1.2,
                        load5: 1.1,
                        load15: 1.0,
                        modes: None,
                    },
                    Memory {
                        total_bytes: 16 << 30,
                        used_bytes: u.memory_used,
                        available_bytes: 9 << 30,
                        swap_total_bytes: 2 << 30,
                        swap_used_bytes: 0,
                    },
                    vec![
                        Filesystem {
                            mount_point: "/".into(),
                            device: "/dev/vda1".into(),
                            fs_type: "ext4".into(),
                            size_bytes: 100 << 30,
                            used_bytes: 40 << 30,
                            available_bytes: 60 << 30,
                            ..Default::default()
                        },
                        Filesystem {
                            mount_point: "/data".into(),
                            device: "/dev/vdb1".into(),
                            fs_type: "xfs".into(),
                            size_bytes: 1 << 40,
                            used_bytes: u.data_used,
                            available_bytes: (1 << 40) - u.data_used,
                            ..Default::default()
                        },
                    ],
                    ["eth0", "eth1"]
                        .iter()
                        .map(|n| Interface {
                            name: (*n).into(),
                            receive_bytes: k * 7_000_000,
                            transmit_bytes: k * 3_000_000,
                            receive_packets: k * 9_000,
                            transmit_packets: k * 6_000,
                            ..Default::default()
                        })
                        .collect(),
                    AgentStats::default(),
                )
            }
        };
        Report {
            protocol_version: PROTOCOL_VERSION,
            agent_id: h.id.clone(),
            hostname,
            boot_id: format!("{}-boot-{}", h.id, m.boot),
            boot_time_unix_seconds: h.agent_clock(m.boot_time) / 1000,
            sequence: m.sequence,
            timestamp_unix_ms: h.agent_clock(m.t),
            interval_ms: self.timing.interval as u32,
            labels: Some(Labels {
                department: h.department.clone(),
                business_system: h.business_system.clone(),
                datacenter: h.data_center.clone(),
                site: self.topology.sites[h.site].code.clone(),
            }),
            system: Some(SystemInfo {
                os_name: "Debian GNU/Linux".into(),
                os_version: "12".into(),
                kernel_version: kernel.into(),
                uptime_seconds: ((m.t - m.boot_time) / 1000) as u64,
            }),
            cpu: Some(cpu),
            memory: Some(memory),
            filesystems,
            interfaces,
            links: h
                .probes
                .iter()
                .filter_map(|&j| self.link_result(h, j, m.t, m.boot_time))
                .collect(),
            agent_version: "0.1.0".into(),
            agent_stats: Some(agent_stats),
            ..Default::default()
        }
    }
}

/// The runs of lost probes among `sends` (true times), in the agent's clock.
fn loss_runs(h: &HostPlan, sends: &[i64], lost: &[bool]) -> Vec<LossRun> {
    let mut runs = Vec::new();
    let mut k = 0;
    while k < sends.len() {
        if lost[k] {
            let first = k;
            while k + 1 < sends.len() && lost[k + 1] {
                k += 1;
            }
            runs.push(LossRun {
                first_lost_unix_ms: h.agent_clock(sends[first]),
                last_lost_unix_ms: h.agent_clock(sends[k]),
                count: (k - first + 1) as u32,
                open_start: first == 0,
                open_end: k == sends.len() - 1,
            });
        }
        k += 1;
    }
    runs
}
