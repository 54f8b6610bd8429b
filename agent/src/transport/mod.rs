//! Sending reports to the collector: one HTTPS POST per report over mutual TLS, with the
//! retry policy of [`retry`] and, with several collector URLs, the choice of [`failover`].
//!
//! The ingest contract (docs/architecture.md): `POST {collector.url}/api/v1/report`, body
//! `encode_report(..)`, `Content-Type: application/x-zerofault-report`,
//! `X-Zerofault-Protocol: 1`; 2xx stored, 408/429/5xx retry, other 4xx never retried.

pub mod failover;
pub mod identity;
pub mod renew;
pub mod retry;
pub mod settings;
pub mod tls;
pub mod tls_error;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};
use zerofault_common::problem::quoted_key;
use zerofault_protocol::{CONTENT_TYPE, PROTOCOL_VERSION, VERSION_HEADER};

use crate::spool::{Next, RecordId, Spool};
use failover::{Failover, Step};
use retry::{Decision, Outcome, classify, parse_retry_after, retry_delay};
use settings::{TransportSettings, ingest_url};

/// The spool shared by the collection loop (appends) and the sender (reads, acks).
pub type SharedSpool = Arc<Mutex<Spool>>;

/// One encoded report to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The report's sequence number (for logs).
    pub sequence: u64,
    /// `encode_report(..)` bytes.
    pub body: Vec<u8>,
}

/// Most bytes of a collector's answer kept for logs: enough for its `{"error": ...}`.
const MAX_LOGGED_BODY_BYTES: usize = 1024;

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A TLS file is unusable.
    #[error("{}", quoted_key(config, source.key(), source))]
    Tls {
        /// The config file, for the message.
        config: std::path::PathBuf,
        /// What is wrong with which file (boxed: rustls errors are large).
        source: Box<tls::TlsError>,
    },
    /// reqwest refused the client settings.
    #[error("cannot build the HTTPS client: {0}")]
    Client(#[source] reqwest::Error),
}

/// An HTTPS client bound to the collectors of `collector.url(s)`: it sends to one and moves
/// to the next when that one cannot take reports ([`failover`]).
#[derive(Debug, Clone)]
pub struct Transport {
    client: reqwest::Client,
    /// The client certificate, replaced by renewal.
    identity: Arc<identity::Identity>,
    /// Collector base URLs, in configured order (for renewal).
    bases: Arc<[String]>,
    /// Ingest URLs, in configured order.
    urls: Arc<[String]>,
    /// Which URL is in use; shared by the clones (one sender at a time uses it).
    failover: Arc<Mutex<Failover>>,
    /// Whether the last attempt moved to a URL not yet tried in this round, so the retry
    /// goes at once instead of after a backoff.
    retry_now: Arc<std::sync::atomic::AtomicBool>,
}

impl Transport {
    /// Builds the client from the config's collector and TLS settings (`&Config` converts
    /// into them).
    pub fn new<'a>(settings: impl Into<TransportSettings<'a>>) -> Result<Self, TransportError> {
        let settings = settings.into();
        let tls_error = |source| TransportError::Tls {
            config: settings.config_file.to_owned(),
            source: Box::new(source),
        };
        let (tls, identity) = tls::client_config_and_identity(settings.tls).map_err(tls_error)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            // Closed networks: a proxy from the environment would be a surprise, and the
            // collector authenticates the agent by its certificate end to end.
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // One kept-alive connection per interval saves a TLS handshake per report.
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(
                settings
                    .interval
                    .saturating_mul(2)
                    .max(Duration::from_secs(30)),
            )
            .user_agent(concat!("zerofault-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(TransportError::Client)?;
        let urls: Vec<String> = settings
            .collector_urls
            .iter()
            .map(|u| ingest_url(u))
            .collect();
        Ok(Self {
            client,
            identity,
            bases: settings.collector_urls.to_vec().into(),
            failover: Arc::new(Mutex::new(Failover::new(urls.len()))),
            urls: urls.into(),
            retry_now: Arc::default(),
        })
    }

    /// The client certificate in use.
    pub fn identity(&self) -> &Arc<identity::Identity> {
        &self.identity
    }

    /// The HTTPS client (mutual TLS with the current identity).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The base URL of the collector in use now.
    pub fn base_url(&self) -> &str {
        let i = self.lock_failover().current();
        self.bases.get(i).map_or("", String::as_str)
    }

    /// The ingest URL reports are posted to now.
    pub fn url(&self) -> &str {
        let i = self.lock_failover().current();
        self.urls.get(i).map_or("", String::as_str)
    }

    /// Every configured ingest URL, in order.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    fn lock_failover(&self) -> std::sync::MutexGuard<'_, Failover> {
        self.failover.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the last failed attempt moved on to a collector not yet tried since the last
    /// answer: then retry at once rather than after a backoff.
    pub fn retry_now(&self) -> bool {
        self.retry_now.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes one upload attempt of an encoded report, to the collector in use; moves to the
    /// next collector when this one cannot take reports ([`failover::moves_on`]).
    pub async fn send(&self, body: Vec<u8>) -> Outcome {
        let url = self.url().to_owned();
        let outcome = self.post(&url, body).await;
        let step = self.lock_failover().record(&outcome);
        self.retry_now.store(
            matches!(step, Step::Next(_)),
            std::sync::atomic::Ordering::Relaxed,
        );
        if let Step::Next(i) | Step::NextAfterBackoff(i) = step {
            warn!(
                from = %url,
                to = %self.urls[i],
                "collector cannot take reports; sending to the next collector URL: {}",
                describe(&outcome)
            );
        }
        outcome
    }

    async fn post(&self, url: &str, body: Vec<u8>) -> Outcome {
        let result = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
            .body(body)
            .send()
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => return error_outcome(&e),
        };
        let code = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match response.bytes().await {
            Ok(b) => {
                let end = b.len().min(MAX_LOGGED_BODY_BYTES);
                String::from_utf8_lossy(&b[..end]).into_owned()
            }
            // The status is what counts; a body cut short only loses log detail.
            Err(e) => format!("(body unreadable: {e})"),
        };
        Outcome::Status {
            code,
            retry_after,
            body,
        }
    }
}

fn error_outcome(e: &reqwest::Error) -> Outcome {
    // The error chain holds the useful part (e.g. "invalid peer certificate: UnknownIssuer").
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        Outcome::Timeout(text)
    } else if e.is_connect() {
        Outcome::Connect(text)
    } else {
        Outcome::Io(text)
    }
}

fn reason(code: u16) -> &'static str {
    reqwest::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("unknown status")
}

/// The `send_errors_total` kind of a failed attempt (`None` for a delivery).
pub fn error_kind(outcome: &Outcome) -> Option<&'static str> {
    Some(match outcome {
        Outcome::Status { code, .. } => match code {
            200..=299 => return None,
            // The collector's body time limit: a slow link, like a client-side timeout.
            408 => "timeout",
            429 => "http_429",
            500..=599 => "http_5xx",
            400..=499 => "http_4xx",
            _ => "other",
        },
        Outcome::Connect(e) => {
            // reqwest reports a failed handshake as a connect error; the rustls error in the
            // chain names a certificate or an alert. A peer that just closes the connection
            // during the handshake ("tls handshake eof") is a connection problem.
            let e = e.to_ascii_lowercase();
            if e.contains("certificate") || e.contains("alert") {
                "tls"
            } else {
                "connect"
            }
        }
        Outcome::Timeout(_) => "timeout",
        Outcome::Io(_) => "other",
    })
}

/// Runs `f` on the spool on a blocking thread: spool calls read files and fsync, which
/// must not stall the runtime thread (link probes time their replies on it).
pub async fn with_spool<T: Send + 'static>(
    spool: &SharedSpool,
    f: impl FnOnce(&mut Spool) -> T + Send + 'static,
) -> T {
    let spool = spool.clone();
    match tokio::task::spawn_blocking(move || {
        f(&mut spool.lock().unwrap_or_else(|e| e.into_inner()))
    })
    .await
    {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only at runtime shutdown, when nobody waits for the answer any more.
        Err(_) => std::future::pending().await,
    }
}

/// Sends spooled reports forever: the newest (live) report first, unpaced; behind it the
/// backlog oldest-first, at most `backfill_rate` per second, so a long backlog never delays
/// live data by more than one upload. `wake` is notified after every append.
///
/// All waits use tokio's monotonic clock (`Instant`, `sleep`): a wall-clock step cannot
/// stall or burst the pacing or the backoff.
pub async fn send_loop(
    transport: Transport,
    spool: SharedSpool,
    wake: Arc<Notify>,
    backfill_rate: u32,
) {
    // StdRng rather than the thread-local generator: this future must be Send.
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    let gap = Duration::from_secs(1) / backfill_rate.max(1);
    let mut next_backlog = Instant::now();
    let mut attempt: u32 = 0;
    let mut backlog_sent: u64 = 0;
    loop {
        let next = spool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_to_send();
        let (id, live) = match next {
            None => {
                if backlog_sent > 0 {
                    info!(reports = backlog_sent, "backlog delivered");
                    backlog_sent = 0;
                }
                wake.notified().await;
                continue;
            }
            Some(Next::Live(id)) => (id, true),
            Some(Next::Backlog(id)) => (id, false),
        };
        if !live && Instant::now() < next_backlog {
            // Pace the backlog; a report appended meanwhile goes first.
            tokio::select! {
                () = tokio::time::sleep_until(next_backlog) => {}
                () = wake.notified() => continue,
            }
        }
        let started = Instant::now();
        let Some(body) = with_spool(&spool, move |s| s.read(id)).await else {
            continue; // damaged: counted and removed by the spool
        };
        let outcome = transport.send(body).await;
        if !live {
            // Keep a grid of `gap` while on it, so timer rounding does not slow the drain;
            // after a pause (idle, live sends, backoff) restart from now, never burst.
            next_backlog = if started.saturating_duration_since(next_backlog) < gap {
                next_backlog + gap
            } else {
                started + gap
            };
        }
        match classify(&outcome) {
            Decision::Delivered => {
                if attempt > 0 {
                    info!(attempts = attempt + 1, "collector reachable again");
                }
                attempt = 0;
                if !live {
                    backlog_sent += 1;
                }
                debug!(
                    segment = id.segment,
                    offset = id.offset,
                    live,
                    "report delivered"
                );
                with_spool(&spool, move |s| s.ack(id)).await;
            }
            Decision::GiveUp => {
                log_refused(id, &outcome);
                with_spool(&spool, move |s| {
                    s.count_send_error("http_4xx");
                    s.discard(id);
                })
                .await;
            }
            Decision::Retry => {
                let kind = error_kind(&outcome).unwrap_or("other");
                with_spool(&spool, move |s| s.count_send_error(kind)).await;
                // Moved to a collector not yet tried: at once (logged by `send`).
                if transport.retry_now() {
                    continue;
                }
                let delay = retry_delay(&outcome, attempt, &mut rng);
                warn!(
                    attempt = attempt + 1,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    url = transport.url(),
                    "report not delivered, will retry (reports wait in the spool): {}",
                    describe(&outcome)
                );
                tokio::time::sleep(delay).await;
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Status { code, body, .. } => {
            format!(
                "collector answered {code} {}: {}",
                reason(*code),
                body.trim()
            )
        }
        Outcome::Connect(e) => format!("cannot connect: {e}"),
        Outcome::Timeout(e) => format!("timed out: {e}"),
        Outcome::Io(e) => format!("connection failed: {e}"),
    }
}

fn log_refused(id: RecordId, outcome: &Outcome) {
    if let Outcome::Status { code, body, .. } = outcome {
        error!(
            segment = id.segment,
            offset = id.offset,
            status = code,
            collector_says = %body.trim(),
            "collector refused the report with {code} {}; dropping it (resending cannot succeed)",
            reason(*code)
        );
    }
}

/// Delivers one report, retrying per the policy; returns the final decision
/// ([`Decision::Delivered`] or [`Decision::GiveUp`]).
pub async fn deliver<R: rand::Rng + ?Sized>(
    transport: &Transport,
    item: &Outgoing,
    rng: &mut R,
) -> Decision {
    let mut attempt: u32 = 0;
    loop {
        let outcome = transport.send(item.body.clone()).await;
        match classify(&outcome) {
            Decision::Delivered => {
                if attempt > 0 {
                    warn!(
                        sequence = item.sequence,
                        attempts = attempt + 1,
                        "report delivered after retries"
                    );
                } else {
                    debug!(sequence = item.sequence, "report delivered");
                }
                return Decision::Delivered;
            }
            Decision::GiveUp => {
                if let Outcome::Status { code, body, .. } = &outcome {
                    error!(
                        sequence = item.sequence,
                        status = code,
                        collector_says = %body.trim(),
                        "collector refused the report with {code} {}; dropping it (resending cannot succeed)",
                        reason(*code)
                    );
                }
                return Decision::GiveUp;
            }
            Decision::Retry => {
                if transport.retry_now() {
                    continue;
                }
                let delay = retry_delay(&outcome, attempt, rng);
                let what = describe(&outcome);
                warn!(
                    sequence = item.sequence,
                    attempt = attempt + 1,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    url = transport.url(),
                    "report not delivered, will retry: {what}"
                );
                tokio::time::sleep(delay).await;
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Outcome {
        Outcome::Status {
            code,
            retry_after: None,
            body: String::new(),
        }
    }

    #[test]
    fn error_kinds_follow_agent_stats() {
        assert_eq!(error_kind(&status(200)), None);
        assert_eq!(error_kind(&status(503)), Some("http_5xx"));
        assert_eq!(error_kind(&status(429)), Some("http_429"));
        assert_eq!(error_kind(&status(413)), Some("http_4xx"));
        assert_eq!(error_kind(&status(301)), Some("other"));
        assert_eq!(
            error_kind(&Outcome::Connect(
                "client error (Connect): tcp connect error: Connection refused".into()
            )),
            Some("connect")
        );
        assert_eq!(
            error_kind(&Outcome::Connect(
                "client error (Connect): invalid peer certificate: UnknownIssuer".into()
            )),
            Some("tls")
        );
        assert_eq!(error_kind(&Outcome::Timeout("x".into())), Some("timeout"));
        assert_eq!(error_kind(&Outcome::Io("reset".into())), Some("other"));
        for k in [
            error_kind(&status(503)),
            error_kind(&Outcome::Timeout(String::new())),
        ] {
            assert!(crate::spool::SEND_ERROR_KINDS.contains(&k.unwrap()));
        }
    }
}
