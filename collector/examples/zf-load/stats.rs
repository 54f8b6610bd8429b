//! What the generator counts: reports made, acknowledged as stored or duplicate, errors by
//! kind, connections, and every acknowledgement's latency (kept whole: 10 minutes of 3,333
//! reports/s is 2 million pairs of u32, 16 MB, so percentiles are exact, not binned).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tokio::time::Instant;

/// Failure kinds, in the agent's `send_errors_total` vocabulary plus the collector's
/// 408/429 apart (they say the collector is saturated, not that the network failed).
pub const ERROR_KINDS: [&str; 8] = [
    "connect", "tls", "timeout", "io", "http_408", "http_429", "http_5xx", "http_4xx",
];

/// Counters shared by all agent tasks.
#[derive(Debug)]
pub struct Stats {
    /// When the run started; latencies are filed by their time since then.
    pub started: Instant,
    /// Unique reports made (one per agent and tick).
    pub generated: AtomicU64,
    /// Requests sent, first attempts, retries and deliberate resends alike.
    pub attempts: AtomicU64,
    /// Unique reports acknowledged `stored`.
    pub stored: AtomicU64,
    /// Unique reports acknowledged `duplicate` (a retry of one whose first answer was lost).
    pub duplicate: AtomicU64,
    /// Reports the collector refused for good (4xx other than 408/429): a generator bug.
    pub refused: AtomicU64,
    /// Deliberate resends of an acknowledged report (`--duplicate-share`).
    pub resends: AtomicU64,
    /// Deliberate resends acknowledged `duplicate`, as they must be.
    pub resends_duplicate: AtomicU64,
    /// Deliberate resends acknowledged `stored`: the first acknowledgement was given for a
    /// report that was not stored (a lost report). Must stay 0.
    pub resends_stored: AtomicU64,
    /// Deliberate resends no collector answered before the run's deadline.
    pub resends_unanswered: AtomicU64,
    /// Moves from one collector to the next after a failed attempt (several `--collector`).
    pub failovers: AtomicU64,
    /// Metric values in reports acknowledged (stored or duplicate).
    pub samples: AtomicU64,
    /// Failed attempts by [`ERROR_KINDS`].
    pub errors: [AtomicU64; ERROR_KINDS.len()],
    /// Connections established (TCP + TLS + HTTP/1.1 handshake).
    pub connects: AtomicU64,
    /// Connections whose TLS session was resumed (no full handshake).
    pub resumed: AtomicU64,
    /// Connections open now.
    pub open: AtomicI64,
    /// (ms since start at the acknowledgement, latency in µs) of every first-time report.
    latencies: Mutex<Vec<(u32, u32)>>,
}

impl Stats {
    /// Zeroed counters, the clock started now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            generated: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            duplicate: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            resends: AtomicU64::new(0),
            resends_duplicate: AtomicU64::new(0),
            resends_stored: AtomicU64::new(0),
            resends_unanswered: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            errors: Default::default(),
            connects: AtomicU64::new(0),
            resumed: AtomicU64::new(0),
            open: AtomicI64::new(0),
            latencies: Mutex::new(Vec::new()),
        }
    }

    /// Counts a failed attempt of `kind` (one of [`ERROR_KINDS`]).
    pub fn error(&self, kind: &str) {
        let i = ERROR_KINDS.iter().position(|k| *k == kind).unwrap_or(3);
        self.errors[i].fetch_add(1, Ordering::Relaxed);
    }

    /// All failed attempts.
    pub fn errors_total(&self) -> u64 {
        self.errors.iter().map(|e| e.load(Ordering::Relaxed)).sum()
    }

    /// Records the acknowledgement of a report first sent `latency` ago.
    pub fn ack_latency(&self, latency: std::time::Duration) {
        let at = u32::try_from(self.started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        self.latencies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((at, us));
    }

    /// Acknowledgements and their latency percentiles within `[from_ms, to_ms)` of the run.
    pub fn window(&self, from_ms: u32, to_ms: u32) -> Window {
        let mut v: Vec<u32> = self
            .latencies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(at, _)| (from_ms..to_ms).contains(at))
            .map(|(_, us)| *us)
            .collect();
        v.sort_unstable();
        // Nearest rank.
        let pct = |p: f64| -> f64 {
            if v.is_empty() {
                return 0.0;
            }
            let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
            f64::from(v[rank - 1]) / 1000.0
        };
        Window {
            acks: v.len() as u64,
            seconds: f64::from(to_ms.saturating_sub(from_ms)) / 1000.0,
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            p999_ms: pct(0.999),
            max_ms: v.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
        }
    }

    /// Errors by kind, `kind=n` for the non-zero ones (or `none`).
    pub fn errors_by_kind(&self) -> String {
        let parts: Vec<String> = ERROR_KINDS
            .iter()
            .zip(&self.errors)
            .filter(|(_, n)| n.load(Ordering::Relaxed) > 0)
            .map(|(k, n)| format!("{k}:{}", n.load(Ordering::Relaxed)))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(",")
        }
    }
}

/// Acknowledgements of a stretch of the run.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// First-time reports acknowledged in it.
    pub acks: u64,
    /// Its length.
    pub seconds: f64,
    /// Latency percentiles and maximum, ms.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Window {
    /// Acknowledgements per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.acks as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// `VmRSS` and `VmHWM` of process `pid`, KiB (0 when unreadable).
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
