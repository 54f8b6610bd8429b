//! Retention on PostgreSQL (`store::retention`): deleting old report bodies in batches while
//! remembering their sequences per boot, telling a replay of a deleted report from a new
//! one, deleting old rollup buckets. The same rules as SQLite's (`sqlite/retention.rs`).
//!
//! Space: PostgreSQL marks deleted rows dead and autovacuum makes their space reusable by
//! later inserts, so the tables stop growing once the deletions keep pace; giving space back
//! to the file system would need `VACUUM FULL`, which locks the table out for its whole run.
//! `reclaim` therefore gives nothing back (see `PgStore::reclaim`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::queries::limit_of;
use super::rollups::tuples;
use crate::store::api::{ReplayCursor, RetirePage, StoreError};

/// (agent, boot).
type Boot = (String, String);

/// Most rows named in one statement: at 5 parameters a row, far below PostgreSQL's limit of
/// 65,535 parameters, whatever `retention.batch_reports` (up to 100,000) asks.
const MAX_ROWS: usize = 10_000;

/// The highest retired sequence of each of `boots` that has one.
async fn retired_max(
    tx: &Transaction<'_>,
    boots: &BTreeSet<(&str, &str)>,
) -> Result<HashMap<Boot, i64>, tokio_postgres::Error> {
    per_boot(
        tx,
        boots,
        "SELECT agent_id, boot_id, max_seq FROM retired_reports WHERE (agent_id, boot_id) IN",
        "",
    )
    .await
}

/// `(agent, boot) -> number` from `{select} (<boots>) {tail}`, whose rows are `agent_id,
/// boot_id, number`; in statements of up to [`MAX_ROWS`] boots.
async fn per_boot(
    tx: &Transaction<'_>,
    boots: &BTreeSet<(&str, &str)>,
    select: &str,
    tail: &str,
) -> Result<HashMap<Boot, i64>, tokio_postgres::Error> {
    let boots: Vec<&(&str, &str)> = boots.iter().collect();
    let mut out = HashMap::new();
    for chunk in boots.chunks(MAX_ROWS) {
        let params: Vec<&(dyn ToSql + Sync)> = chunk
            .iter()
            .flat_map(|(a, b)| [a as &(dyn ToSql + Sync), b as &(dyn ToSql + Sync)])
            .collect();
        let sql = format!("{select} ({}) {tail}", tuples(chunk.len(), 2));
        for r in tx.query(&sql, &params).await? {
            out.insert((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?);
        }
    }
    Ok(out)
}

/// Deletes the reports `keys` (`(agent, boot, sequence)`); answers the keys it deleted.
async fn delete_reports(
    tx: &Transaction<'_>,
    keys: &[(String, String, i64)],
) -> Result<Vec<(String, String, i64)>, tokio_postgres::Error> {
    let mut out = Vec::new();
    for chunk in keys.chunks(MAX_ROWS) {
        let params: Vec<&(dyn ToSql + Sync)> = chunk
            .iter()
            .flat_map(|(a, b, s)| [a as &(dyn ToSql + Sync), b, s])
            .collect();
        let sql = format!(
            "DELETE FROM reports WHERE (agent_id, boot_id, sequence) IN ({})
             RETURNING agent_id, boot_id, sequence",
            tuples(chunk.len(), 3)
        );
        for r in tx.query(&sql, &params).await? {
            out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
        }
    }
    Ok(out)
}

/// Of the reports this transaction just stored (`(agent, boot, sequence)`), those at or
/// below their boot's highest retired sequence: replays of reports stored and deleted by
/// retention since. They are deleted again here, in the inserting transaction, and answered
/// `duplicate` (`store::retention`).
///
/// Checked after the insert, not before: a retention batch deleting the same key commits
/// while the insert waits on that row, and only a statement started after the insert sees
/// what it remembered. (At `READ COMMITTED` every statement reads what was committed when
/// it started.)
pub(super) async fn undo_replays(
    tx: &Transaction<'_>,
    stored: &[(String, String, i64)],
) -> Result<BTreeSet<(String, String, i64)>, tokio_postgres::Error> {
    let boots: BTreeSet<(&str, &str)> = stored
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    let max = retired_max(tx, &boots).await?;
    let replays: BTreeSet<(String, String, i64)> = stored
        .iter()
        .filter(|(a, b, seq)| {
            max.get(&(a.clone(), b.clone()))
                .is_some_and(|top| seq <= top)
        })
        .cloned()
        .collect();
    if !replays.is_empty() {
        let keys: Vec<_> = replays.iter().cloned().collect();
        delete_reports(tx, &keys).await?;
    }
    Ok(replays)
}

/// One batch of `Store::retire_reports`, in one transaction.
pub(super) async fn retire(
    client: &mut deadpool_postgres::Client,
    before_ms: i64,
    after: Option<ReplayCursor>,
    limit: usize,
) -> Result<RetirePage, StoreError> {
    let tx = client.transaction().await?;
    let (after_ms, after_row) = after.map_or((i64::MIN, i64::MIN), |c| (c.received_ms, c.rowid));
    let limit_sql = limit_of(limit);
    // In receive order on the index (received_ms, row_order): each batch is one range scan
    // from where the last stopped.
    let stmt = tx
        .prepare_cached(
            "SELECT row_order, received_ms, agent_id, boot_id, sequence, link_data FROM reports
             WHERE received_ms < $1 AND (received_ms, row_order) > ($2, $3)
             ORDER BY received_ms, row_order
             LIMIT $4",
        )
        .await?;
    let rows = tx
        .query(&stmt, &[&before_ms, &after_ms, &after_row, &limit_sql])
        .await?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 >= limit_sql => Some(ReplayCursor {
            received_ms: last.try_get(1)?,
            rowid: last.try_get(0)?,
        }),
        _ => None,
    };
    // Reports with link data go as the others do: their windows are in the rollups.
    let mut candidates: Vec<(String, String, i64)> = Vec::with_capacity(rows.len());
    for row in &rows {
        candidates.push((row.try_get(2)?, row.try_get(3)?, row.try_get(4)?));
    }
    // The newest report of each boot stays (the host table is warmed from it).
    let newest = newest_of(&tx, &candidates).await?;
    candidates.retain(|(a, b, seq)| {
        newest
            .get(&(a.clone(), b.clone()))
            .is_some_and(|top| seq < top)
    });
    // Per boot: lowest and highest sequence deleted, and how many. Counted from what the
    // DELETE answers: a row that another collector's pass deleted first is not counted twice.
    let mut retired: BTreeMap<Boot, (i64, i64, i64)> = BTreeMap::new();
    candidates.sort();
    for (agent, boot, seq) in delete_reports(&tx, &candidates).await? {
        let e = retired.entry((agent, boot)).or_insert((seq, seq, 0));
        e.0 = e.0.min(seq);
        e.1 = e.1.max(seq);
        e.2 += 1;
    }
    remember(&tx, &retired).await?;
    tx.commit().await?;
    Ok(RetirePage {
        deleted: retired.values().map(|v| v.2 as u64).sum(),
        next,
    })
}

/// The highest stored sequence of the boots of `reports`.
async fn newest_of(
    tx: &Transaction<'_>,
    reports: &[(String, String, i64)],
) -> Result<HashMap<Boot, i64>, tokio_postgres::Error> {
    let boots: BTreeSet<(&str, &str)> = reports
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    per_boot(
        tx,
        &boots,
        "SELECT agent_id, boot_id, MAX(sequence) FROM reports WHERE (agent_id, boot_id) IN",
        "GROUP BY agent_id, boot_id",
    )
    .await
}

/// Adds a batch's deleted sequences to `retired_reports`, one row per boot, in key order
/// (two passes at once lock the rows in the same order).
async fn remember(
    tx: &Transaction<'_>,
    retired: &BTreeMap<Boot, (i64, i64, i64)>,
) -> Result<(), tokio_postgres::Error> {
    let rows: Vec<_> = retired.iter().collect();
    for chunk in rows.chunks(MAX_ROWS) {
        let params: Vec<&(dyn ToSql + Sync)> = chunk
            .iter()
            .flat_map(|((a, b), (lo, hi, n))| [a as &(dyn ToSql + Sync), b, lo, hi, n])
            .collect();
        tx.execute(
            &format!(
                "INSERT INTO retired_reports (agent_id, boot_id, min_seq, max_seq, count)
                 VALUES {}
                 ON CONFLICT (agent_id, boot_id) DO UPDATE SET
                   min_seq = LEAST(retired_reports.min_seq, EXCLUDED.min_seq),
                   max_seq = GREATEST(retired_reports.max_seq, EXCLUDED.max_seq),
                   count = retired_reports.count + EXCLUDED.count",
                tuples(chunk.len(), 5)
            ),
            &params,
        )
        .await?;
    }
    Ok(())
}

/// Deletes up to `limit` buckets last received before `before_ms`, locking them in key
/// order (as the inserts do) and only those still old once locked: a bucket that an insert
/// just received again is left.
pub(super) async fn delete_buckets(
    c: &deadpool_postgres::Client,
    before_ms: i64,
    limit: usize,
) -> Result<usize, StoreError> {
    let n = c
        .execute(
            "DELETE FROM host_buckets WHERE (agent_id, boot_id, bucket) IN (
               SELECT agent_id, boot_id, bucket FROM host_buckets
               WHERE received_max_ms < $1
               ORDER BY agent_id, boot_id, bucket
               LIMIT $2
               FOR UPDATE)
             AND received_max_ms < $1",
            &[&before_ms, &limit_of(limit)],
        )
        .await?;
    Ok(n as usize)
}
