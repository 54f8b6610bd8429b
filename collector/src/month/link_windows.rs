//! The link windows of a month as the report reads them: each vantage point's window moved
//! to the collector's clock and compacted while agents are read, then, per link, replayed
//! through the live link engine's rules into down periods and turned into the engine's
//! link input (degraded windows by the collector's link thresholds).

use std::collections::{BTreeMap, BTreeSet};

use zerofault_protocol::LinkResult;

use crate::inventory::{Inventory, MaintenanceInterval, Named, Scope};
use crate::live::links::Links;
use crate::month::sla::input::{Interval, LinkInput, LinkWindow};

/// One vantage point's window, moved to the collector's clock, holding only what the link
/// engine and the SLA read (no strings: a month of windows of every link is held until the
/// last agent is read, so each costs ~100 bytes, not a full `LinkResult`).
#[derive(Debug, Clone)]
pub(super) struct PlacedWindow {
    /// Index into the agents in read order (see [`link_inputs`]).
    agent: u32,
    start_ms: i64,
    end_ms: i64,
    first_probe_ms: i64,
    last_probe_ms: i64,
    probe_interval_ms: u32,
    sent: u32,
    received: u32,
    rtt_avg_seconds: f64,
    jitter_seconds: f64,
    loss_runs: Box<[zerofault_protocol::LossRun]>,
}

/// One link's windows as read, and the level and domain its newest window reported (used
/// only when the inventory does not know the link; kept once per link, not per window).
#[derive(Debug, Default)]
pub(super) struct LinkWindows {
    windows: Vec<PlacedWindow>,
    /// `(end_ms, level, domain)` of the newest window, the last read among equal ends.
    newest: Option<(i64, String, String)>,
}

impl LinkWindows {
    pub(super) fn push(&mut self, window: PlacedWindow, level: &str, domain: &str) {
        match &mut self.newest {
            Some((end, l, d)) if window.end_ms >= *end => {
                *end = window.end_ms;
                if l != level {
                    level.clone_into(l);
                }
                if d != domain {
                    domain.clone_into(d);
                }
            }
            Some(_) => {}
            None => self.newest = Some((window.end_ms, level.to_owned(), domain.to_owned())),
        }
        self.windows.push(window);
    }
}

impl PlacedWindow {
    /// The window again as the link engine takes it.
    fn to_link_result(&self) -> LinkResult {
        LinkResult {
            window_start_unix_ms: self.start_ms,
            window_end_unix_ms: self.end_ms,
            first_probe_unix_ms: self.first_probe_ms,
            last_probe_unix_ms: self.last_probe_ms,
            probe_interval_ms: self.probe_interval_ms,
            sent: self.sent,
            received: self.received,
            loss_ratio: if self.sent == 0 {
                0.0
            } else {
                1.0 - f64::from(self.received.min(self.sent)) / f64::from(self.sent)
            },
            rtt_avg_seconds: self.rtt_avg_seconds,
            jitter_seconds: self.jitter_seconds,
            loss_runs: self.loss_runs.to_vec(),
            ..Default::default()
        }
    }
}

/// `w` moved to the collector's clock by `offset_ms`, compacted.
pub(super) fn placed_window(agent: u32, w: &LinkResult, offset_ms: i64) -> PlacedWindow {
    let mv = |t: i64| if t == 0 { 0 } else { t + offset_ms };
    PlacedWindow {
        agent,
        start_ms: mv(w.window_start_unix_ms),
        end_ms: mv(w.window_end_unix_ms),
        first_probe_ms: mv(w.first_probe_unix_ms),
        last_probe_ms: mv(w.last_probe_unix_ms),
        probe_interval_ms: w.probe_interval_ms,
        sent: w.sent,
        received: w.received,
        rtt_avg_seconds: w.rtt_avg_seconds,
        jitter_seconds: w.jitter_seconds,
        loss_runs: w
            .loss_runs
            .iter()
            .map(|r| zerofault_protocol::LossRun {
                first_lost_unix_ms: mv(r.first_lost_unix_ms),
                last_lost_unix_ms: mv(r.last_lost_unix_ms),
                ..r.clone()
            })
            .collect(),
    }
}

/// Every link-level down period of one link, from its vantage points' windows (collector
/// clock), through the live link engine's rules ([`crate::live::links::down_periods`]), fed in
/// the order they would have arrived live: by window end.
fn down_periods(
    links_config: &Links,
    windows: &mut [PlacedWindow],
    agents: &[String],
) -> Vec<Interval> {
    windows.sort_by_key(|w| (w.end_ms, w.agent));
    // Rebuilt one window at a time, as the engine takes it: never a link's windows at once.
    crate::live::links::down_periods(
        links_config.clone(),
        windows
            .iter()
            .map(|w| (agents[w.agent as usize].as_str(), w.to_link_result())),
    )
    .into_values()
    .flatten()
    .map(|(a, b)| Interval::new(a, b))
    .collect()
}

/// Every link of the inventory and every link id seen in `windows`, one at a time for the
/// engine (each link's windows are dropped once its input is made). `agents` are the agents
/// in read order (a window's [`PlacedWindow::agent`] indexes it); `host_sites` the (agent,
/// site label) of every host, to find who is behind a link.
pub(super) fn link_inputs<'a>(
    inventory: &'a Inventory,
    links_config: &'a Links,
    lang: &'a str,
    maintenance: &'a [MaintenanceInterval],
    mut by_link: BTreeMap<String, LinkWindows>,
    agents: &'a [String],
    host_sites: &'a [(String, String)],
) -> impl Iterator<Item = LinkInput> + 'a {
    let mut ids: BTreeSet<String> = inventory.links.iter().map(|l| l.id.clone()).collect();
    ids.extend(by_link.keys().cloned());
    ids.into_iter().map(move |id| {
        let LinkWindows {
            mut windows,
            newest,
        } = by_link.remove(&id).unwrap_or_default();
        let inv = inventory.link(&id);
        let (level, domain) = match inv {
            Some(l) => (l.level.as_str().to_owned(), l.domain.as_str().to_owned()),
            None => newest.map(|(_, l, d)| (l, d)).unwrap_or_default(),
        };
        let th = links_config.thresholds.for_level(&level);
        let down = down_periods(links_config, &mut windows, agents);
        let link_windows = windows
            .iter()
            .filter(|w| w.sent > 0)
            .map(|w| {
                let received = w.received.min(w.sent);
                let loss = f64::from(w.sent - received) / f64::from(w.sent);
                LinkWindow {
                    start_ms: w.start_ms,
                    end_ms: w.end_ms,
                    degraded: loss >= th.degraded_loss_ratio
                        || (received > 0 && w.rtt_avg_seconds >= th.degraded_rtt.as_secs_f64()),
                    loss_ratio: loss,
                    rtt_avg_ms: (received > 0).then_some(w.rtt_avg_seconds * 1000.0),
                    jitter_ms: (received > 1).then_some(w.jitter_seconds * 1000.0),
                }
            })
            .collect();
        drop(windows);
        let (from_site, to_site, name, target) = match inv {
            Some(l) => (
                l.from.clone(),
                l.to.clone(),
                l.name(lang).to_owned(),
                Some(inventory.link_target(l)),
            ),
            None => (String::new(), String::new(), String::new(), None),
        };
        let behind = inv.map(|_| inventory.links_behind(&id)).unwrap_or_default();
        LinkInput {
            maintenance: maintenance
                .iter()
                .filter(|m| match &m.scope {
                    Scope::Link(v) => *v == id,
                    // A site's maintenance covers the link that reaches it.
                    Scope::Site(v) => !to_site.is_empty() && *v == to_site,
                    _ => false,
                })
                .map(|m| Interval::new(m.start_unix_ms, m.end_unix_ms))
                .collect(),
            behind_hosts: host_sites
                .iter()
                .filter(|(_, site)| behind.sites.contains(site))
                .map(|(a, _)| a.clone())
                .collect(),
            behind_links: behind.links.iter().cloned().collect(),
            link_id: id,
            name,
            level,
            domain,
            from_site,
            to_site,
            target,
            down,
            windows: link_windows,
        }
    })
}
