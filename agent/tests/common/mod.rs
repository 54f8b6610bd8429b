//! Test PKI and a small mTLS ingest server that can be switched down and up.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;
use zerofault_agent::config::{Config, SpoolConfig, TlsPaths};

pub struct Pki {
    pub dir: tempfile::TempDir,
    pub tls: TlsPaths,
    pub ca_der: CertificateDer<'static>,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
}

pub fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params
        .distinguished_name
        .push(DnType::CommonName, "web-01");
    let client = client_params.signed_by(&client_key, &issuer).unwrap();
    let write = |name: &str, text: String| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let tls = TlsPaths {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("agent.pem", client.pem()),
        key: write("agent.key", client_key.serialize_pem()),
    };
    Pki {
        ca_der: ca_cert.der().clone(),
        server_chain: vec![server.der().clone()],
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        tls,
        dir,
    }
}

pub fn config(pki: &Pki, port: u16, state: &Path) -> Config {
    Config {
        path: Path::new("/test/agent.yaml").to_owned(),
        agent_id: "web-01".into(),
        state_dir: state.to_owned(),
        labels: Default::default(),
        collector_url: format!("https://127.0.0.1:{port}"),
        collector_timeout: Duration::from_secs(5),
        tls: pki.tls.clone(),
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
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
