//! Sending reports to the collector: one HTTPS POST per report over mutual TLS, with the
//! retry policy of [`retry`].
//!
//! The ingest contract (docs/architecture.md): `POST {collector.url}/api/v1/report`, body
//! `encode_report(..)`, `Content-Type: application/x-zerofault-report`,
//! `X-Zerofault-Protocol: 1`; 2xx stored, 429/5xx retry, other 4xx never retried.

pub mod retry;
pub mod tls;

use std::time::Duration;

use tracing::{debug, error, warn};
use zerofault_protocol::{CONTENT_TYPE, PROTOCOL_VERSION, VERSION_HEADER};

use crate::config::Config;
use crate::queue::{Queued, ReportQueue};
use retry::{Decision, Outcome, classify, parse_retry_after, retry_delay};

/// Most bytes of a collector's answer kept for logs: enough for its `{"error": ...}`.
const MAX_LOGGED_BODY_BYTES: usize = 1024;

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A TLS file is unusable.
    #[error("{}: key '{}': {source}", config.display(), source.key())]
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

/// An HTTPS client bound to one collector.
#[derive(Debug, Clone)]
pub struct Transport {
    client: reqwest::Client,
    url: String,
}

impl Transport {
    /// Builds the client from the config's collector and TLS settings.
    pub fn new(config: &Config) -> Result<Self, TransportError> {
        let tls = tls::client_config(&config.tls).map_err(|source| TransportError::Tls {
            config: config.path.clone(),
            source: Box::new(source),
        })?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            // Closed networks: a proxy from the environment would be a surprise, and the
            // collector authenticates the agent by its certificate end to end.
            .no_proxy()
            .timeout(config.collector_timeout)
            .connect_timeout(config.collector_timeout)
            // One kept-alive connection per interval saves a TLS handshake per report.
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(
                config
                    .interval
                    .saturating_mul(2)
                    .max(Duration::from_secs(30)),
            )
            .user_agent(concat!("zerofault-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(TransportError::Client)?;
        Ok(Self {
            client,
            url: config.ingest_url(),
        })
    }

    /// The ingest URL reports are posted to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Makes one upload attempt of an encoded report.
    pub async fn send(&self, body: Vec<u8>) -> Outcome {
        let result = self
            .client
            .post(&self.url)
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

/// Sends queued reports one at a time, oldest first, forever. A report is retried until it
/// is delivered or refused; collection keeps filling the queue meanwhile.
pub async fn send_loop(transport: Transport, queue: std::sync::Arc<ReportQueue>) {
    // StdRng rather than the thread-local generator: this future must be Send.
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    loop {
        let item = queue.pop().await;
        deliver(&transport, &item, &mut rng).await;
    }
}

/// Delivers one report, retrying per the policy; returns the final decision
/// ([`Decision::Delivered`] or [`Decision::GiveUp`]).
pub async fn deliver<R: rand::Rng + ?Sized>(
    transport: &Transport,
    item: &Queued,
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
                let delay = retry_delay(&outcome, attempt, rng);
                let what = match &outcome {
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
                };
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
