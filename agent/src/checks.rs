//! What every component's settings check shares: the config file being checked (to resolve
//! relative paths and name the file in problems), whether files are opened, and the list
//! of problems, so that one `validate` run lists every wrong value of the file.
//!
//! Each component checks its own section next to its code (`*/settings.rs`) into one
//! [`Checks`]; `config.rs` only runs them in the order of the file's sections.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zerofault_common::duration::{format_duration, parse_duration};
use zerofault_common::problem::Problem;

/// Whether [`crate::config::load`] opens the TLS files. Off only for checking a config's
/// structure where the certificates are not installed (e.g. the example config in the
/// repository).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFiles {
    /// Check that the TLS files exist and parse as PEM, and that the key matches the cert.
    Yes,
    /// Skip every file-system check.
    No,
}

/// The problems found so far in one config file.
#[derive(Debug)]
pub struct Checks {
    /// The config file.
    file: PathBuf,
    /// Its directory, absolute: relative paths in the file are relative to it.
    base: PathBuf,
    /// Whether files named by the config are opened.
    check_files: CheckFiles,
    /// Every problem, in the order found.
    problems: Vec<Problem<String>>,
}

impl Checks {
    /// Starts checking the config file at `file`.
    pub fn new(file: &Path, check_files: CheckFiles) -> Self {
        // Absolute, so paths in logs and errors are unambiguous whatever the working
        // directory; `absolute` does not touch the file system.
        let base = std::path::absolute(file)
            .unwrap_or_else(|_| file.to_owned())
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        Self {
            file: file.to_owned(),
            base,
            check_files,
            problems: Vec::new(),
        }
    }

    /// Whether files named by the config are to be opened.
    pub fn files(&self) -> bool {
        self.check_files == CheckFiles::Yes
    }

    /// Records a problem with `key`.
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.clone(),
            key: key.into(),
            message: message.into(),
        });
    }

    /// How many problems were found so far (a section compares it before and after an
    /// entry to tell whether that entry was good).
    pub fn count(&self) -> usize {
        self.problems.len()
    }

    /// The problems found, in order.
    pub fn into_problems(self) -> Vec<Problem<String>> {
        self.problems
    }

    /// `p` resolved against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    /// Parses the duration `value` of `key`, which must lie within `min..=max`; on a
    /// problem, records it and returns the nearest bound (`min` for an unreadable value),
    /// so that the checks depending on it still run.
    pub fn duration(
        &mut self,
        key: impl Into<String>,
        value: &str,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let key = key.into();
        match parse_duration(value) {
            Ok(d) if d < min => {
                self.push(
                    key,
                    format!(
                        "{value:?} is too short; use at least {}",
                        format_duration(min)
                    ),
                );
                min
            }
            Ok(d) if d > max => {
                self.push(
                    key,
                    format!(
                        "{value:?} is too long; use at most {}",
                        format_duration(max)
                    ),
                );
                max
            }
            Ok(d) => d,
            Err(e) => {
                self.push(key, e.to_string());
                min
            }
        }
    }
}
