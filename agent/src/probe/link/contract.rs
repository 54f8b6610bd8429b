//! What a link probe is to the rest of the agent: its checked target ([`ProbeSpec`]), the
//! [`LinkProbe`] trait each kind implements, what one probe measured, and the resources
//! all probes share. Apart from the probe table in `mod.rs`, which names every kind's file,
//! so that those files do not import the table back.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::kind::{ErrorKind, LinkKind};
use super::target::Target;
use crate::probe::icmp_socket::{IcmpClients, IcmpSocketError};

/// What one probe measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// Round-trip time of an answered probe, or why it counts as lost.
    pub rtt: Result<Duration, ErrorKind>,
    /// HTTP status of the answer (HTTP probes that got one), else 0.
    pub http_status: u16,
    /// A human explanation of a failure for logs and the `probe` command; never sent.
    pub detail: Option<String>,
}

impl ProbeResult {
    /// An answered probe.
    pub fn ok(rtt: Duration) -> Self {
        Self {
            rtt: Ok(rtt),
            http_status: 0,
            detail: None,
        }
    }

    /// A lost probe.
    pub fn lost(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            rtt: Err(kind),
            http_status: 0,
            detail: Some(detail.into()),
        }
    }
}

/// A boxed probe future: probes are few kinds behind one pointer, so dynamic dispatch costs
/// nothing that matters next to a network round trip.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = ProbeResult> + Send + 'a>>;

/// One probe target of one kind. `probe` sends one packet (or connection, or request) and
/// resolves with its outcome no later than the configured timeout (plus scheduling noise).
pub trait LinkProbe: Send + Sync + 'static {
    /// Sends probe number `seq` (1, 2, ...; wraps) and waits for its outcome.
    fn probe(&self, seq: u16) -> ProbeFuture<'_>;
}

/// One configured probe target, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    /// Link id (the collector inventory's link id).
    pub link: String,
    /// Probe kind.
    pub kind: LinkKind,
    /// The target as the operator wrote it (sent in reports).
    pub target_text: String,
    /// The parsed target.
    pub target: Target,
    /// Time between probes.
    pub interval: Duration,
    /// Time after which an unanswered probe counts as lost (`timeout`).
    pub timeout: Duration,
    /// Backbone level (`zerofault_protocol::LINK_LEVELS`) or empty.
    pub level: String,
    /// Network domain (`zerofault_protocol::LINK_DOMAINS`) or empty.
    pub domain: String,
    /// CA files an HTTPS target's certificate may chain to (the probe's `ca`, then the
    /// agent's `tls.ca`); empty for other kinds.
    pub trusted_cas: Vec<PathBuf>,
}

/// Why a probe target cannot run at all (as opposed to one probe failing).
#[derive(Debug, thiserror::Error)]
pub enum LinkProbeError {
    /// No ICMP socket could be opened for the target's address family.
    #[error(transparent)]
    IcmpSocket(#[from] Arc<IcmpSocketError>),
    /// The HTTPS trust roots could not be loaded.
    #[error("{0}")]
    Tls(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    /// The target does not suit the kind (a bug: the config checks this).
    #[error("target {0:?} does not suit this probe kind")]
    WrongTarget(String),
}

/// Shared resources of all probes of one agent: hundreds of targets must be cheap, so ICMP
/// uses one socket per address family for all of them.
#[derive(Debug, Default)]
pub struct ProbeContext {
    /// The shared ICMP sockets, opened on first use.
    pub icmp: Arc<IcmpClients>,
}

/// The default `timeout` for a packet interval: the interval, at most 1 s. A probe then
/// normally finishes before the next one starts (one in flight per target), and its outcome
/// is known within a second, so a report window boundary moves few probes to the next window.
pub fn default_timeout(interval: Duration) -> Duration {
    interval.min(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_timeout_is_the_interval_up_to_a_second() {
        assert_eq!(
            default_timeout(Duration::from_millis(200)),
            Duration::from_millis(200)
        );
        assert_eq!(
            default_timeout(Duration::from_secs(5)),
            Duration::from_secs(1)
        );
    }
}
