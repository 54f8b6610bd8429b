//! The statements: one function per store operation, run on the connection's thread.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::live::delivery::{BootSpan, StoredSpan};
use crate::live::links::Fault;
use crate::store::api::{
    ClosedMonth, CollectorRun, InstanceRun, ListeningPeriod, ReplayCursor, ReplayPage, ReportKey,
    StoreError, StoredReport,
};

/// A loose index scan of the primary key (agent_id, boot_id, sequence): one seek to the next
/// (agent, boot) and one to its highest sequence, instead of reading every report, so
/// start-up stays fast with months of history. The `+` strips the affinity of the right-hand
/// `boot_id`: with TEXT on both sides SQLite seeks on `agent_id` alone and scans the rest of
/// the agent's reports at every step.
pub(super) const NEWEST_PER_BOOT: &str = "WITH RECURSIVE boots(agent_id, boot_id) AS (
        SELECT agent_id, boot_id FROM (
            SELECT agent_id, boot_id FROM reports ORDER BY agent_id, boot_id LIMIT 1
        )
        UNION ALL
        SELECT n.agent_id, n.boot_id FROM boots JOIN reports n ON n.rowid = (
            SELECT rowid FROM reports
            WHERE (agent_id, boot_id) > (boots.agent_id, +boots.boot_id)
            ORDER BY agent_id, boot_id LIMIT 1
        )
    )
    SELECT r.agent_id, r.boot_id, r.sequence, r.agent_timestamp_ms, r.received_ms, r.body,
           r.link_data
    FROM boots JOIN reports r ON r.rowid = (
        SELECT rowid FROM reports
        WHERE agent_id = boots.agent_id AND boot_id = boots.boot_id
        ORDER BY sequence DESC LIMIT 1
    )
    ORDER BY r.agent_id, r.boot_id";

/// A report from a row whose columns are `agent_id, boot_id, sequence, agent_timestamp_ms,
/// received_ms, body, link_data`, in that order.
pub(super) fn stored_report(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredReport> {
    Ok(StoredReport {
        agent_id: row.get(0)?,
        boot_id: row.get(1)?,
        sequence: row.get::<_, i64>(2)? as u64,
        agent_timestamp_ms: row.get(3)?,
        received_ms: row.get(4)?,
        body: row.get(5)?,
        link_data: row.get(6)?,
    })
}

pub(super) fn newest_per_boot(conn: &Connection) -> Result<Vec<StoredReport>, StoreError> {
    let mut stmt = conn.prepare_cached(NEWEST_PER_BOOT)?;
    let rows = stmt.query_map([], stored_report)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn scan_reports(
    conn: &Connection,
    since_ms: i64,
    after: Option<&ReportKey>,
    limit: usize,
    link_only: bool,
) -> Result<Vec<StoredReport>, StoreError> {
    // Keyset pagination on the primary key: each page continues with one index seek, and
    // every agent's reports come together, in boot and sequence order.
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data
         FROM reports
         WHERE (agent_id, boot_id, sequence) > (?1, ?2, ?3) AND received_ms >= ?4
           AND (link_data = 1 OR ?6 = 0)
         ORDER BY agent_id, boot_id, sequence
         LIMIT ?5",
    )?;
    let (agent, boot, seq) = after.map_or(("", "", i64::MIN), |k| {
        (k.agent_id.as_str(), k.boot_id.as_str(), k.sequence as i64)
    });
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let rows = stmt.query_map(
        params![agent, boot, seq, since_ms, limit, link_only],
        stored_report,
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn close_month(conn: &Connection, m: &ClosedMonth) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT INTO closed_months (month, closed_unix_ms, report, manifest)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (month) DO NOTHING",
        params![m.month, m.closed_unix_ms, m.report_json, m.manifest],
    )?;
    Ok(n == 1)
}

pub(super) fn closed_month(
    conn: &Connection,
    month: &str,
) -> Result<Option<ClosedMonth>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT month, closed_unix_ms, report, manifest FROM closed_months WHERE month = ?1",
    )?;
    let mut rows = stmt.query_map(params![month], |row| {
        Ok(ClosedMonth {
            month: row.get(0)?,
            closed_unix_ms: row.get(1)?,
            report_json: row.get(2)?,
            manifest: row.get(3)?,
        })
    })?;
    Ok(rows.next().transpose()?)
}

pub(super) fn reports_since(
    conn: &Connection,
    since_ms: i64,
    after: Option<ReplayCursor>,
    limit: usize,
) -> Result<ReplayPage, StoreError> {
    let (after_ms, after_rowid) = after.map_or((i64::MIN, i64::MIN), |c| (c.received_ms, c.rowid));
    // Keyset pagination on (received_ms, rowid) over the partial `reports_link_data` index
    // (which holds rowid): each page is one index range scan however deep the replay is,
    // and reports without link data are never read.
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data,
                rowid
         FROM reports
         WHERE link_data = 1 AND received_ms >= ?1 AND (received_ms, rowid) > (?2, ?3)
         ORDER BY received_ms, rowid
         LIMIT ?4",
    )?;
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![since_ms, after_ms, after_rowid, limit], |row| {
        Ok((row.get::<_, i64>(7)?, stored_report(row)?))
    })?;
    let rows = rows.collect::<Result<Vec<_>, _>>()?;
    Ok(ReplayPage::of_rows(rows, limit))
}

pub(super) fn insert_faults(conn: &mut Connection, faults: &[Fault]) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut inserted = 0;
    {
        // The overlap check makes a fault seen again with a different start (cut at the
        // replay horizon) the same fault.
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO link_faults
             (link_id, level, domain, start_unix_ms, end_unix_ms, duration_ms, agents)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
             WHERE NOT EXISTS (
                 SELECT 1 FROM link_faults
                 WHERE link_id = ?1 AND start_unix_ms < ?5 AND end_unix_ms > ?4
             )",
        )?;
        for f in faults {
            let Some(end) = f.end_unix_ms else {
                return Err(StoreError::OpenFault {
                    link_id: f.link_id.clone(),
                    start_unix_ms: f.start_unix_ms,
                });
            };
            let agents = serde_json::to_string(&f.agents).expect("a list of strings is JSON");
            inserted += stmt.execute(params![
                f.link_id,
                f.level,
                f.domain,
                f.start_unix_ms,
                end,
                f.duration_ms,
                agents
            ])?;
        }
    }
    tx.commit()?;
    Ok(inserted)
}

pub(super) fn faults(conn: &Connection, link: Option<&str>) -> Result<Vec<Fault>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT link_id, level, domain, start_unix_ms, end_unix_ms, duration_ms, agents
         FROM link_faults
         WHERE ?1 IS NULL OR link_id = ?1
         ORDER BY start_unix_ms, link_id",
    )?;
    let rows = stmt.query_map(params![link], |row| {
        let agents: String = row.get(6)?;
        Ok(Fault {
            link_id: row.get(0)?,
            level: row.get(1)?,
            domain: row.get(2)?,
            start_unix_ms: row.get(3)?,
            end_unix_ms: Some(row.get(4)?),
            duration_ms: row.get(5)?,
            // Written by this code as a JSON list; a damaged row shows no agents rather
            // than hiding the fault.
            agents: serde_json::from_str(&agents).unwrap_or_default(),
            settled: true,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn boot_spans(conn: &Connection) -> Result<Vec<StoredSpan>, StoreError> {
    // One pass over the primary-key index (agent_id, boot_id, sequence), which covers the
    // query: no report body is read, so this stays a matter of seconds with months stored.
    // Reports deleted by retention still count: they were stored (`retired_reports`).
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, boot_id, MIN(lo), MAX(hi), SUM(n) FROM (
           SELECT agent_id, boot_id, MIN(sequence) AS lo, MAX(sequence) AS hi, COUNT(*) AS n
           FROM reports GROUP BY agent_id, boot_id
           UNION ALL
           SELECT agent_id, boot_id, min_seq, max_seq, count FROM retired_reports
         ) GROUP BY agent_id, boot_id ORDER BY agent_id, boot_id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(StoredSpan {
            agent_id: row.get(0)?,
            boot_id: row.get(1)?,
            span: BootSpan {
                min: row.get::<_, i64>(2)? as u64,
                max: row.get::<_, i64>(3)? as u64,
                count: row.get::<_, i64>(4)? as u64,
            },
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn start_run(
    conn: &mut Connection,
    instance: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Only this instance's runs (and those from before runs had an instance): another
    // instance's unclosed run may be serving right now.
    let crashed = tx.execute(
        "UPDATE collector_runs SET stopped_unix_ms = last_heartbeat_unix_ms, clean = 0
         WHERE stopped_unix_ms IS NULL AND (instance = ?1 OR instance = '')",
        params![instance],
    )?;
    if crashed > 0 {
        tracing::warn!(
            runs = crashed,
            instance,
            "the previous run of this collector instance did not stop cleanly; recorded as ended at its last heartbeat"
        );
    }
    tx.execute(
        "INSERT INTO collector_runs (started_unix_ms, last_heartbeat_unix_ms, instance)
         VALUES (?1, ?1, ?2)",
        params![now, instance],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(id)
}

/// Moves the last heartbeat of run `id` to `now`.
pub(super) fn heartbeat_run(conn: &Connection, id: i64, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE collector_runs SET last_heartbeat_unix_ms = ?2 WHERE id = ?1",
        params![id, now],
    )
    .map(drop)
    .map_err(StoreError::from)
}

/// Records the graceful stop of run `id` at `now`.
pub(super) fn stop_run(conn: &Connection, id: i64, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE collector_runs
         SET last_heartbeat_unix_ms = ?2, stopped_unix_ms = ?2, clean = 1
         WHERE id = ?1",
        params![id, now],
    )
    .map(drop)
    .map_err(StoreError::from)
}

pub(super) fn instance_runs(conn: &Connection) -> Result<Vec<InstanceRun>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, started_unix_ms, last_heartbeat_unix_ms, stopped_unix_ms, clean, instance
         FROM collector_runs ORDER BY id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(InstanceRun {
            instance: row.get(5)?,
            run: CollectorRun {
                id: row.get(0)?,
                started_unix_ms: row.get(1)?,
                last_heartbeat_unix_ms: row.get(2)?,
                stopped_unix_ms: row.get(3)?,
                clean: row.get(4)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn insert_listening(
    conn: &mut Connection,
    periods: &[ListeningPeriod],
) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut new = 0;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO imported_listening
             (start_unix_ms, end_unix_ms, source, imported_unix_ms) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for p in periods {
            new += stmt.execute(params![
                p.start_unix_ms,
                p.end_unix_ms,
                p.source,
                p.imported_unix_ms
            ])?;
        }
    }
    tx.commit()?;
    Ok(new)
}

pub(super) fn listening_periods(conn: &Connection) -> Result<Vec<ListeningPeriod>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT start_unix_ms, end_unix_ms, source, imported_unix_ms
         FROM imported_listening ORDER BY start_unix_ms, end_unix_ms",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(ListeningPeriod {
            start_unix_ms: row.get(0)?,
            end_unix_ms: row.get(1)?,
            source: row.get(2)?,
            imported_unix_ms: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn count_reports(conn: &Connection) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .query_row("SELECT COUNT(*) FROM reports", [], |r| r.get(0))
        .optional()?;
    Ok(n.unwrap_or(0) as u64)
}

/// `VACUUM INTO` the empty file `path`: one read transaction, so the copy is the database
/// as of one moment while other connections (a running collector's ingest) go on writing;
/// compacted, with its own journal mode reset to the default (the store sets WAL again when
/// it opens the copy). Returns the copy's size.
pub(super) fn backup(conn: &Connection, path: &Path) -> Result<u64, StoreError> {
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Backup {
        path: path.display().to_string(),
        source,
    };
    let target = path
        .to_str()
        .ok_or_else(|| failed("the path is not UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", params![target])
        .map_err(|e| failed(Box::new(e)))?;
    let size = std::fs::metadata(path)
        .map_err(|e| failed(Box::new(e)))?
        .len();
    Ok(size)
}
