//! One link's timeline: the sweep over its vantage points that finds link-level down
//! periods, settles them and counts faults.

use std::collections::{BTreeMap, BTreeSet};

use super::super::settings::Links;
use super::vantage::{Machine, Vantage};
use super::views::{Fault, LinkState, LinkView, VantageView};

/// A link-level down period crossing the settled horizon.
#[derive(Debug, Clone)]
pub(super) struct Carried {
    pub(super) start: i64,
    pub(super) agents: BTreeSet<String>,
    /// Already counted in `faults_total`.
    pub(super) counted: bool,
}

#[derive(Debug, Default)]
pub(super) struct LinkTrack {
    pub(super) level: String,
    pub(super) domain: String,
    pub(super) vantages: BTreeMap<String, Vantage>,
    /// Before this, the link-level timeline is final.
    pub(super) settled: Option<i64>,
    pub(super) down_since: Option<Carried>,
    pub(super) down_ms_settled: i64,
    pub(super) faults_total: u64,
    /// Tentative faults of the last recomputation (ongoing, or not yet settled).
    pub(super) pending: Vec<Fault>,
    /// With `record_downs`: every settled link-level down period, however short.
    pub(super) settled_downs: Vec<(i64, i64)>,
    /// With `record_downs`: the down periods after the settled horizon at the last
    /// recomputation (an open one ends at the newest evidence).
    pub(super) tentative_downs: Vec<(i64, i64)>,
}

/// A link-level down period found by the sweep.
#[derive(Debug)]
pub(super) struct Period {
    pub(super) start: i64,
    /// `None`: down up to the newest evidence.
    pub(super) end: Option<i64>,
    pub(super) agents: BTreeSet<String>,
    pub(super) counted: bool,
}

impl LinkTrack {
    pub(super) fn newest(&self) -> Option<i64> {
        self.vantages
            .values()
            .filter(|v| v.last_probe.is_some())
            .map(|v| v.horizon)
            .max()
    }

    /// Recomputes the link-level timeline after the settled horizon, settles what can no
    /// longer change and returns the faults that became final.
    /// With `settle` false nothing is settled: every period found is tentative (the month's
    /// replay, which has all the evidence, computes the link once at the end).
    pub(super) fn recompute(
        &mut self,
        link_id: &str,
        cfg: &Links,
        record: bool,
        settle: bool,
    ) -> Vec<Fault> {
        let Some(newest) = self.newest() else {
            return Vec::new();
        };
        let with_evidence = || self.vantages.values().filter(|v| v.last_probe.is_some());
        let from = self.settled.unwrap_or_else(|| {
            with_evidence()
                .filter_map(|v| v.coverage.first().map(|c| c.0))
                .min()
                .unwrap_or(newest)
        });
        let live_horizon = with_evidence()
            .filter(|v| !v.stale(newest))
            .map(Vantage::settled_horizon)
            .min()
            .unwrap_or(newest);
        // One report window of slack behind the newest evidence: a vantage point that has
        // never reported is unknown here, and this gives its first window time to arrive.
        let grace = with_evidence().map(|v| v.window_ms).max().unwrap_or(0);
        let settle_at = if settle {
            from.max(live_horizon.min(newest - grace))
        } else {
            from
        };

        // Elementary intervals between every boundary of every vantage point's timeline.
        let mut points = vec![from, newest];
        for v in with_evidence() {
            let open = match v.machine {
                Some(Machine::Down { start, .. }) => Some(start),
                _ => None,
            };
            points.extend(
                v.coverage
                    .iter()
                    .chain(&v.downs)
                    .flat_map(|&(a, b)| [a, b])
                    .chain(open)
                    .filter(|&t| from < t && t < newest),
            );
        }
        points.sort_unstable();
        points.dedup();

        let mut periods = Vec::new();
        let mut current = self.down_since.take().map(|c| Period {
            start: c.start,
            end: None,
            agents: c.agents,
            counted: c.counted,
        });
        for pair in points.windows(2) {
            let t = pair[0];
            let reporting: Vec<(&String, &Vantage)> =
                self.vantages.iter().filter(|(_, v)| v.covers(t)).collect();
            let down = !reporting.is_empty() && reporting.iter().all(|(_, v)| v.down_at(t));
            if down {
                let p = current.get_or_insert_with(|| Period {
                    start: t,
                    end: None,
                    agents: BTreeSet::new(),
                    counted: false,
                });
                p.agents.extend(reporting.iter().map(|(a, _)| (*a).clone()));
            } else if let Some(mut p) = current.take() {
                p.end = Some(t);
                periods.push(p);
            }
        }
        periods.extend(current);

        let fault_min = i64::try_from(cfg.fault_min.as_millis()).unwrap_or(i64::MAX);
        let fault = |p: &Period, settled: bool| Fault {
            link_id: link_id.to_owned(),
            level: self.level.clone(),
            domain: self.domain.clone(),
            start_unix_ms: p.start,
            end_unix_ms: p.end,
            duration_ms: p.end.unwrap_or(newest) - p.start,
            agents: p.agents.iter().cloned().collect(),
            settled,
        };
        let mut settled = Vec::new();
        let mut pending = Vec::new();
        let mut carried = None;
        self.tentative_downs.clear();
        for p in periods {
            let end = p.end.unwrap_or(newest);
            let long = end - p.start >= fault_min;
            let settles = p.end.is_some() && end < settle_at;
            if record {
                if settles {
                    self.settled_downs.push((p.start, end));
                } else {
                    self.tentative_downs.push((p.start, end));
                }
            }
            if settles {
                self.down_ms_settled += end - p.start;
                if long {
                    if !p.counted {
                        self.faults_total += 1;
                    }
                    settled.push(fault(&p, true));
                }
            } else if p.start < settle_at {
                // Crosses the settled horizon: its start is final, its end is not.
                let mut p = p;
                if !p.counted && settle_at - p.start >= fault_min {
                    self.faults_total += 1;
                    p.counted = true;
                }
                if long {
                    pending.push(fault(&p, false));
                }
                carried = Some(Carried {
                    start: p.start,
                    agents: p.agents,
                    counted: p.counted,
                });
            } else if long {
                pending.push(fault(&p, false));
            }
        }
        self.down_since = carried;
        self.pending = pending;
        self.settled = Some(settle_at);
        for v in self.vantages.values_mut() {
            v.coverage.retain(|&(_, b)| b > settle_at);
            v.downs.retain(|&(_, b)| b > settle_at);
        }
        settled
    }

    pub(super) fn view(&self, link_id: &str) -> LinkView {
        let newest = self.newest().unwrap_or(i64::MIN);
        let vantages: Vec<VantageView> = self
            .vantages
            .iter()
            .map(|(agent, v)| VantageView {
                agent: agent.clone(),
                state: v.last.as_ref().map_or(LinkState::Up, |l| l.state),
                stale: v.last_probe.is_some() && v.stale(newest),
                last: v.last.clone(),
                probes_sent_total: v.sent_total,
                probes_received_total: v.received_total,
                down_ms_total: v.down_ms_total(),
            })
            .collect();
        let live: Vec<LinkState> = vantages
            .iter()
            .filter(|v| v.last.is_some() && !v.stale)
            .map(|v| v.state)
            .collect();
        let state = if !live.is_empty() && live.iter().all(|s| *s == LinkState::Down) {
            LinkState::Down
        } else if live.iter().any(|s| *s != LinkState::Up) {
            LinkState::Degraded
        } else {
            LinkState::Up
        };
        let settled = self.settled.unwrap_or(i64::MIN);
        LinkView {
            link_id: link_id.to_owned(),
            level: self.level.clone(),
            domain: self.domain.clone(),
            state,
            down_ms_total: self.down_ms_settled
                + self
                    .down_since
                    .as_ref()
                    .map_or(0, |c| (settled - c.start).max(0)),
            faults_total: self.faults_total,
            vantages,
        }
    }
}
