//! The first page of the printed report (HTML and PDF): what makes it a document a bureau
//! hands up. The tables that follow are its appendix ([`super::tables`]).
//!
//! Built purely from the model, in one place, so the HTML page and the PDF cannot say
//! different things: the organisation, the month and period, a plain-language summary
//! (availability per department against its target, the zero-fault verdict per backbone
//! level and domain, incidents and the worst of them, coverage), and for a closed month the
//! signed manifest it is part of.

use super::format::{ExportError, Lang};
use super::i18n::{self, Key};
use super::numbers::{print_int, print_minutes, print_percent};
use super::tables::Local;
use crate::month::sla::model::{Figures, MonthReport};

/// Incidents listed by name on the first page (the longest ones); all are in the appendix.
pub const WORST_INCIDENTS: usize = 5;

/// How a line reads against its target, for colour in print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Met the target / fault-free.
    Ok,
    /// Missed the target / had faults.
    Miss,
    /// No figure or no target.
    None,
}

impl Mark {
    /// CSS class name.
    pub fn class(self) -> &'static str {
        match self {
            Mark::Ok => "ok",
            Mark::Miss => "miss",
            Mark::None => "none",
        }
    }
}

/// A small table of the first page: headers, rows of text and one mark per row (the
/// mark colours the last cell).
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Heading.
    pub title: &'static str,
    /// Column headers.
    pub headers: Vec<&'static str>,
    /// Which columns are numbers (right-aligned).
    pub numeric: Vec<bool>,
    /// Rows.
    pub rows: Vec<(Vec<String>, Mark)>,
}

/// The first page.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontPage {
    /// The organisation (inventory `organisation`), "" when none.
    pub organisation: String,
    /// "Monthly availability report 2026-01".
    pub title: String,
    /// The status of the figures under the title: closed and signed, or open (figures may
    /// still change). A "month to date, not final" marker replaces the open text here.
    pub status: String,
    /// Whether `status` is final (closed) or not: print shows a provisional status loudly.
    pub final_figures: bool,
    /// Period, time zone, generation time.
    pub facts: Vec<(&'static str, String)>,
    /// The plain-language summary, one sentence per entry.
    pub summary: Vec<String>,
    /// Availability per department against its target.
    pub departments: Block,
    /// Zero-fault verdict per backbone level and domain.
    pub backbone: Block,
    /// The longest incidents.
    pub incidents: Block,
    /// For a closed month: where its signature is, one line per entry.
    pub seal: Vec<String>,
    /// The heading of the appendix that follows.
    pub appendix_title: &'static str,
}

fn mark_of(f: &Figures) -> Mark {
    match f.target_met {
        Some(true) => Mark::Ok,
        Some(false) => Mark::Miss,
        None => Mark::None,
    }
}

fn opt_percent(lang: Lang, v: Option<f64>) -> String {
    v.map(print_percent)
        .unwrap_or_else(|| Key::NotAvailable.text(lang).to_string())
}

fn count(n: usize) -> String {
    print_int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn result(lang: Lang, f: &Figures) -> String {
    match (f.availability, f.target, f.target_met) {
        (_, _, Some(true)) => Key::Met.text(lang).to_string(),
        (_, _, Some(false)) => Key::Missed.text(lang).to_string(),
        (None, _, _) => Key::NotAvailable.text(lang).to_string(),
        (Some(_), None, _) => Key::NoTarget.text(lang).to_string(),
        (Some(_), Some(_), None) => Key::NotAvailable.text(lang).to_string(),
    }
}

/// Coverage of summed minutes: known / (all - maintenance).
fn coverage(minutes: impl Iterator<Item = (f64, f64, f64)>) -> Option<f64> {
    let (known, outside) = minutes.fold((0.0, 0.0), |(k, o), (known, maint, total)| {
        (k + known, o + (total - maint))
    });
    (outside > 0.0).then(|| known / outside)
}

fn minutes_of(f: &Figures) -> (f64, f64, f64) {
    let m = &f.minutes;
    let known = m.up + m.degraded + m.down;
    (known, m.maintenance, known + m.maintenance + m.unknown)
}

/// The first page of `report` in `lang`.
pub fn front_page(report: &MonthReport, lang: Lang) -> Result<FrontPage, ExportError> {
    let local = Local::new(report)?;
    let title = match lang {
        Lang::En => format!("{} {}", Key::Title.text(lang), report.month),
        Lang::ZhCn => format!("{} {}", report.month, Key::Title.text(lang)),
    };
    let status = match report.as_of_unix_ms.filter(|_| report.month_to_date) {
        Some(as_of) => format!("{} {}", Key::MonthToDate.text(lang), local.short(as_of)?),
        None if report.closed => Key::StatusClosed.text(lang).to_string(),
        None => Key::StatusOpen.text(lang).to_string(),
    };
    let facts = vec![
        (
            Key::Period.text(lang),
            format!(
                "{} - {}",
                local.short(report.start_unix_ms)?,
                local.short(report.covered_end_unix_ms())?
            ),
        ),
        (Key::TimeZone.text(lang), report.time_zone.clone()),
        (
            Key::Generated.text(lang),
            local.short(report.generated_unix_ms)?,
        ),
    ];

    let with_figure = |f: &Figures| f.availability.is_some();
    let deps_measured = report
        .departments
        .iter()
        .filter(|d| with_figure(&d.figures))
        .count();
    let deps_met = report
        .departments
        .iter()
        .filter(|d| d.figures.target_met == Some(true))
        .count();
    let levels: Vec<_> = report.backbone.iter().filter(|b| b.links > 0).collect();
    let fault_free = levels.iter().filter(|b| b.fault_free).count();
    let link_incidents = report.incidents.iter().filter(|i| i.kind == "link").count();
    let host_incidents = report.incidents.len() - link_incidents;
    let incident_minutes: f64 = report.incidents.iter().map(|i| i.minutes).sum::<f64>() + 0.0;
    let gap_ms: i64 = report
        .collector_gaps
        .iter()
        .map(|g| g.end_unix_ms.saturating_sub(g.start_unix_ms))
        .fold(0, i64::saturating_add);
    let host_cov = coverage(report.hosts.iter().map(|h| minutes_of(&h.figures)));
    let link_cov = coverage(report.links.iter().map(|l| minutes_of(&l.figures)));
    let summary = i18n::summary_sentences(
        lang,
        &i18n::SummaryFacts {
            hosts: count(report.hosts.len()),
            links: count(report.links.len()),
            departments: count(report.departments.len()),
            departments_measured: count(deps_measured),
            departments_met: count(deps_met),
            levels_with_links: count(levels.len()),
            levels_fault_free: count(fault_free),
            all_fault_free: fault_free == levels.len(),
            incidents: count(report.incidents.len()),
            link_incidents: count(link_incidents),
            host_incidents: count(host_incidents),
            incident_minutes: print_minutes(incident_minutes),
            host_coverage: opt_percent(lang, host_cov),
            link_coverage: opt_percent(lang, link_cov),
            collector_gaps: count(report.collector_gaps.len()),
            collector_gap_minutes: print_minutes(gap_ms as f64 / 60_000.0),
        },
    );

    let departments = Block {
        title: Key::DepartmentAvailabilityChart.text(lang),
        headers: [
            Key::Department,
            Key::Members,
            Key::Availability,
            Key::Target,
            Key::Result,
        ]
        .iter()
        .map(|k| k.text(lang))
        .collect(),
        numeric: vec![false, true, true, true, false],
        rows: report
            .departments
            .iter()
            .map(|d| {
                let f = &d.figures;
                let name = if d.name.is_empty() || d.name == d.code {
                    d.code.clone()
                } else {
                    format!("{} ({})", d.name, d.code)
                };
                (
                    vec![
                        name,
                        print_int(i64::from(d.members)),
                        opt_percent(lang, f.availability),
                        f.target.map(print_percent).unwrap_or_default(),
                        result(lang, f),
                    ],
                    mark_of(f),
                )
            })
            .collect(),
    };
    let backbone = Block {
        title: Key::ZeroFaultVerdict.text(lang),
        headers: [
            Key::Level,
            Key::Domain,
            Key::LinksOfLevel,
            Key::Availability,
            Key::Target,
            Key::Verdict,
        ]
        .iter()
        .map(|k| k.text(lang))
        .collect(),
        numeric: vec![false, false, true, true, true, false],
        rows: report
            .backbone
            .iter()
            .map(|b| {
                let mark = if b.links == 0 {
                    Mark::None
                } else if b.fault_free {
                    Mark::Ok
                } else {
                    Mark::Miss
                };
                (
                    vec![
                        i18n::level_name(lang, &b.level),
                        i18n::domain_name(lang, &b.domain),
                        print_int(i64::from(b.links)),
                        opt_percent(lang, b.figures.availability),
                        b.figures.target.map(print_percent).unwrap_or_default(),
                        i18n::verdict(lang, b.links, b.fault_free, b.figures.faults),
                    ],
                    mark,
                )
            })
            .collect(),
    };
    let mut worst: Vec<_> = report.incidents.iter().collect();
    // Longest first; ties by start, then id, so the page is the same every time.
    worst.sort_by(|a, b| {
        b.minutes
            .total_cmp(&a.minutes)
            .then(a.start_unix_ms.cmp(&b.start_unix_ms))
            .then(a.id.cmp(&b.id))
    });
    let incidents = Block {
        title: Key::WorstIncidents.text(lang),
        headers: [
            Key::Start,
            Key::Kind,
            Key::Id,
            Key::Level,
            Key::Minutes,
            Key::Affected,
        ]
        .iter()
        .map(|k| k.text(lang))
        .collect(),
        numeric: vec![false, false, false, false, true, false],
        rows: worst
            .into_iter()
            .take(WORST_INCIDENTS)
            .map(|i| {
                let level = if i.level.is_empty() {
                    String::new()
                } else {
                    format!(
                        "{} {}",
                        i18n::level_name(lang, &i.level),
                        i18n::domain_name(lang, &i.domain)
                    )
                };
                Ok((
                    vec![
                        local.short(i.start_unix_ms)?,
                        i18n::kind_name(lang, &i.kind),
                        i.id.clone(),
                        level,
                        print_minutes(i.minutes),
                        i18n::affected(lang, i.suppressed_hosts.len(), i.suppressed_links.len()),
                    ],
                    Mark::Miss,
                ))
            })
            .collect::<Result<Vec<_>, ExportError>>()?,
    };
    let seal = match (&report.seal, report.closed) {
        (Some(s), _) => i18n::seal_lines(
            lang,
            &local.short(s.closed_unix_ms)?,
            &s.manifest,
            &s.signature,
            s.manifest_sha256.as_deref(),
        ),
        (None, true) => vec![Key::ClosedNoSeal.text(lang).to_string()],
        (None, false) => Vec::new(),
    };
    Ok(FrontPage {
        organisation: report.organisation.clone(),
        title,
        status,
        final_figures: report.closed,
        facts,
        summary,
        departments,
        backbone,
        incidents,
        seal,
        appendix_title: Key::Appendix.text(lang),
    })
}
