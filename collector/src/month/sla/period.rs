//! Why the engine refuses a month ([`SlaError`]) and how much of a period has happened
//! ([`covered_end`]): used by the report's rows ([`build`](mod@super::build)) and its figures
//! ([`super::figures`]) alike, so neither needs the other for them.

use super::input::Period;

/// Most slots in a period (a year of 1 s slots), so a wrong slot length fails fast.
pub const MAX_SLOTS: i64 = 366 * 86_400;

/// Why a month cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlaError {
    /// The period's end is not after its start.
    #[error("empty period: end {end_ms} is not after start {start_ms}")]
    EmptyPeriod {
        /// Start, ms.
        start_ms: i64,
        /// End, ms.
        end_ms: i64,
    },
    /// The slot length is outside 1 s ..= 1 day.
    #[error("slot length {slot_ms} ms is outside 1000..=86400000 ms")]
    BadSlot {
        /// Slot length, ms.
        slot_ms: i64,
    },
    /// The period is not a whole number of slots.
    #[error("the period ({period_ms} ms) is not a whole number of {slot_ms} ms slots")]
    NotWholeSlots {
        /// Period length, ms.
        period_ms: i64,
        /// Slot length, ms.
        slot_ms: i64,
    },
    /// More than [`MAX_SLOTS`] slots.
    #[error("{slots} slots in the period, more than {MAX_SLOTS}")]
    TooManySlots {
        /// Slots.
        slots: i64,
    },
    /// "Now" is before the month: it has no state at all yet.
    #[error("{month} is in the future: it begins at {start_ms} (Unix ms), now is {now_ms}")]
    FutureMonth {
        /// The month, `YYYY-MM`.
        month: String,
        /// Its start, ms.
        start_ms: i64,
        /// Now, ms.
        now_ms: i64,
    },
    /// The month has begun less than one slot ago: no slot has ended yet.
    #[error("{month} began less than one slot ({slot_ms} ms) ago: no slot of it has ended yet")]
    NoSlotYet {
        /// The month, `YYYY-MM`.
        month: String,
        /// Slot length, ms.
        slot_ms: i64,
    },
    /// Two hosts with one agent id.
    #[error("host {0} given twice")]
    DuplicateHost(String),
    /// Two links with one link id.
    #[error("link {0} given twice")]
    DuplicateLink(String),
}

/// End of the part of `period` that has happened: its end for a past month; for the
/// month in progress, "now" rounded down to a whole slot. A month that has not begun, or
/// whose first slot has not ended, is an error naming the month.
pub fn covered_end(period: &Period) -> Result<i64, SlaError> {
    let (start, end, slot, now) = (
        period.start_ms,
        period.end_ms,
        period.slot_ms,
        period.now_ms,
    );
    if now >= end {
        return Ok(end);
    }
    if now < start {
        return Err(SlaError::FutureMonth {
            month: period.month.clone(),
            start_ms: start,
            now_ms: now,
        });
    }
    let elapsed = (now - start) / slot * slot;
    if elapsed == 0 {
        return Err(SlaError::NoSlotYet {
            month: period.month.clone(),
            slot_ms: slot,
        });
    }
    Ok(start + elapsed)
}
