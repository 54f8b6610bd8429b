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

/// Reads a small kernel file into a string.
pub(super) fn read(path: impl AsRef<Path>) -> Result<String, ProbeError> {
    let path = path.as_ref();
    std::fs::read_to_string(path).map_err(|source| ProbeError::Read {
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
