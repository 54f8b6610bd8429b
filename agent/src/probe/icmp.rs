//! ICMP echo probes (IPv4 and IPv6) with surge-ping.
//!
//! Sockets: one per address family, shared by every ICMP target of the agent (hundreds of
//! targets cost one socket and one receive task per family). Each socket is opened as an
//! unprivileged ICMP datagram socket first (`SOCK_DGRAM`, allowed when the agent's group is
//! in the sysctl `net.ipv4.ping_group_range`, which Linux applies to IPv6 too), and as a raw
//! socket (needs `CAP_NET_RAW`) when that is refused. Datagram sockets are preferred: least
//! privilege, and a raw socket receives a copy of every ICMP packet the host gets.
//!
//! Matching replies: surge-ping matches a reply by (address, identifier, sequence). On a
//! datagram socket the kernel owns the identifier, so sequence numbers are drawn from one
//! counter per socket: two targets with the same address (two links over one path) never
//! wait for the same reply. On a raw socket each target also has its own identifier.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use surge_ping::{Client, ICMP, IcmpPacket, PingIdentifier, PingSequence, SurgeError};
use tracing::{debug, info};

use super::link::target::{Host, Resolver};
use super::link::{
    ErrorKind, LinkProbe, LinkProbeError, ProbeContext, ProbeFuture, ProbeResult, ProbeSpec, Target,
};

/// Echo payload: small, the content does not matter (surge-ping matches by header).
const PAYLOAD: [u8; 32] = [0x5a; 32];

/// Why no ICMP socket could be opened for an address family.
#[derive(Debug, thiserror::Error)]
pub enum IcmpSocketError {
    /// Both the datagram and the raw socket were refused: the fix is a sysctl or a
    /// capability, and the message names both.
    #[error(
        "cannot open an ICMP socket for {family}: permission denied for both socket kinds. \
Allow unprivileged ICMP datagram sockets for the agent's group with the sysctl \
net.ipv4.ping_group_range (it covers IPv6 too), e.g. `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` \
(persist it in /etc/sysctl.d/), or give the agent CAP_NET_RAW for raw sockets: \
`setcap cap_net_raw+ep /usr/bin/zerofault-agent`, or `AmbientCapabilities=CAP_NET_RAW` in its systemd unit"
    )]
    PermissionDenied {
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// The address family is not available (e.g. IPv6 disabled on this host).
    #[error(
        "cannot open an ICMP socket for {family}: {family} is not available on this host ({source})"
    )]
    Unsupported {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The socket error.
        source: io::Error,
    },
    /// Any other socket error.
    #[error("cannot open an ICMP socket for {family}: {source}")]
    Other {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The socket error.
        source: io::Error,
    },
}

/// One shared socket and its sequence counter.
#[derive(Clone)]
pub struct IcmpClient {
    client: Client,
    raw: bool,
    next_seq: Arc<AtomicU16>,
}

impl std::fmt::Debug for IcmpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcmpClient")
            .field("raw", &self.raw)
            .finish()
    }
}

impl IcmpClient {
    /// Whether this is a raw socket (the `CAP_NET_RAW` fallback).
    pub fn is_raw(&self) -> bool {
        self.raw
    }
}

type Opened = Result<IcmpClient, Arc<IcmpSocketError>>;

/// The per-family ICMP sockets of one agent, opened on first use.
#[derive(Debug)]
pub struct IcmpClients {
    v4: OnceLock<Opened>,
    v6: OnceLock<Opened>,
    next_ident: AtomicU16,
}

impl Default for IcmpClients {
    fn default() -> Self {
        Self {
            v4: OnceLock::new(),
            v6: OnceLock::new(),
            // Random start: raw sockets see other programs' echo replies too, and ping(8)
            // uses small identifiers (its pid or port).
            next_ident: AtomicU16::new(rand::random()),
        }
    }
}

impl IcmpClients {
    /// The socket for `ip`'s family, opening it on first use. Must run inside a tokio runtime.
    pub fn get(&self, ipv6: bool) -> Opened {
        let cell = if ipv6 { &self.v6 } else { &self.v4 };
        cell.get_or_init(|| open(ipv6)).clone()
    }

    fn ident(&self) -> u16 {
        self.next_ident.fetch_add(1, Ordering::Relaxed)
    }
}

fn open(ipv6: bool) -> Opened {
    let (kind, family) = if ipv6 {
        (ICMP::V6, "IPv6")
    } else {
        (ICMP::V4, "IPv4")
    };
    // surge-ping tries the hinted type first and falls back to the other one: DGRAM, then RAW.
    let config = surge_ping::Config::builder()
        .kind(kind)
        .sock_type_hint(socket2::Type::DGRAM)
        .build();
    match Client::new(&config) {
        Ok(client) => {
            let raw = client.get_socket().get_type() == socket2::Type::RAW;
            info!(
                family,
                socket = if raw {
                    "raw (CAP_NET_RAW)"
                } else {
                    "datagram (net.ipv4.ping_group_range)"
                },
                "ICMP socket open"
            );
            Ok(IcmpClient {
                client,
                raw,
                next_seq: Arc::new(AtomicU16::new(rand::random())),
            })
        }
        Err(source) => Err(Arc::new(classify_open_error(family, source))),
    }
}

/// Maps the socket error of the last attempt to an error with the fix.
pub fn classify_open_error(family: &'static str, source: io::Error) -> IcmpSocketError {
    match source.kind() {
        io::ErrorKind::PermissionDenied => IcmpSocketError::PermissionDenied { family },
        io::ErrorKind::Unsupported => IcmpSocketError::Unsupported { family, source },
        _ if source.raw_os_error() == Some(97) => IcmpSocketError::Unsupported { family, source }, // EAFNOSUPPORT
        _ => IcmpSocketError::Other { family, source },
    }
}

/// Builds an ICMP probe; fails when the target's address family has no usable socket.
pub fn make(spec: &ProbeSpec, ctx: &ProbeContext) -> Result<Arc<dyn LinkProbe>, LinkProbeError> {
    let Target::Icmp(host) = &spec.target else {
        return Err(LinkProbeError::WrongTarget(spec.target_text.clone()));
    };
    match host {
        Host::Ip(ip) => {
            ctx.icmp.get(ip.is_ipv6())?;
        }
        // A name may resolve to either family: usable if either socket opens.
        Host::Name(_) => {
            let v4 = ctx.icmp.get(false);
            if v4.is_err() && ctx.icmp.get(true).is_err() {
                v4?;
            }
        }
    }
    Ok(Arc::new(IcmpProbe {
        resolver: Resolver::new(host.clone()),
        clients: ctx.icmp.clone(),
        ident: ctx.icmp.ident(),
        timeout: spec.timeout,
    }))
}

struct IcmpProbe {
    resolver: Resolver,
    clients: Arc<IcmpClients>,
    ident: u16,
    timeout: Duration,
}

impl LinkProbe for IcmpProbe {
    fn probe(&self, _seq: u16) -> ProbeFuture<'_> {
        Box::pin(async move {
            let clients = &self.clients;
            let ip = match tokio::time::timeout(
                self.timeout.max(Duration::from_secs(2)),
                self.resolver
                    .resolve(|ip| clients.get(ip.is_ipv6()).is_ok()),
            )
            .await
            {
                Ok(Ok(ip)) => ip,
                Ok(Err((kind, detail))) => return ProbeResult::lost(kind, detail),
                Err(_) => return ProbeResult::lost(ErrorKind::Other, "name resolution timed out"),
            };
            let client = match clients.get(ip.is_ipv6()) {
                Ok(c) => c,
                Err(e) => return ProbeResult::lost(ErrorKind::Other, e.to_string()),
            };
            echo(&client, ip, self.ident, self.timeout).await
        })
    }
}

async fn echo(client: &IcmpClient, ip: IpAddr, ident: u16, timeout: Duration) -> ProbeResult {
    let seq = client.next_seq.fetch_add(1, Ordering::Relaxed);
    let mut pinger = client.client.pinger(ip, PingIdentifier(ident)).await;
    pinger.timeout(timeout);
    match pinger.ping(PingSequence(seq), &PAYLOAD).await {
        Ok((packet, rtt)) => match reply_kind(&packet) {
            None => ProbeResult::ok(rtt),
            Some(kind) => {
                ProbeResult::lost(kind, format!("ICMP error from {}", source_of(&packet)))
            }
        },
        Err(SurgeError::Timeout { .. }) => {
            ProbeResult::lost(ErrorKind::Timeout, "no echo reply in time")
        }
        Err(SurgeError::IOError(e)) => ProbeResult::lost(io_kind(&e), e.to_string()),
        Err(e) => {
            debug!(%ip, "ICMP probe failed: {e}");
            ProbeResult::lost(ErrorKind::Other, e.to_string())
        }
    }
}

/// `None` for an echo reply; the error kind for an ICMP error quoting our request.
fn reply_kind(packet: &IcmpPacket) -> Option<ErrorKind> {
    match packet {
        IcmpPacket::V4(p) => match p.get_icmp_type().0 {
            0 => None,
            // Destination unreachable, time exceeded.
            3 | 11 => Some(ErrorKind::Unreachable),
            _ => Some(ErrorKind::Other),
        },
        IcmpPacket::V6(p) => match p.get_icmpv6_type().0 {
            129 => None,
            // Destination unreachable, time exceeded.
            1 | 3 => Some(ErrorKind::Unreachable),
            _ => Some(ErrorKind::Other),
        },
    }
}

fn source_of(packet: &IcmpPacket) -> String {
    match packet {
        IcmpPacket::V4(p) => p.get_source().to_string(),
        IcmpPacket::V6(p) => p.get_source().to_string(),
    }
}

/// Error kind of a socket error (shared with the TCP probe).
pub fn io_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            ErrorKind::Unreachable
        }
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_error_names_the_sysctl_and_the_capability() {
        let e = classify_open_error("IPv6", io::Error::from(io::ErrorKind::PermissionDenied));
        let m = e.to_string();
        assert!(m.contains("net.ipv4.ping_group_range"), "{m}");
        assert!(m.contains("CAP_NET_RAW"), "{m}");
        assert!(m.contains("setcap cap_net_raw+ep"), "{m}");
        assert!(m.contains("AmbientCapabilities"), "{m}");
        assert!(m.contains("IPv6"), "{m}");
        let e = classify_open_error("IPv6", io::Error::from_raw_os_error(97));
        assert!(e.to_string().contains("not available"), "{e}");
    }

    #[test]
    fn socket_errors_map_to_kinds() {
        assert_eq!(
            io_kind(&io::Error::from(io::ErrorKind::ConnectionRefused)),
            ErrorKind::Refused
        );
        assert_eq!(
            io_kind(&io::Error::from_raw_os_error(113)),
            ErrorKind::Unreachable
        ); // EHOSTUNREACH
        assert_eq!(
            io_kind(&io::Error::from_raw_os_error(101)),
            ErrorKind::Unreachable
        ); // ENETUNREACH
        assert_eq!(
            io_kind(&io::Error::from(io::ErrorKind::TimedOut)),
            ErrorKind::Timeout
        );
        assert_eq!(io_kind(&io::Error::other("x")), ErrorKind::Other);
    }
}
