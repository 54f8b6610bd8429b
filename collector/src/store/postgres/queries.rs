//! The statements of every store operation but the insert of reports (`writer.rs`), each
//! on a connection of the pool. Plain SQL: see docs/scale-out.md for the features used.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::live::delivery::{BootSpan, StoredSpan};
use crate::live::links::Fault;
use crate::store::api::{
    ClosedMonth, CollectorRun, InstanceRun, ListeningPeriod, ReplayCursor, ReplayPage, ReportKey,
    StoreError, StoredReport,
};

/// The columns [`stored_report`] reads, in its order.
pub(super) const REPORT_COLUMNS: &str =
    "agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data";

/// A report from a row whose first columns are [`REPORT_COLUMNS`].
pub(super) fn stored_report(row: &Row) -> Result<StoredReport, tokio_postgres::Error> {
    Ok(StoredReport {
        agent_id: row.try_get(0)?,
        boot_id: row.try_get(1)?,
        // Stored as the bit pattern of the u64 (ingest refuses sequences above i64::MAX, so
        // in practice the same number); the cast back is exact either way.
        sequence: row.try_get::<_, i64>(2)? as u64,
        agent_timestamp_ms: row.try_get(3)?,
        received_ms: row.try_get(4)?,
        body: row.try_get(5)?,
        link_data: row.try_get(6)?,
    })
}

fn reports(rows: &[Row]) -> Result<Vec<StoredReport>, StoreError> {
    Ok(rows
        .iter()
        .map(stored_report)
        .collect::<Result<Vec<_>, _>>()?)
}

/// A `LIMIT` from a page size (at least one row, so a page always makes progress).
pub(super) fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit.max(1)).unwrap_or(i64::MAX)
}

pub(super) async fn newest_per_boot(
    c: &impl GenericClient,
) -> Result<Vec<StoredReport>, StoreError> {
    // The highest sequence of each (agent, boot) by GROUP BY over the primary key, then that
    // row by the key: plain SQL that a database distributed by agent runs on each shard
    // alone. (SQLite seeks with a recursive CTE instead; recursion across shards is what
    // distributed databases support least.) Reads the key index once, no body but the
    // newest; `boot_spans` at the same start-up reads it the same way.
    let sql = format!(
        "SELECT {cols} FROM reports r
         JOIN (SELECT agent_id, boot_id, MAX(sequence) AS sequence
               FROM reports GROUP BY agent_id, boot_id) m
           ON r.agent_id = m.agent_id AND r.boot_id = m.boot_id AND r.sequence = m.sequence
         ORDER BY r.agent_id, r.boot_id",
        cols = prefixed("r", REPORT_COLUMNS)
    );
    reports(&c.query(&sql, &[]).await?)
}

/// `agent_id, boot_id` as `r.agent_id, r.boot_id`.
fn prefixed(table: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn count_reports(c: &impl GenericClient) -> Result<u64, StoreError> {
    let n: i64 = c
        .query_one("SELECT COUNT(*) FROM reports", &[])
        .await?
        .get(0);
    Ok(n as u64)
}

pub(super) async fn scan_reports(
    c: &impl GenericClient,
    since_ms: i64,
    after: Option<&ReportKey>,
    limit: usize,
    link_only: bool,
) -> Result<Vec<StoredReport>, StoreError> {
    // Keyset pagination on the primary key, as on SQLite: one index seek per page, every
    // agent's reports together in boot and sequence order. A row-value comparison, so the
    // planner turns it into an index range.
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports
             WHERE (agent_id, boot_id, sequence) > ($1, $2, $3) AND received_ms >= $4
               AND (link_data OR NOT $6)
             ORDER BY agent_id, boot_id, sequence
             LIMIT $5"
        ))
        .await?;
    let (agent, boot, seq) = after.map_or(("", "", i64::MIN), |k| {
        (k.agent_id.as_str(), k.boot_id.as_str(), k.sequence as i64)
    });
    let rows = c
        .query(
            &stmt,
            &[&agent, &boot, &seq, &since_ms, &limit_of(limit), &link_only],
        )
        .await?;
    reports(&rows)
}

pub(super) async fn reports_since(
    c: &impl GenericClient,
    since_ms: i64,
    after: Option<ReplayCursor>,
    limit: usize,
) -> Result<ReplayPage, StoreError> {
    let (after_ms, after_row) = after.map_or((i64::MIN, i64::MIN), |c| (c.received_ms, c.rowid));
    // Keyset pagination on (received_ms, row_order) over the partial index
    // `reports_link_data`: each page is one index range, and reports without link data are
    // never read.
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {REPORT_COLUMNS}, row_order FROM reports
             WHERE link_data AND received_ms >= $1 AND (received_ms, row_order) > ($2, $3)
             ORDER BY received_ms, row_order
             LIMIT $4"
        ))
        .await?;
    let limit = limit_of(limit);
    let rows = c
        .query(&stmt, &[&since_ms, &after_ms, &after_row, &limit])
        .await?;
    let rows = rows
        .iter()
        .map(|row| Ok((row.try_get(7)?, stored_report(row)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(ReplayPage::of_rows(rows, limit))
}

pub(super) async fn insert_faults(
    c: &mut deadpool_postgres::Client,
    faults: &[Fault],
) -> Result<usize, StoreError> {
    let tx = c.transaction().await?;
    // The overlap check makes a fault seen again with a different start (cut at the replay
    // horizon) the same fault; ON CONFLICT covers the same start. CASTs give the parameters
    // of the SELECT list their types (standard SQL, not PostgreSQL's `::`).
    let stmt = tx
        .prepare_cached(
            "INSERT INTO link_faults
             (link_id, level, domain, start_unix_ms, end_unix_ms, duration_ms, agents)
             SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS BIGINT),
                    CAST($5 AS BIGINT), CAST($6 AS BIGINT), CAST($7 AS TEXT)
             WHERE NOT EXISTS (
                 SELECT 1 FROM link_faults
                 WHERE link_id = $1 AND start_unix_ms < $5 AND end_unix_ms > $4
             )
             ON CONFLICT (link_id, start_unix_ms) DO NOTHING",
        )
        .await?;
    let mut inserted = 0;
    for f in faults {
        let Some(end) = f.end_unix_ms else {
            return Err(StoreError::OpenFault {
                link_id: f.link_id.clone(),
                start_unix_ms: f.start_unix_ms,
            });
        };
        let agents = serde_json::to_string(&f.agents).expect("a list of strings is JSON");
        inserted += tx
            .execute(
                &stmt,
                &[
                    &f.link_id,
                    &f.level,
                    &f.domain,
                    &f.start_unix_ms,
                    &end,
                    &f.duration_ms,
                    &agents,
                ],
            )
            .await? as usize;
    }
    tx.commit().await?;
    Ok(inserted)
}

pub(super) async fn faults(
    c: &impl GenericClient,
    link: Option<&str>,
) -> Result<Vec<Fault>, StoreError> {
    let rows = c
        .query(
            "SELECT link_id, level, domain, start_unix_ms, end_unix_ms, duration_ms, agents
             FROM link_faults
             WHERE CAST($1 AS TEXT) IS NULL OR link_id = $1
             ORDER BY start_unix_ms, link_id",
            &[&link],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let agents: String = row.try_get(6)?;
            Ok(Fault {
                link_id: row.try_get(0)?,
                level: row.try_get(1)?,
                domain: row.try_get(2)?,
                start_unix_ms: row.try_get(3)?,
                end_unix_ms: Some(row.try_get(4)?),
                duration_ms: row.try_get(5)?,
                // Written by this code as a JSON list; a damaged row shows no agents rather
                // than hiding the fault.
                agents: serde_json::from_str(&agents).unwrap_or_default(),
                settled: true,
            })
        })
        .collect()
}

pub(super) async fn boot_spans(c: &impl GenericClient) -> Result<Vec<StoredSpan>, StoreError> {
    // One pass over the primary-key index, which covers the query (an index-only scan once
    // the table is vacuumed): no report body is read. Reports deleted by retention still
    // count: they were stored (`retired_reports`). SUM of BIGINT is NUMERIC in PostgreSQL,
    // hence the CAST back.
    let rows = c
        .query(
            "SELECT agent_id, boot_id, MIN(lo), MAX(hi), CAST(SUM(n) AS BIGINT) FROM (
               SELECT agent_id, boot_id, MIN(sequence) AS lo, MAX(sequence) AS hi,
                      COUNT(*) AS n
               FROM reports GROUP BY agent_id, boot_id
               UNION ALL
               SELECT agent_id, boot_id, min_seq, max_seq, count FROM retired_reports
             ) spans GROUP BY agent_id, boot_id ORDER BY agent_id, boot_id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredSpan {
                agent_id: row.try_get(0)?,
                boot_id: row.try_get(1)?,
                span: BootSpan {
                    min: row.try_get::<_, i64>(2)? as u64,
                    max: row.try_get::<_, i64>(3)? as u64,
                    count: row.try_get::<_, i64>(4)? as u64,
                },
            })
        })
        .collect()
}

pub(super) async fn start_run(
    c: &mut deadpool_postgres::Client,
    instance: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let tx = c.transaction().await?;
    // Only this instance's runs (and those from before runs had an instance): another
    // collector's unclosed run may be serving right now.
    let crashed = tx
        .execute(
            "UPDATE collector_runs SET stopped_unix_ms = last_heartbeat_unix_ms, clean = FALSE
             WHERE stopped_unix_ms IS NULL AND (instance = $1 OR instance = '')",
            &[&instance],
        )
        .await?;
    if crashed > 0 {
        tracing::warn!(
            runs = crashed,
            instance,
            "the previous run of this collector instance did not stop cleanly; recorded as ended at its last heartbeat"
        );
    }
    let id: i64 = tx
        .query_one(
            "INSERT INTO collector_runs (started_unix_ms, last_heartbeat_unix_ms, instance)
             VALUES ($1, $1, $2) RETURNING id",
            &[&now, &instance],
        )
        .await?
        .get(0);
    tx.commit().await?;
    Ok(id)
}

pub(super) async fn heartbeat_run(
    c: &impl GenericClient,
    id: i64,
    now: i64,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE collector_runs SET last_heartbeat_unix_ms = $2 WHERE id = $1",
        &[&id, &now],
    )
    .await?;
    Ok(())
}

pub(super) async fn stop_run(c: &impl GenericClient, id: i64, now: i64) -> Result<(), StoreError> {
    c.execute(
        "UPDATE collector_runs
         SET last_heartbeat_unix_ms = $2, stopped_unix_ms = $2, clean = TRUE
         WHERE id = $1",
        &[&id, &now],
    )
    .await?;
    Ok(())
}

pub(super) async fn instance_runs(c: &impl GenericClient) -> Result<Vec<InstanceRun>, StoreError> {
    let rows = c
        .query(
            "SELECT id, started_unix_ms, last_heartbeat_unix_ms, stopped_unix_ms, clean, instance
             FROM collector_runs ORDER BY id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(InstanceRun {
                instance: row.try_get(5)?,
                run: CollectorRun {
                    id: row.try_get(0)?,
                    started_unix_ms: row.try_get(1)?,
                    last_heartbeat_unix_ms: row.try_get(2)?,
                    stopped_unix_ms: row.try_get(3)?,
                    clean: row.try_get(4)?,
                },
            })
        })
        .collect()
}

pub(super) async fn insert_listening(
    c: &mut deadpool_postgres::Client,
    periods: &[ListeningPeriod],
) -> Result<usize, StoreError> {
    let tx = c.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO imported_listening
             (start_unix_ms, end_unix_ms, source, imported_unix_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (start_unix_ms, end_unix_ms) DO NOTHING",
        )
        .await?;
    let mut new = 0;
    for p in periods {
        new += tx
            .execute(
                &stmt,
                &[
                    &p.start_unix_ms,
                    &p.end_unix_ms,
                    &p.source,
                    &p.imported_unix_ms,
                ],
            )
            .await? as usize;
    }
    tx.commit().await?;
    Ok(new)
}

pub(super) async fn listening_periods(
    c: &impl GenericClient,
) -> Result<Vec<ListeningPeriod>, StoreError> {
    let rows = c
        .query(
            "SELECT start_unix_ms, end_unix_ms, source, imported_unix_ms
             FROM imported_listening ORDER BY start_unix_ms, end_unix_ms",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(ListeningPeriod {
                start_unix_ms: row.try_get(0)?,
                end_unix_ms: row.try_get(1)?,
                source: row.try_get(2)?,
                imported_unix_ms: row.try_get(3)?,
            })
        })
        .collect()
}

pub(super) async fn close_month(
    c: &impl GenericClient,
    m: &ClosedMonth,
) -> Result<bool, StoreError> {
    let n = c
        .execute(
            "INSERT INTO closed_months (month, closed_unix_ms, report, manifest)
             VALUES ($1, $2, $3, $4) ON CONFLICT (month) DO NOTHING",
            &[&m.month, &m.closed_unix_ms, &m.report_json, &m.manifest],
        )
        .await?;
    Ok(n == 1)
}

pub(super) async fn closed_month(
    c: &impl GenericClient,
    month: &str,
) -> Result<Option<ClosedMonth>, StoreError> {
    let row = c
        .query_opt(
            "SELECT month, closed_unix_ms, report, manifest FROM closed_months WHERE month = $1",
            &[&month],
        )
        .await?;
    row.map(|row| {
        Ok(ClosedMonth {
            month: row.try_get(0)?,
            closed_unix_ms: row.try_get(1)?,
            report_json: row.try_get(2)?,
            manifest: row.try_get(3)?,
        })
    })
    .transpose()
}
