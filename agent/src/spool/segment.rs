//! The segment files of the spool (the format is in the module documentation of
//! [`super`]): naming, framing a record, reading one back, scanning a whole segment, and
//! deleting one durably. Plain functions of bytes and files; the spool decides when.

use std::fs::File;
use std::path::Path;

use tracing::warn;

use super::crc32c::crc32c;

/// Bytes of a record header: length and checksum.
pub const HEADER_BYTES: u64 = 8;
/// Largest payload accepted; a length field above this is damage, not a report (the
/// collector refuses bodies above 1 MiB by default anyway).
pub const MAX_RECORD_BYTES: u32 = 16 << 20;
/// Suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".seg";

/// Where a record is: segment number and byte offset of its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    /// Segment number.
    pub segment: u64,
    /// Offset of the record's header in the segment.
    pub offset: u64,
}

/// What the spool's index knows of one record.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) id: RecordId,
    pub(super) len: u32,
    /// Agent timestamp of the report; 0 when not known yet (found by the start-up scan).
    pub(super) timestamp_ms: i64,
    pub(super) acked: bool,
}

/// What the spool knows of one segment file.
#[derive(Debug)]
pub(super) struct Segment {
    pub(super) number: u64,
    pub(super) bytes: u64,
}

/// Parses a segment file name into its number.
pub fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// File name of segment `number`.
pub fn segment_name(number: u64) -> String {
    format!("{number:020}{SEGMENT_SUFFIX}")
}

/// One readable record found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Offset of the header.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
}

/// A damaged place found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// Offset of the damaged record's header.
    pub offset: u64,
    /// True when the rest of the segment cannot be framed (torn or impossible header).
    pub ends_segment: bool,
}

/// Reads the records of one segment's bytes: the good ones, and the damaged places skipped
/// (a checksum mismatch skips one record; an impossible length or a torn tail ends the
/// segment).
pub fn scan(bytes: &[u8]) -> (Vec<Scanned>, Vec<Damage>) {
    let mut good = Vec::new();
    let mut corrupt = Vec::new();
    let mut off = 0usize;
    while off < bytes.len() {
        let Some(header) = bytes.get(off..off + HEADER_BYTES as usize) else {
            corrupt.push(Damage {
                offset: off as u64,
                ends_segment: true,
            }); // torn header
            break;
        };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let start = off + HEADER_BYTES as usize;
        let end = start.saturating_add(len as usize);
        // Zero length is never written (a report is never empty): it is a zero-filled tail.
        if len == 0 || len > MAX_RECORD_BYTES || end > bytes.len() {
            corrupt.push(Damage {
                offset: off as u64,
                ends_segment: true,
            });
            break;
        }
        if crc32c(&bytes[start..end]) == crc {
            good.push(Scanned {
                offset: off as u64,
                len,
            });
        } else {
            corrupt.push(Damage {
                offset: off as u64,
                ends_segment: false,
            });
        }
        off = end;
    }
    (good, corrupt)
}

/// Makes a directory entry change (a new, renamed or deleted file) durable.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The bytes of one record: header (length, checksum) and payload.
pub(super) fn encode_record(payload: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(HEADER_BYTES as usize + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32c(payload).to_le_bytes());
    record.extend_from_slice(payload);
    record
}

/// The payload of a record read back as `buf` (header and payload) whose index says it is
/// `len` bytes long; an error when the header or the checksum disagree.
pub(super) fn check_record(mut buf: Vec<u8>, len: u32) -> Result<Vec<u8>, String> {
    let stored_len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if stored_len != len {
        return Err(format!("length changed from {len} to {stored_len}"));
    }
    let payload = buf.split_off(HEADER_BYTES as usize);
    if crc32c(&payload) != crc {
        return Err("checksum mismatch".into());
    }
    Ok(payload)
}

/// Deletes a segment file of the spool directory `dir`, durably; a file already gone is
/// fine, any other failure is logged (the next start deletes it).
pub(super) fn remove_file(dir: &Path, path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {
            let _ = sync_dir(dir);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!(path = %path.display(), "cannot delete a spool segment: {e}"),
    }
}
