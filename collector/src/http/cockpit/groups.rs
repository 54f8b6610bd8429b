//! `GET /department/{code}`, `/datacenter/{code}` (their hosts and figures), `/month` (the
//! month to date with every export to download, and the closed months with their signed
//! manifests) and `/maintenance` (windows open now and upcoming).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::detail::{self, Cell, Section, Table};
use super::state::{CockpitState, PageQuery, detail_page, frame, not_found, present, state_text};
use super::text::{Key, Lang};
use super::view::{self, Frame, NameKind, domain_name, level_name, pct};
use crate::live::now::HostState;
use crate::month::sla::model::GroupRow;

/// Most hosts listed on a group's page, worst first (the rest are counted).
const HOST_ROWS: usize = 500;
/// Closed months looked up on the month page.
const CLOSED_MONTHS: usize = 12;
/// How far ahead the maintenance calendar looks.
const UPCOMING_MS: i64 = 31 * 86_400_000;

/// `GET /department/{code}`.
pub async fn department(
    state: State<Arc<CockpitState>>,
    code: Path<String>,
    q: Query<PageQuery>,
) -> Response {
    group(state, code, q, true).await
}

/// `GET /datacenter/{code}`.
pub async fn data_center(
    state: State<Arc<CockpitState>>,
    code: Path<String>,
    q: Query<PageQuery>,
) -> Response {
    group(state, code, q, false).await
}

fn group_rows(
    f: &Frame,
    rows: &[GroupRow],
    department: bool,
    inv: &crate::inventory::Inventory,
) -> Table {
    let lang = f.lang;
    Table {
        headers: [
            Key::Name,
            Key::Availability,
            Key::Coverage,
            Key::Target,
            Key::Members,
        ]
        .iter()
        .map(|k| lang.t(*k).to_owned())
        .collect(),
        rows: rows
            .iter()
            .map(|r| {
                let class = match r.figures.target_met {
                    Some(true) => "met",
                    Some(false) => "missed",
                    None => "",
                };
                let prefix = if department {
                    "department"
                } else {
                    "datacenter"
                };
                vec![
                    Cell::link(
                        detail::group_name(inv, lang, department, &r.code),
                        f.href(&format!("/{prefix}/{}", view::segment(&r.code))),
                    ),
                    Cell {
                        text: pct(r.figures.availability),
                        class: format!("num {class}"),
                        href: String::new(),
                    },
                    Cell::num(pct(r.figures.coverage)),
                    Cell::num(pct(r.figures.target)),
                    Cell::num(format!("{}/{}", r.members_meeting_target, r.members)),
                ]
            })
            .collect(),
        empty: "—".into(),
    }
}

async fn group(
    State(s): State<Arc<CockpitState>>,
    Path(code): Path<String>,
    Query(q): Query<PageQuery>,
    department: bool,
) -> Response {
    let now_ms = zerofault_common::now_unix_ms();
    let prefix = if department {
        "department"
    } else {
        "datacenter"
    };
    let mut f = frame(
        &s,
        &q,
        &format!("/{prefix}/{}", view::segment(&code)),
        code.clone(),
        now_ms,
    );
    let lang = f.lang;
    let inv = &s.inventory;
    // `-` is the page of hosts without the label.
    let label = if code == "-" { "" } else { code.as_str() };
    let known = if department {
        inv.department(label).is_some()
    } else {
        inv.data_center(label).is_some()
    };
    let (now, _) = present(&s, now_ms, &s.hosts.snapshot());
    let members: Vec<_> = now
        .hosts
        .iter()
        .filter(|h| {
            if department {
                h.department == label
            } else {
                h.data_center == label
            }
        })
        .collect();
    if !known && members.is_empty() {
        return not_found(&mut f, &code);
    }
    let month = s.month.get();
    let month_hosts = month.as_ref().map(|m| &m.report.hosts);
    let mut sections = Vec::new();
    let row = month.as_ref().and_then(|m| {
        let rows = if department {
            &m.report.departments
        } else {
            &m.report.data_centers
        };
        rows.iter().find(|r| r.code == label).cloned()
    });
    if let Some(r) = &row {
        sections.push(Section {
            title: lang.t(Key::MonthToDate).to_owned(),
            facts: detail::figure_facts(lang, &r.figures),
            ..Default::default()
        });
    }
    let count = |st: HostState| members.iter().filter(|h| h.state == st).count();
    sections.push(Section {
        title: lang.t(Key::Now).to_owned(),
        facts: [
            HostState::Up,
            HostState::Down,
            HostState::Unreachable,
            HostState::Silent,
            HostState::Maintenance,
        ]
        .into_iter()
        .map(|st| {
            (
                state_text(lang, st).to_owned(),
                count(st).to_string(),
                st.as_str().to_owned(),
            )
        })
        .collect(),
        ..Default::default()
    });
    let rows = members
        .iter()
        .take(HOST_ROWS)
        .map(|h| {
            let availability = month_hosts
                .and_then(|hs| hs.iter().find(|r| r.agent_id == h.agent))
                .and_then(|r| r.figures.availability);
            vec![
                Cell::link(
                    if h.hostname.is_empty() {
                        &h.agent
                    } else {
                        &h.hostname
                    },
                    f.href(&format!("/host/{}", h.agent)),
                ),
                Cell::state(state_text(lang, h.state), h.state.as_str()),
                Cell::text(view::time(inv, h.last_seen_ms)),
                Cell::text(if department {
                    view::name(inv, lang, NameKind::DataCenter, &h.data_center)
                } else {
                    view::name(inv, lang, NameKind::Department, &h.department)
                }),
                Cell::num(pct(availability)),
            ]
        })
        .collect();
    sections.push(Section {
        title: format!(
            "{} ({}{})",
            lang.t(Key::Hosts),
            members.len(),
            if members.len() > HOST_ROWS {
                format!(", {HOST_ROWS} {}", lang.t(Key::More))
            } else {
                String::new()
            }
        ),
        tables: vec![Table {
            headers: vec![
                lang.t(Key::Host).into(),
                lang.t(Key::State).into(),
                lang.t(Key::LastReport).into(),
                lang.t(if department {
                    Key::DataCenter
                } else {
                    Key::Department
                })
                .into(),
                format!(
                    "{} ({})",
                    lang.t(Key::Availability),
                    lang.t(Key::MonthToDate)
                ),
            ],
            rows,
            empty: "—".into(),
        }],
        ..Default::default()
    });
    let heading = format!(
        "{} {}",
        lang.t(if department {
            Key::Department
        } else {
            Key::DataCenter
        }),
        detail::group_name(inv, lang, department, label)
    );
    detail_page(
        &f,
        heading,
        Default::default(),
        None,
        sections,
        StatusCode::OK,
    )
}

/// `GET /month`.
pub async fn month(State(s): State<Arc<CockpitState>>, Query(q): Query<PageQuery>) -> Response {
    let now_ms = zerofault_common::now_unix_ms();
    let f = frame(&s, &q, "/month", String::new(), now_ms);
    let lang = f.lang;
    let inv = &s.inventory;
    let current = crate::month::current_month(inv, now_ms);
    let previous = crate::month::previous_month(inv, now_ms);
    let mut sections = Vec::new();
    let snapshot = s.month.get();
    match &snapshot {
        Some(m) => {
            let r = &m.report;
            sections.push(Section {
                title: format!(
                    "{} {} ({} {})",
                    lang.t(Key::MonthToDate),
                    r.month,
                    lang.t(Key::AsOf),
                    view::time(inv, m.computed_unix_ms)
                ),
                facts: vec![
                    (
                        lang.t(Key::Hosts).into(),
                        r.hosts.len().to_string(),
                        String::new(),
                    ),
                    (
                        lang.t(Key::Links).into(),
                        r.links.len().to_string(),
                        String::new(),
                    ),
                    (
                        lang.t(Key::Incidents).into(),
                        r.incidents.len().to_string(),
                        String::new(),
                    ),
                    (
                        lang.t(Key::CollectorGaps).into(),
                        r.collector_gaps.len().to_string(),
                        String::new(),
                    ),
                ],
                tables: vec![
                    group_rows(&f, &r.departments, true, inv),
                    group_rows(&f, &r.data_centers, false, inv),
                ],
                ..Default::default()
            });
            sections.push(Section {
                title: lang.t(Key::ZeroFault).to_owned(),
                tables: vec![Table {
                    headers: [
                        Key::Level,
                        Key::Domain,
                        Key::Links,
                        Key::Availability,
                        Key::Faults,
                        Key::State,
                    ]
                    .iter()
                    .map(|k| lang.t(*k).to_owned())
                    .collect(),
                    rows: r
                        .backbone
                        .iter()
                        .map(|b| {
                            vec![
                                Cell::text(level_name(lang, &b.level)),
                                Cell::text(domain_name(lang, &b.domain)),
                                Cell::num(b.links.to_string()),
                                Cell::num(pct(b.figures.availability)),
                                Cell::num(b.figures.faults.to_string()),
                                if b.fault_free {
                                    Cell::state(lang.t(Key::FaultFree), "up")
                                } else {
                                    Cell::state(
                                        format!("{} {}", b.figures.faults, lang.t(Key::Faults)),
                                        "down",
                                    )
                                },
                            ]
                        })
                        .collect(),
                    empty: "—".into(),
                }],
                ..Default::default()
            });
        }
        None => sections.push(Section {
            title: lang.t(Key::NotComputedYet).to_owned(),
            ..Default::default()
        }),
    }
    let downloads = |month: &str| -> Vec<(String, String)> {
        ["html", "pdf", "xlsx", "csv", "json"]
            .iter()
            .map(|fmt| {
                (
                    format!("{month} {}", fmt.to_uppercase()),
                    format!(
                        "/api/v1/report?month={month}&format={fmt}&lang={}",
                        lang.code()
                    ),
                )
            })
            .collect()
    };
    sections.push(Section {
        title: lang.t(Key::Downloads).to_owned(),
        links: downloads(&current)
            .into_iter()
            .chain(downloads(&previous))
            .collect(),
        ..Default::default()
    });
    // Closed months: the last twelve, each with the manifest that was signed.
    let mut months = Vec::with_capacity(CLOSED_MONTHS);
    let mut m = current.clone();
    for _ in 0..CLOSED_MONTHS {
        m = previous_of(&m);
        months.push(m.clone());
    }
    let closed = s.closed.get(s.store.as_ref(), &months).await;
    let mut closed_section = Section {
        title: lang.t(Key::ClosedMonths).to_owned(),
        ..Default::default()
    };
    if closed.is_empty() {
        closed_section.facts.push((
            lang.t(Key::NoClosedMonth).into(),
            String::new(),
            String::new(),
        ));
    }
    for (month, closed_unix_ms, manifest) in &closed {
        closed_section.facts.push((
            format!("{month} · {}", view::time(inv, *closed_unix_ms)),
            format!("{}:\n{manifest}", lang.t(Key::Manifest)),
            "manifest".into(),
        ));
        closed_section.links.extend(downloads(month));
    }
    sections.push(closed_section);
    let heading = lang.t(Key::Month).to_owned();
    detail_page(
        &f,
        heading,
        Default::default(),
        None,
        sections,
        StatusCode::OK,
    )
}

/// `YYYY-MM` of the month before `month`.
fn previous_of(month: &str) -> String {
    let (y, m) = month.split_once('-').unwrap_or(("1970", "01"));
    let (y, m): (i32, u32) = (y.parse().unwrap_or(1970), m.parse().unwrap_or(1));
    if m <= 1 {
        format!("{:04}-12", y - 1)
    } else {
        format!("{y:04}-{:02}", m - 1)
    }
}

fn scope_text(
    inv: &crate::inventory::Inventory,
    lang: Lang,
    f: &Frame,
    scope: &crate::inventory::Scope,
) -> Cell {
    use crate::inventory::Scope;
    match scope {
        Scope::Host(a) => Cell::link(
            format!("{} {a}", lang.t(Key::Host)),
            f.href(&format!("/host/{a}")),
        ),
        Scope::Department(d) => Cell::link(
            view::name(inv, lang, NameKind::Department, d),
            f.href(&format!("/department/{}", view::segment(d))),
        ),
        Scope::DataCenter(d) => Cell::link(
            view::name(inv, lang, NameKind::DataCenter, d),
            f.href(&format!("/datacenter/{}", view::segment(d))),
        ),
        Scope::Link(l) => Cell::link(
            view::name(inv, lang, NameKind::Link, l),
            f.href(&format!("/link/{l}")),
        ),
        Scope::Site(site) => Cell::text(view::name(inv, lang, NameKind::Site, site)),
        Scope::BusinessSystem(b) => Cell::text(
            inv.business_system(b)
                .map_or(b.as_str(), |x| lang.name(&x.name_zh, &x.name_en, &x.code))
                .to_owned(),
        ),
    }
}

/// `GET /maintenance`.
pub async fn maintenance(
    State(s): State<Arc<CockpitState>>,
    Query(q): Query<PageQuery>,
) -> Response {
    let now_ms = zerofault_common::now_unix_ms();
    let f = frame(&s, &q, "/maintenance", String::new(), now_ms);
    let lang = f.lang;
    let inv = &s.inventory;
    let windows = inv.maintenance_intervals(now_ms, now_ms + UPCOMING_MS);
    let row = |w: &crate::inventory::MaintenanceInterval, from_now: bool| {
        // An open window was clipped to now: its real start is the occurrence's.
        let start = if from_now {
            "…".to_owned()
        } else {
            view::time(inv, w.start_unix_ms)
        };
        vec![
            scope_text(inv, lang, &f, &w.scope),
            Cell::text(start),
            Cell::text(view::time(inv, w.end_unix_ms)),
            Cell::num(view::duration(lang, w.end_unix_ms - w.start_unix_ms)),
            Cell::text(&w.note),
        ]
    };
    let headers: Vec<String> = [Key::Scope, Key::Start, Key::End, Key::Duration, Key::Note]
        .iter()
        .map(|k| lang.t(*k).to_owned())
        .collect();
    let sections = vec![
        Section {
            title: lang.t(Key::Current).to_owned(),
            tables: vec![Table {
                headers: headers.clone(),
                rows: windows
                    .iter()
                    .filter(|w| w.start_unix_ms <= now_ms)
                    .map(|w| row(w, true))
                    .collect(),
                empty: lang.t(Key::NoWindow).into(),
            }],
            ..Default::default()
        },
        Section {
            title: format!("{} (31 d)", lang.t(Key::Upcoming)),
            tables: vec![Table {
                headers,
                rows: windows
                    .iter()
                    .filter(|w| w.start_unix_ms > now_ms)
                    .map(|w| row(w, false))
                    .collect(),
                empty: lang.t(Key::NoWindow).into(),
            }],
            ..Default::default()
        },
    ];
    let heading = format!(
        "{} ({})",
        lang.t(Key::MaintenanceCalendar),
        inv.time_zone_name()
    );
    detail_page(
        &f,
        heading,
        Default::default(),
        None,
        sections,
        StatusCode::OK,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_month_before_wraps_the_year() {
        assert_eq!(
            super::previous_of("2026-01"),
            "2026-12".replace("2026", "2025")
        );
        assert_eq!(super::previous_of("2026-11"), "2026-10");
    }
}
