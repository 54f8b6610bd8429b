//! What every capacity probe is: one source of report fields, and how it fails. Apart from
//! the probe table in `mod.rs` so that the probes and the table do not import each other.

use std::path::{Path, PathBuf};

use zerofault_protocol::Report;

/// Why a probe could not fill its part of the report.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A kernel file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A kernel file did not have the expected format.
    #[error("cannot parse {}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// sysinfo could not initialise on this system.
    #[error("sysinfo: {0}")]
    Sysinfo(String),
}

/// One source of report fields.
pub trait Probe: Send {
    /// Short name for logs, e.g. `cpu`.
    fn name(&self) -> &'static str;
    /// Fills this probe's fields of `report`. On error the fields stay as they were.
    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError>;
}

/// Longest kernel file a probe reads: `/proc/self/mounts` of a container host with
/// thousands of mounts stays far below it; past it the file is cut, never read whole.
pub const MAX_KERNEL_FILE_BYTES: u64 = 4 << 20;

/// Reads a kernel file into a string, at most [`MAX_KERNEL_FILE_BYTES`].
///
/// Not `std::fs::read_to_string`: that asks the file's size first (a `statx` per file),
/// which `/proc` and `/sys` files do not know (they say 0 or 4096); the agent reads about
/// thirty of them a cycle, so the extra system call was a few percent of its CPU (strace,
/// issue 17). The buffer starts at a page, what nearly every such file fits in.
pub fn read_kernel_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(4096);
    std::fs::File::open(path)?
        .take(MAX_KERNEL_FILE_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Reads a small kernel file into a string ([`read_kernel_file`]).
pub(super) fn read(path: impl AsRef<Path>) -> Result<String, ProbeError> {
    let path = path.as_ref();
    read_kernel_file(path).map_err(|source| ProbeError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A parse error for `path`.
pub(super) fn parse_error(path: impl AsRef<Path>, reason: impl Into<String>) -> ProbeError {
    ProbeError::Parse {
        path: path.as_ref().to_owned(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_files_are_read_whole_and_bounded() {
        // /proc files say size 0: read whole all the same.
        let status = read_kernel_file(Path::new("/proc/self/status")).unwrap();
        assert!(status.contains("\nVmRSS:"), "{status}");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, "x".repeat(MAX_KERNEL_FILE_BYTES as usize + 10)).unwrap();
        assert_eq!(
            read_kernel_file(&big).unwrap().len() as u64,
            MAX_KERNEL_FILE_BYTES
        );
    }
}
