//! What every capacity probe is: one source of report fields, and how it fails. Apart from
//! the probe table in `mod.rs` so that the probes and the table do not import each other.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

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

/// Most `/proc` files kept open between reads (a cycle reads about 20), and apart from
/// them most `/sys` files (two per network interface): past it (a host with hundreds of
/// veth interfaces) files are opened per read. Two budgets, so that interfaces never take
/// the room of the cycle's files.
pub const MAX_KEPT_OPEN: usize = 128;

/// Kernel files kept open, by path: the identity they were opened for, and the file. The
/// lock is held for a whole read: the kernel keeps a file's text per open file, and another
/// thread's read from offset 0 between two chunks of a long file would make it afresh and
/// tear a line.
type Kept = HashMap<PathBuf, (u64, Arc<Mutex<File>>)>;

/// Kernel files kept open ([`read_kernel_file`], [`read_kernel_file_of`]).
static KEPT_OPEN: LazyLock<Mutex<Kept>> = LazyLock::new(Default::default);

/// Reads a kernel file into a string, at most [`MAX_KERNEL_FILE_BYTES`].
///
/// Files under `/proc` stay open and are read again from offset 0 (`pread`): the kernel
/// makes their text afresh for a read at offset 0 (seq_file restarts there), and the agent
/// reads the same ~20 every cycle, so opening each again cost a path walk, an `openat` and a
/// `close` per file per cycle (perf and the benchmark, issue 17: docs/benchmarks.md). Those
/// files are the system's or the agent's own (`/proc/self`), so a path always means the
/// same file. A kept file that fails to read is dropped and the path opened again. Other
/// paths are opened per read: a `/sys` path can come to mean another device (a network
/// interface renamed, another given its name), see [`read_kernel_file_of`].
///
/// Not `std::fs::read_to_string`: that asks the file's size first (a `statx` per file),
/// which `/proc` and `/sys` files do not know (they say 0 or 4096). The buffer starts at a
/// page, what nearly every such file fits in.
pub fn read_kernel_file(path: &Path) -> std::io::Result<String> {
    read_kept(path, path.starts_with("/proc/"), 0)
}

/// Reads a `/sys` file of an object that can be renamed or replaced, such as a network
/// interface's `operstate`, kept open for as long as `identity` stays the same: the inode
/// of the interface's `/sys/class/net` entry, which the caller has from listing the
/// directory. An open sysfs file follows its object through a rename, so the same path
/// read through a kept file after `ip link set eth0 name eth9` and a new `eth0` would be
/// the old interface's; the new `eth0` has an entry of its own (another inode), so the
/// file is opened again. The watcher reads two such files per interface every second, the
/// agent's most frequent opens at the default 15 s interval.
pub fn read_kernel_file_of(path: &Path, identity: u64) -> std::io::Result<String> {
    read_kept(path, path.starts_with("/sys/"), identity)
}

fn read_kept(path: &Path, keep: bool, identity: u64) -> std::io::Result<String> {
    let kept = || KEPT_OPEN.lock().unwrap_or_else(|e| e.into_inner());
    if keep {
        let found = kept().get(path).cloned();
        if let Some((was, file)) = found {
            if was == identity
                && let Ok(text) = read_from_start(&file.lock().unwrap_or_else(|e| e.into_inner()))
            {
                return Ok(text);
            }
            kept().remove(path);
        }
    }
    let file = File::open(path)?;
    let text = read_from_start(&file)?;
    if keep {
        let mut kept = kept();
        let proc = path.starts_with("/proc/");
        let same_class = kept
            .keys()
            .filter(|p| p.starts_with("/proc/") == proc)
            .count();
        if same_class < MAX_KEPT_OPEN {
            kept.insert(path.to_owned(), (identity, Arc::new(Mutex::new(file))));
        }
    }
    Ok(text)
}

/// Closes the kept files under `dir` whose next path component `present` does not accept:
/// the watcher's files of interfaces gone from its latest listing, so that a host whose
/// veth interfaces come and go does not fill the budget with files of dead ones.
pub fn forget_kept_under(dir: &Path, present: impl Fn(&str) -> bool) {
    KEPT_OPEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|path, _| {
            let Ok(rest) = path.strip_prefix(dir) else {
                return true;
            };
            rest.components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .is_some_and(&present)
        });
}

/// Reads `file` from offset 0 to its end (at most [`MAX_KERNEL_FILE_BYTES`]) by `pread`, so
/// that no file position is left behind for the next read.
fn read_from_start(file: &File) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let max = MAX_KERNEL_FILE_BYTES as usize;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if len >= max {
                break;
            }
            buf.resize((len * 2).min(max), 0);
        }
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
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
        // Kept open only under /proc and /sys.
        assert!(!KEPT_OPEN.lock().unwrap().contains_key(&big));
    }

    #[test]
    fn a_kept_kernel_file_is_made_afresh_at_every_read() {
        // /proc/uptime advances every 10 ms; the second read of the kept file sees it move.
        let path = Path::new("/proc/uptime");
        let first = read_kernel_file(path).unwrap();
        assert!(KEPT_OPEN.lock().unwrap().contains_key(path));
        std::thread::sleep(std::time::Duration::from_millis(30));
        let second = read_kernel_file(path).unwrap();
        let up = |t: &str| t.split_whitespace().next().unwrap().parse::<f64>().unwrap();
        assert!(up(&second) > up(&first), "{first} then {second}");
        // A file that cannot be read any more is dropped and opened again: a path that does
        // not exist is an error, every time, and is not kept.
        let gone = Path::new("/proc/zf-no-such-file");
        assert!(read_kernel_file(gone).is_err());
        assert!(read_kernel_file(gone).is_err());
        assert!(!KEPT_OPEN.lock().unwrap().contains_key(gone));
    }

    #[test]
    fn a_sys_file_is_kept_only_for_the_object_it_was_opened_for() {
        // `mtu`: a file no other test reads (the tests share the kept files).
        let lo = Path::new("/sys/class/net/lo/mtu");
        // Not kept through the plain read: a /sys path can change its meaning.
        read_kernel_file(lo).unwrap();
        assert!(!KEPT_OPEN.lock().unwrap().contains_key(lo));
        let state = read_kernel_file_of(lo, 7).unwrap();
        assert_eq!(KEPT_OPEN.lock().unwrap()[lo].0, 7);
        assert_eq!(read_kernel_file_of(lo, 7).unwrap(), state);
        // Another identity (the name given to another interface): opened again.
        read_kernel_file_of(lo, 8).unwrap();
        assert_eq!(KEPT_OPEN.lock().unwrap()[lo].0, 8);
        // An interface gone from the listing: its files are closed; others stay.
        let kept = |p: &str| KEPT_OPEN.lock().unwrap().contains_key(Path::new(p));
        forget_kept_under(Path::new("/sys/class/net"), |name| name != "lo");
        assert!(!kept("/sys/class/net/lo/mtu"));
        read_kernel_file(Path::new("/proc/loadavg")).unwrap();
        forget_kept_under(Path::new("/sys/class/net"), |_| false);
        assert!(kept("/proc/loadavg"));
    }
}
