//! `GET /host/{agent}`: a host's state, figures, capacity history, boots and the links it
//! probes.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::chart::Unit;
use super::detail::{self, Cell, Range, Section, Table};
use super::state::{
    CockpitState, PageQuery, detail_page, frame, link_state_text, not_found, present, state_text,
};
use super::text::Key;
use super::view::{self, NameKind, pct};
use crate::series::slot::Kind;

/// `GET /host/{agent}`.
pub async fn host(
    State(s): State<Arc<CockpitState>>,
    Path(agent): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let now_ms = zerofault_common::now_unix_ms();
    let mut f = frame(
        &s,
        &q,
        &format!("/host/{}", view::segment(&agent)),
        agent.clone(),
        now_ms,
    );
    if !zerofault_protocol::is_valid_agent_id(&agent) {
        return not_found(&mut f, "?");
    }
    // One entry, not a copy of the whole table.
    let Some(entry) = s.hosts.get(&agent) else {
        return not_found(&mut f, &agent);
    };
    let (now, _) = present(&s, now_ms, std::slice::from_ref(&entry));
    let Some(h) = now.hosts.first() else {
        return not_found(&mut f, &agent);
    };
    let lang = f.lang;
    let inv = &s.inventory;
    let range = Range::parse(q.range.as_deref());
    let (from, to) = range.bounds(inv, now_ms);
    let report = entry.report.clone();
    let delivery = entry.delivery.unwrap_or_default();

    let mut facts = vec![
        (
            lang.t(Key::State).to_owned(),
            state_text(lang, h.state).to_owned(),
            h.state.as_str().to_owned(),
        ),
        (
            lang.t(Key::Department).to_owned(),
            view::name(inv, lang, NameKind::Department, &h.department),
            String::new(),
        ),
        (
            lang.t(Key::DataCenter).to_owned(),
            view::name(inv, lang, NameKind::DataCenter, &h.data_center),
            String::new(),
        ),
        (
            lang.t(Key::Site).to_owned(),
            view::name(inv, lang, NameKind::Site, &h.site),
            String::new(),
        ),
        (
            lang.t(Key::LastReport).to_owned(),
            view::time(inv, h.last_seen_ms),
            String::new(),
        ),
        (
            lang.t(Key::Reported).to_owned(),
            delivery.reports_stored.to_string(),
            String::new(),
        ),
        (
            lang.t(Key::SequenceGaps).to_owned(),
            delivery.sequence_gaps.to_string(),
            String::new(),
        ),
        (
            lang.t(Key::ClockOffset).to_owned(),
            delivery
                .clock_offset_ms
                .map_or("—".into(), |o| format!("{o} ms")),
            if delivery.clock_skewed {
                "missed".into()
            } else {
                String::new()
            },
        ),
        (
            lang.t(Key::Spool).to_owned(),
            format!("{} {}", h.backlog, lang.t(Key::Reports)),
            String::new(),
        ),
    ];
    if let Some(cpu) = &report.cpu {
        facts.push((
            lang.t(Key::Cpu).to_owned(),
            format!(
                "{} · {} cores",
                pct(Some(cpu.usage_ratio)),
                cpu.logical_cores
            ),
            String::new(),
        ));
    }
    if let Some(m) = &report.memory {
        let used = (m.total_bytes > 0).then(|| m.used_bytes as f64 / m.total_bytes as f64);
        facts.push((
            lang.t(Key::Memory).to_owned(),
            format!(
                "{} · {:.1} GiB",
                pct(used),
                m.total_bytes as f64 / 1_073_741_824.0
            ),
            String::new(),
        ));
    }
    let month = s.month.get();
    let month_row = month
        .as_ref()
        .and_then(|m| m.report.hosts.iter().find(|r| r.agent_id == agent).cloned());
    let mut sections = vec![Section {
        title: lang.t(Key::Figures).to_owned(),
        facts,
        ..Default::default()
    }];
    if let Some(r) = &month_row {
        sections.push(Section {
            title: lang.t(Key::MonthToDate).to_owned(),
            facts: detail::figure_facts(lang, &r.figures),
            ..Default::default()
        });
    }

    // Capacity charts from the downsampled series.
    let limit =
        usize::try_from((to - from) / crate::series::slot::SLOT_MS + 2).unwrap_or(usize::MAX);
    let slots = match s.store.host_series(agent.clone(), from, to, limit).await {
        Ok(slots) => slots,
        Err(e) => {
            tracing::warn!(error = %e, %agent, "cockpit: cannot read the host's series");
            Vec::new()
        }
    };
    let charts_of: [ChartOf; 9] = [
        (Key::Cpu, &[(Kind::Cpu, "")], Unit::Ratio, true),
        (
            Key::StealIowait,
            &[(Kind::Steal, "steal"), (Kind::Iowait, "iowait")],
            Unit::Ratio,
            false,
        ),
        (Key::Memory, &[(Kind::Memory, "")], Unit::Ratio, true),
        (Key::Load, &[(Kind::Load1, "")], Unit::Plain, true),
        (
            Key::PressureSome,
            &[(Kind::PressureUs, "")],
            Unit::Ratio,
            false,
        ),
        (
            Key::Filesystems,
            &[(Kind::Filesystem, "")],
            Unit::Ratio,
            true,
        ),
        (Key::Inodes, &[(Kind::Inodes, "")], Unit::Ratio, false),
        (
            Key::DisksBusy,
            &[(Kind::DiskBusyMs, "")],
            Unit::Ratio,
            false,
        ),
        (
            Key::ClockUnsync,
            &[(Kind::ClockUnsync, "")],
            Unit::Ratio,
            false,
        ),
    ];
    let mut charts = Vec::new();
    for (key, kinds, unit, always) in charts_of {
        let title = lang.t(key);
        let lines: Vec<_> = kinds
            .iter()
            .flat_map(|(kind, name)| {
                detail::lines(&slots, *kind, if name.is_empty() { title } else { name })
            })
            .collect();
        if lines.is_empty() && !always {
            continue;
        }
        let title = if kinds.iter().any(|(k, _)| k.name_field().is_some()) {
            detail::titled(title, &lines)
        } else {
            title.to_owned()
        };
        charts.push((title, detail::chart(inv, lang, &lines, unit, from, to)));
    }
    sections.push(Section {
        title: format!("{} · {}", lang.t(Key::Capacity), lang.t(range.key())),
        charts,
        ..Default::default()
    });

    let fs_rows = report
        .filesystems
        .iter()
        .map(|fs| {
            let used = (fs.size_bytes > 0).then(|| fs.used_bytes as f64 / fs.size_bytes as f64);
            vec![
                Cell::text(&fs.mount_point),
                Cell::text(&fs.fs_type),
                Cell::num(format!("{:.1} GiB", fs.size_bytes as f64 / 1_073_741_824.0)),
                Cell::num(pct(used)),
            ]
        })
        .collect();
    let boots = s
        .hosts
        .ledger()
        .boots(&agent)
        .into_iter()
        .map(|(boot, span)| {
            vec![
                Cell::text(boot),
                Cell::num(format!("{}..{}", span.min, span.max)),
                Cell::num(span.count.to_string()),
                Cell::num(span.gaps().to_string()),
            ]
        })
        .collect();
    let probed = s
        .links
        .links()
        .into_iter()
        .flat_map(|l| {
            l.vantages
                .iter()
                .filter(|v| v.agent == agent)
                .map(|v| {
                    let (text, class) = link_state_text(lang, Some(v.state));
                    let last = v.last.as_ref();
                    vec![
                        Cell::link(
                            view::name(inv, lang, NameKind::Link, &l.link_id),
                            f.href(&format!("/link/{}", l.link_id)),
                        ),
                        Cell::state(text, class),
                        Cell::num(pct(last.map(|w| w.loss_ratio))),
                        Cell::num(last.map_or("—".into(), |w| {
                            format!("{:.1} ms", w.rtt_avg_seconds * 1000.0)
                        })),
                        Cell::num(last.map_or("—".into(), |w| {
                            format!("{:.1} ms", w.jitter_seconds * 1000.0)
                        })),
                    ]
                })
                .collect::<Vec<_>>()
        })
        .collect();
    sections.push(Section {
        title: lang.t(Key::Filesystems).to_owned(),
        tables: vec![Table {
            headers: vec![
                "mount".into(),
                "type".into(),
                lang.t(Key::Size).into(),
                lang.t(Key::Used).into(),
            ],
            rows: fs_rows,
            empty: "—".into(),
        }],
        ..Default::default()
    });
    sections.push(Section {
        title: lang.t(Key::Boots).to_owned(),
        tables: vec![Table {
            headers: vec![
                lang.t(Key::Boot).into(),
                "seq".into(),
                lang.t(Key::Reported).into(),
                lang.t(Key::SequenceGaps).into(),
            ],
            rows: boots,
            empty: "—".into(),
        }],
        ..Default::default()
    });
    sections.push(Section {
        title: lang.t(Key::ProbedLinks).to_owned(),
        tables: vec![Table {
            headers: [Key::Link, Key::State, Key::Loss, Key::Rtt, Key::Jitter]
                .iter()
                .map(|k| lang.t(*k).to_owned())
                .collect(),
            rows: probed,
            empty: "—".into(),
        }],
        ..Default::default()
    });
    let heading = format!(
        "{} {}",
        lang.t(Key::Host),
        if report.hostname.is_empty() {
            &agent
        } else {
            &report.hostname
        }
    );
    let badge = (
        state_text(lang, h.state).to_owned(),
        h.state.as_str().to_owned(),
    );
    detail_page(&f, heading, badge, Some(range), sections, StatusCode::OK)
}

/// A capacity chart of the host page: its title, its figure kinds (with a line name for the
/// unnamed ones), its unit, and whether it is drawn without data (the figures every agent
/// has; the newer ones only when the host reports them).
type ChartOf = (Key, &'static [(Kind, &'static str)], Unit, bool);
