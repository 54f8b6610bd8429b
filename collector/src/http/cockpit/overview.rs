//! The overview (`/`): one 1920x1080 screen. Every list is cut to what its panel holds,
//! worst first, with "+N more" linking to where the rest is, so that the page never
//! scrolls at province size. Pure: built from [`Now`], the month to date and the faults.

use std::collections::BTreeMap;

use super::text::{Key, Lang};
use super::view::{self, NameKind, domain_name, level_name, pct};
use crate::inventory::Inventory;
use crate::live::links::{Fault, LinkState};
use crate::live::now::{HostState, Now};
use crate::month::sla::model::{Figures, MonthReport};
use crate::store::CollectorRun;

/// Rows of the department and data-center tables.
pub const GROUP_ROWS: usize = 6;
/// Host chips of the "not up" list: 8 rows of 4 at 1920 px.
pub const HOST_CHIPS: usize = 32;
/// Rows of the incident lists.
pub const INCIDENT_ROWS: usize = 6;
/// Rows of the month-to-date tables.
pub const MONTH_ROWS: usize = 3;
/// Rows of the capacity and delivery lists.
pub const SHORT_ROWS: usize = 5;

/// One row of counts (a department, a data center).
#[derive(Debug, Clone)]
pub struct CountRow {
    pub name: String,
    pub href: String,
    pub up: u32,
    pub down: u32,
    pub silent: u32,
    /// Share of hosts not up, 0..100, for the bar.
    pub bad_percent: u32,
}

/// A host that is not up.
#[derive(Debug, Clone)]
pub struct HostChip {
    pub agent: String,
    pub label: String,
    pub href: String,
    pub class: &'static str,
    pub state: &'static str,
    pub since: String,
}

/// Link counts of one backbone level and domain.
#[derive(Debug, Clone)]
pub struct LevelRow {
    pub level: String,
    pub domain: String,
    pub up: u32,
    pub degraded: u32,
    pub down: u32,
    pub nodata: u32,
}

/// A link that is not up.
#[derive(Debug, Clone)]
pub struct LinkChip {
    pub name: String,
    pub href: String,
    pub class: &'static str,
    pub state: &'static str,
    pub level: String,
}

/// An incident row.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub kind: &'static str,
    pub name: String,
    pub href: String,
    pub since: String,
    /// "hides 3 hosts, 1 link" for a root cause; empty otherwise.
    pub hides: String,
    pub root_cause: bool,
    /// The hidden hosts' names, for the tooltip and the test.
    pub hidden: String,
}

/// A month-to-date row.
#[derive(Debug, Clone)]
pub struct MonthRow {
    pub name: String,
    pub href: String,
    pub availability: String,
    pub coverage: String,
    pub target: String,
    /// `met`, `missed` or `plain`.
    pub class: &'static str,
    pub verdict: String,
}

/// A capacity hot spot: the group, the figure with its words, and what it is about (the
/// fullest filesystem, the busiest disk; empty when nothing more is to say).
#[derive(Debug, Clone)]
pub struct CapacityRow {
    pub name: String,
    pub days: String,
    pub fullest: String,
}

/// Over this mean CPU steal share a group is a hot spot (the alert's threshold).
const STEAL_HOT: f64 = 0.10;
/// Over this peak disk utilisation a group is a hot spot.
const DISK_HOT: f64 = 0.90;

/// The capacity hot spots of the month so far, most urgent first: groups with hosts whose
/// clock is not synchronised, steal over [`STEAL_HOT`], a disk busier than [`DISK_HOT`],
/// then filesystems by the fewest days until their bytes or their inodes run out. Each is
/// (group name, text key, figure, detail).
fn hot_spots(
    rows: &[crate::month::sla::model::CapacityRow],
    name: impl Fn(&crate::month::sla::model::CapacityRow) -> String,
) -> Vec<(String, Key, String, String)> {
    let mut spots: Vec<(f64, (String, Key, String, String))> = Vec::new();
    for c in rows {
        let mut push = |rank: f64, key, figure: String, detail: &str| {
            spots.push((rank, (name(c), key, figure, detail.to_owned())));
        };
        if let Some(n) = c.hosts_clock_unsynchronised.filter(|n| *n > 0) {
            push(-3.0, Key::ClocksUnsynchronised, n.to_string(), "");
        }
        if let Some(s) = c.cpu_steal_avg.filter(|s| *s > STEAL_HOT) {
            push(-2.0, Key::CpuSteal, format!("{:.0}%", s * 100.0), "");
        }
        if let Some(u) = c.disk_util_peak.filter(|u| *u > DISK_HOT) {
            push(
                -1.0,
                Key::DiskBusy,
                format!("{:.0}%", u * 100.0),
                &c.busiest_disk,
            );
        }
        if let Some(d) = c.days_until_full {
            push(
                d,
                Key::DaysUntilFull,
                format!("{d:.0}"),
                &c.fullest_filesystem,
            );
        }
        if let Some(d) = c.inode_days_until_full {
            push(
                d,
                Key::DaysUntilInodesOut,
                format!("{d:.0}"),
                &c.inode_fullest_filesystem,
            );
        }
    }
    spots.sort_by(|a, b| a.0.total_cmp(&b.0));
    spots.into_iter().map(|(_, s)| s).collect()
}

/// A short line of the delivery panel.
#[derive(Debug, Clone)]
pub struct Line {
    pub text: String,
    pub href: String,
}

/// Everything the overview template shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub totals_up: u32,
    pub totals_down: u32,
    pub totals_silent: u32,
    pub totals_maintenance: u32,
    pub totals_unreachable: u32,
    pub links_up: u32,
    pub links_degraded: u32,
    pub links_down: u32,
    pub departments: Vec<CountRow>,
    pub departments_more: usize,
    pub data_centers: Vec<CountRow>,
    pub data_centers_more: usize,
    pub hosts_not_up: Vec<HostChip>,
    pub hosts_more: usize,
    pub levels: Vec<LevelRow>,
    pub links_not_up: Vec<LinkChip>,
    pub links_more: usize,
    pub topology: String,
    pub open: Vec<IncidentRow>,
    pub open_more: usize,
    pub closed: Vec<IncidentRow>,
    /// `None` before the first month-to-date computation.
    pub month_as_of: Option<String>,
    pub month_departments: Vec<MonthRow>,
    pub month_data_centers: Vec<MonthRow>,
    pub month_backbone: Vec<MonthRow>,
    pub capacity: Vec<CapacityRow>,
    pub silent: Vec<Line>,
    pub silent_count: usize,
    pub backlog: Vec<Line>,
    pub backlog_count: usize,
    pub run: String,
    pub gaps: String,
}

/// What the overview is built from besides [`Now`].
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub inventory: &'a Inventory,
    pub lang: Lang,
    pub month: Option<(&'a MonthReport, i64)>,
    /// Settled faults, newest first.
    pub closed_faults: &'a [Fault],
    pub runs: &'a [CollectorRun],
    pub now_ms: i64,
    pub topology: &'a str,
    /// Builds an `href` keeping language and kiosk mode.
    pub href: &'a dyn Fn(&str) -> String,
}

fn counts(
    rows: &[crate::live::now::Counts],
    kind: NameKind,
    prefix: &str,
    s: &Sources<'_>,
) -> (Vec<CountRow>, usize) {
    let shown: Vec<&crate::live::now::Counts> = rows
        .iter()
        .filter(|c| c.total() > 0 || !c.code.is_empty())
        .collect();
    let more = shown.len().saturating_sub(GROUP_ROWS);
    let rows: Vec<CountRow> = shown
        .into_iter()
        .take(GROUP_ROWS)
        .map(|c| CountRow {
            name: view::name(s.inventory, s.lang, kind, &c.code),
            href: (s.href)(&format!(
                "/{prefix}/{}",
                if c.code.is_empty() {
                    "-".to_owned()
                } else {
                    view::segment(&c.code)
                }
            )),
            up: c.up,
            down: c.down,
            silent: c.silent,
            bad_percent: (c.not_up() * 100).checked_div(c.total()).unwrap_or(0),
        })
        .collect();
    (rows, more)
}

fn month_row(name: String, href: String, f: &Figures, lang: Lang) -> MonthRow {
    MonthRow {
        name,
        href,
        availability: pct(f.availability),
        coverage: pct(f.coverage),
        target: pct(f.target),
        class: match f.target_met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "plain",
        },
        verdict: match f.target_met {
            Some(true) => lang.t(Key::Met).into(),
            Some(false) => lang.t(Key::Missed).into(),
            None => String::new(),
        },
    }
}

/// Worst first: missed targets, then lowest availability.
fn by_worst(f: &Figures) -> (bool, i64) {
    (
        f.target_met != Some(false),
        (f.availability.unwrap_or(2.0) * 1e9) as i64,
    )
}

/// Builds the overview.
pub fn build(now: &Now, s: &Sources<'_>) -> Overview {
    let lang = s.lang;
    let inv = s.inventory;
    let (departments, departments_more) =
        counts(&now.departments, NameKind::Department, "department", s);
    let (data_centers, data_centers_more) =
        counts(&now.data_centers, NameKind::DataCenter, "datacenter", s);

    // Hosts behind a down link are in its incident, not chips of their own.
    let not_up: Vec<_> = now
        .hosts
        .iter()
        .filter(|h| {
            matches!(
                h.state,
                HostState::Down | HostState::Silent | HostState::Maintenance
            )
        })
        .collect();
    let hosts_not_up = not_up
        .iter()
        .take(HOST_CHIPS)
        .map(|h| HostChip {
            agent: h.agent.clone(),
            // The host name's first label: a chip holds about 16 characters.
            label: h
                .hostname
                .split('.')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or(&h.agent)
                .to_owned(),
            href: (s.href)(&format!("/host/{}", h.agent)),
            class: h.state.as_str(),
            state: match h.state {
                HostState::Down => lang.t(Key::Down),
                HostState::Silent => lang.t(Key::Silent),
                _ => lang.t(Key::Maintenance),
            },
            since: view::duration(lang, s.now_ms - h.last_seen_ms),
        })
        .collect();

    let mut levels: BTreeMap<(String, String), LevelRow> = BTreeMap::new();
    let (mut links_up, mut links_degraded, mut links_down) = (0, 0, 0);
    for l in &now.links {
        let row = levels
            .entry((l.level.clone(), l.domain.clone()))
            .or_insert_with(|| LevelRow {
                level: level_name(lang, &l.level),
                domain: domain_name(lang, &l.domain),
                up: 0,
                degraded: 0,
                down: 0,
                nodata: 0,
            });
        match l.state {
            Some(LinkState::Up) => {
                row.up += 1;
                links_up += 1;
            }
            Some(LinkState::Degraded) => {
                row.degraded += 1;
                links_degraded += 1;
            }
            Some(LinkState::Down) => {
                row.down += 1;
                links_down += 1;
            }
            None => row.nodata += 1,
        }
    }
    let mut bad_links: Vec<_> = now
        .links
        .iter()
        .filter(|l| matches!(l.state, Some(LinkState::Down | LinkState::Degraded)))
        .collect();
    bad_links.sort_by(|a, b| b.state.cmp(&a.state).then_with(|| a.id.cmp(&b.id)));
    let links_not_up = bad_links
        .iter()
        .take(INCIDENT_ROWS)
        .map(|l| LinkChip {
            name: view::name(inv, lang, NameKind::Link, &l.id),
            href: (s.href)(&format!("/link/{}", l.id)),
            class: if l.state == Some(LinkState::Down) {
                "down"
            } else {
                "degraded"
            },
            state: if l.maintenance {
                lang.t(Key::Maintenance)
            } else if l.state == Some(LinkState::Down) {
                lang.t(Key::Down)
            } else {
                lang.t(Key::Degraded)
            },
            level: level_name(lang, &l.level),
        })
        .collect();

    let host_label = |agent: &str| {
        now.hosts
            .iter()
            .find(|h| h.agent == agent)
            .map_or(agent.to_owned(), |h| {
                if h.hostname.is_empty() {
                    agent.to_owned()
                } else {
                    h.hostname.clone()
                }
            })
    };
    let open: Vec<IncidentRow> = now
        .incidents
        .iter()
        .take(INCIDENT_ROWS)
        .map(|i| {
            let hides = if i.is_link && (!i.hidden_hosts.is_empty() || !i.hidden_links.is_empty()) {
                match lang {
                    Lang::Zh => format!(
                        "{}：主机 {} 台、链路 {} 条",
                        lang.t(Key::Hides),
                        i.hidden_hosts.len(),
                        i.hidden_links.len()
                    ),
                    Lang::En => format!(
                        "{} {} hosts, {} links",
                        lang.t(Key::Hides),
                        i.hidden_hosts.len(),
                        i.hidden_links.len()
                    ),
                }
            } else {
                String::new()
            };
            IncidentRow {
                kind: if i.is_link {
                    lang.t(Key::LinkDown)
                } else {
                    lang.t(Key::HostDown)
                },
                name: if i.is_link {
                    view::name(inv, lang, NameKind::Link, &i.id)
                } else {
                    host_label(&i.id)
                },
                href: (s.href)(&format!(
                    "/{}/{}",
                    if i.is_link { "link" } else { "host" },
                    i.id
                )),
                since: i
                    .since_ms
                    .map_or_else(|| "—".into(), |t| view::time(inv, t)),
                root_cause: i.is_link,
                hidden: i
                    .hidden_hosts
                    .iter()
                    .map(|a| host_label(a))
                    .chain(i.hidden_links.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(", "),
                hides,
            }
        })
        .collect();
    let closed = s
        .closed_faults
        .iter()
        .take(INCIDENT_ROWS)
        .map(|f| IncidentRow {
            kind: lang.t(Key::LinkDown),
            name: view::name(inv, lang, NameKind::Link, &f.link_id),
            href: (s.href)(&format!("/link/{}", f.link_id)),
            since: view::time(inv, f.start_unix_ms),
            hides: format!(
                "{} {}",
                lang.t(Key::Lasted),
                view::duration(lang, f.duration_ms)
            ),
            root_cause: false,
            hidden: String::new(),
        })
        .collect();

    let mut month_departments = Vec::new();
    let mut month_data_centers = Vec::new();
    let mut month_backbone = Vec::new();
    let mut capacity = Vec::new();
    let mut gaps = String::from("—");
    if let Some((report, _)) = s.month {
        let mut d: Vec<_> = report.departments.iter().collect();
        d.sort_by_key(|r| by_worst(&r.figures));
        month_departments = d
            .iter()
            .take(MONTH_ROWS)
            .map(|r| {
                month_row(
                    view::name(inv, lang, NameKind::Department, &r.code),
                    (s.href)(&format!("/department/{}", view::segment(&r.code))),
                    &r.figures,
                    lang,
                )
            })
            .collect();
        let mut d: Vec<_> = report.data_centers.iter().collect();
        d.sort_by_key(|r| by_worst(&r.figures));
        month_data_centers = d
            .iter()
            .take(MONTH_ROWS)
            .map(|r| {
                month_row(
                    view::name(inv, lang, NameKind::DataCenter, &r.code),
                    (s.href)(&format!("/datacenter/{}", view::segment(&r.code))),
                    &r.figures,
                    lang,
                )
            })
            .collect();
        month_backbone = report
            .backbone
            .iter()
            // A level without links has nothing to be fault-free of.
            .filter(|b| b.links > 0)
            .map(|b| {
                let mut row = month_row(
                    format!(
                        "{} · {}",
                        level_name(lang, &b.level),
                        domain_name(lang, &b.domain)
                    ),
                    (s.href)("/month"),
                    &b.figures,
                    lang,
                );
                row.verdict = if b.figures.availability.is_none() {
                    row.class = "plain";
                    lang.t(Key::Unknown).into()
                } else if b.fault_free {
                    lang.t(Key::FaultFree).into()
                } else {
                    format!("{} {}", b.figures.faults, lang.t(Key::Faults))
                };
                if !b.fault_free && b.figures.availability.is_some() {
                    row.class = "missed";
                }
                row
            })
            .collect();
        capacity = hot_spots(&report.capacity, |c| {
            view::name(
                inv,
                lang,
                if c.kind == "department" {
                    NameKind::Department
                } else {
                    NameKind::DataCenter
                },
                &c.code,
            )
        })
        .into_iter()
        .map(|(name, key, figure, detail)| CapacityRow {
            name,
            days: format!("{figure} {}", lang.t(key)),
            fullest: match key {
                Key::DaysUntilFull | Key::DaysUntilInodesOut if !detail.is_empty() => {
                    format!("{} {detail}", lang.t(Key::Fullest))
                }
                _ => detail,
            },
        })
        .take(SHORT_ROWS)
        .collect();
        let minutes: i64 = report
            .collector_gaps
            .iter()
            .map(|g| (g.end_unix_ms - g.start_unix_ms) / 60_000)
            .sum();
        gaps = format!(
            "{} · {} {}",
            report.collector_gaps.len(),
            minutes,
            lang.t(Key::Minutes)
        );
    }

    let silent_hosts: Vec<_> = now
        .hosts
        .iter()
        .filter(|h| h.state == HostState::Silent)
        .collect();
    let mut backlog_hosts: Vec<_> = now.hosts.iter().filter(|h| h.backlog > 1).collect();
    backlog_hosts.sort_by(|a, b| {
        b.backlog
            .cmp(&a.backlog)
            .then_with(|| a.agent.cmp(&b.agent))
    });
    let run = s
        .runs
        .iter()
        .filter(|r| r.stopped_unix_ms.is_none())
        .map(|r| r.started_unix_ms)
        .max()
        .map_or_else(
            || "—".into(),
            |t| {
                format!(
                    "{} {} · {} {}",
                    lang.t(Key::Running),
                    view::time(inv, t),
                    s.runs.len(),
                    lang.t(Key::CollectorRuns)
                )
            },
        );
    Overview {
        totals_up: now.totals.up,
        totals_down: now.totals.down,
        totals_silent: now.totals.silent,
        totals_maintenance: now.totals.maintenance,
        totals_unreachable: now.totals.unreachable,
        links_up,
        links_degraded,
        links_down,
        departments,
        departments_more,
        data_centers,
        data_centers_more,
        hosts_more: not_up.len().saturating_sub(HOST_CHIPS),
        hosts_not_up,
        levels: levels.into_values().collect(),
        links_more: bad_links.len().saturating_sub(INCIDENT_ROWS),
        links_not_up,
        topology: s.topology.to_owned(),
        open_more: now.incidents.len().saturating_sub(INCIDENT_ROWS),
        open,
        closed,
        month_as_of: s.month.map(|(_, t)| view::time(inv, t)),
        month_departments,
        month_data_centers,
        month_backbone,
        capacity,
        silent_count: silent_hosts.len(),
        silent: silent_hosts
            .iter()
            .take(SHORT_ROWS)
            .map(|h| Line {
                text: format!(
                    "{} · {}",
                    h.agent,
                    view::duration(lang, s.now_ms - h.last_seen_ms)
                ),
                href: (s.href)(&format!("/host/{}", h.agent)),
            })
            .collect(),
        backlog_count: backlog_hosts.len(),
        backlog: backlog_hosts
            .iter()
            .take(SHORT_ROWS)
            .map(|h| Line {
                text: format!("{} · {} {}", h.agent, h.backlog, lang.t(Key::Reports)),
                href: (s.href)(&format!("/host/{}", h.agent)),
            })
            .collect(),
        run,
        gaps,
    }
}
