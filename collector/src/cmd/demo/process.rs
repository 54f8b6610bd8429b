//! The demo's child processes: starting one with its lifeline, waiting for the collector,
//! stopping them all, and the one HTTP request the demo makes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};

use super::error::DemoError;

/// How long the collector may take to answer `/healthz` after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the children may take to exit after their stdin was closed before they are
/// killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of a child's log shown when it dies.
const LOG_TAIL_LINES: usize = 20;

/// One child process and where its output goes.
#[derive(Debug)]
pub struct Proc {
    /// `collector` or `agent ID`, for messages.
    pub name: String,
    /// The process.
    pub child: Child,
    /// Write end of the child's stdin; closing it (or the demo's exit) stops the child.
    lifeline: Option<ChildStdin>,
    /// Its output.
    pub log: PathBuf,
}

/// Starts `bin args config` with its output in `log` and a pipe as its stdin (the
/// lifeline, see the module docs of `demo`).
pub fn spawn(
    name: String,
    bin: &Path,
    args: &[&str],
    config: &Path,
    log: &Path,
) -> anyhow::Result<Proc> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("opening {}", log.display()))?;
    let mut child = Command::new(bin)
        .args(args)
        .arg(config)
        // The lifeline. std makes the demo's ends of pipes close-on-exec, so no other
        // child holds this write end and keeps this child alive.
        .stdin(Stdio::piped())
        // Log files, not the terminal: a closed terminal neither blocks nor kills a child
        // writing to it.
        .stdout(out)
        .stderr(err)
        // Own process group: Ctrl-C in the terminal reaches only the demo, which then
        // stops the children in order instead of racing their exit against its own.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let lifeline = child.stdin.take();
    Ok(Proc {
        name,
        child,
        lifeline,
        log: log.to_owned(),
    })
}

/// Waits until the collector answers `/healthz`; fails if it exits or takes too long.
pub async fn wait_ready(collector: &mut Proc, http: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = collector.child.try_wait()? {
            return Err(exited(collector, status));
        }
        if matches!(http_get(http, "/healthz").await, Ok((200, _))) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            print_log_tail(&collector.log);
            return Err(DemoError::NotReady {
                addr: http,
                timeout: READY_TIMEOUT,
                log: collector.log.clone(),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The error of a child that exited, after showing the end of its log.
pub fn exited(p: &Proc, status: ExitStatus) -> anyhow::Error {
    print_log_tail(&p.log);
    DemoError::ChildExited {
        name: p.name.clone(),
        status,
        log: p.log.clone(),
    }
    .into()
}

fn print_log_tail(log: &Path) {
    let Ok(text) = std::fs::read_to_string(log) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    if !tail.is_empty() {
        eprintln!("--- last lines of {} ---", log.display());
        for line in tail {
            eprintln!("{line}");
        }
        eprintln!("---");
    }
}

/// A minimal HTTP/1.1 GET over loopback: status code and body. The demo needs nothing
/// more, and a raw request keeps an HTTP client library out of the collector binary.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Stops children together: closes every stdin, so that each stops cleanly (an agent
/// flushing its state, the collector closing SQLite), waits a bounded time for all of them,
/// then kills those still running. A child that had already exited is left as it is.
pub async fn stop_all(procs: &mut [Proc]) {
    let running: Vec<bool> = procs
        .iter_mut()
        .map(|p| !matches!(p.child.try_wait(), Ok(Some(_))))
        .collect();
    for p in procs.iter_mut() {
        drop(p.lifeline.take());
    }
    let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
    for (p, running) in procs.iter_mut().zip(running) {
        if !running {
            continue;
        }
        match tokio::time::timeout_at(deadline, p.child.wait()).await {
            Ok(Ok(status)) => {
                if !status.success() {
                    eprintln!("the {} exited with {status} while stopping", p.name);
                }
                continue;
            }
            Ok(Err(e)) => eprintln!("cannot wait for the {}: {e}; killing it", p.name),
            Err(_) => eprintln!(
                "the {} did not stop within {STOP_TIMEOUT:?}; killing it",
                p.name
            ),
        }
        let _ = p.child.kill().await;
    }
}
