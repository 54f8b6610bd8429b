//! What one holder of an agent certificate can cost the collector (issue 11, items 1 and 2),
//! against the real binary: a body that decodes to gigabytes, and a thousand connections
//! that send headers and stall mid-body against a collector with 1,024 descriptors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use zerofault_protocol::{CONTENT_TYPE, INGEST_PATH, VERSION_HEADER};
use zerofault_tests::stored::{Stored, missing};
use zerofault_tests::{Collector, TestCa, wait_until};

/// The collector's peak RSS may not pass this while it refuses amplification bodies (the
/// issue's bound; it used to reach 1.2 GB for one body and 2.35 GB for four).
const PEAK_RSS_LIMIT: u64 = 100 * 1000 * 1000;

/// An 8 MiB protobuf (the default `limits.max_decompressed_bytes`) of 4,194,304 empty
/// `links` entries, zstd-compressed to a few hundred bytes.
fn amplification_body() -> Vec<u8> {
    // Tag 15 (links), wire type 2, length 0.
    let raw: Vec<u8> = std::iter::repeat_n([0x7a, 0x00], 4_194_304)
        .flatten()
        .collect();
    zstd::bulk::compress(&raw, 19).unwrap()
}

/// The costliest body the wire check lets through to the decoder: every repeated field at
/// its limit with empty entries (4,096 links with 16 error kinds and 16 loss runs each),
/// padded with an unknown field to the 8 MiB decompressed cap. It decodes in full, then
/// fails validation.
fn worst_body_within_the_limits() -> Vec<u8> {
    use zerofault_protocol::{ErrorCount, LinkResult, LossRun, Report};
    let report = Report {
        links: vec![
            LinkResult {
                errors: vec![ErrorCount::default(); 16],
                loss_runs: vec![LossRun::default(); 16],
                ..Default::default()
            };
            4096
        ],
        ..Default::default()
    };
    let mut raw = prost::Message::encode_to_vec(&report);
    // Field 100, length-delimited, filling the rest of the 8 MiB.
    let pad = (8 << 20) - raw.len() - 6;
    raw.extend_from_slice(&[0xa2, 0x06]);
    let mut len = pad as u64;
    while len >= 0x80 {
        raw.push((len as u8) | 0x80);
        len >>= 7;
    }
    raw.push(len as u8);
    raw.resize(raw.len() + pad, 0);
    assert!(raw.len() <= 8 << 20, "{}", raw.len());
    zstd::bulk::compress(&raw, 19).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplification_bodies_are_refused_in_bounded_memory() {
    let ca = TestCa::new(&["mallory"]).unwrap();
    let collector = Collector::builder(&ca).spawn().await.unwrap();
    let client = ca.ingest_client(Some("mallory")).unwrap();
    let url = format!("{}{INGEST_PATH}", collector.ingest_url());
    let body = amplification_body();
    assert!(body.len() < 2048, "body is {} bytes", body.len());
    let before = collector.peak_rss_bytes().unwrap();

    let post = |body: Vec<u8>| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let resp = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                .header(VERSION_HEADER, "1")
                .body(body)
                .send()
                .await
                .unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let (status, text) = post(body.clone()).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("`links` has 4097 entries"), "{text}");
    let after_one = collector.peak_rss_bytes().unwrap();

    let four: Vec<_> = (0..4).map(|_| tokio::spawn(post(body.clone()))).collect();
    for t in four {
        let (status, text) = t.await.unwrap();
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{text}");
    }
    let after_four = collector.peak_rss_bytes().unwrap();

    let worst = worst_body_within_the_limits();
    let four: Vec<_> = (0..4).map(|_| tokio::spawn(post(worst.clone()))).collect();
    for t in four {
        let (status, text) = t.await.unwrap();
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{text}");
        assert!(text.contains("protocol_version 0"), "{text}");
    }
    let after_worst = collector.peak_rss_bytes().unwrap();
    eprintln!(
        "collector peak RSS: {:.1} MB at start, {:.1} MB after one amplification body, {:.1} MB after four at once, {:.1} MB after four of the costliest bodies within the limits ({} bytes each)",
        before as f64 / 1e6,
        after_one as f64 / 1e6,
        after_four as f64 / 1e6,
        after_worst as f64 / 1e6,
        worst.len()
    );
    assert!(
        after_worst < PEAK_RSS_LIMIT,
        "peak RSS {after_worst} bytes is over {PEAK_RSS_LIMIT}"
    );
}

/// Stalled connections opened by the flood with a valid certificate.
const FLOOD: usize = 1_100;
/// More stalled connections, without a client certificate.
const ANONYMOUS: usize = 300;
/// The collector's `limits.body_timeout` and `body_idle_timeout` in this test.
const BODY_TIMEOUT: Duration = Duration::from_secs(8);
/// Time the test allows beyond the body timeout for the collector to close a connection
/// (timer wheel, a loaded 2-core machine).
const CLOSE_MARGIN: Duration = Duration::from_secs(3);

/// One connection that sends a report's headers and 16 bytes of a 100,000-byte body, then
/// nothing. Returns when it was stalled and how long the collector took to close it (`None`
/// if the connection failed before it could stall: refused at accept or at handshake).
async fn stall(
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    opening: Arc<Semaphore>,
) -> Option<Duration> {
    let permit = opening.acquire_owned().await.unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .ok()?;
    let head = format!(
        "POST {INGEST_PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: {CONTENT_TYPE}\r\n\
         {VERSION_HEADER}: 1\r\ncontent-length: 100000\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.ok()?;
    tls.write_all(&[0u8; 16]).await.ok()?;
    tls.flush().await.ok()?;
    let stalled = Instant::now();
    drop(permit);
    // Read until the collector closes (EOF or reset); whatever it answers is discarded.
    // Bounded: a connection still open after twice the body timeout counts as never closed.
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(2 * BODY_TIMEOUT + CLOSE_MARGIN, async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    Some(match closed {
        Ok(()) => stalled.elapsed(),
        Err(_) => Duration::MAX,
    })
}

/// Raises this test process's soft open-file limit to its hard limit: it holds more than a
/// thousand connections itself.
fn raise_own_open_file_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let l = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: l.maximum,
            maximum: l.maximum,
        },
    );
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_cannot_keep_a_restarted_agent_out() {
    let own = raise_own_open_file_limit();
    assert!(
        own >= (FLOOD + ANONYMOUS) as u64 + 200,
        "this test holds {} connections but may open only {own} files; raise the hard limit (ulimit -Hn)",
        FLOOD + ANONYMOUS
    );
    let ca = TestCa::new(&["web-01", "mallory"]).unwrap();
    let collector = Collector::builder(&ca)
        .limit("body_timeout", format!("{}s", BODY_TIMEOUT.as_secs()))
        .limit("body_idle_timeout", format!("{}s", BODY_TIMEOUT.as_secs()))
        .open_file_limit(1024, 1024)
        .spawn()
        .await
        .unwrap();
    let db = collector.db_path();
    let mut agent = collector.agent("web-01").interval("1s").spawn().unwrap();
    wait_until(
        "the agent's first reports",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let n = Stored::read(&db)
                .map_err(|e| e.to_string())?
                .agents
                .get("web-01")
                .map_or(0, |b| b.values().map(|r| r.len()).sum::<usize>());
            if n >= 2 {
                Ok(())
            } else {
                Err(format!("{n} stored"))
            }
        },
    )
    .await
    .unwrap();

    // The agent stops; while it is down the flood opens its connections (same address as
    // the agent, a valid certificate, 100 opening at a time); then the agent starts again.
    // Its old connection's descriptor is free before the flood, so only the collector's
    // caps can keep one for it.
    agent.kill();
    let before = agent.sequence().unwrap();
    let tls = ca.tls_client_config(Some("mallory")).unwrap();
    let anonymous = ca.tls_client_config(None).unwrap();
    let opening = Arc::new(Semaphore::new(100));
    let flood_started = Instant::now();
    // Mallory's connections, with every fourth of the first 1,200 one without a certificate.
    let flood: Vec<_> = (0..FLOOD + ANONYMOUS)
        .map(|i| {
            let config = if i % 4 == 3 && i / 4 < ANONYMOUS {
                anonymous.clone()
            } else {
                tls.clone()
            };
            tokio::spawn(stall(collector.ingest_addr(), config, opening.clone()))
        })
        .collect();
    // Every connection has stalled, or failed, or waits for the collector to accept it:
    // give the flood a second to get that far.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let opened_in = flood_started.elapsed();
    agent.restart().unwrap();
    let restarted = Instant::now();
    let acknowledged = wait_until(
        "every report of the restarted agent stored",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || async {
            let stored = Stored::read(&db).map_err(|e| e.to_string())?;
            let boot = stored.only_boot("web-01").map_err(|e| e.to_string())?;
            // Two reports made after the restart, and nothing missing before them (numbers
            // are seeded from the clock: the first stored one is where the agent started).
            let first = *boot.keys().next().expect("reports stored before the flood");
            let gaps = missing(boot, first, before + 2);
            if gaps.is_empty() {
                Ok(restarted.elapsed())
            } else {
                Err(format!("missing sequences {gaps:?}"))
            }
        },
    )
    .await;
    let acknowledged = match acknowledged {
        Ok(t) => t,
        Err(e) => panic!(
            "{e}\nagent restarted {opened_in:?} after the flood began; collector log:\n{}",
            collector.output()
        ),
    };

    let mut stalled = 0;
    let mut slowest = Duration::ZERO;
    for t in flood {
        if let Some(closed_after) = t.await.unwrap() {
            stalled += 1;
            slowest = slowest.max(closed_after);
        }
    }
    eprintln!(
        "flood of {FLOOD} + {ANONYMOUS} connections ({stalled} got to send a partial body); restarted agent's reports stored {acknowledged:.1?} after its start; slowest stalled connection closed after {slowest:.1?}"
    );
    assert!(
        slowest <= BODY_TIMEOUT + CLOSE_MARGIN,
        "a stalled connection stayed open {slowest:?} (body timeout {BODY_TIMEOUT:?})"
    );
    let metrics = collector.metrics().await.unwrap();
    let per_agent = metrics
        .get(
            "zerofault_ingest_connections_refused_total",
            &[("reason", "per_agent")],
        )
        .unwrap();
    let timeouts = metrics
        .get(
            "zerofault_collector_reports_rejected_total",
            &[("reason", "timeout")],
        )
        .unwrap();
    let rate = metrics
        .get(
            "zerofault_ingest_connections_refused_total",
            &[("reason", "rate")],
        )
        .unwrap();
    eprintln!(
        "connections refused per agent: {per_agent}, closed before the handshake by the address's rate: {rate}; bodies timed out: {timeouts}"
    );
    // The per-agent cap holds 8 of mallory's connections: those, and only those, stall until
    // the body timeout. The rest are closed after their handshake (per agent) or, past the
    // address's burst of new connections, before it (rate).
    assert_eq!(timeouts, 8.0, "bodies timed out");
    assert!(
        per_agent + rate >= (FLOOD - 8) as f64,
        "{per_agent} + {rate}"
    );
    let unauthenticated = metrics
        .get(
            "zerofault_collector_reports_rejected_total",
            &[("reason", "no_client_certificate")],
        )
        .unwrap();
    eprintln!("requests without a certificate answered 401: {unauthenticated}");
    assert_eq!(
        metrics
            .get("zerofault_ingest_connections_limit", &[])
            .unwrap(),
        1024.0 - 64.0 - 64.0
    );
}

/// The collector's `limits.connection_idle_timeout` in the parking test.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);

/// Reads one HTTP/1.1 response (head and `content-length` body) from `stream`, keeping
/// bytes past it in `rest`; returns the head.
async fn read_response<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    rest: &mut Vec<u8>,
) -> String {
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the collector answers within 10 s")
            .expect("the connection stays open");
        assert!(
            n > 0,
            "the collector closed the connection before answering"
        );
        rest.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&rest[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while rest.len() < head_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the collector closed the connection inside a body");
        rest.extend_from_slice(&buf[..n]);
    }
    rest.drain(..head_end + length);
    head
}

/// Between two requests an agent's connection is parked (collector/src/live/ingest/parked.rs):
/// it must still answer the next request on the same connection, keep a request head that
/// arrives in two parts across a park, answer pipelined requests, and be closed after
/// `connection_idle_timeout` without a request, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_connection_serves_the_next_requests_and_closes_when_idle() {
    let ca = TestCa::new(&["web-01"]).unwrap();
    let collector = Collector::builder(&ca)
        .limit(
            "connection_idle_timeout",
            format!("{}s", IDLE_TIMEOUT.as_secs()),
        )
        .spawn()
        .await
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(collector.ingest_addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(ca.tls_client_config(Some("web-01")).unwrap())
        .connect(name, tcp)
        .await
        .unwrap();
    // GET of the ingest path stores nothing and is answered 405 on a kept-alive connection.
    let request = format!("GET {INGEST_PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    let mut rest = Vec::new();
    let answer = async |tls: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
                        rest: &mut Vec<u8>| {
        let head = read_response(tls, rest).await;
        assert!(head.starts_with("http/1.1 405"), "{head}");
        assert!(!head.contains("connection: close"), "{head}");
    };
    for pause_ms in [0, 300, 1_500] {
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        tls.write_all(request.as_bytes()).await.unwrap();
        answer(&mut tls, &mut rest).await;
    }
    // A head in two parts, the connection parked in between.
    let (first, second) = request.split_at(20);
    tls.write_all(first.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    tls.write_all(second.as_bytes()).await.unwrap();
    answer(&mut tls, &mut rest).await;
    // Three requests in one write.
    tls.write_all(request.repeat(3).as_bytes()).await.unwrap();
    for _ in 0..3 {
        answer(&mut tls, &mut rest).await;
    }
    assert!(
        rest.is_empty(),
        "{} bytes more than the answers",
        rest.len()
    );
    // Then silence: closed after the idle timeout.
    let silent = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(IDLE_TIMEOUT * 3, tls.read(&mut buf))
        .await
        .expect("the idle connection is closed");
    let after = silent.elapsed();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        after >= IDLE_TIMEOUT - Duration::from_millis(100) && after <= IDLE_TIMEOUT + CLOSE_MARGIN,
        "closed {after:?} after the last answer (idle timeout {IDLE_TIMEOUT:?})"
    );

    // A new connection makes a full handshake: sessions are not resumed, so the client
    // certificate is checked at every connection.
    let config = ca.tls_client_config(Some("web-01")).unwrap();
    let connect = async || {
        let tcp = tokio::net::TcpStream::connect(collector.ingest_addr())
            .await
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await
            .unwrap()
    };
    // The first connection of this client config is where a server that resumes sessions
    // would hand it a ticket; the second would then be resumed.
    let _first = connect().await;
    let mut tls = connect().await;
    assert_eq!(
        tls.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Full)
    );
    // An exchange that asks to close is answered, then closed, not parked: on HTTP/1.1 with
    // `connection: close`, and on HTTP/1.0.
    for request in [
        format!("GET {INGEST_PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"),
        format!("GET {INGEST_PATH} HTTP/1.0\r\nhost: 127.0.0.1\r\n\r\n"),
    ] {
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut rest = Vec::new();
        let head = read_response(&mut tls, &mut rest).await;
        assert!(head.contains(" 405 "), "{head}");
        let closed = Instant::now();
        let read = tokio::time::timeout(IDLE_TIMEOUT, tls.read(&mut buf))
            .await
            .expect("closed after the answer, before the idle timeout");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(
            closed.elapsed() < Duration::from_secs(1),
            "{:?}",
            closed.elapsed()
        );
        tls = connect().await;
    }
    let log = collector.output();
    assert!(!log.contains("ERROR"), "{log}");
}
