//! `make-rollups DIR`: the synthetic month loaded into a SQLite store the way a collector
//! with retention would hold it: every report only as its rollups, host figures and link
//! windows alike (summarised by the collector's own `rollup::of_report` and merged into the
//! stored buckets by the store's rollup update, `Store::merge_buckets`). At province size
//! the bodies would not fit the disk; their rollups do.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use zerofault_collector::rollup::{self, BucketKey, HostBucket, StoredBucket};
use zerofault_collector::store::{SqliteStore, Store, StoredReport};
use zerofault_tests::month::{COLLECTOR_YAML, DAY, S};

use super::{Bench, DB_BEFORE, MONTH, PREVIOUS_MONTH, mib, secs};

/// Hosts whose buckets go to the store in one transaction.
const HOSTS_PER_MERGE: usize = 64;

/// `DIR` with the month's inventory and a collector config, the path of its (new) database
/// and a runtime: what `make-db` and `make-rollups` start from.
pub fn prepare(
    bench: &Bench,
    dir: &Path,
) -> anyhow::Result<(std::path::PathBuf, tokio::runtime::Runtime)> {
    std::fs::create_dir_all(dir)?;
    let db = dir.join("zerofault.db");
    anyhow::ensure!(!db.exists(), "{} exists already", db.display());
    std::fs::write(dir.join("inventory.yaml"), &bench.inventory_yaml)?;
    std::fs::write(dir.join("collector.yaml"), COLLECTOR_YAML)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok((db, runtime))
}

pub fn make_rollups(bench: &Bench, dir: &Path) -> anyhow::Result<()> {
    let (s, w) = (&bench.month, &bench.month.world);
    let (db, runtime) = prepare(bench, dir)?;
    // With ZF_BENCH_POSTGRES set: a private PostgreSQL (Debian's binaries, a temporary
    // directory, as the test harness starts it) instead of the SQLite file. It lives as long
    // as this process: once loaded, the process says so and waits for its standard input to
    // close, so that `report` can be run against `DIR/collector.yaml` meanwhile.
    let pg = std::env::var_os("ZF_BENCH_POSTGRES").is_some();
    let server = if pg {
        Some(zerofault_tests::postgres::PgServer::start(None)?)
    } else {
        None
    };
    runtime.block_on(async {
        let store: Arc<dyn Store> = match &server {
            Some(server) => {
                let url = server.create_database("month")?;
                std::fs::write(
                    dir.join("collector.yaml"),
                    format!(
                        "tls: {{ca: certs/ca.pem, cert: certs/collector.pem, key: certs/collector.key}}\n\
                         storage: {{postgres: {{url: '{url}', tls: {{mode: disable}}}}}}\n\
                         inventory: inventory.yaml\n"
                    ),
                )?;
                Arc::new(
                    zerofault_collector::store::PgStore::open(
                        &serde_saphyr::from_str(&format!(
                            "{{url: '{url}', tls: {{mode: disable}}}}"
                        ))?,
                    )
                    .await?,
                )
            }
            None => Arc::new(SqliteStore::open(&db).await?),
        };
        let started = Instant::now();
        let (mut summarised, mut linked, mut buckets) = (0u64, 0u64, 0u64);
        let mut pending: Vec<StoredBucket> = Vec::new();
        let (lo, hi) = (s.previous_start - DB_BEFORE, w.end + DAY);
        for i in 0..s.hosts {
            let h = s.host(i);
            let mut agent: BTreeMap<BucketKey, HostBucket> = BTreeMap::new();
            for m in h.made(&w.timing, lo, hi) {
                let Some(received) = m.received else { continue };
                let r = w.report(&h, &m);
                let (bucket, summary) = rollup::of_report(&r, received, &Default::default());
                agent
                    .entry(BucketKey {
                        agent_id: r.agent_id.clone(),
                        boot_id: r.boot_id.clone(),
                        bucket,
                    })
                    .or_default()
                    .merge(&summary);
                summarised += 1;
                linked += u64::from(!r.links.is_empty());
            }
            buckets += agent.len() as u64;
            pending.extend(
                agent
                    .into_iter()
                    .map(|(key, bucket)| StoredBucket { key, bucket }),
            );
            if (i + 1) % HOSTS_PER_MERGE == 0 {
                store.merge_buckets(std::mem::take(&mut pending)).await?;
            }
            if (i + 1) % 1_000 == 0 {
                eprintln!(
                    "make-rollups: {} of {} hosts, {} s",
                    i + 1,
                    s.hosts,
                    secs(started.elapsed())
                );
            }
        }
        store.merge_buckets(pending).await?;
        record_runs(store.as_ref(), bench).await?;
        store.close().await;
        let took = started.elapsed();
        let size = std::fs::metadata(&db).map_or(0, |m| m.len())
            + std::fs::metadata(dir.join("zerofault.db-wal")).map_or(0, |m| m.len());
        println!(
            "make-rollups: {} hosts, {} links, {} s reports, {PREVIOUS_MONTH} and {MONTH}: {summarised} reports ({linked} with link data) summarised into {buckets} buckets, in {} s; database {} MiB",
            s.hosts,
            w.topology.links.len(),
            w.timing.interval / S,
            secs(took),
            mib(size)
        );
        anyhow::Ok(())
    })?;
    if let Some(server) = server {
        println!(
            "make-rollups: PostgreSQL ready on port {} for {}/collector.yaml; close standard input to stop it",
            server.port(),
            dir.display()
        );
        std::io::copy(&mut std::io::stdin(), &mut std::io::sink())?;
        drop(server);
    }
    Ok(())
}

/// Stores `rows` concurrently, so that the store's group commit batches them.
pub async fn insert_all(store: &Arc<SqliteStore>, rows: Vec<StoredReport>) -> anyhow::Result<u64> {
    let n = rows.len() as u64;
    let mut set = tokio::task::JoinSet::new();
    for row in rows {
        let store = store.clone();
        set.spawn(async move { store.insert(row).await });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(n)
}

/// The collector's runs of the synthetic month: before it until its outage on the 13th, and
/// from the outage's end until after the month (`make-db` and `make-rollups` alike).
pub async fn record_runs(store: &dyn Store, bench: &Bench) -> anyhow::Result<()> {
    let (s, w) = (&bench.month, &bench.month.world);
    let first = store.start_run("bench".into(), w.start - 10 * DAY).await?;
    store
        .heartbeat_run(first, s.collector_down.0 - 5 * S)
        .await?;
    store.stop_run(first, s.collector_down.0).await?;
    let second = store.start_run("bench".into(), s.collector_down.1).await?;
    store.heartbeat_run(second, w.end + 2 * DAY).await?;
    store.stop_run(second, w.end + 2 * DAY).await?;
    Ok(())
}
