//! What both backends do with the series' hour rows (`crate::series::hour`) they read:
//! unpack them, keep the slots of the span asked for, bound the answer.

use crate::series::hour::{Hour, SlotFigures, hour_of};
use crate::series::slot::LinkRow;
use crate::store::api::{LinkSeries, LinkSlot};

/// A stored body that does not unpack is damage to one row: it is replaced by what is
/// merged into it (and a read skips it), with a warning, rather than failing every flush.
pub(super) fn unpacked(table: &str, hour_start_ms: i64, body: &[u8]) -> Option<Hour> {
    match Hour::unpack(hour_start_ms, body) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, table, hour_start_ms, "skipping an undecodable series row");
            None
        }
    }
}

/// The hour rows to read for slots starting in `[from_ms, to_ms)`: `[hour_of(from), to)`.
pub(super) fn first_hour(from_ms: i64) -> i64 {
    hour_of(from_ms)
}

/// The exclusive bound on `hour_start_ms` of the rows whose whole hour is before
/// `before_ms` (retention deletes whole rows).
pub(super) fn hours_before(before_ms: i64) -> i64 {
    hour_of(before_ms)
}

/// Hour rows to read for at most `limit` slots of one agent: only the first and the last
/// row can hold no slot of the span.
pub(super) fn host_rows_for(limit: usize) -> usize {
    limit.max(1).saturating_add(2)
}

/// The slots of `rows` (hour start, body; by hour) that start in `[from_ms, to_ms)`, at
/// most `limit`.
pub(super) fn host_slots(
    rows: impl IntoIterator<Item = (i64, Vec<u8>)>,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> Vec<SlotFigures> {
    let mut out = Vec::new();
    for (hour, body) in rows {
        let Some(row) = unpacked("series_1h", hour, &body) else {
            continue;
        };
        for (slot, figures) in row.slots.range(from_ms..to_ms) {
            if out.len() >= limit {
                return out;
            }
            out.push((*slot, figures.clone()));
        }
    }
    out
}

/// The slots of a link's `rows` (hour start, agent, body; by hour then agent, at most
/// `max_rows + 1` read) that start in `[from_ms, to_ms)`, by slot then agent. When more
/// than `max_rows` were read, the rows of the last hour read (perhaps not all of its
/// vantage points) are left out and the answer says truncated.
pub(super) fn link_slots(
    mut rows: Vec<(i64, String, Vec<u8>)>,
    from_ms: i64,
    to_ms: i64,
    max_rows: usize,
) -> LinkSeries {
    let truncated = rows.len() > max_rows;
    if truncated && let Some(last) = rows.last().map(|r| r.0) {
        rows.retain(|r| r.0 < last);
    }
    let mut slots = Vec::new();
    for (hour, agent_id, body) in rows {
        let Some(row) = unpacked("link_series_1h", hour, &body) else {
            continue;
        };
        for (slot, figures) in row.slots.range(from_ms..to_ms) {
            slots.push(LinkSlot {
                slot_start_ms: *slot,
                agent_id: agent_id.clone(),
                row: LinkRow {
                    figures: figures.clone(),
                },
            });
        }
    }
    slots.sort_by(|a, b| (a.slot_start_ms, &a.agent_id).cmp(&(b.slot_start_ms, &b.agent_id)));
    LinkSeries { slots, truncated }
}
