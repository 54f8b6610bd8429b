//! The test PKI as the agent sees it, an agent config, and a small mTLS ingest server that
//! can be switched down and up.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;
use zerofault_agent::config::{Config, SpoolConfig, TlsPaths};

/// The test kit's PKI (`zerofault_tests::pki`) as the agent tests use it: the agent's TLS
/// paths (agent `web-01`), and the collector's certificate for test servers.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub tls: TlsPaths,
    pub ca_der: CertificateDer<'static>,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
}

impl Pki {
    /// A TLS server configuration with the collector certificate, asking for an agent
    /// certificate of the CA when `client_auth`.
    pub fn server_config(&self, client_auth: bool) -> Arc<rustls::ServerConfig> {
        zerofault_tests::pki::server_config(
            self.ca_der.clone(),
            self.server_chain.clone(),
            self.server_key.clone_key(),
            client_auth,
        )
    }
}

pub fn pki() -> Pki {
    let kit = zerofault_tests::pki::Pki::new();
    // Laid out as on an agent host (configs name `ca.pem`, `agent.pem`, `agent.key` in the
    // directory): the agent's own certificate copied from where `certs` puts it.
    for (from, to) in [
        ("agents/web-01.pem", "agent.pem"),
        ("agents/web-01.key", "agent.key"),
    ] {
        std::fs::copy(kit.path(from), kit.path(to)).unwrap();
    }
    let tls = TlsPaths {
        ca: kit.path("ca.pem"),
        cert: kit.path("agent.pem"),
        key: kit.path("agent.key"),
    };
    Pki {
        ca_der: kit.ca_der(),
        server_chain: kit.server_chain(),
        server_key: kit.server_key(),
        tls,
        dir: kit.dir,
    }
}

pub fn config(pki: &Pki, port: u16, state: &Path) -> Config {
    Config {
        path: Path::new("/test/agent.yaml").to_owned(),
        agent_id: "web-01".into(),
        state_dir: state.to_owned(),
        labels: Default::default(),
        collector_urls: vec![format!("https://127.0.0.1:{port}")],
        collector_timeout: Duration::from_secs(5),
        tls: pki.tls.clone(),
        renew_before: std::time::Duration::from_secs(30 * 86_400),
        interval: Duration::from_secs(15),
        probes: vec![],
        spool: SpoolConfig {
            dir: state.join("spool"),
            max_bytes: 512 << 20,
            backfill_rate: 50,
        },
    }
}

/// One report the server stored: when, and the decoded report.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub report: zerofault_protocol::Report,
}

/// A keep-alive mTLS ingest server answering 200 while `up`, dropping connections while
/// down (like a dead collector).
pub struct Server {
    pub port: u16,
    pub up: Arc<AtomicBool>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    pub fn reports(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

pub async fn serve(pki: &Pki, up: bool) -> Server {
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(true));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let up = Arc::new(AtomicBool::new(up));
    let received = Arc::new(Mutex::new(Vec::new()));
    let (up2, received2) = (up.clone(), received.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            if !up2.load(Ordering::SeqCst) {
                drop(tcp);
                continue;
            }
            let acceptor = acceptor.clone();
            let (up3, received3) = (up2.clone(), received2.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Vec<u8> = buf.drain(..head_end + len).skip(head_end).collect();
                    if !up3.load(Ordering::SeqCst) {
                        return; // went down: drop the connection unanswered
                    }
                    let report = zerofault_protocol::decode_report(&body, 1 << 24).unwrap();
                    received3.lock().unwrap().push(Received {
                        at: Instant::now(),
                        report,
                    });
                    let answer = "{\"status\":\"stored\"}";
                    let text = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if tls.write_all(text.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Server { port, up, received }
}
