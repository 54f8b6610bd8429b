//! Maintenance windows on the calendar: the occurrences of a one-off, weekly or monthly
//! window in the inventory's time zone.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::model::Maintenance;
use super::time::{MonthDay, duration_ms, instant, local_date};

/// The `[start, end)` of every occurrence of `m` that may overlap `[from, to)` (unclipped;
/// the caller clips and drops the ones that do not overlap).
pub(super) fn occurrences(tz: &TimeZone, m: &Maintenance, from: i64, to: i64) -> Vec<(i64, i64)> {
    // Outside jiff's range there are no local dates; a caller asking for "everything" gets
    // everything jiff can represent instead of nothing.
    // (Whole seconds: jiff's extreme timestamps have sub-millisecond parts that its own
    // millisecond constructor refuses.)
    let (from, to) = (
        from.max(Timestamp::MIN.as_second() * 1000),
        to.min(Timestamp::MAX.as_second() * 1000),
    );
    let mut out = Vec::new();
    if let Some(once) = &m.once
        && let Ok(t) = tz.to_timestamp(once.start)
    {
        let s = t.as_millisecond();
        out.push((s, s.saturating_add(duration_ms(once.duration))));
    }
    // Recurring windows: visit every local day (or month) from the one an occurrence that
    // still overlaps `from` could have started on, to the day of `to`.
    let days_from = |len: Duration| {
        let first = local_date(tz, from.saturating_sub(duration_ms(len)))?;
        Some((first.yesterday().ok()?, local_date(tz, to)?))
    };
    if let Some(w) = &m.weekly
        && let Some((mut day, last)) = days_from(w.duration)
    {
        while day <= last {
            if day.weekday() == w.weekday.0
                && let Some(s) = instant(tz, day, w.at)
            {
                out.push((s, s.saturating_add(duration_ms(w.duration))));
            }
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
    }
    if let Some(mo) = &m.monthly
        && let Some((first, last)) = days_from(mo.duration)
    {
        let mut month = first.first_of_month();
        while month <= last {
            let day = match mo.day {
                MonthDay::Last => Some(month.last_of_month()),
                MonthDay::Day(d) => i8::try_from(d)
                    .ok()
                    .filter(|&d| d >= 1 && d <= month.days_in_month())
                    .map(|d| month.with().day(d).build().expect("day within month")),
            };
            if let Some(s) = day.and_then(|day| instant(tz, day, mo.at)) {
                out.push((s, s.saturating_add(duration_ms(mo.duration))));
            }
            let Ok(next) = month.last_of_month().tomorrow() else {
                break;
            };
            month = next;
        }
    }
    out
}
