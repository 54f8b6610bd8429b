//! From the month's input to the [`MonthReport`].
//!
//! [`MonthBuilder`] takes hosts and links one at a time and keeps only their compact
//! timelines and capacity summaries, so a caller can stream a month of 10 000 hosts from the
//! store without holding every report in memory. [`build`] does the same from a
//! [`MonthInput`] held whole.
//!
//! # Report rules (besides those of `slots`, `rootcause` and `figures`)
//!
//! * Hosts are grouped by their business system, department and data center labels; an
//!   empty label puts the host in no group. Every group named in [`GroupNames`] gets a row.
//! * Backbone: one row per level (province-city, city-county, county-township, in that
//!   order) and domain (administrative, public), even without links. `fault_free` = no fault
//!   on any of its links (a link suppressed by a link in front of it has no fault: the fault
//!   is the other link's, at its own level). Worst links: those with down time, lowest
//!   availability first (then id), at most 5.
//! * Incidents: every fault of a link or host. A link's incident lists the hosts and links
//!   whose suppressed stretches it caused during the fault. Sorted by start, kind, id.
//! * Collector gaps: the parts of the covered period outside every collector run.
//! * A month in progress (now before its end) is reported up to now rounded down to a
//!   whole slot ([`covered_end`]): no slot after now, minutes and coverage of the elapsed
//!   time, and the report says `month_to_date` with `as_of_unix_ms`. A month that has not
//!   begun is an error.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::figures::{self, HostCapacity, LinkAverages};
use super::input::{
    GroupNames, HostInput, Interval, Labels, LinkInput, MonthInput, Period, PreviousCapacity,
};
use super::model::{
    BackboneRow, CapacityRow, CollectorGap, Figures, GroupRow, HostRow, Incident, LinkRow,
    MODEL_VERSION, MonthReport, UnknownLabel,
};
use super::period::{MAX_SLOTS, SlaError, covered_end};
use super::rootcause::{self, Seg};
use super::slots::{self, Grid, Scratch, Timeline};

/// Backbone levels, core first.
pub const BACKBONE_LEVELS: [&str; 3] = ["province-city", "city-county", "county-township"];
/// Network domains.
pub const DOMAINS: [&str; 2] = ["administrative", "public"];
/// Worst links listed per backbone row.
const WORST_LINKS: usize = 5;

#[derive(Debug)]
struct HostItem {
    agent_id: String,
    hostname: String,
    labels: Labels,
    target: Option<f64>,
    timeline: Timeline,
    capacity: HostCapacity,
}

#[derive(Debug)]
struct LinkItem {
    link_id: String,
    name: String,
    level: String,
    domain: String,
    from_site: String,
    to_site: String,
    target: Option<f64>,
    behind_hosts: Vec<String>,
    behind_links: Vec<String>,
    timeline: Timeline,
    averages: LinkAverages,
    /// Its down periods, merged: a fault needs `fault_min` of measured down time, not only
    /// of rounded slots.
    down: Vec<(i64, i64)>,
}

/// Builds a month's report from hosts and links added one at a time.
#[derive(Debug)]
pub struct MonthBuilder {
    period: Period,
    grid: Grid,
    collector_runs: Vec<(i64, i64)>,
    /// Slots in which some agent's report was heard (covers part of the slot).
    heard: Vec<bool>,
    scratch: Scratch,
    hosts: Vec<HostItem>,
    host_ids: HashMap<String, u32>,
    links: Vec<LinkItem>,
    link_ids: HashMap<String, u32>,
}

impl MonthBuilder {
    /// A builder for `period`, with the collector's runs.
    pub fn new(period: Period, collector_runs: &[Interval]) -> Result<MonthBuilder, SlaError> {
        let (start_ms, end_ms, slot_ms) = (period.start_ms, period.end_ms, period.slot_ms);
        if end_ms <= start_ms {
            return Err(SlaError::EmptyPeriod { start_ms, end_ms });
        }
        if !(1_000..=86_400_000).contains(&slot_ms) {
            return Err(SlaError::BadSlot { slot_ms });
        }
        let period_ms = end_ms - start_ms;
        if period_ms % slot_ms != 0 {
            return Err(SlaError::NotWholeSlots { period_ms, slot_ms });
        }
        let slots = period_ms / slot_ms;
        if slots > MAX_SLOTS {
            return Err(SlaError::TooManySlots { slots });
        }
        // A month in progress is reported up to now, rounded down to a whole slot: slots
        // that have not happened have no state, so they are left out rather than counted
        // as unknown (which would read as missing evidence).
        let covered_end = covered_end(&period)?;
        let grid = Grid {
            start: start_ms,
            end: covered_end,
            slot: slot_ms,
            n: ((covered_end - start_ms) / slot_ms) as u32,
            now: period.now_ms.clamp(start_ms, covered_end),
            now_raw: period.now_ms,
        };
        let mut runs: Vec<(i64, i64)> = collector_runs
            .iter()
            .map(|r| (r.start_ms, r.end_ms))
            .collect();
        slots::merge(&mut runs);
        Ok(MonthBuilder {
            period,
            grid,
            collector_runs: runs,
            heard: vec![false; grid.n as usize],
            scratch: Scratch::default(),
            hosts: Vec::new(),
            host_ids: HashMap::new(),
            links: Vec::new(),
            link_ids: HashMap::new(),
        })
    }

    /// Adds a host; its reports and samples are not kept.
    pub fn add_host(&mut self, host: &HostInput) -> Result<(), SlaError> {
        if self.host_ids.contains_key(&host.agent_id) {
            return Err(SlaError::DuplicateHost(host.agent_id.clone()));
        }
        let timeline =
            slots::host_provisional(&self.grid, host, &mut self.scratch, &mut self.heard);
        self.host_ids
            .insert(host.agent_id.clone(), self.hosts.len() as u32);
        self.hosts.push(HostItem {
            agent_id: host.agent_id.clone(),
            hostname: host.hostname.clone(),
            labels: host.labels.clone(),
            target: host.target,
            timeline,
            capacity: figures::host_capacity(&self.period, host),
        });
        Ok(())
    }

    /// Adds a link; its windows are not kept.
    pub fn add_link(&mut self, link: &LinkInput) -> Result<(), SlaError> {
        if self.link_ids.contains_key(&link.link_id) {
            return Err(SlaError::DuplicateLink(link.link_id.clone()));
        }
        let timeline = slots::link_timeline(&self.grid, link, &mut self.scratch);
        let maint = figures::merged(&link.maintenance);
        self.link_ids
            .insert(link.link_id.clone(), self.links.len() as u32);
        self.links.push(LinkItem {
            link_id: link.link_id.clone(),
            name: link.name.clone(),
            level: link.level.clone(),
            domain: link.domain.clone(),
            from_site: link.from_site.clone(),
            to_site: link.to_site.clone(),
            target: link.target,
            behind_hosts: link.behind_hosts.clone(),
            behind_links: link.behind_links.clone(),
            timeline,
            averages: figures::link_averages(&self.period, &link.cells, &maint),
            down: figures::merged(&link.down),
        });
        Ok(())
    }

    /// Slots where a silent host is down: the collector ran throughout and heard an agent.
    fn silence_is_down(&self) -> Vec<bool> {
        let mut ran = vec![0u32; self.grid.n as usize];
        for &(a, b) in &self.collector_runs {
            self.grid.add_overlap(a, b, &mut ran);
        }
        ran.iter()
            .zip(&self.heard)
            .map(|(&r, &h)| h && i64::from(r) == self.grid.slot)
            .collect()
    }

    fn collector_gaps(&self) -> Vec<CollectorGap> {
        let (start, end) = (self.grid.start, self.grid.now);
        let mut gaps = Vec::new();
        let mut at = start;
        for &(a, b) in &self.collector_runs {
            if a > at && at < end {
                gaps.push((at, a.min(end)));
            }
            at = at.max(b);
        }
        if at < end {
            gaps.push((at, end));
        }
        gaps.into_iter()
            .filter(|(a, b)| a < b)
            .map(|(a, b)| CollectorGap {
                start_unix_ms: a,
                end_unix_ms: b,
            })
            .collect()
    }

    /// The report.
    pub fn finish(
        self,
        names: &GroupNames,
        previous: &PreviousCapacity,
        unknown_labels: &[UnknownLabel],
    ) -> MonthReport {
        let grid = self.grid;
        let slot_minutes = grid.slot as f64 / 60_000.0;
        let fault_min_slots = (self.period.fault_min_ms.max(0) as u64)
            .div_ceil(grid.slot as u64)
            .max(1) as u32;
        let ms = |s: u32| grid.slot_start(s);

        let silence = self.silence_is_down();
        let host_tl: Vec<Timeline> = self
            .hosts
            .iter()
            .map(|h| slots::resolve_silence(&h.timeline, &silence))
            .collect();
        let link_tl: Vec<&Timeline> = self.links.iter().map(|l| &l.timeline).collect();
        let index = |ids: &[String], map: &HashMap<String, u32>| -> Vec<u32> {
            ids.iter().filter_map(|i| map.get(i).copied()).collect()
        };
        let behind_links: Vec<Vec<u32>> = self
            .links
            .iter()
            .map(|l| index(&l.behind_links, &self.link_ids))
            .collect();
        let behind_hosts: Vec<Vec<u32>> = self
            .links
            .iter()
            .map(|l| index(&l.behind_hosts, &self.host_ids))
            .collect();
        let sup = rootcause::suppress(&link_tl, &host_tl, &behind_links, &behind_hosts);

        let causes = |segs: &[Seg]| -> Vec<String> {
            let set: BTreeSet<&str> = segs
                .iter()
                .map(|g| self.links[g.cause as usize].link_id.as_str())
                .collect();
            set.into_iter().map(str::to_owned).collect()
        };
        // What each link caused: (is host, item, start, end).
        let mut caused: Vec<Vec<(bool, u32, u32, u32)>> = vec![Vec::new(); self.links.len()];
        for (kind, segs) in [(true, &sup.hosts), (false, &sup.links)] {
            for (i, s) in segs.iter().enumerate() {
                for g in s {
                    caused[g.cause as usize].push((kind, i as u32, g.start, g.end));
                }
            }
        }

        let mut incidents = Vec::new();
        let mut hosts: Vec<HostRow> = Vec::with_capacity(self.hosts.len());
        for (i, h) in self.hosts.iter().enumerate() {
            let (f, faults) = figures::item_figures(
                &host_tl[i],
                &sup.hosts[i],
                fault_min_slots,
                slot_minutes,
                h.target,
            );
            for (a, b) in faults {
                incidents.push(Incident {
                    kind: "host".into(),
                    id: h.agent_id.clone(),
                    level: String::new(),
                    domain: String::new(),
                    start_unix_ms: ms(a),
                    end_unix_ms: ms(b),
                    minutes: f64::from(b - a) * slot_minutes,
                    suppressed_hosts: Vec::new(),
                    suppressed_links: Vec::new(),
                });
            }
            hosts.push(HostRow {
                agent_id: h.agent_id.clone(),
                hostname: h.hostname.clone(),
                department: h.labels.department.clone(),
                business_system: h.labels.business_system.clone(),
                data_center: h.labels.data_center.clone(),
                site: h.labels.site.clone(),
                figures: f,
                suppressed_by: causes(&sup.hosts[i]),
            });
        }
        let mut links: Vec<LinkRow> = Vec::with_capacity(self.links.len());
        for (i, l) in self.links.iter().enumerate() {
            let fault_min_ms = self.period.fault_min_ms;
            let measured = |a: u32, b: u32| {
                let (from, to) = (ms(a), ms(b));
                l.down
                    .iter()
                    .map(|&(s, e)| e.min(to) - s.max(from))
                    .filter(|d| *d > 0)
                    .sum::<i64>()
                    >= fault_min_ms
            };
            let (f, faults) = figures::item_figures_with(
                &l.timeline,
                &sup.links[i],
                fault_min_slots,
                slot_minutes,
                l.target,
                &measured,
            );
            for (a, b) in faults {
                let (mut sh, mut sl) = (BTreeSet::new(), BTreeSet::new());
                for &(is_host, item, s, e) in &caused[i] {
                    if s < b && e > a {
                        if is_host {
                            sh.insert(self.hosts[item as usize].agent_id.clone());
                        } else {
                            sl.insert(self.links[item as usize].link_id.clone());
                        }
                    }
                }
                incidents.push(Incident {
                    kind: "link".into(),
                    id: l.link_id.clone(),
                    level: l.level.clone(),
                    domain: l.domain.clone(),
                    start_unix_ms: ms(a),
                    end_unix_ms: ms(b),
                    minutes: f64::from(b - a) * slot_minutes,
                    suppressed_hosts: sh.into_iter().collect(),
                    suppressed_links: sl.into_iter().collect(),
                });
            }
            let avg = l.averages;
            links.push(LinkRow {
                link_id: l.link_id.clone(),
                name: l.name.clone(),
                level: l.level.clone(),
                domain: l.domain.clone(),
                from_site: l.from_site.clone(),
                to_site: l.to_site.clone(),
                figures: f,
                avg_loss_ratio: avg.loss,
                avg_rtt_ms: avg.rtt,
                p95_rtt_ms: avg.p95_rtt,
                jitter_ms: avg.jitter,
                suppressed_by: causes(&sup.links[i]),
            });
        }
        incidents.sort_by(|a, b| {
            (a.start_unix_ms, &a.kind, &a.id).cmp(&(b.start_unix_ms, &b.kind, &b.id))
        });

        let business_systems = groups(
            &hosts,
            &names.business_systems,
            &names.targets.business_systems,
            |h| &h.business_system,
        );
        let t = &names.targets;
        let departments = groups(&hosts, &names.departments, &t.departments, |h| {
            &h.department
        });
        let data_centers = groups(&hosts, &names.data_centers, &t.data_centers, |h| {
            &h.data_center
        });
        let backbone = backbone(&links, &t.backbone_levels);

        let mut capacity = capacity_rows(
            "data_center",
            &self.hosts,
            &names.data_centers,
            &previous.data_centers,
            |l| &l.data_center,
        );
        capacity.extend(capacity_rows(
            "department",
            &self.hosts,
            &names.departments,
            &previous.departments,
            |l| &l.department,
        ));

        let collector_gaps = self.collector_gaps();
        let mut unknown_labels = unknown_labels.to_vec();
        unknown_labels.sort_by(|a, b| {
            (&a.agent_id, &a.label, &a.value).cmp(&(&b.agent_id, &b.label, &b.value))
        });
        unknown_labels.dedup();
        hosts.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
        links.sort_by(|a, b| a.link_id.cmp(&b.link_id));
        let p = self.period;
        MonthReport {
            model_version: MODEL_VERSION,
            month: p.month,
            time_zone: p.time_zone,
            start_unix_ms: p.start_ms,
            end_unix_ms: p.end_ms,
            slot_seconds: (p.slot_ms / 1000) as u32,
            fault_min_seconds: (p.fault_min_ms.max(0) / 1000) as u32,
            generated_unix_ms: p.generated_ms,
            lang: p.lang,
            closed: p.closed,
            month_to_date: grid.end < p.end_ms,
            as_of_unix_ms: (grid.end < p.end_ms).then_some(grid.end),
            organisation: p.organisation,
            seal: None,
            collector_gaps,
            hosts,
            links,
            business_systems,
            departments,
            data_centers,
            backbone,
            incidents,
            capacity,
            unknown_labels,
            adjustments: Vec::new(),
        }
    }
}

/// Group rows of hosts by a label.
fn groups(
    hosts: &[HostRow],
    names: &BTreeMap<String, String>,
    targets: &BTreeMap<String, f64>,
    label: impl Fn(&HostRow) -> &String,
) -> Vec<GroupRow> {
    let mut by: BTreeMap<&str, Vec<&Figures>> =
        names.keys().map(|k| (k.as_str(), Vec::new())).collect();
    for h in hosts {
        let code = label(h);
        if !code.is_empty() {
            by.entry(code.as_str()).or_default().push(&h.figures);
        }
    }
    by.into_iter()
        .map(|(code, members)| {
            let (mut figures, meeting) = figures::group_figures(members.iter().copied());
            figures::set_target(&mut figures, targets.get(code).copied());
            GroupRow {
                code: code.to_owned(),
                name: names.get(code).cloned().unwrap_or_else(|| code.to_owned()),
                members: members.len() as u32,
                members_meeting_target: meeting,
                figures,
            }
        })
        .collect()
}

/// The zero-fault backbone rows.
fn backbone(links: &[LinkRow], targets: &BTreeMap<String, f64>) -> Vec<BackboneRow> {
    let mut out = Vec::new();
    for level in BACKBONE_LEVELS {
        for domain in DOMAINS {
            let members: Vec<&LinkRow> = links
                .iter()
                .filter(|l| l.level == level && l.domain == domain)
                .collect();
            let (mut figures, _) = figures::group_figures(members.iter().map(|l| &l.figures));
            figures::set_target(&mut figures, targets.get(level).copied());
            let mut worst: Vec<(f64, &str)> = members
                .iter()
                .filter(|l| l.figures.minutes.down > 0.0)
                .filter_map(|l| l.figures.availability.map(|a| (a, l.link_id.as_str())))
                .collect();
            worst.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
            out.push(BackboneRow {
                level: level.to_owned(),
                domain: domain.to_owned(),
                links: members.len() as u32,
                fault_free: members.iter().all(|l| l.figures.faults == 0),
                figures,
                worst_links: worst
                    .into_iter()
                    .take(WORST_LINKS)
                    .map(|(_, id)| id.to_owned())
                    .collect(),
            });
        }
    }
    out
}

/// The member with the fewest days by `days` (`(days, mount)`), as `(days, agent:mount)`;
/// ties go to the first name.
fn soonest(
    members: &[&HostItem],
    days: impl Fn(&figures::HostCapacity) -> Option<&(f64, String)>,
) -> Option<(f64, String)> {
    members
        .iter()
        .filter_map(|h| days(&h.capacity).map(|(d, m)| (*d, format!("{}:{m}", h.agent_id))))
        .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
}

/// Capacity rows of one kind.
fn capacity_rows(
    kind: &str,
    hosts: &[HostItem],
    names: &BTreeMap<String, String>,
    previous: &BTreeMap<String, f64>,
    label: impl Fn(&Labels) -> &String,
) -> Vec<CapacityRow> {
    let mut by: BTreeMap<&str, Vec<&HostItem>> =
        names.keys().map(|k| (k.as_str(), Vec::new())).collect();
    for h in hosts {
        let code = label(&h.labels);
        if !code.is_empty() {
            let e = by.entry(code.as_str()).or_default();
            if h.capacity.samples > 0 {
                e.push(h);
            }
        }
    }
    by.into_iter()
        .map(|(code, members)| {
            let caps = || members.iter().map(|h| &h.capacity);
            let used: Option<f64> = caps()
                .filter_map(|c| c.storage_used_mean_bytes)
                .fold(None, |s, x| Some(s.unwrap_or(0.0) + x));
            let growth = match (used, previous.get(code)) {
                (Some(u), Some(&p)) if p > 0.0 => Some(u / p - 1.0),
                _ => None,
            };
            let fullest = members
                .iter()
                .filter_map(|h| {
                    h.capacity
                        .days_until_full
                        .as_ref()
                        .map(|(d, m)| (*d, format!("{}:{m}", h.agent_id)))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            let inode_fullest = soonest(&members, |c| c.inode_days_until_full.as_ref());
            let busiest = members
                .iter()
                .filter_map(|h| {
                    h.capacity
                        .disk_util_peak
                        .as_ref()
                        .map(|(u, d)| (*u, format!("{}:{d}", h.agent_id)))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
            CapacityRow {
                kind: kind.to_owned(),
                code: code.to_owned(),
                name: names.get(code).cloned().unwrap_or_else(|| code.to_owned()),
                hosts: members.len() as u32,
                cpu_cores: caps().map(|c| c.cpu_cores).sum(),
                memory_bytes: caps().map(|c| c.memory_bytes).sum(),
                storage_bytes: caps().map(|c| c.storage_bytes).sum(),
                cpu_avg: figures::weighted(caps().map(|c| (c.cpu_mean, c.cpu_cores))),
                cpu_peak: figures::peak(caps().map(|c| c.cpu_peak)),
                memory_avg: figures::weighted(caps().map(|c| (c.memory_mean, c.memory_bytes))),
                memory_peak: figures::peak(caps().map(|c| c.memory_peak)),
                storage_avg: figures::weighted(caps().map(|c| (c.storage_mean, c.storage_bytes))),
                storage_peak: figures::peak(caps().map(|c| c.storage_peak)),
                storage_growth: growth,
                days_until_full: fullest.as_ref().map(|f| f.0),
                fullest_filesystem: fullest.map(|f| f.1).unwrap_or_default(),
                cpu_steal_avg: figures::weighted(caps().map(|c| (c.cpu_steal_mean, c.cpu_cores))),
                cpu_steal_peak: figures::peak(caps().map(|c| c.cpu_steal_peak)),
                disk_util_peak: busiest.as_ref().map(|b| b.0),
                busiest_disk: busiest.map(|b| b.1).unwrap_or_default(),
                inode_days_until_full: inode_fullest.as_ref().map(|f| f.0),
                inode_fullest_filesystem: inode_fullest.map(|f| f.1).unwrap_or_default(),
                hosts_clock_unsynchronised: caps()
                    .filter_map(|c| c.clock_unsynchronised)
                    .fold(None, |n: Option<u32>, u| {
                        Some(n.unwrap_or(0) + u32::from(u))
                    }),
            }
        })
        .collect()
}

/// Builds the report of a month held whole in memory.
pub fn build(input: &MonthInput) -> Result<MonthReport, SlaError> {
    let mut b = MonthBuilder::new(input.period.clone(), &input.collector_runs)?;
    for h in &input.hosts {
        b.add_host(h)?;
    }
    for l in &input.links {
        b.add_link(l)?;
    }
    Ok(b.finish(&input.names, &input.previous, &input.unknown_labels))
}

#[cfg(test)]
mod tests;
