//! The HTTP listener over TLS (`access.tls`): a server certificate, no client certificate
//! (people and scrapers log in with `access.users`). Bounded like the ingest listener:
//! at most [`MAX_CONNECTIONS`] connections (more are closed at once), a handshake must end
//! within [`HANDSHAKE_TIMEOUT`] and a request's headers arrive within [`HEADER_TIMEOUT`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Most connections at once: browsers open about six per screen, a scraper one.
pub const MAX_CONNECTIONS: usize = 512;
/// Longest TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a request's headers, the first or the next on a kept-alive connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The server configuration of `cert` and `key` (PEM), for HTTP/1.1.
pub fn server_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use anyhow::Context as _;
    let certs = crate::tls::load_certs("access.tls.cert", cert)
        .with_context(|| format!("access.tls.cert: cannot use {}", cert.display()))?;
    let key = crate::tls::load_key("access.tls.key", key)
        .with_context(|| format!("access.tls.key: cannot use {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("access.tls: the key does not match the certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` over TLS until `stop` turns true, then waits for open connections (the
/// caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // The watch's guard is dropped inside: it must not live across an await.
            () = async { let _ = stop.wait_for(|s| *s).await; } => break,
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    // An IPv4 peer on a dual-stack socket is its IPv4 address.
                    Ok((tcp, p)) => (tcp, std::net::SocketAddr::new(p.ip().to_canonical(), p.port())),
                    Err(e) => {
                        // Out of descriptors, usually: wait rather than spin.
                        tracing::warn!(error = %e, "https accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "https connection refused: {MAX_CONNECTIONS} open");
                    continue;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                let mut conn_stop = stop.clone();
                connections.spawn(async move {
                    let _permit = permit;
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "https handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    // The peer address, as plain HTTP gives it (`ConnectInfo`), for the audit
                    // records of logins and downloads.
                    let app = app.layer(axum::Extension(axum::extract::ConnectInfo(peer)));
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let connection = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service);
                    let mut connection = std::pin::pin!(connection);
                    // On stop, a kept-alive connection is closed after its answer in
                    // progress, so that stopping does not wait for idle browsers.
                    let ended = tokio::select! {
                        r = connection.as_mut() => r,
                        () = async { let _ = conn_stop.wait_for(|s| *s).await; } => {
                            connection.as_mut().graceful_shutdown();
                            connection.await
                        }
                    };
                    if let Err(e) = ended {
                        tracing::debug!(%peer, error = %e, "https connection ended");
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        }
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}
