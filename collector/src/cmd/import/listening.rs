//! Where the source of imported reports was listening, inferred from the reports.
//!
//! Imported history has no recorded collector runs, and the SLA engine charges a silent host or
//! a reboot gap as `down` only where the collector is known to have been listening (docs/sla.md
//! § 4). So an import (with the default receive time) infers, from the reports it reads, where
//! their source was hearing agents ([`ListeningInference`]) and stores those spans as
//! **listening periods** (`imported_listening`), which the monthly report uses as it uses
//! collector runs. The rule: a report covers `[t - interval, t]` of its agent's time; it is
//! evidence that the agent was *delivering* then, unless its `agent_stats` say earlier reports
//! were still unacknowledged when it was made (`spool_reports > 0`): then the agent was *not
//! delivering* (it was filling its spool: this report is backfill). The source was listening
//! where more agents were delivering than not. A majority, not "any agent", so that one agent
//! with a wrong clock cannot open a listening period inside an outage of the source; a report
//! without `agent_stats` (older agents) counts as delivering. The periods are printed with the
//! summary and listed by `GET /api/v1/collector/runs`; they are keyed by their span, so
//! importing the same file again adds nothing. With `--received-now` the reports are backfill
//! arriving now, evidence of nothing about the past: no period is inferred.

use std::collections::{BTreeMap, HashMap};

use zerofault_protocol::Report;

/// Evidence spans closer than this are one span: consecutive reports of an agent abut only
/// to within its timer's jitter, and a hole that small is not an outage of the source (the
/// SLA engine's own placement noise, `TOUCH_MS`, is 2 s too).
pub const LISTENING_JOIN_MS: i64 = 2_000;

/// What one report says about its source's listening (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    /// When it was made, its own `timestamp_unix_ms`.
    pub at_ms: i64,
    /// Its `interval_ms`: it covers `[at - interval, at]`.
    pub interval_ms: i64,
    /// Earlier reports of its agent were still unacknowledged when it was made
    /// (`agent_stats.spool_reports > 0`): the agent could not deliver then.
    pub backlog: bool,
}

impl Evidence {
    /// The evidence of `report`.
    pub fn of(report: &Report) -> Evidence {
        Evidence {
            at_ms: report.timestamp_unix_ms,
            interval_ms: i64::from(report.interval_ms),
            backlog: report
                .agent_stats
                .as_ref()
                .is_some_and(|s| s.spool_reports > 0),
        }
    }
}

/// Disjoint spans `start -> end`, joined when closer than [`LISTENING_JOIN_MS`]; memory is
/// one entry per stretch, not per report.
#[derive(Debug, Default)]
struct Spans(BTreeMap<i64, i64>);

impl Spans {
    fn insert(&mut self, mut a: i64, mut b: i64) {
        if b <= a {
            return;
        }
        let mut joined = Vec::new();
        // Spans are disjoint, so their ends grow with their starts: walk back from the last
        // span starting near `b` while it still reaches `a`.
        for (&s, &e) in self.0.range(..=b.saturating_add(LISTENING_JOIN_MS)).rev() {
            if e < a.saturating_sub(LISTENING_JOIN_MS) {
                break;
            }
            a = a.min(s);
            b = b.max(e);
            joined.push(s);
        }
        for s in joined {
            self.0.remove(&s);
        }
        self.0.insert(a, b);
    }
}

/// Infers where the source of imported reports was listening (see the module docs): where
/// more agents were delivering than not.
#[derive(Debug, Default)]
pub struct ListeningInference {
    /// Per agent: (delivering, not delivering).
    agents: HashMap<String, (Spans, Spans)>,
}

impl ListeningInference {
    /// Adds one report of `agent`.
    pub fn add(&mut self, agent: &str, e: Evidence) {
        if e.interval_ms <= 0 {
            return;
        }
        let spans = match self.agents.get_mut(agent) {
            Some(s) => s,
            None => self.agents.entry(agent.to_owned()).or_default(),
        };
        let target = if e.backlog {
            &mut spans.1
        } else {
            &mut spans.0
        };
        target.insert(e.at_ms.saturating_sub(e.interval_ms), e.at_ms);
    }

    /// The listening periods, `[start, end)`, sorted and disjoint.
    pub fn periods(&self) -> Vec<(i64, i64)> {
        // +1/-1 for delivering agents, +1/-1 for agents not delivering, at each span edge.
        let mut events: Vec<(i64, i32, i32)> = Vec::new();
        for (delivering, not) in self.agents.values() {
            for (&a, &b) in &delivering.0 {
                events.push((a, 1, 0));
                events.push((b, -1, 0));
            }
            for (&a, &b) in &not.0 {
                events.push((a, 0, 1));
                events.push((b, 0, -1));
            }
        }
        events.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::new();
        let (mut d, mut n) = (0i32, 0i32);
        let mut i = 0;
        while i < events.len() {
            let t = events[i].0;
            while i < events.len() && events[i].0 == t {
                d += events[i].1;
                n += events[i].2;
                i += 1;
            }
            let Some(&(next, _, _)) = events.get(i) else {
                break;
            };
            if d > n {
                match out.last_mut() {
                    Some(last) if t - last.1 < LISTENING_JOIN_MS => last.1 = next,
                    _ => out.push((t, next)),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    /// Reports of `agent` every 5 minutes made at `from..=to` (minutes), with or without a
    /// backlog.
    fn every_5_min(inf: &mut ListeningInference, agent: &str, from: i64, to: i64, backlog: bool) {
        for t in (from..=to).step_by(5) {
            inf.add(
                agent,
                Evidence {
                    at_ms: t * M,
                    interval_ms: 5 * M,
                    backlog,
                },
            );
        }
    }

    #[test]
    fn agents_reporting_throughout_make_one_listening_period() {
        let mut inf = ListeningInference::default();
        every_5_min(&mut inf, "a", 5, 600, false);
        every_5_min(&mut inf, "b", 5, 300, false);
        // Out of order and repeated: the same span.
        every_5_min(&mut inf, "b", 305, 600, false);
        every_5_min(&mut inf, "b", 100, 200, false);
        assert_eq!(inf.periods(), vec![(0, 600 * M)]);
    }

    #[test]
    fn an_outage_of_the_source_with_backfill_is_not_listening() {
        // Collector down 120..240: both agents keep their reports in their spool (each made
        // with a backlog) and deliver them afterwards; the import holds them all.
        let mut inf = ListeningInference::default();
        for agent in ["a", "b"] {
            every_5_min(&mut inf, agent, 5, 120, false);
            every_5_min(&mut inf, agent, 125, 240, true);
            every_5_min(&mut inf, agent, 245, 600, false);
        }
        assert_eq!(inf.periods(), vec![(0, 120 * M), (240 * M, 600 * M)]);
    }

    #[test]
    fn one_agent_with_a_wrong_clock_cannot_open_a_period_inside_an_outage() {
        // As above with three agents, and "c" an hour ahead: its evidence is 60 minutes late,
        // so its reports before the outage seem to cover 120..180. The majority is not
        // listening there.
        let mut inf = ListeningInference::default();
        for agent in ["a", "b"] {
            every_5_min(&mut inf, agent, 5, 120, false);
            every_5_min(&mut inf, agent, 125, 240, true);
            every_5_min(&mut inf, agent, 245, 600, false);
        }
        every_5_min(&mut inf, "c", 65, 180, false);
        every_5_min(&mut inf, "c", 185, 300, true);
        every_5_min(&mut inf, "c", 305, 660, false);
        assert_eq!(inf.periods(), vec![(0, 120 * M), (240 * M, 660 * M)]);
    }

    #[test]
    fn one_agent_cut_off_while_the_others_deliver_leaves_the_source_listening() {
        let mut inf = ListeningInference::default();
        every_5_min(&mut inf, "a", 5, 600, false);
        every_5_min(&mut inf, "b", 5, 600, false);
        every_5_min(&mut inf, "c", 5, 100, false);
        every_5_min(&mut inf, "c", 105, 200, true);
        every_5_min(&mut inf, "c", 205, 600, false);
        assert_eq!(inf.periods(), vec![(0, 600 * M)]);
    }

    #[test]
    fn silence_of_every_agent_is_no_listening_and_jitter_is_no_gap() {
        let mut inf = ListeningInference::default();
        every_5_min(&mut inf, "a", 5, 100, false);
        // Nobody reported 100..200 (an outage without backfill).
        every_5_min(&mut inf, "a", 205, 300, false);
        // A report made 1 s late leaves a 1 s hole: joined.
        inf.add(
            "a",
            Evidence {
                at_ms: 305 * M + 1_000,
                interval_ms: 5 * M,
                backlog: false,
            },
        );
        assert_eq!(
            inf.periods(),
            vec![(0, 100 * M), (200 * M, 305 * M + 1_000)]
        );
        // A tie (one delivering, one not) is not listening: no evidence either way.
        let mut inf = ListeningInference::default();
        every_5_min(&mut inf, "a", 5, 10, false);
        every_5_min(&mut inf, "b", 5, 10, true);
        assert_eq!(inf.periods(), vec![]);
    }
}
