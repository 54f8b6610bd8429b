//! PostgreSQL report store: the second backend behind [`Store`], for several collectors on
//! one database (docs/scale-out.md).
//!
//! A bounded pool of connections (`storage.postgres.pool_size`) serves every operation; the
//! inserts of reports go through one writer task that commits those queued meanwhile
//! together (group commit, `writer`), so an insert resolves only once its report is durable
//! and a commit still serves many agents.
//!
//! - `settings`: `storage.postgres.*`;
//! - `connect`: the pool and TLS to the database;
//! - `schema`: the migrations (plain SQL, keyed for distribution by agent);
//! - `writer`: the group commit of reports, with their host rollups;
//! - `rollups`: the host rollup buckets (`crate::rollup`), added to as reports are stored;
//! - `retention`: deleting old bodies and buckets (`store::retention`);
//! - `series`: the downsampled series (`crate::series`);
//! - `queries`: every other statement.
//!
//! With several collectors on one database, ingest is idempotent across them (the key
//! `(agent_id, boot_id, sequence)`, `ON CONFLICT DO NOTHING`) and a month is closed once
//! (the `closed_months` key). A host rollup bucket is read `FOR UPDATE` before it is merged
//! (`rollups`), so collectors adding to one bucket take turns. Each collector records its
//! runs under its own instance name, and a start closes only that instance's unclosed run.
//! What is not shared: the replay order across collectors is only as good as their clocks
//! (docs/scale-out.md).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use self::error::with_causes;
use self::settings::Postgres;
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
mod connect;
mod error;
mod queries;
mod retention;
mod rollups;
mod schema;
mod security;
mod series;
pub mod settings;
mod shared;
mod writer;

#[cfg(test)]
mod tests;

/// What `backup` answers for a PostgreSQL store: the database is copied with PostgreSQL's
/// own tools, which know its files, its WAL and its roles.
pub fn backup_refused(path: &Path) -> StoreError {
    StoreError::Backup {
        path: path.display().to_string(),
        source: "the store is a PostgreSQL database: back it up with PostgreSQL's own tools, \
                 `pg_dump -Fc` for the collector's database (restore with `pg_restore`) or \
                 `pg_basebackup` for the whole server; see docs/sla-operations.md, \
                 \"Backup and restore\""
            .into(),
    }
}

/// PostgreSQL-backed [`Store`].
pub struct PgStore {
    /// `host:port/database`, for messages (never the URL: it may carry a password).
    name: String,
    pool: Pool,
    commands: mpsc::Sender<Command>,
    closed: AtomicBool,
    /// Judge which link windows the rollups keep as degraded.
    link_thresholds: crate::live::links::Thresholds,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("name", &self.name).finish()
    }
}

impl PgStore {
    /// Connects, checks that commits are durable, and migrates the schema. Must be called
    /// inside a tokio runtime (the writer is a task of it).
    pub async fn open(settings: &Postgres) -> Result<PgStore, StoreError> {
        let name = settings.describe();
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: name.clone(),
            source,
        };
        let pool = connect::pool(settings)?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| open_err(with_causes(&e).into()))?;
        check_durable(&client).await.map_err(open_err)?;
        schema::migrate(&mut client).await?;
        drop(client);
        let (commands, rx) = mpsc::channel(writer::QUEUE_DEPTH);
        tokio::spawn(writer::run(pool.clone(), rx, settings.writers()));
        Ok(PgStore {
            name,
            pool,
            commands,
            closed: AtomicBool::new(false),
            link_thresholds: Default::default(),
        })
    }

    /// The store with `links.thresholds` judging degraded link windows for the rollups
    /// (the defaults until this is called).
    pub fn with_link_thresholds(mut self, t: crate::live::links::Thresholds) -> PgStore {
        self.link_thresholds = t;
        self
    }

    /// `host:port/database`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection of the pool, unless the store was closed.
    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        Ok(self.pool.get().await?)
    }
}

/// Refuses a database whose commits return before they are on disk (`synchronous_commit =
/// off` for the collector's role or database): an agent deletes a report from its spool
/// once it is acknowledged, so an acknowledged report must survive a crash of the server.
async fn check_durable(
    client: &tokio_postgres::Client,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let row = client.query_one("SHOW synchronous_commit", &[]).await?;
    let value: String = row.try_get(0)?;
    if value == "off" {
        return Err(
            "synchronous_commit is off for this session, so a commit can be lost when the \
             database server crashes after the collector acknowledged the report; set it on \
             for the collector's role (ALTER ROLE ... SET synchronous_commit = on) or its \
             database"
                .into(),
        );
    }
    Ok(())
}

impl SecurityStore for PgStore {
    fn append_audit(
        &self,
        entries: Vec<Entry>,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>> {
        Box::pin(
            async move { security::append_audit(&mut self.client().await?, entries, alg).await },
        )
    }

    fn audit_page(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>> {
        Box::pin(async move { security::audit_page(&self.client().await?, after_seq, limit).await })
    }

    fn audit_head(&self) -> BoxFuture<'_, Result<Option<Record>, StoreError>> {
        Box::pin(async move { security::audit_head(&self.client().await?).await })
    }

    fn audit_head_row(&self) -> BoxFuture<'_, Result<Option<(u64, String)>, StoreError>> {
        Box::pin(async move { security::audit_head_row(&self.client().await?).await })
    }

    fn retire_audit(
        &self,
        before_ms: i64,
        limit: usize,
        note: Entry,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Option<Record>, StoreError>> {
        Box::pin(async move {
            security::retire_audit(&mut self.client().await?, before_ms, limit, note, alg).await
        })
    }

    fn revocations(&self) -> BoxFuture<'_, Result<Vec<Revocation>, StoreError>> {
        Box::pin(async move { security::revocations(&self.client().await?).await })
    }

    fn set_revocation(
        &self,
        agent_id: String,
        change: RevocationChange,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            security::set_revocation(&self.client().await?, &agent_id, &change).await
        })
    }

    fn add_tokens(&self, tokens: Vec<EnrollmentToken>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { security::add_tokens(&mut self.client().await?, &tokens).await })
    }

    fn redeem_token(
        &self,
        token_hash: String,
        agent_id: String,
        now_ms: i64,
        by: String,
    ) -> BoxFuture<'_, Result<Redeemed, StoreError>> {
        Box::pin(async move {
            security::redeem_token(&self.client().await?, &token_hash, &agent_id, now_ms, &by).await
        })
    }

    fn add_adjustment(
        &self,
        adjustment: NewAdjustment,
        entry: Entry,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<(Adjustment, Record), StoreError>> {
        Box::pin(async move {
            adjustments::add(&mut self.client().await?, adjustment, entry, alg).await
        })
    }

    fn withdraw_adjustment(
        &self,
        id: u64,
        reason: String,
        entry: Entry,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Option<(Adjustment, Record)>, StoreError>> {
        Box::pin(async move {
            adjustments::withdraw(&mut self.client().await?, id, reason, entry, alg).await
        })
    }

    fn adjustments(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<Adjustment>, StoreError>> {
        Box::pin(
            async move { adjustments::overlapping(&self.client().await?, from_ms, to_ms).await },
        )
    }
}

impl Store for PgStore {
    fn insert(&self, report: StoredReport) -> BoxFuture<'_, Result<InsertOutcome, StoreError>> {
        Box::pin(async move {
            if self.closed.load(Ordering::Acquire) {
                return Err(StoreError::Closed);
            }
            // Decoding the body for its summary happens here, on the caller's task, not on
            // the writer task that every insert waits for.
            let summary = report
                .rollup(&self.link_thresholds)
                .map(|(b, s)| (b, Box::new(s)));
            let (tx, rx) = oneshot::channel();
            self.commands
                .send(Command::Insert(report, summary, tx))
                .await
                .map_err(|_| StoreError::Closed)?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn newest_per_boot(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async move { queries::newest_per_boot(&self.client().await?).await })
    }

    fn count_reports(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { queries::count_reports(&self.client().await?).await })
    }

    fn reports_since(
        &self,
        since_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<ReplayPage, StoreError>> {
        Box::pin(async move {
            queries::reports_since(&self.client().await?, since_ms, after, limit).await
        })
    }

    fn insert_faults(&self, faults: Vec<Fault>) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async move { queries::insert_faults(&mut self.client().await?, &faults).await })
    }

    fn faults(&self, link: Option<String>) -> BoxFuture<'_, Result<Vec<Fault>, StoreError>> {
        Box::pin(async move { queries::faults(&self.client().await?, link.as_deref()).await })
    }

    fn boot_spans(&self) -> BoxFuture<'_, Result<Vec<StoredSpan>, StoreError>> {
        Box::pin(async move { queries::boot_spans(&self.client().await?).await })
    }

    fn start_run(
        &self,
        instance: String,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(async move {
            queries::start_run(&mut self.client().await?, &instance, now_unix_ms).await
        })
    }

    fn heartbeat_run(&self, id: i64, now_unix_ms: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(
            async move { queries::heartbeat_run(&self.client().await?, id, now_unix_ms).await },
        )
    }

    fn stop_run(&self, id: i64, now_unix_ms: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { queries::stop_run(&self.client().await?, id, now_unix_ms).await })
    }

    fn instance_runs(&self) -> BoxFuture<'_, Result<Vec<InstanceRun>, StoreError>> {
        Box::pin(async move { queries::instance_runs(&self.client().await?).await })
    }

    fn insert_listening(
        &self,
        periods: Vec<ListeningPeriod>,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(
            async move { queries::insert_listening(&mut self.client().await?, &periods).await },
        )
    }

    fn listening_periods(&self) -> BoxFuture<'_, Result<Vec<ListeningPeriod>, StoreError>> {
        Box::pin(async move { queries::listening_periods(&self.client().await?).await })
    }

    fn scan_reports(
        &self,
        since_ms: i64,
        after: Option<ReportKey>,
        limit: usize,
        link_only: bool,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async move {
            queries::scan_reports(
                &self.client().await?,
                since_ms,
                after.as_ref(),
                limit,
                link_only,
            )
            .await
        })
    }

    fn scan_buckets(
        &self,
        since_ms: i64,
        after: Option<BucketKey>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredBucket>, StoreError>> {
        Box::pin(async move {
            rollups::scan(&self.client().await?, since_ms, after.as_ref(), limit).await
        })
    }

    fn retire_reports(
        &self,
        before_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<RetirePage, StoreError>> {
        Box::pin(async move {
            retention::retire(&mut self.client().await?, before_ms, after, limit).await
        })
    }

    fn merge_buckets(&self, buckets: Vec<StoredBucket>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let summaries = StoredBucket::by_key(buckets);
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            rollups::add(&tx, summaries).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn delete_buckets(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(
            async move { retention::delete_buckets(&self.client().await?, before_ms, limit).await },
        )
    }

    /// Nothing to give back: PostgreSQL keeps the space of deleted rows in its files and
    /// autovacuum makes it reusable by the next inserts, so once retention keeps pace the
    /// tables stop growing. Returning it to the file system takes `VACUUM FULL`, which
    /// rewrites the table under an exclusive lock (ingest stopped for its whole run): a
    /// maintenance-window decision for the database administrator, not a background pass.
    fn reclaim(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { Ok(0) })
    }

    fn close_month(&self, month: ClosedMonth) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { queries::close_month(&self.client().await?, &month).await })
    }

    fn closed_month(
        &self,
        month: String,
    ) -> BoxFuture<'_, Result<Option<ClosedMonth>, StoreError>> {
        Box::pin(async move { queries::closed_month(&self.client().await?, &month).await })
    }

    fn backup(&self, path: PathBuf) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { Err(backup_refused(&path)) })
    }

    fn try_lease(
        &self,
        name: String,
        holder: String,
        ttl_ms: i64,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            shared::try_lease(&self.client().await?, &name, &holder, ttl_ms, now_unix_ms).await
        })
    }

    fn release_lease(&self, name: String, holder: String) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { shared::release_lease(&self.client().await?, &name, &holder).await })
    }

    fn newest_keys_since(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ReportKey>, StoreError>> {
        Box::pin(
            async move { shared::newest_keys_since(&self.client().await?, since_ms, limit).await },
        )
    }

    fn reports_by_key(
        &self,
        keys: Vec<ReportKey>,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let mut out = Vec::with_capacity(keys.len());
            // Bounded statements: PostgreSQL takes at most 65,535 parameters.
            for chunk in keys.chunks(crate::store::api::MAX_KEYS_PER_READ) {
                out.extend(shared::reports_by_key(&client, chunk).await?);
            }
            Ok(out)
        })
    }

    fn reports_received(
        &self,
        from_ms: i64,
        to_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<ReplayPage, StoreError>> {
        Box::pin(async move {
            series::reports_received(&self.client().await?, from_ms, to_ms, after, limit).await
        })
    }

    fn merge_series(
        &self,
        slots: Vec<(SeriesKey, SeriesSlot)>,
    ) -> BoxFuture<'_, Result<Merged, StoreError>> {
        Box::pin(async move { series::merge(&mut self.client().await?, &slots).await })
    }

    fn series_coverage(
        &self,
        keys: Vec<SeriesKey>,
    ) -> BoxFuture<'_, Result<Vec<KeyCoverage>, StoreError>> {
        Box::pin(async move { series::coverage(&self.client().await?, &keys).await })
    }

    fn host_series(
        &self,
        agent: String,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<SlotFigures>, StoreError>> {
        Box::pin(
            async move { series::host(&self.client().await?, &agent, from_ms, to_ms, limit).await },
        )
    }

    fn link_series(
        &self,
        link: String,
        from_ms: i64,
        to_ms: i64,
        max_rows: usize,
    ) -> BoxFuture<'_, Result<LinkSeries, StoreError>> {
        Box::pin(async move {
            series::link(&self.client().await?, &link, from_ms, to_ms, max_rows).await
        })
    }

    fn delete_series(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async move { series::delete(&self.client().await?, before_ms, limit).await })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.closed.swap(true, Ordering::AcqRel) {
                return;
            }
            // The writer commits what is queued before it stops: every insert that was
            // accepted gets its answer.
            let (done, wait) = oneshot::channel();
            if self.commands.send(Command::Close(done)).await.is_ok() {
                let _ = wait.await;
            }
            self.pool.close();
        })
    }
}
