//! The SQLite database on disk: opening it (file modes, WAL, durability) and its schema
//! migrations.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, TransactionBehavior};

use crate::rollup::Rebuild;
use crate::store::api::StoreError;

/// Schema migrations, applied in order; `PRAGMA user_version` holds how many are applied.
/// Never edit a released entry: append a new one.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // 6: host rollups (crate::rollup): one row per agent, boot and day of uptime, kept as
    // reports are stored, so the monthly report reads these instead of report bodies.
    // WITHOUT ROWID: rows are small and always reached by their key. Reports stored before
    // this migration are summarised into it when it is applied ([`REBUILT_AT`]).
    "CREATE TABLE host_buckets (
        agent_id        TEXT    NOT NULL,
        boot_id         TEXT    NOT NULL,
        bucket          INTEGER NOT NULL,
        received_max_ms INTEGER NOT NULL,
        body            BLOB    NOT NULL,
        PRIMARY KEY (agent_id, boot_id, bucket)
    ) WITHOUT ROWID;",
    // 7: retention (store::retention). The sequences of the report bodies it deleted, per
    // agent and boot, so that a replay of one is still a duplicate and the delivery ledger
    // still counts them; and the buckets by last receive time, to find the old ones.
    "CREATE TABLE retired_reports (
        agent_id TEXT    NOT NULL,
        boot_id  TEXT    NOT NULL,
        min_seq  INTEGER NOT NULL,
        max_seq  INTEGER NOT NULL,
        count    INTEGER NOT NULL,
        PRIMARY KEY (agent_id, boot_id)
    ) WITHOUT ROWID;
    CREATE INDEX host_buckets_received ON host_buckets (received_max_ms);",
    // 8: the instance that ran each collector run (docs/scale-out.md), so that a start closes
    // only its own instance's unclosed run. Runs recorded before have none (empty).
    "ALTER TABLE collector_runs ADD COLUMN instance TEXT NOT NULL DEFAULT '';",
    // 9: leases (Store::try_lease): one row per lease, the holder and until when. With one
    // collector on a SQLite file it always holds them; the table is the same as PostgreSQL's
    // so that the code and the contract tests are one.
    "CREATE TABLE leases (
        name            TEXT    PRIMARY KEY,
        holder          TEXT    NOT NULL,
        expires_unix_ms INTEGER NOT NULL
    );",
    // 10: link rollups (crate::rollup::links): buckets now also keep their agent's link
    // windows. The buckets of reports stored before are given the link windows of the
    // reports with link data still stored ([`LINKS_ADDED_AT`]; retention kept all of those
    // until this version), so that retention may now delete them. No schema change.
    "UPDATE host_buckets SET received_max_ms = received_max_ms WHERE 0;",
    // 11: the downsampled series (crate::series): one row per agent and hour (its coverage
    // and the host figures of its 5-minute slots, packed by crate::series::hour), and one per
    // link, hour and vantage point, so that both a host's and a link's series over a time
    // range are one range of a key. Rowid tables: a host's hour row may pass the ~1 KB a
    // WITHOUT ROWID row keeps in its page. The hour indexes serve retention.
    "CREATE TABLE series_1h (
        agent_id      TEXT    NOT NULL,
        hour_start_ms INTEGER NOT NULL,
        body          BLOB    NOT NULL,
        PRIMARY KEY (agent_id, hour_start_ms)
    );
    CREATE INDEX series_1h_hour ON series_1h (hour_start_ms);
    CREATE TABLE link_series_1h (
        link_id       TEXT    NOT NULL,
        hour_start_ms INTEGER NOT NULL,
        agent_id      TEXT    NOT NULL,
        body          BLOB    NOT NULL,
        PRIMARY KEY (link_id, hour_start_ms, agent_id)
    );
    CREATE INDEX link_series_1h_hour ON link_series_1h (hour_start_ms);",
    // 12: the security tables (store::security, issue 16): the audit log's hash chain and
    // its head (one row, read and moved in the transaction that appends, so that appends
    // from several processes form one chain), revoked agent identities, and enrollment
    // tokens (their SHA-256 only).
    "CREATE TABLE audit_log (
        seq      INTEGER PRIMARY KEY,
        at_ms    INTEGER NOT NULL,
        instance TEXT    NOT NULL,
        actor    TEXT    NOT NULL,
        source   TEXT    NOT NULL,
        event    TEXT    NOT NULL,
        outcome  TEXT    NOT NULL,
        details  TEXT    NOT NULL,
        alg      TEXT    NOT NULL,
        prev     TEXT    NOT NULL,
        hash     TEXT    NOT NULL
    );
    CREATE TABLE audit_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        hash TEXT    NOT NULL
    );
    INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
    CREATE TABLE revocations (
        agent_id   TEXT PRIMARY KEY,
        revoked_ms INTEGER NOT NULL,
        actor      TEXT    NOT NULL,
        reason     TEXT    NOT NULL,
        reinstated_ms INTEGER
    );
    CREATE TABLE enrollment_tokens (
        token_hash TEXT PRIMARY KEY,
        agent_id   TEXT    NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        used_ms    INTEGER,
        used_by    TEXT
    );",
    // 13: SLA adjustments (store::adjustments, issue 16): a period excluded after the fact,
    // its id the seq of its audit record (written in the same transaction), withdrawn by a
    // later record; never deleted.
    "CREATE TABLE sla_adjustments (
        id          INTEGER PRIMARY KEY,
        kind        TEXT    NOT NULL,
        code        TEXT    NOT NULL,
        start_ms    INTEGER NOT NULL,
        end_ms      INTEGER NOT NULL,
        reason      TEXT    NOT NULL,
        actor       TEXT    NOT NULL,
        created_ms  INTEGER NOT NULL,
        withdrawn_seq    INTEGER,
        withdrawn_actor  TEXT,
        withdrawn_ms     INTEGER,
        withdrawn_reason TEXT
    );
    CREATE INDEX sla_adjustments_start ON sla_adjustments (start_ms);",
    // 14: issue 17's capacity figures in the rollup samples (CPU steal, block devices'
    // busy time, inodes, clock synchronisation; crate::rollup::Sample). No schema change:
    // the samples of buckets made before are filled in from the reports still stored
    // ([`SAMPLES_FILLED_AT`]), so the month in progress has them from its start where the
    // agents sent them.
    "UPDATE host_buckets SET received_max_ms = received_max_ms WHERE 0;",
];

/// The migration (its 1-based version) whose table is filled from the reports already
/// stored when it is applied: the host rollups.
const REBUILT_AT: usize = 6;
/// The migration that adds the link windows of the stored reports to the buckets.
const LINKS_ADDED_AT: usize = 10;
/// The migration that fills issue 17's figures into the samples of the stored buckets.
const SAMPLES_FILLED_AT: usize = 14;

pub(super) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
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
    // Only takes effect on a new, empty file (before its first table): such a database gives
    // the pages retention frees back to the file system (`incremental_vacuum`). An older one
    // keeps them on its free list and reuses them, so it stops growing all the same.
    conn.execute_batch("PRAGMA auto_vacuum=INCREMENTAL;")?;
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
pub const DB_FILE_MODE: u32 = 0o600;

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
        if i + 1 == REBUILT_AT {
            let n = super::rollups::rebuild(&tx, Rebuild::Host)?;
            tracing::info!(
                reports = n,
                "summarised the stored reports into host rollups"
            );
        }
        if i + 1 == LINKS_ADDED_AT {
            let n = super::rollups::rebuild(&tx, Rebuild::Links)?;
            tracing::info!(reports = n, "added the stored link windows to the rollups");
        }
        if i + 1 == SAMPLES_FILLED_AT {
            let n = super::rollups::rebuild(&tx, Rebuild::Samples)?;
            tracing::info!(
                reports = n,
                "filled CPU steal, disks, inodes and clock into the rollups"
            );
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tracing::info!(version = i + 1, "applied database migration");
    }
    tx.commit()?;
    Ok(())
}
