//! The agent's spool segments as the test sees them on disk (format in the agent's
//! `spool` module doc): records of `length: u32 LE | crc32c: u32 LE | payload`, the payload
//! being the report's wire body. The test reads them to know which report sits where before
//! it damages a segment, so that it can say exactly which reports must be skipped.

use std::path::{Path, PathBuf};

/// One record found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Offset of the record's header in the segment.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
    /// The report's sequence number.
    pub sequence: u64,
}

/// Bytes of a record header.
pub const HEADER_BYTES: u64 = 8;

/// Segment files (`<20 digits>.seg`) in `dir`, oldest first.
pub fn segments(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".seg"))
                .is_some_and(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The records of one segment, decoded; an error on any damage (the test reads segments
/// before it damages them, so they must be whole).
pub fn records(segment: &Path) -> anyhow::Result<Vec<Record>> {
    let bytes = std::fs::read(segment)?;
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < bytes.len() {
        let header = bytes
            .get(off..off + HEADER_BYTES as usize)
            .ok_or_else(|| anyhow::anyhow!("{}: torn header at {off}", segment.display()))?;
        let len = u32::from_le_bytes(header[0..4].try_into()?);
        let start = off + HEADER_BYTES as usize;
        let payload = bytes
            .get(start..start + len as usize)
            .ok_or_else(|| anyhow::anyhow!("{}: torn record at {off}", segment.display()))?;
        let report = zerofault_protocol::decode_report(payload, 64 << 20).map_err(|e| {
            anyhow::anyhow!(
                "{}: record at {off} does not decode: {e}",
                segment.display()
            )
        })?;
        out.push(Record {
            offset: off as u64,
            len,
            sequence: report.sequence,
        });
        off = start + len as usize;
    }
    Ok(out)
}
