//! Retry policy, as pure functions: what to do with the outcome of one upload, and how long
//! to wait before the next attempt.

use std::time::Duration;

use rand::{Rng, RngExt};

/// First backoff step; attempt `n` waits up to `BACKOFF_BASE * 2^n`.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest wait between attempts, from backoff or from a collector's `Retry-After`.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// What happened to one upload attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The collector answered with an HTTP status.
    Status {
        /// Status code.
        code: u16,
        /// Parsed `Retry-After`, when present and meaningful.
        retry_after: Option<Duration>,
        /// Start of the response body (the collector's `{"error": ...}` for 4xx).
        body: String,
    },
    /// No connection: refused, unreachable, DNS, or the TLS handshake failed.
    Connect(String),
    /// The attempt did not finish within `collector.timeout`.
    Timeout(String),
    /// The connection broke during the request or response.
    Io(String),
}

/// What to do after an [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The collector has the report (stored or duplicate).
    Delivered,
    /// Try the same report again later.
    Retry,
    /// The collector will never accept this report: log and drop it.
    GiveUp,
}

/// Classifies an outcome: 2xx delivered; 408 (the body reached the collector too slowly: a
/// congested link), 429, 5xx and every network failure retried; any other status (400,
/// 401, 403, 413, 415, ...) dropped, because resending the same bytes would get the same
/// answer forever and block every later report.
pub fn classify(outcome: &Outcome) -> Decision {
    match outcome {
        Outcome::Status { code, .. } => match code {
            200..=299 => Decision::Delivered,
            408 | 429 | 500..=599 => Decision::Retry,
            _ => Decision::GiveUp,
        },
        Outcome::Connect(_) | Outcome::Timeout(_) | Outcome::Io(_) => Decision::Retry,
    }
}

/// Full-jitter exponential backoff: a uniform wait in `0..=min(cap, base * 2^attempt)`
/// (attempt 0 is the first retry). Jitter spreads thousands of agents that lost the
/// collector at the same moment over the whole window instead of having them return in
/// lockstep.
pub fn backoff<R: Rng + ?Sized>(attempt: u32, rng: &mut R) -> Duration {
    let ceiling = backoff_ceiling(attempt);
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.random_range(0..=ms))
}

/// Upper bound of [`backoff`] for `attempt`.
pub fn backoff_ceiling(attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    BACKOFF_BASE
        .checked_mul(factor)
        .map_or(BACKOFF_CAP, |d| d.min(BACKOFF_CAP))
}

/// The wait before retrying after `outcome`: the collector's `Retry-After` (capped) when it
/// sent one with 429 or 503, else [`backoff`].
pub fn retry_delay<R: Rng + ?Sized>(outcome: &Outcome, attempt: u32, rng: &mut R) -> Duration {
    match outcome {
        Outcome::Status {
            code: 429 | 503,
            retry_after: Some(d),
            ..
        } => (*d).min(BACKOFF_CAP),
        _ => backoff(attempt, rng),
    }
}

/// Parses a `Retry-After` value in delta-seconds form. The HTTP-date form is not used by
/// the collector and would need a clock comparison; it yields `None` (plain backoff).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn status(code: u16) -> Outcome {
        Outcome::Status {
            code,
            retry_after: None,
            body: String::new(),
        }
    }

    #[test]
    fn classify_follows_the_ingest_contract() {
        assert_eq!(classify(&status(200)), Decision::Delivered);
        assert_eq!(classify(&status(204)), Decision::Delivered);
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(&status(code)), Decision::Retry, "{code}");
        }
        for code in [400, 401, 403, 404, 413, 415, 422, 301] {
            assert_eq!(classify(&status(code)), Decision::GiveUp, "{code}");
        }
        assert_eq!(
            classify(&Outcome::Connect("refused".into())),
            Decision::Retry
        );
        assert_eq!(classify(&Outcome::Timeout("10s".into())), Decision::Retry);
        assert_eq!(classify(&Outcome::Io("reset".into())), Decision::Retry);
    }

    #[test]
    fn backoff_ceiling_doubles_then_caps() {
        assert_eq!(backoff_ceiling(0), Duration::from_millis(500));
        assert_eq!(backoff_ceiling(1), Duration::from_secs(1));
        assert_eq!(backoff_ceiling(2), Duration::from_secs(2));
        assert_eq!(backoff_ceiling(6), Duration::from_secs(32));
        assert_eq!(backoff_ceiling(7), BACKOFF_CAP);
        assert_eq!(backoff_ceiling(40), BACKOFF_CAP);
        assert_eq!(backoff_ceiling(u32::MAX), BACKOFF_CAP);
    }

    #[test]
    fn backoff_is_jittered_within_the_ceiling() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..50 {
            let d = backoff(attempt, &mut rng);
            assert!(d <= backoff_ceiling(attempt), "{attempt}: {d:?}");
        }
        let samples: Vec<_> = (0..100).map(|_| backoff(10, &mut rng)).collect();
        let distinct: std::collections::BTreeSet<_> = samples.iter().collect();
        assert!(distinct.len() > 50, "full jitter should spread waits");
        assert!(samples.iter().any(|d| *d < Duration::from_secs(30)));
        assert!(samples.iter().any(|d| *d > Duration::from_secs(30)));
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only() {
        let mut rng = StdRng::seed_from_u64(1);
        let with = |code| Outcome::Status {
            code,
            retry_after: Some(Duration::from_secs(7)),
            body: String::new(),
        };
        assert_eq!(retry_delay(&with(429), 0, &mut rng), Duration::from_secs(7));
        assert_eq!(retry_delay(&with(503), 0, &mut rng), Duration::from_secs(7));
        assert!(retry_delay(&with(500), 0, &mut rng) <= BACKOFF_BASE);
        let long = Outcome::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(3600)),
            body: String::new(),
        };
        assert_eq!(retry_delay(&long, 0, &mut rng), BACKOFF_CAP);
    }

    #[test]
    fn parse_retry_after_delta_seconds() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after(""), None);
    }
}
