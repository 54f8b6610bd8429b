//! The insert path: one task takes the reports to store from a queue and writes those that
//! queued while the previous write ran as one multi-row `INSERT` (group commit, as SQLite's
//! writer does). Each report is acknowledged only after the statement holding it committed,
//! and one commit (one WAL flush on the server) serves many agents.
//!
//! One statement, not a transaction of many: a single `INSERT ... VALUES (...), (...)` is
//! atomic on its own, costs two round trips whatever the batch size, and is plain SQL.

use std::collections::HashSet;
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;

use super::error::with_causes;
use crate::store::api::{InsertOutcome, StoreError, StoredReport};

/// Most reports written in one statement: bounds the latency the first of them sees, and
/// keeps the parameters (7 a report) far below PostgreSQL's limit of 65,535.
pub(super) const MAX_BATCH: usize = 512;
/// Queued inserts before callers wait: back-pressure instead of unbounded memory.
pub(super) const QUEUE_DEPTH: usize = 4096;

/// The columns of an insert, in the order of [`write_batch`]'s parameters.
const COLUMNS: usize = 7;

/// A request to the writer task.
pub(super) enum Command {
    /// Store a report; the answer once it is committed (or failed).
    Insert(
        StoredReport,
        oneshot::Sender<Result<InsertOutcome, StoreError>>,
    ),
    /// Write what is queued, then stop.
    Close(oneshot::Sender<()>),
}

type Pending = (
    StoredReport,
    oneshot::Sender<Result<InsertOutcome, StoreError>>,
);

/// The writer task: runs until [`Command::Close`] or until every sender is gone.
pub(super) async fn run(pool: Pool, mut rx: mpsc::Receiver<Command>) {
    while let Some(cmd) = rx.recv().await {
        let first = match cmd {
            Command::Insert(report, reply) => (report, reply),
            Command::Close(done) => {
                let _ = done.send(());
                return;
            }
        };
        let mut batch = vec![first];
        let mut close = None;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Command::Insert(report, reply)) => batch.push((report, reply)),
                Ok(Command::Close(done)) => {
                    close = Some(done);
                    break;
                }
                Err(_) => break,
            }
        }
        insert_batch(&pool, batch).await;
        if let Some(done) = close {
            let _ = done.send(());
            return;
        }
    }
}

async fn insert_batch(pool: &Pool, batch: Vec<Pending>) {
    let reports: Vec<&StoredReport> = batch.iter().map(|(r, _)| r).collect();
    match write_batch(pool, &reports).await {
        Ok(outcomes) => {
            for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            let e = with_causes(&*e);
            tracing::error!(error = %e, reports = batch.len(), "storing reports failed");
            // One error for every report of the batch: each caller is told why its report
            // is not stored (the agent keeps it in its spool and sends it again).
            let boxed: Box<dyn std::error::Error + Send + Sync> = e.into();
            let e: Arc<dyn std::error::Error + Send + Sync> = Arc::from(boxed);
            for (_, reply) in batch {
                let _ = reply.send(Err(StoreError::Insert { source: e.clone() }));
            }
        }
    }
}

/// Writes `reports` in one statement; the outcome of each, in order.
async fn write_batch(
    pool: &Pool,
    reports: &[&StoredReport],
) -> Result<Vec<InsertOutcome>, Box<dyn std::error::Error + Send + Sync>> {
    let client = pool.get().await?;
    // Ingest and import refuse sequences above i64::MAX (Report::validate), so the cast is
    // exact and ORDER BY sequence sorts as the agent numbered them.
    let sequences: Vec<i64> = reports.iter().map(|r| r.sequence as i64).collect();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(reports.len() * COLUMNS);
    for (r, seq) in reports.iter().zip(&sequences) {
        params.extend([
            &r.agent_id as &(dyn ToSql + Sync),
            &r.boot_id,
            seq,
            &r.agent_timestamp_ms,
            &r.received_ms,
            &r.body,
            &r.link_data,
        ]);
    }
    let rows = client.query(&insert_sql(reports.len()), &params).await?;
    // RETURNING lists the rows this statement stored; every other report was there already
    // (also one sent twice within this batch: the first of the two is stored).
    let mut stored: HashSet<(String, String, i64)> = rows
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    Ok(reports
        .iter()
        .zip(&sequences)
        .map(|(r, seq)| {
            let key = (r.agent_id.clone(), r.boot_id.clone(), *seq);
            if stored.remove(&key) {
                InsertOutcome::Stored
            } else {
                InsertOutcome::Duplicate
            }
        })
        .collect())
}

/// `INSERT ... VALUES ($1, ..., $7), ($8, ...) ... ON CONFLICT DO NOTHING RETURNING key` for
/// `n` reports.
fn insert_sql(n: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO reports
         (agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data)
         VALUES ",
    );
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        let base = i * COLUMNS;
        let row: Vec<String> = (1..=COLUMNS).map(|c| format!("${}", base + c)).collect();
        sql.push('(');
        sql.push_str(&row.join(", "));
        sql.push(')');
    }
    sql.push_str(
        " ON CONFLICT (agent_id, boot_id, sequence) DO NOTHING
         RETURNING agent_id, boot_id, sequence",
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_numbers_seven_parameters_a_row() {
        let sql = insert_sql(2);
        assert!(
            sql.contains(
                "VALUES ($1, $2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13, $14) ON CONFLICT"
            ),
            "{sql}"
        );
        assert!(insert_sql(MAX_BATCH).contains(&format!("${}", MAX_BATCH * COLUMNS)));
        const { assert!(MAX_BATCH * COLUMNS <= 65_535) };
    }
}
