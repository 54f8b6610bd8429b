//! The insert path: `storage.postgres.writers` tasks take the reports to store from one
//! queue; each takes what queued while it was busy and writes it in one transaction (group
//! commit, as SQLite's writer does). Each report is acknowledged only after that transaction
//! committed, and one commit (one WAL flush on the server) serves many agents.
//!
//! Several writers because a batch spends most of its time waiting: on its statements' round
//! trips and on the server's WAL flush at commit. With one writer the next batch could not
//! start before that wait ended, and at 3,333 reports/s on 2 cores it held 2,930 reports/s
//! with the server and the collector partly idle (docs/benchmarks.md). Batches of different
//! writers lock their rows in key order (reports, then new buckets, then existing ones), so
//! they do not deadlock over buckets; two writers storing the same report (a resend after a
//! lost answer: an agent otherwise sends one report at a time) wait for each other on its
//! key, and one of them answers `duplicate`.
//!
//! The transaction, a few statements whatever the batch size (each a multi-row statement,
//! plain SQL):
//!
//! 1. one multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING key`: which reports are new;
//! 2. of those, the replays of reports that retention deleted since are deleted again and
//!    answered `duplicate` (`retention::undo_replays`);
//! 3. the summaries of the new ones, merged per bucket on this task, are added to their host
//!    rollup buckets (`rollups::add`), so a bucket counts each stored report exactly once.
//!
//! The summaries themselves (decoding each body) are made on the callers' tasks
//! (`PgStore::insert`), not on this one that every insert waits for.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::error::with_causes;
use super::{retention, rollups};
use crate::rollup::{BucketKey, HostBucket};
use crate::store::api::{InsertOutcome, StoreError, StoredReport};

/// Most reports written in one transaction: bounds the latency the first of them sees, and
/// keeps the parameters (7 a report) far below PostgreSQL's limit of 65,535.
pub(super) const MAX_BATCH: usize = 512;
/// Queued inserts before callers wait: back-pressure instead of unbounded memory.
pub(super) const QUEUE_DEPTH: usize = 4096;
/// Tries of a batch that PostgreSQL aborted as a deadlock. Rows are locked in key order, so
/// collectors sharing a database should not deadlock; should three of them still manage
/// to, the batch is written again rather than failed back to its agents.
const DEADLOCK_TRIES: usize = 3;

/// The columns of an insert, in the order of [`write_batch`]'s parameters.
const COLUMNS: usize = 7;

/// A report's rollup bucket and the summary of it alone (`StoredReport::rollup`).
pub(super) type Summary = Option<(i64, Box<HostBucket>)>;

/// A request to the writer task.
pub(super) enum Command {
    /// Store a report and add its summary to its bucket; the answer once it is committed
    /// (or failed).
    Insert(
        StoredReport,
        Summary,
        oneshot::Sender<Result<InsertOutcome, StoreError>>,
    ),
    /// Write what is queued, then stop.
    Close(oneshot::Sender<()>),
}

type Pending = (
    StoredReport,
    Summary,
    oneshot::Sender<Result<InsertOutcome, StoreError>>,
);

/// The writer tasks: `writers` of them take batches from `rx` until [`Command::Close`] or
/// until every sender is gone. Close is answered once every writer has written what it took
/// and what was queued before the close.
pub(super) async fn run(pool: Pool, rx: mpsc::Receiver<Command>, writers: usize) {
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let closed: Arc<std::sync::Mutex<Option<oneshot::Sender<()>>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..writers.max(1) {
        tasks.spawn(write_batches(pool.clone(), rx.clone(), closed.clone()));
    }
    while let Some(ended) = tasks.join_next().await {
        if let Err(e) = ended {
            // Only reached where panics unwind (tests; release builds abort the process on
            // a panic): that batch's callers see their answer channels dropped, an error,
            // so their agents send again, and the other writers go on.
            tracing::error!(error = %e, "a PostgreSQL writer task ended abnormally");
        }
    }
    let done = closed.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(done) = done {
        let _ = done.send(());
    }
}

/// One writer: the next batch is what is queued when it is free, up to [`MAX_BATCH`]. The
/// queue is locked only while a batch is taken, never while one is written.
async fn write_batches(
    pool: Pool,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Command>>>,
    closed: Arc<std::sync::Mutex<Option<oneshot::Sender<()>>>>,
) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let mut batch = Vec::new();
            let mut next = rx.recv().await;
            while let Some(cmd) = next {
                match cmd {
                    Command::Insert(report, summary, reply) => batch.push((report, summary, reply)),
                    Command::Close(done) => {
                        // No more sends; what is queued is still taken, by this writer or the
                        // others, and `run` answers once all of them have ended.
                        *closed.lock().unwrap_or_else(|e| e.into_inner()) = Some(done);
                        rx.close();
                    }
                }
                if batch.len() >= MAX_BATCH {
                    break;
                }
                next = rx.try_recv().ok();
            }
            batch
        };
        if batch.is_empty() {
            // The queue is closed and drained (or every sender is gone).
            return;
        }
        insert_batch(&pool, batch).await;
    }
}

async fn insert_batch(pool: &Pool, batch: Vec<Pending>) {
    let reports: Vec<(&StoredReport, &Summary)> = batch.iter().map(|(r, s, _)| (r, s)).collect();
    let mut result = write_batch(pool, &reports).await;
    for _ in 1..DEADLOCK_TRIES {
        match &result {
            Err(e) if is_deadlock(e.as_ref()) => {
                tracing::warn!(
                    reports = batch.len(),
                    "storing reports deadlocked; retrying"
                );
                result = write_batch(pool, &reports).await;
            }
            _ => break,
        }
    }
    match result {
        Ok(outcomes) => {
            for ((_, _, reply), outcome) in batch.into_iter().zip(outcomes) {
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
            for (_, _, reply) in batch {
                let _ = reply.send(Err(StoreError::Insert { source: e.clone() }));
            }
        }
    }
}

fn is_deadlock(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    e.downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.code())
        .is_some_and(|code| *code == SqlState::T_R_DEADLOCK_DETECTED)
}

/// Writes `reports` and their summaries in one transaction; the outcome of each, in order.
async fn write_batch(
    pool: &Pool,
    reports: &[(&StoredReport, &Summary)],
) -> Result<Vec<InsertOutcome>, Box<dyn std::error::Error + Send + Sync>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Ingest and import refuse sequences above i64::MAX (Report::validate), so the cast is
    // exact and ORDER BY sequence sorts as the agent numbered them.
    let sequences: Vec<i64> = reports.iter().map(|(r, _)| r.sequence as i64).collect();
    // In key order: two collectors storing the same reports at once (an agent resending to
    // the other after a lost acknowledgement) take the key locks in the same order.
    let mut order: Vec<usize> = (0..reports.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (reports[a].0, reports[b].0);
        (&ra.agent_id, &ra.boot_id, sequences[a]).cmp(&(&rb.agent_id, &rb.boot_id, sequences[b]))
    });
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(reports.len() * COLUMNS);
    for &i in &order {
        let r = reports[i].0;
        params.extend([
            &r.agent_id as &(dyn ToSql + Sync),
            &r.boot_id,
            &sequences[i],
            &r.agent_timestamp_ms,
            &r.received_ms,
            &r.body,
            &r.link_data,
        ]);
    }
    let rows = tx.query(&insert_sql(reports.len()), &params).await?;
    // RETURNING lists the rows this statement stored; every other report was there already
    // (also one sent twice within this batch: one of the two is stored).
    let returned: Vec<(String, String, i64)> = rows
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    let replays = retention::undo_replays(&tx, &returned).await?;
    let mut stored: HashSet<(String, String, i64)> = returned
        .into_iter()
        .filter(|k| !replays.contains(k))
        .collect();
    let mut summaries: BTreeMap<BucketKey, HostBucket> = BTreeMap::new();
    let outcomes = reports
        .iter()
        .zip(&sequences)
        .map(|((r, summary), seq)| {
            let key = (r.agent_id.clone(), r.boot_id.clone(), *seq);
            if !stored.remove(&key) {
                return InsertOutcome::Duplicate;
            }
            // Only a newly stored report joins its bucket: a duplicate adds nothing.
            if let Some((bucket, s)) = summary {
                summaries
                    .entry(BucketKey {
                        agent_id: key.0,
                        boot_id: key.1,
                        bucket: *bucket,
                    })
                    .or_default()
                    .merge(s);
            }
            InsertOutcome::Stored
        })
        .collect();
    rollups::add(&tx, summaries).await?;
    tx.commit().await?;
    Ok(outcomes)
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
