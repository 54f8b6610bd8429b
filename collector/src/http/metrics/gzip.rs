//! A streaming gzip encoder (RFC 1952) over miniz_oxide's deflate, for `/metrics`.
//!
//! Why not flate2's `GzEncoder`: in the collector, flate2's backend is zlib-rs (rust_xlsxwriter's
//! zip asks for it and cargo features unify), whose level 1 compresses a `/metrics`
//! exposition at half the speed of miniz_oxide's level 1 and 20 % larger (measured on a
//! 42 MB exposition: miniz_oxide 700 MB/s, ratio 13.5; zlib-rs 310 MB/s, ratio 11.0;
//! `docs/benchmarks.md`, "/metrics at province size"). miniz_oxide and crc32fast are already
//! in the tree (under flate2), so this adds no crate; the gzip framing is 18 bytes.

use miniz_oxide::DataFormat;
use miniz_oxide::deflate::core::{CompressorOxide, TDEFLFlush, TDEFLStatus, compress};

/// gzip member header: magic, deflate, no flags, no modification time, XFL 4 ("fastest
/// algorithm", RFC 1952 2.3.1), OS 255 (unknown).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];
/// Output room added per call of the compressor.
const OUT_STEP: usize = 32 * 1024;

/// One gzip stream, fed a piece at a time.
pub(crate) struct Gzip {
    deflate: Box<CompressorOxide>,
    crc: crc32fast::Hasher,
    /// Input length modulo 2^32 (the ISIZE of the trailer).
    len: u32,
    header_written: bool,
}

impl std::fmt::Debug for Gzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gzip").field("len", &self.len).finish()
    }
}

/// The compressor failed: it was used after its end (a bug here, not bad input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GzipError;

impl Gzip {
    /// A stream at deflate `level` (1 fastest to 9 smallest).
    pub(crate) fn new(level: u8) -> Self {
        let mut deflate = Box::<CompressorOxide>::default();
        deflate.set_format_and_level(DataFormat::Raw, level);
        Self {
            deflate,
            crc: crc32fast::Hasher::new(),
            len: 0,
            header_written: false,
        }
    }

    /// Compresses `input`, appending what the compressor outputs now to `out` (it keeps up
    /// to its window of input until later calls).
    pub(crate) fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), GzipError> {
        self.header(out);
        self.crc.update(input);
        self.len = self.len.wrapping_add(input.len() as u32);
        self.run(input, TDEFLFlush::None, out)
    }

    /// Ends the stream: the rest of the deflate data and the trailer (CRC-32, length).
    pub(crate) fn finish(mut self, out: &mut Vec<u8>) -> Result<(), GzipError> {
        self.header(out);
        self.run(&[], TDEFLFlush::Finish, out)?;
        out.extend_from_slice(&self.crc.clone().finalize().to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        Ok(())
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if !self.header_written {
            out.extend_from_slice(&HEADER);
            self.header_written = true;
        }
    }

    fn run(
        &mut self,
        mut input: &[u8],
        flush: TDEFLFlush,
        out: &mut Vec<u8>,
    ) -> Result<(), GzipError> {
        loop {
            let start = out.len();
            out.resize(start + OUT_STEP, 0);
            let (status, read, written) =
                compress(&mut self.deflate, input, &mut out[start..], flush);
            out.truncate(start + written);
            input = &input[read..];
            match status {
                TDEFLStatus::Done => return Ok(()),
                // Without Finish, done once the input is taken and the output had room (a
                // full output may mean more is pending).
                TDEFLStatus::Okay if input.is_empty() && written < OUT_STEP => {
                    if matches!(flush, TDEFLFlush::Finish) {
                        continue;
                    }
                    return Ok(());
                }
                TDEFLStatus::Okay => {}
                TDEFLStatus::BadParam | TDEFLStatus::PutBufFailed => return Err(GzipError),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // flate2's decoder checks the header, the CRC-32 and the length.
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn gzip_in_pieces(input: &[u8], piece: usize, level: u8) -> Vec<u8> {
        let mut gz = Gzip::new(level);
        let mut out = Vec::new();
        for p in input.chunks(piece.max(1)) {
            gz.write(p, &mut out).unwrap();
        }
        gz.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn round_trips_through_an_independent_decoder() {
        let text: Vec<u8> = (0..200_000)
            .flat_map(|i| format!("zerofault_host_up{{agent=\"h-{i}\"}} {}\n", i % 2).into_bytes())
            .collect();
        // Tiny pieces on a prefix only: one compressor call per byte is slow in a debug build.
        let prefix = &text[..100_000];
        for (input, piece, level) in [
            (prefix, 1, 1),
            (prefix, 7, 1),
            (&text[..], 65_536, 1),
            (&text[..], text.len(), 1),
            (&text[..], 65_536, 6),
        ] {
            let gz = gzip_in_pieces(input, piece, level);
            assert_eq!(&gz[..2], [0x1f, 0x8b]);
            assert!(gz.len() * 5 < input.len(), "piece {piece}: {}", gz.len());
            assert!(gunzip(&gz) == input, "piece {piece} level {level}");
        }
    }

    #[test]
    fn empty_and_incompressible_inputs() {
        assert!(gunzip(&gzip_in_pieces(b"", 1, 1)).is_empty());
        // Pseudo-random bytes: the output is larger than the input, spread over many calls.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(gunzip(&gzip_in_pieces(&noise, 100_000, 1)) == noise);
    }
}
