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

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use surge_ping::{IcmpPacket, PingIdentifier, PingSequence, SurgeError};
use tracing::debug;

use super::icmp_socket::{IcmpClient, IcmpClients};
use super::link::contract::{
    LinkProbe, LinkProbeError, ProbeContext, ProbeFuture, ProbeResult, ProbeSpec,
};
use super::link::kind::{ErrorKind, io_kind};
use super::link::target::{Host, Resolver, Target};

/// Echo payload: small, the content does not matter (surge-ping matches by header).
const PAYLOAD: [u8; 32] = [0x5a; 32];

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
