//! What is true now, for the cockpit and the live slot counters (`slots.rs`): each host's
//! state, counts per department and data center, the links' states, and the open incidents
//! with their root cause. Pure: the
//! caller passes the host table's snapshot, the link engine's views, the maintenance
//! windows open now and the clock.
//!
//! Root cause as in the monthly report: a link that is down hides the hosts at the sites
//! behind it and the links that start there (the inventory's site tree); those are not
//! incidents of their own, the link's incident names them. A down link behind another down
//! link is hidden by the outer one.

use std::collections::{BTreeMap, BTreeSet};

use crate::inventory::{Inventory, MaintenanceInterval, Scope};
use crate::live::hosts::HostEntry;
use crate::live::links::{Fault, LinkState, LinkView};

/// A host's state now, in the order "worst first" sorts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostState {
    /// Stopped reporting, for less than `cockpit.silent_after`, and not explained by a
    /// down link or a maintenance window: an outage in progress.
    Down,
    /// Stopped reporting while a link in front of its site is down (root cause: the link).
    Unreachable,
    /// Stopped reporting more than `cockpit.silent_after` ago: a delivery problem (agent
    /// removed, broken, or its host gone) rather than an outage in progress.
    Silent,
    /// Not reporting inside a maintenance window.
    Maintenance,
    /// Reporting.
    Up,
}

impl HostState {
    /// CSS class and test hook.
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Down => "down",
            HostState::Unreachable => "unreachable",
            HostState::Silent => "silent",
            HostState::Maintenance => "maintenance",
            HostState::Up => "up",
        }
    }
}

/// One host now.
#[derive(Debug, Clone, PartialEq)]
pub struct HostNow {
    /// Agent id.
    pub agent: String,
    /// Host name of its newest report.
    pub hostname: String,
    /// Department code (empty when unlabelled).
    pub department: String,
    /// Data center code.
    pub data_center: String,
    /// Site code.
    pub site: String,
    /// State now.
    pub state: HostState,
    /// When its newest report arrived (collector clock), ms.
    pub last_seen_ms: i64,
    /// The down link that hides it ([`HostState::Unreachable`]).
    pub behind: Option<String>,
    /// Reports in its spool not yet acknowledged, as of its newest report.
    pub backlog: u64,
}

/// Host counts of a group (all hosts, a department, a data center).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Department or data-center code; empty for all hosts.
    pub code: String,
    /// Hosts up.
    pub up: u32,
    /// Hosts down, including those behind a down link.
    pub down: u32,
    /// Of `down`, those behind a down link.
    pub unreachable: u32,
    /// Hosts silent.
    pub silent: u32,
    /// Hosts in maintenance.
    pub maintenance: u32,
}

impl Counts {
    fn add(&mut self, state: HostState) {
        match state {
            HostState::Up => self.up += 1,
            HostState::Down => self.down += 1,
            HostState::Unreachable => {
                self.down += 1;
                self.unreachable += 1;
            }
            HostState::Silent => self.silent += 1,
            HostState::Maintenance => self.maintenance += 1,
        }
    }

    /// Every host counted.
    pub fn total(&self) -> u32 {
        self.up + self.down + self.silent + self.maintenance
    }

    /// Hosts that are not up (maintenance aside).
    pub fn not_up(&self) -> u32 {
        self.down + self.silent
    }
}

/// An open incident.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenIncident {
    /// A link's incident (else a host's).
    pub is_link: bool,
    /// Link id or agent id.
    pub id: String,
    /// Start: the open fault's start for a link (agent clock), the last report for a host;
    /// `None` for a link whose down period is not yet long enough to be a fault.
    pub since_ms: Option<i64>,
    /// Agent ids of the hosts not reporting behind it (link incidents only).
    pub hidden_hosts: Vec<String>,
    /// Link ids of the down links behind it.
    pub hidden_links: Vec<String>,
}

/// A link now.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkNow {
    /// Link id.
    pub id: String,
    /// Backbone level (inventory's, else the probes').
    pub level: String,
    /// Domain.
    pub domain: String,
    /// State from the link engine; `None` when no probe reported it yet.
    pub state: Option<LinkState>,
    /// Inside a maintenance window now.
    pub maintenance: bool,
    /// Hidden by a down link in front of it.
    pub behind: Option<String>,
}

/// Everything the overview shows of the present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Now {
    /// Every host, worst first (then by department, agent id).
    pub hosts: Vec<HostNow>,
    /// All hosts.
    pub totals: Counts,
    /// Per department, those with hosts not up first.
    pub departments: Vec<Counts>,
    /// Per data center, likewise.
    pub data_centers: Vec<Counts>,
    /// Every link: the inventory's and those only probes name.
    pub links: Vec<LinkNow>,
    /// Open incidents: root-cause links first, then down hosts, each oldest first.
    pub incidents: Vec<OpenIncident>,
}

/// What the present is made of.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The host table's snapshot.
    pub hosts: &'a [HostEntry],
    /// The link engine's views.
    pub links: &'a [LinkView],
    /// The link engine's faults still open (`end_unix_ms` `None`).
    pub open_faults: &'a [Fault],
    /// The inventory (an empty one without a configured file).
    pub inventory: &'a Inventory,
    /// Maintenance windows open now.
    pub maintenance: &'a [MaintenanceInterval],
    /// Collector clock, ms.
    pub now_ms: i64,
    /// `hosts.down_after_intervals`.
    pub down_after_intervals: u32,
    /// `cockpit.silent_after`, ms.
    pub silent_after_ms: i64,
}

fn host_in_maintenance(windows: &[MaintenanceInterval], h: &HostNow, bs: &str) -> bool {
    windows.iter().any(|w| match &w.scope {
        Scope::Host(a) => *a == h.agent,
        Scope::BusinessSystem(b) => !bs.is_empty() && b == bs,
        Scope::Department(d) => !h.department.is_empty() && *d == h.department,
        Scope::DataCenter(d) => !h.data_center.is_empty() && *d == h.data_center,
        Scope::Site(s) => !h.site.is_empty() && *s == h.site,
        Scope::Link(_) => false,
    })
}

fn link_in_maintenance(windows: &[MaintenanceInterval], id: &str, to_site: Option<&str>) -> bool {
    windows.iter().any(|w| match &w.scope {
        Scope::Link(l) => l == id,
        Scope::Site(s) => to_site == Some(s.as_str()),
        _ => false,
    })
}

/// The present of `hosts` (the host table's snapshot, or one host's entry) at `now_ms`,
/// from the live link engine and the inventory's maintenance windows open now; with the
/// engine's faults, which the caller may show.
pub fn live(
    hosts: &[HostEntry],
    links: &crate::live::links::LinkHub,
    inventory: &Inventory,
    now_ms: i64,
    down_after_intervals: u32,
    silent_after_ms: i64,
) -> (Now, Vec<Fault>) {
    let views = links.links();
    let faults = links.faults(None);
    let maintenance = inventory.maintenance_intervals(now_ms, now_ms + 1);
    let now = build(Inputs {
        hosts,
        links: &views,
        open_faults: &faults,
        inventory,
        maintenance: &maintenance,
        now_ms,
        down_after_intervals,
        silent_after_ms,
    });
    (now, faults)
}

/// The present, from `inputs`.
pub fn build(inputs: Inputs<'_>) -> Now {
    let inv = inputs.inventory;
    // Links: the inventory's first (its level and domain), then those only probes name.
    let views: BTreeMap<&str, &LinkView> = inputs
        .links
        .iter()
        .map(|v| (v.link_id.as_str(), v))
        .collect();
    let mut links: Vec<LinkNow> = inv
        .links
        .iter()
        .map(|l| LinkNow {
            id: l.id.clone(),
            level: l.level.as_str().to_owned(),
            domain: l.domain.as_str().to_owned(),
            state: views.get(l.id.as_str()).map(|v| v.state),
            maintenance: link_in_maintenance(inputs.maintenance, &l.id, Some(&l.to)),
            behind: None,
        })
        .collect();
    let declared: BTreeSet<&str> = inv.links.iter().map(|l| l.id.as_str()).collect();
    for v in inputs.links {
        if !declared.contains(v.link_id.as_str()) {
            links.push(LinkNow {
                id: v.link_id.clone(),
                level: v.level.clone(),
                domain: v.domain.clone(),
                state: Some(v.state),
                maintenance: link_in_maintenance(inputs.maintenance, &v.link_id, None),
                behind: None,
            });
        }
    }

    // Down links inside a maintenance window: planned work, which explains the silence of
    // the hosts behind them (maintenance, not incidents), and the links behind them: down
    // because of the planned work, so in maintenance too.
    let planned: Vec<crate::inventory::Behind> = links
        .iter()
        .filter(|l| l.state == Some(LinkState::Down) && l.maintenance)
        .map(|l| inv.links_behind(&l.id))
        .collect();
    for l in &mut links {
        if l.state == Some(LinkState::Down) && planned.iter().any(|b| b.links.contains(&l.id)) {
            l.maintenance = true;
        }
    }
    // Down links (not in maintenance) and what each cuts off.
    let down: Vec<(String, crate::inventory::Behind)> = links
        .iter()
        .filter(|l| l.state == Some(LinkState::Down) && !l.maintenance)
        .map(|l| (l.id.clone(), inv.links_behind(&l.id)))
        .collect();
    // A down link is a root cause unless another down link hides it.
    let roots: Vec<&(String, crate::inventory::Behind)> = down
        .iter()
        .filter(|(id, _)| {
            !down
                .iter()
                .any(|(other, b)| other != id && b.links.contains(id))
        })
        .collect();
    for l in &mut links {
        if l.state == Some(LinkState::Down) {
            l.behind = roots
                .iter()
                .find(|(root, b)| *root != l.id && b.links.contains(&l.id))
                .map(|(root, _)| root.clone());
        }
    }

    let mut hosts: Vec<HostNow> = inputs
        .hosts
        .iter()
        .map(|e| {
            let labels = e.report.labels.clone().unwrap_or_default();
            let mut h = HostNow {
                agent: e.report.agent_id.clone(),
                hostname: e.report.hostname.clone(),
                department: labels.department,
                data_center: labels.datacenter,
                site: labels.site,
                state: HostState::Up,
                last_seen_ms: e.received_unix_ms,
                behind: None,
                backlog: e.report.agent_stats.as_ref().map_or(0, |s| s.spool_reports),
            };
            if !e.is_up(inputs.now_ms, inputs.down_after_intervals) {
                h.behind = roots
                    .iter()
                    .find(|(_, b)| !h.site.is_empty() && b.sites.contains(&h.site))
                    .map(|(id, _)| id.clone());
                let behind_planned =
                    !h.site.is_empty() && planned.iter().any(|b| b.sites.contains(&h.site));
                h.state = if behind_planned
                    || host_in_maintenance(inputs.maintenance, &h, &labels.business_system)
                {
                    HostState::Maintenance
                } else if h.behind.is_some() {
                    HostState::Unreachable
                } else if inputs.now_ms - e.received_unix_ms > inputs.silent_after_ms {
                    HostState::Silent
                } else {
                    HostState::Down
                };
                if h.state != HostState::Unreachable {
                    h.behind = None;
                }
            }
            h
        })
        .collect();
    hosts.sort_by(|a, b| {
        (a.state, a.last_seen_ms, &a.department, &a.agent).cmp(&(
            b.state,
            b.last_seen_ms,
            &b.department,
            &b.agent,
        ))
    });

    let mut totals = Counts::default();
    let mut departments: BTreeMap<String, Counts> = inv
        .departments
        .iter()
        .map(|d| (d.code.clone(), Counts::default()))
        .collect();
    let mut data_centers: BTreeMap<String, Counts> = inv
        .data_centers
        .iter()
        .map(|d| (d.code.clone(), Counts::default()))
        .collect();
    for h in &hosts {
        totals.add(h.state);
        departments
            .entry(h.department.clone())
            .or_default()
            .add(h.state);
        data_centers
            .entry(h.data_center.clone())
            .or_default()
            .add(h.state);
    }
    let groups = |m: BTreeMap<String, Counts>| {
        let mut v: Vec<Counts> = m
            .into_iter()
            .map(|(code, c)| Counts { code, ..c })
            .collect();
        // Groups with hosts not up first (most first), then by code.
        v.sort_by(|a, b| {
            b.not_up()
                .cmp(&a.not_up())
                .then_with(|| a.code.cmp(&b.code))
        });
        v
    };

    let mut incidents: Vec<OpenIncident> = roots
        .iter()
        .map(|(id, behind)| OpenIncident {
            is_link: true,
            id: id.clone(),
            since_ms: inputs
                .open_faults
                .iter()
                .filter(|f| f.link_id == *id && f.end_unix_ms.is_none())
                .map(|f| f.start_unix_ms)
                .min(),
            hidden_hosts: hosts
                .iter()
                .filter(|h| h.behind.as_deref() == Some(id.as_str()))
                .map(|h| h.agent.clone())
                .collect(),
            hidden_links: links
                .iter()
                .filter(|l| l.behind.as_deref() == Some(id.as_str()))
                .filter(|l| behind.links.contains(&l.id))
                .map(|l| l.id.clone())
                .collect(),
        })
        .collect();
    incidents.sort_by_key(|i| (i.since_ms.unwrap_or(i64::MAX), i.id.clone()));
    incidents.extend(
        hosts
            .iter()
            .filter(|h| h.state == HostState::Down)
            .map(|h| OpenIncident {
                is_link: false,
                id: h.agent.clone(),
                since_ms: Some(h.last_seen_ms),
                hidden_hosts: Vec::new(),
                hidden_links: Vec::new(),
            }),
    );

    Now {
        hosts,
        totals,
        departments: groups(departments),
        data_centers: groups(data_centers),
        links,
        incidents,
    }
}

#[cfg(test)]
mod tests;
