//! The sink's own figures, one set per target, read by `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Why samples were dropped instead of delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// The queue reached `max_queue_bytes`; the oldest went.
    QueueFull,
    /// Older than `max_sample_age` when their turn came.
    TooOld,
    /// The receiver refused the request for good (a 4xx other than 429).
    Refused,
    /// A damaged queue record (checksum, framing, zstd or protobuf).
    Corrupt,
}

impl DropReason {
    /// Every reason, in exposition order.
    pub const ALL: [DropReason; 4] = [
        DropReason::QueueFull,
        DropReason::TooOld,
        DropReason::Refused,
        DropReason::Corrupt,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::TooOld => "too_old",
            DropReason::Refused => "refused",
            DropReason::Corrupt => "corrupt",
        }
    }
}

/// One target's figures since the collector started (the queue gauges are read from disk
/// state at start, so they are right after a restart too).
#[derive(Debug, Default)]
pub struct SinkStats {
    /// The target's name (`target` label).
    pub name: String,
    samples_sent: AtomicU64,
    requests_sent: AtomicU64,
    requests_retried: AtomicU64,
    samples_queued: AtomicU64,
    queue_bytes: AtomicU64,
    oldest_enqueued_ms: AtomicI64,
    last_success_ms: AtomicI64,
    dropped: Mutex<BTreeMap<DropReason, u64>>,
    /// Refused requests by HTTP status, for the log and `/metrics`.
    refused: Mutex<BTreeMap<u16, u64>>,
}

/// A consistent reading of [`SinkStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkReading {
    /// Target name.
    pub name: String,
    /// Samples the receiver accepted (2xx).
    pub samples_sent: u64,
    /// Requests the receiver accepted.
    pub requests_sent: u64,
    /// Attempts that failed and were retried (5xx, 429, network, timeout).
    pub requests_retried: u64,
    /// Samples waiting in the queue.
    pub samples_queued: u64,
    /// Bytes of the queue on disk.
    pub queue_bytes: u64,
    /// Enqueue time of the oldest waiting record's segment, Unix ms (0: none waiting).
    pub oldest_enqueued_ms: i64,
    /// Last accepted request, Unix ms (0: none yet).
    pub last_success_ms: i64,
    /// Dropped samples by reason, every reason present.
    pub dropped: Vec<(DropReason, u64)>,
    /// Refused requests by status code.
    pub refused: Vec<(u16, u64)>,
}

impl SinkStats {
    /// Figures of target `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// A request of `samples` samples was accepted at `now_ms`.
    pub fn sent(&self, samples: u64, now_ms: i64) {
        self.samples_sent.fetch_add(samples, Ordering::Relaxed);
        self.requests_sent.fetch_add(1, Ordering::Relaxed);
        self.last_success_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// An attempt failed and will be retried.
    pub fn retried(&self) {
        self.requests_retried.fetch_add(1, Ordering::Relaxed);
    }

    /// `samples` were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason, samples: u64) {
        if samples == 0 {
            return;
        }
        *self
            .dropped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += samples;
    }

    /// A request was refused with `status`.
    pub fn refused(&self, status: u16) {
        *self
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status)
            .or_default() += 1;
    }

    /// The queue's state: waiting samples and bytes.
    pub fn set_queue(&self, samples: u64, bytes: u64) {
        self.samples_queued.store(samples, Ordering::Relaxed);
        self.queue_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Enqueue time of the oldest record not yet delivered (0: none).
    pub fn set_oldest(&self, enqueued_ms: i64) {
        self.oldest_enqueued_ms
            .store(enqueued_ms, Ordering::Relaxed);
    }

    /// Reads every figure.
    pub fn read(&self) -> SinkReading {
        let dropped = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        SinkReading {
            name: self.name.clone(),
            samples_sent: self.samples_sent.load(Ordering::Relaxed),
            requests_sent: self.requests_sent.load(Ordering::Relaxed),
            requests_retried: self.requests_retried.load(Ordering::Relaxed),
            samples_queued: self.samples_queued.load(Ordering::Relaxed),
            queue_bytes: self.queue_bytes.load(Ordering::Relaxed),
            oldest_enqueued_ms: self.oldest_enqueued_ms.load(Ordering::Relaxed),
            last_success_ms: self.last_success_ms.load(Ordering::Relaxed),
            dropped: DropReason::ALL
                .iter()
                .map(|r| (*r, dropped.get(r).copied().unwrap_or(0)))
                .collect(),
            refused: self
                .refused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(k, v)| (*k, *v))
                .collect(),
        }
    }
}
