//! `audit verify` and `audit export` over a store: the chain read page by page.

use std::io::Write;

use rustls::pki_types::CertificateDer;

use super::adjustments_check;
use super::chain::{Break, Record, Verified, Verifier};
use crate::store::security::MAX_AUDIT_PAGE;
use crate::store::{Store, StoreError};

/// Why verification stopped.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The chain is broken.
    #[error(transparent)]
    Break(#[from] Break),
    /// The store could not be read.
    #[error("cannot read the audit log: {0}")]
    Store(#[from] StoreError),
    /// A line of an exported file is not a record.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// An SLA adjustment in the database does not match its audit record: it was added,
    /// changed or withdrawn by hand.
    #[error("SLA adjustment {id}: {reason}")]
    Adjustment {
        /// Its id (the seq its record should have).
        id: u64,
        /// What does not match.
        reason: String,
    },
}

/// Longest line of an exported file read: a record's details are a few hundred bytes, a seal
/// a few KiB; a longer line is not a record (and is not held in memory).
pub const MAX_LINE_BYTES: u64 = 1 << 20;

/// Verifies an exported file (`audit export`, JSON lines) as [`verify`] does the store, so
/// that a copy handed to an auditor can be checked too: a deleted, changed or moved line
/// is named by its record.
pub fn verify_lines(
    input: &mut dyn std::io::BufRead,
    cas: &[CertificateDer<'_>],
    anchors: Vec<(u64, String)>,
    start_after: Option<(u64, String)>,
) -> Result<Verified, VerifyError> {
    use std::io::{BufRead as _, Read as _};
    let mut v = Verifier::with_anchors(anchors);
    if let Some((seq, hash)) = start_after {
        v = v.starting_after(seq, hash);
    }
    let mut check = |r: &Record, known: Option<&str>| super::seal::check(r, known, cas);
    let mut line = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        line += 1;
        let n = (&mut *input)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if n as u64 > MAX_LINE_BYTES {
            return Err(VerifyError::Line {
                line,
                reason: format!("longer than {MAX_LINE_BYTES} bytes"),
            });
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let r: Record = serde_json::from_slice(&buf).map_err(|e| VerifyError::Line {
            line,
            reason: format!("not an audit record: {e}"),
        })?;
        v.push(&r, &mut check)?;
    }
    Ok(v.finish()?)
}

/// Verifies the whole chain in `store`: hashes, links, order, the start, every seal (signed by
/// a certificate issued by one of `cas`) and the outside `anchors` (`(seq, hash)`).
/// `progress` is told how many records were read after each page.
pub async fn verify(
    store: &dyn Store,
    cas: &[CertificateDer<'_>],
    anchors: Vec<(u64, String)>,
    mut progress: impl FnMut(u64),
) -> Result<Verified, VerifyError> {
    // Read first: records appended while this reads are after it, a record the head row
    // names must be read with its hash.
    let head_row = store.audit_head_row().await?;
    let mut v = Verifier::with_anchors(anchors);
    let mut check = |r: &Record, known: Option<&str>| super::seal::check(r, known, cas);
    let mut after = 0;
    let mut read = 0;
    let mut sla = adjustments_check::SlaRecords::default();
    loop {
        let page = store.audit_page(after, MAX_AUDIT_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            v.push(r, &mut check)?;
            sla.push(r);
            if let Some((seq, hash)) = &head_row
                && r.seq == *seq
                && &r.hash != hash
            {
                return Err(Break::Head {
                    head_seq: *seq,
                    last: r.seq,
                    reason: "the record it names has another hash",
                }
                .into());
            }
        }
        read += page.len() as u64;
        progress(read);
    }
    let verified = v.finish()?;
    let last = verified.head.as_ref().map_or(0, |(s, _)| *s);
    match head_row {
        Some((seq, _)) if seq > last => {
            return Err(Break::Head {
                head_seq: seq,
                last,
                reason: "the newest records were deleted",
            }
            .into());
        }
        None if last > 0 => {
            return Err(Break::Head {
                head_seq: 0,
                last,
                reason: "the head row was reset",
            }
            .into());
        }
        _ => {}
    }
    let mut verified = verified;
    verified.adjustments = Some(check_adjustments(store, &sla).await?);
    if last > verified.sealed_through {
        let first_unsealed = verified
            .sealed_through
            .max(verified.first_seq.saturating_sub(1))
            + 1;
        verified.oldest_unsealed_ms = record_at(store, first_unsealed)
            .await?
            .map(|r| r.entry.at_ms);
    }
    Ok(verified)
}

/// What an intact log's seals say about the collectors, when it is worth a note: records
/// that no seal covers although the oldest of them is older than three seal intervals
/// (every running collector seals each interval that has new records). Not a failure:
/// nothing was changed, but those records are protected by the chain and the outside
/// anchors only, and for longer than planned. A quiet, fully sealed log gets no note.
pub fn seal_age_note(v: &Verified, interval: std::time::Duration, now_ms: i64) -> Option<String> {
    let oldest = v.oldest_unsealed_ms?;
    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    let age = now_ms.saturating_sub(oldest);
    (age > interval_ms.saturating_mul(3)).then(|| {
        format!(
            "records after {} are unsealed, the oldest for {} min, more than three times audit.seal_interval ({} s): is any collector running and able to write?",
            v.sealed_through,
            age / 60_000,
            interval.as_secs()
        )
    })
}

/// Compares every SLA adjustment row (`store::adjustments`) with the SLA records the walk
/// kept, both ways ([`adjustments_check::SlaRecords::check_rows`]); returns how many rows
/// were compared with their record.
async fn check_adjustments(
    store: &dyn Store,
    sla: &adjustments_check::SlaRecords,
) -> Result<u64, VerifyError> {
    let all = store.adjustments(i64::MIN, i64::MAX).await?;
    sla.check_rows(&all)
        .map_err(|(id, reason)| VerifyError::Adjustment { id, reason })
}

async fn record_at(store: &dyn Store, seq: u64) -> Result<Option<Record>, StoreError> {
    let page = store.audit_page(seq.saturating_sub(1), 1).await?;
    Ok(page.into_iter().next().filter(|r| r.seq == seq))
}

/// One record as a line of an export (JSON, newline): the format `--file` verifies, written
/// by `audit export` and `GET /api/v1/audit` alike.
pub fn write_line(out: &mut dyn Write, r: &Record) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, r)?;
    out.write_all(b"\n")
}

/// Writes the records after `after_seq`, from the first at or after `since_ms` on (every one
/// after it too: the chain stays contiguous, whatever the writers' clocks), as JSON lines to
/// `out`; returns how many. A file that starts after record 1 verifies with
/// `--start-after SEQ:HASH`, the record before it.
pub async fn export(
    store: &dyn Store,
    after_seq: u64,
    since_ms: i64,
    out: &mut dyn Write,
) -> Result<u64, anyhow::Error> {
    let mut after = after_seq;
    let mut n = 0;
    loop {
        let page = store.audit_page(after, MAX_AUDIT_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in page.iter() {
            if n == 0 && r.entry.at_ms < since_ms {
                continue;
            }
            write_line(out, r)?;
            n += 1;
        }
    }
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests;
