//! A fake wall clock for an agent: Debian's libfaketime, preloaded into the agent process.
//!
//! Rust's std reads the clock through libc's `clock_gettime`, which `LD_PRELOAD` can
//! interpose, so `SystemTime::now()` (report timestamps, certificate validity) follows the
//! fake clock while the binary stays unchanged. The library is preloaded directly rather
//! than through the `faketime` wrapper: the wrapper forks and waits, so the pid a test would
//! SIGKILL would be the wrapper's and the agent would live on.
//!
//! Only the wall clock is faked (`FAKETIME_DONT_FAKE_MONOTONIC=1`): a real clock step (NTP,
//! an operator's `date -s`) moves `CLOCK_REALTIME` and never `CLOCK_MONOTONIC`, and the
//! agent's timers run on the monotonic clock.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::AgentBuilder;

/// Where Debian's `libfaketime` package installs the multi-threaded library (the agent
/// reads the clock from several threads).
fn library_candidates() -> Vec<PathBuf> {
    let arch = std::env::consts::ARCH;
    vec![
        PathBuf::from(format!(
            "/usr/lib/{arch}-linux-gnu/faketime/libfaketimeMT.so.1"
        )),
        PathBuf::from("/usr/lib/faketime/libfaketimeMT.so.1"),
    ]
}

/// The libfaketime library, or an error that names the package to install.
pub fn library() -> anyhow::Result<PathBuf> {
    let candidates = library_candidates();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "libfaketime not found (looked at {candidates:?}); install the Debian package \
                 `faketime` (scripts/test does when run as root)"
            )
        })
}

/// An agent clock that is off by a fixed amount from its start, e.g. `+1h` (libfaketime's
/// relative syntax: `+`/`-`, a number, and `s`, `m`, `h`, `d` or `y`).
pub fn offset(agent: AgentBuilder, offset: &str) -> anyhow::Result<AgentBuilder> {
    Ok(agent
        .env("LD_PRELOAD", &library()?.to_string_lossy())
        .env("FAKETIME", offset)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1"))
}

/// An agent clock the test can step while the agent runs: libfaketime reads the offset from a
/// file at every clock read (`FAKETIME_NO_CACHE=1`), so writing a new offset is a clock step.
#[derive(Debug)]
pub struct SteppableClock {
    dir: TempDir,
}

impl SteppableClock {
    /// A clock that starts at `initial` (e.g. `+0`).
    pub fn new(initial: &str) -> anyhow::Result<Self> {
        let clock = Self {
            dir: tempfile::Builder::new().prefix("zf-faketime-").tempdir()?,
        };
        clock.set(initial)?;
        Ok(clock)
    }

    /// The file libfaketime reads.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("faketime")
    }

    /// Sets the offset from the real clock, e.g. `-10m`. Written to a temporary file and
    /// renamed, so the agent never reads a half-written offset.
    pub fn set(&self, offset: &str) -> anyhow::Result<()> {
        let tmp = self.dir.path().join("faketime.tmp");
        std::fs::write(&tmp, format!("{offset}\n"))?;
        std::fs::rename(&tmp, self.path())?;
        Ok(())
    }

    /// `agent` with this clock preloaded.
    pub fn apply(&self, agent: AgentBuilder) -> anyhow::Result<AgentBuilder> {
        with_file(agent, &self.path())
    }
}

fn with_file(agent: AgentBuilder, file: &Path) -> anyhow::Result<AgentBuilder> {
    Ok(agent
        .env("LD_PRELOAD", &library()?.to_string_lossy())
        .env("FAKETIME_TIMESTAMP_FILE", &file.to_string_lossy())
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1"))
}
