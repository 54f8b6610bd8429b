//! In-memory, bounded queue of encoded reports between collection and sending, so that
//! collection stays on schedule while the sender waits for a slow or absent collector.
//!
//! This queue is deliberately NOT durable: reports queued here are lost when the agent
//! stops. The durable on-disk spool with lossless backfill is a later issue (issue 4,
//! "spool"); it will replace this module behind the same push/pop interface.
//!
//! Reports are kept encoded (protobuf + zstd, about 1 KB) rather than as `Report` values,
//! so a full queue costs about 10 MB, not several times that.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;
use tracing::warn;

/// Default capacity: 10 000 reports is about 41 hours at the default 15 s interval.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// One encoded report waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The report's sequence number (for logs).
    pub sequence: u64,
    /// `encode_report(..)` bytes.
    pub body: Vec<u8>,
}

/// Bounded FIFO; when full, the oldest report is dropped (the newest state of a host is
/// worth more than its oldest) and counted.
#[derive(Debug)]
pub struct ReportQueue {
    items: Mutex<VecDeque<Queued>>,
    capacity: usize,
    ready: Notify,
    dropped: AtomicU64,
}

impl ReportQueue {
    /// Creates an empty queue holding at most `capacity` reports (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            ready: Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Appends a report, dropping the oldest when full. Returns the dropped report, if any.
    pub fn push(&self, item: Queued) -> Option<Queued> {
        let evicted = {
            let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
            let evicted = if items.len() >= self.capacity {
                items.pop_front()
            } else {
                None
            };
            items.push_back(item);
            evicted
        };
        if let Some(old) = &evicted {
            let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            warn!(
                dropped_sequence = old.sequence,
                dropped_total = total,
                capacity = self.capacity,
                "report queue full (collector unreachable for a long time); dropped the oldest report"
            );
        }
        self.ready.notify_one();
        evicted
    }

    /// Takes the oldest report, waiting until there is one.
    pub async fn pop(&self) -> Queued {
        loop {
            if let Some(item) = self.try_pop() {
                return item;
            }
            self.ready.notified().await;
        }
    }

    /// Takes the oldest report if there is one.
    pub fn try_pop(&self) -> Option<Queued> {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    /// Reports waiting.
    pub fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no report is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reports dropped because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(sequence: u64) -> Queued {
        Queued {
            sequence,
            body: vec![sequence as u8],
        }
    }

    #[test]
    fn drops_oldest_when_full_and_counts() {
        let queue = ReportQueue::new(3);
        for s in 1..=3 {
            assert_eq!(queue.push(q(s)), None);
        }
        assert_eq!(queue.push(q(4)), Some(q(1)));
        assert_eq!(queue.push(q(5)), Some(q(2)));
        assert_eq!(queue.dropped(), 2);
        assert_eq!(queue.len(), 3);
        let order: Vec<_> = std::iter::from_fn(|| queue.try_pop())
            .map(|i| i.sequence)
            .collect();
        assert_eq!(order, [3, 4, 5]);
        assert!(queue.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn pop_waits_for_a_push() {
        let queue = std::sync::Arc::new(ReportQueue::new(10));
        let q2 = queue.clone();
        let waiter = tokio::spawn(async move { q2.pop().await });
        tokio::task::yield_now().await;
        queue.push(q(9));
        assert_eq!(waiter.await.unwrap().sequence, 9);
    }
}
