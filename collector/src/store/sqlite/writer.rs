//! The thread that owns the connection: it runs the commands the async side sends, one at a
//! time, and writes the inserts queued while a commit was running in one transaction (group
//! commit, see the backend's module docs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::queries::{
    backup, boot_spans, close_month, closed_month, count_reports, faults, heartbeat_run,
    insert_faults, insert_listening, instance_runs, listening_periods, newest_per_boot,
    reports_since, scan_reports, start_run, stop_run,
};
use super::{retention, rollups, series, shared};
use crate::live::delivery::StoredSpan;
use crate::live::links::Fault;
use crate::rollup::{BucketKey, HostBucket, StoredBucket};
use crate::series::hour::{KeyCoverage, SlotFigures};
use crate::series::slot::{Merged, SeriesKey, SeriesSlot};
use crate::store::api::{
    ClosedMonth, InsertOutcome, InstanceRun, LinkSeries, ListeningPeriod, ReplayCursor, ReplayPage,
    ReportKey, RetirePage, StoreError, StoredReport,
};

/// Most inserts written in one transaction; bounds the latency the first of them sees.
const MAX_BATCH: usize = 512;
/// Queued commands before callers wait: back-pressure instead of unbounded memory.
pub(super) const QUEUE_DEPTH: usize = 4096;

/// A request to the connection's thread, with where to send its answer.
pub(super) enum Command {
    /// A report, with its rollup bucket and summary (made on the caller's task, not on
    /// this thread that every write waits for).
    Insert(
        StoredReport,
        Option<(i64, Box<HostBucket>)>,
        oneshot::Sender<Result<InsertOutcome, StoreError>>,
    ),
    NewestPerBoot(oneshot::Sender<Result<Vec<StoredReport>, StoreError>>),
    Count(oneshot::Sender<Result<u64, StoreError>>),
    Since {
        since_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
        reply: oneshot::Sender<Result<ReplayPage, StoreError>>,
    },
    InsertFaults(Vec<Fault>, oneshot::Sender<Result<usize, StoreError>>),
    Faults(
        Option<String>,
        oneshot::Sender<Result<Vec<Fault>, StoreError>>,
    ),
    BootSpans(oneshot::Sender<Result<Vec<StoredSpan>, StoreError>>),
    StartRun(String, i64, oneshot::Sender<Result<i64, StoreError>>),
    HeartbeatRun(i64, i64, oneshot::Sender<Result<(), StoreError>>),
    StopRun(i64, i64, oneshot::Sender<Result<(), StoreError>>),
    Runs(oneshot::Sender<Result<Vec<InstanceRun>, StoreError>>),
    InsertListening(
        Vec<ListeningPeriod>,
        oneshot::Sender<Result<usize, StoreError>>,
    ),
    Listening(oneshot::Sender<Result<Vec<ListeningPeriod>, StoreError>>),
    ScanReports {
        since_ms: i64,
        after: Option<ReportKey>,
        limit: usize,
        link_only: bool,
        reply: oneshot::Sender<Result<Vec<StoredReport>, StoreError>>,
    },
    ScanBuckets {
        since_ms: i64,
        after: Option<BucketKey>,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<StoredBucket>, StoreError>>,
    },
    Retire {
        before_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
        reply: oneshot::Sender<Result<RetirePage, StoreError>>,
    },
    DeleteBuckets(i64, usize, oneshot::Sender<Result<usize, StoreError>>),
    MergeBuckets(Vec<StoredBucket>, oneshot::Sender<Result<(), StoreError>>),
    Reclaim(oneshot::Sender<Result<u64, StoreError>>),
    CloseMonth(ClosedMonth, oneshot::Sender<Result<bool, StoreError>>),
    ClosedMonth(
        String,
        oneshot::Sender<Result<Option<ClosedMonth>, StoreError>>,
    ),
    Backup(PathBuf, oneshot::Sender<Result<u64, StoreError>>),
    TryLease {
        name: String,
        holder: String,
        ttl_ms: i64,
        now_unix_ms: i64,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    ReleaseLease(String, String, oneshot::Sender<Result<(), StoreError>>),
    NewestKeys(
        i64,
        usize,
        oneshot::Sender<Result<Vec<ReportKey>, StoreError>>,
    ),
    ByKey(
        Vec<ReportKey>,
        oneshot::Sender<Result<Vec<StoredReport>, StoreError>>,
    ),
    ReportsReceived {
        from_ms: i64,
        to_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
        reply: oneshot::Sender<Result<ReplayPage, StoreError>>,
    },
    MergeSeries(
        Vec<(SeriesKey, SeriesSlot)>,
        oneshot::Sender<Result<Merged, StoreError>>,
    ),
    SeriesCoverage(
        Vec<SeriesKey>,
        oneshot::Sender<Result<Vec<KeyCoverage>, StoreError>>,
    ),
    HostSeries {
        agent: String,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<SlotFigures>, StoreError>>,
    },
    LinkSeries {
        link: String,
        from_ms: i64,
        to_ms: i64,
        max_rows: usize,
        reply: oneshot::Sender<Result<LinkSeries, StoreError>>,
    },
    DeleteSeries(i64, usize, oneshot::Sender<Result<usize, StoreError>>),
    Close(oneshot::Sender<()>),
    /// Work on the connection that answers through its own channel: the security tables
    /// (`security.rs`), so that each of their operations does not need a variant here.
    With(Box<dyn FnOnce(&mut Connection) + Send>),
}

pub(super) fn run(mut conn: Connection, mut rx: mpsc::Receiver<Command>) {
    let mut next = None;
    loop {
        let Some(cmd) = next.take().or_else(|| rx.blocking_recv()) else {
            break;
        };
        match cmd {
            Command::Insert(report, summary, reply) => {
                let mut batch = vec![(report, summary, reply)];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Command::Insert(r, s, reply)) => batch.push((r, s, reply)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                insert_batch(&mut conn, batch);
            }
            Command::With(work) => work(&mut conn),
            Command::NewestPerBoot(reply) => {
                let _ = reply.send(newest_per_boot(&conn));
            }
            Command::Count(reply) => {
                let _ = reply.send(count_reports(&conn));
            }
            Command::Since {
                since_ms,
                after,
                limit,
                reply,
            } => {
                let _ = reply.send(reports_since(&conn, since_ms, after, limit));
            }
            Command::InsertFaults(faults, reply) => {
                let _ = reply.send(insert_faults(&mut conn, &faults));
            }
            Command::Faults(link, reply) => {
                let _ = reply.send(faults(&conn, link.as_deref()));
            }
            Command::BootSpans(reply) => {
                let _ = reply.send(boot_spans(&conn));
            }
            Command::ScanReports {
                since_ms,
                after,
                limit,
                link_only,
                reply,
            } => {
                let _ = reply.send(scan_reports(
                    &conn,
                    since_ms,
                    after.as_ref(),
                    limit,
                    link_only,
                ));
            }
            Command::ScanBuckets {
                since_ms,
                after,
                limit,
                reply,
            } => {
                let _ = reply.send(rollups::scan(&conn, since_ms, after.as_ref(), limit));
            }
            Command::Retire {
                before_ms,
                after,
                limit,
                reply,
            } => {
                let _ = reply.send(retention::retire(&mut conn, before_ms, after, limit));
            }
            Command::MergeBuckets(buckets, reply) => {
                let _ = reply.send(merge_buckets(&mut conn, buckets));
            }
            Command::DeleteBuckets(before_ms, limit, reply) => {
                let _ = reply.send(retention::delete_buckets(&conn, before_ms, limit));
            }
            Command::Reclaim(reply) => {
                let _ = reply.send(retention::reclaim(&conn));
            }
            Command::CloseMonth(month, reply) => {
                let _ = reply.send(close_month(&conn, &month));
            }
            Command::ClosedMonth(month, reply) => {
                let _ = reply.send(closed_month(&conn, &month));
            }
            Command::StartRun(instance, now, reply) => {
                let _ = reply.send(start_run(&mut conn, &instance, now));
            }
            Command::HeartbeatRun(id, now, reply) => {
                let _ = reply.send(heartbeat_run(&conn, id, now));
            }
            Command::StopRun(id, now, reply) => {
                let _ = reply.send(stop_run(&conn, id, now));
            }
            Command::Runs(reply) => {
                let _ = reply.send(instance_runs(&conn));
            }
            Command::InsertListening(periods, reply) => {
                let _ = reply.send(insert_listening(&mut conn, &periods));
            }
            Command::Listening(reply) => {
                let _ = reply.send(listening_periods(&conn));
            }
            Command::Backup(path, reply) => {
                let _ = reply.send(backup(&conn, &path));
            }
            Command::TryLease {
                name,
                holder,
                ttl_ms,
                now_unix_ms,
                reply,
            } => {
                let _ = reply.send(shared::try_lease(
                    &conn,
                    &name,
                    &holder,
                    ttl_ms,
                    now_unix_ms,
                ));
            }
            Command::ReleaseLease(name, holder, reply) => {
                let _ = reply.send(shared::release_lease(&conn, &name, &holder));
            }
            Command::NewestKeys(since_ms, limit, reply) => {
                let _ = reply.send(shared::newest_keys_since(&conn, since_ms, limit));
            }
            Command::ByKey(keys, reply) => {
                let _ = reply.send(shared::reports_by_key(&conn, &keys));
            }
            Command::ReportsReceived {
                from_ms,
                to_ms,
                after,
                limit,
                reply,
            } => {
                let _ = reply.send(series::reports_received(
                    &conn, from_ms, to_ms, after, limit,
                ));
            }
            Command::MergeSeries(slots, reply) => {
                let _ = reply.send(series::merge(&mut conn, &slots));
            }
            Command::SeriesCoverage(keys, reply) => {
                let _ = reply.send(series::coverage(&conn, &keys));
            }
            Command::HostSeries {
                agent,
                from_ms,
                to_ms,
                limit,
                reply,
            } => {
                let _ = reply.send(series::host(&conn, &agent, from_ms, to_ms, limit));
            }
            Command::LinkSeries {
                link,
                from_ms,
                to_ms,
                max_rows,
                reply,
            } => {
                let _ = reply.send(series::link(&conn, &link, from_ms, to_ms, max_rows));
            }
            Command::DeleteSeries(before_ms, limit, reply) => {
                let _ = reply.send(series::delete(&conn, before_ms, limit));
            }
            Command::Close(reply) => {
                drop(conn);
                let _ = reply.send(());
                return;
            }
        }
    }
}

type Pending = (
    StoredReport,
    Option<(i64, Box<HostBucket>)>,
    oneshot::Sender<Result<InsertOutcome, StoreError>>,
);

fn insert_batch(conn: &mut Connection, batch: Vec<Pending>) {
    match write_batch(conn, &batch) {
        Ok(outcomes) => {
            for ((_, _, reply), outcome) in batch.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, reports = batch.len(), "storing reports failed");
            // One error for every report of the batch: each caller is told why its report
            // is not stored.
            let e: Arc<dyn std::error::Error + Send + Sync> = Arc::new(e);
            for (_, _, reply) in batch {
                let _ = reply.send(Err(StoreError::Insert { source: e.clone() }));
            }
        }
    }
}

fn write_batch(
    conn: &mut Connection,
    batch: &[Pending],
) -> Result<Vec<InsertOutcome>, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut summaries: BTreeMap<BucketKey, HostBucket> = BTreeMap::new();
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO reports
             (agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (r, summary, _) in batch {
            // A sequence at or below the highest retired one of its boot was stored and
            // deleted by retention since: a replay, not stored again (store::retention).
            if retention::retired_max(&tx, &r.agent_id, &r.boot_id)?
                .is_some_and(|max| r.sequence as i64 <= max)
            {
                outcomes.push(InsertOutcome::Duplicate);
                continue;
            }
            // Ingest and import refuse sequences above i64::MAX (Report::validate), so the
            // cast is exact and ORDER BY sequence sorts as the agent numbered them.
            let changed = stmt.execute(params![
                r.agent_id,
                r.boot_id,
                r.sequence as i64,
                r.agent_timestamp_ms,
                r.received_ms,
                r.body,
                r.link_data
            ])?;
            outcomes.push(if changed == 1 {
                // Only a newly stored report joins its bucket: a duplicate adds nothing.
                if let Some((bucket, s)) = summary {
                    summaries
                        .entry(BucketKey {
                            agent_id: r.agent_id.clone(),
                            boot_id: r.boot_id.clone(),
                            bucket: *bucket,
                        })
                        .or_default()
                        .merge(s);
                }
                InsertOutcome::Stored
            } else {
                InsertOutcome::Duplicate
            });
        }
    }
    rollups::add(&tx, summaries)?;
    tx.commit()?;
    Ok(outcomes)
}

fn merge_buckets(conn: &mut Connection, buckets: Vec<StoredBucket>) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    rollups::add(&tx, StoredBucket::by_key(buckets))?;
    tx.commit()?;
    Ok(())
}
