//! The downsampled series (`crate::series`) in SQLite: `series_1h` (one row per agent and
//! hour: coverage and the host figures of its slots) and `link_series_1h` (one row per link,
//! hour and vantage point), packed by `crate::series::hour`, merged by read-merge-write as
//! the host rollups are (`rollups`).
//!
//! Rowid tables, not WITHOUT ROWID: an hour row of a host with many mounts passes the
//! ~1 KB a WITHOUT ROWID row keeps in its page (4 KB pages), and the rest would take an
//! overflow page of its own; a rowid table keeps up to ~4 KB in the page.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::super::series_rows::{
    first_hour, host_rows_for, host_slots, hours_before, link_slots, unpacked,
};
use crate::series::hour::{self, Hour, KeyCoverage, SlotFigures, hour_of};
use crate::series::slot::{Merged, SeriesKey, SeriesSlot};
use crate::store::api::{LinkSeries, ReplayCursor, ReplayPage, StoreError};

/// `Store::merge_series`, in one IMMEDIATE transaction: each hour row the slots go to is
/// read, merged and written once.
pub(super) fn merge(
    conn: &mut Connection,
    slots: &[(SeriesKey, SeriesSlot)],
) -> Result<Merged, StoreError> {
    let by_hour = hour::by_hour(slots);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut out = Merged::default();
    {
        let mut read = tx.prepare_cached(
            "SELECT body FROM series_1h WHERE agent_id = ?1 AND hour_start_ms = ?2",
        )?;
        let mut write = tx.prepare_cached(
            "INSERT INTO series_1h (agent_id, hour_start_ms, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (agent_id, hour_start_ms) DO UPDATE SET body = excluded.body",
        )?;
        for ((agent, hour), pieces) in &by_hour.hosts {
            let stored: Option<Vec<u8>> = read
                .query_row(params![agent, hour], |r| r.get(0))
                .optional()?;
            let row = stored
                .and_then(|b| unpacked("series_1h", *hour, &b))
                .unwrap_or_default();
            let (row, merged) = hour::merge_hosts(row, pieces);
            out.add(merged);
            write.execute(params![agent, hour, row.pack(*hour)])?;
        }
        let mut read = tx.prepare_cached(
            "SELECT body FROM link_series_1h
             WHERE link_id = ?1 AND hour_start_ms = ?2 AND agent_id = ?3",
        )?;
        let mut write = tx.prepare_cached(
            "INSERT INTO link_series_1h (link_id, hour_start_ms, agent_id, body)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (link_id, hour_start_ms, agent_id) DO UPDATE SET body = excluded.body",
        )?;
        for ((link, hour, agent), pieces) in &by_hour.links {
            let stored: Option<Vec<u8>> = read
                .query_row(params![link, hour, agent], |r| r.get(0))
                .optional()?;
            let row = stored
                .and_then(|b| unpacked("link_series_1h", *hour, &b))
                .unwrap_or_default();
            let row = hour::merge_links(row, pieces);
            write.execute(params![link, hour, agent, row.pack(*hour)])?;
        }
    }
    tx.commit()?;
    Ok(out)
}

/// `Store::series_coverage`: one primary-key lookup per hour row.
pub(super) fn coverage(
    conn: &Connection,
    keys: &[SeriesKey],
) -> Result<Vec<KeyCoverage>, StoreError> {
    let mut read = conn
        .prepare_cached("SELECT body FROM series_1h WHERE agent_id = ?1 AND hour_start_ms = ?2")?;
    let mut rows: std::collections::HashMap<(&str, i64), Option<Hour>> = Default::default();
    let mut out = Vec::new();
    for key in keys {
        let hour = hour_of(key.slot_start_ms);
        let row = match rows.entry((key.agent_id.as_str(), hour)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let body: Option<Vec<u8>> = read
                    .query_row(params![key.agent_id, hour], |r| r.get(0))
                    .optional()?;
                e.insert(body.and_then(|b| unpacked("series_1h", hour, &b)))
            }
        };
        if let Some(row) = row {
            out.push((key.clone(), row.coverage.clone()));
        }
    }
    Ok(out)
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit.max(1)).unwrap_or(i64::MAX)
}

/// `Store::host_series`: one range of the primary key, hour rows unpacked.
pub(super) fn host(
    conn: &Connection,
    agent: &str,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> Result<Vec<SlotFigures>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hour_start_ms, body FROM series_1h
         WHERE agent_id = ?1 AND hour_start_ms >= ?2 AND hour_start_ms < ?3
         ORDER BY hour_start_ms LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(
            params![
                agent,
                first_hour(from_ms),
                to_ms,
                limit_of(host_rows_for(limit))
            ],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(host_slots(rows, from_ms, to_ms, limit))
}

/// `Store::link_series`: one range of the primary key `(link_id, hour_start_ms, agent_id)`.
pub(super) fn link(
    conn: &Connection,
    link: &str,
    from_ms: i64,
    to_ms: i64,
    max_rows: usize,
) -> Result<LinkSeries, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hour_start_ms, agent_id, body FROM link_series_1h
         WHERE link_id = ?1 AND hour_start_ms >= ?2 AND hour_start_ms < ?3
         ORDER BY hour_start_ms, agent_id LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(
            params![
                link,
                first_hour(from_ms),
                to_ms,
                limit_of(max_rows.saturating_add(1))
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(link_slots(rows, from_ms, to_ms, max_rows))
}

/// `Store::delete_series`: whole hour rows, host rows first, then link rows, by the hour
/// indexes.
pub(super) fn delete(conn: &Connection, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
    let before = hours_before(before_ms);
    let hosts = conn.execute(
        "DELETE FROM series_1h WHERE rowid IN (
             SELECT rowid FROM series_1h
             WHERE hour_start_ms < ?1 ORDER BY hour_start_ms LIMIT ?2)",
        params![before, limit_of(limit)],
    )?;
    let left = limit.saturating_sub(hosts);
    if left == 0 {
        return Ok(hosts);
    }
    let links = conn.execute(
        "DELETE FROM link_series_1h WHERE rowid IN (
             SELECT rowid FROM link_series_1h
             WHERE hour_start_ms < ?1 ORDER BY hour_start_ms LIMIT ?2)",
        params![before, limit_of(left)],
    )?;
    Ok(hosts + links)
}

/// `Store::reports_received`: keyset pages on `reports_received` (which holds the rowid).
pub(super) fn reports_received(
    conn: &Connection,
    from_ms: i64,
    to_ms: i64,
    after: Option<ReplayCursor>,
    limit: usize,
) -> Result<ReplayPage, StoreError> {
    let (after_ms, after_rowid) = after.map_or((i64::MIN, i64::MIN), |c| (c.received_ms, c.rowid));
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data,
                rowid
         FROM reports
         WHERE received_ms >= ?1 AND received_ms < ?2 AND (received_ms, rowid) > (?3, ?4)
         ORDER BY received_ms, rowid
         LIMIT ?5",
    )?;
    let limit_sql = limit_of(limit);
    let rows = stmt.query_map(
        params![from_ms, to_ms, after_ms, after_rowid, limit_sql],
        |row| Ok((row.get::<_, i64>(7)?, super::queries::stored_report(row)?)),
    )?;
    let rows = rows.collect::<Result<Vec<_>, _>>()?;
    Ok(ReplayPage::of_rows(rows, limit_sql))
}
