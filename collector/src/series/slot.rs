//! One agent's 5-minute slot of the downsampled series: the figures of its reports in that
//! slot (count, sum, min, max of each), the links it probed, and which reports are in it
//! (coverage). Pure: made from a report, merged, encoded; no clock, no store.
//!
//! Values are kept as integers in fixed units (ratios in parts per million, times in
//! microseconds, load in thousandths), so that sums are exact and merging is exactly
//! commutative and associative: a slot merged from the same pieces in any order, live or
//! backfilled, flushed once or in several writes, is the same slot, bit for bit.

use std::collections::BTreeMap;

use zerofault_protocol::Report;

/// Length of a slot: 5 minutes.
pub const SLOT_MS: i64 = 300_000;
/// Most filesystem figures in one slot row: a host with more mounts keeps the first ones
/// it reported (in report order), so a hostile agent cannot make a row large.
pub const MAX_FILESYSTEMS: usize = 64;
/// Most links in one slot of one agent (a vantage point probing more keeps the first).
pub const MAX_LINKS: usize = 256;
/// Most coverage ranges in one row. An agent numbers its reports consecutively, so a slot
/// holds one range per boot; gaps (dropped spool records) add a few. A report that would
/// need more is left out of the series (and counted), never stored half.
pub const MAX_COVERAGE: usize = 64;
/// Longest mount point kept (bytes); a longer one is left out.
pub const MAX_MOUNT_BYTES: usize = 255;
/// Longest link id kept (bytes), as an agent id; a longer one is left out.
pub const MAX_LINK_ID_BYTES: usize = 128;
/// Most block devices in one slot row (the smallest names), as the rollups' capacity
/// samples keep (`rollup::MAX_SAMPLE_DISKS`): a storage server's hundreds of multipath
/// devices do not fill the row.
pub const MAX_DISKS: usize = 32;
/// Most boots whose report times one slot keeps: two already say "this slot has a reboot in
/// it" (its counters restarted, so no rate is drawn), and an agent inventing a boot id per
/// report cannot grow the row.
pub const MAX_BOOT_TIMES: usize = 2;

/// What a figure measures, and its unit. The numbers are stored: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Kind {
    /// CPU busy share, ppm.
    Cpu = 1,
    /// Memory used / total, ppm.
    Memory = 2,
    /// 1-minute load average, thousandths.
    Load1 = 3,
    /// Filesystem used / size, ppm; `name` is the mount point.
    Filesystem = 4,
    /// CPU steal share of the report's interval, ppm.
    Steal = 5,
    /// CPU iowait share of the report's interval, ppm.
    Iowait = 6,
    /// Filesystem inodes used / total, ppm; `name` is the mount point.
    Inodes = 7,
    /// A block device's time with I/O in progress since boot, ms (`io_time_ms_total`): a
    /// counter, shown as its growth over the slot ([`rate`]), the device's utilisation;
    /// `name` is the kernel's device name.
    DiskBusyMs = 8,
    /// Time some task waited on a resource since boot, microseconds (PSI `some total`): a
    /// counter, shown as its growth over the slot ([`rate`]), the share of time stalled;
    /// `name` is `cpu`, `memory` or `io`.
    PressureUs = 9,
    /// The report said its clock was unsynchronised: 1,000,000 for such a report, 0 for
    /// one that said synchronised (ppm), so the mean is the share of reports.
    ClockUnsync = 13,
    /// The report's own time, agent clock ms, kept for the counters: the time between the
    /// slot's first and last report. `name` is its boot ([`boot_hash`], 16 hex digits), so
    /// that a slot with a reboot in it (counters restarted) is known. Not shown.
    ReportTime = 14,
    /// Link loss ratio of a window, ppm.
    Loss = 10,
    /// Link mean RTT of a window, microseconds.
    Rtt = 11,
    /// Link jitter of a window, microseconds.
    Jitter = 12,
}

impl Kind {
    /// The kind stored as `n`; `None` for a number this build does not know (written by a
    /// newer collector): such figures are skipped when read.
    pub fn from_u32(n: u32) -> Option<Kind> {
        Some(match n {
            1 => Kind::Cpu,
            2 => Kind::Memory,
            3 => Kind::Load1,
            4 => Kind::Filesystem,
            5 => Kind::Steal,
            6 => Kind::Iowait,
            7 => Kind::Inodes,
            8 => Kind::DiskBusyMs,
            9 => Kind::PressureUs,
            13 => Kind::ClockUnsync,
            14 => Kind::ReportTime,
            10 => Kind::Loss,
            11 => Kind::Rtt,
            12 => Kind::Jitter,
            _ => return None,
        })
    }

    /// Name of the figure in the API.
    pub fn api_name(self) -> &'static str {
        match self {
            Kind::Cpu => "cpu_usage_ratio",
            Kind::Memory => "memory_used_ratio",
            Kind::Load1 => "load1",
            Kind::Filesystem => "filesystem_used_ratio",
            Kind::Steal => "cpu_steal_ratio",
            Kind::Iowait => "cpu_iowait_ratio",
            Kind::Inodes => "filesystem_inodes_used_ratio",
            Kind::DiskBusyMs => "disk_busy_ratio",
            Kind::PressureUs => "pressure_some_ratio",
            Kind::ClockUnsync => "clock_unsynchronised_ratio",
            Kind::ReportTime => "report_time",
            Kind::Loss => "loss_ratio",
            Kind::Rtt => "rtt_seconds",
            Kind::Jitter => "jitter_seconds",
        }
    }

    /// How many stored units make one API unit (ratio, load, second). For a counter, how
    /// many of its units make one millisecond (its [`rate`] is a share of time).
    pub fn scale(self) -> f64 {
        match self {
            Kind::Load1 => 1e3,
            Kind::DiskBusyMs | Kind::ReportTime => 1.0,
            Kind::PressureUs => 1e3,
            _ => 1e6,
        }
    }

    /// Whether the figure is a counter since boot, shown as its [`rate`] over the slot.
    pub fn is_counter(self) -> bool {
        matches!(self, Kind::DiskBusyMs | Kind::PressureUs)
    }

    /// The API field that carries a named figure's name (`None`: the figure has no name).
    pub fn name_field(self) -> Option<&'static str> {
        match self {
            Kind::Filesystem | Kind::Inodes => Some("mount"),
            Kind::DiskBusyMs => Some("device"),
            Kind::PressureUs => Some("resource"),
            _ => None,
        }
    }

    /// Most names of this kind one slot (and one hour row) keeps, the smallest first, so
    /// that capping is order-free; `None`: not capped by name (at most one, or bounded by
    /// what [`SeriesSlot::of_report`] makes).
    pub fn name_cap(self) -> Option<usize> {
        match self {
            Kind::Filesystem | Kind::Inodes => Some(MAX_FILESYSTEMS),
            Kind::DiskBusyMs => Some(MAX_DISKS),
            Kind::ReportTime => Some(MAX_BOOT_TIMES),
            _ => None,
        }
    }
}

/// Most a counter's growth may pass the time between the slot's first and last report
/// and still be read as a saturated resource (1.0): half as much again. The counters and
/// the report's time are read a moment apart, a slot of two reports is 15 s long, and
/// kernels since 5.0 are known to overcount a disk's busy time. Past it the counter
/// restarted (its whole value since boot), wrapped (`io_ticks` is printed as 32 bits: it
/// wraps after 49.7 days of busy time, 2^32 ms), or the name now means another device.
pub const RATE_SLACK: f64 = 1.5;

/// A counter figure's rate over its slot: its growth (largest minus smallest reading)
/// divided by the agent-clock time between the slot's first and last report (`slot`'s
/// [`Kind::ReportTime`] figure), as a share of time 0..=1. `None` with fewer than two
/// reports in the slot, with reports of more than one boot (counters restart at boot),
/// when the growth passes the time by more than [`RATE_SLACK`] allows (a counter that restarted
/// or wrapped within the boot: a gap rather than a false 100 %), or for a figure that is
/// not a counter. A device seen in only some of the slot's reports reads low, never high;
/// a clock step within the slot distorts the time (the agent sends no monotonic time of
/// its own finer than a second).
pub fn rate(counter: &Figure, slot: &[Figure]) -> Option<f64> {
    let kind = Kind::from_u32(counter.kind).filter(|k| k.is_counter())?;
    let mut times = slot.iter().filter(|f| f.kind == Kind::ReportTime as u32);
    let time = times.next()?;
    if times.next().is_some() {
        return None;
    }
    let span_ms = time.max.checked_sub(time.min).filter(|s| *s > 0)?;
    let grown = counter.max.saturating_sub(counter.min) as f64 / kind.scale();
    let rate = grown / span_ms as f64;
    (rate <= RATE_SLACK).then(|| rate.min(1.0))
}

/// A figure of a slot as drawn: `(min, mean, max)` in the API's unit; a counter's
/// [`rate`] as all three. `None` for what is not shown (report times, a counter without
/// a rate, a kind this build does not know, an empty figure).
pub fn shown(f: &Figure, slot: &[Figure]) -> Option<(f64, f64, f64)> {
    let kind = Kind::from_u32(f.kind)?;
    if kind == Kind::ReportTime || f.count == 0 {
        return None;
    }
    if kind.is_counter() {
        return rate(f, slot).map(|r| (r, r, r));
    }
    let scale = kind.scale();
    Some((
        f.min as f64 / scale,
        f.sum as f64 / f.count as f64 / scale,
        f.max as f64 / scale,
    ))
}

/// Count, sum, min and max of one figure over a slot, in the figure's stored unit.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Figure {
    /// [`Kind`] as a number.
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    /// Mount point of a filesystem figure; empty otherwise.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Values merged.
    #[prost(uint64, tag = "3")]
    pub count: u64,
    /// Their sum (saturating).
    #[prost(uint64, tag = "4")]
    pub sum: u64,
    /// Smallest.
    #[prost(uint64, tag = "5")]
    pub min: u64,
    /// Largest.
    #[prost(uint64, tag = "6")]
    pub max: u64,
}

impl Figure {
    /// One value. A counter's or a report time's sum would mean nothing (only the extremes
    /// make its rate) and costs bytes in every row: it is kept at 0.
    pub fn one(kind: Kind, name: &str, value: u64) -> Figure {
        let summed = !(kind.is_counter() || kind == Kind::ReportTime);
        Figure {
            kind: kind as u32,
            name: name.to_owned(),
            count: 1,
            sum: if summed { value } else { 0 },
            min: value,
            max: value,
        }
    }

    fn absorb(&mut self, other: &Figure) {
        self.min = if self.count == 0 {
            other.min
        } else {
            self.min.min(other.min)
        };
        self.max = self.max.max(other.max);
        self.count = self.count.saturating_add(other.count);
        self.sum = self.sum.saturating_add(other.sum);
    }
}

/// A range of report sequences of one boot that a slot holds: `first..=last`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, prost::Message)]
pub struct Covered {
    /// FNV-1a hash of the boot id ([`boot_hash`]): 8 bytes instead of 36 a row.
    #[prost(fixed64, tag = "1")]
    pub boot: u64,
    /// First sequence.
    #[prost(uint64, tag = "2")]
    pub first: u64,
    /// Last sequence.
    #[prost(uint64, tag = "3")]
    pub last: u64,
}

/// 64-bit FNV-1a of a boot id. Two boots of one agent colliding would make one's reports
/// look already counted; at 2^-64 per pair that is not a risk worth 28 bytes a row.
pub fn boot_hash(boot_id: &str) -> u64 {
    boot_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The host part of a slot: coverage and host figures (stored packed in its hour row,
/// `super::hour`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct HostRow {
    /// The reports in the slot, sorted, coalesced.
    #[prost(message, repeated, tag = "1")]
    pub coverage: Vec<Covered>,
    /// Host figures, sorted by (kind, name).
    #[prost(message, repeated, tag = "2")]
    pub figures: Vec<Figure>,
}

/// One link of a slot (stored packed in its hour row, `super::hour`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LinkRow {
    /// Loss, RTT and jitter figures, sorted by kind.
    #[prost(message, repeated, tag = "1")]
    pub figures: Vec<Figure>,
}

/// One agent's slot: host row, and per link id its link row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesSlot {
    /// Coverage and host figures.
    pub host: HostRow,
    /// Link figures of this vantage point, by link id.
    pub links: BTreeMap<String, LinkRow>,
}

/// Which slot: an agent and the slot's start.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Agent id.
    pub agent_id: String,
    /// Slot start, ms since the Unix epoch, a multiple of [`SLOT_MS`].
    pub slot_start_ms: i64,
}

/// Why a merge left something out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    /// Slots that shared reports with the one they were merged into: those reports are now
    /// counted twice. Only possible when two collectors held the same report
    /// (docs/series.md).
    pub overlapped: u64,
    /// Filesystem or link figures left out by the caps, and slots left out because their
    /// hour row's coverage was full ([`super::hour::MAX_ROW_COVERAGE`]).
    pub capped: u64,
}

impl Merged {
    /// Adds the counts of `other`.
    pub fn add(&mut self, other: Merged) {
        self.overlapped += other.overlapped;
        self.capped += other.capped;
    }
}

/// The slot start of a time: the 5-minute boundary at or before it.
pub fn slot_of(t_ms: i64) -> i64 {
    t_ms.div_euclid(SLOT_MS) * SLOT_MS
}

/// Where a report goes: its own time (agent clock), but never after it was received, so
/// that an agent whose clock runs ahead cannot open slots in the future (which would stay
/// in memory until that future) and a slot is complete once the collector's clock passed
/// it. The flush rule and the crash rebuild both rely on that (`series` module docs).
pub fn placement(agent_ms: i64, received_ms: i64) -> i64 {
    agent_ms.min(received_ms)
}

fn ppm(ratio: f64) -> Option<u64> {
    ratio
        .is_finite()
        .then(|| (ratio.clamp(0.0, 1.0) * 1e6).round() as u64)
}

/// Seconds to microseconds, at most an hour (a larger RTT is no measurement).
fn micros(seconds: f64) -> Option<u64> {
    seconds
        .is_finite()
        .then(|| (seconds.clamp(0.0, 3600.0) * 1e6).round() as u64)
}

fn thousandths(load: f64) -> Option<u64> {
    load.is_finite()
        .then(|| (load.clamp(0.0, 1e9) * 1e3).round() as u64)
}

impl SeriesSlot {
    /// The slot of `report` (received at `received_ms`) and what it alone adds to it.
    pub fn of_report(report: &Report, received_ms: i64) -> (SeriesKey, SeriesSlot) {
        let key = SeriesKey {
            agent_id: report.agent_id.clone(),
            slot_start_ms: slot_of(placement(report.timestamp_unix_ms, received_ms)),
        };
        let mut slot = SeriesSlot::default();
        slot.host.coverage.push(Covered {
            boot: boot_hash(&report.boot_id),
            first: report.sequence,
            last: report.sequence,
        });
        let mut host = Vec::new();
        if let Some(cpu) = &report.cpu {
            host.extend(ppm(cpu.usage_ratio).map(|v| Figure::one(Kind::Cpu, "", v)));
            host.extend(thousandths(cpu.load1).map(|v| Figure::one(Kind::Load1, "", v)));
            if let Some(m) = &cpu.modes {
                host.extend(ppm(m.steal).map(|v| Figure::one(Kind::Steal, "", v)));
                host.extend(ppm(m.iowait).map(|v| Figure::one(Kind::Iowait, "", v)));
            }
        }
        if let Some(c) = &report.clock {
            let unsync = if c.synchronised { 0 } else { 1_000_000 };
            host.push(Figure::one(Kind::ClockUnsync, "", unsync));
        }
        if let Some(m) = report.memory.as_ref().filter(|m| m.total_bytes > 0) {
            host.extend(
                ppm(m.used_bytes as f64 / m.total_bytes as f64)
                    .map(|v| Figure::one(Kind::Memory, "", v)),
            );
        }
        let mut mounts = 0;
        for fs in &report.filesystems {
            if mounts >= MAX_FILESYSTEMS {
                break;
            }
            if fs.size_bytes == 0 || fs.mount_point.len() > MAX_MOUNT_BYTES {
                continue;
            }
            if let Some(v) = ppm(fs.used_bytes as f64 / fs.size_bytes as f64) {
                host.push(Figure::one(Kind::Filesystem, &fs.mount_point, v));
                mounts += 1;
            }
            if let (Some(total), Some(free)) = (fs.inodes_total.filter(|t| *t > 0), fs.inodes_free)
            {
                let used = total.saturating_sub(free);
                host.extend(
                    ppm(used as f64 / total as f64)
                        .map(|v| Figure::one(Kind::Inodes, &fs.mount_point, v)),
                );
            }
        }
        let mut counters = false;
        for d in report
            .block_devices
            .iter()
            .filter(|d| !d.name.is_empty() && d.name.len() <= MAX_MOUNT_BYTES)
            .take(MAX_DISKS)
        {
            host.push(Figure::one(Kind::DiskBusyMs, &d.name, d.io_time_ms_total));
            counters = true;
        }
        if let Some(p) = &report.pressure {
            for (name, stat) in [("cpu", &p.cpu), ("io", &p.io), ("memory", &p.memory)] {
                if let Some(some) = stat.as_ref().and_then(|s| s.some.as_ref()) {
                    host.push(Figure::one(Kind::PressureUs, name, some.total_us));
                    counters = true;
                }
            }
        }
        if counters && report.timestamp_unix_ms > 0 {
            let boot = format!("{:016x}", boot_hash(&report.boot_id));
            host.push(Figure::one(
                Kind::ReportTime,
                &boot,
                report.timestamp_unix_ms as u64,
            ));
        }
        slot.host.figures = merged_figures(Vec::new(), host, true).0;
        for link in &report.links {
            if link.link_id.is_empty() || link.link_id.len() > MAX_LINK_ID_BYTES {
                continue;
            }
            if !slot.links.contains_key(&link.link_id) && slot.links.len() >= MAX_LINKS {
                continue;
            }
            let mut figures = Vec::new();
            if link.sent > 0 {
                figures.extend(ppm(link.loss_ratio).map(|v| Figure::one(Kind::Loss, "", v)));
            }
            if link.received > 0 {
                figures.extend(micros(link.rtt_avg_seconds).map(|v| Figure::one(Kind::Rtt, "", v)));
            }
            if link.received > 1 {
                figures
                    .extend(micros(link.jitter_seconds).map(|v| Figure::one(Kind::Jitter, "", v)));
            }
            let row = slot.links.entry(link.link_id.clone()).or_default();
            row.figures = merged_figures(std::mem::take(&mut row.figures), figures, false).0;
        }
        (key, slot)
    }

    /// True when every report of `other` is already in this slot.
    pub fn covers(&self, other: &SeriesSlot) -> bool {
        other
            .host
            .coverage
            .iter()
            .all(|c| covers_range(&self.host.coverage, c))
    }

    /// Whether `other` can be merged without passing [`MAX_COVERAGE`].
    pub fn has_room_for(&self, other: &SeriesSlot) -> bool {
        union(&self.host.coverage, &other.host.coverage).len() <= MAX_COVERAGE
    }

    /// Adds `other` to this slot. Order-free: merging the same slots in any order gives the
    /// same slot. The caps hold for the result: figures past them are left out and counted.
    pub fn merge(&mut self, other: &SeriesSlot) -> Merged {
        let mut out = Merged {
            overlapped: u64::from(
                other
                    .host
                    .coverage
                    .iter()
                    .any(|c| overlaps(&self.host.coverage, c)),
            ),
            capped: 0,
        };
        self.host.coverage = union(&self.host.coverage, &other.host.coverage);
        let (figures, capped) = merged_figures(
            std::mem::take(&mut self.host.figures),
            other.host.figures.clone(),
            true,
        );
        self.host.figures = figures;
        out.capped += capped;
        for (link, row) in &other.links {
            let mine = self.links.entry(link.clone()).or_default();
            mine.figures = merged_figures(
                std::mem::take(&mut mine.figures),
                row.figures.clone(),
                false,
            )
            .0;
        }
        // The smallest ids stay, whatever the order of the pieces: a link kept in the end is
        // among the smallest of every part, so none of its values was left out on the way.
        while self.links.len() > MAX_LINKS {
            self.links.pop_last();
            out.capped += 1;
        }
        out
    }
}

/// Sorted, coalesced union of two coverage lists (each sorted and coalesced).
pub(crate) fn union(a: &[Covered], b: &[Covered]) -> Vec<Covered> {
    let mut all: Vec<Covered> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    let mut out: Vec<Covered> = Vec::with_capacity(all.len());
    for c in all {
        match out.last_mut() {
            Some(last) if last.boot == c.boot && c.first <= last.last.saturating_add(1) => {
                last.last = last.last.max(c.last);
            }
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn overlaps(list: &[Covered], c: &Covered) -> bool {
    list.iter()
        .any(|r| r.boot == c.boot && r.first <= c.last && c.first <= r.last)
}

fn covers_range(list: &[Covered], c: &Covered) -> bool {
    list.iter()
        .any(|r| r.boot == c.boot && r.first <= c.first && c.last <= r.last)
}

/// Merges two figure lists by (kind, name), sorted. With `capped`, keeps of each kind at
/// most its [`Kind::name_cap`] names, the smallest first (an order that does not depend on
/// which piece came first, so capping stays order-free); returns how many were left out.
pub(crate) fn merged_figures(a: Vec<Figure>, b: Vec<Figure>, capped: bool) -> (Vec<Figure>, u64) {
    let mut by_key: BTreeMap<(u32, String), Figure> = BTreeMap::new();
    for f in a.into_iter().chain(b) {
        match by_key.entry((f.kind, f.name.clone())) {
            std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().absorb(&f),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(f);
            }
        }
    }
    let mut out = Vec::with_capacity(by_key.len());
    let mut left_out = 0u64;
    // Names seen of the current kind: keys are sorted by kind, then name.
    let mut run: (u32, usize) = (u32::MAX, 0);
    for ((kind, _), f) in by_key {
        if run.0 != kind {
            run = (kind, 0);
        }
        run.1 += 1;
        let cap = Kind::from_u32(kind).and_then(Kind::name_cap);
        if capped && cap.is_some_and(|cap| run.1 > cap) {
            left_out += 1;
            continue;
        }
        out.push(f);
    }
    (out, left_out)
}
