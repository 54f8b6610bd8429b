//! SQLite report store.
//!
//! One dedicated thread owns the connection; async callers talk to it through a channel,
//! so a slow `fsync` never blocks the tokio runtime. Inserts that are queued while a commit
//! is running are written together in the next transaction (group commit): each report is
//! still acknowledged only after *its* transaction committed, but one `fsync` serves many
//! agents, which is what lets `synchronous=FULL` keep up with tens of thousands of hosts.
//!
//! - `schema`: opening the file (modes, WAL, durability) and the migrations;
//! - `writer`: the connection's thread, its commands and the group commit;
//! - `queries`: the statements;
//! - `rollups`: the host rollup buckets, added to in the transaction that stores a report;
//! - `retention`: deleting old bodies and buckets (`store::retention`);
//! - `series`: the downsampled series (`crate::series`).

use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use self::writer::Command;
use crate::audit::chain::{Entry, HashAlg, Record};
use crate::live::delivery::StoredSpan;
use crate::live::links::Fault;
use crate::rollup::{BucketKey, StoredBucket};
use crate::series::hour::{KeyCoverage, SlotFigures};
use crate::series::slot::{Merged, SeriesKey, SeriesSlot};
use crate::store::adjustments::{Adjustment, NewAdjustment};
use crate::store::api::SecurityStore;
use crate::store::api::{
    BoxFuture, ClosedMonth, InsertOutcome, InstanceRun, LinkSeries, ListeningPeriod, ReplayCursor,
    ReplayPage, ReportKey, RetirePage, Store, StoreError, StoredReport,
};
use crate::store::security::{EnrollmentToken, Redeemed, Revocation, RevocationChange};

mod adjustments;
mod queries;
mod retention;
mod rollups;
mod schema;
mod security;
mod series;
mod shared;

pub use schema::DB_FILE_MODE;
mod writer;

#[cfg(test)]
mod tests;

/// A failed statement is the backend's error: its message is kept as the source.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend {
            source: Box::new(e),
        }
    }
}

/// SQLite-backed [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    commands: mpsc::Sender<Command>,
    /// Judge which link windows the rollups keep as degraded.
    link_thresholds: crate::live::links::Thresholds,
}

impl SqliteStore {
    /// Opens (creating the file and its directory when missing) and migrates the database.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let (commands, rx) = mpsc::channel(writer::QUEUE_DEPTH);
        let (ready_tx, ready_rx) = oneshot::channel();
        let owned = path.to_owned();
        std::thread::Builder::new()
            .name("zerofault-sqlite".into())
            .spawn(move || match schema::open_connection(&owned) {
                Ok(conn) => {
                    let _ = ready_tx.send(Ok(()));
                    writer::run(conn, rx);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                source: Box::new(e),
            })?;
        ready_rx.await.map_err(|_| StoreError::Closed)??;
        Ok(SqliteStore {
            path: path.to_owned(),
            commands,
            link_thresholds: Default::default(),
        })
    }

    /// The store with `links.thresholds` judging degraded link windows for the rollups
    /// (the defaults until this is called).
    pub fn with_link_thresholds(mut self, t: crate::live::links::Thresholds) -> SqliteStore {
        self.link_thresholds = t;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the connection's thread.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::With(Box::new(move |conn| {
                let _ = tx.send(work(conn));
            })))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }
}

impl SecurityStore for SqliteStore {
    fn append_audit(
        &self,
        entries: Vec<Entry>,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>> {
        Box::pin(self.with(move |c| security::append_audit(c, entries, alg)))
    }

    fn audit_page(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>> {
        Box::pin(self.with(move |c| security::audit_page(c, after_seq, limit)))
    }

    fn audit_head(&self) -> BoxFuture<'_, Result<Option<Record>, StoreError>> {
        Box::pin(self.with(|c| security::audit_head(c)))
    }

    fn audit_head_row(&self) -> BoxFuture<'_, Result<Option<(u64, String)>, StoreError>> {
        Box::pin(self.with(|c| security::audit_head_row(c)))
    }

    fn retire_audit(
        &self,
        before_ms: i64,
        limit: usize,
        note: Entry,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Option<Record>, StoreError>> {
        Box::pin(self.with(move |c| security::retire_audit(c, before_ms, limit, note, alg)))
    }

    fn revocations(&self) -> BoxFuture<'_, Result<Vec<Revocation>, StoreError>> {
        Box::pin(self.with(|c| security::revocations(c)))
    }

    fn set_revocation(
        &self,
        agent_id: String,
        change: RevocationChange,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.with(move |c| security::set_revocation(c, &agent_id, &change)))
    }

    fn add_tokens(&self, tokens: Vec<EnrollmentToken>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.with(move |c| security::add_tokens(c, &tokens)))
    }

    fn redeem_token(
        &self,
        token_hash: String,
        agent_id: String,
        now_ms: i64,
        by: String,
    ) -> BoxFuture<'_, Result<Redeemed, StoreError>> {
        Box::pin(self.with(move |c| security::redeem_token(c, &token_hash, &agent_id, now_ms, &by)))
    }

    fn add_adjustment(
        &self,
        adjustment: NewAdjustment,
        entry: Entry,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<(Adjustment, Record), StoreError>> {
        Box::pin(self.with(move |c| adjustments::add(c, adjustment, entry, alg)))
    }

    fn withdraw_adjustment(
        &self,
        id: u64,
        reason: String,
        entry: Entry,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Option<(Adjustment, Record)>, StoreError>> {
        Box::pin(self.with(move |c| adjustments::withdraw(c, id, reason, entry, alg)))
    }

    fn adjustments(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<Adjustment>, StoreError>> {
        Box::pin(self.with(move |c| adjustments::overlapping(c, from_ms, to_ms)))
    }
}

impl Store for SqliteStore {
    fn insert(&self, report: StoredReport) -> BoxFuture<'_, Result<InsertOutcome, StoreError>> {
        Box::pin(async move {
            let summary = report
                .rollup(&self.link_thresholds)
                .map(|(b, s)| (b, Box::new(s)));
            self.call(|tx| Command::Insert(report, summary, tx)).await?
        })
    }

    fn newest_per_boot(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async move { self.call(Command::NewestPerBoot).await? })
    }

    fn count_reports(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { self.call(Command::Count).await? })
    }

    fn reports_since(
        &self,
        since_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<ReplayPage, StoreError>> {
        Box::pin(async move {
            self.call(|reply| Command::Since {
                since_ms,
                after,
                limit,
                reply,
            })
            .await?
        })
    }

    fn insert_faults(&self, faults: Vec<Fault>) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async move { self.call(|tx| Command::InsertFaults(faults, tx)).await? })
    }

    fn faults(&self, link: Option<String>) -> BoxFuture<'_, Result<Vec<Fault>, StoreError>> {
        Box::pin(async move { self.call(|tx| Command::Faults(link, tx)).await? })
    }

    fn boot_spans(&self) -> BoxFuture<'_, Result<Vec<StoredSpan>, StoreError>> {
        Box::pin(async move { self.call(Command::BootSpans).await? })
    }

    fn start_run(
        &self,
        instance: String,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(async move {
            self.call(|tx| Command::StartRun(instance, now_unix_ms, tx))
                .await?
        })
    }

    fn heartbeat_run(&self, id: i64, now_unix_ms: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.call(|tx| Command::HeartbeatRun(id, now_unix_ms, tx))
                .await?
        })
    }

    fn stop_run(&self, id: i64, now_unix_ms: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.call(|tx| Command::StopRun(id, now_unix_ms, tx))
                .await?
        })
    }

    fn instance_runs(&self) -> BoxFuture<'_, Result<Vec<InstanceRun>, StoreError>> {
        Box::pin(async move { self.call(Command::Runs).await? })
    }

    fn insert_listening(
        &self,
        periods: Vec<ListeningPeriod>,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async move {
            self.call(|tx| Command::InsertListening(periods, tx))
                .await?
        })
    }

    fn listening_periods(&self) -> BoxFuture<'_, Result<Vec<ListeningPeriod>, StoreError>> {
        Box::pin(async move { self.call(Command::Listening).await? })
    }

    fn scan_reports(
        &self,
        since_ms: i64,
        after: Option<ReportKey>,
        limit: usize,
        link_only: bool,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async move {
            self.call(|reply| Command::ScanReports {
                since_ms,
                after,
                limit,
                link_only,
                reply,
            })
            .await?
        })
    }

    fn scan_buckets(
        &self,
        since_ms: i64,
        after: Option<BucketKey>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredBucket>, StoreError>> {
        Box::pin(async move {
            self.call(|reply| Command::ScanBuckets {
                since_ms,
                after,
                limit,
                reply,
            })
            .await?
        })
    }

    fn retire_reports(
        &self,
        before_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<RetirePage, StoreError>> {
        Box::pin(async move {
            self.call(|reply| Command::Retire {
                before_ms,
                after,
                limit,
                reply,
            })
            .await?
        })
    }

    fn merge_buckets(&self, buckets: Vec<StoredBucket>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.call(|tx| Command::MergeBuckets(buckets, tx)).await? })
    }

    fn delete_buckets(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async move {
            self.call(|tx| Command::DeleteBuckets(before_ms, limit, tx))
                .await?
        })
    }

    fn reclaim(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { self.call(Command::Reclaim).await? })
    }

    fn close_month(&self, month: ClosedMonth) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { self.call(|tx| Command::CloseMonth(month, tx)).await? })
    }

    fn closed_month(
        &self,
        month: String,
    ) -> BoxFuture<'_, Result<Option<ClosedMonth>, StoreError>> {
        Box::pin(async move { self.call(|tx| Command::ClosedMonth(month, tx)).await? })
    }

    fn backup(&self, path: PathBuf) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { self.call(|tx| Command::Backup(path, tx)).await? })
    }

    fn try_lease(
        &self,
        name: String,
        holder: String,
        ttl_ms: i64,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            self.call(|reply| Command::TryLease {
                name,
                holder,
                ttl_ms,
                now_unix_ms,
                reply,
            })
            .await?
        })
    }

    fn release_lease(&self, name: String, holder: String) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.call(|tx| Command::ReleaseLease(name, holder, tx))
                .await?
        })
    }

    fn newest_keys_since(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ReportKey>, StoreError>> {
        Box::pin(async move {
            self.call(|tx| Command::NewestKeys(since_ms, limit, tx))
                .await?
        })
    }

    fn reports_by_key(
        &self,
        keys: Vec<ReportKey>,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async move { self.call(|tx| Command::ByKey(keys, tx)).await? })
    }

    fn reports_received(
        &self,
        from_ms: i64,
        to_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<ReplayPage, StoreError>> {
        Box::pin(async move {
            self.call(|reply| Command::ReportsReceived {
                from_ms,
                to_ms,
                after,
                limit,
                reply,
            })
            .await?
        })
    }

    fn merge_series(
        &self,
        slots: Vec<(SeriesKey, SeriesSlot)>,
    ) -> BoxFuture<'_, Result<Merged, StoreError>> {
        Box::pin(async move { self.call(|tx| Command::MergeSeries(slots, tx)).await? })
    }

    fn series_coverage(
        &self,
        keys: Vec<SeriesKey>,
    ) -> BoxFuture<'_, Result<Vec<KeyCoverage>, StoreError>> {
        Box::pin(async move { self.call(|tx| Command::SeriesCoverage(keys, tx)).await? })
    }

    fn host_series(
        &self,
        agent: String,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<SlotFigures>, StoreError>> {
        Box::pin(async move {
            self.call(|reply| Command::HostSeries {
                agent,
                from_ms,
                to_ms,
                limit,
                reply,
            })
            .await?
        })
    }

    fn link_series(
        &self,
        link: String,
        from_ms: i64,
        to_ms: i64,
        max_rows: usize,
    ) -> BoxFuture<'_, Result<LinkSeries, StoreError>> {
        Box::pin(async move {
            self.call(|reply| Command::LinkSeries {
                link,
                from_ms,
                to_ms,
                max_rows,
                reply,
            })
            .await?
        })
    }

    fn delete_series(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async move {
            self.call(|tx| Command::DeleteSeries(before_ms, limit, tx))
                .await?
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.call(Command::Close).await;
        })
    }
}
