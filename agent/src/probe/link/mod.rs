//! Link probes: ICMP echo, TCP connect and HTTP(S) GET against configured targets, many
//! packets per report window, so a link's loss, RTT and jitter can be measured rather than
//! guessed from a single up/down check.
//!
//! * The probe kinds live one per file (`probe/icmp.rs`, `probe/tcp.rs`, `probe/http.rs`)
//!   behind [`LinkProbe`], and are listed in one table, [`LINK_PROBES`].
//! * [`target`] parses and checks what a target may be for each kind (shared by the config
//!   and the `probe` command) and resolves host names with a small cache.
//! * [`scheduler`] runs one light task per target and turns what they measured into one
//!   [`zerofault_protocol::LinkResult`] per target and report window, with the pure maths of
//!   [`crate::probe::link_stats`].

pub mod scheduler;
pub mod target;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::probe::{http, icmp, tcp};
pub use target::Target;

/// What kind of probe a target gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkKind {
    /// ICMP echo request / reply.
    Icmp,
    /// TCP connect (the three-way handshake).
    Tcp,
    /// HTTP or HTTPS GET, up to the response headers.
    Http,
}

impl LinkKind {
    /// Every kind, in table order.
    pub const ALL: [LinkKind; 3] = [LinkKind::Icmp, LinkKind::Tcp, LinkKind::Http];

    /// The protocol's name of the kind (`zerofault_protocol::LINK_KINDS`).
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Icmp => "icmp",
            LinkKind::Tcp => "tcp",
            LinkKind::Http => "http",
        }
    }

    /// Parses a protocol kind name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one probe failed; the protocol's `ErrorCount.kind`. Every failure counts as lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// No answer within the probe's timeout.
    Timeout,
    /// The network said the destination cannot be reached (ICMP destination unreachable or
    /// time exceeded, `EHOSTUNREACH`, `ENETUNREACH`).
    Unreachable,
    /// The host answered the TCP SYN with a reset (`ECONNREFUSED`): the host is up, the
    /// service is not.
    Refused,
    /// The TLS handshake failed (untrusted or expired certificate, wrong name, protocol).
    Tls,
    /// The HTTP server answered with a status of 400 or more.
    HttpStatus,
    /// Anything else (name resolution, local socket errors).
    Other,
}

impl ErrorKind {
    /// Every kind, in the order errors are reported.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Timeout,
        ErrorKind::Unreachable,
        ErrorKind::Refused,
        ErrorKind::Tls,
        ErrorKind::HttpStatus,
        ErrorKind::Other,
    ];

    /// The protocol's name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Refused => "refused",
            ErrorKind::Tls => "tls",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    IcmpSocket(#[from] Arc<icmp::IcmpSocketError>),
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
    pub icmp: Arc<icmp::IcmpClients>,
}

/// Builds the probe of one target. Must be called inside a tokio runtime (ICMP sockets spawn
/// their receive task).
pub type MakeLinkProbe =
    fn(&ProbeSpec, &ProbeContext) -> Result<Arc<dyn LinkProbe>, LinkProbeError>;

/// The link probe table: one line per kind; adding a kind is one file and one line here
/// (plus its target syntax in [`target`]).
pub const LINK_PROBES: &[(LinkKind, MakeLinkProbe)] = &[
    (LinkKind::Icmp, icmp::make),
    (LinkKind::Tcp, tcp::make),
    (LinkKind::Http, http::make),
];

/// Builds the probe for `spec` from [`LINK_PROBES`].
pub fn make_probe(
    spec: &ProbeSpec,
    ctx: &ProbeContext,
) -> Result<Arc<dyn LinkProbe>, LinkProbeError> {
    let make = LINK_PROBES
        .iter()
        .find(|(k, _)| *k == spec.kind)
        .map(|(_, m)| *m)
        .expect("every LinkKind has a line in LINK_PROBES");
    make(spec, ctx)
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
    fn every_kind_has_a_table_line_and_a_protocol_name() {
        for k in LinkKind::ALL {
            assert!(LINK_PROBES.iter().any(|(t, _)| *t == k), "{k}");
            assert!(zerofault_protocol::LINK_KINDS.contains(&k.as_str()));
            assert_eq!(LinkKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(LINK_PROBES.len(), LinkKind::ALL.len());
        assert_eq!(LinkKind::parse("udp"), None);
    }

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
