//! Figures from timelines: availability, coverage, faults, MTTR/MTBF; group averages; link
//! probe averages; capacity.
//!
//! # Rules
//!
//! * Minutes per state are slot counts times the slot length; suppressed down slots are down.
//! * Availability = (up + degraded) / (up + degraded + down), `None` when that is 0.
//!   Coverage = (up + degraded + down) / (all slots - maintenance), `None` when all is
//!   maintenance. A month in progress has slots only up to now, so its coverage is of the
//!   elapsed time.
//! * A **fault** is a maximal run of down slots that are not suppressed (root cause), at
//!   least `fault_min` long (`ceil(fault_min / slot)` slots, at least 1). A down run cut by a
//!   suppressed stretch is two runs. Fault minutes are the minutes of those runs;
//!   MTTR = fault minutes / faults; MTBF = (up + degraded) minutes / faults.
//! * Longest outage: the longest run of down slots, suppressed or not, fault or not.
//! * `target_met` = availability >= target, when both exist.
//! * Groups: availability is the mean of the members' availabilities (members without one
//!   are left out); minutes, faults and fault minutes are summed; coverage, MTTR and MTBF
//!   come from the sums; longest outage is the members' longest; the target is the group's
//!   own from the inventory (department, business system, backbone level), when it has one.
//! * Link averages over the probe windows that start in the covered period and overlap no
//!   maintenance: mean loss, mean of the windows' mean RTT, 95th percentile (nearest rank) of
//!   those, mean jitter. Every window counts once, whatever its vantage point.
//! * Capacity over the samples in the period: cores, memory and storage from each host's
//!   newest sample, summed; utilisation means weighted by each host's capacity (cores,
//!   memory, storage) and peaks the highest sample of any host; growth = this month's mean
//!   used storage / the previous month's - 1; days until full = the fewest over the group's
//!   filesystems of (size - used) / slope, the slope a least-squares line through that
//!   filesystem's used bytes over the month (only growing filesystems).

use super::input::{HostInput, Interval, LinkCell, Period};
use super::model::{Figures, StateMinutes};
use super::rootcause::Seg;
use super::slots::{Timeline, code};

const DAY_MS: f64 = 86_400_000.0;

/// Figures of one item and its fault runs `[start, end)`.
pub(crate) fn item_figures(
    tl: &Timeline,
    suppressed: &[Seg],
    fault_min_slots: u32,
    slot_minutes: f64,
    target: Option<f64>,
) -> (Figures, Vec<(u32, u32)>) {
    item_figures_with(
        tl,
        suppressed,
        fault_min_slots,
        slot_minutes,
        target,
        &|_, _| true,
    )
}

/// [`item_figures`], where a run of slots `[a, b)` long enough to be a fault is one only if
/// `is_fault(a, b)` also holds (links: the measured down time in it reaches the fault
/// minimum, so that slot rounding cannot turn a 40 s blip into a 1-minute fault).
pub(crate) fn item_figures_with(
    tl: &Timeline,
    suppressed: &[Seg],
    fault_min_slots: u32,
    slot_minutes: f64,
    target: Option<f64>,
    is_fault: &dyn Fn(u32, u32) -> bool,
) -> (Figures, Vec<(u32, u32)>) {
    let c = tl.counts();
    let m = |n: u32| f64::from(n) * slot_minutes;
    let minutes = StateMinutes {
        up: m(c[code::UP as usize]),
        degraded: m(c[code::DEGRADED as usize]),
        down: m(c[code::DOWN as usize]),
        maintenance: m(c[code::MAINTENANCE as usize]),
        unknown: m(c[code::UNKNOWN as usize]),
    };
    let mut faults = Vec::new();
    let mut longest = 0;
    for (a, b) in tl.down_runs() {
        longest = longest.max(b - a);
        // The run minus the suppressed stretches (sorted, disjoint).
        let mut from = a;
        let mut pieces = |x: u32, y: u32| {
            if y - x >= fault_min_slots && is_fault(x, y) {
                faults.push((x, y));
            }
        };
        for g in suppressed.iter().filter(|g| g.end > a && g.start < b) {
            if g.start > from {
                pieces(from, g.start);
            }
            from = from.max(g.end);
        }
        if from < b {
            pieces(from, b);
        }
    }
    let fault_slots: u32 = faults.iter().map(|(a, b)| b - a).sum();
    let mut f = from_minutes(minutes, faults.len() as u32, m(fault_slots), m(longest));
    set_target(&mut f, target);
    (f, faults)
}

/// Sets `target` and `target_met` = availability >= target (when both exist).
pub(crate) fn set_target(f: &mut Figures, target: Option<f64>) {
    f.target = target;
    f.target_met = match (f.availability, target) {
        (Some(a), Some(t)) => Some(a >= t),
        _ => None,
    };
}

fn from_minutes(minutes: StateMinutes, faults: u32, fault_minutes: f64, longest: f64) -> Figures {
    let avail = minutes.up + minutes.degraded;
    let known = avail + minutes.down;
    let total = known + minutes.maintenance + minutes.unknown;
    Figures {
        availability: (known > 0.0).then(|| avail / known),
        coverage: (total - minutes.maintenance > 0.0)
            .then(|| known / (total - minutes.maintenance)),
        minutes,
        faults,
        fault_minutes,
        mttr_minutes: (faults > 0).then(|| fault_minutes / f64::from(faults)),
        mtbf_minutes: (faults > 0).then(|| avail / f64::from(faults)),
        longest_outage_minutes: longest,
        target: None,
        target_met: None,
    }
}

/// Figures of a group and how many members meet their target.
pub(crate) fn group_figures<'a>(members: impl IntoIterator<Item = &'a Figures>) -> (Figures, u32) {
    let mut sum = StateMinutes::default();
    let (mut faults, mut fault_minutes, mut longest) = (0, 0.0, 0.0_f64);
    let (mut avail_sum, mut avail_n, mut meeting) = (0.0, 0u32, 0);
    for f in members {
        sum.up += f.minutes.up;
        sum.degraded += f.minutes.degraded;
        sum.down += f.minutes.down;
        sum.maintenance += f.minutes.maintenance;
        sum.unknown += f.minutes.unknown;
        faults += f.faults;
        fault_minutes += f.fault_minutes;
        longest = longest.max(f.longest_outage_minutes);
        if let Some(a) = f.availability {
            avail_sum += a;
            avail_n += 1;
        }
        if f.target_met == Some(true) {
            meeting += 1;
        }
    }
    let mut g = from_minutes(sum, faults, fault_minutes, longest);
    g.availability = (avail_n > 0).then(|| avail_sum / f64::from(avail_n));
    (g, meeting)
}

/// Probe averages of a link: (loss, RTT, p95 RTT, jitter).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct LinkAverages {
    pub loss: Option<f64>,
    pub rtt: Option<f64>,
    pub p95_rtt: Option<f64>,
    pub jitter: Option<f64>,
}

/// Nearest-rank percentile of unsorted values, each given with how many times it occurs
/// (sorts them).
fn percentile(v: &mut [(f64, u64)], p: f64) -> Option<f64> {
    let n: u64 = v.iter().map(|&(_, k)| k).sum();
    if n == 0 {
        return None;
    }
    v.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let rank = ((p * n as f64).ceil() as u64).clamp(1, n);
    let mut seen = 0;
    for &(x, k) in v.iter() {
        seen += k;
        if seen >= rank {
            return Some(x);
        }
    }
    v.last().map(|&(x, _)| x)
}

/// Probe averages over the cells of the period outside maintenance (`maintenance` merged):
/// a cell counts when it starts in the covered period and touches no maintenance.
pub(crate) fn link_averages(
    period: &Period,
    cells: &[LinkCell],
    maintenance: &[(i64, i64)],
) -> LinkAverages {
    // Cells of the covered period: up to now rounded down to a slot in a month to date.
    let now = super::period::covered_end(period).unwrap_or(period.start_ms);
    let in_maint = |c: &LinkCell| {
        let i = maintenance.partition_point(|&(_, b)| b <= c.start_ms);
        maintenance.get(i).is_some_and(|&(a, _)| a < c.end_ms)
    };
    let kept: Vec<&LinkCell> = cells
        .iter()
        .filter(|c| c.start_ms >= period.start_ms && c.start_ms < now && !in_maint(c))
        .collect();
    let sum = |f: fn(&LinkCell) -> u64| kept.iter().map(|c| f(c)).sum::<u64>();
    let ratio = |num: u64, den: u64, scale: f64| (den > 0).then(|| num as f64 / den as f64 / scale);
    let mut rtts: Vec<(f64, u64)> = kept
        .iter()
        .flat_map(|c| c.rtts_ms.iter().copied())
        .collect();
    LinkAverages {
        loss: ratio(sum(|c| c.loss_ppm), sum(|c| c.windows), 1e6),
        rtt: ratio(sum(|c| c.rtt_us), sum(|c| c.rtt_n), 1e3),
        p95_rtt: percentile(&mut rtts, 0.95),
        jitter: ratio(sum(|c| c.jitter_us), sum(|c| c.jitter_n), 1e3),
    }
}

/// A host's capacity over the period: what groups add up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostCapacity {
    /// Samples in the period.
    pub samples: u32,
    /// Cores of the newest sample.
    pub cpu_cores: u64,
    /// Memory of the newest sample, bytes.
    pub memory_bytes: u64,
    /// Storage (filesystem sizes summed) of the newest sample, bytes.
    pub storage_bytes: u64,
    /// Mean CPU usage.
    pub cpu_mean: Option<f64>,
    /// Highest CPU usage.
    pub cpu_peak: Option<f64>,
    /// Mean memory utilisation.
    pub memory_mean: Option<f64>,
    /// Highest memory utilisation.
    pub memory_peak: Option<f64>,
    /// Mean storage utilisation (used / size over all filesystems of a sample).
    pub storage_mean: Option<f64>,
    /// Highest storage utilisation.
    pub storage_peak: Option<f64>,
    /// Mean used storage, bytes: next month's `PreviousCapacity` is the sum of these.
    pub storage_used_mean_bytes: Option<f64>,
    /// Fewest days until one of its filesystems is full, and that filesystem's mount.
    pub days_until_full: Option<(f64, String)>,
    /// Mean CPU steal share (samples with CPU modes).
    pub cpu_steal_mean: Option<f64>,
    /// Highest CPU steal share of a sample.
    pub cpu_steal_peak: Option<f64>,
    /// Highest utilisation of a block device between two consecutive samples (about an
    /// hour apart), and the device.
    pub disk_util_peak: Option<(f64, String)>,
    /// Fewest days until a filesystem has no free inode at the period's linear trend, and
    /// its mount.
    pub inode_days_until_full: Option<(f64, String)>,
    /// A sample of the period said the host's clock was not synchronised; `None` when no
    /// sample said either way (agents before issue 17).
    pub clock_unsynchronised: Option<bool>,
}

struct Acc {
    sum: f64,
    n: u64,
    peak: f64,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            sum: 0.0,
            n: 0,
            peak: f64::NEG_INFINITY,
        }
    }
    fn add(&mut self, x: f64) {
        self.sum += x;
        self.n += 1;
        self.peak = self.peak.max(x);
    }
    fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
    fn peak(&self) -> Option<f64> {
        (self.n > 0).then_some(self.peak)
    }
}

/// Least-squares accumulator of (t days, used bytes) of one filesystem.
#[derive(Clone, Copy, Default)]
struct Trend {
    n: f64,
    st: f64,
    su: f64,
    stt: f64,
    stu: f64,
    newest: Option<(i64, u64, u64)>,
}

impl Trend {
    /// Bytes per day, when defined.
    fn slope(&self) -> Option<f64> {
        let d = self.n * self.stt - self.st * self.st;
        (self.n >= 2.0 && d > 0.0).then(|| (self.n * self.stu - self.st * self.su) / d)
    }

    /// Adds the point (`t` days, `used`) of a sample at `at_ms` with `size` in all.
    fn add(&mut self, t: f64, at_ms: i64, size: u64, used: u64) {
        let y = used as f64;
        self.n += 1.0;
        self.st += t;
        self.su += y;
        self.stt += t * t;
        self.stu += t * y;
        if self.newest.is_none_or(|(at, _, _)| at_ms >= at) {
            self.newest = Some((at_ms, size, used));
        }
    }

    /// Days until `used` reaches `size` at the slope, when it grows.
    fn days_until_full(&self) -> Option<f64> {
        let (Some(slope), Some((_, size, used))) = (self.slope(), self.newest) else {
            return None;
        };
        (slope > 0.0).then(|| (size.saturating_sub(used) as f64 / slope).max(0.0))
    }
}

/// The fewest days until full over `trends` (one per mount), with the mount.
fn soonest_full(trends: &[Trend], mounts: &[String]) -> Option<(f64, String)> {
    let mut best: Option<(f64, String)> = None;
    for (i, tr) in trends.iter().enumerate() {
        if let Some(d) = tr.days_until_full()
            && best.as_ref().is_none_or(|(b, _)| d < *b)
        {
            best = Some((d, mounts[i].clone()));
        }
    }
    best
}

/// The highest utilisation of a device between two consecutive samples of `points`
/// (`(device, at_ms, busy ms)`): busy time gained over time passed, 0..=1. A counter that
/// went back (a reboot between the two) gives no figure.
fn disk_peak(mut points: Vec<(&str, i64, u64)>) -> Option<(f64, String)> {
    points.sort_unstable();
    let mut best: Option<(f64, &str)> = None;
    for w in points.windows(2) {
        let ((d0, t0, b0), (d1, t1, b1)) = (w[0], w[1]);
        if d0 != d1 || t1 <= t0 || b1 < b0 {
            continue;
        }
        let u = ((b1 - b0) as f64 / (t1 - t0) as f64).min(1.0);
        if best.is_none_or(|(b, _)| u > b) {
            best = Some((u, d1));
        }
    }
    best.map(|(u, d)| (u, d.to_owned()))
}

/// The capacity of one host over the period.
pub fn host_capacity(period: &Period, host: &HostInput) -> HostCapacity {
    let mut cpu = Acc::new();
    let mut mem = Acc::new();
    let mut sto = Acc::new();
    let mut used = Acc::new();
    let mut trends = vec![Trend::default(); host.mounts.len()];
    let mut inode_trends = vec![Trend::default(); host.mounts.len()];
    let mut steal = Acc::new();
    let mut disks = Vec::new();
    let mut clock_unsynchronised: Option<bool> = None;
    let mut newest: Option<&super::input::CapacitySample> = None;
    let mut samples = 0;
    for s in &host.capacity {
        if s.at_ms < period.start_ms || s.at_ms >= period.end_ms {
            continue;
        }
        samples += 1;
        if newest.is_none_or(|n| s.at_ms >= n.at_ms) {
            newest = Some(s);
        }
        if let Some(c) = s.cpu_usage {
            cpu.add(c);
        }
        if s.memory_total_bytes > 0 {
            mem.add(s.memory_used_bytes as f64 / s.memory_total_bytes as f64);
        }
        let size: u64 = s.filesystems.iter().map(|f| f.size_bytes).sum();
        let u: u64 = s.filesystems.iter().map(|f| f.used_bytes).sum();
        if size > 0 {
            sto.add(u as f64 / size as f64);
            used.add(u as f64);
        }
        let t = (s.at_ms - period.start_ms) as f64 / DAY_MS;
        for f in &s.filesystems {
            if let Some(tr) = trends.get_mut(f.mount as usize) {
                tr.add(t, s.at_ms, f.size_bytes, f.used_bytes);
            }
            if let (Some(tr), Some((total, free))) =
                (inode_trends.get_mut(f.mount as usize), f.inodes)
            {
                tr.add(t, s.at_ms, total, total.saturating_sub(free));
            }
        }
        if let Some(x) = s.cpu_steal {
            steal.add(x);
        }
        disks.extend(s.disks.iter().map(|(d, busy)| (d.as_str(), s.at_ms, *busy)));
        if let Some(sync) = s.clock_synchronised {
            clock_unsynchronised = Some(clock_unsynchronised.unwrap_or(false) || !sync);
        }
    }
    let days = soonest_full(&trends, &host.mounts);
    HostCapacity {
        samples,
        cpu_cores: newest.map_or(0, |n| u64::from(n.cpu_cores)),
        memory_bytes: newest.map_or(0, |n| n.memory_total_bytes),
        storage_bytes: newest.map_or(0, |n| n.filesystems.iter().map(|f| f.size_bytes).sum()),
        cpu_mean: cpu.mean(),
        cpu_peak: cpu.peak(),
        memory_mean: mem.mean(),
        memory_peak: mem.peak(),
        storage_mean: sto.mean(),
        storage_peak: sto.peak(),
        storage_used_mean_bytes: used.mean(),
        days_until_full: days,
        cpu_steal_mean: steal.mean(),
        cpu_steal_peak: steal.peak(),
        disk_util_peak: disk_peak(disks),
        inode_days_until_full: soonest_full(&inode_trends, &host.mounts),
        clock_unsynchronised,
    }
}

/// Capacity-weighted mean of (value, weight) pairs; `None` without weight.
pub(crate) fn weighted(it: impl Iterator<Item = (Option<f64>, u64)>) -> Option<f64> {
    let (s, w) = it
        .filter_map(|(v, w)| v.map(|v| (v, w as f64)))
        .fold((0.0, 0.0), |(s, t), (v, w)| (s + v * w, t + w));
    (w > 0.0).then(|| s / w)
}

/// Highest of optional values.
pub(crate) fn peak(it: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    it.flatten().reduce(f64::max)
}

/// Merged maintenance intervals as pairs.
pub(crate) fn merged(m: &[Interval]) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = m.iter().map(|i| (i.start_ms, i.end_ms)).collect();
    super::slots::merge(&mut v);
    v
}

#[cfg(test)]
mod tests;
