//! SLA adjustments in a month (issue 16, `docs/sla-operations.md` § "SLA adjustments"): a
//! period an operator excluded after the fact from a host's, a link's or a group's
//! availability, e.g. a power cut agreed as force majeure.
//!
//! - **Effect**: an adjustment that applies is an excluded period of its scope, exactly as
//!   a maintenance window of the inventory (`maintenance` slots: out of availability, never
//!   down). A group scope covers its hosts (a site also the links that reach it), as the
//!   inventory's maintenance does; a link scope covers that link. A withdrawn adjustment
//!   excludes nothing.
//! - **Shown**: every adjustment touching the month, withdrawn or not, is a row of the
//!   report (who, when, why, and the minutes of the month it covers).
//! - **Closed months**: nothing is re-applied to frozen figures. An adjustment made (or
//!   withdrawn) after closing changes the figures computed now, so it appears in the
//!   month's late corrections, with the figures it changes ([`late`]).

use crate::inventory::{MaintenanceInterval, Scope};
use crate::month::sla::model::{AdjustmentRow, AdjustmentWithdrawal, MonthReport};
use crate::store::adjustments::Adjustment;

/// The periods the adjustments in force exclude, clipped to `[lo, hi)`, as maintenance
/// intervals (the engine's one rule for excluded time); the note is the reason.
pub fn exclusions(adjustments: &[Adjustment], lo: i64, hi: i64) -> Vec<MaintenanceInterval> {
    adjustments
        .iter()
        .filter(|a| a.withdrawn.is_none())
        .filter_map(|a| {
            // A kind this build does not know is only in a row written by hand (the
            // command refuses it): it excludes nothing.
            let scope = Scope::from_kind(&a.what.kind, &a.what.code)?;
            let (start, end) = (a.what.start_ms.max(lo), a.what.end_ms.min(hi));
            (start < end).then(|| MaintenanceInterval {
                start_unix_ms: start,
                end_unix_ms: end,
                scope,
                note: a.what.reason.clone(),
            })
        })
        .collect()
}

/// The report's rows of the adjustments touching `[start_ms, end_ms)`, by id, none `late`
/// (that is known once the month's closing is: [`mark_late`]).
pub fn rows(adjustments: &[Adjustment], start_ms: i64, end_ms: i64) -> Vec<AdjustmentRow> {
    let mut out: Vec<AdjustmentRow> = adjustments
        .iter()
        .filter(|a| a.what.start_ms < end_ms && a.what.end_ms > start_ms)
        .map(|a| {
            let inside = a.what.end_ms.min(end_ms) - a.what.start_ms.max(start_ms);
            AdjustmentRow {
                id: a.id,
                kind: a.what.kind.clone(),
                code: a.what.code.clone(),
                start_unix_ms: a.what.start_ms,
                end_unix_ms: a.what.end_ms,
                minutes: if a.withdrawn.is_some() {
                    0.0
                } else {
                    inside as f64 / 60_000.0
                },
                reason: a.what.reason.clone(),
                actor: a.actor.clone(),
                created_unix_ms: a.created_ms,
                late: false,
                withdrawn: a.withdrawn.as_ref().map(|w| AdjustmentWithdrawal {
                    actor: w.actor.clone(),
                    at_unix_ms: w.at_ms,
                    reason: w.reason.clone(),
                }),
            }
        })
        .collect();
    out.sort_by_key(|r| r.id);
    out
}

/// Marks the rows made or withdrawn after the month was closed at `closed_ms`: late
/// corrections.
pub fn mark_late(rows: &mut [AdjustmentRow], closed_ms: i64) {
    for r in rows {
        r.late = r.created_unix_ms > closed_ms
            || r.withdrawn
                .as_ref()
                .is_some_and(|w| w.at_unix_ms > closed_ms);
    }
}

/// The adjustments of `current` that the frozen figures do not have as they are now: made
/// after closing, or withdrawn since. Their effect on the figures is in the late
/// corrections beside them.
pub fn late(frozen: &MonthReport, current: &MonthReport) -> Vec<AdjustmentRow> {
    current
        .adjustments
        .iter()
        .filter(|c| {
            !frozen
                .adjustments
                .iter()
                .any(|f| f.id == c.id && f.withdrawn == c.withdrawn)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
