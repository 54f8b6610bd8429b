//! The downsampled series (`crate::series`) on PostgreSQL: `series_1h` (one row per agent
//! and hour, keyed by agent, distributed with `reports`) and `link_series_1h` (one row per
//! link, hour and vantage point, keyed by link, distributed with `link_faults`), packed by
//! `crate::series::hour`.
//!
//! A flush writes each hour row with `INSERT ... ON CONFLICT DO NOTHING` first: the first
//! flush of an hour is one statement. A row already stored (the hour's later slots, a late
//! piece, or a piece another collector wrote) is read `FOR UPDATE`, merged in the collector
//! and written back, so two collectors merging into one row take turns. Host rows are
//! written in key order, then link rows in theirs, the same order in every collector, so two
//! flushes wait rather than deadlock.

use deadpool_postgres::GenericClient;

use super::super::series_rows::{
    first_hour, host_rows_for, host_slots, hours_before, link_slots, unpacked,
};
use super::queries::{REPORT_COLUMNS, limit_of, stored_report};
use crate::series::hour::{self, KeyCoverage, SlotFigures, hour_of};
use crate::series::slot::{Covered, Merged, SeriesKey, SeriesSlot};
use crate::store::api::{LinkSeries, ReplayCursor, ReplayPage, StoreError};

/// `Store::merge_series`, in one transaction.
pub(super) async fn merge(
    client: &mut deadpool_postgres::Client,
    slots: &[(SeriesKey, SeriesSlot)],
) -> Result<Merged, StoreError> {
    let by_hour = hour::by_hour(slots);
    let tx = client.transaction().await?;
    let mut out = Merged::default();
    let insert = tx
        .prepare_cached(
            "INSERT INTO series_1h (agent_id, hour_start_ms, body) VALUES ($1, $2, $3)
             ON CONFLICT (agent_id, hour_start_ms) DO NOTHING",
        )
        .await?;
    let lock = tx
        .prepare_cached(
            "SELECT body FROM series_1h WHERE agent_id = $1 AND hour_start_ms = $2 FOR UPDATE",
        )
        .await?;
    let update = tx
        .prepare_cached("UPDATE series_1h SET body = $3 WHERE agent_id = $1 AND hour_start_ms = $2")
        .await?;
    for ((agent, hour), pieces) in &by_hour.hosts {
        let (fresh, merged) = hour::merge_hosts(Default::default(), pieces);
        if tx
            .execute(&insert, &[agent, hour, &fresh.pack(*hour)])
            .await?
            == 1
        {
            out.add(merged);
            continue;
        }
        let stored = tx
            .query_opt(&lock, &[agent, hour])
            .await?
            .map(|r| r.try_get::<_, Vec<u8>>(0))
            .transpose()?;
        let row = stored
            .and_then(|b| unpacked("series_1h", *hour, &b))
            .unwrap_or_default();
        let (row, merged) = hour::merge_hosts(row, pieces);
        out.add(merged);
        tx.execute(&update, &[agent, hour, &row.pack(*hour)])
            .await?;
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO link_series_1h (link_id, hour_start_ms, agent_id, body)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (link_id, hour_start_ms, agent_id) DO NOTHING",
        )
        .await?;
    let lock = tx
        .prepare_cached(
            "SELECT body FROM link_series_1h
             WHERE link_id = $1 AND hour_start_ms = $2 AND agent_id = $3 FOR UPDATE",
        )
        .await?;
    let update = tx
        .prepare_cached(
            "UPDATE link_series_1h SET body = $4
             WHERE link_id = $1 AND hour_start_ms = $2 AND agent_id = $3",
        )
        .await?;
    for ((link, hour, agent), pieces) in &by_hour.links {
        let fresh = hour::merge_links(Default::default(), pieces);
        if tx
            .execute(&insert, &[link, hour, agent, &fresh.pack(*hour)])
            .await?
            == 1
        {
            continue;
        }
        let stored = tx
            .query_opt(&lock, &[link, hour, agent])
            .await?
            .map(|r| r.try_get::<_, Vec<u8>>(0))
            .transpose()?;
        let row = stored
            .and_then(|b| unpacked("link_series_1h", *hour, &b))
            .unwrap_or_default();
        let row = hour::merge_links(row, pieces);
        tx.execute(&update, &[link, hour, agent, &row.pack(*hour)])
            .await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// `Store::series_coverage`: one primary-key lookup per hour row (the crash rebuild only).
pub(super) async fn coverage(
    c: &impl GenericClient,
    keys: &[SeriesKey],
) -> Result<Vec<KeyCoverage>, StoreError> {
    let stmt = c
        .prepare_cached("SELECT body FROM series_1h WHERE agent_id = $1 AND hour_start_ms = $2")
        .await?;
    let mut rows: std::collections::HashMap<(&str, i64), Option<Vec<Covered>>> = Default::default();
    let mut out = Vec::new();
    for key in keys {
        let hour = hour_of(key.slot_start_ms);
        let at = (key.agent_id.as_str(), hour);
        let coverage = match rows.get(&at) {
            Some(coverage) => coverage.clone(),
            None => {
                let body = c
                    .query_opt(&stmt, &[&key.agent_id, &hour])
                    .await?
                    .map(|r| r.try_get::<_, Vec<u8>>(0))
                    .transpose()?;
                let coverage = body
                    .and_then(|b| unpacked("series_1h", hour, &b))
                    .map(|row| row.coverage);
                rows.insert(at, coverage.clone());
                coverage
            }
        };
        if let Some(coverage) = coverage {
            out.push((key.clone(), coverage));
        }
    }
    Ok(out)
}

/// `Store::host_series`: one range of the primary key, hour rows unpacked.
pub(super) async fn host(
    c: &impl GenericClient,
    agent: &str,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> Result<Vec<SlotFigures>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT hour_start_ms, body FROM series_1h
             WHERE agent_id = $1 AND hour_start_ms >= $2 AND hour_start_ms < $3
             ORDER BY hour_start_ms LIMIT $4",
        )
        .await?;
    let rows = c
        .query(
            &stmt,
            &[
                &agent,
                &first_hour(from_ms),
                &to_ms,
                &limit_of(host_rows_for(limit)),
            ],
        )
        .await?;
    let rows = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<(i64, Vec<u8>)>, StoreError>>()?;
    Ok(host_slots(rows, from_ms, to_ms, limit))
}

/// `Store::link_series`: one range of the primary key `(link_id, hour_start_ms, agent_id)`.
pub(super) async fn link(
    c: &impl GenericClient,
    link: &str,
    from_ms: i64,
    to_ms: i64,
    max_rows: usize,
) -> Result<LinkSeries, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT hour_start_ms, agent_id, body FROM link_series_1h
             WHERE link_id = $1 AND hour_start_ms >= $2 AND hour_start_ms < $3
             ORDER BY hour_start_ms, agent_id LIMIT $4",
        )
        .await?;
    let rows = c
        .query(
            &stmt,
            &[
                &link,
                &first_hour(from_ms),
                &to_ms,
                &limit_of(max_rows.saturating_add(1)),
            ],
        )
        .await?;
    let rows = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<Vec<(i64, String, Vec<u8>)>, StoreError>>()?;
    Ok(link_slots(rows, from_ms, to_ms, max_rows))
}

/// `Store::delete_series`: whole hour rows, host rows first, then link rows, by the hour
/// indexes.
pub(super) async fn delete(
    c: &impl GenericClient,
    before_ms: i64,
    limit: usize,
) -> Result<usize, StoreError> {
    let before = hours_before(before_ms);
    let hosts = c
        .execute(
            "DELETE FROM series_1h WHERE (agent_id, hour_start_ms) IN (
                 SELECT agent_id, hour_start_ms FROM series_1h
                 WHERE hour_start_ms < $1 ORDER BY hour_start_ms LIMIT $2)",
            &[&before, &limit_of(limit)],
        )
        .await? as usize;
    let left = limit.saturating_sub(hosts);
    if left == 0 {
        return Ok(hosts);
    }
    let links = c
        .execute(
            "DELETE FROM link_series_1h WHERE (link_id, hour_start_ms, agent_id) IN (
                 SELECT link_id, hour_start_ms, agent_id FROM link_series_1h
                 WHERE hour_start_ms < $1 ORDER BY hour_start_ms LIMIT $2)",
            &[&before, &limit_of(left)],
        )
        .await? as usize;
    Ok(hosts + links)
}

/// `Store::reports_received`: keyset pages on `reports_received_order`.
pub(super) async fn reports_received(
    c: &impl GenericClient,
    from_ms: i64,
    to_ms: i64,
    after: Option<ReplayCursor>,
    limit: usize,
) -> Result<ReplayPage, StoreError> {
    let (after_ms, after_row) = after.map_or((i64::MIN, i64::MIN), |c| (c.received_ms, c.rowid));
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {REPORT_COLUMNS}, row_order FROM reports
             WHERE received_ms >= $1 AND received_ms < $2
               AND (received_ms, row_order) > ($3, $4)
             ORDER BY received_ms, row_order
             LIMIT $5"
        ))
        .await?;
    let limit = limit_of(limit);
    let rows = c
        .query(&stmt, &[&from_ms, &to_ms, &after_ms, &after_row, &limit])
        .await?;
    let rows = rows
        .iter()
        .map(|row| Ok((row.try_get(7)?, stored_report(row)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(ReplayPage::of_rows(rows, limit))
}
