//! One simulated agent against a collector, as the real one behaves on the wire (see
//! `agent/src/transport/`): one kept-alive HTTP/1.1 connection over mutual TLS, one POST per
//! report, 2xx delivered, 408/429/5xx and network failures retried with full-jitter
//! exponential backoff (0.5 s doubling, 60 s cap, `Retry-After` honoured), other 4xx given
//! up, a 10 s timeout per attempt, and a new connection after any failure.
//!
//! With several collectors (`--collector` repeated) each agent has them all, in its own
//! order (agent i starts with collector i mod n), and fails over as the real agent's
//! `collector.urls` does (`agent/src/transport/failover.rs`): it stays with a collector while
//! it answers, moves to the next at once when it cannot connect, times out, loses the
//! connection or gets a 5xx, and backs off only when every collector failed in turn. The
//! report being delivered is resent until one of them acknowledges it, as the agent's spool
//! keeps it.
//!
//! hyper's client connection is used instead of reqwest: a reqwest `Client` per agent (its
//! pool, connector and resolver) would cost the generator far more memory than the
//! connection itself, and 50,000 of them share the machine with the collector measured.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpSocket;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use zerofault_protocol::{CONTENT_TYPE, INGEST_PATH, PROTOCOL_VERSION, VERSION_HEADER};

use crate::report::Rng;
use crate::stats::Stats;

/// The agent's default `collector.timeout`: one attempt, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// A collector to post to.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its ingest address.
    pub addr: SocketAddr,
    /// The name its certificate must carry (the URL's host).
    pub server_name: ServerName<'static>,
    /// `Host` header value.
    pub authority: String,
}

impl Target {
    /// From `https://HOST:PORT` where HOST is an IP address (the generator runs on loopback).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let authority = url
            .strip_prefix("https://")
            .ok_or_else(|| anyhow::anyhow!("{url}: the collector URL must be https://IP:PORT"))?
            .trim_end_matches('/')
            .to_owned();
        let addr: SocketAddr = authority
            .parse()
            .map_err(|e| anyhow::anyhow!("{url}: {e} (give an IP address and a port)"))?;
        Ok(Self {
            addr,
            server_name: ServerName::IpAddress(addr.ip().into()),
            authority,
        })
    }
}

/// How one attempt ended.
#[derive(Debug)]
pub enum Answer {
    /// 2xx: `true` when the collector said `stored`, `false` for `duplicate`.
    Delivered(bool),
    /// Try again: at once when the agent moved to a collector not yet tried since the last
    /// answer, else after the backoff (the collector's `Retry-After` when it gave one).
    Retry {
        /// The collector's `Retry-After`.
        after: Option<Duration>,
        /// Moved on to an untried collector: no backoff.
        at_once: bool,
    },
    /// A 4xx the agent never retries.
    GiveUp(u16, String),
}

/// How a report's delivery (with its retries) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Acknowledged: `true` for `stored`, `false` for `duplicate`.
    Acked(bool),
    /// Refused for good (a 4xx other than 408/429).
    Refused,
    /// Not acknowledged before the run's deadline.
    Unanswered,
}

/// One agent's connection to a collector, opened on demand and reused, and its choice among
/// the collectors.
#[derive(Debug)]
pub struct Connection {
    tls: Arc<rustls::ClientConfig>,
    source: IpAddr,
    /// Every collector, shared by all agents.
    targets: Arc<[Target]>,
    /// Index of the collector in use.
    current: usize,
    /// Collectors that failed one after the other since the last answer (the agent's
    /// `Failover::failed_in_round`).
    failed_in_round: usize,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// Not connected yet; connects from `source` (port chosen by the kernel) to
    /// `targets[first]` on first use.
    pub fn new(
        tls: Arc<rustls::ClientConfig>,
        source: IpAddr,
        targets: Arc<[Target]>,
        first: usize,
    ) -> Self {
        assert!(!targets.is_empty(), "at least one collector");
        Self {
            tls,
            source,
            current: first % targets.len(),
            targets,
            failed_in_round: 0,
            sender: None,
        }
    }

    fn target(&self) -> &Target {
        &self.targets[self.current]
    }

    /// After a failed attempt that says the collector cannot take reports now: moves to
    /// the next collector (as `Failover::record`); `true` when that one was not yet tried
    /// since the last answer, so the retry goes at once.
    fn move_on(&mut self, stats: &Stats) -> bool {
        let n = self.targets.len();
        if n == 1 {
            return false;
        }
        self.current = (self.current + 1) % n;
        self.sender = None;
        stats.failovers.fetch_add(1, Ordering::Relaxed);
        self.failed_in_round += 1;
        if self.failed_in_round < n {
            true
        } else {
            self.failed_in_round = 0;
            false
        }
    }

    async fn connect(&self, stats: &Arc<Stats>) -> Result<SendRequest<Full<Bytes>>, &'static str> {
        let socket = TcpSocket::new_v4().map_err(|_| "connect")?;
        // Bound before connect: each 127.0.0.x source address has its own ~28,000
        // ephemeral ports, so 50,000 connections to one collector port do not run out.
        socket
            .bind(SocketAddr::new(self.source, 0))
            .map_err(|_| "connect")?;
        let tcp = socket
            .connect(self.target().addr)
            .await
            .map_err(|_| "connect")?;
        let _ = tcp.set_nodelay(true);
        let tls = TlsConnector::from(self.tls.clone())
            .connect(self.target().server_name.clone(), tcp)
            .await
            .map_err(|e| {
                // As the agent classifies: a certificate or alert is "tls", a peer that
                // hangs up mid-handshake (e.g. evicted) a connection problem.
                let e = e.to_string().to_ascii_lowercase();
                if e.contains("certificate") || e.contains("alert") {
                    "tls"
                } else {
                    "connect"
                }
            })?;
        if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
            stats.resumed.fetch_add(1, Ordering::Relaxed);
        }
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|_| "io")?;
        stats.connects.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let stats = stats.clone();
        tokio::spawn(async move {
            let _ = conn.await;
            stats.open.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(sender)
    }

    /// One request: `body` as a report POST, or (`None`) a GET of the ingest path, which
    /// the collector answers 405 without storing anything (the idle-connection probe).
    /// Returns the status, `Retry-After` and body.
    async fn request(
        &mut self,
        body: Option<Bytes>,
        stats: &Arc<Stats>,
    ) -> Result<(u16, Option<Duration>, Bytes), &'static str> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.sender = Some(self.connect(stats).await?);
        }
        let sender = self.sender.as_mut().expect("connected above");
        sender.ready().await.map_err(|_| "io")?;
        let builder = hyper::Request::builder()
            .uri(INGEST_PATH)
            .header(hyper::header::HOST, &self.targets[self.current].authority);
        let request = match body {
            Some(b) => builder
                .method(hyper::Method::POST)
                .header(hyper::header::CONTENT_TYPE, CONTENT_TYPE)
                .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
                .body(Full::new(b)),
            None => builder
                .method(hyper::Method::GET)
                .body(Full::new(Bytes::new())),
        }
        .map_err(|_| "io")?;
        let response = sender.send_request(request).await.map_err(|_| "io")?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(BACKOFF_CAP));
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| "io")?
            .to_bytes();
        Ok((status, retry_after, body))
    }

    /// One attempt at delivering `body`, bounded by [`ATTEMPT_TIMEOUT`]; failures are
    /// counted in `stats` by kind, and drop the connection. A failure that says the
    /// collector cannot take reports (no connection, timeout, broken connection, 5xx) moves
    /// to the next collector; any answer keeps this one.
    pub async fn attempt(&mut self, body: Bytes, stats: &Arc<Stats>) -> Answer {
        stats.attempts.fetch_add(1, Ordering::Relaxed);
        let result = tokio::time::timeout(ATTEMPT_TIMEOUT, self.request(Some(body), stats)).await;
        let failed = |this: &mut Self, kind: &'static str, after: Option<Duration>| {
            stats.error(kind);
            // As reqwest does with a connection whose exchange failed: never reuse it.
            this.sender = None;
            let at_once = this.move_on(stats);
            Answer::Retry { after, at_once }
        };
        match result {
            Err(_) => failed(self, "timeout", None),
            Ok(Err(kind)) => failed(self, kind, None),
            Ok(Ok((status, retry_after, body))) => match status {
                200..=299 => {
                    self.failed_in_round = 0;
                    let text = String::from_utf8_lossy(&body);
                    Answer::Delivered(text.contains("\"stored\""))
                }
                500..=599 => failed(self, "http_5xx", retry_after),
                408 | 429 => {
                    self.failed_in_round = 0;
                    stats.error(if status == 408 {
                        "http_408"
                    } else {
                        "http_429"
                    });
                    if status == 408 {
                        self.sender = None;
                    }
                    Answer::Retry {
                        after: retry_after,
                        at_once: false,
                    }
                }
                _ => {
                    self.failed_in_round = 0;
                    stats.error("http_4xx");
                    Answer::GiveUp(status, String::from_utf8_lossy(&body).into_owned())
                }
            },
        }
    }

    /// Opens the connection and exchanges one request that stores nothing (GET, answered
    /// 405), so the connection has served a request like an agent's between two reports.
    pub async fn open_idle(&mut self, stats: &Arc<Stats>) -> Result<u16, &'static str> {
        let result = tokio::time::timeout(ATTEMPT_TIMEOUT, self.request(None, stats)).await;
        match result {
            Err(_) => Err("timeout"),
            Ok(r) => r.map(|(status, _, _)| status),
        }
    }
}

/// Delivers `body` (a report first made at `made`), retrying like the agent until it is
/// acknowledged, refused for good, or `give_up_at` passes. Records the acknowledgement.
pub async fn deliver(
    conn: &mut Connection,
    body: Bytes,
    samples: u64,
    made: Instant,
    give_up_at: Instant,
    rng: &mut Rng,
    stats: &Arc<Stats>,
) -> Delivery {
    let delivery = until_answered(conn, body, give_up_at, rng, stats).await;
    match delivery {
        Delivery::Acked(stored) => {
            stats.ack_latency(made.elapsed());
            let counter = if stored {
                &stats.stored
            } else {
                &stats.duplicate
            };
            counter.fetch_add(1, Ordering::Relaxed);
            stats.samples.fetch_add(samples, Ordering::Relaxed);
        }
        Delivery::Refused => {
            stats.refused.fetch_add(1, Ordering::Relaxed);
        }
        Delivery::Unanswered => {}
    }
    delivery
}

/// Sends `body` until a collector answers it for good (acknowledged or refused) or
/// `give_up_at` passes: the agent's retry loop, with failover.
pub async fn until_answered(
    conn: &mut Connection,
    body: Bytes,
    give_up_at: Instant,
    rng: &mut Rng,
    stats: &Arc<Stats>,
) -> Delivery {
    let mut attempt: u32 = 0;
    loop {
        match conn.attempt(body.clone(), stats).await {
            Answer::Delivered(stored) => return Delivery::Acked(stored),
            Answer::GiveUp(status, text) => {
                if stats.refused.load(Ordering::Relaxed) < 3 {
                    eprintln!("zf-load: collector refused a report with {status}: {text}");
                }
                return Delivery::Refused;
            }
            Answer::Retry { at_once: true, .. } if Instant::now() < give_up_at => {}
            Answer::Retry { after, .. } => {
                let ceiling = BACKOFF_BASE
                    .saturating_mul(1u32 << attempt.min(8))
                    .min(BACKOFF_CAP);
                let delay = after.unwrap_or_else(|| {
                    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
                    Duration::from_millis(rng.below(ms + 1))
                });
                if Instant::now() + delay > give_up_at {
                    return Delivery::Unanswered;
                }
                tokio::time::sleep(delay).await;
                attempt = attempt.saturating_add(1);
            }
        }
    }
}
