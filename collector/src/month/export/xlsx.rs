//! XLSX export: one sheet per table, written with `rust_xlsxwriter`.
//!
//! Header row bold and frozen; real numbers with number formats (availability, coverage
//! and other ratios `0.000%`, minutes `#,##0` as in print, milliseconds `0.00`, days `0.0`,
//! counts `0`, bytes `#,##0`); the cell keeps the exact value, never `-0`; "not defined"
//! is an empty cell, never 0. Times are real Excel datetimes (`yyyy-mm-dd hh:mm:ss`) in
//! the report's time zone, which the Summary sheet names: Excel has no time zones, and
//! local time is what the report's readers reason in (sorting and filtering still work).

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet};

use super::format::{ExportError, Lang};
use super::tables::{self, Cell, Local, Table};
use crate::month::sla::model::MonthReport;

/// Number format of ratios (availability, coverage, utilisation, loss).
pub const RATIO_FORMAT: &str = "0.000%";
/// Number format of minutes: whole minutes with thousands separators, as HTML and PDF show.
pub const MINUTES_FORMAT: &str = "#,##0";
/// Number format of milliseconds.
pub const DECIMAL2_FORMAT: &str = "0.00";
/// Number format of days.
pub const DECIMAL1_FORMAT: &str = "0.0";
/// Number format of counts.
pub const INT_FORMAT: &str = "0";
/// Number format of byte sizes.
pub const BYTES_FORMAT: &str = "#,##0";
/// Number format of times.
pub const TIME_FORMAT: &str = "yyyy-mm-dd hh:mm:ss";

struct Formats {
    header: Format,
    ratio: Format,
    minutes: Format,
    dec2: Format,
    dec1: Format,
    int: Format,
    bytes: Format,
    time: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new().set_bold(),
            ratio: Format::new().set_num_format(RATIO_FORMAT),
            minutes: Format::new().set_num_format(MINUTES_FORMAT),
            dec2: Format::new().set_num_format(DECIMAL2_FORMAT),
            dec1: Format::new().set_num_format(DECIMAL1_FORMAT),
            int: Format::new().set_num_format(INT_FORMAT),
            bytes: Format::new().set_num_format(BYTES_FORMAT),
            time: Format::new().set_num_format(TIME_FORMAT),
        }
    }
}

fn excel_time(local: &Local, unix_ms: i64) -> Result<ExcelDateTime, ExportError> {
    let t = local.civil(unix_ms)?;
    let out_of_range = || ExportError::Time {
        unix_ms,
        reason: "outside the years Excel can show (1900-9999)".to_string(),
    };
    let year = u16::try_from(t.year()).map_err(|_| out_of_range())?;
    // Month, day, hour, minute and second of a civil datetime are small and non-negative.
    let small = |v: i8| u8::try_from(v).map_err(|_| out_of_range());
    Ok(
        ExcelDateTime::from_ymd(year, small(t.month())?, small(t.day())?)?.and_hms(
            u16::from(small(t.hour())?),
            small(t.minute())?,
            f64::from(t.second()),
        )?,
    )
}

/// Display width of a text in Excel column units: CJK characters are about two wide.
fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| if (c as u32) >= 0x2E80 { 2.0 } else { 1.0 })
        .sum()
}

fn cell_width(cell: &Cell) -> f64 {
    match cell {
        Cell::Text(s) => text_width(s),
        Cell::Int(n) => n.to_string().len() as f64,
        Cell::Bytes(n) => n.to_string().len() as f64 * 4.0 / 3.0,
        Cell::Ratio(_) => 9.0,
        Cell::Minutes(v) => v
            .map(|v| super::numbers::print_minutes(v).len() as f64)
            .unwrap_or(0.0),
        Cell::Decimal(v, _) => v.map(|v| format!("{v:.2}").len() as f64).unwrap_or(0.0),
        Cell::Time(_) => 19.0,
    }
}

fn write_sheet(
    ws: &mut Worksheet,
    local: &Local,
    f: &Formats,
    lang: Lang,
    table: &Table,
) -> Result<(), ExportError> {
    ws.set_name(table.id.title(lang))?;
    let mut widths: Vec<f64> = table.headers.iter().map(|h| text_width(h)).collect();
    for (c, h) in table.headers.iter().enumerate() {
        ws.write_string_with_format(0, col(c), *h, &f.header)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        let r =
            u32::try_from(r + 1).map_err(|_| rust_xlsxwriter::XlsxError::RowColumnLimitError)?;
        for (c, cell) in row.iter().enumerate() {
            widths[c] = widths[c].max(cell_width(cell));
            let c = col(c);
            match cell {
                Cell::Text(s) if s.is_empty() => {}
                Cell::Text(s) => {
                    ws.write_string(r, c, s)?;
                }
                Cell::Int(n) => {
                    // Counts are far below 2^53: exact as an Excel number.
                    ws.write_number_with_format(r, c, *n as f64, &f.int)?;
                }
                Cell::Bytes(n) => {
                    ws.write_number_with_format(r, c, *n as f64, &f.bytes)?;
                }
                // `+ 0.0` turns a negative zero (a float sum of nothing) into zero.
                Cell::Ratio(Some(v)) => {
                    ws.write_number_with_format(r, c, *v + 0.0, &f.ratio)?;
                }
                Cell::Minutes(Some(v)) => {
                    ws.write_number_with_format(r, c, *v + 0.0, &f.minutes)?;
                }
                Cell::Decimal(Some(v), places) => {
                    let fmt = if *places == 1 { &f.dec1 } else { &f.dec2 };
                    ws.write_number_with_format(r, c, *v + 0.0, fmt)?;
                }
                Cell::Ratio(None) | Cell::Minutes(None) | Cell::Decimal(None, _) => {}
                Cell::Time(ms) => {
                    ws.write_datetime_with_format(r, c, &excel_time(local, *ms)?, &f.time)?;
                }
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(col(c), (w + 2.0).clamp(8.0, 60.0))?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

fn col(c: usize) -> u16 {
    // Tables have at most a few dozen columns.
    u16::try_from(c).unwrap_or(u16::MAX)
}

/// `report` as an XLSX workbook.
pub fn render(report: &MonthReport, lang: Lang) -> Result<Vec<u8>, ExportError> {
    let local = Local::new(report)?;
    let formats = Formats::new();
    let mut wb = Workbook::new();
    // The generation time rather than "now" as the creation date (UTC, as the property is
    // defined): the same report gives the same document properties.
    let props = DocProperties::new()
        .set_title(format!(
            "{} {}",
            super::i18n::Key::Title.text(lang),
            report.month
        ))
        .set_creation_datetime(&excel_time(&Local::utc(), report.generated_unix_ms)?);
    wb.set_properties(&props);
    for table in tables::tables(report, lang) {
        let ws = wb.add_worksheet();
        write_sheet(ws, &local, &formats, lang, &table)?;
    }
    Ok(wb.save_to_buffer()?)
}
