//! Department and data-center sums of a host-table snapshot: hosts up and down, CPUs,
//! memory and filesystem space. Pure (snapshot in, sums out), so `/metrics` and any later
//! sink (a remote_write sink, a cockpit) count the same way.
//!
//! Rules (documented for operators in `docs/metrics.md`; keep the two in step):
//! * One host per agent id (a second snapshot entry of an agent is ignored).
//! * Every known host is counted, up and down, with its last reported values: capacity does
//!   not vanish while a host is silent. A host is up while its newest report is at most
//!   `down_after_intervals` of its own intervals old ([`HostEntry::is_up`]).
//! * An empty organisation label (department, business system, data center, site) is
//!   [`UNLABELLED`], so such hosts form a visible group of their own.
//! * A mount point repeated within one report counts once (the first one).
//! * Sums saturate rather than wrap.

use std::collections::{BTreeMap, HashSet};

use zerofault_protocol::{Filesystem, Report};

use crate::figures::FigureValue;
use crate::live::hosts::HostEntry;

/// Label value used for an organisation label the agent left empty. Prometheus treats an
/// empty label value as an absent label, which would silently merge such hosts into a
/// label-less group in `sum by (department)`; a visible value is easier to spot and fix.
pub const UNLABELLED: &str = "unlabelled";

/// `v`, or [`UNLABELLED`] when it is empty: the one rule for every label value an agent
/// may leave empty (organisation labels, a link's level and domain).
pub fn or_unlabelled(v: &str) -> &str {
    if v.is_empty() { UNLABELLED } else { v }
}

/// One host of a snapshot as it is counted and shown.
#[derive(Debug, Clone)]
pub struct Host<'a> {
    /// The snapshot entry (newest report, receive time, delivery).
    pub entry: &'a HostEntry,
    /// Whether the newest report is recent enough.
    pub up: bool,
    /// Department label, [`UNLABELLED`] when empty.
    pub department: &'a str,
    /// Business system label, [`UNLABELLED`] when empty.
    pub business_system: &'a str,
    /// Data center label, [`UNLABELLED`] when empty.
    pub datacenter: &'a str,
    /// Site label, [`UNLABELLED`] when empty.
    pub site: &'a str,
    /// The newest report's filesystems, each mount point once, report order.
    pub filesystems: Vec<&'a Filesystem>,
}

impl<'a> Host<'a> {
    /// `entry` as of `now_unix_ms` (collector clock).
    pub fn new(entry: &'a HostEntry, now_unix_ms: i64, down_after_intervals: u32) -> Self {
        let report = &entry.report;
        let labels = report.labels.as_ref();
        let org = |f: fn(&'a zerofault_protocol::Labels) -> &'a str| {
            labels
                .map(f)
                .filter(|v| !v.is_empty())
                .unwrap_or(UNLABELLED)
        };
        let mut seen = HashSet::new();
        let filesystems = report
            .filesystems
            .iter()
            .filter(|f| seen.insert(f.mount_point.as_str()))
            .collect();
        Self {
            entry,
            up: entry.is_up(now_unix_ms, down_after_intervals),
            department: org(|l| l.department.as_str()),
            business_system: org(|l| l.business_system.as_str()),
            datacenter: org(|l| l.datacenter.as_str()),
            site: org(|l| l.site.as_str()),
            filesystems,
        }
    }

    /// The newest report.
    pub fn report(&self) -> &'a Report {
        &self.entry.report
    }
}

/// The hosts of `snapshot` as of `now_unix_ms`, one per agent id, ordered by agent id.
pub fn hosts(snapshot: &[HostEntry], now_unix_ms: i64, down_after_intervals: u32) -> Vec<Host<'_>> {
    let mut entries: Vec<&HostEntry> = snapshot.iter().collect();
    entries.sort_by(|a, b| a.report.agent_id.cmp(&b.report.agent_id));
    // One host per agent id: a second entry would be counted twice.
    entries.dedup_by(|a, b| a.report.agent_id == b.report.agent_id);
    entries
        .into_iter()
        .map(|e| Host::new(e, now_unix_ms, down_after_intervals))
        .collect()
}

/// Sums for one department or data center.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sums {
    /// Hosts up.
    pub up: u64,
    /// Hosts down.
    pub down: u64,
    /// Logical CPUs.
    pub cpu_cores: u64,
    /// Physical memory.
    pub memory_total_bytes: u64,
    /// Memory in use.
    pub memory_used_bytes: u64,
    /// Filesystem size.
    pub filesystem_size_bytes: u64,
    /// Filesystem space used.
    pub filesystem_used_bytes: u64,
    /// Inodes, over the filesystems that have a fixed number.
    pub filesystem_inodes: u64,
    /// Free inodes.
    pub filesystem_inodes_free: u64,
    /// Logical CPUs' worth of time taken by hypervisors: each host's steal share times its
    /// logical CPUs. Over `cpu_cores` it is the group's mean steal share, weighted by cores.
    pub cpu_steal_cores: f64,
    /// Hosts whose kernel says their clock is not synchronised.
    pub hosts_clock_unsynchronised: u64,
}

impl Sums {
    /// Adds one host exactly as its per-host series show it (missing sections add nothing).
    pub fn add(&mut self, h: &Host<'_>) {
        if h.up {
            self.up += 1;
        } else {
            self.down += 1;
        }
        let report = h.report();
        if let Some(cpu) = &report.cpu {
            self.cpu_cores = self.cpu_cores.saturating_add(u64::from(cpu.logical_cores));
            if let Some(m) = &cpu.modes {
                self.cpu_steal_cores += m.steal * f64::from(cpu.logical_cores);
            }
        }
        if report.clock.as_ref().is_some_and(|c| !c.synchronised) {
            self.hosts_clock_unsynchronised += 1;
        }
        if let Some(m) = &report.memory {
            self.memory_total_bytes = self.memory_total_bytes.saturating_add(m.total_bytes);
            self.memory_used_bytes = self.memory_used_bytes.saturating_add(m.used_bytes);
        }
        for fs in &h.filesystems {
            self.filesystem_size_bytes = self.filesystem_size_bytes.saturating_add(fs.size_bytes);
            self.filesystem_used_bytes = self.filesystem_used_bytes.saturating_add(fs.used_bytes);
            if let Some(n) = fs.inodes_total {
                self.filesystem_inodes = self.filesystem_inodes.saturating_add(n);
            }
            if let Some(n) = fs.inodes_free {
                self.filesystem_inodes_free = self.filesystem_inodes_free.saturating_add(n);
            }
        }
    }
}

/// One family of the group sums: name suffix (`zerofault_{department,datacenter}_SUFFIX`),
/// help text's start, and value. `/metrics` and remote_write's state push both write
/// [`GROUP_FAMILIES`], so the two cannot differ.
pub type GroupFamily = (&'static str, &'static str, fn(&Sums) -> FigureValue);

/// Every family of [`Sums`] but the host counts by state (which have a `state` label).
pub static GROUP_FAMILIES: [GroupFamily; 9] = [
    ("cpu_cores", "Logical CPUs", |a| {
        FigureValue::Count(a.cpu_cores)
    }),
    ("memory_total_bytes", "Physical memory", |a| {
        FigureValue::Count(a.memory_total_bytes)
    }),
    ("memory_used_bytes", "Memory in use", |a| {
        FigureValue::Count(a.memory_used_bytes)
    }),
    ("filesystem_size_bytes", "Filesystem size", |a| {
        FigureValue::Count(a.filesystem_size_bytes)
    }),
    ("filesystem_used_bytes", "Filesystem space used", |a| {
        FigureValue::Count(a.filesystem_used_bytes)
    }),
    (
        "filesystem_inodes",
        "Inodes of the filesystems with a fixed number",
        |a| FigureValue::Count(a.filesystem_inodes),
    ),
    ("filesystem_inodes_free", "Free inodes", |a| {
        FigureValue::Count(a.filesystem_inodes_free)
    }),
    (
        "cpu_steal_cores",
        "Logical CPUs' worth of time taken by hypervisors (steal share times cores; over cpu_cores, the mean steal share)",
        |a| FigureValue::Real(a.cpu_steal_cores),
    ),
    (
        "hosts_clock_unsynchronised",
        "Hosts whose kernel says their clock is not synchronised",
        |a| FigureValue::Count(a.hosts_clock_unsynchronised),
    ),
];

/// The sums of a snapshot, per department and per data center, keyed by label value
/// ([`UNLABELLED`] included), in label order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Aggregates<'a> {
    /// Per department.
    pub departments: BTreeMap<&'a str, Sums>,
    /// Per data center.
    pub datacenters: BTreeMap<&'a str, Sums>,
}

/// The sums of `hosts` (as [`hosts`] gives them) per department and per data center.
pub fn aggregate<'h, 'a: 'h>(hosts: impl IntoIterator<Item = &'h Host<'a>>) -> Aggregates<'a> {
    let mut out = Aggregates::default();
    for h in hosts {
        out.departments.entry(h.department).or_default().add(h);
        out.datacenters.entry(h.datacenter).or_default().add(h);
    }
    out
}

/// The sums of `snapshot` as of `now_unix_ms`: [`aggregate`] of [`hosts`].
pub fn of_snapshot(
    snapshot: &[HostEntry],
    now_unix_ms: i64,
    down_after_intervals: u32,
) -> Aggregates<'_> {
    aggregate(&hosts(snapshot, now_unix_ms, down_after_intervals))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use zerofault_protocol::{Cpu, Labels, Memory};

    use super::*;

    const NOW: i64 = 1_767_225_600_000;
    const GIB: u64 = 1 << 30;

    /// A host of `dept` in `dc` with `cores` CPUs, 8 GiB of memory (2 GiB used) and a
    /// 100 GiB root filesystem (40 GiB used), received `ago_ms` before [`NOW`] with a 10 s
    /// interval.
    fn host(agent: &str, dept: &str, dc: &str, cores: u32, ago_ms: i64) -> HostEntry {
        HostEntry {
            report: Arc::new(Report {
                agent_id: agent.into(),
                interval_ms: 10_000,
                labels: Some(Labels {
                    department: dept.into(),
                    datacenter: dc.into(),
                    ..Default::default()
                }),
                cpu: Some(Cpu {
                    logical_cores: cores,
                    ..Default::default()
                }),
                memory: Some(Memory {
                    total_bytes: 8 * GIB,
                    used_bytes: 2 * GIB,
                    ..Default::default()
                }),
                filesystems: vec![Filesystem {
                    mount_point: "/".into(),
                    size_bytes: 100 * GIB,
                    used_bytes: 40 * GIB,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            received_unix_ms: NOW - ago_ms,
            delivery: None,
        }
    }

    #[test]
    fn sums_per_department_and_data_center() {
        let mut twice_mounted = host("c", "fgw", "dc-b", 2, 0);
        let root = twice_mounted.report.filesystems[0].clone();
        Arc::make_mut(&mut twice_mounted.report)
            .filesystems
            .push(root);
        let mut no_sections = host("d", "zrzy", "dc-a", 0, 0);
        Arc::make_mut(&mut no_sections.report).cpu = None;
        Arc::make_mut(&mut no_sections.report).memory = None;
        Arc::make_mut(&mut no_sections.report).filesystems.clear();
        let snapshot = vec![
            host("b", "fgw", "dc-a", 8, 30_001), // down: 3 x 10 s + 1 ms
            host("a", "fgw", "dc-a", 4, 30_000), // up: exactly 3 intervals
            twice_mounted,
            no_sections,
            host("a", "other", "dc-z", 64, 0), // the same agent again: ignored
        ];
        let sums = of_snapshot(&snapshot, NOW, 3);

        assert_eq!(
            sums.departments.keys().copied().collect::<Vec<_>>(),
            ["fgw", "zrzy"]
        );
        assert_eq!(
            sums.departments["fgw"],
            Sums {
                up: 2,
                down: 1,
                cpu_cores: 14,
                memory_total_bytes: 24 * GIB,
                memory_used_bytes: 6 * GIB,
                filesystem_size_bytes: 300 * GIB,
                filesystem_used_bytes: 120 * GIB,
                ..Sums::default()
            }
        );
        assert_eq!(
            sums.departments["zrzy"],
            Sums {
                up: 1,
                ..Sums::default()
            }
        );
        assert_eq!(
            sums.datacenters["dc-a"],
            Sums {
                up: 2,
                down: 1,
                cpu_cores: 12,
                memory_total_bytes: 16 * GIB,
                memory_used_bytes: 4 * GIB,
                filesystem_size_bytes: 200 * GIB,
                filesystem_used_bytes: 80 * GIB,
                ..Sums::default()
            }
        );
        assert_eq!(sums.datacenters["dc-b"].filesystem_size_bytes, 100 * GIB);
        assert!(!sums.datacenters.contains_key("dc-z"));
    }

    #[test]
    fn steal_inodes_and_clocks_add_up() {
        let with = |agent: &str,
                    cores: u32,
                    steal: f64,
                    inodes: Option<(u64, u64)>,
                    sync: Option<bool>| {
            let mut h = host(agent, "fgw", "dc-a", cores, 0);
            let r = Arc::make_mut(&mut h.report);
            r.cpu.as_mut().unwrap().modes = Some(zerofault_protocol::CpuModes {
                steal,
                idle: 1.0 - steal,
                ..Default::default()
            });
            (r.filesystems[0].inodes_total, r.filesystems[0].inodes_free) =
                (inodes.map(|i| i.0), inodes.map(|i| i.1));
            r.clock = sync.map(|synchronised| zerofault_protocol::ClockSync {
                synchronised,
                ..Default::default()
            });
            h
        };
        let snapshot = vec![
            with("a", 8, 0.125, Some((1000, 250)), Some(true)),
            with("b", 4, 0.25, None, Some(false)),
            // An old agent: no modes, inodes or clock, so none of the three counts it.
            host("c", "fgw", "dc-a", 2, 0),
        ];
        let s = &of_snapshot(&snapshot, NOW, 3).departments["fgw"];
        assert_eq!(s.cpu_steal_cores, 0.125 * 8.0 + 0.25 * 4.0);
        assert_eq!((s.filesystem_inodes, s.filesystem_inodes_free), (1000, 250));
        assert_eq!(s.hosts_clock_unsynchronised, 1);
    }

    #[test]
    fn empty_or_missing_labels_are_unlabelled() {
        let mut bare = host("bare", "", "", 1, 0);
        Arc::make_mut(&mut bare.report).labels = None;
        let snapshot = vec![host("empty", "", "", 1, 0), bare];
        let hosts = hosts(&snapshot, NOW, 3);
        assert_eq!(hosts[0].report().agent_id, "bare");
        for h in &hosts {
            assert_eq!(
                [h.department, h.business_system, h.datacenter, h.site],
                [UNLABELLED; 4]
            );
        }
        let sums = aggregate(&hosts);
        assert_eq!(sums.departments[UNLABELLED].up, 2);
        assert_eq!(sums.datacenters[UNLABELLED].cpu_cores, 2);
    }

    #[test]
    fn an_empty_snapshot_has_no_groups() {
        assert_eq!(of_snapshot(&[], NOW, 3), Aggregates::default());
    }
}
