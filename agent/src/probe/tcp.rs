//! TCP connect probes: the RTT is the time of the three-way handshake (from `connect` to
//! the socket being connected), name resolution excluded. The connection is closed at once;
//! nothing is sent on it.
//!
//! Failures: `ECONNREFUSED` -> `refused` (the host is up, the service is not),
//! `EHOSTUNREACH` / `ENETUNREACH` -> `unreachable`, no answer within the timeout ->
//! `timeout`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::link::contract::{
    LinkProbe, LinkProbeError, ProbeContext, ProbeFuture, ProbeResult, ProbeSpec,
};
use super::link::kind::{ErrorKind, io_kind};
use super::link::target::{Resolver, Target};

/// Builds a TCP probe.
pub fn make(spec: &ProbeSpec, _ctx: &ProbeContext) -> Result<Arc<dyn LinkProbe>, LinkProbeError> {
    let Target::Tcp(host, port) = &spec.target else {
        return Err(LinkProbeError::WrongTarget(spec.target_text.clone()));
    };
    Ok(Arc::new(TcpProbe {
        resolver: Resolver::new(host.clone()),
        port: *port,
        timeout: spec.timeout,
    }))
}

struct TcpProbe {
    resolver: Resolver,
    port: u16,
    timeout: Duration,
}

impl LinkProbe for TcpProbe {
    fn probe(&self, _seq: u16) -> ProbeFuture<'_> {
        Box::pin(async move {
            let ip = match tokio::time::timeout(
                self.timeout.max(Duration::from_secs(2)),
                self.resolver.resolve(|_| true),
            )
            .await
            {
                Ok(Ok(ip)) => ip,
                Ok(Err((kind, detail))) => return ProbeResult::lost(kind, detail),
                Err(_) => return ProbeResult::lost(ErrorKind::Other, "name resolution timed out"),
            };
            connect(SocketAddr::new(ip, self.port), self.timeout).await
        })
    }
}

/// One connect with a timeout.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> ProbeResult {
    let start = Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            let rtt = start.elapsed();
            drop(stream);
            ProbeResult::ok(rtt)
        }
        Ok(Err(e)) => ProbeResult::lost(io_kind(&e), format!("connect {addr}: {e}")),
        Err(_) => ProbeResult::lost(
            ErrorKind::Timeout,
            format!("connect {addr}: no answer in time"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_and_closed_ports() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let r = connect(open, Duration::from_secs(1)).await;
        assert!(r.rtt.is_ok(), "{r:?}");
        drop(listener);
        let r = connect(open, Duration::from_secs(1)).await;
        assert_eq!(r.rtt, Err(ErrorKind::Refused), "{r:?}");
    }
}
