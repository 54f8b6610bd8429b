//! The transport against a real mTLS HTTP/1.1 server built from rustls: headers, body,
//! client certificate, retry on 503/429 (honouring Retry-After), give-up on 400, and a
//! handshake with an untrusted server.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zerofault_agent::config::{Config, TlsPaths};
use zerofault_agent::transport::Outgoing as Queued;
use zerofault_agent::transport::retry::{Decision, Outcome};
use zerofault_agent::transport::{Transport, deliver};

mod common;

use common::{Pki, pki};

fn config(tls: TlsPaths, port: u16) -> Config {
    Config {
        path: Path::new("/test/agent.yaml").to_owned(),
        agent_id: "web-01".into(),
        state_dir: PathBuf::from("/nonexistent"),
        labels: Default::default(),
        collector_urls: vec![format!("https://127.0.0.1:{port}")],
        collector_timeout: Duration::from_secs(5),
        tls,
        renew_before: std::time::Duration::from_secs(30 * 86_400),
        interval: Duration::from_secs(15),
        probes: vec![],
        spool: zerofault_agent::config::SpoolConfig {
            dir: PathBuf::from("/nonexistent/spool"),
            max_bytes: 512 << 20,
            backfill_rate: 50,
        },
    }
}

#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
    client_cert: bool,
}

/// Serves one scripted answer per connection (`Connection: close`), recording requests.
async fn serve(pki: &Pki, script: Vec<(u16, &'static str)>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(true));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        for (code, extra) in script {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let client_cert = tls.get_ref().1.peer_certificates().is_some();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let n = tls.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed before the request head");
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let n = tls.read(&mut chunk).await.unwrap();
                assert!(n > 0);
                buf.extend_from_slice(&chunk[..n]);
            }
            seen2.lock().unwrap().push(Seen {
                head,
                body: buf[head_end..head_end + len].to_vec(),
                client_cert,
            });
            let body = if code == 200 {
                r#"{"status":"stored"}"#
            } else {
                r#"{"error":"field `hostname` is empty"}"#
            };
            let answer = format!(
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
                body.len()
            );
            tls.write_all(answer.as_bytes()).await.unwrap();
            tls.shutdown().await.ok();
        }
    });
    (port, seen)
}

fn item() -> (zerofault_protocol::Report, Queued) {
    let report = zerofault_protocol::Report {
        protocol_version: 1,
        agent_id: "web-01".into(),
        sequence: 42,
        ..Default::default()
    };
    let body = zerofault_protocol::encode_report(&report);
    (report, Queued { sequence: 42, body })
}

#[tokio::test(flavor = "current_thread")]
async fn retries_503_and_429_then_delivers_with_the_contract_headers() {
    let pki = pki();
    let (port, seen) = serve(
        &pki,
        vec![
            (503, "retry-after: 0\r\n"),
            (429, "retry-after: 0\r\n"),
            (200, ""),
        ],
    )
    .await;
    let transport = Transport::new(&config(pki.tls.clone(), port)).unwrap();
    let (report, queued) = item();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let started = std::time::Instant::now();
    let decision = deliver(&transport, &queued, &mut rng).await;
    assert_eq!(decision, Decision::Delivered);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "Retry-After: 0 honoured"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert!(
            s.head.starts_with("post /api/v1/report http/1.1"),
            "{}",
            s.head
        );
        assert!(
            s.head
                .contains("content-type: application/x-zerofault-report"),
            "{}",
            s.head
        );
        assert!(s.head.contains("x-zerofault-protocol: 1\r\n"), "{}", s.head);
        assert!(s.client_cert, "the agent presented its certificate");
        let decoded = zerofault_protocol::decode_report(&s.body, 1 << 20).unwrap();
        assert_eq!(decoded, report);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_dead_collector_url_is_left_at_once_for_the_next_and_the_next_is_kept() {
    let pki = pki();
    let (port, seen) = serve(&pki, vec![(200, ""), (200, "")]).await;
    // A port nothing listens on: bound, then closed, so the connection is refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = config(pki.tls.clone(), port);
    config.collector_urls = vec![
        format!("https://127.0.0.1:{dead}"),
        format!("https://127.0.0.1:{port}"),
    ];
    let transport = Transport::new(&config).unwrap();
    assert_eq!(
        transport.url(),
        format!("https://127.0.0.1:{dead}/api/v1/report")
    );
    let (report, queued) = item();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let started = std::time::Instant::now();
    // Bounded: without failover the agent would retry the dead URL for ever.
    let first = tokio::time::timeout(
        Duration::from_secs(10),
        deliver(&transport, &queued, &mut rng),
    )
    .await
    .expect("delivered through the second URL");
    assert_eq!(first, Decision::Delivered);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "moved on without a backoff: {:?}",
        started.elapsed()
    );
    assert_eq!(
        transport.url(),
        format!("https://127.0.0.1:{port}/api/v1/report")
    );
    // The next report goes straight to the collector that answered.
    assert_eq!(
        deliver(&transport, &queued, &mut rng).await,
        Decision::Delivered
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(
            zerofault_protocol::decode_report(&s.body, 1 << 20).unwrap(),
            report
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn gives_up_on_400_without_retrying() {
    let pki = pki();
    let (port, seen) = serve(&pki, vec![(400, ""), (200, "")]).await;
    let transport = Transport::new(&config(pki.tls.clone(), port)).unwrap();
    let (_, queued) = item();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    assert_eq!(
        deliver(&transport, &queued, &mut rng).await,
        Decision::GiveUp
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn untrusted_server_is_a_connect_error() {
    let pki = pki();
    let other = crate::pki();
    let (port, _) = serve(&pki, vec![(200, "")]).await;
    // The agent trusts another CA: the handshake must fail, and that is retried (an
    // operator may fix the certificates) rather than dropped.
    let tls = TlsPaths {
        ca: other.tls.ca.clone(),
        ..pki.tls.clone()
    };
    let transport = Transport::new(&config(tls, port)).unwrap();
    let (_, queued) = item();
    let outcome = transport.send(queued.body).await;
    assert!(matches!(outcome, Outcome::Connect(_)), "{outcome:?}");
    assert_eq!(
        zerofault_agent::transport::error_kind(&outcome),
        Some("tls"),
        "{outcome:?}"
    );
    assert_eq!(
        zerofault_agent::transport::retry::classify(&outcome),
        Decision::Retry
    );
}

#[test]
fn key_of_another_certificate_is_refused_naming_tls_key() {
    let a = pki();
    let b = pki();
    let tls = TlsPaths {
        key: b.tls.key.clone(),
        ..a.tls.clone()
    };
    let e = zerofault_agent::transport::tls::client_config(&tls).unwrap_err();
    assert_eq!(e.key(), "tls.key");
    assert!(zerofault_agent::transport::tls::client_config(&a.tls).is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn run_reports_on_schedule_with_increasing_persisted_sequence() {
    let pki = pki();
    let (port, seen) = serve(&pki, vec![(200, ""); 20]).await;
    let state = tempfile::tempdir().unwrap();
    let mut config = config(pki.tls.clone(), port);
    config.state_dir = state.path().join("agent");
    config.spool.dir = config.state_dir.join("spool");
    config.interval = Duration::from_millis(300);
    // Ticks at 0.3 s (after the CPU priming delay), 0.6, 0.9, 1.2 and 1.5 s; a loaded
    // machine may deliver fewer before shutdown, never more.
    let shutdown = tokio::time::sleep(Duration::from_millis(1_550));
    zerofault_agent::run(config.clone(), shutdown)
        .await
        .unwrap();
    // Give the server task a moment to record the last request.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = seen.lock().unwrap().clone();
    assert!((2..=5).contains(&seen.len()), "{} reports", seen.len());
    let reports: Vec<_> = seen
        .iter()
        .map(|s| zerofault_protocol::decode_report(&s.body, 1 << 20).unwrap())
        .collect();
    for pair in reports.windows(2) {
        assert_eq!(pair[1].sequence, pair[0].sequence + 1);
    }
    for r in &reports {
        r.validate(&zerofault_protocol::Limits::default()).unwrap();
        assert_eq!(r.interval_ms, 300);
    }
    let persisted: u64 = std::fs::read_to_string(config.state_dir.join("sequence"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(persisted >= reports.last().unwrap().sequence);
}

/// `validate` must catch a certificate issued to another agent: at run time the collector
/// would refuse every report with 403.
#[test]
fn validate_refuses_a_certificate_issued_to_another_agent() {
    let pki = pki();
    let write_config = |id: &str| {
        let path = pki.dir.path().join(format!("{id}.yaml"));
        std::fs::write(
            &path,
            format!(
                "agent:\n  id: {id}\ncollector:\n  url: https://127.0.0.1:7443\ntls:\n  \
                 ca: {}\n  cert: {}\n  key: {}\n",
                pki.tls.ca.display(),
                pki.tls.cert.display(),
                pki.tls.key.display()
            ),
        )
        .unwrap();
        path
    };
    use zerofault_agent::config::{CheckFiles, load};
    load(&write_config("web-01"), CheckFiles::Yes).expect("the certificate's own id");
    let err = load(&write_config("web-02"), CheckFiles::Yes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls.cert"), "{err}");
    assert!(
        err.contains("\"web-01\"") && err.contains("\"web-02\""),
        "{err}"
    );
}
