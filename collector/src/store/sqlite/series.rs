//! The downsampled series (`crate::series`) in SQLite: `series_5m` (one row per agent and
//! slot: coverage and host figures) and `link_series_5m` (one row per link, slot and vantage
//! point), merged by read-merge-write as the host rollups are (`rollups`).

use prost::Message;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::series::slot::{HostRow, LinkRow, Merged, SeriesKey, SeriesSlot};
use crate::store::api::{LinkSlot, ReplayCursor, ReplayPage, StoreError, StoredReport};

/// A stored body that does not decode is damage to one row: it is replaced by what is
/// merged into it (and a read skips it), with a warning, rather than failing every flush.
fn decoded<M: Message + Default>(what: &str, body: &[u8]) -> Option<M> {
    match M::decode(body) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(error = %e, table = what, "skipping an undecodable series row");
            None
        }
    }
}

/// `Store::merge_series`, in one IMMEDIATE transaction.
pub(super) fn merge(
    conn: &mut Connection,
    slots: &[(SeriesKey, SeriesSlot)],
) -> Result<Merged, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut out = Merged::default();
    {
        let mut read = tx.prepare_cached(
            "SELECT body FROM series_5m WHERE agent_id = ?1 AND slot_start_ms = ?2",
        )?;
        let mut write = tx.prepare_cached(
            "INSERT INTO series_5m (agent_id, slot_start_ms, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (agent_id, slot_start_ms) DO UPDATE SET body = excluded.body",
        )?;
        let mut read_link = tx.prepare_cached(
            "SELECT body FROM link_series_5m
             WHERE link_id = ?1 AND slot_start_ms = ?2 AND agent_id = ?3",
        )?;
        let mut write_link = tx.prepare_cached(
            "INSERT INTO link_series_5m (link_id, slot_start_ms, agent_id, body)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (link_id, slot_start_ms, agent_id) DO UPDATE SET body = excluded.body",
        )?;
        for (key, piece) in slots {
            let stored: Option<Vec<u8>> = read
                .query_row(params![key.agent_id, key.slot_start_ms], |r| r.get(0))
                .optional()?;
            let mut slot = SeriesSlot {
                host: stored
                    .as_deref()
                    .and_then(|b| decoded::<HostRow>("series_5m", b))
                    .unwrap_or_default(),
                ..SeriesSlot::default()
            };
            // The host row and the links are merged apart: the links of the stored slot are
            // in their own rows, read one by one below.
            let host_only = SeriesSlot {
                host: piece.host.clone(),
                ..SeriesSlot::default()
            };
            out.add(slot.merge(&host_only));
            write.execute(params![
                key.agent_id,
                key.slot_start_ms,
                slot.host.encode_to_vec()
            ])?;
            for (link, row) in &piece.links {
                let stored: Option<Vec<u8>> = read_link
                    .query_row(params![link, key.slot_start_ms, key.agent_id], |r| r.get(0))
                    .optional()?;
                let mut merged = SeriesSlot::default();
                if let Some(old) = stored
                    .as_deref()
                    .and_then(|b| decoded::<LinkRow>("link_series_5m", b))
                {
                    merged.links.insert(link.clone(), old);
                }
                let mut add = SeriesSlot::default();
                add.links.insert(link.clone(), row.clone());
                merged.merge(&add);
                let row = merged.links.remove(link).unwrap_or_default();
                write_link.execute(params![
                    link,
                    key.slot_start_ms,
                    key.agent_id,
                    row.encode_to_vec()
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(out)
}

/// `Store::series_rows`.
pub(super) fn rows(
    conn: &Connection,
    keys: &[SeriesKey],
) -> Result<Vec<(SeriesKey, HostRow)>, StoreError> {
    let mut read = conn
        .prepare_cached("SELECT body FROM series_5m WHERE agent_id = ?1 AND slot_start_ms = ?2")?;
    let mut out = Vec::new();
    for key in keys {
        let body: Option<Vec<u8>> = read
            .query_row(params![key.agent_id, key.slot_start_ms], |r| r.get(0))
            .optional()?;
        if let Some(row) = body.and_then(|b| decoded::<HostRow>("series_5m", &b)) {
            out.push((key.clone(), row));
        }
    }
    Ok(out)
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit.max(1)).unwrap_or(i64::MAX)
}

/// `Store::host_series`: one range of the primary key.
pub(super) fn host(
    conn: &Connection,
    agent: &str,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> Result<Vec<(i64, HostRow)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT slot_start_ms, body FROM series_5m
         WHERE agent_id = ?1 AND slot_start_ms >= ?2 AND slot_start_ms < ?3
         ORDER BY slot_start_ms LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![agent, from_ms, to_ms, limit_of(limit)], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (slot, body) = row?;
        out.extend(decoded::<HostRow>("series_5m", &body).map(|h| (slot, h)));
    }
    Ok(out)
}

/// `Store::link_series`: one range of the primary key `(link_id, slot_start_ms, agent_id)`.
pub(super) fn link(
    conn: &Connection,
    link: &str,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> Result<Vec<LinkSlot>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT slot_start_ms, agent_id, body FROM link_series_5m
         WHERE link_id = ?1 AND slot_start_ms >= ?2 AND slot_start_ms < ?3
         ORDER BY slot_start_ms, agent_id LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![link, from_ms, to_ms, limit_of(limit)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (slot_start_ms, agent_id, body) = row?;
        if let Some(row) = decoded::<LinkRow>("link_series_5m", &body) {
            out.push(LinkSlot {
                slot_start_ms,
                agent_id,
                row,
            });
        }
    }
    Ok(out)
}

/// `Store::delete_series`: host rows first, then link rows, by the slot indexes.
pub(super) fn delete(conn: &Connection, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
    let hosts = conn.execute(
        "DELETE FROM series_5m WHERE (agent_id, slot_start_ms) IN (
             SELECT agent_id, slot_start_ms FROM series_5m
             WHERE slot_start_ms < ?1 ORDER BY slot_start_ms LIMIT ?2)",
        params![before_ms, limit_of(limit)],
    )?;
    let left = limit.saturating_sub(hosts);
    if left == 0 {
        return Ok(hosts);
    }
    let links = conn.execute(
        "DELETE FROM link_series_5m WHERE (link_id, slot_start_ms, agent_id) IN (
             SELECT link_id, slot_start_ms, agent_id FROM link_series_5m
             WHERE slot_start_ms < ?1 ORDER BY slot_start_ms LIMIT ?2)",
        params![before_ms, limit_of(left)],
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
        "SELECT rowid, agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body,
                link_data
         FROM reports
         WHERE received_ms >= ?1 AND received_ms < ?2 AND (received_ms, rowid) > (?3, ?4)
         ORDER BY received_ms, rowid
         LIMIT ?5",
    )?;
    let limit_sql = limit_of(limit);
    let rows = stmt.query_map(
        params![from_ms, to_ms, after_ms, after_rowid, limit_sql],
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                StoredReport {
                    agent_id: row.get(1)?,
                    boot_id: row.get(2)?,
                    sequence: row.get::<_, i64>(3)? as u64,
                    agent_timestamp_ms: row.get(4)?,
                    received_ms: row.get(5)?,
                    body: row.get(6)?,
                    link_data: row.get(7)?,
                },
            ))
        },
    )?;
    let mut reports = Vec::new();
    let mut last = None;
    for row in rows {
        let (rowid, report) = row?;
        last = Some(ReplayCursor {
            received_ms: report.received_ms,
            rowid,
        });
        reports.push(report);
    }
    let next = if reports.len() as i64 == limit_sql {
        last
    } else {
        None
    };
    Ok(ReplayPage { reports, next })
}
