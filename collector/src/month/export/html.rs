//! HTML export: one self-contained, print-ready page (template
//! `collector/templates/export/report.html`).
//!
//! Printed, its first page is the document ([`super::document::front_page`]: organisation,
//! month, plain-language summary, verdicts, signature reference) and the rest its appendix:
//! the charts and every table once. Page numbers come from CSS `@page` margin boxes
//! ("Page N of M"), which Chromium's print honours.
//!
//! Self-contained means no external resource of any kind: no fonts, scripts, style sheets
//! or images are fetched (CSS is inline, charts are inline SVG, fonts are whatever the
//! reader's machine has), so the page prints the same offline and leaks nothing when
//! opened. Text is HTML-escaped by askama (the template is `.html`).

use askama::Template;

use super::document::{self, Block, FrontPage};
use super::format::{ExportError, Lang};
use super::i18n::{self, Key};
use super::numbers;
use super::tables::{self, Cell, Local, Medium, Table};
use crate::month::sla::model::{Figures, MonthReport};

/// One table cell as shown.
#[derive(Debug)]
struct HtmlCell {
    text: String,
    /// Right-aligned (numbers).
    num: bool,
}

#[derive(Debug)]
struct HtmlTable {
    anchor: &'static str,
    title: &'static str,
    headers: Vec<&'static str>,
    rows: Vec<Vec<HtmlCell>>,
}

#[derive(Debug)]
struct Bar {
    label: String,
    value: String,
    /// `ok` (target met), `miss` (target missed), `plain` (no target), `none` (no figure).
    class: &'static str,
    y: u32,
    text_y: u32,
    width: u32,
}

/// A horizontal bar chart of availability; the axis starts below the lowest figure so
/// that 99.9 % and 99.0 % do not look the same.
#[derive(Debug)]
struct Chart {
    title: &'static str,
    width: u32,
    height: u32,
    label_width: u32,
    bar_area: u32,
    axis_y: u32,
    axis_lo: String,
    axis_hi: String,
    bars: Vec<Bar>,
}

/// A block of the first page, ready for the template.
#[derive(Debug)]
struct HtmlBlock {
    title: &'static str,
    headers: Vec<&'static str>,
    /// Rows: cells (text, numeric) and the class of the last cell.
    rows: Vec<(Vec<HtmlCell>, &'static str)>,
}

fn html_block(b: &Block) -> HtmlBlock {
    HtmlBlock {
        title: b.title,
        headers: b.headers.clone(),
        rows: b
            .rows
            .iter()
            .map(|(cells, mark)| {
                let cells = cells
                    .iter()
                    .enumerate()
                    .map(|(i, text)| HtmlCell {
                        text: text.clone(),
                        num: b.numeric.get(i).copied().unwrap_or(false),
                    })
                    .collect();
                (cells, mark.class())
            })
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "export/report.html")]
struct Page {
    lang: &'static str,
    front: FrontPage,
    /// Departments, zero-fault verdict, longest incidents.
    blocks: Vec<HtmlBlock>,
    /// CSS `content` parts of the footer around the page counters: before, between, after.
    page_label: (String, String, String),
    charts: Vec<Chart>,
    tables: Vec<HtmlTable>,
    no_rows: &'static str,
}

fn percent(v: f64) -> String {
    numbers::print_percent(v)
}

fn cell(local: &Local, c: &Cell) -> Result<HtmlCell, ExportError> {
    let (text, num) = match c {
        Cell::Text(s) => (s.clone(), false),
        Cell::Int(n) => (numbers::print_int(*n), true),
        Cell::Bytes(n) => (numbers::print_gib(*n), true),
        Cell::Ratio(v) => (v.map(percent).unwrap_or_default(), true),
        Cell::Minutes(v) => (v.map(numbers::print_minutes).unwrap_or_default(), true),
        Cell::Decimal(v, places) => (
            v.map(|v| numbers::print_decimal(v, *places))
                .unwrap_or_default(),
            true,
        ),
        Cell::Time(ms) => (local.short(*ms)?, false),
    };
    Ok(HtmlCell { text, num })
}

/// The footer text around the page counters, split at the two numbers: "Page 1 of 2"
/// gives ("Page ", " of ", "").
fn page_label(lang: Lang) -> (String, String, String) {
    // Rendered with two markers that no translation contains, then split at them.
    let text = i18n::page_of(lang, 1_000_001, 1_000_002);
    let (before, rest) = text.split_once("1000001").unwrap_or((&text, ""));
    let (between, after) = rest.split_once("1000002").unwrap_or((rest, ""));
    (before.to_string(), between.to_string(), after.to_string())
}

fn html_table(local: &Local, lang: Lang, t: &Table) -> Result<HtmlTable, ExportError> {
    let rows = t
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| cell(local, c))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HtmlTable {
        anchor: t.id.name(),
        title: t.id.title(lang),
        headers: t.headers.clone(),
        rows,
    })
}

const CHART_WIDTH: u32 = 680;
const LABEL_WIDTH: u32 = 220;
const BAR_AREA: u32 = 360;
const ROW_HEIGHT: u32 = 18;

/// The lowest axis value: a whole percent at least half a percent under the lowest
/// figure, and never above 99 % (so a bar at 100 % still has a visible length).
fn axis_lo(values: &[Option<f64>]) -> f64 {
    let min = values.iter().flatten().copied().fold(1.0_f64, f64::min);
    (((min * 100.0) - 0.5).floor() / 100.0).clamp(0.0, 0.99)
}

fn chart(lang: Lang, title: Key, items: Vec<(String, &Figures)>) -> Chart {
    let values: Vec<Option<f64>> = items.iter().map(|(_, f)| f.availability).collect();
    let lo = axis_lo(&values);
    let bars = items
        .iter()
        .enumerate()
        .map(|(i, (label, f))| {
            let y = 4 + u32::try_from(i).unwrap_or(u32::MAX / 32) * ROW_HEIGHT;
            let (width, value) = match f.availability {
                // Rounded to whole pixels; the value itself is printed next to the bar.
                Some(a) => (
                    (((a - lo) / (1.0 - lo)).clamp(0.0, 1.0) * f64::from(BAR_AREA)).round() as u32,
                    percent(a),
                ),
                None => (0, Key::NotAvailable.text(lang).to_string()),
            };
            let class = match (f.availability, f.target_met) {
                (None, _) => "none",
                (Some(_), Some(true)) => "ok",
                (Some(_), Some(false)) => "miss",
                (Some(_), None) => "plain",
            };
            Bar {
                label: label.clone(),
                value,
                class,
                y,
                text_y: y + 12,
                width,
            }
        })
        .collect::<Vec<_>>();
    let n = u32::try_from(bars.len()).unwrap_or(0);
    let axis_y = 4 + n * ROW_HEIGHT + 2;
    Chart {
        title: title.text(lang),
        width: CHART_WIDTH,
        height: axis_y + 16,
        label_width: LABEL_WIDTH,
        bar_area: BAR_AREA,
        axis_y,
        axis_lo: format!("{:.0}%", lo * 100.0),
        axis_hi: "100%".to_string(),
        bars,
    }
}

/// `report` as one HTML page.
pub fn render(report: &MonthReport, lang: Lang) -> Result<Vec<u8>, ExportError> {
    let local = Local::new(report)?;
    let front = document::front_page(report, lang)?;
    let departments = report
        .departments
        .iter()
        .map(|d| {
            (
                if d.name.is_empty() {
                    d.code.clone()
                } else {
                    d.name.clone()
                },
                &d.figures,
            )
        })
        .collect();
    let backbone = report
        .backbone
        .iter()
        .map(|b| {
            let label = format!(
                "{} {}",
                i18n::level_name(lang, &b.level),
                i18n::domain_name(lang, &b.domain)
            );
            (label, &b.figures)
        })
        .collect();
    let charts = vec![
        chart(lang, Key::DepartmentAvailabilityChart, departments),
        chart(lang, Key::BackboneAvailabilityChart, backbone),
    ];
    let tables = tables::tables_for(report, lang, Medium::Print)
        .iter()
        .map(|t| html_table(&local, lang, t))
        .collect::<Result<Vec<_>, _>>()?;
    let page = Page {
        lang: lang.tag(),
        blocks: [&front.departments, &front.backbone, &front.incidents]
            .into_iter()
            .map(html_block)
            .collect(),
        front,
        page_label: page_label(lang),
        charts,
        tables,
        no_rows: Key::NoRows.text(lang),
    };
    let mut out = page.render()?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_label_splits_at_the_counters() {
        assert_eq!(
            page_label(Lang::En),
            ("Page ".to_string(), " of ".to_string(), String::new())
        );
        assert_eq!(
            page_label(Lang::ZhCn),
            ("第 ".to_string(), " 页，共 ".to_string(), " 页".to_string())
        );
    }

    #[test]
    fn axis_starts_below_the_lowest_figure() {
        assert_eq!(axis_lo(&[Some(0.9987), Some(1.0)]), 0.99);
        assert_eq!(axis_lo(&[Some(0.95), None]), 0.94);
        assert_eq!(axis_lo(&[Some(1.0)]), 0.99);
        assert_eq!(axis_lo(&[None]), 0.99);
        assert_eq!(axis_lo(&[Some(0.001)]), 0.0);
    }
}
