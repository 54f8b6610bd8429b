//! Why the demo could not start or stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why the demo could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A listen address is taken (or otherwise unusable) before anything was started.
    #[error("cannot listen on {addr} (set another address with {flag} ADDR)")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The command-line flag that sets it.
        flag: &'static str,
        /// The cause (usually "address already in use").
        #[source]
        source: std::io::Error,
    },
    /// Both listeners were given the same address.
    #[error("--ingest-listen and --http-listen are both {0}; give them different ports")]
    SameAddress(SocketAddr),
    /// The agent binary is not next to the collector binary.
    #[error(
        "{} not found: build the whole workspace first (`cargo build --release` at the \
         repository root), so that zerofault-agent sits next to zerofault-collector",
        .0.display()
    )]
    AgentBinaryMissing(PathBuf),
    /// No loopback port could be held for the simulated cut.
    #[error("cannot hold a loopback port for the simulated cut")]
    CutPort(#[source] std::io::Error),
    /// A child process exited while the demo was running or starting.
    #[error("the {name} process exited ({status}); its log is {}", log.display())]
    ChildExited {
        /// `collector` or `agent ID`.
        name: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
    },
    /// The collector did not answer `/healthz` in time.
    #[error("the collector did not answer http://{addr}/healthz within {timeout:?}; see {}", log.display())]
    NotReady {
        /// The address polled.
        addr: SocketAddr,
        /// How long the demo waited.
        timeout: Duration,
        /// The collector's log file.
        log: PathBuf,
    },
}
