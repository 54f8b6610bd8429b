//! Retention: how long the store keeps report bodies and host rollups (`retention.*` of the
//! collector's configuration), and the pass that deletes what is older, in bounded batches
//! between the report writes, so that ingest never waits long behind it.
//!
//! # What is kept, and why
//!
//! - **Report bodies** ([`DEFAULT_RAW_REPORTS`], 8 days): the monthly report reads the host
//!   rollups (`crate::rollup`), not the bodies, so a body is needed only while something
//!   could still change because of it: a backfill or a replay can only bring what an agent
//!   still holds in its spool, whose default bound holds 7 days of reports
//!   (`docs/agent.md`); a day more covers a collector that was itself down. Reports with
//!   link data go too (their windows are in the rollups, `crate::rollup::links`; the link
//!   engine's start-up replay, `links.replay`, reads 48 hours by default). Kept: the newest
//!   report of every boot (the host table is warmed from it at start-up).
//! - **Idempotency**: a deleted report's sequence is remembered per agent and boot as a
//!   range (`retired_reports`): a report at or below the highest retired sequence of its
//!   boot is answered "duplicate" and not stored again, so a replay is never stored twice
//!   however long after. (A report of such a boot that was never stored and arrives only
//!   after the retention is older than any agent's spool holds with the defaults; see
//!   `docs/sla-operations.md`.) The delivery ledger counts retired reports as stored.
//! - **Host rollups** ([`DEFAULT_ROLLUPS`], 400 days): 13 months and a margin, so that a
//!   month can be reported again for a year, and its previous month for storage growth.
//!   Closed months, faults and collector runs are small and kept.
//! - **Downsampled series** ([`DEFAULT_SERIES`], 40 days; `crate::series`): the 30-day
//!   charts of the cockpit and a margin; at least [`MIN_SERIES`], 35 days.
//!
//! SQLite frees the pages of deleted rows for reuse, so the file stops growing once the
//! deletions keep pace with the inserts; a database created by this version also gives
//! free pages back to the file system (`auto_vacuum = INCREMENTAL`, a bounded
//! `incremental_vacuum` after each pass).

use std::time::Duration;

use serde::Deserialize;

/// Default `retention.raw_reports`: 8 days.
pub const DEFAULT_RAW_REPORTS: Duration = Duration::from_secs(8 * 86_400);
/// Default `retention.rollups`: 400 days.
pub const DEFAULT_ROLLUPS: Duration = Duration::from_secs(400 * 86_400);
/// Default `retention.series`: 40 days, the 30-day charts and a margin.
pub const DEFAULT_SERIES: Duration = Duration::from_secs(40 * 86_400);
/// The shortest `retention.series` accepted: the 35 days of history the issue asks for
/// (a 30-day chart drawn on any day of a month).
pub const MIN_SERIES: Duration = Duration::from_secs(35 * 86_400);
/// Default `retention.interval`: a pass every 10 minutes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
/// Default `retention.batch_reports`: rows deleted per transaction.
pub const DEFAULT_BATCH_REPORTS: u32 = 2_000;
/// The shortest `retention.raw_reports` accepted: the 7 days the agents' default spool
/// holds. A report at or below a boot's highest deleted sequence is answered "duplicate"
/// (see the module docs), so a backlog still draining after its newest reports were
/// deleted would be lost; with bodies kept as long as a spool holds reports, it cannot be.
pub const MIN_RAW_REPORTS: Duration = Duration::from_secs(7 * 86_400);
/// The shortest `retention.rollups` accepted: the 35 days of history the pages draw.
pub const MIN_ROLLUPS: Duration = Duration::from_secs(35 * 86_400);

/// `retention.*`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Report bodies received longer ago than this are deleted (not the newest of each
    /// boot). At least `7d`; default `8d`.
    #[serde(
        default = "default_raw_reports",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub raw_reports: Duration,
    /// Host rollup buckets last received longer ago than this are deleted. At least `35d`;
    /// default `400d` (13 months and a margin).
    #[serde(
        default = "default_rollups",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub rollups: Duration,
    /// Downsampled series slots (`crate::series`) that started longer ago than this are
    /// deleted. At least `35d`; default `40d`.
    #[serde(
        default = "default_series",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub series: Duration,
    /// Time between two retention passes of a running collector; default `10m`.
    #[serde(
        default = "default_interval",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub interval: Duration,
    /// Rows deleted per transaction (1 to 100 000; default 2 000): the longest a report
    /// write waits behind the pass is one such transaction.
    #[serde(default = "default_batch_reports")]
    pub batch_reports: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw_reports: DEFAULT_RAW_REPORTS,
            rollups: DEFAULT_ROLLUPS,
            series: DEFAULT_SERIES,
            interval: DEFAULT_INTERVAL,
            batch_reports: DEFAULT_BATCH_REPORTS,
        }
    }
}

fn default_raw_reports() -> Duration {
    DEFAULT_RAW_REPORTS
}
fn default_rollups() -> Duration {
    DEFAULT_ROLLUPS
}
fn default_series() -> Duration {
    DEFAULT_SERIES
}
fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}
fn default_batch_reports() -> u32 {
    DEFAULT_BATCH_REPORTS
}

impl Retention {
    /// Every wrong value, each as (dotted key, message).
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.raw_reports < MIN_RAW_REPORTS {
            problem(
                "retention.raw_reports",
                "is shorter than 7d, the agents' default spool horizon: a backlog still arriving after its boot's newest reports were deleted would be taken for replays and lost; use 7d or more (default 8d)".into(),
            );
        }
        if self.rollups < MIN_ROLLUPS {
            problem(
                "retention.rollups",
                "is shorter than 35d, the history the pages draw; use 35d or more (default 400d, 13 months and a margin)".into(),
            );
        }
        if self.series < MIN_SERIES {
            problem(
                "retention.series",
                "is shorter than 35d, the history the cockpit's charts draw; use 35d or more (default 40d)".into(),
            );
        }
        if self.interval < Duration::from_secs(1) {
            problem(
                "retention.interval",
                "is shorter than 1s; use e.g. 10m (the default)".into(),
            );
        }
        if !(1..=100_000).contains(&self.batch_reports) {
            problem(
                "retention.batch_reports",
                format!(
                    "{} is out of range; use 1 to 100000 (default {DEFAULT_BATCH_REPORTS})",
                    self.batch_reports
                ),
            );
        }
    }
}

/// What one retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassOutcome {
    /// Report bodies deleted.
    pub reports: u64,
    /// Rollup buckets deleted.
    pub buckets: u64,
    /// Series rows deleted.
    pub series: u64,
    /// Bytes given back to the file system.
    pub reclaimed_bytes: u64,
}

/// Runs one retention pass at `now_ms`: every batch of reports, then of buckets, then gives
/// free space back. Between batches it yields, so that queued report writes go first.
/// `cursor` is where the last pass stopped in the reports (kept rows are not read again);
/// pass `None` now and then to look again at rows kept because they were the newest of
/// their boot.
pub async fn pass(
    store: &dyn super::Store,
    settings: &Retention,
    now_ms: i64,
    cursor: &mut Option<super::ReplayCursor>,
) -> Result<PassOutcome, super::StoreError> {
    let limit = settings.batch_reports as usize;
    let mut out = PassOutcome::default();
    let before = now_ms.saturating_sub(settings.raw_reports.as_millis() as i64);
    loop {
        let page = store.retire_reports(before, *cursor, limit).await?;
        out.reports += page.deleted;
        match page.next {
            Some(next) => *cursor = Some(next),
            None => break,
        }
        tokio::task::yield_now().await;
    }
    let before = now_ms.saturating_sub(settings.rollups.as_millis() as i64);
    loop {
        let n = store.delete_buckets(before, limit).await?;
        out.buckets += n as u64;
        if n < limit {
            break;
        }
        tokio::task::yield_now().await;
    }
    let before = now_ms.saturating_sub(settings.series.as_millis() as i64);
    loop {
        let n = store.delete_series(before, limit).await?;
        out.series += n as u64;
        if n < limit {
            break;
        }
        tokio::task::yield_now().await;
    }
    out.reclaimed_bytes = store.reclaim().await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_named() {
        let r = Retention {
            raw_reports: Duration::from_secs(3600),
            rollups: Duration::from_secs(86_400),
            series: Duration::from_secs(86_400),
            interval: Duration::ZERO,
            batch_reports: 0,
        };
        let mut keys = Vec::new();
        r.problems(&mut |k, _| keys.push(k));
        assert_eq!(
            keys,
            [
                "retention.raw_reports",
                "retention.rollups",
                "retention.series",
                "retention.interval",
                "retention.batch_reports"
            ]
        );
        let mut none = Vec::new();
        Retention::default().problems(&mut |k, _| none.push(k));
        assert!(none.is_empty());
    }
}
