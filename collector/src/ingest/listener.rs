//! The mTLS accept loop of the ingest listener: TLS handshake, client identity, HTTP/1.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::ClientIdentity;

/// A client that has not finished the handshake by then is dropped, so half-open
/// connections cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for request headers (also closes idle keep-alive connections).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for in-flight requests before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` over mTLS on `listener` until `shutdown` becomes true, then lets in-flight
/// requests finish (at most [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => {
                    connections.spawn(connection(
                        acceptor.clone(),
                        tcp,
                        addr,
                        app.clone(),
                        shutdown.clone(),
                    ));
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

async fn connection(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer_addr: SocketAddr,
    app: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    // Reports are one small request and one small answer: do not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            // A client certificate from another CA ends here.
            tracing::info!(peer = %peer_addr, error = %e, "ingest TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(peer = %peer_addr, "ingest TLS handshake timed out");
            return;
        }
    };
    let identity = ClientIdentity {
        common_name: crate::tls::peer_common_name(stream.get_ref().1),
        peer_addr,
    };
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(identity.clone());
        app.clone().oneshot(request)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stopped(&mut shutdown) => {
            // Finish the request in flight, then close instead of keeping the connection alive.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(peer = %peer_addr, error = %e, "ingest connection ended with an error");
    }
}

/// Completes once shutdown was requested (or its sender is gone). Returns nothing: the
/// `watch` guard is not `Send` and must not live across the awaits that follow.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
