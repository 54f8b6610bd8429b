//! Running a host command from the container harness: its output, or an error that says
//! which command failed and what it printed.

use std::process::{Command, Output, Stdio};

use anyhow::{Context as _, ensure};

/// Runs `cmd`, returns its output; an error when it cannot be started.
pub(super) fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))
}

/// Runs `cmd`; an error with its output unless it succeeds.
pub(super) fn run_ok(cmd: &mut Command) -> anyhow::Result<String> {
    let out = run(cmd)?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
