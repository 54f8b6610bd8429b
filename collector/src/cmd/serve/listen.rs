//! Binding the two listeners, and the peer address as the collector records it.
//!
//! **Dual stack.** A listener on `[::]` takes IPv4 as well, whatever the host's
//! `net.ipv6.bindv6only` says (the socket clears `IPV6_V6ONLY` itself), so the default
//! `[::]:7443` serves agents of both families. On a host whose kernel has IPv6 switched off
//! (`ipv6.disable=1`, common on hardened government images) `[::]` cannot be bound: the
//! collector then listens on `0.0.0.0` with the same port and says so, instead of failing
//! to start with a default nobody chose. Any other address is bound as written.
//!
//! **Peer addresses.** On a dual-stack socket an IPv4 peer arrives as `::ffff:a.b.c.d`. It
//! is turned back into `a.b.c.d` before anything keys on it: the ingest listener's rate
//! limit and handshake cap (`live/ingest/listener.rs`), the HTTPS listener's
//! `ConnectInfo` (`http/https.rs`) and every reader of the plain one's
//! (`http::peer_addr`), so an IPv4 client is the same address whichever socket it reached.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::Context;
use tokio::net::TcpListener;

/// Connections the kernel queues before the collector accepts them (tokio's default).
const BACKLOG: i32 = 1024;

fn socket(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    // As tokio's own bind: a restarted collector can bind while old connections linger.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Binds `addr` (the setting `key`) as the module doc says; the error names the setting.
pub fn bind(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    let bound = match socket(addr) {
        // EAFNOSUPPORT: this kernel has no IPv6.
        Err(e)
            if addr.ip() == IpAddr::from([0u16; 8])
                && e.raw_os_error() == Some(rustix::io::Errno::AFNOSUPPORT.raw_os_error()) =>
        {
            let v4 = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port());
            tracing::warn!(
                setting = key,
                "IPv6 is not available on this host ({e}): listening on {v4} instead of {addr}"
            );
            socket(v4)
        }
        other => other,
    };
    let listener = bound.with_context(|| format!("cannot listen on {addr} ({key})"))?;
    TcpListener::from_std(listener).with_context(|| format!("cannot listen on {addr} ({key})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_unspecified_ipv6_address_takes_both_families() {
        let listener = bind("[::]:0".parse().unwrap(), "listen.ingest").unwrap();
        let port = listener.local_addr().unwrap().port();
        for peer in ["127.0.0.1", "::1"] {
            let ip: IpAddr = peer.parse().unwrap();
            let _client = tokio::net::TcpStream::connect((ip, port)).await.unwrap();
            let (_, from) = listener.accept().await.unwrap();
            // An IPv4 peer arrives mapped; the collector's readers canonicalise it.
            assert_eq!(from.ip().to_canonical(), ip);
        }
    }

    #[test]
    fn the_error_names_the_setting() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let _guard = rt.enter();
        // SO_REUSEADDR does not let two listeners share a port.
        let e = bind(addr, "listen.http").unwrap_err();
        assert!(format!("{e:#}").contains("(listen.http)"), "{e:#}");
    }
}
