//! Retention in SQLite (`store::retention`): deleting old report bodies in batches while
//! remembering their sequences, deleting old rollup buckets, giving free pages back.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::store::api::{ReplayCursor, RetirePage, StoreError};

/// Pages given back to the file system per [`reclaim`]: 16 MiB of 4 KiB pages, so that one
/// call holds the write lock for a bounded time; the next pass gives back the rest.
const RECLAIM_PAGES: i64 = 4_096;

/// One batch of `Store::retire_reports`, in one IMMEDIATE transaction.
pub(super) fn retire(
    conn: &mut Connection,
    before_ms: i64,
    after: Option<ReplayCursor>,
    limit: usize,
) -> Result<RetirePage, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (after_ms, after_rowid) = after.map_or((i64::MIN, i64::MIN), |c| (c.received_ms, c.rowid));
    let limit_sql = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    // In receive order on the `reports_received` index (which holds the rowid): each batch
    // is one range scan from where the last stopped.
    let rows: Vec<(i64, i64, String, String, i64, bool)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT rowid, received_ms, agent_id, boot_id, sequence, link_data FROM reports
             WHERE received_ms < ?1 AND (received_ms, rowid) > (?2, ?3)
             ORDER BY received_ms, rowid
             LIMIT ?4",
        )?;
        stmt.query_map(params![before_ms, after_ms, after_rowid, limit_sql], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?
    };
    let next = (rows.len() >= limit.max(1)).then(|| {
        let last = rows.last().expect("a full page has a last row");
        ReplayCursor {
            received_ms: last.1,
            rowid: last.0,
        }
    });
    // The newest report of each boot stays (the host table is warmed from it).
    let mut newest: HashMap<(String, String), i64> = HashMap::new();
    // Per boot: lowest and highest sequence deleted, and how many.
    let mut retired: HashMap<(String, String), (i64, i64, i64)> = HashMap::new();
    {
        let mut max_seq = tx.prepare_cached(
            "SELECT MAX(sequence) FROM reports WHERE agent_id = ?1 AND boot_id = ?2",
        )?;
        let mut delete = tx.prepare_cached("DELETE FROM reports WHERE rowid = ?1")?;
        // Reports with link data go as the others do: their windows are in the rollups.
        for (rowid, _, agent, boot, seq, _link_data) in rows {
            let key = (agent, boot);
            let top = match newest.get(&key) {
                Some(t) => *t,
                None => {
                    let t: i64 = max_seq.query_row(params![key.0, key.1], |r| r.get(0))?;
                    newest.insert(key.clone(), t);
                    t
                }
            };
            if seq >= top {
                continue;
            }
            delete.execute(params![rowid])?;
            let e = retired.entry(key).or_insert((seq, seq, 0));
            e.0 = e.0.min(seq);
            e.1 = e.1.max(seq);
            e.2 += 1;
        }
        let mut remember = tx.prepare_cached(
            "INSERT INTO retired_reports (agent_id, boot_id, min_seq, max_seq, count)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (agent_id, boot_id) DO UPDATE SET
               min_seq = MIN(min_seq, excluded.min_seq),
               max_seq = MAX(max_seq, excluded.max_seq),
               count = count + excluded.count",
        )?;
        for ((agent, boot), (lo, hi, n)) in &retired {
            remember.execute(params![agent, boot, lo, hi, n])?;
        }
    }
    tx.commit()?;
    Ok(RetirePage {
        deleted: retired.values().map(|v| v.2 as u64).sum(),
        next,
    })
}

/// The highest retired sequence of a boot, if any of its reports was retired: a report at
/// or below it is a replay (`store::retention`).
pub(super) fn retired_max(
    conn: &Connection,
    agent: &str,
    boot: &str,
) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT max_seq FROM retired_reports WHERE agent_id = ?1 AND boot_id = ?2")?
        .query_row(params![agent, boot], |r| r.get(0))
        .optional()
}

/// Deletes up to `limit` buckets last received before `before_ms`.
pub(super) fn delete_buckets(
    conn: &Connection,
    before_ms: i64,
    limit: usize,
) -> Result<usize, StoreError> {
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    Ok(conn.execute(
        "DELETE FROM host_buckets WHERE (agent_id, boot_id, bucket) IN (
           SELECT agent_id, boot_id, bucket FROM host_buckets
           WHERE received_max_ms < ?1 LIMIT ?2)",
        params![before_ms, limit],
    )?)
}

/// Gives up to [`RECLAIM_PAGES`] free pages back to the file system when the database was
/// created with incremental auto-vacuum; returns the bytes given back.
pub(super) fn reclaim(conn: &Connection) -> Result<u64, StoreError> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    // 2 = INCREMENTAL; without it the free pages are reused in place.
    if mode != 2 {
        return Ok(0);
    }
    let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let before: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    // Each step of this pragma frees one page and answers a row: it must be read to the end
    // (`execute_batch` steps once, which freed one page per pass).
    let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({RECLAIM_PAGES})"))?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    drop(rows);
    let after: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    Ok(((before - after).max(0) * page) as u64)
}
