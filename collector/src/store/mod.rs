//! Report storage. The store is the record of every accepted report; the in-memory
//! [`HostTable`](crate::live::hosts::HostTable) is only a cache warmed from it.
//!
//! - [`api`]: the [`Store`] trait and its types, free of any backend: the collector holds an
//!   `Arc<dyn Store>`.
//! - [`settings`]: `storage.*` of the configuration; [`open`] opens the backend they choose.
//! - [`sqlite`]: the SQLite backend (one collector, the default);
//! - [`postgres`]: the PostgreSQL backend (several collectors on one database);
//! - `series_rows`: what both backends do with the series' hour rows they read.
//!
//! A backend is a sibling of these two, a field of [`Storage`], one arm in [`open`], and one
//! line running the contract tests (`contract.rs`) against it.

use std::sync::Arc;

pub mod adjustments;
pub mod api;
#[cfg(test)]
pub(crate) mod contract;
pub mod postgres;
pub mod retention;
pub mod security;
mod series_rows;
pub mod settings;
pub mod sqlite;

pub use api::{
    BoxFuture, ClosedMonth, CollectorRun, HEARTBEAT, InsertOutcome, InstanceRun, LinkSeries,
    LinkSlot, ListeningPeriod, MAX_KEYS_PER_READ, MAX_SERIES_ROWS, ReplayCursor, ReplayPage,
    ReportKey, RetirePage, SecurityStore, Store, StoreError, StoredReport,
};
pub use postgres::PgStore;
pub use settings::{Backend, Storage};
pub use sqlite::SqliteStore;

use crate::live::links::Thresholds;

/// Opens (creating it when missing) the store `settings` choose. The server and every
/// command open their store here, so they hold an `Arc<dyn Store>` whatever the backend.
/// `link_thresholds` (`links.thresholds`) judge which link windows the rollups keep as
/// degraded as reports are stored.
pub async fn open(
    settings: &Storage,
    link_thresholds: &Thresholds,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match settings.backend() {
        Backend::Sqlite(sqlite) => Arc::new(
            SqliteStore::open(&sqlite.path)
                .await?
                .with_link_thresholds(link_thresholds.clone()),
        ),
        Backend::Postgres(pg) => Arc::new(
            PgStore::open(pg)
                .await?
                .with_link_thresholds(link_thresholds.clone()),
        ),
    })
}
