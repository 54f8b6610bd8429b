//! Month to date: the month in progress, recomputed in the background from the rollups every
//! `month_to_date.interval` and kept in memory, so that pages and the API read its figures per
//! host, link, business system, department, data center and backbone level at province size
//! without computing a month per request (`GET /api/v1/month-to-date`, `http/month_to_date.rs`).
//!
//! The figures are the monthly report's own ([`super::compute`] of the month in progress, up
//! to the computation time rounded down to a slot), so a page and the month's report never
//! disagree; they are at most one interval plus one computation old, and the answer says how
//! old. A computation takes what the month takes (19 s for 10,000 hosts, `docs/benchmarks.md`)
//! on the blocking pool, and waits for the one-at-a-time permit it shares with
//! `GET /api/v1/report` ([`Computations`]), so that two months are never computed at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::sla::model::MonthReport;
use super::source::{HostSource, MonthRequest};
use crate::inventory::Inventory;
use crate::live::links::Links;
use crate::store::Store;

/// Default time between two computations.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Shortest accepted interval: a province's month takes tens of seconds.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// `month_to_date.*`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthToDate {
    /// Compute the month to date in the background (`serve` only). Default `true`.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Time between the end of one computation and the start of the next. At least `1m`;
    /// default `5m`.
    #[serde(
        default = "default_interval",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub interval: Duration,
    /// Language of the names in the figures: `zh-CN` (default) or `en`.
    #[serde(default = "default_lang")]
    pub lang: String,
}

fn default_enabled() -> bool {
    true
}
fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}
fn default_lang() -> String {
    "zh-CN".into()
}

impl Default for MonthToDate {
    fn default() -> Self {
        MonthToDate {
            enabled: default_enabled(),
            interval: DEFAULT_INTERVAL,
            lang: default_lang(),
        }
    }
}

impl MonthToDate {
    /// Every problem, by dotted key.
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.interval < MIN_INTERVAL {
            problem(
                "month_to_date.interval",
                "is shorter than 1m; a province's month takes tens of seconds to compute: use 1m or more (default 5m)".into(),
            );
        }
        if !matches!(self.lang.as_str(), "en" | "zh-CN") {
            problem(
                "month_to_date.lang",
                format!("{:?} is not a report language; use zh-CN or en", self.lang),
            );
        }
    }
}

/// One month computation at a time in a collector, shared by `GET /api/v1/report` and the
/// month to date: a month takes hundreds of MiB at province size, so two at once would
/// double that.
///
/// A request that finds a request's computation under way is refused at once (429, so that
/// retrying clients cannot pile up work); one that finds the background computation under
/// way waits for it, since that one is bounded and nobody asked for it: one request at a
/// time may wait so, the others are refused.
#[derive(Debug, Clone)]
pub struct Computations {
    permit: Arc<Semaphore>,
    /// The permit is held by the background computation.
    background: Arc<AtomicBool>,
    /// Held by the one request waiting for the background computation.
    waiter: Arc<Semaphore>,
}

impl Default for Computations {
    fn default() -> Self {
        Computations {
            permit: Arc::new(Semaphore::new(1)),
            background: Arc::new(AtomicBool::new(false)),
            waiter: Arc::new(Semaphore::new(1)),
        }
    }
}

/// The permit of the background computation; gives it back on drop.
#[derive(Debug)]
pub struct BackgroundPermit {
    permit: Option<OwnedSemaphorePermit>,
    background: Arc<AtomicBool>,
}

impl Drop for BackgroundPermit {
    fn drop(&mut self) {
        // The permit first: a request arriving in between then finds it free, not the
        // flag down and the permit still held (which it would refuse).
        drop(self.permit.take());
        self.background.store(false, Ordering::SeqCst);
    }
}

impl Computations {
    /// The permit for a request: now, after the background computation under way, or
    /// `None` (refuse the request).
    pub async fn for_request(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = self.permit.clone().try_acquire_owned() {
            return Some(p);
        }
        if !self.background.load(Ordering::SeqCst) {
            // A request's computation holds it, or the background one ended just now.
            return self.permit.clone().try_acquire_owned().ok();
        }
        let _waiting = self.waiter.clone().try_acquire_owned().ok()?;
        self.permit.clone().acquire_owned().await.ok()
    }

    /// The permit for the background computation, waiting for a request's computation.
    pub async fn for_background(&self) -> Option<BackgroundPermit> {
        // The flag before the permit: a request that finds the permit taken then always
        // finds the flag up while the background computation holds it (and waits for it,
        // or for a request's computation that the background one is queued behind).
        self.background.store(true, Ordering::SeqCst);
        let permit = self.permit.clone().acquire_owned().await;
        let Ok(permit) = permit else {
            self.background.store(false, Ordering::SeqCst);
            return None;
        };
        Some(BackgroundPermit {
            permit: Some(permit),
            background: self.background.clone(),
        })
    }
}

/// One computation's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The month in progress, computed at `computed_unix_ms`.
    pub report: MonthReport,
    /// When it was computed, Unix ms (collector clock).
    pub computed_unix_ms: i64,
    /// How long it took, ms.
    pub took_ms: u64,
}

/// The newest snapshot, shared by the background task and the API.
#[derive(Debug, Clone, Default)]
pub struct Latest(Arc<RwLock<Option<Arc<Snapshot>>>>);

impl Latest {
    /// The newest snapshot, `None` before the first one.
    pub fn get(&self) -> Option<Arc<Snapshot>> {
        self.0.read().expect("month-to-date lock poisoned").clone()
    }

    fn set(&self, s: Snapshot) {
        *self.0.write().expect("month-to-date lock poisoned") = Some(Arc::new(s));
    }
}

/// What one computation needs.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The inventory (time zone, groups, targets).
    pub inventory: Arc<Inventory>,
    /// The `links` settings.
    pub links: Arc<Links>,
    /// `month_to_date.*`.
    pub settings: MonthToDate,
    /// One month computation at a time, shared with `GET /api/v1/report`.
    pub computations: Computations,
    /// Where the result goes.
    pub latest: Latest,
}

impl Runner {
    /// Computes the month in progress at `now_ms` and keeps it; returns whether it did
    /// (`false` in the first slot of a month, which has no figure yet, and on a store error,
    /// which is logged: the previous snapshot stays and says its age).
    pub async fn once(&self, now_ms: i64) -> bool {
        let month = super::current_month(&self.inventory, now_ms);
        let req = MonthRequest {
            month: month.clone(),
            lang: self.settings.lang.clone(),
            now_ms,
            closed: false,
            hosts: HostSource::Rollups,
        };
        let Some(_permit) = self.computations.for_background().await else {
            return false;
        };
        let started = Instant::now();
        let runner = self.clone();
        let runtime = tokio::runtime::Handle::current();
        // The store reads and the CPU-bound engine run on the blocking pool, as the report
        // route's do, so that ingest and `/metrics` keep answering.
        let result = tokio::task::spawn_blocking(move || {
            runtime.block_on(super::compute(
                runner.store.as_ref(),
                &runner.inventory,
                &runner.links,
                &req,
                &mut |_| {},
            ))
        })
        .await;
        let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(Ok(report)) => {
                tracing::info!(%month, took_ms, hosts = report.hosts.len(), links = report.links.len(), "computed the month to date");
                self.latest.set(Snapshot {
                    report,
                    computed_unix_ms: now_ms,
                    took_ms,
                });
                true
            }
            Ok(Err(super::MonthlyError::Source(super::source::SourceError::Sla(
                super::sla::SlaError::NoSlotYet { .. },
            )))) => false,
            Ok(Err(e)) => {
                tracing::warn!(%month, error = %e, "cannot compute the month to date; the previous figures stay");
                false
            }
            Err(e) => {
                tracing::error!(%month, error = %e, "the month-to-date computation failed");
                false
            }
        }
    }

    /// Computes the month to date now and then every `interval` after each computation
    /// ends, until the task is aborted.
    pub async fn run(self) {
        loop {
            self.once(zerofault_common::now_unix_ms()).await;
            tokio::time::sleep(self.settings.interval).await;
        }
    }
}

#[cfg(test)]
mod tests;
