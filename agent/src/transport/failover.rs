//! Which collector URL the next upload goes to, as a pure state machine: with several
//! collectors (`collector.urls`, docs/scale-out.md) the agent sends to one of them, stays with
//! it while it answers, and moves to the next when it cannot take reports.
//!
//! Nothing is lost or stored twice by moving: the report stays in the spool until a
//! collector acknowledges it, and every collector of the deployment stores into one
//! database, where `(agent, boot, sequence)` is stored once whoever receives it.

use super::retry::Outcome;

/// Most URLs in `collector.urls`: a deployment has a handful of collectors, and each URL
/// may cost a timeout before the next is tried.
pub const MAX_URLS: usize = 16;

/// Whether an outcome says the collector cannot take reports now, so another one should get
/// the report: no connection, no answer in time, a broken connection, or a server error
/// (5xx: its database unreachable, shutting down). Not 408 (the body crossed the network too
/// slowly: the network, not the collector) nor 429 (it is busy and says when to come back),
/// and not any answer about the report itself (2xx, other 4xx): another collector would say
/// the same.
pub fn moves_on(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Connect(_) | Outcome::Timeout(_) | Outcome::Io(_) => true,
        Outcome::Status { code, .. } => (500..=599).contains(code),
    }
}

/// The choice among `count` URLs: the current one, and how many failed one after the other
/// since the last one that answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failover {
    count: usize,
    current: usize,
    failed_in_round: usize,
}

/// What [`Failover::record`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Keep sending to the current URL (after the usual backoff, if the attempt failed).
    Stay,
    /// Moved to the URL at this index, not yet tried since the last answer: retry now, no
    /// backoff (the one that failed may be down for good).
    Next(usize),
    /// Moved to the URL at this index, but every URL failed in turn: back off before it, as
    /// with one collector, so that agents do not spin while the whole deployment is down.
    NextAfterBackoff(usize),
}

impl Failover {
    /// A choice among `count` URLs (at least one), starting with the first.
    pub fn new(count: usize) -> Self {
        Self {
            count: count.max(1),
            current: 0,
            failed_in_round: 0,
        }
    }

    /// The index of the URL to send to.
    pub fn current(&self) -> usize {
        self.current
    }

    /// Records the outcome of an attempt on [`Self::current`]: sticks with a URL that
    /// answered; moves on from one that [`moves_on`], at once while some URL of this round
    /// is untried.
    pub fn record(&mut self, outcome: &Outcome) -> Step {
        if !moves_on(outcome) {
            // An answer (even a 408/429 or a refusal): this collector is there.
            self.failed_in_round = 0;
            return Step::Stay;
        }
        if self.count == 1 {
            return Step::Stay;
        }
        self.current = (self.current + 1) % self.count;
        self.failed_in_round += 1;
        if self.failed_in_round < self.count {
            Step::Next(self.current)
        } else {
            // A whole round failed: the next round starts after a backoff.
            self.failed_in_round = 0;
            Step::NextAfterBackoff(self.current)
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

    fn refused() -> Outcome {
        Outcome::Connect("tcp connect error: Connection refused".into())
    }

    #[test]
    fn only_a_collector_that_cannot_take_reports_is_left() {
        for o in [
            refused(),
            Outcome::Timeout("t".into()),
            Outcome::Io("reset".into()),
            status(500),
            status(503),
        ] {
            assert!(moves_on(&o), "{o:?}");
        }
        for code in [200, 204, 400, 403, 408, 413, 429] {
            assert!(!moves_on(&status(code)), "{code}");
        }
    }

    #[test]
    fn a_working_url_is_kept() {
        let mut f = Failover::new(3);
        assert_eq!(f.record(&status(200)), Step::Stay);
        assert_eq!(f.record(&status(429)), Step::Stay);
        assert_eq!(f.record(&status(403)), Step::Stay);
        assert_eq!(f.current(), 0);
    }

    #[test]
    fn a_dead_url_is_left_at_once_and_the_next_working_one_kept() {
        let mut f = Failover::new(3);
        assert_eq!(f.record(&refused()), Step::Next(1));
        assert_eq!(f.record(&status(200)), Step::Stay);
        assert_eq!(f.current(), 1);
        // Later the second goes away too: on to the third, then back round to the first.
        assert_eq!(f.record(&status(503)), Step::Next(2));
        assert_eq!(f.record(&Outcome::Timeout("t".into())), Step::Next(0));
        assert_eq!(f.record(&status(201)), Step::Stay);
        assert_eq!(f.current(), 0);
    }

    #[test]
    fn when_every_url_failed_in_turn_the_next_round_waits_for_the_backoff() {
        let mut f = Failover::new(2);
        assert_eq!(f.record(&refused()), Step::Next(1));
        assert_eq!(f.record(&refused()), Step::NextAfterBackoff(0));
        // Each further round: one immediate move, then a backoff.
        assert_eq!(f.record(&refused()), Step::Next(1));
        assert_eq!(f.record(&refused()), Step::NextAfterBackoff(0));
        // An answer (here 408) ends the round: the next failure moves on at once again.
        assert_eq!(f.record(&status(408)), Step::Stay);
        assert_eq!(f.record(&refused()), Step::Next(1));
    }

    #[test]
    fn one_url_always_stays() {
        let mut f = Failover::new(1);
        assert_eq!(f.record(&refused()), Step::Stay);
        assert_eq!(f.record(&status(500)), Step::Stay);
        assert_eq!(f.current(), 0);
        assert_eq!(Failover::new(0).current(), 0);
    }
}
