//! `retire DIR`: one retention pass over a database that `make-db` wrote, as a running
//! collector's would run at the end of the retention time: every report body older than
//! `retention.raw_reports` (8 days) deleted in batches of `retention.batch_reports` (2,000),
//! each its own transaction (`Store::retire_reports`), then the old buckets, series and the
//! file's free pages. Prints the reports deleted per second and the longest batch: a report
//! write waits for at most one batch, so that is what retention can add to an ingest's
//! latency. Steady state deletes what arrived in one pass interval (10 minutes), so the pass
//! time of a collector taking R reports/s is about 600 R / (this rate).

use std::path::Path;
use std::time::{Duration, Instant};

use zerofault_collector::store::retention::Retention;
use zerofault_collector::store::{SqliteStore, Store};

use super::{Bench, secs};
use zerofault_tests::month::DAY;

pub fn retire(bench: &Bench, dir: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = dir.join("zerofault.db");
        let size_before = std::fs::metadata(&db)?.len();
        let store = SqliteStore::open(&db).await?;
        let before_count = store.count_reports().await?;
        let settings = Retention::default();
        // The month's end plus the retention time plus a day: every body of the two months
        // is past it (each boot's newest stays).
        let now = bench.month.world.end + settings.raw_reports.as_millis() as i64 + DAY;
        let before = now - settings.raw_reports.as_millis() as i64;
        let limit = settings.batch_reports as usize;
        let started = Instant::now();
        let (mut deleted, mut batches, mut longest) = (0u64, 0u64, Duration::ZERO);
        let mut cursor = None;
        loop {
            let t = Instant::now();
            let page = store.retire_reports(before, cursor, limit).await?;
            longest = longest.max(t.elapsed());
            deleted += page.deleted;
            batches += 1;
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        let retired = started.elapsed();
        let mut rest_cursor = cursor;
        let t = Instant::now();
        // The rest of a pass (buckets, series, free pages), as `retention::pass` does it.
        let rest = zerofault_collector::store::retention::pass(
            &store,
            &settings,
            now,
            &mut rest_cursor,
        )
        .await?;
        let rest_took = t.elapsed();
        let after_count = store.count_reports().await?;
        store.close().await;
        let size_after = std::fs::metadata(&db)?.len();
        println!(
            "retire: {before_count} reports, {deleted} deleted in {batches} batches of {limit} in {} s ({:.0} reports/s), longest batch {} ms; then buckets {} series {} and {} MiB of free pages given back in {} s; {after_count} reports left (each boot's newest); file {} -> {} MiB",
            secs(retired),
            deleted as f64 / retired.as_secs_f64(),
            longest.as_millis(),
            rest.buckets,
            rest.series,
            rest.reclaimed_bytes >> 20,
            secs(rest_took),
            size_before >> 20,
            size_after >> 20,
        );
        anyhow::Ok(())
    })
}
