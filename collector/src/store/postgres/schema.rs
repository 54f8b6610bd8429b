//! The PostgreSQL schema and its migrations.
//!
//! Plain SQL only (docs/scale-out.md lists every feature used), so that the schema can be
//! carried to PostgreSQL-compatible distributed databases:
//!
//! - every table that grows with the fleet is keyed by the agent (`reports`) or the link
//!   (`link_faults`) first, the column such a database distributes by; the small tables
//!   (`collector_runs`, `closed_months`, `imported_listening`) would be reference tables;
//! - time columns are plain `BIGINT` milliseconds, indexed, for partitioning by time;
//! - row numbers come from explicit sequences (`DEFAULT nextval(...)`), the oldest form of
//!   generated keys that these databases share, rather than identity columns;
//! - text keys are `COLLATE "C"`: byte order, as SQLite's, so the backends sort agents the
//!   same way and a keyset page never depends on the server's locale;
//! - no advisory locks: migrations are serialised by a row lock on the one row of
//!   `zerofault_schema` (a lease row), which every collector starting at once waits on.

use tokio_postgres::error::SqlState;

use crate::rollup::Rebuild;
use crate::store::api::StoreError;

/// Schema migrations, applied in order; `zerofault_schema.version` holds how many are
/// applied. Never edit a released entry: append a new one. (Numbered on their own, not as
/// SQLite's: this backend started with the schema SQLite reached in five steps.)
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the whole schema of SQLite's migrations 1-5.
    //
    // reports: keyed by (agent, boot, sequence), the idempotence key of ingest (a resend,
    // also to another collector, is `ON CONFLICT DO NOTHING`). `row_order` numbers rows in
    // the order they were stored, for the start-up replay (see `reports_since`); on SQLite
    // that is the rowid. No index on (agent_id, received_ms) as SQLite has: no query reads
    // by it, and every index is paid on each of thousands of inserts a second.
    r#"CREATE SEQUENCE reports_row_order;
    CREATE TABLE reports (
        agent_id           TEXT COLLATE "C" NOT NULL,
        boot_id            TEXT COLLATE "C" NOT NULL,
        sequence           BIGINT  NOT NULL,
        agent_timestamp_ms BIGINT  NOT NULL,
        received_ms        BIGINT  NOT NULL,
        body               BYTEA   NOT NULL,
        link_data          BOOLEAN NOT NULL,
        row_order          BIGINT  NOT NULL DEFAULT nextval('reports_row_order'),
        PRIMARY KEY (agent_id, boot_id, sequence)
    );
    -- Time-range scans across all agents (SLA months, retention).
    CREATE INDEX reports_received ON reports (received_ms);
    -- The start-up replay: reports with link windows or interface transitions only.
    CREATE INDEX reports_link_data ON reports (received_ms, row_order) WHERE link_data;

    -- Closed link faults, keyed by (link, start) so that a replay cannot store one twice;
    -- `agents` is a JSON array of agent ids (text: no JSON type needed).
    CREATE TABLE link_faults (
        link_id       TEXT COLLATE "C" NOT NULL,
        level         TEXT   NOT NULL,
        domain        TEXT   NOT NULL,
        start_unix_ms BIGINT NOT NULL,
        end_unix_ms   BIGINT NOT NULL,
        duration_ms   BIGINT NOT NULL,
        agents        TEXT   NOT NULL,
        PRIMARY KEY (link_id, start_unix_ms)
    );
    CREATE INDEX link_faults_start ON link_faults (start_unix_ms);

    -- Runs of the collector; `stopped_unix_ms` NULL while running.
    CREATE SEQUENCE collector_runs_id;
    CREATE TABLE collector_runs (
        id                     BIGINT  PRIMARY KEY DEFAULT nextval('collector_runs_id'),
        started_unix_ms        BIGINT  NOT NULL,
        last_heartbeat_unix_ms BIGINT  NOT NULL,
        stopped_unix_ms        BIGINT,
        clean                  BOOLEAN NOT NULL DEFAULT FALSE
    );

    -- Closed months: the frozen report (JSON) as signed and the signed manifest. The primary
    -- key closes a month once, whichever collector tries first.
    CREATE TABLE closed_months (
        month          TEXT   PRIMARY KEY,
        closed_unix_ms BIGINT NOT NULL,
        report         BYTEA  NOT NULL,
        manifest       TEXT   NOT NULL
    );

    -- Listening periods inferred by `import`, keyed by their span.
    CREATE TABLE imported_listening (
        start_unix_ms    BIGINT NOT NULL,
        end_unix_ms      BIGINT NOT NULL,
        source           TEXT   NOT NULL,
        imported_unix_ms BIGINT NOT NULL,
        PRIMARY KEY (start_unix_ms, end_unix_ms)
    );"#,
    // 2: host rollups (crate::rollup, SQLite's migration 6): one row per agent, boot and hour
    // of uptime, added to in the transaction that stores a report. Keyed by agent first, as
    // `reports`. Reports stored before this migration are summarised into it when it is
    // applied ([`REBUILT_AT`]). The index serves retention, which deletes by last receive.
    r#"CREATE TABLE host_buckets (
        agent_id        TEXT COLLATE "C" NOT NULL,
        boot_id         TEXT COLLATE "C" NOT NULL,
        bucket          BIGINT NOT NULL,
        received_max_ms BIGINT NOT NULL,
        body            BYTEA  NOT NULL,
        PRIMARY KEY (agent_id, boot_id, bucket)
    );
    CREATE INDEX host_buckets_received ON host_buckets (received_max_ms);"#,
    // 3: retention (store::retention, SQLite's migration 7). `retired_reports`: per boot, the
    // sequences whose bodies retention deleted (lowest, highest, how many), so that a replay
    // stays a duplicate and the delivery ledger still counts them. `reports_received` becomes
    // (received_ms, row_order): retention pages in that order, as the replay does, and the
    // time-range scans are served by its first column as before.
    r#"CREATE TABLE retired_reports (
        agent_id TEXT COLLATE "C" NOT NULL,
        boot_id  TEXT COLLATE "C" NOT NULL,
        min_seq  BIGINT NOT NULL,
        max_seq  BIGINT NOT NULL,
        count    BIGINT NOT NULL,
        PRIMARY KEY (agent_id, boot_id)
    );
    CREATE INDEX reports_received_order ON reports (received_ms, row_order);
    DROP INDEX reports_received;"#,
    // 4: the instance that ran each collector run (SQLite's migration 8), so that a start
    // closes only its own instance's unclosed run. Runs recorded before have none (empty).
    r#"ALTER TABLE collector_runs ADD COLUMN instance TEXT NOT NULL DEFAULT '';"#,
    // 5: leases (Store::try_lease, SQLite's migration 9): one row per lease, the holder and
    // until when, taken and renewed by plain UPDATE and INSERT (no advisory locks), so that
    // one collector at a time does the deployment-wide work. A reference table.
    r#"CREATE TABLE leases (
        name            TEXT COLLATE "C" PRIMARY KEY,
        holder          TEXT   NOT NULL,
        expires_unix_ms BIGINT NOT NULL
    );"#,
    // 6: link rollups (crate::rollup::links): buckets now also keep their agent's link
    // windows. The buckets of reports stored before are given the link windows of the
    // reports with link data still stored ([`LINKS_ADDED_AT`]; retention kept all of those
    // until this version), so that retention may now delete them. No schema change.
    r#"UPDATE host_buckets SET received_max_ms = received_max_ms WHERE false;"#,
    // 7: the downsampled series (crate::series, SQLite's migration 11), one row per hour
    // holding its 5-minute slots, packed by crate::series::hour. `series_1h`: one row per
    // agent and hour, keyed by agent first (distributed with `reports`); `link_series_1h`:
    // one row per link, hour and vantage point, keyed by link first (distributed with
    // `link_faults`), so that a link's series over a time range is one range of its key.
    // The hour indexes serve retention.
    r#"CREATE TABLE series_1h (
        agent_id      TEXT COLLATE "C" NOT NULL,
        hour_start_ms BIGINT NOT NULL,
        body          BYTEA  NOT NULL,
        PRIMARY KEY (agent_id, hour_start_ms)
    );
    CREATE INDEX series_1h_hour ON series_1h (hour_start_ms);
    CREATE TABLE link_series_1h (
        link_id       TEXT COLLATE "C" NOT NULL,
        hour_start_ms BIGINT NOT NULL,
        agent_id      TEXT COLLATE "C" NOT NULL,
        body          BYTEA  NOT NULL,
        PRIMARY KEY (link_id, hour_start_ms, agent_id)
    );
    CREATE INDEX link_series_1h_hour ON link_series_1h (hour_start_ms);"#,
    // 8: the security tables (store::security, SQLite's migration 12): the audit chain and
    // its head (one row, locked FOR UPDATE by the transaction that appends, so that every
    // collector appends to one chain), revoked agent identities and enrollment tokens (their
    // SHA-256 only). Reference tables: small, read by every collector.
    r#"CREATE TABLE audit_log (
        seq      BIGINT PRIMARY KEY,
        at_ms    BIGINT NOT NULL,
        instance TEXT   NOT NULL,
        actor    TEXT   NOT NULL,
        source   TEXT   NOT NULL,
        event    TEXT   NOT NULL,
        outcome  TEXT   NOT NULL,
        details  TEXT   NOT NULL,
        alg      TEXT   NOT NULL,
        prev     TEXT   NOT NULL,
        hash     TEXT   NOT NULL
    );
    CREATE TABLE audit_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  BIGINT NOT NULL,
        hash TEXT   NOT NULL
    );
    INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
    CREATE TABLE revocations (
        agent_id   TEXT COLLATE "C" PRIMARY KEY,
        revoked_ms BIGINT NOT NULL,
        actor      TEXT   NOT NULL,
        reason     TEXT   NOT NULL,
        reinstated_ms BIGINT
    );
    CREATE TABLE enrollment_tokens (
        token_hash TEXT COLLATE "C" PRIMARY KEY,
        agent_id   TEXT   NOT NULL,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        used_ms    BIGINT,
        used_by    TEXT
    );"#,
    // 9: SLA adjustments (store::adjustments, SQLite's migration 13): a period excluded
    // after the fact, its id the seq of its audit record (written in the same transaction
    // under the audit head's lock), withdrawn by a later record; never deleted.
    r#"CREATE TABLE sla_adjustments (
        id          BIGINT PRIMARY KEY,
        kind        TEXT   NOT NULL,
        code        TEXT   NOT NULL,
        start_ms    BIGINT NOT NULL,
        end_ms      BIGINT NOT NULL,
        reason      TEXT   NOT NULL,
        actor       TEXT   NOT NULL,
        created_ms  BIGINT NOT NULL,
        withdrawn_seq    BIGINT,
        withdrawn_actor  TEXT,
        withdrawn_ms     BIGINT,
        withdrawn_reason TEXT
    );
    CREATE INDEX sla_adjustments_start ON sla_adjustments (start_ms);"#,
    // 10: issue 17's capacity figures in the rollup samples (CPU steal, block devices'
    // busy time, inodes, clock synchronisation; crate::rollup::Sample). No schema change:
    // the samples of buckets made before are filled in from the reports still stored
    // ([`SAMPLES_FILLED_AT`]), so the month in progress has them from its start where the
    // agents sent them.
    r#"UPDATE host_buckets SET received_max_ms = received_max_ms WHERE false;"#,
];

/// The migration (its 1-based version) whose table is filled from the reports already
/// stored when it is applied: the host rollups.
const REBUILT_AT: usize = 2;
/// The migration that adds the link windows of the stored reports to the buckets.
const LINKS_ADDED_AT: usize = 6;
/// The migration that fills issue 17's figures into the samples of the stored buckets.
const SAMPLES_FILLED_AT: usize = 10;

/// The version table: one row (`id` = 1), the lease row migrations lock.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS zerofault_schema (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
    )";

/// Applies pending migrations in one transaction (PostgreSQL's DDL is transactional, so a
/// crash never leaves a half-migrated schema). Collectors starting together on one database
/// queue on the version row's lock: the first migrates, the others then find nothing to do.
/// A schema newer than this build is refused untouched.
pub(super) async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    create_version_table(client).await?;
    client
        .execute(
            "INSERT INTO zerofault_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
            &[],
        )
        .await?;
    let tx = client.transaction().await?;
    let found: i32 = tx
        .query_one(
            "SELECT version FROM zerofault_schema WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await?
        .get(0);
    let supported = MIGRATIONS.len() as i64;
    if i64::from(found) > supported {
        return Err(StoreError::SchemaTooNew {
            found: found.into(),
            supported,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.batch_execute(sql).await?;
        if i + 1 == REBUILT_AT {
            let n = super::rollups::rebuild(&tx, Rebuild::Host).await?;
            tracing::info!(
                reports = n,
                "summarised the stored reports into host rollups"
            );
        }
        if i + 1 == LINKS_ADDED_AT {
            let n = super::rollups::rebuild(&tx, Rebuild::Links).await?;
            tracing::info!(reports = n, "added the stored link windows to the rollups");
        }
        if i + 1 == SAMPLES_FILLED_AT {
            let n = super::rollups::rebuild(&tx, Rebuild::Samples).await?;
            tracing::info!(
                reports = n,
                "filled CPU steal, disks, inodes and clock into the rollups"
            );
        }
        let version = i as i32 + 1;
        tx.execute(
            "UPDATE zerofault_schema SET version = $1 WHERE id = 1",
            &[&version],
        )
        .await?;
        tracing::info!(version, "applied database migration");
    }
    tx.commit().await?;
    Ok(())
}

/// `CREATE TABLE IF NOT EXISTS` is not safe against itself: when two sessions create the
/// table at once, the loser fails once the winner committed ("type ... already exists", or
/// a unique violation of the catalog). The table then exists, so one retry settles it.
async fn create_version_table(client: &tokio_postgres::Client) -> Result<(), StoreError> {
    match client.batch_execute(VERSION_TABLE).await {
        Err(e)
            if [
                SqlState::UNIQUE_VIOLATION,
                SqlState::DUPLICATE_TABLE,
                SqlState::DUPLICATE_OBJECT,
            ]
            .iter()
            .any(|code| e.code() == Some(code)) =>
        {
            client.batch_execute(VERSION_TABLE).await?;
            Ok(())
        }
        other => Ok(other?),
    }
}
