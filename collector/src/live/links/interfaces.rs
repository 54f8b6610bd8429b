//! Network uptime of host interfaces: per (agent, interface) the current operational state,
//! the number of transitions and the cumulative time down, from the reports' interface
//! transitions. Pure: times are the agent's (`at_unix_ms`, `timestamp_unix_ms`).
//!
//! Rules (also in `docs/metrics.md`):
//! * An interface is **down** when its carrier is known to be absent, or its operational
//!   state is anything but `up` or `unknown` (`down`, `lowerlayerdown`, `notpresent`,
//!   `dormant`, `testing`). `unknown` counts as up because loopback and many virtual
//!   interfaces report it permanently.
//! * Every reported transition counts, including a carrier change that keeps the state.
//!   A transition not newer than the last one taken for that interface is ignored (replays).
//! * An interface first seen in a report's interface list starts in the listed state without
//!   a transition. When the list disagrees with the tracked state and the report carries no
//!   transition for the interface (the agent restarted and missed it), the change is taken
//!   at the report's time and counted.
//! * Down time of an interface that is down now runs up to the newest report of its agent.

use std::collections::BTreeMap;

use zerofault_protocol::Report;

/// One interface as `/metrics` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceView {
    /// Agent id.
    pub agent: String,
    /// Interface name.
    pub interface: String,
    /// Down now (rules in the module documentation).
    pub down: bool,
    /// Transitions counted.
    pub transitions_total: u64,
    /// Time down, ms (closed down spans plus the open one up to the agent's newest report).
    pub down_ms_total: i64,
}

#[derive(Debug, Clone, Default)]
struct Tracked {
    down_since: Option<i64>,
    /// Time of the last change taken; older transitions are ignored.
    last_at: i64,
    transitions: u64,
    down_ms_closed: i64,
}

impl Tracked {
    fn apply(&mut self, down: bool, at: i64, counted: bool) {
        if counted {
            self.transitions += 1;
        }
        self.last_at = self.last_at.max(at);
        match (self.down_since, down) {
            (Some(since), false) => {
                self.down_ms_closed += (at - since).max(0);
                self.down_since = None;
            }
            (None, true) => self.down_since = Some(at),
            _ => {}
        }
    }
}

/// Interface state per (agent, interface).
#[derive(Debug, Default)]
pub struct InterfaceTracker {
    interfaces: BTreeMap<(String, String), Tracked>,
    /// Newest report time per agent: where the open down time of its interfaces ends.
    newest: BTreeMap<String, i64>,
}

/// Whether an operational state and carrier mean "down" (rules in the module docs).
pub fn is_down(oper_state: &str, carrier: Option<bool>) -> bool {
    carrier == Some(false) || !matches!(oper_state, "up" | "unknown" | "")
}

impl InterfaceTracker {
    /// Takes the interface transitions and the interface list of one report.
    pub fn observe(&mut self, report: &Report) {
        let agent = &report.agent_id;
        let newest = self.newest.entry(agent.clone()).or_insert(i64::MIN);
        *newest = (*newest).max(report.timestamp_unix_ms);
        let mut transitions: Vec<_> = report.interface_transitions.iter().collect();
        transitions.sort_by_key(|t| t.at_unix_ms);
        for t in &transitions {
            let key = (agent.clone(), t.interface.clone());
            let down = is_down(&t.oper_state, t.carrier);
            match self.interfaces.get_mut(&key) {
                Some(tracked) if t.at_unix_ms <= tracked.last_at => {}
                Some(tracked) => tracked.apply(down, t.at_unix_ms, true),
                None => {
                    let mut tracked = Tracked {
                        last_at: t.at_unix_ms,
                        ..Default::default()
                    };
                    tracked.apply(down, t.at_unix_ms, true);
                    self.interfaces.insert(key, tracked);
                }
            }
        }
        for i in &report.interfaces {
            let key = (agent.clone(), i.name.clone());
            let down = is_down(&i.oper_state, i.carrier);
            let at = report.timestamp_unix_ms;
            match self.interfaces.get_mut(&key) {
                None => {
                    let mut tracked = Tracked {
                        last_at: at,
                        ..Default::default()
                    };
                    tracked.apply(down, at, false);
                    self.interfaces.insert(key, tracked);
                }
                Some(tracked) => {
                    let mentioned = transitions.iter().any(|t| t.interface == i.name);
                    if !mentioned && tracked.down_since.is_some() != down && at > tracked.last_at {
                        tracked.apply(down, at, true);
                    }
                }
            }
        }
    }

    /// Every interface, by agent and name.
    pub fn views(&self) -> Vec<InterfaceView> {
        self.interfaces
            .iter()
            .map(|((agent, interface), t)| {
                let newest = self.newest.get(agent).copied().unwrap_or(i64::MIN);
                let open = t.down_since.map_or(0, |s| (newest - s).max(0));
                InterfaceView {
                    agent: agent.clone(),
                    interface: interface.clone(),
                    down: t.down_since.is_some(),
                    transitions_total: t.transitions,
                    down_ms_total: t.down_ms_closed + open,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use zerofault_protocol::{Interface, InterfaceTransition};

    use super::*;

    fn report(ts: i64, interfaces: &[(&str, &str)], transitions: &[(&str, i64, &str)]) -> Report {
        Report {
            agent_id: "a".into(),
            timestamp_unix_ms: ts,
            interfaces: interfaces
                .iter()
                .map(|(n, s)| Interface {
                    name: (*n).into(),
                    oper_state: (*s).into(),
                    ..Default::default()
                })
                .collect(),
            interface_transitions: transitions
                .iter()
                .map(|(n, at, s)| InterfaceTransition {
                    interface: (*n).into(),
                    at_unix_ms: *at,
                    oper_state: (*s).into(),
                    carrier: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn view(t: &InterfaceTracker, name: &str) -> InterfaceView {
        t.views().into_iter().find(|v| v.interface == name).unwrap()
    }

    #[test]
    fn counts_transitions_and_down_time() {
        let mut t = InterfaceTracker::default();
        t.observe(&report(10_000, &[("eth0", "up"), ("lo", "unknown")], &[]));
        assert_eq!(view(&t, "eth0").transitions_total, 0);
        assert!(!view(&t, "lo").down);
        t.observe(&report(
            25_000,
            &[("eth0", "up")],
            &[("eth0", 12_000, "down"), ("eth0", 20_000, "up")],
        ));
        let e = view(&t, "eth0");
        assert_eq!(
            (e.transitions_total, e.down_ms_total, e.down),
            (2, 8_000, false)
        );
        // Down now: counted up to the newest report.
        t.observe(&report(
            40_000,
            &[("eth0", "lowerlayerdown")],
            &[("eth0", 30_000, "lowerlayerdown")],
        ));
        let e = view(&t, "eth0");
        assert_eq!(
            (e.transitions_total, e.down_ms_total, e.down),
            (3, 18_000, true)
        );
        // A replayed transition changes nothing.
        t.observe(&report(40_000, &[], &[("eth0", 30_000, "lowerlayerdown")]));
        assert_eq!(view(&t, "eth0").transitions_total, 3);
    }

    #[test]
    fn a_missed_transition_is_taken_from_the_interface_list() {
        let mut t = InterfaceTracker::default();
        t.observe(&report(10_000, &[("eth0", "up")], &[]));
        t.observe(&report(20_000, &[("eth0", "down")], &[]));
        t.observe(&report(35_000, &[("eth0", "up")], &[]));
        let e = view(&t, "eth0");
        assert_eq!((e.transitions_total, e.down_ms_total), (2, 15_000));
    }

    #[test]
    fn carrier_loss_is_down() {
        assert!(is_down("up", Some(false)));
        assert!(!is_down("up", Some(true)));
        assert!(!is_down("unknown", None));
        assert!(is_down("dormant", None));
    }
}
