//! The mTLS accept loop of the ingest listener: connection caps, TLS handshake, client
//! identity, HTTP/1.1. Who may hold a connection is decided by [`super::connections`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::ClientIdentity;
use super::connections::{Admission, ConnId, ConnectionLimits, Refusal, Table};
use super::parked::{self, HEADER_READ_TIMEOUT};
use crate::live::hosts::IngestCounters;

/// The connection table shared by the accept loop and the connection tasks.
type SharedTable = Arc<Mutex<Table<AbortHandle>>>;

/// A client that has not finished the handshake by then is dropped, so half-open
/// connections cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole life of a connection without a client certificate: time to send one request
/// and read its 401.
const UNAUTHENTICATED_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for in-flight requests before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Most source addresses whose connection rate is kept (`rate.rs`): 64 bytes each.
const MAX_RATED_ADDRESSES: usize = 65_536;
/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Where the listener reports what it refused: the connection counters, and the audit log's
/// authentication failures (handshakes that failed or timed out, per source and minute).
#[derive(Debug, Clone)]
pub struct Observers {
    /// Self-metrics.
    pub counters: Arc<IngestCounters>,
    /// The audit log (`None`: not audited).
    pub audit: Option<crate::audit::Audit>,
}

/// Serves `app` over mTLS on `listener` until `shutdown` becomes true, then lets in-flight
/// requests finish (at most [`DRAIN_TIMEOUT`]). `limits` should already be lowered to the
/// descriptor limit ([`super::connections::connections_within`]); an agent connection
/// without a request for `idle_timeout` is closed.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    limits: ConnectionLimits,
    idle_timeout: Duration,
    observers: Observers,
    mut shutdown: watch::Receiver<bool>,
) {
    let Observers { counters, audit } = observers;
    let acceptor = TlsAcceptor::from(tls);
    let mut connections = JoinSet::new();
    let table: SharedTable = Arc::new(Mutex::new(Table::new(limits)));
    counters.set_connections(0, limits.max_connections);
    let per_second = f64::from(limits.new_connections_per_address_per_second.max(1));
    let mut per_address = super::rate::Limiter::new(
        super::rate::Rate {
            per_second,
            burst: per_second * 10.0,
        },
        MAX_RATED_ADDRESSES,
    );
    let started = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => {
                    // An IPv4 agent on a dual-stack socket is its IPv4 address.
                    let addr = std::net::SocketAddr::new(addr.ip().to_canonical(), addr.port());
                    let now_ms = started.elapsed().as_millis() as u64;
                    if per_address.take(&rate_key(addr.ip()), now_ms) == super::rate::Decision::Deny {
                        // Before the handshake, which is what a flood costs.
                        drop(tcp);
                        refused(&counters, Refusal::Rate, addr, None);
                        continue;
                    }
                    let admission = lock(&table).admit(rate_key(addr.ip()));
                    let (id, evicted) = match admission {
                        Admission::Refuse => {
                            refused(&counters, Refusal::Full, addr, None);
                            continue;
                        }
                        Admission::Admit { id, evicted } => (id, evicted),
                    };
                    let slot = Slot {
                        table: table.clone(),
                        counters: counters.clone(),
                        audit: audit.clone(),
                        id,
                        agent: None,
                    };
                    // Spawned outside the lock: a task dropped at once (runtime shutting
                    // down) gives its slot back, which takes the lock. A handshake that
                    // finishes before its handle is recorded has left the handshake set,
                    // and set_handle then does nothing.
                    let handle = connections.spawn(connection(
                        acceptor.clone(),
                        tcp,
                        addr,
                        app.clone(),
                        slot,
                        idle_timeout,
                        shutdown.clone(),
                    ));
                    {
                        let mut t = lock(&table);
                        t.set_handle(id, handle);
                        counters.set_connections(t.open(), limits.max_connections);
                    }
                    for handle in evicted {
                        handle.abort();
                        refused(&counters, Refusal::HandshakeEvicted, addr, None);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ingest accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "dropping ingest connections still open after the drain timeout"
        );
    }
}

/// The key of an address's connection rate and handshake cap: an IPv4 address (also when
/// it arrived IPv4-mapped on a dual-stack socket), or an IPv6 address's /64 (a host usually
/// has a whole /64 to pick addresses from, so per /128 it could take every slot).
fn rate_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// A connection's place in the table; gives it back however the connection task ends
/// (finished, failed or aborted).
#[derive(Debug)]
struct Slot {
    table: SharedTable,
    counters: Arc<IngestCounters>,
    audit: Option<crate::audit::Audit>,
    id: ConnId,
    /// The identity counted against `max_connections_per_agent`, once admitted.
    agent: Option<String>,
}

impl Slot {
    /// Records the finished handshake of `agent`; false when the identity is at its cap or
    /// the connection was evicted meanwhile.
    fn handshake_done(&mut self, agent: &str) -> bool {
        let admitted = lock(&self.table).handshake_done(self.id, agent);
        if admitted {
            self.agent = Some(agent.to_owned());
        }
        admitted
    }
}

/// The table's lock. Its updates are single statements that leave it consistent, so a
/// panic elsewhere while it was held does not make it unusable.
fn lock(table: &SharedTable) -> std::sync::MutexGuard<'_, Table<AbortHandle>> {
    table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = lock(&self.table);
        t.closed(self.id, self.agent.as_deref());
        self.counters
            .set_connections(t.open(), t.limits().max_connections);
    }
}

/// Counts a connection the caps closed, and logs the first of each run of them: a flood
/// must not turn into a flood of log lines. `peer` is the connection that caused it (for an
/// evicted handshake: the newcomer that took its place).
fn refused(counters: &IngestCounters, reason: Refusal, peer: SocketAddr, agent: Option<&str>) {
    let n = counters.connection_refused(reason);
    if n.is_power_of_two() {
        tracing::warn!(
            reason = reason.as_str(),
            peer = %peer,
            agent = agent.unwrap_or("-"),
            total = n,
            "ingest connection closed by the connection caps (limits.max_connections, max_connections_per_agent, max_handshakes_per_address, new_connections_per_address_per_second); logged at every power of two"
        );
    }
}

async fn connection(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer_addr: SocketAddr,
    app: axum::Router,
    mut slot: Slot,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    // Reports are one small request and one small answer: do not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    // Boxed: its state would otherwise stay part of the connection task's size for the
    // connection's whole life (parked.rs).
    // The stream is boxed too: its 1.2 KB would otherwise stay in this task's room.
    let handshake = Box::pin(async move { acceptor.accept(tcp).await.map(Box::new) });
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            // A client certificate from another CA ends here.
            tracing::info!(peer = %peer_addr, error = %e, "ingest TLS handshake failed");
            if let Some(audit) = &slot.audit {
                audit.auth_failure(peer_addr.ip(), "tls_handshake_failed");
            }
            return;
        }
        Err(_) => {
            tracing::debug!(peer = %peer_addr, "ingest TLS handshake timed out");
            if let Some(audit) = &slot.audit {
                audit.auth_failure(peer_addr.ip(), "tls_handshake_timeout");
            }
            return;
        }
    };
    let (common_name, not_before_unix) = crate::tls::peer_identity(stream.get_ref().1);
    let identity = ClientIdentity {
        common_name,
        peer_addr,
        not_before_unix,
    };
    if let Some(agent) = identity.common_name.as_deref() {
        if !slot.handshake_done(agent) {
            refused(&slot.counters, Refusal::PerAgent, peer_addr, Some(agent));
            return;
        }
        // Kept alive, and parked between reports (parked.rs). Boxed: awaiting a future
        // built in place keeps two rooms for it in this task.
        let closed = Box::pin(parked::serve(
            stream,
            identity,
            app,
            idle_timeout,
            stopped(&mut shutdown),
        ))
        .await;
        tracing::trace!(peer = %peer_addr, ?closed, "ingest connection closed");
        return;
    }
    // No usable certificate: one request for its 401, then closed; the slot stays
    // evictable meanwhile (connections.rs) and the whole exchange is time-boxed.
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(identity.clone());
        app.clone().oneshot(request)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(false);
    // Boxed, so that its room is not part of every agent connection's task.
    let conn = Box::pin(builder.serve_connection(TokioIo::new(stream), service));
    let _ = tokio::time::timeout(UNAUTHENTICATED_TIMEOUT, conn).await;
}

/// Completes once shutdown was requested (or its sender is gone). Returns nothing: the
/// `watch` guard is not `Send` and must not live across the awaits that follow.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::rate_key;

    #[test]
    fn one_key_per_ipv4_address_and_per_ipv6_64() {
        let key = |s: &str| rate_key(s.parse().unwrap());
        assert_eq!(key("198.18.0.2"), key("::ffff:198.18.0.2"));
        assert_ne!(key("::ffff:198.18.0.2"), key("::ffff:198.18.0.6"));
        assert_eq!(key("2001:2:0:1::2"), key("2001:2:0:1:ffff::9"));
        assert_ne!(key("2001:2:0:1::2"), key("2001:2:0:2::2"));
    }
}
