//! An import run: lines read, checked, and stored in batches, then the listening periods.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cmd::import::lines::{ImportOptions, LineError, ReceivedTime, parse_line, read_line};
use crate::cmd::import::listening::ListeningInference;
use crate::store::{InsertOutcome, ListeningPeriod, Store, StoreError, StoredReport};

/// Reports handed to the store before waiting for their outcomes; the store's group commit
/// writes up to this many in one transaction.
pub const BATCH: usize = 512;
/// A batch is also flushed when it has waited this long, so that a slow input (a pipe) still
/// makes steady, visible progress.
pub(super) const FLUSH_AFTER: Duration = Duration::from_millis(500);

/// Why an import stopped before the end of its input.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input could not be read.
    #[error("cannot read line {line}: {source}")]
    Read {
        /// The line being read (1-based).
        line: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed. Reports of earlier lines are committed; of the failed batch, some
    /// may be. Running the import again stores exactly what is missing.
    #[error("cannot store the reports of lines {first_line}..={last_line}: {source}")]
    Store {
        /// First line of the failed batch.
        first_line: u64,
        /// Last line of the failed batch.
        last_line: u64,
        /// The underlying error.
        #[source]
        source: StoreError,
        /// Counts up to the failure (the failed batch is not counted as stored).
        summary: ImportSummary,
    },
    /// Every report is stored, but the listening periods inferred from them could not be.
    /// Running the same import again stores them (the reports are then duplicates).
    #[error("cannot store the listening periods inferred from the input: {source}")]
    Listening {
        /// The underlying error.
        #[source]
        source: StoreError,
        /// Counts of the import.
        summary: ImportSummary,
    },
}

/// Counts of one import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Blank lines (ignored).
    pub blank: u64,
    /// Reports newly stored.
    pub stored: u64,
    /// Reports that were already stored.
    pub duplicates: u64,
    /// Refused lines by reason ([`crate::live::hosts::RejectReason::as_str`]).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Listening periods inferred from the good lines (`[start, end)`, Unix ms), in order.
    pub listening: Vec<(i64, i64)>,
    /// How many of them were not stored before.
    pub listening_new: usize,
}

impl ImportSummary {
    /// Refused lines of every reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lines read ({} blank): {} stored, {} duplicates, {} rejected",
            self.lines,
            self.blank,
            self.stored,
            self.duplicates,
            self.rejected_total()
        )?;
        if !self.rejected.is_empty() {
            let parts: Vec<String> = self
                .rejected
                .iter()
                .map(|(reason, n)| format!("{reason}: {n}"))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// What the caller sees while an import runs.
pub trait ImportObserver {
    /// Line `line` (1-based) was refused and skipped.
    fn rejected(&mut self, line: u64, error: &LineError);
    /// A batch was committed; `summary` holds the counts so far.
    fn progress(&mut self, _summary: &ImportSummary) {}
}

/// Imports every line of `input` into `store` (see [`crate::cmd::import`]).
pub async fn import(
    store: Arc<dyn Store>,
    input: &mut dyn BufRead,
    opts: &ImportOptions,
    observer: &mut dyn ImportObserver,
) -> Result<ImportSummary, ImportError> {
    let mut summary = ImportSummary::default();
    let mut batch: Vec<(u64, StoredReport)> = Vec::with_capacity(BATCH);
    let mut buf = Vec::new();
    let cap = opts.max_line_bytes();
    let mut last_flush = Instant::now();
    // Reports that arrive now (`--received-now`) are backfill: no evidence of the past.
    let mut inference =
        (opts.received == ReceivedTime::AgentTimestamp).then(ListeningInference::default);
    loop {
        let line_no = summary.lines + 1;
        let read = read_line(input, &mut buf, cap).map_err(|source| ImportError::Read {
            line: line_no,
            source,
        })?;
        let Some(too_long) = read else { break };
        summary.lines = line_no;
        let parsed = if too_long {
            Err(LineError::LineTooLong { limit: cap })
        } else {
            parse_line(&buf, opts, crate::live::ingest::now_unix_ms())
        };
        match parsed {
            Ok(None) => summary.blank += 1,
            Ok(Some((report, evidence))) => {
                if let Some(inf) = &mut inference {
                    inf.add(&report.agent_id, evidence);
                }
                batch.push((line_no, report));
            }
            Err(e) => {
                *summary.rejected.entry(e.reason().as_str()).or_default() += 1;
                observer.rejected(line_no, &e);
            }
        }
        if batch.len() >= BATCH || (!batch.is_empty() && last_flush.elapsed() >= FLUSH_AFTER) {
            flush(&store, &mut batch, &mut summary).await?;
            last_flush = Instant::now();
            observer.progress(&summary);
        }
    }
    flush(&store, &mut batch, &mut summary).await?;
    observer.progress(&summary);
    if let Some(inf) = inference {
        summary.listening = inf.periods();
        if !summary.listening.is_empty() {
            let imported_unix_ms = crate::live::ingest::now_unix_ms();
            let periods = summary
                .listening
                .iter()
                .map(|&(start_unix_ms, end_unix_ms)| ListeningPeriod {
                    start_unix_ms,
                    end_unix_ms,
                    source: opts.source.clone(),
                    imported_unix_ms,
                })
                .collect();
            summary.listening_new = match store.insert_listening(periods).await {
                Ok(n) => n,
                Err(source) => {
                    return Err(ImportError::Listening {
                        source,
                        summary: summary.clone(),
                    });
                }
            };
        }
    }
    Ok(summary)
}

/// Stores a batch. The inserts are all queued before any is awaited, so the store's group
/// commit writes them together.
async fn flush(
    store: &Arc<dyn Store>,
    batch: &mut Vec<(u64, StoredReport)>,
    summary: &mut ImportSummary,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let first_line = batch[0].0;
    let last_line = batch[batch.len() - 1].0;
    let mut tasks = tokio::task::JoinSet::new();
    for (_, report) in batch.drain(..) {
        let store = store.clone();
        tasks.spawn(async move { store.insert(report).await });
    }
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(InsertOutcome::Stored)) => summary.stored += 1,
            Ok(Ok(InsertOutcome::Duplicate)) => summary.duplicates += 1,
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            // The insert task panicked: the store cannot be trusted to go on.
            Err(_) => {
                failure.get_or_insert(StoreError::Closed);
            }
        }
    }
    match failure {
        None => Ok(()),
        Some(source) => Err(ImportError::Store {
            first_line,
            last_line,
            source,
            summary: summary.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_every_rejection_reason() {
        let mut s = ImportSummary {
            lines: 5,
            blank: 1,
            stored: 2,
            duplicates: 0,
            ..Default::default()
        };
        s.rejected.insert("invalid", 1);
        s.rejected.insert("malformed", 1);
        assert_eq!(
            s.to_string(),
            "5 lines read (1 blank): 2 stored, 0 duplicates, 2 rejected (invalid: 1, malformed: 1)"
        );
    }
}
