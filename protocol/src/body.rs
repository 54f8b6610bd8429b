//! The ingest request around a report: where it goes, its headers, and how the body is
//! encoded (protobuf, then one zstd frame) and decoded with a bound.

use std::io::Read;

use crate::report::Report;

/// Media type of a report body: zstd-compressed protobuf [`Report`].
pub const CONTENT_TYPE: &str = "application/x-zerofault-report";
/// HTTP header carrying the major protocol version, so a collector can refuse an unknown
/// version before it decompresses anything.
pub const VERSION_HEADER: &str = "x-zerofault-protocol";
/// Path of the ingest endpoint on the collector's mTLS listener.
pub const INGEST_PATH: &str = "/api/v1/report";
/// zstd level used by agents: level 3 is zstd's default and costs well under a millisecond
/// for a report of a few kilobytes.
pub const ZSTD_LEVEL: i32 = 3;

thread_local! {
    /// A decompression context kept per thread (`None` if one could not be made: then one
    /// per call, same result). Making a context per report was 4.8% of the collector's CPU
    /// samples at 3,333 reports/s (perf; docs/benchmarks.md), besides its allocation.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().ok());
}

/// Why a report body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not a valid zstd frame.
    #[error("body is not valid zstd: {0}")]
    Decompress(#[source] std::io::Error),
    /// The body decompresses to more than the allowed size (a compression bomb or a bug).
    #[error("decompressed body exceeds {limit_bytes} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit_bytes: usize,
    },
    /// The decompressed bytes are not a protobuf `Report`.
    #[error("body is not a protobuf report: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// Encodes a report as the wire body: protobuf, then zstd.
pub fn encode_report(report: &Report) -> Vec<u8> {
    thread_local! {
        /// One compression context per thread, reused: making one per report was 1.3% of the
        /// agent's CPU per cycle (perf, issue 17). `None` if it could not be
        /// made; then a context per call, the same bytes.
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            std::cell::RefCell::new(zstd::bulk::Compressor::new(ZSTD_LEVEL).ok());
    }
    let raw = prost::Message::encode_to_vec(report);
    // Compressing an in-memory buffer only fails on allocation failure.
    COMPRESSOR
        .with(|c| match c.borrow_mut().as_mut() {
            Some(c) => c.compress(&raw),
            None => zstd::bulk::compress(&raw, ZSTD_LEVEL),
        })
        .expect("zstd compression of an in-memory buffer")
}

/// Decodes a wire body, refusing to decompress more than `max_decompressed_bytes`.
pub fn decode_report(body: &[u8], max_decompressed_bytes: usize) -> Result<Report, DecodeError> {
    let raw = decompress_bounded(body, max_decompressed_bytes)?;
    Ok(prost::Message::decode(raw.as_slice())?)
}

/// Decompresses a zstd body with a hard cap. A frame that declares its size (agents
/// compress in one call, which writes it) is refused before any work when the size is over
/// the cap, and otherwise decompressed in one pass into a buffer of exactly that size; a
/// frame without a declared size is streamed and stops at the cap, so a bomb never
/// allocates more than the cap plus one read buffer.
pub fn decompress_bounded(body: &[u8], max_bytes: usize) -> Result<Vec<u8>, DecodeError> {
    if let Ok(Some(declared)) = zstd::zstd_safe::get_frame_content_size(body) {
        if declared > max_bytes as u64 {
            return Err(DecodeError::TooLarge {
                limit_bytes: max_bytes,
            });
        }
        // Fails, rather than growing, if the frames hold more than the first declared.
        return DECOMPRESSOR
            .with(|d| match d.borrow_mut().as_mut() {
                Some(d) => d.decompress(body, declared as usize),
                None => zstd::bulk::decompress(body, declared as usize),
            })
            .map_err(DecodeError::Decompress);
    }
    let decoder = zstd::stream::read::Decoder::new(body).map_err(DecodeError::Decompress)?;
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_bytes));
    let read = decoder
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(DecodeError::Decompress)?;
    if read > max_bytes {
        return Err(DecodeError::TooLarge {
            limit_bytes: max_bytes,
        });
    }
    Ok(out)
}
