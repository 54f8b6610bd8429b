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
            Kind::Loss => "loss_ratio",
            Kind::Rtt => "rtt_seconds",
            Kind::Jitter => "jitter_seconds",
        }
    }

    /// How many stored units make one API unit (ratio, load, second).
    pub fn scale(self) -> f64 {
        match self {
            Kind::Load1 => 1e3,
            _ => 1e6,
        }
    }
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
    /// One value.
    pub fn one(kind: Kind, name: &str, value: u64) -> Figure {
        Figure {
            kind: kind as u32,
            name: name.to_owned(),
            count: 1,
            sum: value,
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
        }
        slot.host.figures = merged_figures(Vec::new(), host, usize::MAX).0;
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
            row.figures = merged_figures(std::mem::take(&mut row.figures), figures, 0).0;
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
            MAX_FILESYSTEMS,
        );
        self.host.figures = figures;
        out.capped += capped;
        for (link, row) in &other.links {
            let mine = self.links.entry(link.clone()).or_default();
            mine.figures =
                merged_figures(std::mem::take(&mut mine.figures), row.figures.clone(), 0).0;
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

/// Merges two figure lists by (kind, name), sorted. With `max_filesystems` > 0, keeps at
/// most that many filesystem figures, the smallest names first (an order that does not
/// depend on which piece came first, so capping stays order-free); returns how many were
/// left out.
pub(crate) fn merged_figures(
    a: Vec<Figure>,
    b: Vec<Figure>,
    max_filesystems: usize,
) -> (Vec<Figure>, u64) {
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
    let mut filesystems = 0usize;
    let mut capped = 0u64;
    for ((kind, _), f) in by_key {
        if max_filesystems > 0 && kind == Kind::Filesystem as u32 {
            filesystems += 1;
            if filesystems > max_filesystems {
                capped += 1;
                continue;
            }
        }
        out.push(f);
    }
    (out, capped)
}
