//! The store's contract with the rest of the collector: the [`Store`] trait and the types it
//! speaks, without any backend's types, so that a backend (SQLite today, PostgreSQL next) is
//! added beside [`super::sqlite`] without touching ingest, the server or the monthly report.

use std::error::Error;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use super::adjustments::{Adjustment, NewAdjustment};
use super::security::{EnrollmentToken, Redeemed, Revocation, RevocationChange};
use crate::audit::chain::{Entry, HashAlg, Record};
use crate::live::delivery::StoredSpan;
use crate::live::links::Fault;
use crate::rollup::{BucketKey, HostBucket, StoredBucket};
use crate::series::hour::{KeyCoverage, SlotFigures};
use crate::series::slot::{LinkRow, Merged, SeriesKey, SeriesSlot};

/// A boxed future, so that [`Store`] can be used as `Arc<dyn Store>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// Agent id (the certificate common name).
    pub agent_id: String,
    /// Linux boot id of the host when the report was made.
    pub boot_id: String,
    /// Per-agent sequence number.
    pub sequence: u64,
    /// Agent clock when the report was made, ms since the Unix epoch.
    pub agent_timestamp_ms: i64,
    /// Collector clock at receipt, ms since the Unix epoch.
    pub received_ms: i64,
    /// The decompressed protobuf exactly as received. Kept raw rather than re-encoded so
    /// that fields added by newer agents survive and can be read by a newer collector.
    pub body: Vec<u8>,
    /// The report carries link windows or interface transitions: only such reports are
    /// replayed into the link engine at start-up, so the replay costs what the link-probing
    /// agents send, not what every host sends.
    pub link_data: bool,
}

impl StoredReport {
    /// The report this row holds, or `None`, with a warning, when its body does not decode.
    /// Every body was decoded before it was stored, so a failure is damage to one row, and one
    /// damaged row must not keep the collector from starting or a month from being reported:
    /// readers skip it.
    pub fn decode(&self) -> Option<zerofault_protocol::Report> {
        match <zerofault_protocol::Report as prost::Message>::decode(self.body.as_slice()) {
            Ok(report) => Some(report),
            Err(e) => {
                tracing::warn!(agent = %self.agent_id, boot = %self.boot_id, sequence = self.sequence, error = %e, "skipping an undecodable stored report");
                None
            }
        }
    }
}

impl StoredReport {
    /// Its rollup bucket and the summary of it alone ([`crate::rollup::of_report`] of its
    /// body, its link windows judged degraded by `thresholds`); `None` when the body does not decode ([`Self::decode`] warns): such a report
    /// is still stored, and its bucket misses it, as the monthly report from raw reports
    /// would.
    pub fn rollup(&self, thresholds: &crate::live::links::Thresholds) -> Option<(i64, HostBucket)> {
        self.decode()
            .map(|decoded| crate::rollup::of_report(&decoded, self.received_ms, thresholds))
    }
}

/// Result of storing a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The report is new and is now committed.
    Stored,
    /// A report with the same `(agent_id, boot_id, sequence)` was already stored; nothing
    /// changed. Agents resend after a lost acknowledgement, so this is normal.
    Duplicate,
}

impl InsertOutcome {
    /// The `status` value of the ingest answer.
    pub fn as_str(self) -> &'static str {
        match self {
            InsertOutcome::Stored => "stored",
            InsertOutcome::Duplicate => "duplicate",
        }
    }
}

/// Where a replay page ended: the `(received_ms, rowid)` of its last report. Opaque to
/// callers; pass it back to get the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayCursor {
    /// Receive time of the last report of the page.
    pub(crate) received_ms: i64,
    /// The backend's row number of that report, increasing with insertion (SQLite's rowid):
    /// orders the reports received in the same millisecond.
    pub(crate) rowid: i64,
}

/// What one [`Store::retire_reports`] batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetirePage {
    /// Report bodies deleted.
    pub deleted: u64,
    /// Where to continue; `None` when no older report is left to read.
    pub next: Option<ReplayCursor>,
}

/// One page of stored reports in receive order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayPage {
    /// The reports, oldest receive time first.
    pub reports: Vec<StoredReport>,
    /// Where to continue; `None` when this was the last page.
    pub next: Option<ReplayCursor>,
}

impl ReplayPage {
    /// The page of `rows` (each report with its backend row number, in receive order) read
    /// with `LIMIT limit`: a full page may have more after it, so it continues after its
    /// last row; a shorter one was the last. Every backend's replay reads pages so.
    pub(crate) fn of_rows(rows: Vec<(i64, StoredReport)>, limit: i64) -> ReplayPage {
        let full = rows.len() as i64 == limit;
        let next = rows.last().filter(|_| full).map(|(rowid, r)| ReplayCursor {
            received_ms: r.received_ms,
            rowid: *rowid,
        });
        ReplayPage {
            reports: rows.into_iter().map(|(_, r)| r).collect(),
            next,
        }
    }
}

/// How often a running collector writes its heartbeat
/// ([`CollectorRun::last_heartbeat_unix_ms`]). A crashed run is recorded as ended at its last
/// heartbeat, so its end is known to within this period; the monthly report takes a run
/// without a stop whose heartbeat is a few periods old as still running. One small write
/// every 10 s costs nothing next to the report commits.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

/// Most keys one [`Store::reports_by_key`] reads: bounds the bodies held at once.
pub const MAX_KEYS_PER_READ: usize = 256;

/// Most slots one [`Store::merge_series`] or [`Store::series_coverage`] takes: bounds one
/// transaction (and PostgreSQL's parameters).
pub const MAX_SERIES_ROWS: usize = 1_000;

/// One vantage point's slot of one link, as [`Store::link_series`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSlot {
    /// Slot start, ms.
    pub slot_start_ms: i64,
    /// The vantage point (agent id).
    pub agent_id: String,
    /// Its loss, RTT and jitter figures.
    pub row: LinkRow,
}

/// A link's slots over a span, as [`Store::link_series`] reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkSeries {
    /// By slot, then agent.
    pub slots: Vec<LinkSlot>,
    /// True when the row limit cut the span short: the slots are every one up to some hour
    /// (that hour excluded), and a shorter span gets the rest.
    pub truncated: bool,
}

/// One run of the collector process, as recorded in `collector_runs`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CollectorRun {
    /// Run id, increasing.
    pub id: i64,
    /// Start, ms since the Unix epoch (collector clock).
    pub started_unix_ms: i64,
    /// Last heartbeat written; a crashed run ended at most one [`HEARTBEAT`] period after it.
    pub last_heartbeat_unix_ms: i64,
    /// Stop: the graceful shutdown time, or for a crashed run its last heartbeat (set at the
    /// next start); `None` for the running process.
    pub stopped_unix_ms: Option<i64>,
    /// The run ended with a graceful shutdown.
    pub clean: bool,
}

/// A [`CollectorRun`] with the instance that ran it. Several collectors serve one database
/// (docs/scale-out.md), each under its own instance name (`instance` in its configuration):
/// a start closes only its own instance's unclosed run, and the runs of every instance
/// together are the evidence that the collector was hearing agents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstanceRun {
    /// The instance name; empty for a run recorded before runs had one.
    pub instance: String,
    /// The run.
    #[serde(flatten)]
    pub run: CollectorRun,
}

/// A span over which imported reports show that their source (the collector, or whatever
/// received them before the migration) was hearing agents: the evidence a recorded
/// [`CollectorRun`] gives for live history, inferred by `zerofault-collector import`
/// (`crate::cmd::import::listening_periods`) and stored in `imported_listening`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListeningPeriod {
    /// Start, ms since the Unix epoch (the imported reports' clock).
    pub start_unix_ms: i64,
    /// End, ms since the Unix epoch.
    pub end_unix_ms: i64,
    /// The imported file it was inferred from (`<stdin>` for standard input).
    pub source: String,
    /// When the import that inferred it ran, collector clock.
    pub imported_unix_ms: i64,
}

/// The identity of a stored report, `(agent_id, boot_id, sequence)`: where a scan of
/// [`Store::scan_reports`] continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportKey {
    /// Agent id.
    pub agent_id: String,
    /// Boot id.
    pub boot_id: String,
    /// Sequence.
    pub sequence: u64,
}

impl ReportKey {
    /// The key of `report`.
    pub fn of(report: &StoredReport) -> Self {
        Self {
            agent_id: report.agent_id.clone(),
            boot_id: report.boot_id.clone(),
            sequence: report.sequence,
        }
    }
}

/// A closed month: its frozen report and the signed manifest of its exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// When it was closed, collector clock.
    pub closed_unix_ms: i64,
    /// The frozen report model, JSON.
    pub report_json: Vec<u8>,
    /// The manifest text (file hashes) that was signed.
    pub manifest: String,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or its directory created.
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The database file.
        path: String,
        /// The underlying error.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// The database was written by a newer collector whose schema this build does not know;
    /// running it would risk corrupting the newer layout.
    #[error(
        "the database schema version is {found}, newer than this collector's {supported}; upgrade the collector"
    )]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A fault to store is still ongoing; only closed faults are stored.
    #[error(
        "fault of link {link_id} starting at {start_unix_ms} has no end; only closed faults are stored"
    )]
    OpenFault {
        /// The link.
        link_id: String,
        /// Start of the fault.
        start_unix_ms: i64,
    },
    /// A backup could not be written (`path`: the target).
    #[error("cannot back up to {path}: {source}")]
    Backup {
        /// The target file.
        path: String,
        /// The backend's error.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// The backend failed an operation (disk full, I/O error, corruption, a lost connection
    /// ...). `source` is the backend's own error, so its message reaches logs and answers.
    #[error("database error: {source}")]
    Backend {
        /// The backend's error.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// The write holding this report (and others written with it) failed and was rolled
    /// back; nothing of it is stored.
    #[error("storing the report failed: {source}")]
    Insert {
        /// The backend's error, shared by every report of the failed write.
        #[source]
        source: Arc<dyn Error + Send + Sync>,
    },
    /// The storage thread has stopped (closed or panicked), so nothing can be stored.
    #[error("the storage thread has stopped")]
    Closed,
}

/// The security tables of a store.
pub trait SecurityStore {
    /// Appends `entries` to the audit chain, in order, after its current head, in one
    /// transaction that takes the head under a lock (so that several collectors append to
    /// one chain); returns the records as stored.
    fn append_audit(
        &self,
        entries: Vec<Entry>,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>>;

    /// The records after `after_seq`, oldest first, at most `limit` (and
    /// [`super::security::MAX_AUDIT_PAGE`]).
    fn audit_page(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>>;

    /// The newest record.
    fn audit_head(&self) -> BoxFuture<'_, Result<Option<Record>, StoreError>>;

    /// What the head row says the newest record is, `(seq, hash)`; `None` before the first.
    /// Verification compares it with the newest record read: deleting the newest records
    /// without moving the head back shows.
    fn audit_head_row(&self) -> BoxFuture<'_, Result<Option<(u64, String)>, StoreError>>;

    /// Deletes up to `limit` of the oldest records older than `before_ms` and, in the same
    /// transaction, appends `note` with the `RetentionDetails` of what
    /// was deleted as its details. `None` when nothing was old enough.
    fn retire_audit(
        &self,
        before_ms: i64,
        limit: usize,
        note: Entry,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Option<Record>, StoreError>>;

    /// Every revoked agent identity.
    fn revocations(&self) -> BoxFuture<'_, Result<Vec<Revocation>, StoreError>>;

    /// Revokes `agent_id` or reinstates it; false when nothing changed (already revoked,
    /// or not revoked).
    fn set_revocation(
        &self,
        agent_id: String,
        change: RevocationChange,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Stores new enrollment tokens.
    fn add_tokens(&self, tokens: Vec<EnrollmentToken>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Spends the token with hash `token_hash` for `agent_id` at `now_ms`, from `by`: once,
    /// whichever collector asks (one conditional update).
    fn redeem_token(
        &self,
        token_hash: String,
        agent_id: String,
        now_ms: i64,
        by: String,
    ) -> BoxFuture<'_, Result<Redeemed, StoreError>>;

    /// Stores an SLA adjustment and its audit record `entry` in one transaction (the
    /// adjustment's id is the record's seq); returns both as stored.
    fn add_adjustment(
        &self,
        adjustment: NewAdjustment,
        entry: Entry,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<(Adjustment, Record), StoreError>>;

    /// Withdraws adjustment `id` with its audit record `entry`, in one transaction; `None`
    /// when there is no such adjustment or it is withdrawn already (nothing written).
    fn withdraw_adjustment(
        &self,
        id: u64,
        reason: String,
        entry: Entry,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Option<(Adjustment, Record)>, StoreError>>;

    /// Every adjustment, withdrawn or not, whose period overlaps `[from_ms, to_ms)`, by id.
    fn adjustments(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<Adjustment>, StoreError>>;
}

/// A report store, with the security tables ([`super::security`]).
pub trait Store: SecurityStore + Send + Sync + std::fmt::Debug + 'static {
    /// Stores `report` unless its `(agent_id, boot_id, sequence)` is already stored, and adds
    /// a newly stored one to its host rollup bucket (`crate::rollup`) in the same
    /// transaction. The future resolves only after the write is durable, so the caller may
    /// acknowledge.
    fn insert(&self, report: StoredReport) -> BoxFuture<'_, Result<InsertOutcome, StoreError>>;

    /// The report with the highest sequence of every (agent, boot), to warm the host table.
    /// Not the newest by receive time: backlog arrives after the live report it precedes.
    fn newest_per_boot(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>>;

    /// Number of stored reports.
    fn count_reports(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Up to `limit` reports with link data ([`StoredReport::link_data`]) received at or
    /// after `since_ms`, in receive order (the order the live collector saw them), continuing
    /// after `after`. Used to rebuild the link engine.
    fn reports_since(
        &self,
        since_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<ReplayPage, StoreError>>;

    /// Stores closed link faults; returns how many were new. A fault whose link already has
    /// a stored fault overlapping it in time is the same fault seen again (a replay at
    /// start-up, possibly with a start cut at the replay horizon) and is not stored twice.
    fn insert_faults(&self, faults: Vec<Fault>) -> BoxFuture<'_, Result<usize, StoreError>>;

    /// Stored faults, of one link or all, by start time.
    fn faults(&self, link: Option<String>) -> BoxFuture<'_, Result<Vec<Fault>, StoreError>>;

    /// Per (agent, boot): lowest and highest stored sequence and the count of reports, for
    /// the delivery ledger at start-up.
    fn boot_spans(&self) -> BoxFuture<'_, Result<Vec<StoredSpan>, StoreError>>;

    /// Records the start of a run of collector `instance` and returns its id. A previous run
    /// of the same instance without a stop crashed: it is closed at its last heartbeat, not
    /// clean. Other instances' runs are theirs to close (they may be running now), except
    /// runs recorded before runs had an instance (empty name), which any start closes.
    fn start_run(
        &self,
        instance: String,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<i64, StoreError>>;

    /// Moves the last heartbeat of run `id` to `now_unix_ms`.
    fn heartbeat_run(&self, id: i64, now_unix_ms: i64) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Records the graceful stop of run `id`.
    fn stop_run(&self, id: i64, now_unix_ms: i64) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Every recorded collector run of every instance, with its instance, oldest first.
    fn instance_runs(&self) -> BoxFuture<'_, Result<Vec<InstanceRun>, StoreError>>;

    /// Every recorded collector run of every instance, oldest first: the union is the
    /// evidence that the collector was hearing agents (docs/sla.md).
    fn collector_runs(&self) -> BoxFuture<'_, Result<Vec<CollectorRun>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .instance_runs()
                .await?
                .into_iter()
                .map(|r| r.run)
                .collect())
        })
    }

    /// Stores listening periods inferred by an import; returns how many were new. A period
    /// with the start and end of one already stored is the same inference repeated (the
    /// same file imported again) and is not stored twice.
    fn insert_listening(
        &self,
        periods: Vec<ListeningPeriod>,
    ) -> BoxFuture<'_, Result<usize, StoreError>>;

    /// Every imported listening period, by start.
    fn listening_periods(&self) -> BoxFuture<'_, Result<Vec<ListeningPeriod>, StoreError>>;

    /// Up to `limit` reports received at or after `since_ms`, in key order (agent, boot,
    /// sequence), continuing after `after`; only those with link data
    /// ([`StoredReport::link_data`]) when `link_only`. The monthly report reads the link
    /// windows this way, and the whole of it when recomputed from raw reports.
    fn scan_reports(
        &self,
        since_ms: i64,
        after: Option<ReportKey>,
        limit: usize,
        link_only: bool,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>>;

    /// Up to `limit` host rollup buckets (`crate::rollup`) last received at or after
    /// `since_ms`, in key order (agent, boot, bucket), continuing after `after`: the monthly
    /// report reads every host this way. [`Store::insert`] keeps them: a newly stored
    /// report is added to its bucket in the same transaction.
    fn scan_buckets(
        &self,
        since_ms: i64,
        after: Option<BucketKey>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredBucket>, StoreError>>;

    /// Merges summaries into their stored buckets, as [`Store::insert`] does for a newly
    /// stored report, in one transaction, without storing any report: for loading rollups in
    /// bulk (a benchmark's month, a rebuild). A summary merged twice counts twice.
    fn merge_buckets(&self, buckets: Vec<StoredBucket>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Deletes up to `limit` report bodies received before `before_ms`, reading on after
    /// `after` in receive order, except the newest report of each boot; remembers the deleted sequences per boot, so that [`Store::insert`] answers
    /// a replay of one [`InsertOutcome::Duplicate`] and [`Store::boot_spans`] still counts
    /// them (`store::retention`). One short transaction: report writes wait for at most one.
    fn retire_reports(
        &self,
        before_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<RetirePage, StoreError>>;

    /// Deletes up to `limit` host rollup buckets last received before `before_ms`; returns
    /// how many.
    fn delete_buckets(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>>;

    /// Gives space freed by deletions back to the file system, in a bounded step; returns
    /// the bytes given back (0 where the backend reuses it in place).
    fn reclaim(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Stores a closed month; false (and nothing changed) when it was closed before.
    fn close_month(&self, month: ClosedMonth) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// The closed month `month` (`YYYY-MM`), if it was closed.
    fn closed_month(&self, month: String)
    -> BoxFuture<'_, Result<Option<ClosedMonth>, StoreError>>;

    /// Writes a consistent copy of the whole store (as of one moment, while others keep
    /// writing) to `path`, a new empty file the caller made (so that its owner and mode are
    /// the caller's choice); returns the copy's size in bytes. A file-based backend copies
    /// itself; a server database answers [`StoreError::Backup`] naming its own tool.
    fn backup(&self, path: PathBuf) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Takes lease `name` for `holder` until `now_unix_ms + ttl_ms`, or renews it when
    /// `holder` holds it already; true when `holder` holds it now. A lease held by another
    /// holder is taken only once it expired (its holder stopped renewing: crashed, stopped,
    /// or cut off from the database). Of holders trying at once, at most one gets it. One
    /// row per lease, plain SQL (docs/scale-out.md): one instance at a time does the
    /// deployment-wide work.
    fn try_lease(
        &self,
        name: String,
        holder: String,
        ttl_ms: i64,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Gives lease `name` up if `holder` holds it, so another can take it at once instead of
    /// after its expiry.
    fn release_lease(&self, name: String, holder: String) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The key of the highest-sequence report of each (agent, boot) among the reports
    /// received at or after `since_ms`, in key order, at most `limit`: what a lease holder
    /// reads to learn of the reports other collectors stored (`cmd::deployment`). Reads the
    /// keys only.
    fn newest_keys_since(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ReportKey>, StoreError>>;

    /// The stored reports of `keys` (a key not stored, or no longer, is left out), in key
    /// order. Callers pass at most [`MAX_KEYS_PER_READ`] keys, which bounds the bodies held.
    fn reports_by_key(
        &self,
        keys: Vec<ReportKey>,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>>;

    /// Up to `limit` reports (all, with or without link data) received in `[from_ms, to_ms)`,
    /// in receive order, continuing after `after`: the series' crash rebuild
    /// (`crate::series::flush`) reads the few minutes a crashed run held in memory this way.
    fn reports_received(
        &self,
        from_ms: i64,
        to_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<ReplayPage, StoreError>>;

    /// Merges series slots (`crate::series`) into their stored hour rows (`series_1h`, one
    /// per agent and hour, and `link_series_1h`, one per link, hour and vantage point;
    /// `crate::series::hour`), in one transaction: a row not stored yet is written from the
    /// slots, a stored one is read, merged and written back, so a late piece of an already
    /// written slot adds to it. At most [`MAX_SERIES_ROWS`] slots. Returns what the merges
    /// left out or found overlapping.
    fn merge_series(
        &self,
        slots: Vec<(SeriesKey, SeriesSlot)>,
    ) -> BoxFuture<'_, Result<Merged, StoreError>>;

    /// For each of `keys` whose hour row is stored, the reports that row holds (its
    /// coverage); at most [`MAX_SERIES_ROWS`] keys: the crash rebuild checks them.
    fn series_coverage(
        &self,
        keys: Vec<SeriesKey>,
    ) -> BoxFuture<'_, Result<Vec<KeyCoverage>, StoreError>>;

    /// Up to `limit` slots of `agent` that start in `[from_ms, to_ms)`, by slot: their host
    /// figures (sorted by kind and name).
    fn host_series(
        &self,
        agent: String,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<SlotFigures>, StoreError>>;

    /// The slots of link `link`, every vantage point, that start in `[from_ms, to_ms)`, by
    /// slot then agent, read from at most `max_rows` hour rows; past that the answer ends
    /// before the first hour not read whole and says `truncated`.
    fn link_series(
        &self,
        link: String,
        from_ms: i64,
        to_ms: i64,
        max_rows: usize,
    ) -> BoxFuture<'_, Result<LinkSeries, StoreError>>;

    /// Deletes up to `limit` series hour rows (host rows first, then link rows) whose whole
    /// hour is before `before_ms`; returns how many.
    fn delete_series(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>>;

    /// Finishes pending writes and closes the database; later calls fail with
    /// [`StoreError::Closed`].
    fn close(&self) -> BoxFuture<'_, ()>;
}
