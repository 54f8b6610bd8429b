//! Writing the complete slots (`flush`), and rebuilding at start-up what a crashed run held
//! in memory (`rebuild`). See the module docs of `crate::series` for why this is exact.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::accumulator::{Accumulator, GRACE_MS};
use super::slot::{Merged, SLOT_MS, SeriesKey, SeriesSlot};
use crate::store::api::{CollectorRun, HEARTBEAT, MAX_SERIES_ROWS, Store, StoreError};

/// Time between two flushes. A complete slot waits at most this long in memory.
pub const FLUSH_EVERY: Duration = Duration::from_secs(15);
/// The longest a report stays in memory before a flush writes it: the rest of its slot,
/// the grace, one flush period, and a minute for a write that failed and was retried.
pub const HELD_MS: i64 = SLOT_MS + GRACE_MS + FLUSH_EVERY.as_millis() as i64 + 60_000;
/// Reports read per page by the rebuild.
const REBUILD_PAGE: usize = 1_000;
/// How far back the rebuild looks for crashed runs of this instance: a crash found while
/// the rebuild of an earlier one was still waiting is rebuilt at the next start.
const CRASHES_LOOKED_AT: usize = 8;
const CRASH_HORIZON_MS: i64 = 86_400_000;

/// What one flush wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Slots written.
    pub slots: usize,
    /// What the merges left out or found overlapping.
    pub merged: Merged,
}

/// Writes `batch` in transactions of at most [`MAX_SERIES_ROWS`] slots. A failed write puts
/// its slots and the ones after it back into `acc` for the next flush.
async fn write(
    store: &dyn Store,
    acc: &Accumulator,
    mut batch: Vec<(SeriesKey, SeriesSlot)>,
) -> Result<Flushed, StoreError> {
    let mut out = Flushed::default();
    while !batch.is_empty() {
        let rest = batch.split_off(batch.len().min(MAX_SERIES_ROWS));
        let n = batch.len();
        match store.merge_series(batch.clone()).await {
            Ok(merged) => {
                out.slots += n;
                out.merged.add(merged);
                batch = rest;
            }
            Err(e) => {
                acc.restore(batch);
                acc.restore(rest);
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Writes the slots complete at `now_ms`.
pub async fn flush(
    store: &dyn Store,
    acc: &Accumulator,
    now_ms: i64,
) -> Result<Flushed, StoreError> {
    write(store, acc, acc.take_complete(now_ms)).await
}

/// Writes every open slot, complete or not: at a clean stop, so that the next start has
/// nothing to rebuild. A slot written early gets the rest of its reports as a later merge.
pub async fn flush_all(store: &dyn Store, acc: &Accumulator) -> Result<Flushed, StoreError> {
    write(store, acc, acc.take_all()).await
}

/// Flushes every [`FLUSH_EVERY`], or sooner when the accumulator is crowded; runs until
/// aborted.
pub async fn run(store: Arc<dyn Store>, acc: Arc<Accumulator>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = acc.crowded() => {}
        }
        let now = zerofault_common::now_unix_ms();
        match flush(store.as_ref(), &acc, now).await {
            Ok(done) => {
                if done.merged.overlapped > 0 {
                    tracing::warn!(
                        slots = done.merged.overlapped,
                        "series slots merged with a piece holding some of the same reports (two collectors held them); those reports count twice there"
                    );
                }
                if done.merged.capped > 0 {
                    tracing::warn!(
                        figures = done.merged.capped,
                        "series figures left out: a slot reached its filesystem or link cap"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, open = acc.len(), "cannot write the series; kept in memory for the next flush")
            }
        }
        let dropped = acc.take_dropped();
        if dropped > 0 {
            tracing::warn!(
                reports = dropped,
                "reports left out of the series: too many open slots, or a slot's coverage full"
            );
        }
    }
}

/// A span of receive times whose reports a crashed run may have held in memory only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First receive time, ms.
    pub from_ms: i64,
    /// End (exclusive), ms.
    pub to_ms: i64,
}

/// The windows to rebuild at a start at `started_ms`: for each crashed run of this instance
/// (no clean stop) in the last day, the reports received from [`HELD_MS`] before its last
/// heartbeat to one heartbeat period after it (when it died), never past this start.
/// `runs` are this instance's runs before the current one.
pub fn windows(runs: &[CollectorRun], started_ms: i64) -> Vec<Window> {
    let mut crashed: Vec<&CollectorRun> = runs
        .iter()
        .filter(|r| !r.clean && r.last_heartbeat_unix_ms >= started_ms - CRASH_HORIZON_MS)
        .collect();
    crashed.sort_by_key(|r| std::cmp::Reverse(r.id));
    crashed.truncate(CRASHES_LOOKED_AT);
    let mut out: Vec<Window> = crashed
        .iter()
        .map(|r| Window {
            from_ms: r.last_heartbeat_unix_ms.saturating_sub(HELD_MS),
            to_ms: (r.last_heartbeat_unix_ms + HEARTBEAT.as_millis() as i64 + 1_000)
                .min(started_ms),
        })
        .filter(|w| w.from_ms < w.to_ms)
        .collect();
    out.sort_by_key(|w| w.from_ms);
    out
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Reports read.
    pub reports: u64,
    /// Of them, added to the accumulator: in no stored slot yet.
    pub added: u64,
}

/// Adds to `acc` the reports received in `window` that no stored row holds: what a crashed
/// run had in memory. A report its stored hour row already holds (its coverage says so) is
/// skipped, so rebuilding twice, or a window another collector's flushes cover, counts
/// nothing twice.
pub async fn rebuild(
    store: &dyn Store,
    acc: &Accumulator,
    window: Window,
) -> Result<Rebuilt, StoreError> {
    let mut out = Rebuilt::default();
    let mut after = None;
    loop {
        let page = store
            .reports_received(window.from_ms, window.to_ms, after, REBUILD_PAGE)
            .await?;
        let pieces: Vec<(SeriesKey, SeriesSlot)> = page
            .reports
            .iter()
            .filter_map(|r| {
                r.decode()
                    .map(|report| SeriesSlot::of_report(&report, r.received_ms))
            })
            .collect();
        out.reports += page.reports.len() as u64;
        let keys: BTreeSet<SeriesKey> = pieces.iter().map(|(k, _)| k.clone()).collect();
        let keys: Vec<SeriesKey> = keys.into_iter().collect();
        let mut stored: HashMap<SeriesKey, SeriesSlot> = HashMap::new();
        for chunk in keys.chunks(MAX_SERIES_ROWS) {
            for (key, coverage) in store.series_coverage(chunk.to_vec()).await? {
                let mut slot = SeriesSlot::default();
                slot.host.coverage = coverage;
                stored.insert(key, slot);
            }
        }
        for (key, piece) in pieces {
            if stored.get(&key).is_some_and(|s| s.covers(&piece)) {
                continue;
            }
            if acc.add(key, piece) {
                out.added += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
        tokio::task::yield_now().await;
    }
}

/// Rebuilds the windows of this instance's crashed runs (`runs`: its runs before the
/// current one, which started at `started_ms`). Each window waits until [`HELD_MS`] after
/// its end, so that any other collector that received reports in it has written them (and
/// their coverage) first; only what is then still in no slot is what the crash lost.
pub async fn rebuild_after_crashes(
    store: Arc<dyn Store>,
    acc: Arc<Accumulator>,
    runs: Vec<CollectorRun>,
    started_ms: i64,
) {
    for window in windows(&runs, started_ms) {
        let wait = window.to_ms + HELD_MS - zerofault_common::now_unix_ms();
        if wait > 0 {
            tracing::info!(
                wait_s = wait / 1000,
                "series of the crashed run are rebuilt once the other collectors have written theirs"
            );
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        match rebuild(store.as_ref(), &acc, window).await {
            Ok(done) => tracing::info!(
                reports = done.reports,
                added = done.added,
                from_ms = window.from_ms,
                to_ms = window.to_ms,
                "series rebuilt from the stored reports of a crashed run"
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot rebuild the series of a crashed run; its last minutes stay missing from them")
            }
        }
    }
}

/// The series tasks of a running collector: the flush loop, and the rebuild of this
/// instance's crashed runs (`run_id` is the current run, started at `started_ms`).
#[derive(Debug)]
pub struct Tasks {
    flush: tokio::task::JoinHandle<()>,
    rebuild: tokio::task::JoinHandle<()>,
}

impl Tasks {
    /// Starts both. A store that cannot list the runs means no rebuild (logged): the series
    /// then miss what a crash lost, nothing else.
    pub async fn start(
        store: Arc<dyn Store>,
        acc: Arc<Accumulator>,
        instance: &str,
        run_id: i64,
        started_ms: i64,
    ) -> Tasks {
        let runs: Vec<CollectorRun> = match store.instance_runs().await {
            Ok(runs) => runs
                .into_iter()
                .filter(|r| r.instance == instance && r.run.id != run_id)
                .map(|r| r.run)
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the collector runs; the series of a crashed run are not rebuilt");
                Vec::new()
            }
        };
        Tasks {
            flush: tokio::spawn(run(store.clone(), acc.clone())),
            rebuild: tokio::spawn(rebuild_after_crashes(store, acc, runs, started_ms)),
        }
    }

    /// Stops both and writes every open slot: after ingest drained, before the run is
    /// recorded as stopped cleanly.
    pub async fn stop(self, store: &dyn Store, acc: &Accumulator) {
        self.flush.abort();
        self.rebuild.abort();
        let _ = self.flush.await;
        let _ = self.rebuild.await;
        match flush_all(store, acc).await {
            Ok(done) => tracing::info!(slots = done.slots, "series written"),
            Err(e) => {
                tracing::error!(error = %e, "cannot write the open series slots at stop; their reports are missing from the series")
            }
        }
    }
}
