//! The monthly report: reads a month from the store and the inventory, runs the SLA engine,
//! writes the exports, and closes months (docs/sla.md, docs/sla-operations.md).
//!
//! Closing a month (`report --close`) freezes its figures: the model is stored in the
//! database (`closed_months`) with the signed manifest of the files exported at closing.
//! Later reports of a closed month export the frozen figures and, beside them, the **late
//! corrections**: every figure that the data received since would change. Nothing is
//! silently re-applied to a closed month. [`answer`] is that rule, for the `report` command
//! and the HTTP route alike.

pub mod adjustments;
pub mod corrections;
pub mod export;
pub mod host_buckets;
mod link_windows;
pub mod manifest;
pub mod placement;
pub mod sla;
pub mod source;
pub mod to_date;

use crate::inventory::Inventory;
use crate::live::links::Links;
use crate::store::{ClosedMonth, Store};
use corrections::Correction;
use sla::model::{MonthReport, Seal};
use source::{MonthRequest, Progress};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MonthlyError {
    /// The month could not be read from the store.
    #[error(transparent)]
    Source(#[from] source::SourceError),
    /// The engine refused its input (a bug or an inventory the validation let through).
    #[error("SLA engine: {0}")]
    Sla(#[from] crate::month::sla::SlaError),
    /// A stored closed month could not be read back.
    #[error("the frozen report of {month} in the database is unreadable: {source}")]
    Frozen {
        /// The month.
        month: String,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// Computes the report of `req.month` from what is stored now.
pub async fn compute(
    store: &dyn Store,
    inventory: &Inventory,
    links: &Links,
    req: &MonthRequest,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<MonthReport, MonthlyError> {
    Ok(source::compute_month(
        store,
        inventory,
        links,
        req,
        crate::store::HEARTBEAT.as_millis() as i64,
        progress,
    )
    .await?)
}

/// The frozen report of a closed month, if it is closed.
pub async fn frozen(
    store: &dyn Store,
    month: &str,
) -> Result<Option<(ClosedMonth, MonthReport)>, MonthlyError> {
    let Some(closed) = store
        .closed_month(month.to_owned())
        .await
        .map_err(source::SourceError::from)?
    else {
        return Ok(None);
    };
    let mut report: MonthReport =
        serde_json::from_slice(&closed.report_json).map_err(|source| MonthlyError::Frozen {
            month: month.to_owned(),
            source,
        })?;
    report.seal = Some(seal_of(&closed));
    Ok(Some((closed, report)))
}

/// A month as the `report` command and `GET /api/v1/report` answer it: a closed month with
/// its frozen figures and, beside them, the late corrections that what is stored now would
/// make; an open month with the figures computed now.
#[derive(Debug)]
pub struct MonthAnswer {
    /// What is exported: the frozen figures of a closed month, else the computed ones.
    pub report: MonthReport,
    /// For a closed month: its closing, the figures computed now and the late corrections.
    pub closed: Option<ClosedAnswer>,
}

/// What the answer for a closed month adds to its frozen figures.
#[derive(Debug)]
pub struct ClosedAnswer {
    /// The closing as stored (when, the manifest).
    pub closing: ClosedMonth,
    /// The figures computed from what is stored now.
    pub current: MonthReport,
    /// Every figure that data received since closing would change (frozen against current).
    pub late_corrections: Vec<Correction>,
    /// The SLA adjustments made or withdrawn since closing (their effect is in
    /// `late_corrections`).
    pub late_adjustments: Vec<sla::model::AdjustmentRow>,
}

impl MonthAnswer {
    /// The figures computed from what is stored now (for an open month, the report itself).
    pub fn current(&self) -> &MonthReport {
        self.closed.as_ref().map_or(&self.report, |c| &c.current)
    }
}

/// The answer for `req.month`: its frozen figures and late corrections if it is closed,
/// else the figures computed from what is stored now. The one rule both the `report`
/// command and the HTTP route follow.
pub async fn answer(
    store: &dyn Store,
    inventory: &Inventory,
    links: &Links,
    req: &MonthRequest,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<MonthAnswer, MonthlyError> {
    let frozen = frozen(store, &req.month).await?;
    answer_given(frozen, store, inventory, links, req, progress).await
}

/// [`answer`] with the month's [`frozen`] figures already read: a caller that refuses a
/// closed month (`report --close`) reads them first, before the long computation.
pub async fn answer_given(
    frozen: Option<(ClosedMonth, MonthReport)>,
    store: &dyn Store,
    inventory: &Inventory,
    links: &Links,
    req: &MonthRequest,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<MonthAnswer, MonthlyError> {
    let mut current = compute(store, inventory, links, req, progress).await?;
    // Nothing is silently re-applied to a closed month: what changed goes beside it.
    Ok(match frozen {
        Some((closing, report)) => MonthAnswer {
            closed: Some(ClosedAnswer {
                late_corrections: corrections::corrections(&report, &current),
                late_adjustments: {
                    adjustments::mark_late(&mut current.adjustments, closing.closed_unix_ms);
                    adjustments::late(&report, &current)
                },
                closing,
                current,
            }),
            report,
        },
        None => MonthAnswer {
            report: current,
            closed: None,
        },
    })
}

/// What the first page of a closed month's exports cites: the signed manifest stored when
/// it was closed, with its SHA-256 (the same bytes as `MANIFEST.sha256` written then).
pub fn seal_of(closed: &ClosedMonth) -> Seal {
    let digest = ring::digest::digest(&ring::digest::SHA256, closed.manifest.as_bytes());
    closing_seal(closed.closed_unix_ms, Some(hex::encode(digest.as_ref())))
}

/// The seal of exports written at closing, before the manifest that lists them exists (so
/// without its hash), or of a stored closed month with it.
pub fn closing_seal(closed_unix_ms: i64, manifest_sha256: Option<String>) -> Seal {
    Seal {
        closed_unix_ms,
        manifest: manifest::MANIFEST_NAME.to_owned(),
        signature: manifest::SIGNATURE_NAME.to_owned(),
        manifest_sha256,
    }
}

/// The previous calendar month in `inventory`'s time zone.
pub fn previous_month(inventory: &Inventory, now_ms: i64) -> String {
    let now = jiff::Timestamp::from_millisecond(now_ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(inventory.time_zone.clone());
    source::month_before(i32::from(now.year()), now.month().unsigned_abs().into())
}

/// The calendar month of `now_ms` in `inventory`'s time zone, `YYYY-MM`.
pub fn current_month(inventory: &Inventory, now_ms: i64) -> String {
    let now = jiff::Timestamp::from_millisecond(now_ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(inventory.time_zone.clone());
    format!("{:04}-{:02}", now.year(), now.month())
}

/// `unix_ms` as `YYYY-MM-DD HH:MM` in `inventory`'s time zone (for messages).
pub fn local_time(inventory: &Inventory, unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|t| {
            t.to_zoned_datetime(inventory.time_zone.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| format!("{unix_ms} (Unix ms)"))
}

/// Refuses a month that has no elapsed slot at `now_ms` (it has not begun, or began less
/// than a slot ago), in words that name the month and its start; a month in progress or
/// over is `Ok`. The `report` command answers this with exit code 2, the API with 400.
pub fn check_month_has_begun(
    inventory: &Inventory,
    month: &str,
    (start_ms, end_ms): (i64, i64),
    now_ms: i64,
) -> Result<(), String> {
    let period = crate::month::sla::input::Period {
        month: month.to_owned(),
        time_zone: inventory.time_zone_name().to_owned(),
        lang: String::new(),
        start_ms,
        end_ms,
        slot_ms: inventory.slot.as_millis() as i64,
        fault_min_ms: 0,
        now_ms,
        generated_ms: now_ms,
        closed: false,
        organisation: String::new(),
    };
    match crate::month::sla::period::covered_end(&period) {
        Ok(_) => Ok(()),
        Err(crate::month::sla::SlaError::FutureMonth { .. }) => Err(format!(
            "month {month} is in the future: it begins {} ({}); a report covers a month from its start up to now",
            local_time(inventory, start_ms),
            inventory.time_zone_name()
        )),
        Err(e) => Err(format!(
            "month {month}: {e}; try again after {} ({})",
            local_time(inventory, start_ms + period.slot_ms),
            inventory.time_zone_name()
        )),
    }
}
