//! Finding and stopping every process one [`super::Browser`] started.
//!
//! chromedriver is started as the leader of a new process group, and Chromium's browser,
//! zygote, GPU, utility and renderer processes stay in that group. Chromium's crash handler
//! (`chrome_crashpad_handler`) does not: it starts its own session and is reparented to init,
//! so the group alone misses it. It is found by a marker instead: the browser's temporary
//! directory, which is in its `--database=` argument (XDG_CONFIG_HOME points there) and in the
//! browser's `--user-data-dir=`. Nothing is ever found by a process name, so another test's
//! (or a user's) Chromium is never touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process, kill_process_group};

/// How long Chromium gets to exit on SIGTERM before SIGKILL: a clean exit takes well under a
/// second; more means it is stuck, and a test must not hang on it.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// How long to wait for the kernel to take SIGKILLed processes away.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Polling interval of the waits above.
const POLL: Duration = Duration::from_millis(25);

/// The processes of one browser: chromedriver's process group and the marker path.
#[derive(Debug, Clone)]
pub struct ProcessProbe {
    pgid: u32,
    marker: PathBuf,
}

impl ProcessProbe {
    pub(super) fn new(pgid: u32, marker: &Path) -> Self {
        Self {
            pgid,
            marker: marker.to_path_buf(),
        }
    }

    /// The live processes of this browser, as `pid command-line` lines (empty when all are
    /// gone). Zombies do not count: they run nothing and wait only for their parent (init,
    /// for reparented Chromium children) to reap them.
    pub fn alive(&self) -> Vec<String> {
        self.live_pids()
            .into_iter()
            .map(|(pid, cmdline)| format!("{pid} {cmdline}"))
            .collect()
    }

    fn live_pids(&self) -> Vec<(u32, String)> {
        let me = std::process::id();
        // With the separator: every path the browser is given lies under the marker, and
        // no other temporary directory's name can then merely start with it.
        let marker = format!("{}/", self.marker.to_string_lossy());
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            // A process can exit between read_dir and these reads: then it is simply gone.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some((state, pgid)) = state_and_pgid(&stat) else {
                continue;
            };
            if state == 'Z' || state == 'X' {
                continue;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            // Group 0 holds the kernel's threads: a probe without a group matches by marker.
            if (self.pgid > 1 && pgid == self.pgid) || cmdline.contains(&marker) {
                found.push((pid, cmdline.trim_end().to_string()));
            }
        }
        found
    }

    /// Stops every process of this browser: SIGTERM to the group and to the marked
    /// processes, SIGKILL to whatever is left after [`TERM_GRACE`]. Returns what is still
    /// alive after that (normally nothing).
    pub(super) fn stop(&self) -> Vec<String> {
        for signal in [Signal::TERM, Signal::KILL] {
            // Group 0 or 1 would mean "our own group" or "every process we may signal": a
            // group id that is not chromedriver's own pid is never signalled.
            if self.pgid > 1
                && let Some(pgid) = i32::try_from(self.pgid).ok().and_then(Pid::from_raw)
            {
                // ESRCH (nobody left in the group) is the goal, not an error.
                let _ = kill_process_group(pgid, signal);
            }
            for (pid, _) in self.live_pids() {
                if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                    let _ = kill_process(pid, signal);
                }
            }
            let grace = if signal == Signal::TERM {
                TERM_GRACE
            } else {
                KILL_GRACE
            };
            let deadline = Instant::now() + grace;
            // Bounded: grace / POLL reads of /proc.
            while Instant::now() < deadline {
                if self.live_pids().is_empty() {
                    return Vec::new();
                }
                std::thread::sleep(POLL);
            }
        }
        self.alive()
    }
}

/// State letter and process group of a `/proc/PID/stat` line. The command name (field 2)
/// is in parentheses and may hold spaces or parentheses, so fields are counted after the
/// last `)`: state, ppid, pgrp.
fn state_and_pgid(stat: &str) -> Option<(char, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgid = fields.next()?.parse().ok()?;
    Some((state, pgid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_name_with_spaces() {
        let stat = "4242 (chrome (x) y) S 1 4200 4200 0 -1 4194560 0 0";
        assert_eq!(state_and_pgid(stat), Some(('S', 4200)));
        assert_eq!(state_and_pgid("garbage"), None);
    }

    #[test]
    fn own_process_is_never_listed() {
        let me = std::process::id();
        let probe = ProcessProbe::new(0, Path::new("/nonexistent-marker"));
        assert!(
            probe
                .alive()
                .iter()
                .all(|p| !p.starts_with(&format!("{me} ")))
        );
    }
}
