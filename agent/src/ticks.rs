//! Counting the ticks a fixed schedule skipped (a host overloaded or suspended), for the
//! collection loop, the link probe scheduler and the `probe` command.

use std::time::Duration;

use tokio::time::Instant;

/// Number of whole ticks skipped between two consecutive scheduled ticks.
pub fn missed_ticks(previous: Instant, scheduled: Instant, period: Duration) -> u64 {
    let gap = scheduled.saturating_duration_since(previous).as_nanos();
    let period = period.as_nanos().max(1);
    u64::try_from((gap / period).saturating_sub(1)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_ticks_counts_whole_skipped_periods() {
        let t0 = Instant::now();
        let p = Duration::from_secs(15);
        assert_eq!(missed_ticks(t0, t0 + p, p), 0);
        assert_eq!(missed_ticks(t0, t0 + p * 3, p), 2);
        assert_eq!(missed_ticks(t0, t0, p), 0);
    }
}
