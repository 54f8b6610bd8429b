//! Report storage. The store is the record of every accepted report; the in-memory
//! [`HostTable`](crate::state::HostTable) is only a cache warmed from it.
//!
//! [`Store`] is object-safe and asynchronous so that a PostgreSQL backend can be added next
//! to [`sqlite::SqliteStore`] without changing the ingest path.

use std::future::Future;
use std::pin::Pin;

pub mod sqlite;

pub use sqlite::SqliteStore;

/// A boxed future, so that [`Store`] can be used as `Arc<dyn Store>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// Agent id (the certificate common name).
    pub agent_id: String,
    /// Linux boot id of the host when the report was made.
    pub boot_id: String,
    /// Per-agent sequence number.
    pub sequence: u64,
    /// Agent clock when the report was made, ms since the Unix epoch.
    pub agent_timestamp_ms: i64,
    /// Collector clock at receipt, ms since the Unix epoch.
    pub received_ms: i64,
    /// The decompressed protobuf exactly as received. Kept raw rather than re-encoded so
    /// that fields added by newer agents survive and can be read by a newer collector.
    pub body: Vec<u8>,
}

/// Result of storing a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The report is new and is now committed.
    Stored,
    /// A report with the same `(agent_id, boot_id, sequence)` was already stored; nothing
    /// changed. Agents resend after a lost acknowledgement, so this is normal.
    Duplicate,
}

impl InsertOutcome {
    /// The `status` value of the ingest answer.
    pub fn as_str(self) -> &'static str {
        match self {
            InsertOutcome::Stored => "stored",
            InsertOutcome::Duplicate => "duplicate",
        }
    }
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or its directory created.
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The database file.
        path: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database was written by a newer collector whose schema this build does not know;
    /// running it would risk corrupting the newer layout.
    #[error(
        "the database schema version is {found}, newer than this collector's {supported}; upgrade the collector"
    )]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A statement failed (disk full, I/O error, corruption ...).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction holding this report (and others written with it) failed and was
    /// rolled back; nothing of it is stored.
    #[error("storing the report failed: {0}")]
    Batch(#[source] sqlite::BatchError),
    /// The storage thread has stopped (closed or panicked), so nothing can be stored.
    #[error("the storage thread has stopped")]
    Closed,
}

/// A report store.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Stores `report` unless its `(agent_id, boot_id, sequence)` is already stored. The
    /// future resolves only after the write is durable, so the caller may acknowledge.
    fn insert(&self, report: StoredReport) -> BoxFuture<'_, Result<InsertOutcome, StoreError>>;

    /// The newest report of every agent (by receive time), to warm the host table.
    fn latest_per_agent(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>>;

    /// Number of stored reports.
    fn count_reports(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Finishes pending writes and closes the database; later calls fail with
    /// [`StoreError::Closed`].
    fn close(&self) -> BoxFuture<'_, ()>;
}
