//! Live slot counters: how many seconds each host, link, department, data center and
//! backbone level and domain spent up, down, in maintenance and unknown, by the evidence the
//! collector has as it happens. They are what burn-rate alerts on the monthly availability
//! targets read (`packaging/prometheus/zerofault-rules.yml`).
//!
//! Every [`TICK`] the collector takes what is true now (`now.rs`: the same host and link
//! states as the cockpit, root cause and maintenance included) and adds the time since the
//! previous tick to each item's state:
//!
//! | live state | host | link |
//! | --- | --- | --- |
//! | up | reporting | up or degraded |
//! | down | not reporting (down, behind a down link, silent) while another host reports | down (behind a down link too: the service was unreachable) |
//! | maintenance | inside a maintenance window, or behind a down link that is | inside a maintenance window |
//! | unknown | not reporting while no host reports (no evidence the network works) | no vantage point reported it yet |
//!
//! A department's (data center's) counters are the sums of its hosts', a backbone level and
//! domain's the sums of its links'. Time the collector was not running is in no counter
//! (they restart from 0 with the process, which `increase()` handles), so collector downtime
//! is excluded, as in the monthly report.
//!
//! **They follow live evidence and may differ from the month's report**: the report is
//! computed from every report stored, backfill included, with per-slot rules (a reboot gap,
//! the same boot seen on both sides of a silence); a host that was silent here and whose
//! spool later delivered the missing reports was `down` in these counters and `up` in the
//! report. The report is the figure of record; these are for alerting while it happens.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::aggregate::or_unlabelled;
use crate::live::links::LinkState;
use crate::live::now::{HostState, Now};

/// Time between two advances of the counters.
pub const TICK: Duration = Duration::from_secs(10);
/// Most time one advance counts: a collector stalled (suspended, swapping) for longer does
/// not know what happened meanwhile, so the rest is in no counter.
pub const MAX_STEP_MS: i64 = 30_000;

/// The four live states, in exposition order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlotState {
    /// Evidence it was running.
    Up,
    /// Evidence it was not.
    Down,
    /// Inside a maintenance window.
    Maintenance,
    /// No evidence either way.
    Unknown,
}

impl SlotState {
    /// Every state.
    pub const ALL: [SlotState; 4] = [
        SlotState::Up,
        SlotState::Down,
        SlotState::Maintenance,
        SlotState::Unknown,
    ];

    /// The `state` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Up => "up",
            SlotState::Down => "down",
            SlotState::Maintenance => "maintenance",
            SlotState::Unknown => "unknown",
        }
    }
}

/// Seconds per state, in [`SlotState::ALL`] order.
pub type Seconds = [f64; 4];

fn add(to: &mut Seconds, state: SlotState, seconds: f64) {
    to[state as usize] += seconds;
}

/// A host's live status now, as `zerofault_host_status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostStatus {
    /// Organisation labels (`unlabelled` when empty) and host name.
    pub host: String,
    /// Department.
    pub department: String,
    /// Data center.
    pub datacenter: String,
    /// The cockpit's state (up, down, unreachable, silent, maintenance).
    pub state: HostState,
    /// Seconds per live state since the collector started.
    pub seconds: Seconds,
}

/// A link's live status now.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkStatus {
    /// Backbone level (`unlabelled` when empty).
    pub level: String,
    /// Domain.
    pub domain: String,
    /// Its status: `up`, `degraded`, `down` (a root cause), `unreachable` (down behind
    /// another down link), `maintenance`, `unknown` (no probe reported it).
    pub status: &'static str,
    /// Seconds per live state since the collector started.
    pub seconds: Seconds,
}

/// Every `zerofault_host_status` value, in exposition order.
pub const HOST_STATUSES: [HostState; 5] = [
    HostState::Up,
    HostState::Down,
    HostState::Unreachable,
    HostState::Silent,
    HostState::Maintenance,
];

/// Every `zerofault_link_status` value, in exposition order.
pub const LINK_STATUSES: [&str; 6] = [
    "up",
    "degraded",
    "down",
    "unreachable",
    "maintenance",
    "unknown",
];

/// What the counters hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slots {
    /// Per agent id.
    pub hosts: BTreeMap<String, HostStatus>,
    /// Per link id.
    pub links: BTreeMap<String, LinkStatus>,
    /// Per department: the sums of its hosts'.
    pub departments: BTreeMap<String, Seconds>,
    /// Per data center.
    pub datacenters: BTreeMap<String, Seconds>,
    /// Per (level, domain): the sums of its links'.
    pub backbone: BTreeMap<(String, String), Seconds>,
    /// Collector clock of the last advance, ms; `None` before the first.
    pub last_ms: Option<i64>,
}

/// A host's live state from its cockpit state; `others_report` says whether any other host
/// is up now (evidence the collector's network works).
pub fn host_slot(state: HostState, others_report: bool) -> SlotState {
    match state {
        HostState::Up => SlotState::Up,
        HostState::Maintenance => SlotState::Maintenance,
        HostState::Down | HostState::Unreachable | HostState::Silent if others_report => {
            SlotState::Down
        }
        HostState::Down | HostState::Unreachable | HostState::Silent => SlotState::Unknown,
    }
}

impl Slots {
    /// Adds the time since the last advance (at most [`MAX_STEP_MS`]) to each item's state
    /// in `now`, taken at `now_ms` on a clock that does not step back (the tick passes a
    /// monotonic one). Items not in `now` keep their counts (a host removed
    /// from the table keeps its series until the collector restarts).
    pub fn advance(&mut self, now: &Now, now_ms: i64) {
        let step = match self.last_ms {
            Some(last) => (now_ms - last).clamp(0, MAX_STEP_MS),
            None => 0,
        };
        self.last_ms = Some(now_ms.max(self.last_ms.unwrap_or(i64::MIN)));
        let seconds = step as f64 / 1000.0;
        let up_hosts = now
            .hosts
            .iter()
            .filter(|h| h.state == HostState::Up)
            .count();
        for h in &now.hosts {
            let others_report = up_hosts > usize::from(h.state == HostState::Up);
            let slot = host_slot(h.state, others_report);
            let entry = self
                .hosts
                .entry(h.agent.clone())
                .or_insert_with(|| HostStatus {
                    host: h.hostname.clone(),
                    department: or_unlabelled(&h.department).to_owned(),
                    datacenter: or_unlabelled(&h.data_center).to_owned(),
                    state: h.state,
                    seconds: Seconds::default(),
                });
            entry.host.clone_from(&h.hostname);
            entry.state = h.state;
            add(&mut entry.seconds, slot, seconds);
            // Labels may change with a new report: the group counts follow the host's
            // current labels, as the aggregates on /metrics do.
            entry.department = or_unlabelled(&h.department).to_owned();
            entry.datacenter = or_unlabelled(&h.data_center).to_owned();
            add(
                self.departments
                    .entry(entry.department.clone())
                    .or_default(),
                slot,
                seconds,
            );
            add(
                self.datacenters
                    .entry(entry.datacenter.clone())
                    .or_default(),
                slot,
                seconds,
            );
        }
        for l in &now.links {
            let (status, slot) = if l.maintenance {
                ("maintenance", SlotState::Maintenance)
            } else {
                match l.state {
                    None => ("unknown", SlotState::Unknown),
                    Some(LinkState::Up) => ("up", SlotState::Up),
                    Some(LinkState::Degraded) => ("degraded", SlotState::Up),
                    Some(LinkState::Down) if l.behind.is_some() => ("unreachable", SlotState::Down),
                    Some(LinkState::Down) => ("down", SlotState::Down),
                }
            };
            let (level, domain) = (
                or_unlabelled(&l.level).to_owned(),
                or_unlabelled(&l.domain).to_owned(),
            );
            let entry = self
                .links
                .entry(l.id.clone())
                .or_insert_with(|| LinkStatus {
                    level: level.clone(),
                    domain: domain.clone(),
                    status,
                    seconds: Seconds::default(),
                });
            entry.status = status;
            entry.level.clone_from(&level);
            entry.domain.clone_from(&domain);
            add(&mut entry.seconds, slot, seconds);
            add(
                self.backbone.entry((level, domain)).or_default(),
                slot,
                seconds,
            );
        }
    }
}

/// The counters, shared by the tick task (writer) and `/metrics` (reader).
#[derive(Debug, Default)]
pub struct SlotCounters {
    slots: Mutex<Slots>,
}

impl SlotCounters {
    /// Advances the counters with `now`, taken at `now_ms`.
    pub fn advance(&self, now: &Now, now_ms: i64) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .advance(now, now_ms);
    }

    /// A copy of what they hold.
    pub fn read(&self) -> Slots {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests;

/// What the tick reads.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Newest report per agent.
    pub hosts: std::sync::Arc<crate::live::hosts::HostTable>,
    /// Link engine.
    pub links: std::sync::Arc<crate::live::links::LinkHub>,
    /// Standby (another collector holds the deployment lease) or not.
    pub counters: std::sync::Arc<crate::live::hosts::IngestCounters>,
    /// Topology, maintenance windows (defaults without an inventory file).
    pub inventory: std::sync::Arc<crate::inventory::Inventory>,
    /// `hosts.down_after_intervals`.
    pub down_after_intervals: u32,
    /// `cockpit.silent_after`, ms.
    pub silent_after_ms: i64,
}

/// Advances `counters` every [`TICK`] until the task is aborted, and hands the same present
/// to `notifier` (incidents opened and closed). On standby nothing is counted or announced:
/// the lease holder does it for the deployment.
pub async fn run(
    counters: std::sync::Arc<SlotCounters>,
    sources: Sources,
    notifier: Option<std::sync::Arc<crate::outputs::notify::Notifier>>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Steps are measured on a clock that never steps back: a wall clock set back by an
    // hour would otherwise freeze the counters for that hour.
    let start = std::time::Instant::now();
    loop {
        tick.tick().await;
        if sources.counters.standby() {
            // The gap while on standby is no one's here; start afresh when holding again.
            counters
                .slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last_ms = None;
            if let Some(n) = &notifier {
                n.standby();
            }
            continue;
        }
        let now_ms = zerofault_common::now_unix_ms();
        let (present, _) = crate::live::now::live(
            &sources.hosts.snapshot(),
            &sources.links,
            &sources.inventory,
            now_ms,
            sources.down_after_intervals,
            sources.silent_after_ms,
        );
        let monotonic_ms = i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX);
        counters.advance(&present, monotonic_ms);
        if let Some(n) = &notifier {
            n.observe(&present, now_ms);
        }
    }
}
