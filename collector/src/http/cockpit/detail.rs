//! The drill-down pages as sections of facts, charts and tables
//! (`templates/cockpit/page.html`): host, link, department and data center, month,
//! maintenance calendar. Pure: the handlers in `mod.rs` read the live tables and the store,
//! these functions only arrange what was read.

use std::collections::BTreeMap;

use super::chart::{self, Line, Unit};
use super::text::{Key, Lang};
use super::view::{self, NameKind, pct};
use crate::inventory::Inventory;
use crate::series::slot::{Figure, Kind, SLOT_MS};

/// A table cell.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    /// A link, when the cell names something with a page.
    pub href: String,
    /// CSS class: a state (`up`, `down`, ...), `num`, or empty.
    pub class: String,
}

impl Cell {
    /// Plain text.
    pub fn text(t: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            ..Cell::default()
        }
    }

    /// A number, right-aligned.
    pub fn num(t: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            class: "num".into(),
            ..Cell::default()
        }
    }

    /// A link.
    pub fn link(t: impl Into<String>, href: String) -> Cell {
        Cell {
            text: t.into(),
            href,
            ..Cell::default()
        }
    }

    /// A state, with its class (colour and marker).
    pub fn state(t: impl Into<String>, class: &str) -> Cell {
        Cell {
            text: t.into(),
            class: format!("state {class}"),
            ..Cell::default()
        }
    }
}

/// A table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Said when there is no row.
    pub empty: String,
}

/// One section of a page.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub title: String,
    /// (label, value, class).
    pub facts: Vec<(String, String, String)>,
    /// (title, inline SVG).
    pub charts: Vec<(String, String)>,
    pub tables: Vec<Table>,
    /// (text, href) links, e.g. downloads.
    pub links: Vec<(String, String)>,
}

/// The history ranges of the host and link pages (`?range=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Last 24 hours (default).
    Day,
    /// Last 7 days.
    Week,
    /// Last 30 days.
    Days30,
    /// The calendar month so far, in the reporting time zone.
    Month,
}

impl Range {
    /// Every range, for the switch.
    pub const ALL: [Range; 4] = [Range::Day, Range::Week, Range::Days30, Range::Month];

    /// From `?range=`; unknown values are the default.
    pub fn parse(s: Option<&str>) -> Range {
        match s {
            Some("7d") => Range::Week,
            Some("30d") => Range::Days30,
            Some("month") => Range::Month,
            _ => Range::Day,
        }
    }

    /// The query value.
    pub fn code(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Days30 => "30d",
            Range::Month => "month",
        }
    }

    /// The switch's text.
    pub fn key(self) -> Key {
        match self {
            Range::Day => Key::Range24h,
            Range::Week => Key::Range7d,
            Range::Days30 => Key::Range30d,
            Range::Month => Key::RangeMonth,
        }
    }

    /// `[from, to)` at `now_ms`.
    pub fn bounds(self, inv: &Inventory, now_ms: i64) -> (i64, i64) {
        let day = 86_400_000;
        match self {
            Range::Day => (now_ms - day, now_ms),
            Range::Week => (now_ms - 7 * day, now_ms),
            Range::Days30 => (now_ms - 30 * day, now_ms),
            Range::Month => {
                let month = crate::month::current_month(inv, now_ms);
                let start = inv.month_bounds(&month).map_or(now_ms - day, |(s, _)| s);
                (start, now_ms)
            }
        }
    }
}

/// The lines of one figure kind from stored slots: one line per name (mount point,
/// device), the slot mean as the value (a slot's maximum for loss, where a short burst
/// matters; a counter's rate over the slot, `series::slot::shown`).
pub fn lines(slots: &[(i64, Vec<Figure>)], kind: Kind, fallback_name: &str) -> Vec<Line> {
    let mut by: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for (t, figures) in slots {
        for f in figures.iter().filter(|f| f.kind == kind as u32) {
            let Some((_, mean, max)) = crate::series::slot::shown(f, figures) else {
                continue;
            };
            let v = if kind == Kind::Loss { max } else { mean };
            let name = if f.name.is_empty() {
                fallback_name
            } else {
                &f.name
            };
            by.entry(name.to_owned()).or_default().push((*t, v));
        }
    }
    by.into_iter()
        .map(|(name, mut points)| {
            points.sort_by_key(|p| p.0);
            Line { name, points }
        })
        .collect()
}

/// A chart of `lines` over `[from, to)` with times local to the inventory.
pub fn chart(
    inv: &Inventory,
    lang: Lang,
    lines: &[Line],
    unit: Unit,
    from: i64,
    to: i64,
) -> String {
    chart::svg(
        lines,
        unit,
        from,
        to,
        SLOT_MS,
        &|t| view::time(inv, t),
        lang.t(Key::NoSeries),
    )
}

/// A chart's title with its lines' names, `CPU (/, /var)`; the title alone without lines.
pub fn titled(title: &str, lines: &[Line]) -> String {
    if lines.is_empty() {
        return title.to_owned();
    }
    let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
    format!("{title} ({})", names.join(", "))
}

/// A state timeline of `[from, to)`: down periods drawn over an up bar, each with its
/// times as the tooltip. `periods` are `(start, end)` ms, clipped here.
pub fn timeline(inv: &Inventory, lang: Lang, periods: &[(i64, i64)], from: i64, to: i64) -> String {
    use std::fmt::Write as _;
    let width = 640;
    let span = (to - from).max(1) as f64;
    let mut out = format!(
        r#"<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 40" width="{width}" height="40" role="img"><rect class="upbar" x="0" y="4" width="{width}" height="16"/>"#
    );
    for &(s, e) in periods {
        let (s, e) = (s.max(from), e.min(to));
        if s >= e {
            continue;
        }
        // At least 2 px, so a short fault shows, and inside the bar at the right end.
        let w = ((e - s) as f64 / span * f64::from(width)).max(2.0);
        let x = ((s - from) as f64 / span * f64::from(width)).min(f64::from(width) - w);
        let _ = write!(
            out,
            r#"<rect class="downbar" x="{x:.1}" y="4" width="{w:.1}" height="16"><title>{} – {} ({})</title></rect>"#,
            view::time(inv, s),
            view::time(inv, e),
            view::duration(lang, e - s)
        );
    }
    let _ = write!(
        out,
        r#"<text x="0" y="36">{}</text><text x="{width}" y="36" text-anchor="end">{}</text></svg>"#,
        view::time(inv, from),
        view::time(inv, to)
    );
    out
}

/// Facts of a month figure: availability, coverage, target.
pub fn figure_facts(
    lang: Lang,
    f: &crate::month::sla::model::Figures,
) -> Vec<(String, String, String)> {
    let class = match f.target_met {
        Some(true) => "met",
        Some(false) => "missed",
        None => "",
    };
    vec![
        (
            lang.t(Key::Availability).into(),
            pct(f.availability),
            class.into(),
        ),
        (lang.t(Key::Coverage).into(), pct(f.coverage), String::new()),
        (lang.t(Key::Target).into(), pct(f.target), String::new()),
        (
            lang.t(Key::Faults).into(),
            format!(
                "{} · {:.0} {}",
                f.faults,
                f.fault_minutes,
                lang.t(Key::Minutes)
            ),
            String::new(),
        ),
    ]
}

/// The name of a group for a page heading.
pub fn group_name(inv: &Inventory, lang: Lang, department: bool, code: &str) -> String {
    view::name(
        inv,
        lang,
        if department {
            NameKind::Department
        } else {
            NameKind::DataCenter
        },
        code,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(kind: Kind, name: &str, sum: u64, count: u64, max: u64) -> Figure {
        Figure {
            kind: kind as u32,
            name: name.into(),
            count,
            sum,
            min: 0,
            max,
        }
    }

    #[test]
    fn lines_group_by_name_and_loss_keeps_the_worst_of_a_slot() {
        let slots = vec![
            (
                600_000,
                vec![
                    fig(Kind::Filesystem, "/var", 1_000_000, 2, 600_000),
                    fig(Kind::Cpu, "", 300_000, 3, 200_000),
                ],
            ),
            (
                0,
                vec![
                    fig(Kind::Filesystem, "/var", 800_000, 2, 500_000),
                    fig(Kind::Filesystem, "/", 100_000, 1, 100_000),
                ],
            ),
            (300_000, vec![fig(Kind::Loss, "", 100_000, 2, 1_000_000)]),
        ];
        let fs = lines(&slots, Kind::Filesystem, "-");
        assert_eq!(fs.len(), 2);
        assert_eq!(fs[0].name, "/");
        assert_eq!(
            fs[1].points,
            vec![(0, 0.4), (600_000, 0.5)],
            "sorted by time, mean of a slot"
        );
        assert_eq!(
            lines(&slots, Kind::Cpu, "cpu")[0].points,
            vec![(600_000, 0.1)]
        );
        assert_eq!(
            lines(&slots, Kind::Loss, "a")[0].points,
            vec![(300_000, 1.0)]
        );
    }

    #[test]
    fn ranges_parse_and_bound() {
        let inv = Inventory::default();
        assert_eq!(Range::parse(Some("7d")), Range::Week);
        assert_eq!(Range::parse(Some("nonsense")), Range::Day);
        assert_eq!(
            Range::Week.bounds(&inv, 10 * 86_400_000),
            (3 * 86_400_000, 10 * 86_400_000)
        );
        let (from, to) = Range::Month.bounds(&inv, 1_767_225_600_000 + 5 * 86_400_000);
        assert!(from < to && to - from <= 31 * 86_400_000);
    }

    #[test]
    fn a_timeline_draws_the_down_periods_inside_the_range() {
        let inv = Inventory::default();
        let svg = timeline(&inv, Lang::En, &[(-10, 5), (50, 60), (200, 300)], 0, 100);
        assert_eq!(svg.matches("class=\"downbar\"").count(), 2, "{svg}");
    }
}
