//! A month of any size, drawn from seeds: the SLA benchmark's (`collector/examples/zf-sla-bench.rs`
//! describes it in full).
//!
//! - Topology: two domains, each a province site with cities, counties and townships; one
//!   link per non-province site, 1% province-city, 9% city-county, 90% county-township of
//!   the links. Hosts sit on the sites round-robin; each link is probed from one host at its
//!   near end (two for province-city and city-county links when the site has them).
//! - Groups: 3 departments x 8 business systems, 4 data centers; 0.1% of hosts carry a
//!   business system the inventory does not declare.
//! - Hosts: reboots, crashes, reboots in maintenance windows, skewed clocks, a collector
//!   outage lost by a quarter of the agents and backfilled by the others, sites that lose
//!   power with their link ([`Synthetic::host`]).
//! - Links: outages, blips, one long province-city and one city-county outage, degraded
//!   windows ([`ProbeModel::Noisy`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::month::clock::{DAY, HOUR, MIN, Rng, S, local};
use crate::month::plan::{Delivery, HostPlan, Sequence, Silence, Timing, Topology};
use crate::month::world::{ProbeModel, ReportStyle, World};

/// Departments `D1`..`D3`.
pub const DEPARTMENTS: usize = 3;
/// Business systems per department.
pub const SYSTEMS_PER_DEPARTMENT: usize = 8;
/// Data centers `DC1`..`DC4`.
pub const DATA_CENTERS: usize = 4;

/// The id of host `i`.
pub fn host_id(i: usize) -> String {
    format!("host-{i:05}")
}

/// The code of business system `k` of `department` (0-based).
pub fn business_system(department: usize, k: usize) -> String {
    format!("bs-{}-{}", department + 1, k + 1)
}

/// A generated month of `hosts` hosts and `links` links; hosts are made on demand
/// ([`Synthetic::host`]), so that a large month is never held in memory.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// Span, topology (with the link outages), timing, report style and probe model.
    pub world: World,
    /// Number of hosts.
    pub hosts: usize,
    /// Start of the month before (reports of it are made too, for storage growth).
    pub previous_start: i64,
    /// Hosts that probe each link.
    pub vantage: Vec<Vec<usize>>,
    /// Links probed by each host.
    pub probes: Vec<Vec<usize>>,
    /// The collector's outage.
    pub collector_down: (i64, i64),
    /// One-off host maintenance: the day (1-based) of its 01:00-03:00 window.
    pub host_maintenance: BTreeMap<usize, i64>,
}

impl Synthetic {
    /// The month `[start, end)` (January 2026 in Asia/Shanghai for the benchmark) after the
    /// one starting at `previous_start`, with reports every `interval_s` seconds.
    pub fn new(
        hosts: usize,
        links: usize,
        interval_s: i64,
        (start, end): (i64, i64),
        previous_start: i64,
    ) -> anyhow::Result<Synthetic> {
        anyhow::ensure!(hosts >= 1, "--hosts must be at least 1");
        anyhow::ensure!(
            links >= 6,
            "--links must be at least 6 (3 levels x 2 domains)"
        );
        anyhow::ensure!(
            (1..=3600).contains(&interval_s) && 86_400 % interval_s == 0,
            "--interval-s must divide a day"
        );
        // Sites and links: per domain, 1% province-city, 9% city-county, the rest
        // county-township.
        let mut topo = Topology::default();
        for (d, (domain, short)) in [("administrative", "adm"), ("public", "pub")]
            .into_iter()
            .enumerate()
        {
            let n = if d == 0 { links / 2 } else { links - links / 2 };
            let pc = (n / 100).max(1);
            let cc = (n * 9 / 100).max(1);
            let ct = n - pc - cc;
            let province = topo.add_site(format!("{short}-p"), "province", domain, None);
            let add = |topo: &mut Topology, code: String, level, parent, link_level| {
                let to = topo.add_site(code.clone(), level, domain, Some(parent));
                topo.add_link(format!("L-{code}"), link_level, domain, parent, to);
                to
            };
            let cities: Vec<usize> = (0..pc)
                .map(|k| {
                    add(
                        &mut topo,
                        format!("{short}-c{k:02}"),
                        "city",
                        province,
                        "province-city",
                    )
                })
                .collect();
            let counties: Vec<usize> = (0..cc)
                .map(|k| {
                    add(
                        &mut topo,
                        format!("{short}-y{k:03}"),
                        "county",
                        cities[k % pc],
                        "city-county",
                    )
                })
                .collect();
            for k in 0..ct {
                add(
                    &mut topo,
                    format!("{short}-t{k:04}"),
                    "township",
                    counties[k % cc],
                    "county-township",
                );
            }
        }
        let n_sites = topo.sites.len();
        let month_len = end - start;

        // Link outages and vantage points.
        let mut probes = vec![Vec::new(); hosts];
        let mut vantage = Vec::with_capacity(topo.links.len());
        for (j, l) in topo.links.iter_mut().enumerate() {
            let mut r = Rng::new(1_000_000 + j as u64);
            if r.chance(40) {
                let a = start + r.range(0, month_len - 3 * HOUR);
                l.outages.push((a, a + r.range(5 * MIN, 2 * HOUR)));
            }
            if r.chance(10) {
                let a = start + r.range(0, month_len - HOUR);
                l.outages.push((a, a + r.range(20 * S, 50 * S)));
            }
            l.rtt_ms = match l.level {
                "province-city" => 2.0,
                "city-county" => 4.0,
                _ => 8.0,
            } + r.below(1000) as f64 / 1000.0;
            // Hosts at the near end probe it.
            let at_from: Vec<usize> = (l.from..hosts).step_by(n_sites).collect();
            let want = if l.level == "county-township" { 1 } else { 2 };
            let v: Vec<usize> = if at_from.is_empty() {
                vec![(j * 7919) % hosts]
            } else {
                (0..want.min(at_from.len()))
                    .map(|k| at_from[(j + k) % at_from.len()])
                    .collect()
            };
            for &h in &v {
                probes[h].push(j);
            }
            vantage.push(v);
        }
        // The first province-city link: 40 minutes on the 20th; the 3rd city-county link: 3
        // hours on the 9th.
        topo.links[0]
            .outages
            .push((local(start, 20, 14, 0), local(start, 20, 14, 40)));
        if let Some(l) = topo
            .links
            .iter_mut()
            .filter(|l| l.level == "city-county")
            .nth(2)
        {
            l.outages
                .push((local(start, 9, 9, 0), local(start, 9, 12, 0)));
        }
        for l in &mut topo.links {
            l.outages.sort_unstable();
        }

        let host_maintenance: BTreeMap<usize, i64> = (0..hosts)
            .filter_map(|i| {
                let mut r = Rng::new(0xA11CE ^ ((i as u64) << 8));
                r.chance(5).then(|| (i, r.range(2, 29)))
            })
            .collect();

        Ok(Synthetic {
            world: World {
                start,
                end,
                probe_interval: S,
                topology: topo,
                timing: Timing {
                    interval: interval_s * S,
                    first_boot: start - 40 * DAY,
                    delay: 40,
                    sequence: Sequence::Grid(previous_start - 10 * DAY),
                },
                style: ReportStyle::Rich,
                probes: ProbeModel::Noisy,
            },
            hosts,
            previous_start,
            vantage,
            probes,
            collector_down: (local(start, 13, 10, 0), local(start, 13, 11, 0)),
            host_maintenance,
        })
    }

    fn local(&self, day: i64, h: i64, m: i64) -> i64 {
        local(self.world.start, day, h, m)
    }

    /// The inventory of the month (`inventory.yaml`): its groups, sites, links and
    /// maintenance windows.
    pub fn inventory_yaml(&self) -> String {
        let sites = &self.world.topology.sites;
        let mut y = String::from(
            "time_zone: Asia/Shanghai\nslot: 60s\nfault_min: 60s\ntargets:\n  host: 0.999\n  \
             link: {province-city: 0.9999, city-county: 0.9995, county-township: 0.999}\n\
             departments:\n  - {code: D1, name_zh: 大数据局, name_en: Big Data Bureau}\n  \
             - {code: D2, name_zh: 公安局, name_en: Public Security Bureau}\n  \
             - {code: D3, name_zh: 卫健委, name_en: Health Commission, target: 0.995}\n\
             business_systems:\n",
        );
        for d in 0..DEPARTMENTS {
            for k in 0..SYSTEMS_PER_DEPARTMENT {
                let code = business_system(d, k);
                let _ = writeln!(
                    y,
                    "  - {{code: {code}, department: D{}, name_zh: 业务系统{}-{}, name_en: Business system {}-{}}}",
                    d + 1,
                    d + 1,
                    k + 1,
                    d + 1,
                    k + 1
                );
            }
        }
        y.push_str("data_centers:\n");
        for c in 0..DATA_CENTERS {
            let _ = writeln!(
                y,
                "  - {{code: DC{n}, name_zh: 数据中心{n}, name_en: Data center {n}, status: in-use}}",
                n = c + 1
            );
        }
        y.push_str("sites:\n");
        for s in sites {
            let _ = write!(
                y,
                "  - {{code: {c}, name_zh: 站点{c}, name_en: Site {c}, level: {}, domain: {}",
                s.level,
                s.domain,
                c = s.code
            );
            if let Some(p) = s.parent {
                let _ = write!(y, ", parent: {}", sites[p].code);
            }
            y.push_str("}\n");
        }
        y.push_str("links:\n");
        for l in &self.world.topology.links {
            let _ = writeln!(
                y,
                "  - {{id: {id}, from: {}, to: {}, level: {}, domain: {}, name_zh: 链路{id}, name_en: Link {id}}}",
                sites[l.from].code,
                sites[l.to].code,
                l.level,
                l.domain,
                id = l.id
            );
        }
        y.push_str(
            "maintenance:\n  - scope: {department: D2}\n    monthly: {day: 1, at: \"03:00\", duration: 30m}\n  \
             - scope: {business_system: bs-1-1}\n    weekly: {weekday: sun, at: \"01:00\", duration: 1h}\n  \
             - scope: {data_center: DC4}\n    once: {start: \"2026-01-17 22:00\", duration: 4h}\n",
        );
        if let Some(county) = sites.iter().filter(|s| s.level == "county").nth(5) {
            let _ = write!(
                y,
                "  - scope: {{site: {}}}\n    once: {{start: \"2026-01-22 00:00\", duration: 3h}}\n",
                county.code
            );
        }
        for l in self
            .world
            .topology
            .links
            .iter()
            .filter(|l| l.level == "province-city")
        {
            let _ = write!(
                y,
                "  - scope: {{link: {}}}\n    weekly: {{weekday: sun, at: \"02:00\", duration: 1h}}\n",
                l.id
            );
        }
        for (&i, &day) in &self.host_maintenance {
            let _ = write!(
                y,
                "  - scope: {{host: {}}}\n    once: {{start: \"2026-01-{day:02} 01:00\", duration: 2h}}\n",
                host_id(i)
            );
        }
        y
    }

    /// The schedule of host `i`: 3% reboot once (1-5 min), 1% crash for 20 min-6 h, half of
    /// D2 reboots in its monthly maintenance window and half of DC4 in a one-off window,
    /// 0.5% have a 2-hour host window with a 30-minute reboot in it; 1% have an agent clock
    /// up to 2 minutes off. A quarter of the agents lose the reports of the collector's
    /// outage (no spool), the others backfill them. A third of the hosts behind a link that
    /// is down (and probing none) go down with it and boot again when it is back; the
    /// others backfill the reports they made meanwhile.
    pub fn host(&self, i: usize) -> HostPlan {
        let (start, end) = (self.world.start, self.world.end);
        let mut r = Rng::new(i as u64);
        let month_len = end - start;
        let department = i % DEPARTMENTS;
        let data_center = (i / (DEPARTMENTS * SYSTEMS_PER_DEPARTMENT)) % DATA_CENTERS;
        let business_system = if i % 997 == 5 {
            "bs-unlisted".to_owned()
        } else {
            self::business_system(department, (i / DEPARTMENTS) % SYSTEMS_PER_DEPARTMENT)
        };
        let skew = if r.chance(10) {
            r.range(-120 * S, 120 * S)
        } else {
            0
        };
        let phase = r.range(0, self.world.timing.interval);
        // A new boot 30 s before the host reports again.
        let down = |start: i64, end: i64| Silence {
            start,
            end,
            boot: Some(end - 30 * S),
        };
        let late = |start: i64, end: i64, at: i64| Delivery {
            start,
            end,
            at: Some(at),
            spacing: 0,
        };
        let mut silences = Vec::new();
        let mut deliveries = Vec::new();
        if r.chance(30) {
            let a = start + r.range(0, month_len - HOUR);
            silences.push(down(a, a + r.range(MIN, 5 * MIN)));
        }
        if r.chance(10) {
            let a = start + r.range(0, month_len - 7 * HOUR);
            silences.push(down(a, a + r.range(20 * MIN, 6 * HOUR)));
        }
        // Reboots inside maintenance windows.
        if department == 1 && i.is_multiple_of(2) {
            silences.push(down(self.local(1, 3, 5), self.local(1, 3, 8)));
        }
        if data_center == 3 && i % 2 == 1 {
            silences.push(down(self.local(17, 22, 30), self.local(17, 22, 36)));
        }
        if let Some(&day) = self.host_maintenance.get(&i) {
            silences.push(down(self.local(day, 1, 10), self.local(day, 1, 40)));
        }
        let (ca, cb) = self.collector_down;
        if i % 4 == 3 {
            silences.push(Silence {
                start: ca,
                end: cb,
                boot: None,
            });
        } else {
            deliveries.push(late(ca, cb, cb + 5 * S));
        }
        let topo = &self.world.topology;
        let site = i % topo.sites.len();
        let probing = !self.probes[i].is_empty();
        for l in topo.links_above(site) {
            for &(a, b) in &topo.links[l].outages {
                if i.is_multiple_of(3) && !probing {
                    // The site lost power with the link: down, boots again when it is back.
                    silences.push(down(a, b));
                } else {
                    deliveries.push(late(a, b, b + 10 * S));
                }
            }
        }
        silences.sort_by_key(|s| s.start);
        HostPlan {
            id: host_id(i),
            department: format!("D{}", department + 1),
            business_system,
            data_center: format!("DC{}", data_center + 1),
            site,
            skew,
            step: None,
            phase,
            silences,
            deliveries,
            probes: self.probes[i].clone(),
        }
    }
}
