//! Delivery bookkeeping per agent: which sequence numbers are stored (per boot) and how far
//! the agent's clock is from the collector's.
//!
//! Completeness is computed from what is *stored*, so it survives a restart: at start-up
//! [`Ledger::load`] takes one `GROUP BY agent, boot` summary of the store, and every newly
//! stored report (never a duplicate) updates it through [`Ledger::observe`]. A scrape only
//! reads these small per-boot summaries, never the database.
//!
//! Gaps are counted from sequence numbers and reboots from boot ids, never from agent
//! timestamps: a clock step moves timestamps, not sequence numbers.
//!
//! Clock offset: `offset = agent timestamp - collector receive time`. Network delay, queueing
//! and retries only ever make the receive time later, so each sample is the true offset
//! minus a non-negative delay; the MAXIMUM over the last [`OFFSET_WINDOW`] live reports is
//! therefore the best estimate (the least-delayed report). Only live reports feed it: a report
//! whose sequence is not above the highest already stored for its boot is backlog sent
//! behind live data, whose receive time says nothing about the agent's clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

/// Live reports the clock offset estimate looks back over. 20 reports are 5 minutes at the
/// default 15 s interval: long enough that one report without queueing delay is nearly
/// always among them, short enough that a clock step shows within minutes.
pub const OFFSET_WINDOW: usize = 20;

/// Default `clock.max_skew`.
pub const DEFAULT_MAX_SKEW_MS: i64 = 30_000;

/// Agent clock checks (`clock.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// An agent whose estimated clock offset is larger than this (either way) is flagged by
    /// `zerofault_agent_clock_skewed` and a warning. Its timestamps are still stored; gaps,
    /// reboots and liveness never rely on them.
    #[serde(
        default = "default_max_skew",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub max_skew: Duration,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            max_skew: default_max_skew(),
        }
    }
}

fn default_max_skew() -> Duration {
    Duration::from_millis(DEFAULT_MAX_SKEW_MS as u64)
}

/// Stored sequence numbers of one boot of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootSpan {
    /// Lowest stored sequence.
    pub min: u64,
    /// Highest stored sequence.
    pub max: u64,
    /// Distinct reports stored.
    pub count: u64,
}

impl BootSpan {
    /// Sequence numbers between the lowest and highest stored that are not stored.
    pub fn gaps(&self) -> u64 {
        (self.max.saturating_sub(self.min))
            .saturating_add(1)
            .saturating_sub(self.count)
    }
}

/// One row of the start-up summary of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSpan {
    /// Agent id.
    pub agent_id: String,
    /// Boot id.
    pub boot_id: String,
    /// The boot's stored sequence numbers.
    pub span: BootSpan,
}

/// What `/metrics` shows about one agent's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivery {
    /// Distinct reports stored, all boots.
    pub reports_stored: u64,
    /// Sequence numbers missing from storage within each boot, summed over boots.
    pub sequence_gaps: u64,
    /// Estimated agent clock minus collector clock, ms; `None` until a live report arrived
    /// in this collector process.
    pub clock_offset_ms: Option<i64>,
    /// `|clock_offset_ms| > clock.max_skew`.
    pub clock_skewed: bool,
}

#[derive(Debug, Default)]
struct AgentLedger {
    boots: HashMap<String, BootSpan>,
    offsets: VecDeque<i64>,
    skewed: bool,
}

impl AgentLedger {
    fn delivery(&self) -> Delivery {
        Delivery {
            reports_stored: self.boots.values().map(|b| b.count).sum(),
            sequence_gaps: self.boots.values().map(BootSpan::gaps).sum(),
            clock_offset_ms: self.offsets.iter().copied().max(),
            clock_skewed: self.skewed,
        }
    }
}

/// Per-agent delivery bookkeeping.
#[derive(Debug)]
pub struct Ledger {
    agents: Mutex<HashMap<String, AgentLedger>>,
    max_skew_ms: i64,
}

impl Default for Ledger {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SKEW_MS)
    }
}

impl Ledger {
    /// An empty ledger flagging agents whose clock is more than `max_skew_ms` off.
    pub fn new(max_skew_ms: i64) -> Self {
        Self {
            agents: Mutex::new(HashMap::new()),
            max_skew_ms: max_skew_ms.max(0),
        }
    }

    /// Replaces the stored-sequence summaries with `spans` (start-up).
    pub fn load(&self, spans: Vec<StoredSpan>) {
        let mut agents = self.agents.lock().expect("ledger lock poisoned");
        for s in spans {
            agents
                .entry(s.agent_id)
                .or_default()
                .boots
                .insert(s.boot_id, s.span);
        }
    }

    /// Counts one newly stored report (call only for [`InsertOutcome::Stored`], never for a
    /// duplicate) and, if it is live, samples the agent's clock offset.
    ///
    /// [`InsertOutcome::Stored`]: crate::store::InsertOutcome::Stored
    pub fn observe(
        &self,
        agent_id: &str,
        boot_id: &str,
        sequence: u64,
        agent_timestamp_ms: i64,
        received_ms: i64,
    ) {
        let mut agents = self.agents.lock().expect("ledger lock poisoned");
        let agent = match agents.get_mut(agent_id) {
            Some(a) => a,
            None => agents.entry(agent_id.to_owned()).or_default(),
        };
        let live = match agent.boots.get_mut(boot_id) {
            Some(span) => {
                let live = sequence > span.max;
                span.min = span.min.min(sequence);
                span.max = span.max.max(sequence);
                span.count += 1;
                live
            }
            None => {
                agent.boots.insert(
                    boot_id.to_owned(),
                    BootSpan {
                        min: sequence,
                        max: sequence,
                        count: 1,
                    },
                );
                true
            }
        };
        if !live {
            return;
        }
        if agent.offsets.len() == OFFSET_WINDOW {
            agent.offsets.pop_front();
        }
        agent
            .offsets
            .push_back(agent_timestamp_ms.saturating_sub(received_ms));
        let offset = agent.offsets.iter().copied().max().unwrap_or(0);
        let skewed = offset.saturating_abs() > self.max_skew_ms;
        // Logged on the change only: once per episode, not once per report.
        if skewed && !agent.skewed {
            tracing::warn!(
                agent = %agent_id,
                offset_seconds = offset as f64 / 1000.0,
                max_skew_seconds = self.max_skew_ms as f64 / 1000.0,
                "agent clock is skewed; its timestamps are kept but liveness, gaps and reboots do not use them"
            );
        } else if !skewed && agent.skewed {
            tracing::info!(agent = %agent_id, offset_seconds = offset as f64 / 1000.0, "agent clock back within max_skew");
        }
        agent.skewed = skewed;
    }

    /// The delivery figures of one agent, if it has stored reports.
    pub fn get(&self, agent_id: &str) -> Option<Delivery> {
        let agents = self.agents.lock().expect("ledger lock poisoned");
        agents.get(agent_id).map(AgentLedger::delivery)
    }

    /// The stored sequence span of each boot of one agent, by boot id (the cockpit's host
    /// page). Empty for an agent without stored reports.
    pub fn boots(&self, agent_id: &str) -> Vec<(String, BootSpan)> {
        let agents = self.agents.lock().expect("ledger lock poisoned");
        let mut boots: Vec<(String, BootSpan)> = agents
            .get(agent_id)
            .map(|a| a.boots.iter().map(|(b, s)| (b.clone(), *s)).collect())
            .unwrap_or_default();
        // Oldest boot first: sequences grow across boots.
        boots.sort_by_key(|(_, s)| s.min);
        boots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_counted_per_boot() {
        let l = Ledger::default();
        l.load(vec![StoredSpan {
            agent_id: "a".into(),
            boot_id: "b1".into(),
            span: BootSpan {
                min: 1,
                max: 10,
                count: 8,
            },
        }]);
        // A new boot continues the persisted sequence; nothing between boots is a gap.
        l.observe("a", "b2", 20, 0, 0);
        l.observe("a", "b2", 23, 0, 0);
        let d = l.get("a").unwrap();
        assert_eq!(d.reports_stored, 10);
        assert_eq!(d.sequence_gaps, 2 + 2);
        // The backfill closes a gap.
        l.observe("a", "b2", 21, 0, 0);
        l.observe("a", "b2", 22, 0, 0);
        assert_eq!(l.get("a").unwrap().sequence_gaps, 2);
        assert!(l.get("nobody").is_none());
    }

    #[test]
    fn offset_is_the_max_over_live_reports_and_ignores_backlog() {
        let l = Ledger::new(30_000);
        // Live reports: true offset +5 s, received 0.1 to 2 s late.
        l.observe("a", "b", 100, 10_000, 4_900);
        l.observe("a", "b", 101, 25_000, 21_000);
        // Backlog behind them, an hour old: not live, not a sample.
        l.observe("a", "b", 50, 10_000 - 3_600_000, 30_000);
        let d = l.get("a").unwrap();
        assert_eq!(d.clock_offset_ms, Some(5_100));
        assert!(!d.clock_skewed);
    }

    #[test]
    fn a_clock_step_is_flagged_once_the_window_has_moved_on() {
        let l = Ledger::new(60_000);
        let mut seq = 0;
        for i in 0..OFFSET_WINDOW as i64 {
            seq += 1;
            l.observe("a", "b", seq, i * 1000, i * 1000);
        }
        // Stepped back 10 minutes: flagged after a full window of stepped reports.
        for i in 0..OFFSET_WINDOW as i64 {
            assert!(!l.get("a").unwrap().clock_skewed);
            seq += 1;
            l.observe("a", "b", seq, (100 + i) * 1000 - 600_000, (100 + i) * 1000);
        }
        let d = l.get("a").unwrap();
        assert_eq!(d.clock_offset_ms, Some(-600_000));
        assert!(d.clock_skewed);
        assert_eq!(d.sequence_gaps, 0);
    }
}
