//! A child process that is killed when its handle is dropped, with its output in a log file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running child process owned by a test.
///
/// Dropping it kills and reaps the child, so a failing test never leaves a process behind.
/// If the drop happens while the thread is panicking (a failed assertion), the child's output
/// is printed first: the test's captured output then shows what the binary said.
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ChildGuard {
    /// Starts `cmd` with stdin closed and stdout+stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> anyhow::Result<Self> {
        let out = File::options().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {name} ({cmd:?}): {e}"))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    /// Process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has exited already (it should not have).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Everything the child has written to stdout and stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("<cannot read log: {e}>"))
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Asks the child to stop (SIGTERM, as systemd does) and waits up to `timeout` for it to
    /// exit; returns its exit status, or `None` when it had to be killed after the timeout.
    ///
    /// The signal is sent with `kill(1)`: the harness forbids `unsafe`, and std can only send
    /// SIGKILL.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exited() {
            return Some(status);
        }
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        if sent.is_ok_and(|s| s.success()) {
            let deadline = Instant::now() + timeout;
            // Bounded: timeout / 20 ms polls.
            while Instant::now() < deadline {
                if let Some(status) = self.exited() {
                    return Some(status);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
        None
    }

    /// Kills the child now and waits for it (idempotent).
    pub fn kill(&mut self) {
        // Kill fails only when the child was already reaped, which is the goal anyway.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "----- output of {} (pid {}) -----\n{}\n----- end of {} -----",
                self.name,
                self.child.id(),
                self.output(),
                self.name
            );
        }
    }
}
