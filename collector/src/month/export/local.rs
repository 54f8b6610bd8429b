//! The report's time zone: Unix ms as the local times every format writes.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::format::ExportError;
use crate::month::sla::model::MonthReport;

/// The report's time zone, for turning Unix ms into local time.
#[derive(Debug, Clone)]
pub struct Local {
    tz: TimeZone,
}

impl Local {
    /// The report's IANA time zone (from the bundled tz database).
    pub fn new(report: &MonthReport) -> Result<Local, ExportError> {
        let tz = TimeZone::get(&report.time_zone).map_err(|e| ExportError::TimeZone {
            zone: report.time_zone.clone(),
            reason: e.to_string(),
        })?;
        Ok(Local { tz })
    }

    /// Coordinated Universal Time (document metadata that the formats define in UTC).
    pub fn utc() -> Local {
        Local { tz: TimeZone::UTC }
    }

    fn zoned(&self, unix_ms: i64) -> Result<jiff::ZonedDateTime, ExportError> {
        let ts = Timestamp::from_millisecond(unix_ms).map_err(|e| ExportError::Time {
            unix_ms,
            reason: e.to_string(),
        })?;
        Ok(ts.to_zoned_datetime(self.tz.clone()))
    }

    /// Local civil time (XLSX datetimes).
    pub fn civil(&self, unix_ms: i64) -> Result<jiff::civil::DateTime, ExportError> {
        Ok(self.zoned(unix_ms)?.datetime())
    }

    /// RFC 3339 with the local offset, e.g. `2026-01-03T10:00:00+08:00` (CSV: unambiguous
    /// for machines, still readable local time for people).
    pub fn rfc3339(&self, unix_ms: i64) -> Result<String, ExportError> {
        Ok(self
            .zoned(unix_ms)?
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string())
    }

    /// `2026-01-03 10:00` (HTML; the time zone is stated once in the header).
    pub fn short(&self, unix_ms: i64) -> Result<String, ExportError> {
        Ok(self.zoned(unix_ms)?.strftime("%Y-%m-%d %H:%M").to_string())
    }
}
