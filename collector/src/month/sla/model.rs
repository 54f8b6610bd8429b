//! The monthly report model: everything an export shows, computed once by the SLA engine
//! (`sla::build`) and rendered by every format (`export::*`). JSON of this model is the
//! `--format json` export, so field names are part of the public contract (docs/sla.md).
//!
//! Durations are whole slots turned into minutes (`slots * slot_seconds / 60`), so with the
//! default 60 s slot every minute figure is an integer. Ratios are 0..=1 (not percent).
//! `None` means "not defined" (e.g. availability when no slot was up or down), never 0.

use serde::{Deserialize, Serialize};

/// Version of this model; raised when a field changes meaning or is removed.
pub const MODEL_VERSION: u32 = 1;

/// Slot state, as the brief defines it (docs/sla.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// Evidence it was running (hosts) or probes within thresholds (links).
    Up,
    /// Links only: loss or RTT past the degraded thresholds; counts as available.
    Degraded,
    /// Evidence it was not running, or the link lost every probe from every vantage point.
    Down,
    /// Inside a maintenance window: excluded from availability.
    Maintenance,
    /// No evidence either way (e.g. the collector was down and nothing was backfilled).
    Unknown,
}

/// Time spent in each state, minutes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StateMinutes {
    /// Up minutes (degraded not included).
    pub up: f64,
    /// Degraded minutes (links; always 0 for hosts).
    pub degraded: f64,
    /// Down minutes.
    pub down: f64,
    /// Maintenance minutes.
    pub maintenance: f64,
    /// Unknown minutes.
    pub unknown: f64,
}

/// The figures every item (host, link) and every group carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// (up + degraded) / (up + degraded + down); `None` when that is 0.
    pub availability: Option<f64>,
    /// Share of the period outside maintenance with a known state:
    /// (up + degraded + down) / (total - maintenance); `None` when all is maintenance.
    pub coverage: Option<f64>,
    /// Minutes per state.
    pub minutes: StateMinutes,
    /// Faults: runs of down slots at least `fault_min` long, not counting stretches
    /// suppressed by a down link in front (docs/sla.md).
    pub faults: u32,
    /// Minutes of down inside those faults.
    pub fault_minutes: f64,
    /// Mean time to repair: fault_minutes / faults; `None` without faults.
    pub mttr_minutes: Option<f64>,
    /// Mean time between failures: (up + degraded minutes) / faults; `None` without faults.
    pub mtbf_minutes: Option<f64>,
    /// Longest run of down slots (fault or not), minutes.
    pub longest_outage_minutes: f64,
    /// The availability target applied, 0..=1.
    pub target: Option<f64>,
    /// availability >= target; `None` without a target or without availability.
    pub target_met: Option<bool>,
}

/// One host (agent) of the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRow {
    /// Agent id.
    pub agent_id: String,
    /// Hostname from its newest report of the month.
    pub hostname: String,
    /// Department code (agent label), "" when unlabelled.
    pub department: String,
    /// Business system code (agent label).
    pub business_system: String,
    /// Data center code (agent label).
    pub data_center: String,
    /// Site code (agent label).
    pub site: String,
    /// The figures.
    pub figures: Figures,
    /// Links whose outage suppressed this host's down (root cause), sorted.
    pub suppressed_by: Vec<String>,
}

/// One link of the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRow {
    /// Link id.
    pub link_id: String,
    /// Display name in the report language ("" when the inventory gives none).
    pub name: String,
    /// Level: province-city, city-county, county-township or access.
    pub level: String,
    /// Domain: administrative or public.
    pub domain: String,
    /// Site at the near end (towards the core).
    pub from_site: String,
    /// Site at the far end (behind the link).
    pub to_site: String,
    /// The figures.
    pub figures: Figures,
    /// Mean loss ratio over the probe windows of the month (maintenance excluded).
    pub avg_loss_ratio: Option<f64>,
    /// Mean RTT, milliseconds.
    pub avg_rtt_ms: Option<f64>,
    /// 95th percentile of the windows' mean RTTs, milliseconds.
    pub p95_rtt_ms: Option<f64>,
    /// Mean jitter, milliseconds.
    pub jitter_ms: Option<f64>,
    /// Links whose outage suppressed this link's down (root cause), sorted.
    pub suppressed_by: Vec<String>,
}

/// A group of hosts: business system, department or data center.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRow {
    /// Code (department, business system, data center) or `level/domain` for the backbone.
    pub code: String,
    /// Name in the report language (the code when the inventory gives none).
    pub name: String,
    /// Members (hosts or links).
    pub members: u32,
    /// Members with an availability figure that meet their target.
    pub members_meeting_target: u32,
    /// Average of the members' availability (members without one are left out), with the
    /// minutes, faults and fault minutes summed and MTTR/MTBF/longest outage over all members.
    pub figures: Figures,
}

/// One incident: a fault of a link or host, with what it suppressed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// "link" or "host".
    pub kind: String,
    /// Link id or agent id: the root cause.
    pub id: String,
    /// Level of the link ("" for hosts).
    pub level: String,
    /// Domain of the link ("" for hosts).
    pub domain: String,
    /// First down slot, Unix ms.
    pub start_unix_ms: i64,
    /// End of the last down slot, Unix ms.
    pub end_unix_ms: i64,
    /// Down minutes.
    pub minutes: f64,
    /// Hosts behind the link that were down during it (not counted as faults), sorted.
    pub suppressed_hosts: Vec<String>,
    /// Links behind the link that were down during it (not counted as faults), sorted.
    pub suppressed_links: Vec<String>,
}

/// The zero-fault backbone verdict of one level and domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackboneRow {
    /// Level: province-city, city-county or county-township.
    pub level: String,
    /// Domain.
    pub domain: String,
    /// Links of that level and domain.
    pub links: u32,
    /// No fault on any of them in the month.
    pub fault_free: bool,
    /// Group figures over those links.
    pub figures: Figures,
    /// The worst links by availability (at most 5), ids.
    pub worst_links: Vec<String>,
}

/// Capacity of a data center or department over the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityRow {
    /// "data_center" or "department".
    pub kind: String,
    /// Code.
    pub code: String,
    /// Name in the report language.
    pub name: String,
    /// Hosts that reported in the month.
    pub hosts: u32,
    /// Logical CPU cores (newest report of each host, summed).
    pub cpu_cores: u64,
    /// Memory, bytes (summed).
    pub memory_bytes: u64,
    /// Storage (filesystems), bytes (summed).
    pub storage_bytes: u64,
    /// Mean and peak CPU utilisation, 0..=1.
    pub cpu_avg: Option<f64>,
    /// Peak CPU utilisation.
    pub cpu_peak: Option<f64>,
    /// Mean memory utilisation.
    pub memory_avg: Option<f64>,
    /// Peak memory utilisation.
    pub memory_peak: Option<f64>,
    /// Mean storage utilisation.
    pub storage_avg: Option<f64>,
    /// Peak storage utilisation.
    pub storage_peak: Option<f64>,
    /// Used storage growth over the previous month (ratio, e.g. 0.05 = +5 %); `None`
    /// without data for the previous month.
    pub storage_growth: Option<f64>,
    /// Fewest days until a filesystem of the group is full at the month's linear trend;
    /// `None` when none grows.
    pub days_until_full: Option<f64>,
    /// The filesystem behind `days_until_full`: `agent_id:mount_point`.
    pub fullest_filesystem: String,
    /// Mean CPU steal share, weighted by cores (issue 17; absent from months before, and
    /// where no host reported CPU modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_steal_avg: Option<f64>,
    /// Highest CPU steal share of a host's hourly sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_steal_peak: Option<f64>,
    /// Highest utilisation of a block device between two hourly samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_util_peak: Option<f64>,
    /// The device behind `disk_util_peak`: `agent_id:device`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub busiest_disk: String,
    /// Fewest days until a filesystem of the group has no free inode at the month's trend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode_days_until_full: Option<f64>,
    /// The filesystem behind `inode_days_until_full`: `agent_id:mount_point`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub inode_fullest_filesystem: String,
    /// Hosts that said in the month that their clock was not synchronised; `None` when no
    /// host of the group said either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_clock_unsynchronised: Option<u32>,
}

/// A label an agent sent that the inventory does not know (flagged, never dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownLabel {
    /// Agent id.
    pub agent_id: String,
    /// Which label: department, business_system, data_center or site.
    pub label: String,
    /// Its value.
    pub value: String,
}

/// A stretch of the month without a running collector (start/stop and heartbeats).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectorGap {
    /// Start, Unix ms.
    pub start_unix_ms: i64,
    /// End, Unix ms.
    pub end_unix_ms: i64,
}

/// An SLA adjustment touching the month (`month::adjustments`): a period excluded after the
/// fact, with who made it, when and why. Withdrawn ones are listed too, marked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdjustmentRow {
    /// Its id: the seq of its `sla.adjust` audit record.
    pub id: u64,
    /// `host`, `link`, `department`, `business_system`, `data_center` or `site`.
    pub kind: String,
    /// The agent id, link id or group code.
    pub code: String,
    /// Start of the excluded period, Unix ms (as recorded, may begin before the month).
    pub start_unix_ms: i64,
    /// End, Unix ms, exclusive.
    pub end_unix_ms: i64,
    /// Minutes of the period inside the month (0 for a withdrawn one).
    pub minutes: f64,
    /// Why.
    pub reason: String,
    /// Who made it.
    pub actor: String,
    /// When it was made, Unix ms.
    pub created_unix_ms: i64,
    /// Made after the month was closed: a late correction.
    pub late: bool,
    /// Who withdrew it, when and why; `None` while it applies.
    pub withdrawn: Option<AdjustmentWithdrawal>,
}

/// The withdrawal of an adjustment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentWithdrawal {
    /// Who.
    pub actor: String,
    /// When, Unix ms.
    pub at_unix_ms: i64,
    /// Why.
    pub reason: String,
}

/// Where the signature of a closed month is: what its first page cites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// When the month was closed, Unix ms.
    pub closed_unix_ms: i64,
    /// File name of the signed manifest beside the exports (`MANIFEST.sha256`).
    pub manifest: String,
    /// File name of its detached signature (`MANIFEST.sha256.sig`).
    pub signature: String,
    /// SHA-256 of the manifest, hex; `None` in the files written at closing, which the
    /// manifest lists and so cannot contain its hash.
    pub manifest_sha256: Option<String>,
}

/// The monthly report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthReport {
    /// [`MODEL_VERSION`].
    pub model_version: u32,
    /// The month, `YYYY-MM`, in `time_zone`.
    pub month: String,
    /// IANA time zone of the report (default Asia/Shanghai).
    pub time_zone: String,
    /// First instant of the month, Unix ms.
    pub start_unix_ms: i64,
    /// First instant of the next month, Unix ms.
    pub end_unix_ms: i64,
    /// Slot length, seconds.
    pub slot_seconds: u32,
    /// Fault minimum, seconds.
    pub fault_min_seconds: u32,
    /// When the report was computed, Unix ms.
    pub generated_unix_ms: i64,
    /// Language of names and texts: "en" or "zh-CN".
    pub lang: String,
    /// The month is closed: figures frozen and signed.
    pub closed: bool,
    /// The month was not over when the report was computed: the figures cover
    /// `[start_unix_ms, as_of_unix_ms)` only and are not final. Absent in reports frozen
    /// before this field existed (read as `false`): a closed month is always complete.
    #[serde(default)]
    pub month_to_date: bool,
    /// End of the period the figures cover when `month_to_date`: the computation time
    /// rounded down to a whole slot (`None` for a complete month, which covers up to
    /// `end_unix_ms`).
    #[serde(default)]
    pub as_of_unix_ms: Option<i64>,
    /// The organisation the report is for, in the report language (inventory
    /// `organisation`); "" when the inventory names none or the month was closed before
    /// the key existed.
    #[serde(default)]
    pub organisation: String,
    /// For a closed month, the signed manifest that its first page cites; set at export
    /// time (not by the engine), absent for an open month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<Seal>,
    /// Periods of the month the collector was not running.
    pub collector_gaps: Vec<CollectorGap>,
    /// Per host, sorted by agent id.
    pub hosts: Vec<HostRow>,
    /// Per link, sorted by link id.
    pub links: Vec<LinkRow>,
    /// Per business system, sorted by code.
    pub business_systems: Vec<GroupRow>,
    /// Per department, sorted by code.
    pub departments: Vec<GroupRow>,
    /// Per data center, sorted by code.
    pub data_centers: Vec<GroupRow>,
    /// Zero-fault backbone: one row for each of the 3 backbone levels (province-city,
    /// city-county, county-township) x 2 domains, even without links, in that order.
    pub backbone: Vec<BackboneRow>,
    /// Faults, with root cause, sorted by start then id.
    pub incidents: Vec<Incident>,
    /// Capacity per data center then per department, sorted by kind then code.
    pub capacity: Vec<CapacityRow>,
    /// Labels not in the inventory, sorted.
    pub unknown_labels: Vec<UnknownLabel>,
    /// SLA adjustments touching the month, by id; set by the caller after the engine (which
    /// saw them as excluded periods). Absent in reports frozen before adjustments existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adjustments: Vec<AdjustmentRow>,
}

impl MonthReport {
    /// End of the period the figures cover: `as_of_unix_ms` for a month to date, else the
    /// month's end.
    pub fn covered_end_unix_ms(&self) -> i64 {
        self.as_of_unix_ms.unwrap_or(self.end_unix_ms)
    }
}
