//! The ICMP sockets of one agent: one per address family, shared by every ICMP target,
//! opened on first use as an unprivileged datagram socket or, when that is refused, as a raw
//! socket (the module documentation of [`super::icmp`] says why). Apart from the probe so
//! that the link probes' shared context can hold them without importing the probe.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};

use surge_ping::{Client, ICMP};
use tracing::info;

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
    pub(super) client: Client,
    raw: bool,
    /// Sequence numbers of every target on this socket (see [`super::icmp`]).
    pub(super) next_seq: Arc<AtomicU16>,
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

    /// A new echo identifier (each target on a raw socket has its own).
    pub(super) fn ident(&self) -> u16 {
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
}
