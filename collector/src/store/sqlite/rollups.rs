//! The host rollup buckets (`crate::rollup`) in SQLite: added to as reports are stored,
//! scanned by the monthly report, rebuilt from the stored reports by the migration that
//! created them.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::rollup::{BucketKey, HostBucket, Rebuild, StoredBucket};
use crate::store::api::StoreError;

/// Adds summaries to their buckets: one read and one write per bucket, however many of the
/// summaries fall into it (a backfilled burst fills the same hours).
pub(super) fn add(
    conn: &Connection,
    summaries: BTreeMap<BucketKey, HostBucket>,
) -> rusqlite::Result<()> {
    let mut read = conn.prepare_cached(
        "SELECT body FROM host_buckets WHERE agent_id = ?1 AND boot_id = ?2 AND bucket = ?3",
    )?;
    let mut write = conn.prepare_cached(
        "INSERT INTO host_buckets (agent_id, boot_id, bucket, received_max_ms, body)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (agent_id, boot_id, bucket)
         DO UPDATE SET received_max_ms = excluded.received_max_ms, body = excluded.body",
    )?;
    for (key, summary) in summaries {
        let stored: Option<Vec<u8>> = read
            .query_row(params![key.agent_id, key.boot_id, key.bucket], |r| r.get(0))
            .optional()?;
        // A projection (a migration's link windows or samples, no report counted) only
        // adds to a bucket that exists: it never makes a bucket of its own.
        if stored.is_none() && summary.reports == 0 {
            continue;
        }
        let mut bucket = stored
            .as_deref()
            .map(|body| HostBucket::stored_or_empty(&key, body))
            .unwrap_or_default();
        bucket.merge(&summary);
        if !bucket.fit(&key) {
            continue;
        }
        write.execute(params![
            key.agent_id,
            key.boot_id,
            key.bucket,
            bucket.received_max_ms,
            bucket.to_stored()
        ])?;
    }
    Ok(())
}

/// Buckets last received at or after `since_ms`, in key order after `after`.
pub(super) fn scan(
    conn: &Connection,
    since_ms: i64,
    after: Option<&BucketKey>,
    limit: usize,
) -> Result<Vec<StoredBucket>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, boot_id, bucket, body FROM host_buckets
         WHERE (agent_id, boot_id, bucket) > (?1, ?2, ?3) AND received_max_ms >= ?4
         ORDER BY agent_id, boot_id, bucket
         LIMIT ?5",
    )?;
    let (agent, boot, bucket) = after.map_or(("", "", i64::MIN), |k| {
        (k.agent_id.as_str(), k.boot_id.as_str(), k.bucket)
    });
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![agent, boot, bucket, since_ms, limit], |row| {
        Ok((
            BucketKey {
                agent_id: row.get(0)?,
                boot_id: row.get(1)?,
                bucket: row.get(2)?,
            },
            row.get::<_, Vec<u8>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, body) = row?;
        out.extend(StoredBucket::from_row(key, &body));
    }
    Ok(out)
}

/// Fills the (empty) bucket table from every stored report, boot by boot, so memory holds
/// one boot's buckets at a time, their host parts only; with `links_only`, adds only the link windows of the
/// reports with link data to the buckets (a database whose buckets were made before they
/// kept links). Returns the reports read. Degraded windows are judged by the default
/// thresholds: a migration runs before any configuration is at hand.
pub(super) fn rebuild(conn: &Connection, what: Rebuild) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare(&format!(
        "SELECT agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data
         FROM reports WHERE received_ms >= ?1 {} ORDER BY agent_id, boot_id, sequence",
        if what.link_reports_only() {
            "AND link_data = 1"
        } else {
            ""
        }
    ))?;
    let mut rows = stmt.query([what.received_since(zerofault_common::now_unix_ms())])?;
    let mut pending: BTreeMap<BucketKey, HostBucket> = BTreeMap::new();
    let mut n = 0u64;
    while let Some(row) = rows.next()? {
        let report = super::queries::stored_report(row)?;
        n += 1;
        if pending
            .keys()
            .next()
            .is_some_and(|k| k.agent_id != report.agent_id || k.boot_id != report.boot_id)
        {
            add(conn, std::mem::take(&mut pending))?;
        }
        if let Some((bucket, summary)) = report.rollup(&Default::default()) {
            // Host parts, link parts and issue 17's figures are added by separate migrations.
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
    add(conn, pending)?;
    Ok(n)
}
