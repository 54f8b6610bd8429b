//! Running a host command to completion from the harness (ip, nft, mount, cp, kill...).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use anyhow::Context as _;

/// Runs `cmd` to completion (with `stdin` written to it, if any); its stdout, or an error
/// that shows the command and its stderr.
pub(crate) fn run(mut cmd: Command, stdin: Option<&str>) -> anyhow::Result<String> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot run {cmd:?}: {e}"))?;
    if let Some(text) = stdin {
        // Take the pipe so it is closed (EOF for the child) when this block ends.
        let mut pipe = child.stdin.take().expect("stdin was piped");
        pipe.write_all(text.as_bytes())?;
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output()?;
    anyhow::ensure!(
        status.success(),
        "{cmd:?} failed with {status}: {}{}",
        String::from_utf8_lossy(&stderr).trim(),
        stdin.map(|s| format!("\ninput:\n{s}")).unwrap_or_default()
    );
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// Runs `cmd` with stdin closed; its output whatever its exit status (the caller judges it),
/// or an error when it cannot be started.
pub(crate) fn output(cmd: &mut Command) -> anyhow::Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))
}
