//! What the SLA engine reads: plain values, already taken from the store and the inventory by
//! the caller. Nothing here knows about either, so the engine stays pure and testable with
//! literal inputs.
//!
//! Times are Unix milliseconds on the **collector's clock** unless a field says otherwise;
//! intervals are half-open `[start_ms, end_ms)`.

use std::collections::BTreeMap;

use super::model::UnknownLabel;

/// A half-open time interval `[start_ms, end_ms)`, Unix ms. Empty or reversed intervals are
/// ignored wherever they appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// Start, inclusive.
    pub start_ms: i64,
    /// End, exclusive.
    pub end_ms: i64,
}

impl Interval {
    /// `[start_ms, end_ms)`.
    pub fn new(start_ms: i64, end_ms: i64) -> Interval {
        Interval { start_ms, end_ms }
    }
}

/// The reporting period and the engine's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// The month, `YYYY-MM` in `time_zone` (copied to the report).
    pub month: String,
    /// IANA time zone of the report (copied to the report).
    pub time_zone: String,
    /// Report language, "en" or "zh-CN" (copied to the report).
    pub lang: String,
    /// The organisation's name in `lang`, "" when none (copied to the report).
    pub organisation: String,
    /// First instant of the month, Unix ms.
    pub start_ms: i64,
    /// First instant of the next month, Unix ms. `end_ms - start_ms` must be a whole number
    /// of slots, so that the minutes of every item add up to the period exactly.
    pub end_ms: i64,
    /// Slot length, ms (default 60 000). At least 1 s, at most 1 day.
    pub slot_ms: i64,
    /// Shortest run of down time that is a fault, ms (default 60 000).
    pub fault_min_ms: i64,
    /// "Now" on the collector's clock. A month in progress is reported up to now rounded
    /// down to a whole slot (`period::covered_end`); before the month it is an error; for a
    /// past month pass any time at or after `end_ms`.
    pub now_ms: i64,
    /// When the report is computed (copied to the report).
    pub generated_ms: i64,
    /// The month is closed (copied to the report).
    pub closed: bool,
}

/// What the reports of one boot of a host say, on the collector's clock: all the engine
/// needs of them. The caller summarises reports into this (`month::rollup` keeps it as
/// reports arrive; [`evidence_of_reports`] makes it from a list, for tests and benches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEvidence {
    /// Boot start on the collector's clock: the end of the reboot gap before this boot.
    pub start_ms: i64,
    /// What its reports cover, merged, sorted and disjoint: a report at time `t` with
    /// interval `I` covers `[max(t - I, min(start, t)), t]` (at least 1 ms), live or
    /// backfilled alike. Never empty.
    pub coverage: Vec<Interval>,
    /// Time of its newest report.
    pub last_ms: i64,
    /// That report's interval, ms.
    pub last_interval_ms: i64,
}

/// A boot as fixtures name it: [`evidence_of_reports`] reads its start from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    /// Linux boot id.
    pub boot_id: String,
    /// Boot time on the **agent's** clock, Unix ms; corrected with the clock offset of the
    /// boot's first report (lowest sequence number).
    pub boot_time_ms: i64,
}

/// One report of a host, placed: what [`evidence_of_reports`] summarises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostReport {
    /// Index into the boots given with it: the boot it was made in.
    pub boot: u32,
    /// Per-agent sequence number.
    pub sequence: u64,
    /// When it was made, **agent** clock, Unix ms.
    pub agent_ms: i64,
    /// Estimate of collector clock minus agent clock, ms: `agent_ms + clock_offset_ms` is
    /// collector time.
    pub clock_offset_ms: i64,
    /// The report's collection interval, ms: the report covers `[t - interval, t]`.
    pub interval_ms: i64,
}

/// The evidence of each boot that has reports, from placed reports: a boot starts at its
/// boot time corrected by the clock offset of its lowest-sequence report; the newest report
/// is the latest (the last of equal times in `reports` order).
pub fn evidence_of_reports(boots: &[Boot], reports: &[HostReport]) -> Vec<BootEvidence> {
    let mut first: Vec<Option<(u64, i64)>> = vec![None; boots.len()];
    for r in reports {
        if let (Some(b), Some(f)) = (boots.get(r.boot as usize), first.get_mut(r.boot as usize))
            && f.is_none_or(|(seq, _)| r.sequence < seq)
        {
            *f = Some((r.sequence, b.boot_time_ms.saturating_add(r.clock_offset_ms)));
        }
    }
    let mut out: Vec<Option<BootEvidence>> = vec![None; boots.len()];
    for r in reports {
        let Some(Some((_, start))) = first.get(r.boot as usize).copied() else {
            continue;
        };
        let t = r.agent_ms.saturating_add(r.clock_offset_ms);
        let from = (t - r.interval_ms.max(0)).max(start.min(t));
        let cover = Interval::new(from, t.max(from + 1));
        let e = out[r.boot as usize].get_or_insert(BootEvidence {
            start_ms: start,
            coverage: Vec::new(),
            last_ms: t,
            last_interval_ms: r.interval_ms,
        });
        e.coverage.push(cover);
        if t >= e.last_ms {
            e.last_ms = t;
            e.last_interval_ms = r.interval_ms;
        }
    }
    out.into_iter()
        .flatten()
        .map(|mut e| {
            e.coverage = merge_intervals(std::mem::take(&mut e.coverage));
            e
        })
        .collect()
}

/// Sorts and merges intervals (touching ones too), dropping empty ones.
pub fn merge_intervals(v: Vec<Interval>) -> Vec<Interval> {
    // The engine's own merge ([`merge`]), so that evidence is merged by the rule the slots
    // are counted with.
    let mut pairs: Vec<(i64, i64)> = v.into_iter().map(|i| (i.start_ms, i.end_ms)).collect();
    merge(&mut pairs);
    pairs
        .into_iter()
        .map(|(a, b)| Interval::new(a, b))
        .collect()
}

/// Usage of one filesystem in a capacity sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsSample {
    /// Index into [`HostInput::mounts`].
    pub mount: u32,
    /// Size, bytes.
    pub size_bytes: u64,
    /// Used, bytes.
    pub used_bytes: u64,
    /// Inodes and free inodes, when the agent reported them.
    pub inodes: Option<(u64, u64)>,
}

/// A capacity sample of a host (any sampling: the caller may thin the reports, e.g. to one
/// per hour, since means, peaks and trends do not need every report).
#[derive(Debug, Clone, PartialEq)]
pub struct CapacitySample {
    /// When, collector clock, Unix ms. Samples outside the period are ignored.
    pub at_ms: i64,
    /// Logical CPU cores.
    pub cpu_cores: u32,
    /// CPU usage, 0..=1; `None` when the report had none (first report after a start).
    pub cpu_usage: Option<f64>,
    /// Memory total, bytes.
    pub memory_total_bytes: u64,
    /// Memory used, bytes.
    pub memory_used_bytes: u64,
    /// Filesystems.
    pub filesystems: Vec<FsSample>,
    /// CPU steal share, 0..=1; `None` without CPU modes.
    pub cpu_steal: Option<f64>,
    /// Block devices' busy time since boot: (device, ms).
    pub disks: Vec<(String, u64)>,
    /// Whether the clock was synchronised; `None` when the agent did not say.
    pub clock_synchronised: Option<bool>,
}

/// Labels of a host (as its agent declares them; "" when unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    /// Department code.
    pub department: String,
    /// Business system code.
    pub business_system: String,
    /// Data center code.
    pub data_center: String,
    /// Site code.
    pub site: String,
}

/// One host (agent).
#[derive(Debug, Clone, PartialEq)]
pub struct HostInput {
    /// Agent id (unique).
    pub agent_id: String,
    /// Hostname from its newest report.
    pub hostname: String,
    /// Labels.
    pub labels: Labels,
    /// Availability target, 0..=1.
    pub target: Option<f64>,
    /// Maintenance windows of the host, its business system, department, data center and
    /// site, resolved to intervals by the caller (overlaps allowed).
    pub maintenance: Vec<Interval>,
    /// Its boots with reports near the period (within a day of it, so that a reboot or a
    /// silence crossing the month's edges is seen), any order. A host with no evidence before
    /// the period is unknown until its first.
    pub boots: Vec<BootEvidence>,
    /// Mount points referenced by the capacity samples.
    pub mounts: Vec<String>,
    /// Capacity samples, any order.
    pub capacity: Vec<CapacitySample>,
}

/// Probe figures of a link from one vantage point over a span of its windows (an hour of
/// them in the rollups, or one window), on the collector's clock: what the month's probe
/// averages add up. Sums are integers, so that adding in any order gives the same figures.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkCell {
    /// Earliest window start.
    pub start_ms: i64,
    /// Latest window end.
    pub end_ms: i64,
    /// Windows.
    pub windows: u64,
    /// Their loss ratios summed, parts per million.
    pub loss_ppm: u64,
    /// Mean RTTs summed, µs, over the windows with an answer.
    pub rtt_us: u64,
    /// Windows with an answer.
    pub rtt_n: u64,
    /// Jitters summed, µs, over the windows with two answers or more.
    pub jitter_us: u64,
    /// Windows with two answers or more.
    pub jitter_n: u64,
    /// The windows' mean RTTs, ms, with how many windows had each (for the percentile).
    pub rtts_ms: Vec<(f64, u64)>,
}

impl LinkCell {
    /// The cell of one window of `[start_ms, end_ms)`: loss ratio, mean RTT and jitter, ms.
    pub fn of_window(
        start_ms: i64,
        end_ms: i64,
        loss_ratio: f64,
        rtt_ms: Option<f64>,
        jitter_ms: Option<f64>,
    ) -> LinkCell {
        let us = |ms: f64| (ms * 1000.0).round().max(0.0) as u64;
        LinkCell {
            start_ms,
            end_ms,
            windows: 1,
            loss_ppm: (loss_ratio * 1e6).round() as u64,
            rtt_us: rtt_ms.map_or(0, us),
            rtt_n: u64::from(rtt_ms.is_some()),
            jitter_us: jitter_ms.map_or(0, us),
            jitter_n: u64::from(jitter_ms.is_some()),
            rtts_ms: rtt_ms.map(|r| (r, 1)).into_iter().collect(),
        }
    }
}

/// One link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkInput {
    /// Link id (unique).
    pub link_id: String,
    /// Display name in the report language ("" when none).
    pub name: String,
    /// Level: province-city, city-county, county-township, access (or "").
    pub level: String,
    /// Domain: administrative, public (or "").
    pub domain: String,
    /// Near-end site.
    pub from_site: String,
    /// Far-end site.
    pub to_site: String,
    /// Availability target, 0..=1.
    pub target: Option<f64>,
    /// Maintenance windows of the link.
    pub maintenance: Vec<Interval>,
    /// Every link-level down period (all vantage points down, after hysteresis) touching
    /// the period, **including those shorter than the fault minimum**: see
    /// [`crate::live::links::down_periods`], whose times are on the agents' clocks (the caller
    /// moves them by the vantage points' clock offsets).
    pub down: Vec<Interval>,
    /// Time covered by probe windows of any vantage point (evidence).
    pub coverage: Vec<Interval>,
    /// Time of degraded windows (loss or RTT past the level's thresholds) of any vantage
    /// point.
    pub degraded: Vec<Interval>,
    /// Probe figures of every vantage point, for the averages.
    pub cells: Vec<LinkCell>,
    /// Agent ids of the hosts behind the link (at sites in the subtree of `to_site`).
    /// Unknown ids are ignored.
    pub behind_hosts: Vec<String>,
    /// Link ids of the links behind it (same subtree), directly or transitively.
    /// Unknown ids are ignored.
    pub behind_links: Vec<String>,
}

/// Availability targets of group rows, from the inventory (docs/sla.md § 7.5). A group
/// missing here has no target (its row's `target` and `target_met` are not defined).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupTargets {
    /// By department code.
    pub departments: BTreeMap<String, f64>,
    /// By business system code.
    pub business_systems: BTreeMap<String, f64>,
    /// By data center code.
    pub data_centers: BTreeMap<String, f64>,
    /// Backbone rows, by level (`province-city`, ...): the level's link target.
    pub backbone_levels: BTreeMap<String, f64>,
}

/// Names of the groups in the report language, by code, and their targets. Every group
/// named here gets a row, even without members; groups only seen on hosts get one named by
/// their code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupNames {
    /// Departments.
    pub departments: BTreeMap<String, String>,
    /// Business systems.
    pub business_systems: BTreeMap<String, String>,
    /// Data centers.
    pub data_centers: BTreeMap<String, String>,
    /// Targets of the groups and backbone rows.
    pub targets: GroupTargets,
}

/// The previous month's mean used storage per group, bytes (for `storage_growth`); a group
/// missing here gets no growth figure. See `figures::HostCapacity::storage_used_mean_bytes`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreviousCapacity {
    /// By data center code.
    pub data_centers: BTreeMap<String, f64>,
    /// By department code.
    pub departments: BTreeMap<String, f64>,
}

/// Everything the engine needs for one month.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthInput {
    /// The period and parameters.
    pub period: Period,
    /// When the collector was running (start to stop or last heartbeat), any order.
    pub collector_runs: Vec<Interval>,
    /// Hosts.
    pub hosts: Vec<HostInput>,
    /// Links.
    pub links: Vec<LinkInput>,
    /// Group names.
    pub names: GroupNames,
    /// Previous month's storage.
    pub previous: PreviousCapacity,
    /// Labels the inventory does not know (copied to the report, sorted).
    pub unknown_labels: Vec<UnknownLabel>,
}

/// Sorts and merges intervals in place, dropping empty ones.
pub(crate) fn merge(iv: &mut Vec<(i64, i64)>) {
    iv.retain(|&(a, b)| a < b);
    iv.sort_unstable();
    let mut out = 0;
    for i in 0..iv.len() {
        if out > 0 && iv[i].0 <= iv[out - 1].1 {
            iv[out - 1].1 = iv[out - 1].1.max(iv[i].1);
        } else {
            iv[out] = iv[i];
            out += 1;
        }
    }
    iv.truncate(out);
}
