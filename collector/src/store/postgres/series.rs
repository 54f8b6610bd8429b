//! The downsampled series (`crate::series`) on PostgreSQL: `series_5m` (keyed by agent,
//! distributed with `reports`) and `link_series_5m` (keyed by link, distributed with
//! `link_faults`).
//!
//! A flush writes each slot with `INSERT ... ON CONFLICT DO NOTHING` first: a slot written
//! once (the normal case, a complete slot flushed by the one collector its agent reports to)
//! is one statement. A slot already stored (a late piece, or a piece another collector
//! wrote) is read `FOR UPDATE`, merged in the collector and written back, so two collectors
//! merging into one row take turns. Host rows are written in key order, then link rows in
//! theirs, the same order in every collector, so two flushes wait rather than deadlock.

use deadpool_postgres::GenericClient;
use prost::Message;

use super::queries::{REPORT_COLUMNS, limit_of, stored_report};
use crate::series::slot::{HostRow, LinkRow, Merged, SeriesKey, SeriesSlot};
use crate::store::api::{LinkSlot, ReplayCursor, ReplayPage, StoreError};

/// A stored body that does not decode is damage to one row: it is replaced by what is
/// merged into it (and a read skips it), with a warning.
fn decoded<M: Message + Default>(what: &str, body: &[u8]) -> Option<M> {
    match M::decode(body) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(error = %e, table = what, "skipping an undecodable series row");
            None
        }
    }
}

/// `Store::merge_series`, in one transaction.
pub(super) async fn merge(
    client: &mut deadpool_postgres::Client,
    slots: &[(SeriesKey, SeriesSlot)],
) -> Result<Merged, StoreError> {
    let tx = client.transaction().await?;
    let mut out = Merged::default();
    let insert = tx
        .prepare_cached(
            "INSERT INTO series_5m (agent_id, slot_start_ms, body) VALUES ($1, $2, $3)
             ON CONFLICT (agent_id, slot_start_ms) DO NOTHING",
        )
        .await?;
    let lock = tx
        .prepare_cached(
            "SELECT body FROM series_5m WHERE agent_id = $1 AND slot_start_ms = $2 FOR UPDATE",
        )
        .await?;
    let update = tx
        .prepare_cached("UPDATE series_5m SET body = $3 WHERE agent_id = $1 AND slot_start_ms = $2")
        .await?;
    let mut sorted: Vec<&(SeriesKey, SeriesSlot)> = slots.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut links: Vec<(&str, i64, &str, &LinkRow)> = Vec::new();
    for (key, piece) in sorted {
        let body = piece.host.encode_to_vec();
        let written = tx
            .execute(&insert, &[&key.agent_id, &key.slot_start_ms, &body])
            .await?;
        if written == 0 {
            let row = tx
                .query_opt(&lock, &[&key.agent_id, &key.slot_start_ms])
                .await?;
            let mut slot = SeriesSlot {
                host: row
                    .map(|r| r.try_get::<_, Vec<u8>>(0))
                    .transpose()?
                    .and_then(|b| decoded::<HostRow>("series_5m", &b))
                    .unwrap_or_default(),
                ..SeriesSlot::default()
            };
            out.add(slot.merge(&SeriesSlot {
                host: piece.host.clone(),
                ..SeriesSlot::default()
            }));
            tx.execute(
                &update,
                &[
                    &key.agent_id,
                    &key.slot_start_ms,
                    &slot.host.encode_to_vec(),
                ],
            )
            .await?;
        }
        for (link, row) in &piece.links {
            links.push((link, key.slot_start_ms, &key.agent_id, row));
        }
    }
    links.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let insert = tx
        .prepare_cached(
            "INSERT INTO link_series_5m (link_id, slot_start_ms, agent_id, body)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (link_id, slot_start_ms, agent_id) DO NOTHING",
        )
        .await?;
    let lock = tx
        .prepare_cached(
            "SELECT body FROM link_series_5m
             WHERE link_id = $1 AND slot_start_ms = $2 AND agent_id = $3 FOR UPDATE",
        )
        .await?;
    let update = tx
        .prepare_cached(
            "UPDATE link_series_5m SET body = $4
             WHERE link_id = $1 AND slot_start_ms = $2 AND agent_id = $3",
        )
        .await?;
    for (link, slot_start_ms, agent, row) in links {
        let body = row.encode_to_vec();
        let written = tx
            .execute(&insert, &[&link, &slot_start_ms, &agent, &body])
            .await?;
        if written == 1 {
            continue;
        }
        let stored = tx
            .query_opt(&lock, &[&link, &slot_start_ms, &agent])
            .await?
            .map(|r| r.try_get::<_, Vec<u8>>(0))
            .transpose()?;
        let mut merged = SeriesSlot::default();
        if let Some(old) = stored.and_then(|b| decoded::<LinkRow>("link_series_5m", &b)) {
            merged.links.insert(link.to_owned(), old);
        }
        let mut add = SeriesSlot::default();
        add.links.insert(link.to_owned(), row.clone());
        merged.merge(&add);
        let row = merged.links.remove(link).unwrap_or_default();
        tx.execute(
            &update,
            &[&link, &slot_start_ms, &agent, &row.encode_to_vec()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// `Store::series_rows`: one primary-key lookup per key (the crash rebuild only).
pub(super) async fn rows(
    c: &impl GenericClient,
    keys: &[SeriesKey],
) -> Result<Vec<(SeriesKey, HostRow)>, StoreError> {
    let stmt = c
        .prepare_cached("SELECT body FROM series_5m WHERE agent_id = $1 AND slot_start_ms = $2")
        .await?;
    let mut out = Vec::new();
    for key in keys {
        if let Some(row) = c
            .query_opt(&stmt, &[&key.agent_id, &key.slot_start_ms])
            .await?
        {
            let body: Vec<u8> = row.try_get(0)?;
            out.extend(decoded::<HostRow>("series_5m", &body).map(|h| (key.clone(), h)));
        }
    }
    Ok(out)
}

/// `Store::host_series`: one range of the primary key.
pub(super) async fn host(
    c: &impl GenericClient,
    agent: &str,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> Result<Vec<(i64, HostRow)>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT slot_start_ms, body FROM series_5m
             WHERE agent_id = $1 AND slot_start_ms >= $2 AND slot_start_ms < $3
             ORDER BY slot_start_ms LIMIT $4",
        )
        .await?;
    let rows = c
        .query(&stmt, &[&agent, &from_ms, &to_ms, &limit_of(limit)])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let body: Vec<u8> = row.try_get(1)?;
        out.extend(decoded::<HostRow>("series_5m", &body).map(|h| (row.get(0), h)));
    }
    Ok(out)
}

/// `Store::link_series`: one range of the primary key `(link_id, slot_start_ms, agent_id)`.
pub(super) async fn link(
    c: &impl GenericClient,
    link: &str,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> Result<Vec<LinkSlot>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT slot_start_ms, agent_id, body FROM link_series_5m
             WHERE link_id = $1 AND slot_start_ms >= $2 AND slot_start_ms < $3
             ORDER BY slot_start_ms, agent_id LIMIT $4",
        )
        .await?;
    let rows = c
        .query(&stmt, &[&link, &from_ms, &to_ms, &limit_of(limit)])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let body: Vec<u8> = row.try_get(2)?;
        if let Some(r) = decoded::<LinkRow>("link_series_5m", &body) {
            out.push(LinkSlot {
                slot_start_ms: row.try_get(0)?,
                agent_id: row.try_get(1)?,
                row: r,
            });
        }
    }
    Ok(out)
}

/// `Store::delete_series`: host rows first, then link rows, by the slot indexes.
pub(super) async fn delete(
    c: &impl GenericClient,
    before_ms: i64,
    limit: usize,
) -> Result<usize, StoreError> {
    let hosts = c
        .execute(
            "DELETE FROM series_5m WHERE (agent_id, slot_start_ms) IN (
                 SELECT agent_id, slot_start_ms FROM series_5m
                 WHERE slot_start_ms < $1 ORDER BY slot_start_ms LIMIT $2)",
            &[&before_ms, &limit_of(limit)],
        )
        .await? as usize;
    let left = limit.saturating_sub(hosts);
    if left == 0 {
        return Ok(hosts);
    }
    let links = c
        .execute(
            "DELETE FROM link_series_5m WHERE (link_id, slot_start_ms, agent_id) IN (
                 SELECT link_id, slot_start_ms, agent_id FROM link_series_5m
                 WHERE slot_start_ms < $1 ORDER BY slot_start_ms LIMIT $2)",
            &[&before_ms, &limit_of(left)],
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
    let mut reports = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in &rows {
        let report = stored_report(row)?;
        last = Some(ReplayCursor {
            received_ms: report.received_ms,
            rowid: row.try_get(7)?,
        });
        reports.push(report);
    }
    let next = if reports.len() as i64 == limit {
        last
    } else {
        None
    };
    Ok(ReplayPage { reports, next })
}
