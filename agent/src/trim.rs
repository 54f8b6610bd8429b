//! When the agent gives back the page mappings of code it no longer runs
//! (`zerofault_sys::mappings`, why and why it is sound there): after its third collection
//! (start-up is over by then: configuration read, TLS set up, the first reports sent) and
//! then every hour (what rarely used paths mapped meanwhile: certificate renewal,
//! reconnection, error handling). Pure: the caller gives the time.

use std::time::Duration;

use tokio::time::Instant;

/// Collections before the first release.
pub const AFTER_COLLECTIONS: u64 = 3;
/// Time between releases after the first.
pub const EVERY: Duration = Duration::from_secs(3600);

/// The release schedule.
#[derive(Debug, Default)]
pub struct Trim {
    collections: u64,
    next: Option<Instant>,
}

impl Trim {
    /// Counts one collection made at `now`; true when the mappings are to be released now.
    pub fn due(&mut self, now: Instant) -> bool {
        self.collections = self.collections.saturating_add(1);
        let due = match self.next {
            None => self.collections >= AFTER_COLLECTIONS,
            Some(at) => now >= at,
        };
        if due {
            self.next = Some(now + EVERY);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_after_start_up_and_then_hourly() {
        let t0 = Instant::now();
        let mut trim = Trim::default();
        let s = Duration::from_secs(15);
        assert!(!trim.due(t0));
        assert!(!trim.due(t0 + s));
        assert!(trim.due(t0 + s * 2), "the third collection");
        assert!(!trim.due(t0 + s * 3));
        assert!(!trim.due(t0 + s * 2 + EVERY - Duration::from_millis(1)));
        assert!(trim.due(t0 + s * 2 + EVERY));
        assert!(!trim.due(t0 + s * 3 + EVERY));
    }
}
