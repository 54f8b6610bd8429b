//! CSV export: one file per table.
//!
//! Files are UTF-8 and start with a byte order mark: without it Excel in a zh-CN locale
//! reads a CSV as GBK and shows Chinese names as mojibake; with it, it detects UTF-8.
//! Numbers are plain numbers rounded to the precision stated in [`super::numbers`] (ratios
//! 0..=1 to 8 decimals, minutes to 2, trailing zeros dropped, never `-0`), times RFC 3339
//! with the report's offset, "not defined" empty.

use super::format::{ExportError, Lang};
use super::numbers;
use super::tables::{self, Cell, Local, Table, TableId};
use crate::month::sla::model::MonthReport;

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

fn cell_text(local: &Local, cell: &Cell) -> Result<String, ExportError> {
    Ok(match cell {
        Cell::Text(s) => s.clone(),
        Cell::Int(n) => n.to_string(),
        Cell::Bytes(n) => n.to_string(),
        Cell::Ratio(v) => v.map(numbers::data_ratio).unwrap_or_default(),
        Cell::Minutes(v) => v.map(numbers::data_minutes).unwrap_or_default(),
        Cell::Decimal(v, places) => v
            .map(|v| numbers::data_decimal(v, *places))
            .unwrap_or_default(),
        Cell::Time(ms) => local.rfc3339(*ms)?,
    })
}

fn render(local: &Local, table: &Table) -> Result<Vec<u8>, ExportError> {
    let err = |e: csv::Error| ExportError::Csv {
        table: table.id.name(),
        reason: e.to_string(),
    };
    let mut w = csv::WriterBuilder::new().from_writer(BOM.to_vec());
    w.write_record(&table.headers).map_err(err)?;
    for row in &table.rows {
        let fields = row
            .iter()
            .map(|c| cell_text(local, c))
            .collect::<Result<Vec<_>, _>>()?;
        w.write_record(&fields).map_err(err)?;
    }
    w.into_inner().map_err(|e| ExportError::Csv {
        table: table.id.name(),
        reason: e.to_string(),
    })
}

/// The one table `id` as CSV.
pub fn render_table(report: &MonthReport, lang: Lang, id: TableId) -> Result<Vec<u8>, ExportError> {
    render(&Local::new(report)?, &tables::table(report, lang, id))
}

/// Every table as CSV, in [`TableId::ALL`] order.
pub fn render_all(
    report: &MonthReport,
    lang: Lang,
) -> Result<Vec<(TableId, Vec<u8>)>, ExportError> {
    let local = Local::new(report)?;
    tables::tables(report, lang)
        .iter()
        .map(|t| Ok((t.id, render(&local, t)?)))
        .collect()
}
