//! The report as tables: one column list and one cell type for every tabular format, so
//! CSV, XLSX and HTML cannot disagree on which columns a table has or what a cell holds.
//! Each format only decides how a [`Cell`] is written.

use std::str::FromStr;

use super::format::{ExportError, Lang};
use super::i18n::{self, Key};
pub use super::local::Local;
use crate::month::sla::model::{Figures, GroupRow, MonthReport};

/// A table of the report (one CSV file, one XLSX sheet, one HTML section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableId {
    /// Report metadata and totals (item, value).
    Summary,
    /// Per host.
    Hosts,
    /// Per link.
    Links,
    /// Per business system.
    BusinessSystems,
    /// Per department.
    Departments,
    /// Per data center.
    DataCenters,
    /// Zero-fault backbone per level and domain.
    Backbone,
    /// Faults with root cause.
    Incidents,
    /// Capacity per data center and department.
    Capacity,
    /// CPU steal, disk utilisation, inodes and clocks per data center and department.
    CapacitySignals,
    /// Agent labels the inventory does not know.
    UnknownLabels,
    /// Stretches without a running collector.
    CollectorGaps,
    /// SLA adjustments: periods excluded after the fact, who, when and why.
    Adjustments,
}

impl TableId {
    /// Every table, in report order.
    pub const ALL: [TableId; 13] = [
        TableId::Summary,
        TableId::Hosts,
        TableId::Links,
        TableId::BusinessSystems,
        TableId::Departments,
        TableId::DataCenters,
        TableId::Backbone,
        TableId::Incidents,
        TableId::Capacity,
        TableId::CapacitySignals,
        TableId::UnknownLabels,
        TableId::CollectorGaps,
        TableId::Adjustments,
    ];

    /// The language-neutral name: CSV file stem and the HTTP `table` parameter.
    pub fn name(self) -> &'static str {
        match self {
            TableId::Summary => "summary",
            TableId::Hosts => "hosts",
            TableId::Links => "links",
            TableId::BusinessSystems => "business_systems",
            TableId::Departments => "departments",
            TableId::DataCenters => "data_centers",
            TableId::Backbone => "backbone",
            TableId::Incidents => "incidents",
            TableId::Capacity => "capacity",
            TableId::CapacitySignals => "capacity_signals",
            TableId::UnknownLabels => "unknown_labels",
            TableId::CollectorGaps => "collector_gaps",
            TableId::Adjustments => "sla_adjustments",
        }
    }

    /// The localized title (XLSX sheet name, HTML heading). Every title is at most 31
    /// characters and free of `[]:*?/\`, as Excel requires of sheet names (tested).
    pub fn title(self, lang: Lang) -> &'static str {
        let key = match self {
            TableId::Summary => Key::Summary,
            TableId::Hosts => Key::Hosts,
            TableId::Links => Key::Links,
            TableId::BusinessSystems => Key::BusinessSystems,
            TableId::Departments => Key::Departments,
            TableId::DataCenters => Key::DataCenters,
            TableId::Backbone => Key::ZeroFaultBackbone,
            TableId::Incidents => Key::Incidents,
            TableId::Capacity => Key::Capacity,
            TableId::CapacitySignals => Key::CapacitySignals,
            TableId::UnknownLabels => Key::UnknownLabels,
            TableId::CollectorGaps => Key::CollectorGaps,
            TableId::Adjustments => Key::SlaAdjustments,
        };
        key.text(lang)
    }
}

impl FromStr for TableId {
    type Err = ExportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TableId::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| ExportError::UnknownTable(s.to_string()))
    }
}

/// One cell. `None` inside a variant is "not defined" and is written empty, never as 0.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text (ids, names, localized values).
    Text(String),
    /// A count.
    Int(i64),
    /// Bytes (an integer; print shows it in GiB, under a header that says GiB).
    Bytes(u64),
    /// A ratio 0..=1 (availability, coverage, utilisation, loss): percent in XLSX and HTML.
    Ratio(Option<f64>),
    /// Minutes: whole minutes with thousands separators in print, two decimals in data
    /// formats (`export::numbers`).
    Minutes(Option<f64>),
    /// A decimal with that many places (milliseconds: 2, days: 1).
    Decimal(Option<f64>, u8),
    /// An instant, Unix ms: local time of the report's time zone.
    Time(i64),
}

/// Who reads a table: the unit in a header must be the unit of its cells, and print shows
/// capacity in GiB where data formats keep exact bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Medium {
    /// CSV and XLSX: exact values for scripts and spreadsheets.
    Data,
    /// HTML and PDF: what a person reads.
    Print,
}

/// A rendered table.
#[derive(Debug, Clone)]
pub struct Table {
    /// Which table.
    pub id: TableId,
    /// Localized column headers.
    pub headers: Vec<&'static str>,
    /// Rows, each as long as `headers`.
    pub rows: Vec<Vec<Cell>>,
}

fn figure_headers(lang: Lang) -> Vec<&'static str> {
    [
        Key::Availability,
        Key::Coverage,
        Key::UpMinutes,
        Key::DegradedMinutes,
        Key::DownMinutes,
        Key::MaintenanceMinutes,
        Key::UnknownMinutes,
        Key::Faults,
        Key::FaultMinutes,
        Key::Mttr,
        Key::Mtbf,
        Key::LongestOutage,
        Key::Target,
        Key::TargetMet,
    ]
    .into_iter()
    .map(|k| k.text(lang))
    .collect()
}

fn minutes(v: f64) -> Cell {
    Cell::Minutes(Some(v))
}

fn figure_cells(lang: Lang, f: &Figures) -> Vec<Cell> {
    vec![
        Cell::Ratio(f.availability),
        Cell::Ratio(f.coverage),
        minutes(f.minutes.up),
        minutes(f.minutes.degraded),
        minutes(f.minutes.down),
        minutes(f.minutes.maintenance),
        minutes(f.minutes.unknown),
        Cell::Int(i64::from(f.faults)),
        minutes(f.fault_minutes),
        Cell::Minutes(f.mttr_minutes),
        Cell::Minutes(f.mtbf_minutes),
        minutes(f.longest_outage_minutes),
        Cell::Ratio(f.target),
        Cell::Text(
            f.target_met
                .map(|m| i18n::yes_no(lang, m))
                .unwrap_or("")
                .to_string(),
        ),
    ]
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

fn list(items: &[String]) -> Cell {
    Cell::Text(items.join(", "))
}

fn headers(lang: Lang, keys: &[Key]) -> Vec<&'static str> {
    keys.iter().map(|k| k.text(lang)).collect()
}

fn group_table(id: TableId, lang: Lang, rows: &[GroupRow]) -> Table {
    let mut h = headers(
        lang,
        &[
            Key::Code,
            Key::Name,
            Key::Members,
            Key::MembersMeetingTarget,
        ],
    );
    h.extend(figure_headers(lang));
    let rows = rows
        .iter()
        .map(|g| {
            let mut r = vec![
                text(&g.code),
                text(&g.name),
                Cell::Int(i64::from(g.members)),
                Cell::Int(i64::from(g.members_meeting_target)),
            ];
            r.extend(figure_cells(lang, &g.figures));
            r
        })
        .collect();
    Table {
        id,
        headers: h,
        rows,
    }
}

/// The one table `id` of `report` for data formats (CSV, XLSX), headers in `lang`.
pub fn table(report: &MonthReport, lang: Lang, id: TableId) -> Table {
    table_for(report, lang, id, Medium::Data)
}

/// The one table `id` of `report` for `medium`, headers in `lang`. The cells are the same
/// for every medium; only the headers of byte columns name the unit the medium shows.
pub fn table_for(report: &MonthReport, lang: Lang, id: TableId, medium: Medium) -> Table {
    match id {
        TableId::Summary => summary(report, lang),
        TableId::Hosts => {
            let mut h = headers(
                lang,
                &[
                    Key::AgentId,
                    Key::Hostname,
                    Key::Department,
                    Key::BusinessSystem,
                    Key::DataCenter,
                    Key::Site,
                ],
            );
            h.extend(figure_headers(lang));
            h.push(Key::SuppressedBy.text(lang));
            let rows = report
                .hosts
                .iter()
                .map(|x| {
                    let mut r = vec![
                        text(&x.agent_id),
                        text(&x.hostname),
                        text(&x.department),
                        text(&x.business_system),
                        text(&x.data_center),
                        text(&x.site),
                    ];
                    r.extend(figure_cells(lang, &x.figures));
                    r.push(list(&x.suppressed_by));
                    r
                })
                .collect();
            Table {
                id,
                headers: h,
                rows,
            }
        }
        TableId::Links => {
            let mut h = headers(
                lang,
                &[
                    Key::LinkId,
                    Key::Name,
                    Key::Level,
                    Key::Domain,
                    Key::FromSite,
                    Key::ToSite,
                ],
            );
            h.extend(figure_headers(lang));
            h.extend(headers(
                lang,
                &[
                    Key::AvgLoss,
                    Key::AvgRtt,
                    Key::P95Rtt,
                    Key::Jitter,
                    Key::SuppressedBy,
                ],
            ));
            let rows = report
                .links
                .iter()
                .map(|x| {
                    let mut r = vec![
                        text(&x.link_id),
                        text(&x.name),
                        Cell::Text(i18n::level_name(lang, &x.level)),
                        Cell::Text(i18n::domain_name(lang, &x.domain)),
                        text(&x.from_site),
                        text(&x.to_site),
                    ];
                    r.extend(figure_cells(lang, &x.figures));
                    r.extend([
                        Cell::Ratio(x.avg_loss_ratio),
                        Cell::Decimal(x.avg_rtt_ms, 2),
                        Cell::Decimal(x.p95_rtt_ms, 2),
                        Cell::Decimal(x.jitter_ms, 2),
                        list(&x.suppressed_by),
                    ]);
                    r
                })
                .collect();
            Table {
                id,
                headers: h,
                rows,
            }
        }
        TableId::BusinessSystems => group_table(id, lang, &report.business_systems),
        TableId::Departments => group_table(id, lang, &report.departments),
        TableId::DataCenters => group_table(id, lang, &report.data_centers),
        TableId::Backbone => {
            let mut h = headers(
                lang,
                &[Key::Level, Key::Domain, Key::LinksOfLevel, Key::Verdict],
            );
            h.extend(figure_headers(lang));
            h.push(Key::WorstLinks.text(lang));
            let rows = report
                .backbone
                .iter()
                .map(|b| {
                    let mut r = vec![
                        Cell::Text(i18n::level_name(lang, &b.level)),
                        Cell::Text(i18n::domain_name(lang, &b.domain)),
                        Cell::Int(i64::from(b.links)),
                        Cell::Text(i18n::verdict(lang, b.links, b.fault_free, b.figures.faults)),
                    ];
                    r.extend(figure_cells(lang, &b.figures));
                    r.push(list(&b.worst_links));
                    r
                })
                .collect();
            Table {
                id,
                headers: h,
                rows,
            }
        }
        TableId::Incidents => {
            let h = headers(
                lang,
                &[
                    Key::Kind,
                    Key::Id,
                    Key::Level,
                    Key::Domain,
                    Key::Start,
                    Key::End,
                    Key::Minutes,
                    Key::SuppressedHosts,
                    Key::SuppressedLinks,
                ],
            );
            let rows = report
                .incidents
                .iter()
                .map(|i| {
                    vec![
                        Cell::Text(i18n::kind_name(lang, &i.kind)),
                        text(&i.id),
                        Cell::Text(i18n::level_name(lang, &i.level)),
                        Cell::Text(i18n::domain_name(lang, &i.domain)),
                        Cell::Time(i.start_unix_ms),
                        Cell::Time(i.end_unix_ms),
                        minutes(i.minutes),
                        list(&i.suppressed_hosts),
                        list(&i.suppressed_links),
                    ]
                })
                .collect();
            Table {
                id,
                headers: h,
                rows,
            }
        }
        TableId::Capacity => {
            let h = headers(
                lang,
                &[
                    Key::Kind,
                    Key::Code,
                    Key::Name,
                    Key::HostCount,
                    Key::CpuCores,
                    if medium == Medium::Print {
                        Key::MemoryGib
                    } else {
                        Key::MemoryBytes
                    },
                    if medium == Medium::Print {
                        Key::StorageGib
                    } else {
                        Key::StorageBytes
                    },
                    Key::CpuAvg,
                    Key::CpuPeak,
                    Key::MemoryAvg,
                    Key::MemoryPeak,
                    Key::StorageAvg,
                    Key::StoragePeak,
                    Key::StorageGrowth,
                    Key::DaysUntilFull,
                    Key::FullestFilesystem,
                ],
            );
            let rows = report
                .capacity
                .iter()
                .map(|c| {
                    vec![
                        Cell::Text(i18n::kind_name(lang, &c.kind)),
                        text(&c.code),
                        text(&c.name),
                        Cell::Int(i64::from(c.hosts)),
                        Cell::Int(i64::try_from(c.cpu_cores).unwrap_or(i64::MAX)),
                        Cell::Bytes(c.memory_bytes),
                        Cell::Bytes(c.storage_bytes),
                        Cell::Ratio(c.cpu_avg),
                        Cell::Ratio(c.cpu_peak),
                        Cell::Ratio(c.memory_avg),
                        Cell::Ratio(c.memory_peak),
                        Cell::Ratio(c.storage_avg),
                        Cell::Ratio(c.storage_peak),
                        Cell::Ratio(c.storage_growth),
                        Cell::Decimal(c.days_until_full, 1),
                        text(&c.fullest_filesystem),
                    ]
                })
                .collect();
            Table {
                id,
                headers: h,
                rows,
            }
        }
        TableId::UnknownLabels => Table {
            id,
            headers: headers(lang, &[Key::AgentId, Key::Label, Key::Value]),
            rows: report
                .unknown_labels
                .iter()
                .map(|u| {
                    vec![
                        text(&u.agent_id),
                        Cell::Text(i18n::label_name(lang, &u.label)),
                        text(&u.value),
                    ]
                })
                .collect(),
        },
        TableId::CollectorGaps => Table {
            id,
            headers: headers(lang, &[Key::Start, Key::End, Key::Minutes]),
            rows: report
                .collector_gaps
                .iter()
                .map(|g| {
                    vec![
                        Cell::Time(g.start_unix_ms),
                        Cell::Time(g.end_unix_ms),
                        minutes(gap_minutes(g.start_unix_ms, g.end_unix_ms)),
                    ]
                })
                .collect(),
        },
        TableId::CapacitySignals => capacity_signals(report, lang),
        TableId::Adjustments => adjustments(report, lang),
    }
}

/// Issue 17's capacity figures of the capacity rows: empty cells for a month closed before
/// them (its frozen rows have none), never zeros.
fn capacity_signals(report: &MonthReport, lang: Lang) -> Table {
    let keys = [
        Key::Kind,
        Key::Code,
        Key::Name,
        Key::CpuStealAvg,
        Key::CpuStealPeak,
        Key::DiskUtilPeak,
        Key::BusiestDisk,
        Key::InodeDaysUntilFull,
        Key::InodeFullestFilesystem,
        Key::HostsClockUnsynchronised,
    ];
    let rows = report
        .capacity
        .iter()
        .map(|c| {
            vec![
                Cell::Text(i18n::kind_name(lang, &c.kind)),
                text(&c.code),
                text(&c.name),
                Cell::Ratio(c.cpu_steal_avg),
                Cell::Ratio(c.cpu_steal_peak),
                Cell::Ratio(c.disk_util_peak),
                text(&c.busiest_disk),
                Cell::Decimal(c.inode_days_until_full, 1),
                text(&c.inode_fullest_filesystem),
                Cell::Decimal(c.hosts_clock_unsynchronised.map(f64::from), 0),
            ]
        })
        .collect();
    Table {
        id: TableId::CapacitySignals,
        headers: headers(lang, &keys),
        rows,
    }
}

fn adjustments(report: &MonthReport, lang: Lang) -> Table {
    let keys = [
        Key::Id,
        Key::Scope,
        Key::Code,
        Key::Start,
        Key::End,
        Key::Minutes,
        Key::Reason,
        Key::MadeBy,
        Key::MadeAt,
        Key::AdjustmentStatus,
        Key::WithdrawnBy,
        Key::WithdrawalReason,
    ];
    let rows = report
        .adjustments
        .iter()
        .map(|a| {
            let w = a.withdrawn.as_ref();
            let status = if w.is_some() {
                Key::Withdrawn
            } else {
                Key::InForce
            };
            vec![
                Cell::Int(i64::try_from(a.id).unwrap_or(i64::MAX)),
                Cell::Text(i18n::scope_name(lang, &a.kind)),
                text(&a.code),
                Cell::Time(a.start_unix_ms),
                Cell::Time(a.end_unix_ms),
                minutes(a.minutes),
                text(&a.reason),
                text(&a.actor),
                Cell::Time(a.created_unix_ms),
                text(status.text(lang)),
                text(w.map_or("", |w| w.actor.as_str())),
                text(w.map_or("", |w| w.reason.as_str())),
            ]
        })
        .collect();
    Table {
        id: TableId::Adjustments,
        headers: headers(lang, &keys),
        rows,
    }
}

fn gap_minutes(start_unix_ms: i64, end_unix_ms: i64) -> f64 {
    ms_to_minutes(end_unix_ms - start_unix_ms)
}

fn ms_to_minutes(ms: i64) -> f64 {
    // Gaps are far shorter than 2^53 ms, so the conversion is exact.
    ms as f64 / 60_000.0
}

fn summary(report: &MonthReport, lang: Lang) -> Table {
    let levels_with_links: Vec<_> = report.backbone.iter().filter(|b| b.links > 0).collect();
    let fault_free = levels_with_links.iter().filter(|b| b.fault_free).count();
    // Summed in integer ms: a float sum of no gaps is -0.0, which printed as "-0.00".
    let gap_total = ms_to_minutes(
        report
            .collector_gaps
            .iter()
            .map(|g| g.end_unix_ms.saturating_sub(g.start_unix_ms))
            .fold(0i64, i64::saturating_add),
    );
    let count = |n: usize| Cell::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let mut items: Vec<(Key, Cell)> = vec![
        (Key::Month, text(&report.month)),
        (Key::TimeZone, text(&report.time_zone)),
        (Key::PeriodStart, Cell::Time(report.start_unix_ms)),
        // The period the figures cover: up to "as of" for a month to date.
        (Key::PeriodEnd, Cell::Time(report.covered_end_unix_ms())),
        (Key::SlotSeconds, Cell::Int(i64::from(report.slot_seconds))),
        (
            Key::FaultMinSeconds,
            Cell::Int(i64::from(report.fault_min_seconds)),
        ),
        (Key::Generated, Cell::Time(report.generated_unix_ms)),
        (Key::Language, text(&report.lang)),
        (Key::Closed, text(i18n::yes_no(lang, report.closed))),
        (
            Key::ModelVersion,
            Cell::Int(i64::from(report.model_version)),
        ),
        (Key::HostCount, count(report.hosts.len())),
        (Key::LinkCount, count(report.links.len())),
        (Key::IncidentCount, count(report.incidents.len())),
        (
            Key::BackboneFaultFree,
            Cell::Text(format!("{fault_free} / {}", levels_with_links.len())),
        ),
        (Key::CollectorGapCount, count(report.collector_gaps.len())),
        (Key::CollectorGapMinutes, minutes(gap_total)),
    ];
    // Only a month in progress carries the line, right under the period it qualifies.
    if let Some(as_of) = report.as_of_unix_ms.filter(|_| report.month_to_date) {
        items.insert(4, (Key::MonthToDate, Cell::Time(as_of)));
    }
    Table {
        id: TableId::Summary,
        headers: headers(lang, &[Key::Item, Key::Value]),
        rows: items
            .into_iter()
            .map(|(k, v)| vec![Cell::Text(k.text(lang).to_string()), v])
            .collect(),
    }
}

/// Every table of `report` for data formats, in [`TableId::ALL`] order.
pub fn tables(report: &MonthReport, lang: Lang) -> Vec<Table> {
    tables_for(report, lang, Medium::Data)
}

/// Every table of `report` for `medium`, in [`TableId::ALL`] order.
pub fn tables_for(report: &MonthReport, lang: Lang, medium: Medium) -> Vec<Table> {
    TableId::ALL
        .into_iter()
        .map(|id| table_for(report, lang, id, medium))
        .collect()
}

#[cfg(test)]
mod tests;
