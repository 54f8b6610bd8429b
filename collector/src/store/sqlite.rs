//! SQLite report store.
//!
//! One dedicated thread owns the connection; async callers talk to it through a channel,
//! so a slow `fsync` never blocks the tokio runtime. Inserts that are queued while a commit
//! is running are written together in the next transaction (group commit): each report is
//! still acknowledged only after *its* transaction committed, but one `fsync` serves many
//! agents, which is what lets `synchronous=FULL` keep up with tens of thousands of hosts.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::{
    BoxFuture, ClosedMonth, CollectorRun, InsertOutcome, ListeningPeriod, ReplayCursor, ReplayPage,
    ReportKey, Store, StoreError, StoredReport,
};
use crate::live::delivery::{BootSpan, StoredSpan};
use crate::live::links::Fault;

/// Schema migrations, applied in order; `PRAGMA user_version` holds how many are applied.
/// Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: reports. A rowid table (not WITHOUT ROWID) because bodies are a few KiB and rowid
    // tables keep large rows out of the primary-key b-tree.
    "CREATE TABLE reports (
        agent_id           TEXT    NOT NULL,
        boot_id            TEXT    NOT NULL,
        sequence           INTEGER NOT NULL,
        agent_timestamp_ms INTEGER NOT NULL,
        received_ms        INTEGER NOT NULL,
        body               BLOB    NOT NULL,
        PRIMARY KEY (agent_id, boot_id, sequence)
    );
    -- Newest report per agent (start-up warm-up, per-host history).
    CREATE INDEX reports_agent_received ON reports (agent_id, received_ms);
    -- Time-range scans across all agents (SLA slots, retention).
    CREATE INDEX reports_received ON reports (received_ms);",
    // 2: closed link faults. Keyed by (link, start) so that replaying the same reports
    // cannot store a fault twice; `agents` is a JSON array of agent ids.
    "CREATE TABLE link_faults (
        link_id       TEXT    NOT NULL,
        level         TEXT    NOT NULL,
        domain        TEXT    NOT NULL,
        start_unix_ms INTEGER NOT NULL,
        end_unix_ms   INTEGER NOT NULL,
        duration_ms   INTEGER NOT NULL,
        agents        TEXT    NOT NULL,
        PRIMARY KEY (link_id, start_unix_ms)
    );
    -- Faults of a period across links (the monthly zero-fault report).
    CREATE INDEX link_faults_start ON link_faults (start_unix_ms);
    -- Reports with link windows or interface transitions, for the start-up replay. Rows
    -- stored before this migration are unknown, hence the default 1 (replayed).
    ALTER TABLE reports ADD COLUMN link_data INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX reports_link_data ON reports (received_ms) WHERE link_data = 1;",
    // 3: runs of the collector itself, so that "no data because the collector was down" can
    // be told from "no data because the host was down". `stopped_unix_ms` is NULL while
    // running; a crashed run is closed at its last heartbeat at the next start.
    "CREATE TABLE collector_runs (
        id                     INTEGER PRIMARY KEY,
        started_unix_ms        INTEGER NOT NULL,
        last_heartbeat_unix_ms INTEGER NOT NULL,
        stopped_unix_ms        INTEGER,
        clean                  INTEGER NOT NULL DEFAULT 0
    );",
    // 4: closed months. `report` is the frozen model (JSON) as signed; `manifest` the
    // signed manifest text of the exported files. A month is closed once; later backfill
    // shows as late corrections beside the frozen figures, never changes them.
    "CREATE TABLE closed_months (
        month          TEXT    PRIMARY KEY,
        closed_unix_ms INTEGER NOT NULL,
        report         BLOB    NOT NULL,
        manifest       TEXT    NOT NULL
    );",
    // 5: listening periods inferred from imported history (`zerofault-collector import`):
    // where imported reports show their source was hearing agents, the evidence that
    // collector runs give for live history, so that silence and reboot gaps in an imported
    // month can be down. Keyed by the span so that importing a file again adds nothing.
    "CREATE TABLE imported_listening (
        start_unix_ms    INTEGER NOT NULL,
        end_unix_ms      INTEGER NOT NULL,
        source           TEXT    NOT NULL,
        imported_unix_ms INTEGER NOT NULL,
        PRIMARY KEY (start_unix_ms, end_unix_ms)
    );",
];

/// Most inserts written in one transaction; bounds the latency the first of them sees.
const MAX_BATCH: usize = 512;
/// Queued commands before callers wait: back-pressure instead of unbounded memory.
const QUEUE_DEPTH: usize = 4096;

/// Error of a failed group commit, shared by every report of the batch.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BatchError(Arc<rusqlite::Error>);

enum Command {
    Insert(
        StoredReport,
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
    StartRun(i64, oneshot::Sender<Result<i64, StoreError>>),
    HeartbeatRun(i64, i64, oneshot::Sender<Result<(), StoreError>>),
    StopRun(i64, i64, oneshot::Sender<Result<(), StoreError>>),
    Runs(oneshot::Sender<Result<Vec<CollectorRun>, StoreError>>),
    InsertListening(
        Vec<ListeningPeriod>,
        oneshot::Sender<Result<usize, StoreError>>,
    ),
    Listening(oneshot::Sender<Result<Vec<ListeningPeriod>, StoreError>>),
    ScanReports {
        since_ms: i64,
        after: Option<ReportKey>,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<StoredReport>, StoreError>>,
    },
    CloseMonth(ClosedMonth, oneshot::Sender<Result<bool, StoreError>>),
    ClosedMonth(
        String,
        oneshot::Sender<Result<Option<ClosedMonth>, StoreError>>,
    ),
    Close(oneshot::Sender<()>),
}

/// SQLite-backed [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    commands: mpsc::Sender<Command>,
}

impl SqliteStore {
    /// Opens (creating the file and its directory when missing) and migrates the database.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let (commands, rx) = mpsc::channel(QUEUE_DEPTH);
        let (ready_tx, ready_rx) = oneshot::channel();
        let owned = path.to_owned();
        std::thread::Builder::new()
            .name("zerofault-sqlite".into())
            .spawn(move || match open_connection(&owned) {
                Ok(conn) => {
                    let _ = ready_tx.send(Ok(()));
                    run(conn, rx);
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
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
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

impl Store for SqliteStore {
    fn insert(&self, report: StoredReport) -> BoxFuture<'_, Result<InsertOutcome, StoreError>> {
        Box::pin(async move { self.call(|tx| Command::Insert(report, tx)).await? })
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

    fn start_run(&self, now_unix_ms: i64) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(async move { self.call(|tx| Command::StartRun(now_unix_ms, tx)).await? })
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

    fn collector_runs(&self) -> BoxFuture<'_, Result<Vec<CollectorRun>, StoreError>> {
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
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async move {
            self.call(|reply| Command::ScanReports {
                since_ms,
                after,
                limit,
                reply,
            })
            .await?
        })
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

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.call(Command::Close).await;
        })
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // 0750 like the packaged state directory; the files inside are 0600 regardless.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .map_err(|e| open_err(Box::new(e)))?;
    }
    restrict_db_files(path).map_err(|e| open_err(Box::new(e)))?;
    let mut conn = Connection::open(path).map_err(|e| open_err(Box::new(e)))?;
    // WAL: scrapes and warm-up reads never wait for a writer, and a commit appends to one
    // file instead of rewriting pages in place.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), %mode, "SQLite refused WAL mode; writes will be slower");
    }
    // FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss, and an
    // agent deletes a report from its spool once we acknowledge it, so an acknowledged
    // report must survive. Group commit (see the module docs) pays for the extra fsync.
    conn.execute_batch("PRAGMA synchronous=FULL;")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Mode of the database and of its `-wal` and `-shm` files: the reports name every host,
/// department and link of the organisation, so only the collector's user may read them.
/// Commands that read the database (`report`, `import`) run as that user (docs/install.md).
const DB_FILE_MODE: u32 = 0o600;

/// Creates the database file with [`DB_FILE_MODE`] before SQLite opens it, and takes away
/// any group or world access from an existing database, `-wal` or `-shm` (left by an older
/// collector, a crash, or a copy), saying so in the log.
///
/// The mode is set with `fchmod` after creating, so the umask cannot widen or narrow it.
/// SQLite's unix VFS creates `-wal` and `-shm` with the database file's mode (and `fchmod`s
/// them to it, also past the umask), so they inherit 0600 from here.
fn restrict_db_files(path: &Path) -> std::io::Result<()> {
    let db = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(DB_FILE_MODE)
        .open(path)?;
    restrict_mode(path, &db)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        // Only an existing regular file: a symlink there is not ours to follow and change.
        match std::fs::symlink_metadata(&side) {
            Ok(meta) if meta.file_type().is_file() => {
                let file = std::fs::OpenOptions::new().read(true).open(&side)?;
                restrict_mode(&side, &file)?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sets `file` to [`DB_FILE_MODE`] unless it already is; logs when it took access away.
fn restrict_mode(path: &Path, file: &std::fs::File) -> std::io::Result<()> {
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    if mode == DB_FILE_MODE {
        return Ok(());
    }
    // File::set_permissions is fchmod on the open descriptor: the file checked is the one changed.
    if let Err(e) = file.set_permissions(std::fs::Permissions::from_mode(DB_FILE_MODE)) {
        // Only the owner may change the mode. Another user who can read the file (an
        // operator running `report` on a database left 0640 by an older version) still gets
        // the data; the collector's own user tightens it at its next start.
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{mode:04o}"),
                "cannot restrict the database file to mode 0600: it belongs to another user; run as the collector's user"
            );
            return Ok(());
        }
        return Err(e);
    }
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            old_mode = format_args!("{mode:04o}"),
            new_mode = format_args!("{DB_FILE_MODE:04o}"),
            "database file was readable or writable by group or others; restricted it to the collector's user"
        );
    }
    Ok(())
}

/// Applies pending migrations in one transaction, so a crash never leaves a half-migrated
/// schema. IMMEDIATE takes the write lock first, so two collectors started on the same file
/// cannot both migrate.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tracing::info!(version = i + 1, "applied database migration");
    }
    tx.commit()?;
    Ok(())
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Command>) {
    let mut next = None;
    loop {
        let Some(cmd) = next.take().or_else(|| rx.blocking_recv()) else {
            break;
        };
        match cmd {
            Command::Insert(report, reply) => {
                let mut batch = vec![(report, reply)];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Command::Insert(r, reply)) => batch.push((r, reply)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                insert_batch(&mut conn, batch);
            }
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
                reply,
            } => {
                let _ = reply.send(scan_reports(&conn, since_ms, after.as_ref(), limit));
            }
            Command::CloseMonth(month, reply) => {
                let _ = reply.send(close_month(&conn, &month));
            }
            Command::ClosedMonth(month, reply) => {
                let _ = reply.send(closed_month(&conn, &month));
            }
            Command::StartRun(now, reply) => {
                let _ = reply.send(start_run(&mut conn, now));
            }
            Command::HeartbeatRun(id, now, reply) => {
                let _ = reply.send(
                    conn.execute(
                        "UPDATE collector_runs SET last_heartbeat_unix_ms = ?2 WHERE id = ?1",
                        params![id, now],
                    )
                    .map(drop)
                    .map_err(StoreError::from),
                );
            }
            Command::StopRun(id, now, reply) => {
                let _ = reply.send(
                    conn.execute(
                        "UPDATE collector_runs
                         SET last_heartbeat_unix_ms = ?2, stopped_unix_ms = ?2, clean = 1
                         WHERE id = ?1",
                        params![id, now],
                    )
                    .map(drop)
                    .map_err(StoreError::from),
                );
            }
            Command::Runs(reply) => {
                let _ = reply.send(collector_runs(&conn));
            }
            Command::InsertListening(periods, reply) => {
                let _ = reply.send(insert_listening(&mut conn, &periods));
            }
            Command::Listening(reply) => {
                let _ = reply.send(listening_periods(&conn));
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
    oneshot::Sender<Result<InsertOutcome, StoreError>>,
);

fn insert_batch(conn: &mut Connection, batch: Vec<Pending>) {
    match write_batch(conn, &batch) {
        Ok(outcomes) => {
            for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, reports = batch.len(), "storing reports failed");
            let e = Arc::new(e);
            for (_, reply) in batch {
                let _ = reply.send(Err(StoreError::Batch(BatchError(e.clone()))));
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
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO reports
             (agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (r, _) in batch {
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
                InsertOutcome::Stored
            } else {
                InsertOutcome::Duplicate
            });
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// A loose index scan of the primary key (agent_id, boot_id, sequence): one seek to the next
/// (agent, boot) and one to its highest sequence, instead of reading every report, so
/// start-up stays fast with months of history. The `+` strips the affinity of the right-hand
/// `boot_id`: with TEXT on both sides SQLite seeks on `agent_id` alone and scans the rest of
/// the agent's reports at every step.
const NEWEST_PER_BOOT: &str = "WITH RECURSIVE boots(agent_id, boot_id) AS (
        SELECT agent_id, boot_id FROM (
            SELECT agent_id, boot_id FROM reports ORDER BY agent_id, boot_id LIMIT 1
        )
        UNION ALL
        SELECT n.agent_id, n.boot_id FROM boots JOIN reports n ON n.rowid = (
            SELECT rowid FROM reports
            WHERE (agent_id, boot_id) > (boots.agent_id, +boots.boot_id)
            ORDER BY agent_id, boot_id LIMIT 1
        )
    )
    SELECT r.agent_id, r.boot_id, r.sequence, r.agent_timestamp_ms, r.received_ms, r.body,
           r.link_data
    FROM boots JOIN reports r ON r.rowid = (
        SELECT rowid FROM reports
        WHERE agent_id = boots.agent_id AND boot_id = boots.boot_id
        ORDER BY sequence DESC LIMIT 1
    )
    ORDER BY r.agent_id, r.boot_id";

/// A report from a row whose columns are `agent_id, boot_id, sequence, agent_timestamp_ms,
/// received_ms, body, link_data`, in that order.
fn stored_report(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredReport> {
    Ok(StoredReport {
        agent_id: row.get(0)?,
        boot_id: row.get(1)?,
        sequence: row.get::<_, i64>(2)? as u64,
        agent_timestamp_ms: row.get(3)?,
        received_ms: row.get(4)?,
        body: row.get(5)?,
        link_data: row.get(6)?,
    })
}

fn newest_per_boot(conn: &Connection) -> Result<Vec<StoredReport>, StoreError> {
    let mut stmt = conn.prepare_cached(NEWEST_PER_BOOT)?;
    let rows = stmt.query_map([], stored_report)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn scan_reports(
    conn: &Connection,
    since_ms: i64,
    after: Option<&ReportKey>,
    limit: usize,
) -> Result<Vec<StoredReport>, StoreError> {
    // Keyset pagination on the primary key: each page continues with one index seek, and
    // every agent's reports come together, in boot and sequence order.
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data
         FROM reports
         WHERE (agent_id, boot_id, sequence) > (?1, ?2, ?3) AND received_ms >= ?4
         ORDER BY agent_id, boot_id, sequence
         LIMIT ?5",
    )?;
    let (agent, boot, seq) = after.map_or(("", "", i64::MIN), |k| {
        (k.agent_id.as_str(), k.boot_id.as_str(), k.sequence as i64)
    });
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![agent, boot, seq, since_ms, limit], stored_report)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn close_month(conn: &Connection, m: &ClosedMonth) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT INTO closed_months (month, closed_unix_ms, report, manifest)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (month) DO NOTHING",
        params![m.month, m.closed_unix_ms, m.report_json, m.manifest],
    )?;
    Ok(n == 1)
}

fn closed_month(conn: &Connection, month: &str) -> Result<Option<ClosedMonth>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT month, closed_unix_ms, report, manifest FROM closed_months WHERE month = ?1",
    )?;
    let mut rows = stmt.query_map(params![month], |row| {
        Ok(ClosedMonth {
            month: row.get(0)?,
            closed_unix_ms: row.get(1)?,
            report_json: row.get(2)?,
            manifest: row.get(3)?,
        })
    })?;
    Ok(rows.next().transpose()?)
}

fn reports_since(
    conn: &Connection,
    since_ms: i64,
    after: Option<ReplayCursor>,
    limit: usize,
) -> Result<ReplayPage, StoreError> {
    let (after_ms, after_rowid) = after.map_or((i64::MIN, i64::MIN), |c| (c.received_ms, c.rowid));
    // Keyset pagination on (received_ms, rowid) over the partial `reports_link_data` index
    // (which holds rowid): each page is one index range scan however deep the replay is,
    // and reports without link data are never read.
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body
         FROM reports
         WHERE link_data = 1 AND received_ms >= ?1 AND (received_ms, rowid) > (?2, ?3)
         ORDER BY received_ms, rowid
         LIMIT ?4",
    )?;
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let mut last = None;
    let rows = stmt.query_map(params![since_ms, after_ms, after_rowid, limit], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            StoredReport {
                agent_id: row.get(1)?,
                boot_id: row.get(2)?,
                sequence: row.get::<_, i64>(3)? as u64,
                agent_timestamp_ms: row.get(4)?,
                received_ms: row.get(5)?,
                body: row.get(6)?,
                link_data: true,
            },
        ))
    })?;
    let mut reports = Vec::new();
    for row in rows {
        let (rowid, report) = row?;
        last = Some(ReplayCursor {
            received_ms: report.received_ms,
            rowid,
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

fn insert_faults(conn: &mut Connection, faults: &[Fault]) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut inserted = 0;
    {
        // The overlap check makes a fault seen again with a different start (cut at the
        // replay horizon) the same fault.
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO link_faults
             (link_id, level, domain, start_unix_ms, end_unix_ms, duration_ms, agents)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
             WHERE NOT EXISTS (
                 SELECT 1 FROM link_faults
                 WHERE link_id = ?1 AND start_unix_ms < ?5 AND end_unix_ms > ?4
             )",
        )?;
        for f in faults {
            let Some(end) = f.end_unix_ms else {
                return Err(StoreError::OpenFault {
                    link_id: f.link_id.clone(),
                    start_unix_ms: f.start_unix_ms,
                });
            };
            let agents = serde_json::to_string(&f.agents).expect("a list of strings is JSON");
            inserted += stmt.execute(params![
                f.link_id,
                f.level,
                f.domain,
                f.start_unix_ms,
                end,
                f.duration_ms,
                agents
            ])?;
        }
    }
    tx.commit()?;
    Ok(inserted)
}

fn faults(conn: &Connection, link: Option<&str>) -> Result<Vec<Fault>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT link_id, level, domain, start_unix_ms, end_unix_ms, duration_ms, agents
         FROM link_faults
         WHERE ?1 IS NULL OR link_id = ?1
         ORDER BY start_unix_ms, link_id",
    )?;
    let rows = stmt.query_map(params![link], |row| {
        let agents: String = row.get(6)?;
        Ok(Fault {
            link_id: row.get(0)?,
            level: row.get(1)?,
            domain: row.get(2)?,
            start_unix_ms: row.get(3)?,
            end_unix_ms: Some(row.get(4)?),
            duration_ms: row.get(5)?,
            // Written by this code as a JSON list; a damaged row shows no agents rather
            // than hiding the fault.
            agents: serde_json::from_str(&agents).unwrap_or_default(),
            settled: true,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn boot_spans(conn: &Connection) -> Result<Vec<StoredSpan>, StoreError> {
    // One pass over the primary-key index (agent_id, boot_id, sequence), which covers the
    // query: no report body is read, so this stays a matter of seconds with months stored.
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, boot_id, MIN(sequence), MAX(sequence), COUNT(*)
         FROM reports GROUP BY agent_id, boot_id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(StoredSpan {
            agent_id: row.get(0)?,
            boot_id: row.get(1)?,
            span: BootSpan {
                min: row.get::<_, i64>(2)? as u64,
                max: row.get::<_, i64>(3)? as u64,
                count: row.get::<_, i64>(4)? as u64,
            },
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn start_run(conn: &mut Connection, now: i64) -> Result<i64, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let crashed = tx.execute(
        "UPDATE collector_runs SET stopped_unix_ms = last_heartbeat_unix_ms, clean = 0
         WHERE stopped_unix_ms IS NULL",
        [],
    )?;
    if crashed > 0 {
        tracing::warn!(
            runs = crashed,
            "the previous collector run did not stop cleanly; recorded as ended at its last heartbeat"
        );
    }
    tx.execute(
        "INSERT INTO collector_runs (started_unix_ms, last_heartbeat_unix_ms) VALUES (?1, ?1)",
        params![now],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(id)
}

fn collector_runs(conn: &Connection) -> Result<Vec<CollectorRun>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, started_unix_ms, last_heartbeat_unix_ms, stopped_unix_ms, clean
         FROM collector_runs ORDER BY id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(CollectorRun {
            id: row.get(0)?,
            started_unix_ms: row.get(1)?,
            last_heartbeat_unix_ms: row.get(2)?,
            stopped_unix_ms: row.get(3)?,
            clean: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn insert_listening(
    conn: &mut Connection,
    periods: &[ListeningPeriod],
) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut new = 0;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO imported_listening
             (start_unix_ms, end_unix_ms, source, imported_unix_ms) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for p in periods {
            new += stmt.execute(params![
                p.start_unix_ms,
                p.end_unix_ms,
                p.source,
                p.imported_unix_ms
            ])?;
        }
    }
    tx.commit()?;
    Ok(new)
}

fn listening_periods(conn: &Connection) -> Result<Vec<ListeningPeriod>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT start_unix_ms, end_unix_ms, source, imported_unix_ms
         FROM imported_listening ORDER BY start_unix_ms, end_unix_ms",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(ListeningPeriod {
            start_unix_ms: row.get(0)?,
            end_unix_ms: row.get(1)?,
            source: row.get(2)?,
            imported_unix_ms: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn count_reports(conn: &Connection) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .query_row("SELECT COUNT(*) FROM reports", [], |r| r.get(0))
        .optional()?;
    Ok(n.unwrap_or(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(agent: &str, seq: u64, received_ms: i64) -> StoredReport {
        StoredReport {
            agent_id: agent.into(),
            boot_id: "boot".into(),
            sequence: seq,
            agent_timestamp_ms: 1_700_000_000_000,
            received_ms,
            body: vec![1, 2, 3],
            link_data: true,
        }
    }

    #[tokio::test]
    async fn insert_is_idempotent_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/z.db");
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store.insert(report("a", 1, 10)).await.unwrap(),
            InsertOutcome::Stored
        );
        assert_eq!(
            store.insert(report("a", 1, 20)).await.unwrap(),
            InsertOutcome::Duplicate
        );
        store.insert(report("a", 2, 30)).await.unwrap();
        store.insert(report("b", u64::MAX, 5)).await.unwrap();
        assert_eq!(store.count_reports().await.unwrap(), 3);
        store.close().await;
        assert!(matches!(
            store.count_reports().await,
            Err(StoreError::Closed)
        ));

        // Reopening runs the migrations again: they must be a no-op.
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.count_reports().await.unwrap(), 3);
        let latest = store.newest_per_boot().await.unwrap();
        assert_eq!(latest.len(), 2);
        assert_eq!((latest[0].agent_id.as_str(), latest[0].sequence), ("a", 2));
        assert_eq!(
            (latest[1].agent_id.as_str(), latest[1].sequence),
            ("b", u64::MAX)
        );
    }

    #[tokio::test]
    async fn concurrent_inserts_are_batched_and_all_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..200u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .insert(report(&format!("h{}", i % 7), i, i as i64))
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), InsertOutcome::Stored);
        }
        assert_eq!(store.count_reports().await.unwrap(), 200);
        assert_eq!(store.newest_per_boot().await.unwrap().len(), 7);
    }

    #[tokio::test]
    async fn newest_per_boot_is_the_highest_sequence_not_the_last_received() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        let store = SqliteStore::open(&path).await.unwrap();
        // Live report 100 first, backlog 90..=99 after it; an earlier boot; another agent.
        store.insert(report("a", 100, 1_000)).await.unwrap();
        for seq in 90..=99 {
            store
                .insert(report("a", seq, 1_000 + seq as i64 - 89))
                .await
                .unwrap();
        }
        for seq in [85, 89] {
            let mut r = report("a", seq, 2_000 + seq as i64);
            r.boot_id = "boot0".into();
            store.insert(r).await.unwrap();
        }
        store.insert(report("b", 3, 500)).await.unwrap();
        let newest: Vec<_> = store
            .newest_per_boot()
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.agent_id, r.boot_id, r.sequence, r.received_ms))
            .collect();
        let want = [
            ("a", "boot", 100, 1_000),
            ("a", "boot0", 89, 2_089),
            ("b", "boot", 3, 500),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(a, b, s, t)| (a.to_string(), b.to_string(), *s, *t))
            .collect();
        assert_eq!(newest, want);
        store.close().await;

        // Each step seeks in the primary-key index instead of scanning the reports.
        let conn = Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {NEWEST_PER_BOOT}"))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map([], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("(agent_id,boot_id)>(?,?)"), "{plan}");
        assert!(plan.contains("(agent_id=? AND boot_id=?)"), "{plan}");
    }

    fn fault(link: &str, start: i64, end: i64) -> Fault {
        Fault {
            link_id: link.into(),
            level: "city-county".into(),
            domain: "public".into(),
            start_unix_ms: start,
            end_unix_ms: Some(end),
            duration_ms: end - start,
            agents: vec!["a".into(), "b".into()],
            settled: true,
        }
    }

    #[tokio::test]
    async fn faults_are_stored_once_even_when_seen_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
        let new = store
            .insert_faults(vec![fault("l1", 1_000, 90_000), fault("l2", 1_000, 90_000)])
            .await
            .unwrap();
        assert_eq!(new, 2);
        // The same fault again, and cut at a replay horizon: not new.
        let again = store
            .insert_faults(vec![
                fault("l1", 1_000, 90_000),
                fault("l1", 30_000, 90_000),
            ])
            .await
            .unwrap();
        assert_eq!(again, 0);
        store
            .insert_faults(vec![fault("l1", 200_000, 300_000)])
            .await
            .unwrap();
        let all = store.faults(None).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], fault("l1", 1_000, 90_000));
        let l1 = store.faults(Some("l1".into())).await.unwrap();
        assert_eq!(
            l1.iter().map(|f| f.start_unix_ms).collect::<Vec<_>>(),
            [1_000, 200_000]
        );
        let mut open = fault("l3", 1, 2);
        open.end_unix_ms = None;
        assert!(matches!(
            store.insert_faults(vec![open]).await,
            Err(StoreError::OpenFault { .. })
        ));
    }

    #[tokio::test]
    async fn scan_reports_pages_in_key_order_from_a_receive_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
        for (agent, seq, received) in [
            ("b", 2, 30),
            ("a", 10, 20),
            ("a", 9, 5),
            ("b", 1, 40),
            ("a", 11, 50),
        ] {
            store.insert(report(agent, seq, received)).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut after = None;
        for _ in 0..10 {
            let page = store.scan_reports(10, after.clone(), 2).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(ReportKey::of(last));
            seen.extend(page.iter().map(|r| (r.agent_id.clone(), r.sequence)));
        }
        // ("a", 9) was received before 10: left out.
        let expected: Vec<(String, u64)> = [("a", 10), ("a", 11), ("b", 1), ("b", 2)]
            .map(|(a, q)| (a.to_owned(), q))
            .to_vec();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn a_month_is_closed_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let month = |manifest: &str| ClosedMonth {
            month: "2026-10".into(),
            closed_unix_ms: 7,
            report_json: b"{}".to_vec(),
            manifest: manifest.into(),
        };
        assert!(store.close_month(month("first")).await.unwrap());
        assert!(!store.close_month(month("second")).await.unwrap());
        store.close().await;
        let store = SqliteStore::open(&path).await.unwrap();
        let got = store.closed_month("2026-10".into()).await.unwrap().unwrap();
        assert_eq!(got, month("first"));
        assert_eq!(store.closed_month("2026-11".into()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn reports_since_pages_in_receive_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
        // Received out of agent order, two at the same millisecond.
        for (agent, seq, received) in [
            ("b", 1, 10),
            ("a", 1, 20),
            ("a", 2, 20),
            ("b", 2, 30),
            ("a", 3, 5),
        ] {
            store.insert(report(agent, seq, received)).await.unwrap();
        }
        // Without link data: never replayed.
        let mut plain = report("c", 1, 25);
        plain.link_data = false;
        store.insert(plain).await.unwrap();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.reports_since(10, after, 2).await.unwrap();
            seen.extend(
                page.reports
                    .iter()
                    .map(|r| (r.agent_id.clone(), r.sequence)),
            );
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        let want: Vec<(String, u64)> = [("b", 1), ("a", 1), ("a", 2), ("b", 2)]
            .iter()
            .map(|(a, s)| (a.to_string(), *s))
            .collect();
        assert_eq!(seen, want);
    }

    #[tokio::test]
    async fn a_version_1_database_is_migrated_and_its_reports_are_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO reports VALUES ('a', 'b', 1, 10, 20, x'00');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).await.unwrap();
        let page = store.reports_since(0, None, 10).await.unwrap();
        assert_eq!(page.reports.len(), 1);
        assert!(store.faults(None).await.unwrap().is_empty());
        // The replay query reads the partial index, not every report.
        store.close().await;
        let conn = Connection::open(&path).unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT rowid FROM reports
                 WHERE link_data = 1 AND received_ms >= 0 AND (received_ms, rowid) > (0, 0)
                 ORDER BY received_ms, rowid LIMIT 10",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("reports_link_data"), "{plan}");
    }

    #[tokio::test]
    async fn boot_spans_and_collector_runs_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        let store = SqliteStore::open(&path).await.unwrap();
        for seq in [3, 4, 7] {
            store.insert(report("a", seq, 10)).await.unwrap();
        }
        let spans = store.boot_spans().await.unwrap();
        assert_eq!(
            spans,
            [StoredSpan {
                agent_id: "a".into(),
                boot_id: "boot".into(),
                span: BootSpan {
                    min: 3,
                    max: 7,
                    count: 3
                }
            }]
        );
        let first = store.start_run(1_000).await.unwrap();
        store.heartbeat_run(first, 11_000).await.unwrap();
        store.close().await;

        // The first run never stopped: a crash, closed at its last heartbeat.
        let store = SqliteStore::open(&path).await.unwrap();
        let second = store.start_run(50_000).await.unwrap();
        store.stop_run(second, 60_000).await.unwrap();
        let runs = store.collector_runs().await.unwrap();
        assert_eq!(
            runs,
            [
                CollectorRun {
                    id: first,
                    started_unix_ms: 1_000,
                    last_heartbeat_unix_ms: 11_000,
                    stopped_unix_ms: Some(11_000),
                    clean: false
                },
                CollectorRun {
                    id: second,
                    started_unix_ms: 50_000,
                    last_heartbeat_unix_ms: 60_000,
                    stopped_unix_ms: Some(60_000),
                    clean: true
                }
            ]
        );
    }

    #[tokio::test]
    async fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99;")
            .unwrap();
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
    }

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn side(path: &Path, suffix: &str) -> PathBuf {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    }

    /// A new database and its -wal and -shm are 0600 under the umask this test runs with;
    /// an existing one left 0644 (with its -wal and -shm, held open by another connection)
    /// is tightened at open. `db_files_are_0600_whatever_the_umask` runs this test again in
    /// child processes under umask 022 and 000.
    #[tokio::test]
    async fn db_files_are_0600() {
        // Printed so that the parent test can check which umask the child really had.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        println!("running with {umask}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/z.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store.insert(report("a", 1, 10)).await.unwrap();
        for p in [path.clone(), side(&path, "-wal"), side(&path, "-shm")] {
            assert_eq!(format!("{:o}", mode_of(&p)), "600", "{}", p.display());
        }
        store.close().await;

        // An older collector's database, 0644, open in WAL mode elsewhere so that its
        // -wal and -shm exist too.
        let old = dir.path().join("old.db");
        let other = Connection::open(&old).unwrap();
        other
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        for p in [old.clone(), side(&old, "-wal"), side(&old, "-shm")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let store = SqliteStore::open(&old).await.unwrap();
        for p in [old.clone(), side(&old, "-wal"), side(&old, "-shm")] {
            assert_eq!(format!("{:o}", mode_of(&p)), "600", "{}", p.display());
        }
        store.insert(report("a", 1, 10)).await.unwrap();
        store.close().await;
        drop(other);
    }

    /// Runs `db_files_are_0600` in child processes with umask 022 (the usual one, which
    /// made the files 0644) and 000 (the widest), so the modes cannot come from the umask.
    #[test]
    fn db_files_are_0600_whatever_the_umask() {
        let exe = std::env::current_exe().unwrap();
        for umask in ["022", "000"] {
            let out = std::process::Command::new("sh")
                .args(["-c", "umask \"$0\" && exec \"$@\"", umask])
                .arg(&exe)
                .args([
                    "store::sqlite::tests::db_files_are_0600",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "umask {umask}: {}\n{stdout}\n{stderr}",
                out.status
            );
            // libtest succeeds when the filter matches nothing: make sure the test ran,
            // under the umask asked for.
            assert!(stdout.contains("1 passed"), "umask {umask}: {stdout}");
            assert!(
                stdout.contains(&format!("Umask:\t0{umask}")),
                "umask {umask}: {stdout}"
            );
        }
    }
}
