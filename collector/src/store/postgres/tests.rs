//! PostgreSQL's own tests, against a real server the harness starts
//! (`zerofault_tests::postgres`: one server per test process, a database per test): the
//! contract suite every backend passes, then what only this backend does (migrations by
//! several collectors at once, durability check, ingest shared by two stores, TLS).

use std::sync::{Arc, OnceLock};

use zerofault_tests::postgres::{PgServer, ServerTls};

use super::PgStore;
use super::settings::{DEFAULT_POOL_SIZE, Postgres, PostgresTls, TlsMode};
use crate::store::api::{BoxFuture, InsertOutcome, Store, StoreError};
use crate::store::contract::{Backend, report, spawn_inserts};

/// Settings for `url` without TLS (the test server listens on loopback only).
fn plain(url: &str) -> Postgres {
    Postgres {
        url: url.into(),
        pool_size: DEFAULT_POOL_SIZE,
        writers: None,
        tls: PostgresTls {
            mode: TlsMode::Disable,
            ..PostgresTls::default()
        },
    }
}

/// A new database on the shared server, made on first open; every open after that opens
/// the same database.
#[derive(Default)]
struct TempPg(OnceLock<String>);

impl TempPg {
    fn url(&self) -> &str {
        self.0.get_or_init(|| {
            PgServer::shared()
                .create_database("contract")
                .expect("create a test database")
        })
    }
}

impl Backend for TempPg {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        Box::pin(async move {
            Arc::new(PgStore::open(&plain(self.url())).await.unwrap()) as Arc<dyn Store>
        })
    }
}

/// The contract suite on PostgreSQL.
mod contract {
    crate::store::contract::contract_tests!(super::TempPg::default());
}

/// The name of the database in `url`.
fn db_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

#[tokio::test]
async fn concurrent_inserts_are_batched_and_all_acknowledged() {
    let store = Arc::new(
        PgStore::open(&plain(TempPg::default().url()))
            .await
            .unwrap(),
    );
    let tasks = spawn_inserts(&store, 300, 7);
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), InsertOutcome::Stored);
    }
    assert_eq!(store.count_reports().await.unwrap(), 300);
    assert_eq!(store.newest_per_boot().await.unwrap().len(), 7);
    store.close().await;
}

/// Three writers, closed while they are busy: every insert is answered, `stored` or refused
/// as closed (never left waiting), and exactly the stored ones are in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_writers_answer_every_insert_and_close_cleanly() {
    let pg = TempPg::default();
    let settings = Postgres {
        writers: Some(3),
        ..plain(pg.url())
    };
    let store = Arc::new(PgStore::open(&settings).await.unwrap());
    let tasks = spawn_inserts(&store, 2_000, 50);
    // Let some of them queue, then close while the writers are busy.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    store.close().await;
    let mut stored = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(InsertOutcome::Stored) => stored += 1,
            Ok(other) => panic!("{other:?}"),
            Err(StoreError::Closed) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(stored > 0, "nothing was stored before the close");
    let again = PgStore::open(&plain(pg.url())).await.unwrap();
    assert_eq!(again.count_reports().await.unwrap(), stored);
    again.close().await;
}

/// A report sent twice at once lands in one batch: one statement holds both rows, and only
/// the first is stored.
#[tokio::test]
async fn the_same_report_twice_in_one_batch_is_stored_once() {
    let store = Arc::new(
        PgStore::open(&plain(TempPg::default().url()))
            .await
            .unwrap(),
    );
    let (a, b, c) = tokio::join!(
        store.insert(report("a", 1, 10)),
        store.insert(report("a", 1, 11)),
        store.insert(report("a", 2, 12)),
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| o.as_str());
    assert_eq!(outcomes, [InsertOutcome::Duplicate, InsertOutcome::Stored]);
    assert_eq!(c.unwrap(), InsertOutcome::Stored);
    assert_eq!(store.count_reports().await.unwrap(), 2);
    store.close().await;
}

/// Two collectors on one database: an agent that resends to the other one after a lost
/// acknowledgement is told `duplicate` there, whichever got it first.
#[tokio::test]
async fn ingest_is_idempotent_across_two_stores_on_one_database() {
    let url = TempPg::default().url().to_owned();
    let (s1, s2) = (plain(&url), plain(&url));
    let (one, two) = tokio::join!(PgStore::open(&s1), PgStore::open(&s2));
    let (one, two) = (one.unwrap(), two.unwrap());
    for seq in 0..20 {
        let (a, b) = tokio::join!(
            one.insert(report("a", seq, 10)),
            two.insert(report("a", seq, 20))
        );
        let mut outcomes = [a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(|o| o.as_str());
        assert_eq!(
            outcomes,
            [InsertOutcome::Duplicate, InsertOutcome::Stored],
            "{seq}"
        );
    }
    assert_eq!(one.count_reports().await.unwrap(), 20);
    one.close().await;
    two.close().await;
}

/// Two collectors adding to the same rollup buckets at once: each bucket is read `FOR
/// UPDATE` before it is merged, so no collector's merge overwrites the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_adding_to_one_bucket_lose_no_report() {
    use crate::store::contract::real_report;
    const T: i64 = 1_800_000_000_000;
    let url = TempPg::default().url().to_owned();
    let (s1, s2) = (plain(&url), plain(&url));
    let (one, two) = tokio::join!(PgStore::open(&s1), PgStore::open(&s2));
    let stores = [Arc::new(one.unwrap()), Arc::new(two.unwrap())];
    let mut tasks = Vec::new();
    // 200 reports of one boot, all in its first two days of uptime, half through each
    // store, all at once (every batch of both writers touches the same two buckets); and
    // every report sent to both stores, so that half of the sends are duplicates.
    for seq in 1..=200u64 {
        for store in &stores {
            let store = store.clone();
            let up = seq * 800;
            tasks.push(tokio::spawn(async move {
                store
                    .insert(real_report("a", "x", seq, up, T + up as i64 * 1000, T + 5))
                    .await
                    .unwrap()
            }));
        }
    }
    let mut stored = 0;
    for t in tasks {
        if t.await.unwrap() == InsertOutcome::Stored {
            stored += 1;
        }
    }
    assert_eq!(stored, 200);
    let buckets = stores[0].scan_buckets(i64::MIN, None, 10).await.unwrap();
    let counts: Vec<u64> = buckets.iter().map(|b| b.bucket.reports).collect();
    assert_eq!(counts.iter().sum::<u64>(), 200, "{counts:?}");
    assert_eq!(buckets.len(), 2);
    for store in stores {
        store.close().await;
    }
}

/// A database made before the host rollups (schema version 1) with reports in it: the
/// migration that creates the bucket table fills it from them, in its transaction.
#[tokio::test]
async fn the_rollups_of_a_version_1_database_are_rebuilt_from_its_reports() {
    use crate::store::contract::real_report;
    const T: i64 = 1_800_000_000_000;
    let mut reports = vec![
        real_report("a", "x", 1, 30, T + 30_000, T + 30_040),
        real_report("a", "x", 2, 3_650, T + 3_650_000, T + 3_650_040),
        real_report("a", "y", 1, 20, T + 9_000_000, T + 9_000_040),
        real_report("b", "z", 7, 100, T, T + 1),
    ];
    // More than a page of the rebuild's reads, in one boot.
    for seq in 10..2_600u64 {
        reports.push(real_report("c", "w", seq, seq * 15, T + seq as i64, T + 7));
    }
    let url = TempPg::default().url().to_owned();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    client
        .batch_execute(super::schema::MIGRATIONS[0])
        .await
        .unwrap();
    client
        .batch_execute(
            "CREATE TABLE zerofault_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
             INSERT INTO zerofault_schema VALUES (1, 1);",
        )
        .await
        .unwrap();
    for r in &reports {
        client
            .execute(
                "INSERT INTO reports
                 (agent_id, boot_id, sequence, agent_timestamp_ms, received_ms, body, link_data)
                 VALUES ($1, $2, $3, $4, $5, $6, FALSE)",
                &[
                    &r.agent_id,
                    &r.boot_id,
                    &(r.sequence as i64),
                    &r.agent_timestamp_ms,
                    &r.received_ms,
                    &r.body,
                ],
            )
            .await
            .unwrap();
    }
    drop(client);
    conn.await.unwrap().unwrap();

    let store = PgStore::open(&plain(&url)).await.unwrap();
    let got: Vec<_> = store
        .scan_buckets(i64::MIN, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.key, b.bucket))
        .collect();
    let mut want: std::collections::BTreeMap<_, crate::rollup::HostBucket> = Default::default();
    for r in &reports {
        let (bucket, summary) = r.rollup(&Default::default()).unwrap();
        want.entry(crate::rollup::BucketKey {
            agent_id: r.agent_id.clone(),
            boot_id: r.boot_id.clone(),
            bucket,
        })
        .or_default()
        .merge(&summary);
    }
    assert_eq!(got, want.into_iter().collect::<Vec<_>>());
    store.close().await;
}

/// Collectors starting together on an empty database: one migrates, the others wait on the
/// version row and find the schema made.
#[tokio::test]
async fn collectors_starting_at_once_migrate_once() {
    let url = TempPg::default().url().to_owned();
    let opened = futures_join_all(
        (0..4)
            .map(|_| {
                let settings = plain(&url);
                tokio::spawn(async move { PgStore::open(&settings).await })
            })
            .collect(),
    )
    .await;
    for store in opened {
        store.close().await;
    }
    let version = PgServer::shared()
        .psql(db_of(&url), "SELECT version FROM zerofault_schema")
        .unwrap();
    assert_eq!(version.trim(), super::schema::MIGRATIONS.len().to_string());
}

async fn futures_join_all(
    tasks: Vec<tokio::task::JoinHandle<Result<PgStore, StoreError>>>,
) -> Vec<PgStore> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let url = TempPg::default().url().to_owned();
    PgStore::open(&plain(&url)).await.unwrap().close().await;
    PgServer::shared()
        .psql(db_of(&url), "UPDATE zerofault_schema SET version = 99")
        .unwrap();
    let err = PgStore::open(&plain(&url)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_database_whose_commits_are_not_durable_is_refused() {
    let url = TempPg::default().url().to_owned();
    let db = db_of(&url);
    PgServer::shared()
        .psql(
            "postgres",
            &format!("ALTER DATABASE {db} SET synchronous_commit = off"),
        )
        .unwrap();
    let err = PgStore::open(&plain(&url)).await.unwrap_err().to_string();
    assert!(err.contains("synchronous_commit is off"), "{err}");
    // The message names the database, never the URL's credentials.
    assert!(err.contains("127.0.0.1:"), "{err}");
    PgServer::shared()
        .psql(
            "postgres",
            &format!("ALTER DATABASE {db} SET synchronous_commit = local"),
        )
        .unwrap();
    PgStore::open(&plain(&url)).await.unwrap().close().await;
}

#[tokio::test]
async fn backup_names_postgresql_tools() {
    let store = PgStore::open(&plain(TempPg::default().url()))
        .await
        .unwrap();
    let err = store.backup("/nonexistent/copy".into()).await.unwrap_err();
    assert!(matches!(err, StoreError::Backup { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("pg_dump") && msg.contains("pg_basebackup"),
        "{msg}"
    );
    store.close().await;
}

/// `verify-full`: a server whose certificate chains to `tls.ca` and names the host is
/// accepted; the same server checked against another CA is refused, so the verification is
/// real and the connection cannot fall back to plain text.
#[tokio::test]
async fn tls_verify_full_checks_the_server_certificate() {
    let pki = zerofault_tests::pki::Pki::new();
    let tls = ServerTls {
        cert_pem: std::fs::read_to_string(pki.path("collector.pem")).unwrap(),
        key_pem: std::fs::read_to_string(pki.path("collector.key")).unwrap(),
    };
    let server = PgServer::start(Some(&tls)).unwrap();
    let url = server.create_database("tls").unwrap();
    let mut settings = plain(&url);
    settings.tls = PostgresTls {
        mode: TlsMode::VerifyFull,
        ca: Some(pki.path("ca.pem")),
        cert: None,
        key: None,
    };
    let store = PgStore::open(&settings).await.unwrap();
    store.insert(report("a", 1, 10)).await.unwrap();
    // The store's sessions, still open in its pool, are TLS sessions.
    let sessions = server
        .psql(
            db_of(&url),
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'zerofault-collector'",
        )
        .unwrap();
    assert!(!sessions.trim().is_empty(), "no session of the store");
    assert!(sessions.lines().all(|l| l == "t"), "{sessions}");
    store.close().await;

    // Another CA: the handshake fails, nothing falls back to plain text.
    let other = zerofault_tests::pki::Pki::new();
    settings.tls.ca = Some(other.path("ca.pem"));
    let err = PgStore::open(&settings).await.unwrap_err().to_string();
    assert!(err.contains("cannot open the database 127.0.0.1:"), "{err}");
    assert!(err.contains("certificate"), "{err}");
}

/// Inserts per second through the group commit: 500 agents at once (20,000 reports of 2 KiB)
/// on PostgreSQL and, for comparison, on SQLite, and one agent alone (one commit a report).
/// The bodies are real reports (a long hostname makes them 2 KiB), so every insert also adds
/// to its agent's rollup bucket. Figures in docs/benchmarks.md. Run:
/// `cargo test -p zerofault-collector --lib measure_group_commit -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand"]
async fn measure_group_commit_inserts_per_second() {
    /// A decodable report of about 2 KiB, 15 s of uptime after the previous one.
    fn sized_report(agent: &str, seq: u64) -> crate::store::StoredReport {
        use prost::Message;
        const T: i64 = 1_800_000_000_000;
        let at = T + 15_000 * seq as i64;
        let mut r = crate::store::contract::real_report(agent, "boot", seq, 15 * seq, at, at);
        let mut decoded = zerofault_protocol::Report::decode(r.body.as_slice()).unwrap();
        decoded.hostname = format!("{agent}.{}", "x".repeat(2_000));
        r.body = decoded.encode_to_vec();
        r
    }
    async fn concurrent(store: Arc<dyn Store>, label: &str) {
        let (agents, per_agent) = (500u64, 40u64);
        let start = std::time::Instant::now();
        let mut tasks = Vec::new();
        for agent in 0..agents {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for seq in 0..per_agent {
                    let r = sized_report(&format!("host-{agent:05}"), seq);
                    assert_eq!(store.insert(r).await.unwrap(), InsertOutcome::Stored);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let n = agents * per_agent;
        assert_eq!(store.count_reports().await.unwrap(), n);
        println!(
            "{label}, {agents} agents at once: {n} reports in {secs:.2} s = {:.0}/s",
            n as f64 / secs
        );
        store.close().await;
    }
    let pg = PgStore::open(&plain(TempPg::default().url()))
        .await
        .unwrap();
    concurrent(Arc::new(pg), "PostgreSQL").await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = crate::store::SqliteStore::open(&dir.path().join("z.db"))
        .await
        .unwrap();
    concurrent(Arc::new(sqlite), "SQLite").await;

    let pg = PgStore::open(&plain(TempPg::default().url()))
        .await
        .unwrap();
    let start = std::time::Instant::now();
    for seq in 0..2000u64 {
        pg.insert(sized_report("one", seq)).await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "PostgreSQL, one agent: 2000 reports in {secs:.2} s = {:.0}/s",
        2000.0 / secs
    );
    pg.close().await;
}
