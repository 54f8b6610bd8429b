//! One vantage point's probe stream: segments, the up/down hysteresis machine, evidence.

use super::super::settings::Links;
use super::stream::Step;
use super::views::{MIN_STALE_MS, STALE_WINDOWS, WindowSummary};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Streak {
    /// Send time of the first probe of the run.
    pub(super) first: i64,
    pub(super) count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Machine {
    /// Up, possibly with a run of lost probes not yet long enough to confirm a down.
    Up { losing: Option<Streak> },
    /// Down since `start`, possibly with a run of successes not yet long enough to end it.
    Down {
        start: i64,
        recovering: Option<Streak>,
    },
}

#[derive(Debug, Default)]
pub(super) struct Vantage {
    pub(super) last_window_end: Option<i64>,
    pub(super) last: Option<WindowSummary>,
    pub(super) sent_total: u64,
    pub(super) received_total: u64,
    pub(super) window_ms: i64,
    pub(super) machine: Option<Machine>,
    pub(super) last_probe: Option<i64>,
    /// Last probe + one interval: how far this vantage point's evidence reaches.
    pub(super) horizon: i64,
    /// Time covered by evidence, sorted, disjoint; pruned before the link's settled horizon.
    pub(super) coverage: Vec<(i64, i64)>,
    /// Closed down periods, sorted; pruned before the link's settled horizon.
    pub(super) downs: Vec<(i64, i64)>,
    pub(super) down_ms_closed: i64,
}

impl Vantage {
    pub(super) fn close_down(&mut self, start: i64, end: i64) {
        if end > start {
            self.downs.push((start, end));
            self.down_ms_closed += end - start;
        }
    }

    pub(super) fn step(&mut self, step: Step, cfg: &Links) {
        let machine = self.machine.unwrap_or(Machine::Up { losing: None });
        let mut closed = None;
        let (first, count) = (step.first_ms, step.count);
        self.machine = Some(match (step.lost, machine) {
            (true, Machine::Up { losing }) => {
                let mut s = losing.unwrap_or(Streak { first, count: 0 });
                s.count = s.count.saturating_add(count);
                if s.count >= cfg.down_confirm_probes {
                    Machine::Down {
                        start: s.first,
                        recovering: None,
                    }
                } else {
                    Machine::Up { losing: Some(s) }
                }
            }
            // A loss breaks the recovery run: the outage goes on.
            (true, Machine::Down { start, .. }) => Machine::Down {
                start,
                recovering: None,
            },
            (false, Machine::Up { .. }) => Machine::Up { losing: None },
            (false, Machine::Down { start, recovering }) => {
                let mut r = recovering.unwrap_or(Streak { first, count: 0 });
                r.count = r.count.saturating_add(count);
                if r.count >= cfg.up_confirm_probes {
                    closed = Some((start, r.first));
                    Machine::Up { losing: None }
                } else {
                    Machine::Down {
                        start,
                        recovering: Some(r),
                    }
                }
            }
        });
        if let Some((start, end)) = closed {
            self.close_down(start, end);
        }
    }

    /// No evidence from the current horizon on: close what is open where evidence ends.
    pub(super) fn break_evidence(&mut self) {
        if let Some(Machine::Down { start, recovering }) = self.machine {
            let end = recovering.map_or(self.horizon, |r| r.first);
            self.close_down(start, end);
        }
        self.machine = Some(Machine::Up { losing: None });
    }

    /// Before this time nothing this vantage point reports later can change its timeline.
    pub(super) fn settled_horizon(&self) -> i64 {
        match self.machine {
            Some(Machine::Up {
                losing: Some(s), ..
            }) => s.first,
            Some(Machine::Down {
                recovering: Some(r),
                ..
            }) => r.first,
            _ => self.horizon,
        }
    }

    pub(super) fn covers(&self, t: i64) -> bool {
        // Sorted and disjoint: the first span ending after `t` is the only one that can hold
        // it (the month's replay asks this for every boundary of a month of evidence).
        let i = self.coverage.partition_point(|&(_, b)| b <= t);
        self.coverage.get(i).is_some_and(|&(a, _)| a <= t)
    }

    /// Down at `t` as far as is known now (an unconfirmed recovery still counts as down,
    /// an unconfirmed loss run as up).
    pub(super) fn down_at(&self, t: i64) -> bool {
        let i = self.downs.partition_point(|&(_, b)| b <= t);
        self.downs.get(i).is_some_and(|&(a, _)| a <= t)
            || matches!(self.machine, Some(Machine::Down { start, .. }) if start <= t && t < self.horizon)
    }

    pub(super) fn is_down(&self) -> bool {
        matches!(self.machine, Some(Machine::Down { .. }))
    }

    pub(super) fn stale(&self, newest: i64) -> bool {
        let allowance = (STALE_WINDOWS * self.window_ms).max(MIN_STALE_MS);
        self.horizon < newest - allowance
    }

    pub(super) fn down_ms_total(&self) -> i64 {
        let open = match self.machine {
            Some(Machine::Down { start, .. }) => (self.settled_horizon() - start).max(0),
            _ => 0,
        };
        self.down_ms_closed + open
    }
}
