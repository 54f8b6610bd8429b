//! Issue 16's flood test: one client opening TLS handshakes as fast as it can, another
//! holding connections open with endless slow bodies, while 20 good agents report once a
//! second: every good report is acknowledged and stored, and the acknowledgement latency
//! with and without the floods is printed (docs/security.md, "Flood").

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use zerofault_tests::report::minimal_report;
use zerofault_tests::stored::Stored;
use zerofault_tests::{Collector, TestCa};

const GOOD: usize = 20;
/// Seconds of reports before the floods and during them.
const CALM_S: u64 = 8;
const FLOOD_S: u64 = 25;

fn server_name() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap()
}

/// Connects from `local` (a loopback address of its own, so that the floods are other
/// clients than the good agents) and completes a TLS handshake.
async fn connect(
    local: &str,
    to: SocketAddr,
    tls: &tokio_rustls::TlsConnector,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{local}:0").parse().unwrap())?;
    let tcp = socket.connect(to).await?;
    tls.connect(server_name(), tcp).await
}

/// Opens handshakes from 127.0.0.2 as fast as it can until `stop`; counts the finished ones.
async fn handshake_flood(
    to: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_secs(2), connect("127.0.0.2", to, &tls)).await
        {
            done.fetch_add(1, Ordering::Relaxed);
            drop(s);
        }
    }
}

/// Holds connections from 127.0.0.3 sending a report body one byte every 2 s, opening a new
/// one whenever the collector closes one, until `stop`.
async fn slow_bodies(
    to: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicU64>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok(mut s)) =
            tokio::time::timeout(Duration::from_secs(5), connect("127.0.0.3", to, &tls)).await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        opened.fetch_add(1, Ordering::Relaxed);
        let head = format!(
            "POST /api/v1/report HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: {}\r\n{}: {}\r\ncontent-length: 1000000\r\n\r\n",
            zerofault_protocol::CONTENT_TYPE,
            zerofault_protocol::VERSION_HEADER,
            zerofault_protocol::PROTOCOL_VERSION
        );
        if s.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            if s.write_all(b"x").await.is_err() || s.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// One good agent: a report a second for `seconds` from `first_seq`; the latency of each.
async fn good_agent(
    client: reqwest::Client,
    url: String,
    id: String,
    first_seq: u64,
    seconds: u64,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for seq in first_seq..first_seq + seconds {
        tick.tick().await;
        let started = Instant::now();
        let status = zerofault_tests::report::post_report(&client, &url, &minimal_report(&id, seq))
            .await
            .map(|(status, _)| status.as_u16())
            .map_err(|e| format!("{e:?}"));
        assert_eq!(status, Ok(200), "{id} report {seq} was not acknowledged");
        latencies.push(started.elapsed());
    }
    latencies
}

async fn good_phase(
    ca: &TestCa,
    collector: &Collector,
    first_seq: u64,
    seconds: u64,
) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for i in 0..GOOD {
        let id = format!("good-{i:02}");
        let client = ca.ingest_client(Some(&id)).unwrap();
        tasks.push(tokio::spawn(good_agent(
            client,
            collector.report_url(),
            id,
            first_seq,
            seconds,
        )));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn good_agents_are_served_through_a_handshake_flood_and_slow_bodies() {
    let ids: Vec<String> = (0..GOOD)
        .map(|i| format!("good-{i:02}"))
        .chain(["slow".to_owned()])
        .collect();
    let ca = TestCa::new(&ids.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    let collector = Collector::builder(&ca).spawn().await.unwrap();
    let to = collector.ingest_addr();

    let calm = good_phase(&ca, &collector, 1, CALM_S).await;

    let stop = Arc::new(AtomicBool::new(false));
    let handshakes = Arc::new(AtomicU64::new(0));
    let slow_opened = Arc::new(AtomicU64::new(0));
    let anonymous = tokio_rustls::TlsConnector::from(ca.tls_client_config(None).unwrap());
    let slow = tokio_rustls::TlsConnector::from(ca.tls_client_config(Some("slow")).unwrap());
    let mut floods = Vec::new();
    for _ in 0..4 {
        floods.push(tokio::spawn(handshake_flood(
            to,
            anonymous.clone(),
            stop.clone(),
            handshakes.clone(),
        )));
    }
    for _ in 0..50 {
        floods.push(tokio::spawn(slow_bodies(
            to,
            slow.clone(),
            stop.clone(),
            slow_opened.clone(),
        )));
    }
    let flooded = good_phase(&ca, &collector, CALM_S + 1, FLOOD_S).await;
    stop.store(true, Ordering::Relaxed);
    let refused = zerofault_tests::scrape(&collector).await.unwrap();
    for f in floods {
        f.abort();
    }

    let stored = Stored::read(&collector.db_path()).unwrap();
    for id in &ids[..GOOD] {
        let boot = stored.only_boot(id).unwrap();
        assert_eq!(
            boot.len() as u64,
            CALM_S + FLOOD_S,
            "{id}: every report stored"
        );
    }
    assert!(
        !stored.agents.contains_key("slow"),
        "no slow body was stored"
    );
    let line = |name: &str, l: &[Duration]| {
        format!(
            "{name}: {} reports, ack p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            l.len(),
            pct(l, 0.5),
            pct(l, 0.99),
            pct(l, 1.0)
        )
    };
    eprintln!("{}", line("calm", &calm));
    eprintln!("{}", line("flooded", &flooded));
    eprintln!(
        "flood: {} TLS handshakes finished in {FLOOD_S} s ({:.0}/s) from 127.0.0.2, {} slow-body connections opened from 127.0.0.3",
        handshakes.load(Ordering::Relaxed),
        handshakes.load(Ordering::Relaxed) as f64 / FLOOD_S as f64,
        slow_opened.load(Ordering::Relaxed)
    );
    for l in refused
        .lines()
        .filter(|l| l.starts_with("zerofault_ingest_connections_refused_total"))
    {
        eprintln!("{l}");
    }
    // The floods were real: far more handshakes than the good agents made, and slow bodies
    // beyond the identity's connection cap.
    assert!(handshakes.load(Ordering::Relaxed) > 100);
    assert!(slow_opened.load(Ordering::Relaxed) > 8);
}
