//! One target's HTTP side: the client (TLS, authentication), one attempt, and what to do
//! with its outcome (pure: [`classify`], [`backoff`]).

use std::time::Duration;

use super::settings::Target;
use super::wire;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered.
    Status {
        /// HTTP status.
        code: u16,
        /// `Retry-After` in seconds, when given as such.
        retry_after: Option<Duration>,
        /// Start of the answer's body, for the log.
        body: String,
    },
    /// No answer: connection refused or broken, TLS, timeout.
    Network(String),
}

/// What to do after an [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Delivered.
    Done,
    /// Try again after a wait.
    Retry,
    /// The receiver will never take this request: drop it, count it, go on.
    Drop,
}

/// Errors a receiver answers with a 5xx although retrying can never help: Prometheus 2.x
/// answers `500 too old sample` for a sample older than its out-of-order window and `500 out
/// of bounds` for one before its head block (its storage errors, passed through). Retried,
/// such a request would hold its queue forever (the "permanent 5xx fills the disk queue"
/// failure of other senders).
const PERMANENT_5XX: [&str; 2] = ["too old sample", "out of bounds"];

/// The spec's rule: 2xx delivered; 5xx and 429 (and no answer at all) retried; any other
/// status dropped, since the same bytes would get the same answer forever and block every
/// later sample. A 5xx that names a permanent storage refusal ([`PERMANENT_5XX`]) is
/// dropped too.
pub fn classify(outcome: &Outcome) -> Decision {
    match outcome {
        Outcome::Status { code, body, .. } => match code {
            200..=299 => Decision::Done,
            500..=599 if PERMANENT_5XX.iter().any(|p| body.contains(p)) => Decision::Drop,
            429 | 500..=599 => Decision::Retry,
            _ => Decision::Drop,
        },
        Outcome::Network(_) => Decision::Retry,
    }
}

/// The wait before retry number `attempt` (0 first): the receiver's `Retry-After` when it
/// gave one, else full-jitter exponential backoff from `min`; at most `max`. `unit` in
/// `0.0..1.0` is the jitter draw.
pub fn backoff(
    attempt: u32,
    retry_after: Option<Duration>,
    min: Duration,
    max: Duration,
    unit: f64,
) -> Duration {
    if let Some(wait) = retry_after {
        // `Retry-After: 0` would be a tight loop against a receiver that asks for calm.
        return wait.max(min).min(max);
    }
    let ceiling = min
        .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .min(max);
    // Never 0: a receiver that fails fast would otherwise be hammered.
    ceiling.mul_f64(unit.clamp(0.0, 1.0)).max(min.min(ceiling))
}

/// A uniform draw in `0.0..1.0` for the jitter.
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    // The system RNG does not fail on Linux; a 0 draw only shortens one wait.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// The HTTP client of one target, with its authentication.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    url: String,
    auth: Auth,
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic { username: String, password: String },
    Bearer(String),
}

impl Sender {
    /// The client for `target`: its TLS files and secret files are read now, and every
    /// error names the key and the file.
    pub fn new(target: &Target) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            // Closed networks: a proxy from the environment would be a surprise.
            .no_proxy()
            .timeout(target.timeout)
            .connect_timeout(target.timeout)
            .pool_max_idle_per_host(target.shards as usize)
            .user_agent(concat!("zerofault-collector/", env!("CARGO_PKG_VERSION")));
        let files = target.tls.as_ref().map(|tls| {
            tls.files([
                "remote_write.targets.tls.ca",
                "remote_write.targets.tls.cert",
                "remote_write.targets.tls.key",
            ])
        });
        builder = builder
            .tls_backend_preconfigured(crate::tls::http_client_config(files)?)
            .https_only(target.tls.is_some());
        let client = builder
            .build()
            .map_err(|e| format!("remote_write target {:?}: {e}", target.name))?;
        let auth = if let Some(b) = &target.basic_auth {
            Auth::Basic {
                username: b.username.clone(),
                password: crate::tls::read_secret(
                    "remote_write.targets.basic_auth.password_file",
                    &b.password_file,
                )?,
            }
        } else if let Some(path) = &target.bearer_token_file {
            Auth::Bearer(crate::tls::read_secret(
                "remote_write.targets.bearer_token_file",
                path,
            )?)
        } else {
            Auth::None
        };
        Ok(Self {
            client,
            url: target.url.clone(),
            auth,
        })
    }

    /// One POST of `body` (a snappy-compressed `WriteRequest`).
    pub async fn post(&self, body: Vec<u8>) -> Outcome {
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, wire::CONTENT_TYPE)
            .header(reqwest::header::CONTENT_ENCODING, wire::CONTENT_ENCODING)
            .header(wire::VERSION_HEADER, wire::VERSION)
            .body(body);
        request = match &self.auth {
            Auth::None => request,
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::Bearer(token) => request.bearer_auth(token),
        };
        match request.send().await {
            Ok(response) => {
                let code = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                // Only the start of the body, and only so long: a receiver's error text is
                // for the log, and a hostile one must not hold us or fill memory.
                let body = tokio::time::timeout(Duration::from_secs(5), body_start(response))
                    .await
                    .unwrap_or_default();
                Outcome::Status {
                    code,
                    retry_after,
                    body,
                }
            }
            Err(e) => Outcome::Network(format!("{e:#}")),
        }
    }
}

/// At most [`MAX_ANSWER_BYTES`] of an answer's body, read chunk by chunk.
async fn body_start(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                kept.extend_from_slice(&chunk[..chunk.len().min(MAX_ANSWER_BYTES - kept.len())])
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Most bytes of a receiver's answer kept (for the log and the permanent-5xx check).
const MAX_ANSWER_BYTES: usize = 512;

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
    fn five_hundreds_and_429_are_retried_other_4xx_dropped() {
        assert_eq!(classify(&status(200)), Decision::Done);
        assert_eq!(classify(&status(204)), Decision::Done);
        for code in [429, 500, 502, 503, 504] {
            assert_eq!(classify(&status(code)), Decision::Retry, "{code}");
        }
        for code in [400, 401, 403, 404, 409, 413, 415] {
            assert_eq!(classify(&status(code)), Decision::Drop, "{code}");
        }
        assert_eq!(
            classify(&Outcome::Network("refused".into())),
            Decision::Retry
        );
        // Prometheus 2.42's answers to samples it will never take.
        for body in ["too old sample", "out of bounds"] {
            let outcome = Outcome::Status {
                code: 500,
                retry_after: None,
                body: body.into(),
            };
            assert_eq!(classify(&outcome), Decision::Drop, "{body}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_honours_retry_after_and_stays_within_bounds() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(30));
        assert_eq!(backoff(0, None, min, max, 1.0), min);
        assert_eq!(backoff(3, None, min, max, 1.0), Duration::from_millis(800));
        assert_eq!(backoff(30, None, min, max, 1.0), max);
        // Jitter draws below the floor are lifted to `min`.
        assert_eq!(backoff(3, None, min, max, 0.0), min);
        assert_eq!(backoff(3, None, min, max, 0.5), Duration::from_millis(400));
        assert_eq!(
            backoff(0, Some(Duration::from_secs(7)), min, max, 0.3),
            Duration::from_secs(7)
        );
        assert_eq!(
            backoff(0, Some(Duration::from_secs(3600)), min, max, 0.3),
            max
        );
        let draws: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws.iter().any(|u| *u != draws[0]), "the draw varies");
    }
}
