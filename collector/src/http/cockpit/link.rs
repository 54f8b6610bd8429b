//! `GET /link/{link}`: a link's state, its vantage points, loss / RTT / jitter history per
//! vantage point, its state timeline and faults, and what is behind it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::chart::{Line, Unit};
use super::detail::{self, Cell, Range, Section, Table};
use super::state::{CockpitState, PageQuery, detail_page, frame, link_state_text, not_found};
use super::text::Key;
use super::view::{self, NameKind, domain_name, level_name, pct};
use crate::live::links::Fault;
use crate::series::slot::{Kind, MAX_LINK_ID_BYTES};

/// Most hour rows of a link read for one page: as the series API.
const MAX_ROWS: usize = crate::http::series::MAX_LINK_ROWS;
/// Most faults listed.
const FAULT_ROWS: usize = 50;

/// `GET /link/{link}`.
pub async fn link(
    State(s): State<Arc<CockpitState>>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let now_ms = zerofault_common::now_unix_ms();
    let mut f = frame(
        &s,
        &q,
        &format!("/link/{}", view::segment(&id)),
        id.clone(),
        now_ms,
    );
    if id.is_empty() || id.len() > MAX_LINK_ID_BYTES {
        return not_found(&mut f, "?");
    }
    let lang = f.lang;
    let inv = &s.inventory;
    let view_now = s.links.links().into_iter().find(|l| l.link_id == id);
    let declared = inv.link(&id);
    if view_now.is_none() && declared.is_none() {
        return not_found(&mut f, &id);
    }
    let range = Range::parse(q.range.as_deref());
    let (from, to) = range.bounds(inv, now_ms);

    let state = view_now.as_ref().map(|v| v.state);
    let (state_text, state_class) = link_state_text(lang, state);
    let level = declared.map_or_else(
        || {
            view_now
                .as_ref()
                .map(|v| v.level.clone())
                .unwrap_or_default()
        },
        |l| l.level.as_str().to_owned(),
    );
    let domain = declared.map_or_else(
        || {
            view_now
                .as_ref()
                .map(|v| v.domain.clone())
                .unwrap_or_default()
        },
        |l| l.domain.as_str().to_owned(),
    );
    let mut facts = vec![
        (
            lang.t(Key::State).to_owned(),
            state_text.to_owned(),
            state_class.to_owned(),
        ),
        (
            lang.t(Key::Level).to_owned(),
            level_name(lang, &level),
            String::new(),
        ),
        (
            lang.t(Key::Domain).to_owned(),
            domain_name(lang, &domain),
            String::new(),
        ),
    ];
    if let Some(l) = declared {
        facts.push((
            "→".into(),
            format!(
                "{} → {}",
                view::name(inv, lang, NameKind::Site, &l.from),
                view::name(inv, lang, NameKind::Site, &l.to)
            ),
            String::new(),
        ));
        facts.push((
            lang.t(Key::Target).to_owned(),
            pct(Some(inv.link_target(l))),
            String::new(),
        ));
    }
    let mut sections = vec![Section {
        title: lang.t(Key::Figures).to_owned(),
        facts,
        ..Default::default()
    }];
    let month = s.month.get();
    if let Some(r) = month
        .as_ref()
        .and_then(|m| m.report.links.iter().find(|r| r.link_id == id))
    {
        sections.push(Section {
            title: lang.t(Key::MonthToDate).to_owned(),
            facts: detail::figure_facts(lang, &r.figures),
            ..Default::default()
        });
    }

    // Vantage points now.
    let vantages = view_now
        .as_ref()
        .map(|v| {
            v.vantages
                .iter()
                .map(|vp| {
                    let (text, class) = link_state_text(lang, Some(vp.state));
                    let last = vp.last.as_ref();
                    vec![
                        Cell::link(&vp.agent, f.href(&format!("/host/{}", vp.agent))),
                        Cell::state(
                            if vp.stale {
                                format!("{text} (stale)")
                            } else {
                                text.to_owned()
                            },
                            class,
                        ),
                        Cell::num(pct(last.map(|w| w.loss_ratio))),
                        Cell::num(last.map_or("—".into(), |w| {
                            format!("{:.1} ms", w.rtt_avg_seconds * 1000.0)
                        })),
                        Cell::num(last.map_or("—".into(), |w| {
                            format!("{:.1} ms", w.jitter_seconds * 1000.0)
                        })),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    sections.push(Section {
        title: lang.t(Key::Vantages).to_owned(),
        tables: vec![Table {
            headers: [Key::Vantage, Key::State, Key::Loss, Key::Rtt, Key::Jitter]
                .iter()
                .map(|k| lang.t(*k).to_owned())
                .collect(),
            rows: vantages,
            empty: "—".into(),
        }],
        ..Default::default()
    });

    // History per vantage point, one line each.
    let series = match s.store.link_series(id.clone(), from, to, MAX_ROWS).await {
        Ok(read) => read.slots,
        Err(e) => {
            tracing::warn!(error = %e, link = %id, "cockpit: cannot read the link's series");
            Vec::new()
        }
    };
    let mut by_agent: BTreeMap<&str, Vec<(i64, Vec<crate::series::slot::Figure>)>> =
        BTreeMap::new();
    for slot in &series {
        by_agent
            .entry(slot.agent_id.as_str())
            .or_default()
            .push((slot.slot_start_ms, slot.row.figures.clone()));
    }
    let mut charts = Vec::new();
    for (kind, key, unit) in [
        (Kind::Loss, Key::Loss, Unit::Ratio),
        (Kind::Rtt, Key::Rtt, Unit::Seconds),
        (Kind::Jitter, Key::Jitter, Unit::Seconds),
    ] {
        let lines: Vec<Line> = by_agent
            .iter()
            .flat_map(|(agent, slots)| detail::lines(slots, kind, agent))
            .collect();
        charts.push((
            detail::titled(lang.t(key), &lines),
            detail::chart(inv, lang, &lines, unit, from, to),
        ));
    }

    // Faults: the engine's (recent, ongoing) and the store's (settled), once each.
    let mut faults: Vec<Fault> = s.links.faults(Some(&id));
    match s.store.faults(Some(id.clone())).await {
        Ok(stored) => {
            let mut seen: std::collections::HashSet<i64> =
                faults.iter().map(|f| f.start_unix_ms).collect();
            faults.extend(stored.into_iter().filter(|f| seen.insert(f.start_unix_ms)));
        }
        Err(e) => tracing::warn!(error = %e, link = %id, "cockpit: cannot read the link's faults"),
    }
    faults.sort_by_key(|f| std::cmp::Reverse(f.start_unix_ms));
    let periods: Vec<(i64, i64)> = faults
        .iter()
        .map(|f| {
            (
                f.start_unix_ms,
                f.end_unix_ms.unwrap_or(f.start_unix_ms + f.duration_ms),
            )
        })
        .collect();
    sections.push(Section {
        title: format!("{} · {}", lang.t(Key::StateTimeline), lang.t(range.key())),
        charts: vec![(
            String::new(),
            detail::timeline(inv, lang, &periods, from, to),
        )],
        ..Default::default()
    });
    sections.push(Section {
        title: lang.t(range.key()).to_owned(),
        charts,
        ..Default::default()
    });
    let fault_rows = faults
        .iter()
        .take(FAULT_ROWS)
        .map(|fl| {
            vec![
                Cell::text(view::time(inv, fl.start_unix_ms)),
                Cell::text(fl.end_unix_ms.map_or_else(
                    || lang.t(Key::OpenIncidents).to_owned(),
                    |e| view::time(inv, e),
                )),
                Cell::num(view::duration(lang, fl.duration_ms)),
                Cell::text(fl.agents.join(", ")),
            ]
        })
        .collect();
    sections.push(Section {
        title: format!("{} ({})", lang.t(Key::Faults), faults.len()),
        tables: vec![Table {
            headers: [Key::Start, Key::End, Key::Duration, Key::Vantages]
                .iter()
                .map(|k| lang.t(*k).to_owned())
                .collect(),
            rows: fault_rows,
            empty: lang.t(Key::FaultFree).to_owned(),
        }],
        ..Default::default()
    });
    let behind = inv.links_behind(&id);
    if !behind.sites.is_empty() {
        sections.push(Section {
            title: format!("{} ({})", lang.t(Key::Hides), lang.t(Key::RootCause)),
            facts: vec![
                (
                    lang.t(Key::Sites).to_owned(),
                    behind
                        .sites
                        .iter()
                        .map(|c| view::name(inv, lang, NameKind::Site, c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    String::new(),
                ),
                (
                    lang.t(Key::Links).to_owned(),
                    behind.links.iter().cloned().collect::<Vec<_>>().join(", "),
                    String::new(),
                ),
            ],
            ..Default::default()
        });
    }
    let heading = format!(
        "{} {}",
        lang.t(Key::Link),
        view::name(inv, lang, NameKind::Link, &id)
    );
    detail_page(
        &f,
        heading,
        (state_text.to_owned(), state_class.to_owned()),
        Some(range),
        sections,
        StatusCode::OK,
    )
}
