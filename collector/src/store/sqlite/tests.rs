//! SQLite's own tests: group commit, migrations, query plans, file modes. The behaviour
//! every backend shares runs here too, from the contract suite (`store/contract.rs`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::Connection;

use super::SqliteStore;
use super::queries::NEWEST_PER_BOOT;
use super::schema::MIGRATIONS;
use crate::store::api::{BoxFuture, InsertOutcome, Store, StoreError};
use crate::store::contract::{Backend, insert_boots, report, spawn_inserts};

/// A SQLite database in its own temporary directory, two levels down so that opening it
/// creates its directory too.
struct TempSqlite(tempfile::TempDir);

impl Backend for TempSqlite {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        Box::pin(async move {
            let path = self.0.path().join("sub/dir/z.db");
            Arc::new(SqliteStore::open(&path).await.unwrap()) as Arc<dyn Store>
        })
    }
}

/// The contract suite on SQLite.
mod contract {
    crate::store::contract::contract_tests!(super::TempSqlite(tempfile::tempdir().unwrap()));
}

#[tokio::test]
async fn concurrent_inserts_are_batched_and_all_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
    let tasks = spawn_inserts(&store, 200, 7);
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), InsertOutcome::Stored);
    }
    assert_eq!(store.count_reports().await.unwrap(), 200);
    assert_eq!(store.newest_per_boot().await.unwrap().len(), 7);
}

#[tokio::test]
async fn newest_per_boot_seeks_in_the_primary_key_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.db");
    let store = SqliteStore::open(&path).await.unwrap();
    // The data of the contract's `newest_per_boot` case, so the plan is read on a table with
    // rows in two boots and two agents, as it was before that case moved to the contract.
    insert_boots(&store).await;
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
    // The lease holder's refresh reads the recent rows by their index, not every report.
    let plan: Vec<String> = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            super::shared::NEWEST_KEYS_SQL
        ))
        .unwrap()
        .query_map(rusqlite::params![0, 10], |r| r.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|step| step.contains("SEARCH reports USING INDEX reports_received")),
        "{plan:?}"
    );
}

/// A run left unclosed by a collector from before runs had an instance (a crash, then the
/// upgrade) belongs to no instance: the first start closes it at its last heartbeat.
#[tokio::test]
async fn a_run_from_before_instances_is_closed_by_the_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.db");
    {
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..7] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 7;
             INSERT INTO collector_runs (id, started_unix_ms, last_heartbeat_unix_ms)
             VALUES (1, 1000, 5000);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let id = store.start_run("a".into(), 9_000).await.unwrap();
    let runs = store.instance_runs().await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].instance, "");
    assert_eq!(runs[0].run.stopped_unix_ms, Some(5_000));
    assert_eq!((runs[1].instance.as_str(), runs[1].run.id), ("a", id));
}

#[tokio::test]
async fn the_rollups_of_a_version_5_database_are_rebuilt_from_its_reports() {
    use crate::store::contract::real_report;
    const T: i64 = 1_800_000_000_000;
    let reports = [
        real_report("a", "x", 1, 30, T + 30_000, T + 30_040),
        real_report("a", "x", 2, 90_050, T + 90_050_000, T + 90_050_040),
        real_report("a", "y", 1, 20, T + 9_000_000, T + 9_000_040),
        real_report("b", "z", 7, 100, T, T + 1),
        // Undecodable: stored, not summarised (and no reason to refuse the upgrade).
        crate::store::contract::report("c", 1, T),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.db");
    {
        let conn = Connection::open(&path).unwrap();
        for m in &MIGRATIONS[..5] {
            conn.execute_batch(m).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 5;").unwrap();
        for r in &reports {
            conn.execute(
                "INSERT INTO reports
                 (agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
                rusqlite::params![
                    r.agent_id,
                    r.boot_id,
                    r.sequence as i64,
                    r.agent_timestamp_ms,
                    r.received_ms,
                    r.body
                ],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let got: Vec<_> = store
        .scan_buckets(i64::MIN, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.key.agent_id, b.key.boot_id, b.key.bucket, b.bucket))
        .collect();
    let want: Vec<_> = reports[..4]
        .iter()
        .map(|r| {
            let (bucket, summary) = r.rollup(&Default::default()).unwrap();
            (r.agent_id.clone(), r.boot_id.clone(), bucket, summary)
        })
        .collect();
    assert_eq!(got, want);
    store.close().await;
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

/// A database from before the buckets kept link windows (version 7, as for 8 and 9): opening it adds the
/// link windows of its stored reports with link data to their buckets, once, so that the
/// buckets are what storing those reports now makes.
#[tokio::test]
async fn the_link_windows_of_a_version_7_database_are_added_to_its_buckets() {
    use crate::store::contract::real_report;
    const T: i64 = 1_800_000_000_000;
    let mut with_link = real_report("a", "x", 2, 90, T + 90_000, T + 90_040);
    let mut decoded = with_link.decode().unwrap();
    decoded.links.push(zerofault_protocol::LinkResult {
        link_id: "l1".into(),
        window_start_unix_ms: T + 75_000,
        window_end_unix_ms: T + 90_000,
        first_probe_unix_ms: T + 75_500,
        last_probe_unix_ms: T + 89_500,
        probe_interval_ms: 1_000,
        sent: 15,
        received: 12,
        rtt_avg_seconds: 0.004,
        ..Default::default()
    });
    with_link.body = prost::Message::encode_to_vec(&decoded);
    with_link.link_data = true;
    let reports = [
        real_report("a", "x", 1, 30, T + 30_000, T + 30_040),
        with_link,
    ];

    // What the store keeps when it stores them now.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = SqliteStore::open(&fresh_dir.path().join("f.db"))
        .await
        .unwrap();
    for r in &reports {
        fresh.insert(r.clone()).await.unwrap();
    }
    let want = fresh.scan_buckets(i64::MIN, None, 100).await.unwrap();
    assert!(!want[0].bucket.links.is_empty());

    // A version 7 database: its buckets without link windows.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.db");
    {
        let conn = Connection::open(&path).unwrap();
        for m in &MIGRATIONS[..7] {
            conn.execute_batch(m).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 7;").unwrap();
        for r in &reports {
            conn.execute(
                "INSERT INTO reports
                 (agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    r.agent_id,
                    r.boot_id,
                    r.sequence as i64,
                    r.agent_timestamp_ms,
                    r.received_ms,
                    r.body,
                    r.link_data
                ],
            )
            .unwrap();
        }
        let mut old = std::collections::BTreeMap::new();
        for r in &reports {
            let (bucket, s) = r.rollup(&Default::default()).unwrap();
            old.entry(crate::rollup::BucketKey {
                agent_id: r.agent_id.clone(),
                boot_id: r.boot_id.clone(),
                bucket,
            })
            .or_insert_with(crate::rollup::HostBucket::default)
            .merge(&s.without_links());
        }
        super::rollups::add(&conn, old).unwrap();
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let got = store.scan_buckets(i64::MIN, None, 100).await.unwrap();
    assert_eq!(got, want);
    // Opened again: nothing is added twice.
    drop(store);
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.scan_buckets(i64::MIN, None, 100).await.unwrap(), want);
}

/// Retention gives the freed pages of a new (incremental auto-vacuum) file back to the file
/// system, up to its bound per call: not one page per call.
#[tokio::test]
async fn reclaim_gives_back_the_pages_retention_freed() {
    const T: i64 = 1_800_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.db");
    let store = SqliteStore::open(&path).await.unwrap();
    for seq in 1..=600u64 {
        let mut r = crate::store::contract::report("a", seq, T + seq as i64);
        // 8 KiB of (undecodable) body each: about 1,200 pages of reports in all.
        r.body = vec![0xA5; 8 << 10];
        store.insert(r).await.unwrap();
    }
    let mut after = None;
    loop {
        let page = store.retire_reports(T + 10_000, after, 200).await.unwrap();
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(
        store.count_reports().await.unwrap(),
        1,
        "the boot's newest stays"
    );
    let back = store.reclaim().await.unwrap();
    assert!(back >= 1_000 * 4096, "gave back only {back} bytes");
    store.close().await;
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size < 1 << 20,
        "the file is {size} bytes after giving the pages back"
    );
}
