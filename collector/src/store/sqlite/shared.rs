//! What several collectors on one database share (docs/scale-out.md): the lease rows, and
//! the reads with which a lease holder learns of reports other collectors stored. SQLite
//! serves one collector, which always holds its leases; the statements are the same plain
//! SQL as PostgreSQL's, so both backends pass one contract.

use rusqlite::{Connection, OptionalExtension, params};

use super::queries::stored_report;
use crate::store::api::{ReportKey, StoreError, StoredReport};

/// Takes or renews lease `name` for `holder` (see `Store::try_lease`): renew or take over an
/// expired row first, else make the row; either changes one row or the lease is another's.
pub(super) fn try_lease(
    conn: &Connection,
    name: &str,
    holder: &str,
    ttl_ms: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let expires = now.saturating_add(ttl_ms.max(0));
    let renewed = conn.execute(
        "UPDATE leases SET holder = ?2, expires_unix_ms = ?3
         WHERE name = ?1 AND (holder = ?2 OR expires_unix_ms <= ?4)",
        params![name, holder, expires, now],
    )?;
    if renewed == 1 {
        return Ok(true);
    }
    let made = conn.execute(
        "INSERT INTO leases (name, holder, expires_unix_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        params![name, holder, expires],
    )?;
    Ok(made == 1)
}

pub(super) fn release_lease(conn: &Connection, name: &str, holder: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
        params![name, holder],
    )?;
    Ok(())
}

/// The newest report key of every boot received since `?1`. `INDEXED BY` because SQLite's
/// planner otherwise walks the whole primary key to get the grouping order for free: a scan
/// of every stored report, on the writer, every 10 s (the lease holder's refresh), which
/// grew the ack latency of the reports waiting behind it with the size of the table
/// (docs/benchmarks.md). With the index it reads only the recent rows and sorts those.
pub(super) const NEWEST_KEYS_SQL: &str = "SELECT agent_id, boot_id, MAX(sequence)
     FROM reports INDEXED BY reports_received
     WHERE received_ms >= ?1
     GROUP BY agent_id, boot_id ORDER BY agent_id, boot_id LIMIT ?2";

pub(super) fn newest_keys_since(
    conn: &Connection,
    since_ms: i64,
    limit: usize,
) -> Result<Vec<ReportKey>, StoreError> {
    let mut stmt = conn.prepare_cached(NEWEST_KEYS_SQL)?;
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![since_ms, limit], |row| {
        Ok(ReportKey {
            agent_id: row.get(0)?,
            boot_id: row.get(1)?,
            sequence: row.get::<_, i64>(2)? as u64,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn reports_by_key(
    conn: &Connection,
    keys: &[ReportKey],
) -> Result<Vec<StoredReport>, StoreError> {
    // One primary-key seek per key, on this thread: no round trips to save.
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data
         FROM reports WHERE agent_id = ?1 AND boot_id = ?2 AND sequence = ?3",
    )?;
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(r) = stmt
            .query_row(
                params![k.agent_id, k.boot_id, k.sequence as i64],
                stored_report,
            )
            .optional()?
        {
            out.push(r);
        }
    }
    out.sort_by(|a, b| {
        (&a.agent_id, &a.boot_id, a.sequence).cmp(&(&b.agent_id, &b.boot_id, b.sequence))
    });
    Ok(out)
}
