//! The per-agent report sequence number: increasing within a boot of the host, across
//! agent restarts (not across a restored VM snapshot, which brings back an older file and
//! the same boot id), because the collector stores `(agent_id, boot_id, sequence)` at
//! most once and would silently drop a report that reuses a number.
//!
//! The last used number is persisted in `<state_dir>/sequence`: decimal text right-aligned
//! in 20 columns and a newline, rewritten in place (one `pwrite` of 21 bytes at offset 0 on
//! a file kept open) before the number is used. Not fsynced, and it need not be: the number
//! must survive an agent crash or restart, which leaves the written page in the kernel's
//! cache (the next start reads it); only a crash of the host itself can lose the write, and
//! that starts a new boot (a new kernel `boot_id`), in which reusing a number of the old
//! boot is harmless. The earlier way, a temporary file, fsync and rename per report, cost
//! five system calls (open, write, fsync, close, rename) every report; docs/benchmarks.md
//! has the agent's CPU per cycle before and after.
//!
//! Numbers are seeded from the wall clock in microseconds whenever nothing usable is
//! persisted (first start, wiped, torn or unwritable state): reports are at least 1 s apart,
//! so a clock-seeded counter stays above every number used before as long as the clock does
//! not go back.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{error, warn};

/// File name of the persisted sequence number inside the state directory.
pub const FILE_NAME: &str = "sequence";

/// Why the sequence could not be persisted.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    /// The state directory could not be created.
    #[error("cannot create state directory {}: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The sequence file could not be written or renamed into place.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Parses the persisted file: one decimal integer, surrounding whitespace allowed.
pub fn parse_sequence(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Current wall-clock time in microseconds since the Unix epoch (0 if the clock is before
/// 1970).
pub fn clock_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The first number to use: after the persisted one if there is one, otherwise the seed.
pub fn first_sequence(persisted: Option<u64>, clock_seed: u64) -> u64 {
    match persisted {
        Some(last) => last.saturating_add(1),
        None => clock_seed.max(1),
    }
}

/// Bytes of the persisted record: 20 columns (`u64::MAX` has 20 digits) and a newline, so
/// that every write covers the whole file and no shorter number leaves a tail behind.
pub const RECORD_BYTES: usize = 21;

/// The persisted text of `value`.
pub fn record(value: u64) -> String {
    format!("{value:>20}\n")
}

/// Hands out sequence numbers and persists each one before it is used.
#[derive(Debug)]
pub struct Sequence {
    path: PathBuf,
    next: u64,
    /// The sequence file, open for writing; `None` for [`Sequence::read_only`] and after a
    /// write failure (so the error is logged once rather than every interval).
    file: Option<File>,
}

impl Sequence {
    /// Opens (creating if needed) the state directory and reads the persisted number.
    /// Never fails: problems are logged and the clock seed is used.
    pub fn open(state_dir: &Path) -> Self {
        let path = state_dir.join(FILE_NAME);
        if let Err(source) = std::fs::create_dir_all(state_dir) {
            error!(
                "{}; the report sequence will be seeded from the clock at every start. Create the directory and make it writable by the agent, or set agent.state_dir",
                SequenceError::CreateDir {
                    dir: state_dir.to_owned(),
                    source
                }
            );
        }
        let persisted = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let parsed = parse_sequence(&text);
                if parsed.is_none() {
                    warn!(path = %path.display(), "sequence file is corrupt; seeding the sequence from the clock");
                }
                parsed
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                warn!(path = %path.display(), "cannot read the sequence file ({e}); seeding the sequence from the clock");
                None
            }
        };
        let mut next = first_sequence(persisted, clock_micros());
        // A file the agent cannot open for writing (left by a run as root, made read-only)
        // is replaced once through the directory, as the agent wrote it before.
        let file = open_record(&path).or_else(|_| {
            replace(&path, next.saturating_sub(1))?;
            open_record(&path)
        });
        let file = match file {
            Ok(f) => Some(f),
            Err(source) => {
                error!(
                    "{}; the report sequence continues in memory, above the clock in microseconds, so that no number of this boot is used twice. Make the state directory and this file writable by the agent, or set agent.state_dir",
                    SequenceError::Write {
                        path: path.clone(),
                        source
                    }
                );
                // The persisted number is stale from now on: the next start would read it
                // again. The clock is above every number used before (module docs).
                next = next.max(clock_micros());
                None
            }
        };
        Self { path, next, file }
    }

    /// A sequence that continues from the persisted number but never writes (and never
    /// creates the state directory): for `once`, which sends nothing, so it must not
    /// consume numbers nor need write access.
    pub fn read_only(state_dir: &Path) -> Self {
        let path = state_dir.join(FILE_NAME);
        let persisted = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| parse_sequence(&t));
        Self {
            path,
            next: first_sequence(persisted, clock_micros()),
            file: None,
        }
    }

    /// Returns the next number, persisting it first so that an agent crash right after
    /// cannot make the next start reuse it.
    pub fn allocate(&mut self) -> u64 {
        let mut n = self.next;
        if let Some(file) = &self.file
            && let Err(source) = file.write_all_at(record(n).as_bytes(), 0)
        {
            error!(
                "{}; the report sequence continues in memory, above the clock in microseconds, so that no number of this boot is used twice. Make the state directory and this file writable by the agent, or set agent.state_dir",
                SequenceError::Write {
                    path: self.path.clone(),
                    source
                }
            );
            self.file = None;
            // This number is not persisted: a next start that can write again would read
            // the one before it and use this one twice. Jump above the clock first, as a
            // start does when nothing usable is persisted.
            n = n.max(clock_micros());
        }
        self.next = n.saturating_add(1);
        n
    }
}

/// Replaces the file at `path` by one holding `value` (temporary file, rename): what needs
/// only the directory to be writable.
fn replace(path: &Path, value: u64) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, record(value))?;
    std::fs::rename(&tmp, path)
}

/// Opens the sequence file for in-place writes, cut to one record (a file of an older
/// agent, `"123\n"`, is shorter; anything longer is not ours).
fn open_record(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    if file.metadata()?.len() > RECORD_BYTES as u64 {
        file.set_len(RECORD_BYTES as u64)?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_first() {
        assert_eq!(parse_sequence("42\n"), Some(42));
        assert_eq!(parse_sequence(" 7 "), Some(7));
        assert_eq!(parse_sequence(""), None);
        assert_eq!(parse_sequence("x"), None);
        assert_eq!(parse_sequence("-1"), None);
        assert_eq!(first_sequence(Some(41), 1_000), 42);
        assert_eq!(first_sequence(None, 1_000), 1_000);
        assert_eq!(first_sequence(None, 0), 1);
        assert_eq!(first_sequence(Some(u64::MAX), 5), u64::MAX);
    }

    #[test]
    fn persists_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut s = Sequence::open(&state);
        let a = s.allocate();
        let b = s.allocate();
        assert_eq!(b, a + 1);
        assert!(a >= 1_600_000_000_000_000, "seeded from the clock: {a}");
        let mut s = Sequence::open(&state);
        assert_eq!(s.allocate(), b + 1);
        assert_eq!(
            std::fs::read_to_string(state.join(FILE_NAME)).unwrap(),
            format!("{:>20}\n", b + 1)
        );
    }

    #[test]
    fn a_file_the_agent_cannot_write_is_replaced_through_the_directory() {
        // A path that cannot be opened for writing even by root (the tests run as root in
        // CI): a symbolic link into a directory that does not exist.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::os::unix::fs::symlink(dir.path().join("gone/sequence"), &path).unwrap();
        let mut s = Sequence::open(dir.path());
        let first = s.allocate();
        assert!(
            first >= 1_600_000_000_000_000,
            "seeded from the clock: {first}"
        );
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), record(first));
        assert!(!dir.path().join("sequence.tmp").exists());
    }

    #[test]
    fn continues_from_an_older_agents_file_and_never_leaves_a_tail() {
        let dir = tempfile::tempdir().unwrap();
        // An older agent wrote the number alone; a damaged file may be longer than a record.
        std::fs::write(dir.path().join(FILE_NAME), "41\n").unwrap();
        let mut s = Sequence::open(dir.path());
        assert_eq!(s.allocate(), 42);
        assert_eq!(s.allocate(), 43);
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(
            (text.len(), parse_sequence(&text)),
            (RECORD_BYTES, Some(43))
        );
        std::fs::write(dir.path().join(FILE_NAME), format!("{}\n", "9".repeat(40))).unwrap();
        let mut s = Sequence::open(dir.path());
        let seeded = s.allocate();
        assert!(
            seeded >= 1_600_000_000_000_000,
            "seeded from the clock: {seeded}"
        );
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(text, record(seeded));
        // The largest number fits the record.
        assert_eq!(record(u64::MAX).len(), RECORD_BYTES);
        // A read-only sequence (`once`) writes nothing.
        let mut ro = Sequence::read_only(dir.path());
        assert_eq!(ro.allocate(), seeded + 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap(),
            record(seeded)
        );
    }

    #[test]
    fn unwritable_state_dir_falls_back_to_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let mut s = Sequence::open(&file.join("state"));
        let a = s.allocate();
        let b = s.allocate();
        assert!(b > a);
        let before = clock_micros();
        assert!(a <= before);
        let mut s2 = Sequence::open(&file.join("state"));
        assert!(s2.allocate() > b);
    }
}
