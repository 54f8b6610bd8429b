//! Calendar arithmetic in the reporting time zone: month bounds, maintenance occurrences, and
//! the syntax of the inventory's dates and times.
//!
//! Local times are turned into instants with jiff's "compatible" rule: a time skipped by a
//! DST jump forward means the instant right after the jump (02:30 on the spring-forward day in
//! Europe/Berlin is 03:30 CEST), a time repeated by a jump back means its first occurrence.
//! Durations are elapsed time, so a 1h window is 1h long even across a DST change.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use serde::Deserialize;

/// Why a `YYYY-MM` month could not be turned into bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonthError {
    /// Not `YYYY-MM` with a month 01..12.
    #[error("{0:?} is not a month; write YYYY-MM, e.g. 2026-10")]
    Syntax(String),
    /// The month is outside the range the calendar handles.
    #[error("month {0:?} is out of range")]
    OutOfRange(String),
}

/// Start and end (exclusive) of calendar month `month` (`YYYY-MM`) in `tz`, as Unix
/// milliseconds: local midnight of the 1st to local midnight of the next month's 1st.
pub fn month_bounds(tz: &TimeZone, month: &str) -> Result<(i64, i64), MonthError> {
    let syntax = || MonthError::Syntax(month.to_owned());
    let (y, m) = month.split_once('-').ok_or_else(syntax)?;
    if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())) {
        return Err(syntax());
    }
    let (y, m): (i16, i8) = (
        y.parse().map_err(|_| syntax())?,
        m.parse().map_err(|_| syntax())?,
    );
    if !(1..=12).contains(&m) {
        return Err(syntax());
    }
    let range = || MonthError::OutOfRange(month.to_owned());
    let first = Date::new(y, m, 1).map_err(|_| range())?;
    let next = if m == 12 {
        Date::new(y + 1, 1, 1)
    } else {
        Date::new(y, m + 1, 1)
    }
    .map_err(|_| range())?;
    let at_midnight = |d: Date| {
        tz.to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .map(Timestamp::as_millisecond)
            .map_err(|_| range())
    };
    Ok((at_midnight(first)?, at_midnight(next)?))
}

/// Day of the week of a weekly window, written `mon`..`sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weekday(pub jiff::civil::Weekday);

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl<'de> Deserialize<'de> for Weekday {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let i = WEEKDAYS
            .iter()
            .position(|w| w.eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{s:?} is not a weekday; use one of mon, tue, wed, thu, fri, sat, sun"
                ))
            })?;
        let w = jiff::civil::Weekday::from_monday_zero_offset(i as i8)
            .map_err(serde::de::Error::custom)?;
        Ok(Weekday(w))
    }
}

/// A local time of day, `HH:MM` (24-hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Hour, 0..=23.
    pub hour: i8,
    /// Minute, 0..=59.
    pub minute: i8,
}

impl Clock {
    /// `None` for a hand-built out-of-range value (parsing never makes one).
    fn time(self) -> Option<jiff::civil::Time> {
        jiff::civil::Time::new(self.hour, self.minute, 0, 0).ok()
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// Parses `H:MM` or `HH:MM`.
fn parse_clock(s: &str) -> Option<Clock> {
    let (h, m) = s.trim().split_once(':')?;
    let digits = |t: &str, max_len| {
        (!t.is_empty() && t.len() <= max_len && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<i8>().ok())
            .flatten()
    };
    let (hour, minute) = (digits(h, 2)?, digits(m, 2)?);
    (m.len() == 2 && (0..24).contains(&hour) && (0..60).contains(&minute))
        .then_some(Clock { hour, minute })
}

impl<'de> Deserialize<'de> for Clock {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_clock(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{s:?} is not a time of day; write HH:MM (24-hour, quoted), e.g. \"02:00\""
            ))
        })
    }
}

/// Day of a monthly window: 1..=28 (every month has it) or the last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthDay {
    /// That day of the month; [`super::Inventory::validate`] requires 1..=28.
    Day(u32),
    /// The last day of each month.
    Last,
}

impl<'de> Deserialize<'de> for MonthDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = MonthDay;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a day of the month 1..28 or \"last\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<MonthDay, E> {
                u32::try_from(v).map(MonthDay::Day).map_err(|_| {
                    E::custom(format!(
                        "{v} is not a day of the month; use 1..28 or \"last\""
                    ))
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<MonthDay, E> {
                u64::try_from(v)
                    .map_err(|_| {
                        E::custom(format!(
                            "{v} is not a day of the month; use 1..28 or \"last\""
                        ))
                    })
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MonthDay, E> {
                match v.trim() {
                    "last" => Ok(MonthDay::Last),
                    t => t.parse::<u32>().map(MonthDay::Day).map_err(|_| {
                        E::custom(format!(
                            "{v:?} is not a day of the month; use 1..28 or \"last\""
                        ))
                    }),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// serde adapter: an IANA time zone name, resolved against the bundled tz database.
pub(super) fn time_zone<'de, D: serde::Deserializer<'de>>(d: D) -> Result<TimeZone, D::Error> {
    let name = String::deserialize(d)?;
    TimeZone::get(name.trim()).map_err(|_| {
        serde::de::Error::custom(format!(
            "{name:?} is not a known IANA time zone; write e.g. Asia/Shanghai or Europe/Berlin"
        ))
    })
}

/// Parses `YYYY-MM-DD HH:MM`.
fn parse_local_datetime(s: &str) -> Option<DateTime> {
    let (date, clock) = s.trim().split_once(' ')?;
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || m.len() != 2
        || d.len() != 2
        || !(y
            .bytes()
            .chain(m.bytes())
            .chain(d.bytes())
            .all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let date = Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()?;
    let clock = parse_clock(clock.trim_start())?;
    Some(date.to_datetime(clock.time()?))
}

/// serde adapter: a local date and time `YYYY-MM-DD HH:MM`.
pub(super) fn local_datetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime, D::Error> {
    let s = String::deserialize(d)?;
    parse_local_datetime(&s).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{s:?} is not a local date and time; write \"YYYY-MM-DD HH:MM\", e.g. \"2026-10-03 02:00\""
        ))
    })
}

pub(super) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Unix ms of local `date` at `clock` in `tz`; `None` outside jiff's range.
pub(super) fn instant(tz: &TimeZone, date: Date, clock: Clock) -> Option<i64> {
    tz.to_timestamp(date.to_datetime(clock.time()?))
        .ok()
        .map(Timestamp::as_millisecond)
}

pub(super) fn local_date(tz: &TimeZone, unix_ms: i64) -> Option<Date> {
    Timestamp::from_millisecond(unix_ms)
        .ok()
        .map(|t| tz.to_datetime(t).date())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    /// Unix ms of a UTC date-time given as literal fields.
    fn utc(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
        TimeZone::UTC
            .to_timestamp(jiff::civil::date(y, mo, d).at(h, mi, 0, 0))
            .unwrap()
            .as_millisecond()
    }

    #[test]
    fn month_bounds_in_shanghai_are_utc_plus_8_midnights() {
        let (s, e) = month_bounds(&tz("Asia/Shanghai"), "2026-02").unwrap();
        assert_eq!(s, utc(2026, 1, 31, 16, 0));
        assert_eq!(e, utc(2026, 2, 28, 16, 0));
        assert_eq!(e - s, 28 * 86_400_000);
        let (s, e) = month_bounds(&tz("Asia/Shanghai"), "2026-12").unwrap();
        assert_eq!(s, utc(2026, 11, 30, 16, 0));
        assert_eq!(e, utc(2026, 12, 31, 16, 0));
    }

    #[test]
    fn month_bounds_in_berlin_follow_dst() {
        // March 2026: starts in CET (+1), ends in CEST (+2): one hour short.
        let (s, e) = month_bounds(&tz("Europe/Berlin"), "2026-03").unwrap();
        assert_eq!(s, utc(2026, 2, 28, 23, 0));
        assert_eq!(e, utc(2026, 3, 31, 22, 0));
        assert_eq!(e - s, 31 * 86_400_000 - 3_600_000);
        // October 2026: the hour comes back.
        let (s, e) = month_bounds(&tz("Europe/Berlin"), "2026-10").unwrap();
        assert_eq!(s, utc(2026, 9, 30, 22, 0));
        assert_eq!(e, utc(2026, 10, 31, 23, 0));
        assert_eq!(e - s, 31 * 86_400_000 + 3_600_000);
    }

    #[test]
    fn month_syntax_is_strict() {
        let z = tz("UTC");
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-01",
            "2026/01",
            "2026-01-01",
            "",
        ] {
            assert_eq!(
                month_bounds(&z, bad),
                Err(MonthError::Syntax(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            month_bounds(&z, "2024-02").unwrap(),
            (utc(2024, 2, 1, 0, 0), utc(2024, 3, 1, 0, 0))
        );
    }

    #[test]
    fn clock_and_datetime_syntax() {
        assert_eq!(parse_clock("02:00"), Some(Clock { hour: 2, minute: 0 }));
        assert_eq!(parse_clock("2:05"), Some(Clock { hour: 2, minute: 5 }));
        for bad in [
            "24:00", "02:60", "0200", "02:0", "-1:00", "02:00:00", "aa:bb",
        ] {
            assert_eq!(parse_clock(bad), None, "{bad}");
        }
        assert_eq!(
            parse_local_datetime("2026-10-03 02:00"),
            Some(jiff::civil::date(2026, 10, 3).at(2, 0, 0, 0))
        );
        for bad in [
            "2026-02-30 02:00",
            "2026-10-03T02:00",
            "2026-10-03",
            "2026-1-03 02:00",
        ] {
            assert_eq!(parse_local_datetime(bad), None, "{bad}");
        }
    }
}
