//! Token buckets per key (a source address, an agent identity): how often one client may
//! open a connection or send a request, so that one misbehaving client cannot take the
//! collector's time from the others. Pure: the caller passes the time (ms on a monotonic
//! clock), tests use literal times.
//!
//! Memory is bounded: at most `max_keys` buckets are kept; when a new key would exceed it,
//! the buckets that have refilled (their client has been quiet) are dropped first, and if
//! none has, the new key is let through unmetered ([`Decision::Unmetered`]): the other caps
//! (connections, handshakes per address) still hold it, and turning away clients never seen
//! before would let a flood of addresses lock out new agents.

use std::collections::HashMap;
use std::hash::Hash;

/// A rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Most tokens held: what a quiet client may spend at once.
    pub burst: f64,
}

/// What [`Limiter::take`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Within the rate.
    Allow,
    /// Over it: refuse.
    Deny,
    /// The table is full of active clients: let through without metering.
    Unmetered,
}

/// Token buckets keyed by `K`.
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    max_keys: usize,
    /// Tokens and the time they were counted at.
    buckets: HashMap<K, (f64, u64)>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// Buckets with `rate`, at most `max_keys` of them.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Self {
            rate,
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes a token of `key` at `now_ms`.
    pub fn take(&mut self, key: &K, now_ms: u64) -> Decision {
        let rate = self.rate;
        let refill = |(tokens, at): (f64, u64)| {
            let elapsed = now_ms.saturating_sub(at) as f64 / 1000.0;
            (tokens + elapsed * rate.per_second).min(rate.burst)
        };
        if let Some(bucket) = self.buckets.get_mut(key) {
            let tokens = refill(*bucket);
            return if tokens >= 1.0 {
                *bucket = (tokens - 1.0, now_ms);
                Decision::Allow
            } else {
                *bucket = (tokens, now_ms);
                Decision::Deny
            };
        }
        if self.buckets.len() >= self.max_keys {
            self.buckets.retain(|_, b| refill(*b) < rate.burst);
            if self.buckets.len() >= self.max_keys {
                return Decision::Unmetered;
            }
        }
        self.buckets.insert(key.clone(), (rate.burst - 1.0, now_ms));
        Decision::Allow
    }

    /// Buckets held.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_per_key() {
        let mut l = Limiter::new(
            Rate {
                per_second: 2.0,
                burst: 3.0,
            },
            10,
        );
        let take = |l: &mut Limiter<&str>, k, t| l.take(&k, t);
        assert_eq!(
            (0..4).map(|_| take(&mut l, "a", 0)).collect::<Vec<_>>(),
            [
                Decision::Allow,
                Decision::Allow,
                Decision::Allow,
                Decision::Deny
            ]
        );
        // Another key is not affected.
        assert_eq!(take(&mut l, "b", 0), Decision::Allow);
        // Half a second refills one token.
        assert_eq!(take(&mut l, "a", 499), Decision::Deny);
        assert_eq!(take(&mut l, "a", 1_000), Decision::Allow);
        // Denied attempts do not pay: the rate is what gets through.
        let mut allowed = 0;
        for t in (1_000..11_000).step_by(10) {
            if take(&mut l, "a", t) == Decision::Allow {
                allowed += 1;
            }
        }
        assert!((19..=21).contains(&allowed), "{allowed} in 10 s at 2/s");
    }

    #[test]
    fn memory_is_bounded_and_quiet_clients_make_room() {
        let rate = Rate {
            per_second: 1.0,
            burst: 2.0,
        };
        let mut l = Limiter::new(rate, 2);
        assert_eq!(l.take(&1, 0), Decision::Allow);
        assert_eq!(l.take(&2, 0), Decision::Allow);
        // Both active: a third is let through unmetered, not kept.
        assert_eq!(l.take(&3, 0), Decision::Unmetered);
        assert_eq!(l.len(), 2);
        // Later both refilled: room is made.
        assert_eq!(l.take(&3, 5_000), Decision::Allow);
        assert!(l.len() <= 2);
    }
}
