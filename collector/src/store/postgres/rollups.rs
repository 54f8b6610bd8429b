//! The host rollup buckets (`crate::rollup`) on PostgreSQL: added to in the transaction that
//! stores the reports, scanned by the monthly report, rebuilt from the stored reports by the
//! migration that created them.
//!
//! Several collectors may share the database, so a bucket is read `FOR UPDATE` before it is
//! merged and written back: two transactions adding to one bucket take turns, and neither
//! merge is lost. Rows are created and locked in key order, the same order in every
//! collector, so two batches that share buckets wait for each other instead of deadlocking.

use std::collections::{BTreeMap, HashSet};

use deadpool_postgres::GenericClient;
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::queries::{REPORT_COLUMNS, limit_of, stored_report};
use crate::rollup::{BucketKey, HostBucket, Rebuild, StoredBucket};
use crate::store::api::StoreError;

/// Columns of a bucket row as written: key, `received_max_ms`, `body`.
const COLUMNS: usize = 5;
/// Most buckets in one statement: keeps the parameters (5 a bucket) far below PostgreSQL's
/// limit of 65,535 whatever the batch.
const MAX_ROWS: usize = 2_000;
/// Reports read per page by [`rebuild`].
const REBUILD_PAGE: usize = 1_000;

/// `($1, $2, $3), ($4, $5, $6), ...` for `rows` rows of `width` parameters.
pub(super) fn tuples(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|i| {
            let row: Vec<String> = (1..=width).map(|c| format!("${}", i * width + c)).collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A bucket key from a row whose first columns are `agent_id, boot_id, bucket`.
fn key_of(row: &tokio_postgres::Row) -> Result<BucketKey, tokio_postgres::Error> {
    Ok(BucketKey {
        agent_id: row.try_get(0)?,
        boot_id: row.try_get(1)?,
        bucket: row.try_get(2)?,
    })
}

/// Adds `summaries` to their buckets, inside `tx`: the summaries of one batch were merged
/// per bucket first, so this costs three statements per [`MAX_ROWS`] buckets, not per
/// report.
///
/// 1. `INSERT ... ON CONFLICT DO NOTHING RETURNING key` writes the buckets that do not exist
///    yet, each as its summary alone (what merging into an empty bucket gives). A bucket
///    that another transaction is creating at the same moment waits for it, and then counts
///    as existing.
/// 2. `SELECT ... ORDER BY key FOR UPDATE` locks and reads the buckets that existed.
/// 3. One multi-row `INSERT ... ON CONFLICT DO UPDATE` writes them back merged (every one of
///    them is locked by this transaction, so it is an update of what step 2 read).
pub(super) async fn add(
    tx: &Transaction<'_>,
    summaries: BTreeMap<BucketKey, HostBucket>,
) -> Result<(), tokio_postgres::Error> {
    let all: Vec<(BucketKey, HostBucket)> = summaries.into_iter().collect();
    for chunk in all.chunks(MAX_ROWS) {
        add_chunk(tx, chunk).await?;
    }
    Ok(())
}

async fn add_chunk(
    tx: &Transaction<'_>,
    chunk: &[(BucketKey, HostBucket)],
) -> Result<(), tokio_postgres::Error> {
    // A projection (a migration's link windows or samples, no report counted) only adds to
    // a bucket that exists: it never makes a bucket of its own.
    let fresh: Vec<(&BucketKey, HostBucket)> = chunk
        .iter()
        .filter(|(_, s)| s.reports > 0)
        .map(|(k, s)| {
            let mut b = HostBucket::default();
            b.merge(s);
            (k, b)
        })
        .filter_map(|mut kb| fits(&mut kb).then_some(kb))
        .collect();
    let created = write(tx, &fresh, false).await?;
    let existing: Vec<&(BucketKey, HostBucket)> =
        chunk.iter().filter(|(k, _)| !created.contains(k)).collect();
    if existing.is_empty() {
        return Ok(());
    }
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(existing.len() * 3);
    for (k, _) in &existing {
        params.extend([&k.agent_id as &(dyn ToSql + Sync), &k.boot_id, &k.bucket]);
    }
    let rows = tx
        .query(
            &format!(
                "SELECT agent_id, boot_id, bucket, body FROM host_buckets
                 WHERE (agent_id, boot_id, bucket) IN ({})
                 ORDER BY agent_id, boot_id, bucket
                 FOR UPDATE",
                tuples(existing.len(), 3)
            ),
            &params,
        )
        .await?;
    let mut stored: BTreeMap<BucketKey, Vec<u8>> = BTreeMap::new();
    for row in &rows {
        stored.insert(key_of(row)?, row.try_get(3)?);
    }
    let merged: Vec<(&BucketKey, HostBucket)> = existing
        .iter()
        .filter_map(|(k, summary)| {
            // Gone between the two statements only if retention deleted it meanwhile (a
            // bucket last received over `retention.rollups` ago): then it starts again.
            let Some(body) = stored.get(k) else {
                return (summary.reports > 0).then(|| (k, summary.clone()));
            };
            let mut b = HostBucket::stored_or_empty(k, body);
            b.merge(summary);
            Some((k, b))
        })
        .filter_map(|mut kb| fits(&mut kb).then_some(kb))
        .collect();
    write(tx, &merged, true).await?;
    Ok(())
}

/// A merged bucket made to fit its bound if it can ([`HostBucket::fit`]); one that cannot
/// is left as it was, with a warning (its reports are stored, only left out of the rollups).
fn fits((key, bucket): &mut (&BucketKey, HostBucket)) -> bool {
    bucket.fit(key)
}

/// Writes buckets in one multi-row statement: new ones only (`ON CONFLICT DO NOTHING`,
/// answering the keys it created) or over the stored ones (`DO UPDATE`).
async fn write(
    tx: &Transaction<'_>,
    buckets: &[(&BucketKey, HostBucket)],
    replace: bool,
) -> Result<HashSet<BucketKey>, tokio_postgres::Error> {
    // A statement with no rows is not SQL (every bucket of a chunk may have been full).
    if buckets.is_empty() {
        return Ok(HashSet::new());
    }
    let bodies: Vec<Vec<u8>> = buckets.iter().map(|(_, b)| b.to_stored()).collect();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(buckets.len() * COLUMNS);
    for ((k, b), body) in buckets.iter().zip(&bodies) {
        params.extend([
            &k.agent_id as &(dyn ToSql + Sync),
            &k.boot_id,
            &k.bucket,
            &b.received_max_ms,
            body,
        ]);
    }
    let on_conflict = if replace {
        "DO UPDATE SET received_max_ms = EXCLUDED.received_max_ms, body = EXCLUDED.body"
    } else {
        "DO NOTHING RETURNING agent_id, boot_id, bucket"
    };
    let rows = tx
        .query(
            &format!(
                "INSERT INTO host_buckets (agent_id, boot_id, bucket, received_max_ms, body)
                 VALUES {} ON CONFLICT (agent_id, boot_id, bucket) {on_conflict}",
                tuples(buckets.len(), COLUMNS)
            ),
            &params,
        )
        .await?;
    rows.iter().map(key_of).collect()
}

/// Buckets last received at or after `since_ms`, in key order after `after`.
pub(super) async fn scan(
    c: &impl GenericClient,
    since_ms: i64,
    after: Option<&BucketKey>,
    limit: usize,
) -> Result<Vec<StoredBucket>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT agent_id, boot_id, bucket, body FROM host_buckets
             WHERE (agent_id, boot_id, bucket) > ($1, $2, $3) AND received_max_ms >= $4
             ORDER BY agent_id, boot_id, bucket
             LIMIT $5",
        )
        .await?;
    let (agent, boot, bucket) = after.map_or(("", "", i64::MIN), |k| {
        (k.agent_id.as_str(), k.boot_id.as_str(), k.bucket)
    });
    let rows = c
        .query(
            &stmt,
            &[&agent, &boot, &bucket, &since_ms, &limit_of(limit)],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let key = key_of(row)?;
        let body: Vec<u8> = row.try_get(3)?;
        out.extend(StoredBucket::from_row(key, &body));
    }
    Ok(out)
}

/// Fills the (empty) bucket table from every stored report inside the migration's
/// transaction, boot by boot, so that memory holds one page of reports and one boot's
/// buckets at a time. Pages by the primary key, as `scan_reports` does. Returns the reports
/// read.
///
/// Host parts only; with `links_only`, adds only the link windows of the reports with link data to the
/// buckets (a database whose buckets were made before they kept links). Degraded windows are
/// judged by the default thresholds: a migration runs before any configuration is at hand.
pub(super) async fn rebuild(
    tx: &Transaction<'_>,
    what: Rebuild,
) -> Result<u64, tokio_postgres::Error> {
    let stmt = tx
        .prepare(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports
             WHERE (agent_id, boot_id, sequence) > ($1, $2, $3) AND received_ms >= $5 {}
             ORDER BY agent_id, boot_id, sequence
             LIMIT $4",
            if what.link_reports_only() {
                "AND link_data"
            } else {
                ""
            }
        ))
        .await?;
    let since = what.received_since(zerofault_common::now_unix_ms());
    let mut after = (String::new(), String::new(), i64::MIN);
    let mut pending: BTreeMap<BucketKey, HostBucket> = BTreeMap::new();
    let mut n = 0u64;
    loop {
        let rows = tx
            .query(
                &stmt,
                &[
                    &after.0,
                    &after.1,
                    &after.2,
                    &limit_of(REBUILD_PAGE),
                    &since,
                ],
            )
            .await?;
        for row in &rows {
            let report = stored_report(row)?;
            n += 1;
            if pending
                .keys()
                .next()
                .is_some_and(|k| k.agent_id != report.agent_id || k.boot_id != report.boot_id)
            {
                add(tx, std::mem::take(&mut pending)).await?;
            }
            after = (
                report.agent_id.clone(),
                report.boot_id.clone(),
                report.sequence as i64,
            );
            if let Some((bucket, summary)) = report.rollup(&Default::default()) {
                // Host parts, link parts and issue 17's figures: separate migrations.
                let summary = what.project(summary);
                pending
                    .entry(BucketKey {
                        agent_id: report.agent_id,
                        boot_id: report.boot_id,
                        bucket,
                    })
                    .or_default()
                    .merge(&summary);
            }
        }
        if rows.len() < REBUILD_PAGE {
            break;
        }
    }
    add(tx, pending).await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_number_the_parameters_row_by_row() {
        assert_eq!(tuples(2, 3), "($1, $2, $3), ($4, $5, $6)");
        const { assert!(MAX_ROWS * COLUMNS <= 65_535) };
    }
}
