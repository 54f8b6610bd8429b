//! JSON export: the model itself, pretty-printed. Field order is the struct order of
//! `sla::model` (serde keeps it), so the output is stable for a given model.

use super::format::ExportError;
use crate::month::sla::model::MonthReport;

/// `report` as pretty JSON, ending with a newline.
pub fn render(report: &MonthReport) -> Result<Vec<u8>, ExportError> {
    let mut bytes = serde_json::to_vec_pretty(report)?;
    bytes.push(b'\n');
    Ok(bytes)
}
