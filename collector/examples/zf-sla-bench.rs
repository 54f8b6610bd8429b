//! Monthly SLA report benchmark (`bench/sla-month.sh` drives it).
//!
//! One synthetic month (January 2026, Asia/Shanghai, 1-minute slots) is generated from a
//! deterministic schedule, the same for both modes:
//!
//! - **Topology**: two domains (administrative, public), each a province site with cities,
//!   counties and townships; one link per non-province site, 1% province-city, 9%
//!   city-county, 90% county-township of `--links`. Hosts sit on the sites round-robin.
//!   Each link is probed from one host at its near end (two for province-city and
//!   city-county links when the site has them), 1 probe/s, one window per report.
//! - **Groups**: 3 departments x 8 business systems, 4 data centers; 0.1% of hosts carry a
//!   business system the inventory does not declare.
//! - **Hosts**: one report every `--interval-s` at a per-host phase; 3% reboot once (1-5 min),
//!   1% crash for 20 min-6 h and come back with a new boot, half of one department reboots in
//!   its monthly maintenance window and half of one data center in a one-off window, 0.5%
//!   have a 2-hour host window with a 30-minute reboot in it; 1% have an agent clock up to 2
//!   minutes off. The collector is down 1 hour on the 13th: a quarter of the agents lose
//!   those reports (no spool), the others backfill them. A third of the hosts behind a link
//!   that is down go down with it (site power) and boot again when it is back; the others
//!   backfill the reports they made meanwhile.
//! - **Links**: 4% have an outage of 5 min-2 h, 1% a blip under the fault minimum, one
//!   province-city link is down 40 min on the 20th (its whole subtree behind it) and one
//!   city-county link 3 h on the 9th; 0.1% of windows lose 3 of their probes (degraded),
//!   0.2% have a 120 ms RTT (degraded). Province-city links have a weekly maintenance window
//!   (Sundays 02:00-03:00), one county site a one-off 3-hour window.
//!
//! Modes:
//!
//! - `zf-sla-bench [--hosts 10000] [--links 2000] [--interval-s 60] [--out DIR]`: builds the
//!   engine's input host by host and link by link in memory, as `monthly::source` would give
//!   it (reports within a day of the month, hourly capacity samples of the month and the one
//!   before, link-level down periods, maintenance resolved from the generated inventory),
//!   streams it through [`MonthBuilder`] (each host's reports are dropped once added), then
//!   writes the JSON, CSV, XLSX and HTML exports (`zh-CN`, the `report` default) to `DIR`
//!   (default: a temporary directory, removed at the end). Prints the time of each phase,
//!   the sizes of the outputs and the process's peak RSS (`VmHWM`) after each phase. Input
//!   generation is timed apart from the engine.
//! - `zf-sla-bench make-db DIR [--hosts N] [--links N] [--interval-s S]`: writes the same
//!   month and the one before it (whose capacity samples the report reads for storage
//!   growth), from 2 days before December to 1 day after January, as protobuf reports into a
//!   real SQLite store `DIR/zerofault.db` through the collector's store (group commit), with
//!   the collector's runs, plus `DIR/inventory.yaml` and `DIR/collector.yaml`, so that
//!   `zerofault-collector report --config DIR/collector.yaml --month 2026-01` reads it as a
//!   collector's database at the start of February would be. Prints the insert rate. The
//!   report computed from it equals the engine mode's for the same flags (up to float
//!   rounding of RTT averages); that is how the generator of the engine mode is checked.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zerofault_collector::inventory::{Inventory, Named, Scope};
use zerofault_collector::month::export::{self, Format, Lang};
use zerofault_collector::month::sla::MonthBuilder;
use zerofault_collector::month::sla::figures::host_capacity;
use zerofault_collector::month::sla::input::{
    Boot, CapacitySample, FsSample, GroupNames, HostInput, HostReport, Interval, Labels, LinkInput,
    LinkWindow, Period, PreviousCapacity,
};
use zerofault_collector::month::sla::model::UnknownLabel;
use zerofault_collector::store::{ReportKey, SqliteStore, Store, StoredReport};
use zerofault_protocol::{
    AgentStats, Cpu, Filesystem, Interface, LinkResult, LossRun, Memory, PROTOCOL_VERSION, Report,
    SystemInfo,
};

const MONTH: &str = "2026-01";
/// The month before: the report reads its capacity samples too (storage growth).
const PREVIOUS_MONTH: &str = "2025-12";
const LANG: Lang = Lang::ZhCn;
const S: i64 = 1_000;
const MIN: i64 = 60 * S;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// Probe interval of every link.
const PROBE: i64 = S;
/// The engine is given reports this close to the month (as `monthly::source` does).
const EDGE: i64 = DAY;
/// `make-db` stores reports from this long before the previous month.
const DB_BEFORE: i64 = 2 * DAY;
/// Default link thresholds (docs/links.md): a window is degraded from these on.
const DEGRADED_LOSS: f64 = 0.02;
const DEGRADED_RTT_MS: f64 = 100.0;
const DEPARTMENTS: usize = 3;
const SYSTEMS_PER_DEPARTMENT: usize = 8;
const DATA_CENTERS: usize = 4;

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5851_F42D_4C95_7F2D);
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn range(&mut self, a: i64, b: i64) -> i64 {
        a + self.below((b - a).max(1) as u64) as i64
    }
}

struct Site {
    code: String,
    level: &'static str,
    domain: &'static str,
    parent: Option<usize>,
    /// The link whose far end it is.
    link: Option<usize>,
}

struct LinkPlan {
    id: String,
    level: &'static str,
    domain: &'static str,
    from: usize,
    to: usize,
    /// Outages, collector clock (every probe across the link is lost).
    outages: Vec<(i64, i64)>,
    /// Hosts that probe it.
    vantage: Vec<usize>,
    /// Base RTT, ms.
    rtt_ms: f64,
}

/// Reports made in `[start, end)` never reach the store; with `new_boot` the host boots
/// again 30 s before `end`.
#[derive(Clone, Copy)]
struct Silence {
    start: i64,
    end: i64,
    new_boot: bool,
}

/// Reports made in `[start, end)` reach the store at `at` (spool backfill).
#[derive(Clone, Copy)]
struct Late {
    start: i64,
    end: i64,
    at: i64,
}

struct HostPlan {
    id: String,
    site: usize,
    department: String,
    business_system: String,
    data_center: String,
    /// Agent clock minus collector clock.
    skew: i64,
    /// Offset of its report times from the interval grid.
    phase: i64,
    silences: Vec<Silence>,
    late: Vec<Late>,
}

struct World {
    inventory: Inventory,
    inventory_yaml: String,
    start: i64,
    end: i64,
    /// Start of the previous month.
    previous_start: i64,
    interval: i64,
    hosts: usize,
    sites: Vec<Site>,
    links: Vec<LinkPlan>,
    /// Links probed by each host.
    probes: Vec<Vec<usize>>,
    collector_down: (i64, i64),
    /// One-off host maintenance: the day (1-based) of its 01:00-03:00 window.
    host_maintenance: BTreeMap<usize, i64>,
}

fn host_id(i: usize) -> String {
    format!("host-{i:05}")
}

fn business_system(department: usize, k: usize) -> String {
    format!("bs-{}-{}", department + 1, k + 1)
}

impl World {
    fn new(hosts: usize, links: usize, interval_s: i64) -> anyhow::Result<World> {
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
        let mut sites = Vec::new();
        let mut plans = Vec::new();
        for (d, (domain, short)) in [("administrative", "adm"), ("public", "pub")]
            .into_iter()
            .enumerate()
        {
            let n = if d == 0 { links / 2 } else { links - links / 2 };
            let pc = (n / 100).max(1);
            let cc = (n * 9 / 100).max(1);
            let ct = n - pc - cc;
            let province = sites.len();
            sites.push(Site {
                code: format!("{short}-p"),
                level: "province",
                domain,
                parent: None,
                link: None,
            });
            let mut add = |sites: &mut Vec<Site>, code: String, level, parent, link_level| {
                let to = sites.len();
                plans.push(LinkPlan {
                    id: format!("L-{code}"),
                    level: link_level,
                    domain,
                    from: parent,
                    to,
                    outages: Vec::new(),
                    vantage: Vec::new(),
                    rtt_ms: 0.0,
                });
                sites.push(Site {
                    code,
                    level,
                    domain,
                    parent: Some(parent),
                    link: Some(plans.len() - 1),
                });
                to
            };
            let cities: Vec<usize> = (0..pc)
                .map(|k| {
                    add(
                        &mut sites,
                        format!("{short}-c{k:02}"),
                        "city",
                        province,
                        "province-city",
                    )
                })
                .collect();
            let counties: Vec<usize> = (0..cc)
                .map(|k| {
                    let p = cities[k % pc];
                    add(
                        &mut sites,
                        format!("{short}-y{k:03}"),
                        "county",
                        p,
                        "city-county",
                    )
                })
                .collect();
            for k in 0..ct {
                let p = counties[k % cc];
                add(
                    &mut sites,
                    format!("{short}-t{k:04}"),
                    "township",
                    p,
                    "county-township",
                );
            }
        }
        let n_sites = sites.len();

        let tz_inventory = Inventory::parse("time_zone: Asia/Shanghai\n", Path::new("tz"))?;
        let (start, end) = tz_inventory.month_bounds(MONTH)?;
        let (previous_start, _) = tz_inventory.month_bounds(PREVIOUS_MONTH)?;
        let local = |day: i64, h: i64, m: i64| start + (day - 1) * DAY + h * HOUR + m * MIN;
        let month_len = end - start;

        // Link outages and vantage points.
        let mut probes = vec![Vec::new(); hosts];
        for (j, l) in plans.iter_mut().enumerate() {
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
            l.vantage = if at_from.is_empty() {
                vec![(j * 7919) % hosts]
            } else {
                (0..want.min(at_from.len()))
                    .map(|k| at_from[(j + k) % at_from.len()])
                    .collect()
            };
            for &v in &l.vantage {
                probes[v].push(j);
            }
        }
        // The first province-city link: 40 minutes on the 20th; the 3rd city-county link: 3
        // hours on the 9th.
        plans[0].outages.push((local(20, 14, 0), local(20, 14, 40)));
        if let Some(l) = plans.iter_mut().filter(|l| l.level == "city-county").nth(2) {
            l.outages.push((local(9, 9, 0), local(9, 12, 0)));
        }
        for l in &mut plans {
            l.outages.sort_unstable();
        }

        let host_maintenance: BTreeMap<usize, i64> = (0..hosts)
            .filter_map(|i| {
                let mut r = Rng::new(0xA11CE ^ ((i as u64) << 8));
                r.chance(5).then(|| (i, r.range(2, 29)))
            })
            .collect();

        let mut w = World {
            inventory: Inventory::default(),
            inventory_yaml: String::new(),
            start,
            end,
            previous_start,
            interval: interval_s * S,
            hosts,
            sites,
            links: plans,
            probes,
            collector_down: (local(13, 10, 0), local(13, 11, 0)),
            host_maintenance,
        };
        w.inventory_yaml = w.inventory_yaml();
        w.inventory = Inventory::parse(&w.inventory_yaml, Path::new("inventory.yaml"))?;
        w.inventory.validate()?;
        Ok(w)
    }

    fn local(&self, day: i64, h: i64, m: i64) -> i64 {
        self.start + (day - 1) * DAY + h * HOUR + m * MIN
    }

    /// Links on the way from the core to `site`, nearest first.
    fn links_above(&self, site: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut s = Some(site);
        while let Some(i) = s {
            if let Some(l) = self.sites[i].link {
                out.push(l);
            }
            s = self.sites[i].parent;
        }
        out
    }

    fn inventory_yaml(&self) -> String {
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
        for s in &self.sites {
            let _ = write!(
                y,
                "  - {{code: {c}, name_zh: 站点{c}, name_en: Site {c}, level: {}, domain: {}",
                s.level,
                s.domain,
                c = s.code
            );
            if let Some(p) = s.parent {
                let _ = write!(y, ", parent: {}", self.sites[p].code);
            }
            y.push_str("}\n");
        }
        y.push_str("links:\n");
        for l in &self.links {
            let _ = writeln!(
                y,
                "  - {{id: {id}, from: {}, to: {}, level: {}, domain: {}, name_zh: 链路{id}, name_en: Link {id}}}",
                self.sites[l.from].code,
                self.sites[l.to].code,
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
        if let Some(county) = self.sites.iter().filter(|s| s.level == "county").nth(5) {
            let _ = write!(
                y,
                "  - scope: {{site: {}}}\n    once: {{start: \"2026-01-22 00:00\", duration: 3h}}\n",
                county.code
            );
        }
        for l in self.links.iter().filter(|l| l.level == "province-city") {
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

    /// The schedule of host `i`.
    fn host(&self, i: usize) -> HostPlan {
        let mut r = Rng::new(i as u64);
        let month_len = self.end - self.start;
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
        let phase = r.range(0, self.interval);
        let mut silences = Vec::new();
        let mut late = Vec::new();
        if r.chance(30) {
            let a = self.start + r.range(0, month_len - HOUR);
            silences.push(Silence {
                start: a,
                end: a + r.range(MIN, 5 * MIN),
                new_boot: true,
            });
        }
        if r.chance(10) {
            let a = self.start + r.range(0, month_len - 7 * HOUR);
            silences.push(Silence {
                start: a,
                end: a + r.range(20 * MIN, 6 * HOUR),
                new_boot: true,
            });
        }
        // Reboots inside maintenance windows.
        if department == 1 && i.is_multiple_of(2) {
            silences.push(Silence {
                start: self.local(1, 3, 5),
                end: self.local(1, 3, 8),
                new_boot: true,
            });
        }
        if data_center == 3 && i % 2 == 1 {
            silences.push(Silence {
                start: self.local(17, 22, 30),
                end: self.local(17, 22, 36),
                new_boot: true,
            });
        }
        if let Some(&day) = self.host_maintenance.get(&i) {
            silences.push(Silence {
                start: self.local(day, 1, 10),
                end: self.local(day, 1, 40),
                new_boot: true,
            });
        }
        let (ca, cb) = self.collector_down;
        if i % 4 == 3 {
            silences.push(Silence {
                start: ca,
                end: cb,
                new_boot: false,
            });
        } else {
            late.push(Late {
                start: ca,
                end: cb,
                at: cb + 5 * S,
            });
        }
        let site = i % self.sites.len();
        let probing = !self.probes[i].is_empty();
        for l in self.links_above(site) {
            for &(a, b) in &self.links[l].outages {
                if i.is_multiple_of(3) && !probing {
                    // The site lost power with the link: down, boots again when it is back.
                    silences.push(Silence {
                        start: a,
                        end: b,
                        new_boot: true,
                    });
                } else {
                    late.push(Late {
                        start: a,
                        end: b,
                        at: b + 10 * S,
                    });
                }
            }
        }
        silences.sort_by_key(|s| s.start);
        HostPlan {
            id: host_id(i),
            site,
            department: format!("D{}", department + 1),
            business_system,
            data_center: format!("DC{}", data_center + 1),
            skew,
            phase,
            silences,
            late,
        }
    }

    /// Report times (collector clock) of `h` in `[from, to)` with their boot index, and the
    /// boot times (collector clock).
    fn report_times(&self, h: &HostPlan, from: i64, to: i64) -> (Vec<(i64, u32)>, Vec<i64>) {
        let mut boots = vec![self.start - 40 * DAY];
        let ends: Vec<i64> = {
            let mut e: Vec<i64> = h
                .silences
                .iter()
                .filter(|s| s.new_boot)
                .map(|s| s.end)
                .collect();
            e.sort_unstable();
            e
        };
        boots.extend(ends.iter().map(|e| e - 30 * S));
        let first = (from - h.phase).div_euclid(self.interval) + 1;
        let mut out = Vec::with_capacity(((to - from) / self.interval + 1) as usize);
        let mut boot = 0usize;
        let mut t = first * self.interval + h.phase;
        while t < to {
            while boot < ends.len() && ends[boot] <= t {
                boot += 1;
            }
            if !h.silences.iter().any(|s| s.start <= t && t < s.end) {
                out.push((t, boot as u32));
            }
            t += self.interval;
        }
        (out, boots)
    }

    fn labels(&self, h: &HostPlan) -> Labels {
        Labels {
            department: h.department.clone(),
            business_system: h.business_system.clone(),
            data_center: h.data_center.clone(),
            site: self.sites[h.site].code.clone(),
        }
    }
}

/// The probes of link `l` in the window ending at `t` (collector clock): lost ones, RTT.
struct WindowStats {
    sent: u32,
    /// Lost probe indexes, ascending.
    lost: Vec<u32>,
    rtt_ms: f64,
    jitter_ms: f64,
}

/// `a / b` rounded up, `b` > 0.
fn ceil_div(a: i64, b: i64) -> i64 {
    -(-a).div_euclid(b)
}

fn window_stats(w: &World, j: usize, t: i64, start: i64) -> WindowStats {
    let l = &w.links[j];
    let w0 = t - w.interval;
    let first = ceil_div((start - w0).max(0), PROBE);
    let n = (w.interval / PROBE) as u32;
    let mut lost: Vec<u32> = Vec::new();
    for &(a, b) in &l.outages {
        if b <= w0 || a >= t {
            continue;
        }
        let lo = ceil_div((a - w0).max(0), PROBE) as u32;
        let hi = (ceil_div(b - w0, PROBE) as u32).min(n);
        lost.extend(lo..hi);
    }
    let mut r = Rng::new(((j as u64) << 40) ^ t as u64);
    let x = r.below(1000);
    if x < 1 {
        for _ in 0..3 {
            lost.push(r.below(u64::from(n)) as u32);
        }
    }
    lost.retain(|p| i64::from(*p) >= first);
    lost.sort_unstable();
    lost.dedup();
    let rtt_ms = if (1..3).contains(&x) {
        120.0
    } else {
        l.rtt_ms + r.below(400) as f64 / 1000.0
    };
    WindowStats {
        sent: n - first as u32,
        lost,
        rtt_ms,
        jitter_ms: 0.1 + r.below(300) as f64 / 1000.0,
    }
}

fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn mib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / (1024.0 * 1024.0))
}

struct Args {
    make_db: Option<PathBuf>,
    scan_db: Option<PathBuf>,
    hosts: usize,
    links: usize,
    interval_s: i64,
    out: Option<PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        make_db: None,
        scan_db: None,
        hosts: 10_000,
        links: 2_000,
        interval_s: 60,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))
        };
        match arg.as_str() {
            "--hosts" => a.hosts = value("--hosts")?.parse()?,
            "--links" => a.links = value("--links")?.parse()?,
            "--interval-s" => a.interval_s = value("--interval-s")?.parse()?,
            "--out" => a.out = Some(value("--out")?.into()),
            "make-db" => a.make_db = Some(value("make-db")?.into()),
            "scan-db" => a.scan_db = Some(value("scan-db")?.into()),
            _ => anyhow::bail!(
                "usage: zf-sla-bench [make-db DIR | scan-db DIR] [--hosts N] [--links N] [--interval-s S] [--out DIR]"
            ),
        }
    }
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let started = Instant::now();
    let world = World::new(a.hosts, a.links, a.interval_s)?;
    let setup = started.elapsed();
    match (&a.make_db, &a.scan_db) {
        (Some(dir), _) => make_db(&world, dir, setup),
        (_, Some(dir)) => scan_db(&world, dir),
        _ => engine(&world, a.out.as_deref(), setup),
    }
}

/// Maintenance intervals of a host, as `monthly::source` resolves them.
fn host_maintenance(
    m: &[zerofault_collector::inventory::MaintenanceInterval],
    agent: &str,
    l: &Labels,
) -> Vec<Interval> {
    let is = |v: &String, label: &str| !label.is_empty() && v == label;
    m.iter()
        .filter(|m| match &m.scope {
            Scope::Host(v) => v == agent,
            Scope::BusinessSystem(v) => is(v, &l.business_system),
            Scope::Department(v) => is(v, &l.department),
            Scope::DataCenter(v) => is(v, &l.data_center),
            Scope::Site(v) => is(v, &l.site),
            Scope::Link(_) => false,
        })
        .map(|m| Interval::new(m.start_unix_ms, m.end_unix_ms))
        .collect()
}

fn engine(w: &World, out: Option<&Path>, setup: Duration) -> anyhow::Result<()> {
    let inv = &w.inventory;
    let (lo, hi) = (w.start - EDGE, w.end + EDGE);
    let now = w.end + 2 * DAY;
    let period = Period {
        month: MONTH.into(),
        time_zone: inv.time_zone_name().into(),
        lang: LANG.tag().into(),
        organisation: String::new(),
        start_ms: w.start,
        end_ms: w.end,
        slot_ms: inv.slot.as_millis() as i64,
        fault_min_ms: inv.fault_min.as_millis() as i64,
        now_ms: now,
        generated_ms: now,
        closed: false,
    };
    let runs = [
        Interval::new(w.start - 10 * DAY, w.collector_down.0),
        Interval::new(w.collector_down.1, now),
    ];
    let maintenance = inv.maintenance_intervals(lo, hi);
    let lang = LANG.tag();
    let names = GroupNames {
        departments: inv
            .departments
            .iter()
            .map(|d| (d.code.clone(), d.name(lang).to_owned()))
            .collect(),
        business_systems: inv
            .business_systems
            .iter()
            .map(|d| (d.code.clone(), d.name(lang).to_owned()))
            .collect(),
        data_centers: inv
            .data_centers
            .iter()
            .map(|d| (d.code.clone(), d.name(lang).to_owned()))
            .collect(),
        targets: zerofault_collector::month::source::group_targets(inv),
    };
    // Who is behind each link (as `Inventory::links_behind` gives it, computed by walking
    // up from each host and link instead of down from each link).
    let mut behind_hosts: Vec<Vec<String>> = vec![Vec::new(); w.links.len()];
    for i in 0..w.hosts {
        for l in w.links_above(i % w.sites.len()) {
            behind_hosts[l].push(host_id(i));
        }
    }
    let mut behind_links: Vec<Vec<String>> = vec![Vec::new(); w.links.len()];
    for (k, l) in w.links.iter().enumerate() {
        for a in w.links_above(l.from) {
            behind_links[a].push(w.links[k].id.clone());
        }
    }
    {
        let want = inv.links_behind(&w.links[0].id);
        let got: std::collections::BTreeSet<String> = behind_links[0].iter().cloned().collect();
        anyhow::ensure!(
            want.links == got,
            "behind-links of {} differ",
            w.links[0].id
        );
    }

    let previous_period = Period {
        start_ms: w.previous_start,
        end_ms: w.start,
        ..period.clone()
    };
    let mut previous = PreviousCapacity::default();
    let mut b = MonthBuilder::new(period, &runs)?;
    let (mut gen_hosts, mut gen_links) = (Duration::ZERO, Duration::ZERO);
    let (mut add_hosts, mut add_links) = (Duration::ZERO, Duration::ZERO);
    let (mut n_reports, mut n_windows, mut n_samples) = (0u64, 0u64, 0u64);
    let mut unknown: Vec<UnknownLabel> = Vec::new();
    for i in 0..w.hosts {
        let t0 = Instant::now();
        let h = w.host(i);
        let labels = w.labels(&h);
        let (times, boots) = w.report_times(&h, w.previous_start.min(lo), hi);
        let iv = w.interval;
        let reports: Vec<HostReport> = times
            .iter()
            .filter(|(t, _)| (lo..hi).contains(t))
            .map(|&(t, boot)| HostReport {
                boot,
                sequence: Usage::at(w, t).k,
                agent_ms: t + h.skew,
                clock_offset_ms: -h.skew,
                interval_ms: iv,
            })
            .collect();
        // One capacity sample per host and hour of the month and the one before (as
        // `monthly::source` thins them).
        let mut capacity = Vec::with_capacity(1_600);
        let mut last_hour = i64::MIN;
        for &(t, _) in &times {
            if !(w.previous_start..w.end).contains(&t) || t.div_euclid(HOUR) == last_hour {
                continue;
            }
            last_hour = t.div_euclid(HOUR);
            let u = Usage::at(w, t);
            capacity.push(CapacitySample {
                at_ms: t,
                cpu_cores: 8,
                cpu_usage: Some(u.cpu),
                memory_total_bytes: 16 << 30,
                memory_used_bytes: u.memory_used,
                filesystems: vec![
                    FsSample {
                        mount: 0,
                        size_bytes: 100 << 30,
                        used_bytes: 40 << 30,
                    },
                    FsSample {
                        mount: 1,
                        size_bytes: 1 << 40,
                        used_bytes: u.data_used,
                    },
                ],
            });
        }
        let unknown_here = inv.unknown_labels(&zerofault_protocol::Labels {
            department: labels.department.clone(),
            business_system: labels.business_system.clone(),
            datacenter: labels.data_center.clone(),
            site: labels.site.clone(),
        });
        unknown.extend(unknown_here.into_iter().map(|u| UnknownLabel {
            agent_id: h.id.clone(),
            label: u.label.to_owned(),
            value: u.value,
        }));
        n_reports += reports.len() as u64;
        n_samples += capacity.len() as u64;
        let host = HostInput {
            agent_id: h.id.clone(),
            hostname: format!("{}.example.gov", h.id),
            target: Some(inv.host_target(&labels.department, &labels.business_system)),
            maintenance: host_maintenance(&maintenance, &h.id, &labels),
            labels,
            boots: boots
                .iter()
                .enumerate()
                .map(|(k, &bt)| Boot {
                    boot_id: format!("{}-boot-{k}", h.id),
                    boot_time_ms: bt + h.skew,
                })
                .collect(),
            reports,
            mounts: vec!["/".into(), "/data".into()],
            capacity,
        };
        // The previous month's mean used storage per group, as `monthly::source` sums it.
        if let Some(used) = host_capacity(&previous_period, &host).storage_used_mean_bytes {
            for (map, code) in [
                (&mut previous.data_centers, &host.labels.data_center),
                (&mut previous.departments, &host.labels.department),
            ] {
                *map.entry(code.clone()).or_default() += used;
            }
        }
        let t1 = Instant::now();
        b.add_host(&host)?;
        let t2 = Instant::now();
        gen_hosts += t1 - t0;
        add_hosts += t2 - t1;
    }
    for (j, l) in w.links.iter().enumerate() {
        let t0 = Instant::now();
        let mut windows = Vec::new();
        for &v in &l.vantage {
            let h = w.host(v);
            let (times, boots) = w.report_times(&h, lo, hi);
            for (t, boot) in times {
                let boot_time = boots[boot as usize];
                let s = window_stats(w, j, t, boot_time);
                if s.sent == 0 {
                    continue;
                }
                let received = s.sent - s.lost.len() as u32;
                let loss = f64::from(s.sent - received) / f64::from(s.sent);
                windows.push(LinkWindow {
                    start_ms: (t - w.interval).max(boot_time),
                    end_ms: t,
                    degraded: loss >= DEGRADED_LOSS
                        || (received > 0 && s.rtt_ms >= DEGRADED_RTT_MS),
                    loss_ratio: loss,
                    rtt_avg_ms: (received > 0).then_some(s.rtt_ms),
                    jitter_ms: (received > 1).then_some(s.jitter_ms),
                });
            }
        }
        n_windows += windows.len() as u64;
        let inv_link = inv.link(&l.id).expect("declared");
        let to = &w.sites[l.to].code;
        let link = LinkInput {
            link_id: l.id.clone(),
            name: inv_link.name(lang).to_owned(),
            level: l.level.into(),
            domain: l.domain.into(),
            from_site: w.sites[l.from].code.clone(),
            to_site: to.clone(),
            target: Some(inv.link_target(inv_link)),
            maintenance: maintenance
                .iter()
                .filter(|m| match &m.scope {
                    Scope::Link(v) => *v == l.id,
                    Scope::Site(v) => v == to,
                    _ => false,
                })
                .map(|m| Interval::new(m.start_unix_ms, m.end_unix_ms))
                .collect(),
            down: l
                .outages
                .iter()
                .map(|&(a, b)| Interval::new(a, b))
                .collect(),
            windows,
            behind_hosts: std::mem::take(&mut behind_hosts[j]),
            behind_links: std::mem::take(&mut behind_links[j]),
        };
        let t1 = Instant::now();
        b.add_link(&link)?;
        let t2 = Instant::now();
        gen_links += t1 - t0;
        add_links += t2 - t1;
    }
    let hwm_added = vm_hwm_mib();
    let t = Instant::now();
    let report = b.finish(&names, &previous, &unknown);
    let finish = t.elapsed();
    let hwm_engine = vm_hwm_mib();
    let engine = add_hosts + add_links + finish;
    let slots = (w.end - w.start) / inv.slot.as_millis() as i64;
    println!(
        "input: {} hosts, {} links, {} s reports, {MONTH} ({} slots of {} s); {} host reports, {} link windows, {} capacity samples given to the engine",
        w.hosts,
        w.links.len(),
        w.interval / S,
        slots,
        inv.slot.as_secs(),
        n_reports,
        n_windows,
        n_samples
    );
    println!(
        "phase input-generation seconds={} (hosts {}, links {}, topology and inventory {})",
        secs(gen_hosts + gen_links + setup),
        secs(gen_hosts),
        secs(gen_links),
        secs(setup)
    );
    println!(
        "phase engine seconds={} (add_host {}, add_link {}, finish {}) peak_rss_mib={:.1} (after adding {:.1})",
        secs(engine),
        secs(add_hosts),
        secs(add_links),
        secs(finish),
        hwm_engine,
        hwm_added
    );
    let down_hosts = report
        .hosts
        .iter()
        .filter(|h| h.figures.minutes.down > 0.0)
        .count();
    let suppressed = report
        .hosts
        .iter()
        .filter(|h| !h.suppressed_by.is_empty())
        .count();
    println!(
        "report: {} hosts ({} with down time, {} suppressed behind a link), {} links, {} incidents, {} group rows, {} capacity rows, {} collector gaps, {} unknown labels",
        report.hosts.len(),
        down_hosts,
        suppressed,
        report.links.len(),
        report.incidents.len(),
        report.business_systems.len() + report.departments.len() + report.data_centers.len(),
        report.capacity.len(),
        report.collector_gaps.len(),
        report.unknown_labels.len()
    );

    let tmp;
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    for format in [Format::Json, Format::Csv, Format::Xlsx, Format::Html] {
        let t = Instant::now();
        let files = export::write(&report, format, LANG, &dir)?;
        let took = t.elapsed();
        let bytes: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .sum();
        println!(
            "phase export-{} seconds={} files={} size_mib={} peak_rss_mib={:.1}",
            format.name(),
            secs(took),
            files.len(),
            mib(bytes),
            vm_hwm_mib()
        );
    }
    println!(
        "total seconds={}",
        secs(setup + gen_hosts + gen_links + engine)
    );
    Ok(())
}

/// Usage figures of a report made at collector time `t`, the same for every host.
struct Usage {
    /// Report number on the interval grid (the report's sequence).
    k: u64,
    cpu: f64,
    memory_used: u64,
    data_used: u64,
}

impl Usage {
    fn at(w: &World, t: i64) -> Usage {
        let k = (t - w.previous_start + 10 * DAY).div_euclid(w.interval) as u64;
        Usage {
            k,
            cpu: 0.2 + (k % 50) as f64 / 100.0,
            memory_used: (6 << 30) + (k % 64) * (1 << 24),
            data_used: (300 << 30) + k * (1 << 16),
        }
    }
}

/// A host's report at collector time `t`, like an agent's: 2 filesystems, 2 interfaces and
/// one window per probed link.
fn db_report(
    w: &World,
    h: &HostPlan,
    probes: &[usize],
    t: i64,
    boot: u32,
    boot_time: i64,
) -> Report {
    let u = Usage::at(w, t);
    let k = u.k;
    let agent = |x: i64| x + h.skew;
    let used = u.data_used;
    Report {
        protocol_version: PROTOCOL_VERSION,
        agent_id: h.id.clone(),
        hostname: format!("{}.example.gov", h.id),
        boot_id: format!("{}-boot-{boot}", h.id),
        boot_time_unix_seconds: agent(boot_time) / 1000,
        sequence: k,
        timestamp_unix_ms: agent(t),
        interval_ms: w.interval as u32,
        labels: Some(zerofault_protocol::Labels {
            department: h.department.clone(),
            business_system: h.business_system.clone(),
            datacenter: h.data_center.clone(),
            site: w.sites[h.site].code.clone(),
        }),
        system: Some(SystemInfo {
            os_name: "Debian GNU/Linux".into(),
            os_version: "12".into(),
            kernel_version: "6.1.0-28-amd64".into(),
            uptime_seconds: ((t - boot_time) / 1000) as u64,
        }),
        cpu: Some(Cpu {
            logical_cores: 8,
            physical_cores: 4,
            usage_ratio: u.cpu,
            load1: 1.2,
            load5: 1.1,
            load15: 1.0,
        }),
        memory: Some(Memory {
            total_bytes: 16 << 30,
            used_bytes: u.memory_used,
            available_bytes: 9 << 30,
            swap_total_bytes: 2 << 30,
            swap_used_bytes: 0,
        }),
        filesystems: vec![
            Filesystem {
                mount_point: "/".into(),
                device: "/dev/vda1".into(),
                fs_type: "ext4".into(),
                size_bytes: 100 << 30,
                used_bytes: 40 << 30,
                available_bytes: 60 << 30,
            },
            Filesystem {
                mount_point: "/data".into(),
                device: "/dev/vdb1".into(),
                fs_type: "xfs".into(),
                size_bytes: 1 << 40,
                used_bytes: used,
                available_bytes: (1 << 40) - used,
            },
        ],
        interfaces: ["eth0", "eth1"]
            .iter()
            .map(|n| Interface {
                name: (*n).into(),
                receive_bytes: k * 7_000_000,
                transmit_bytes: k * 3_000_000,
                receive_packets: k * 9_000,
                transmit_packets: k * 6_000,
                ..Default::default()
            })
            .collect(),
        links: probes
            .iter()
            .filter_map(|&j| {
                let s = window_stats(w, j, t, boot_time);
                let l = &w.links[j];
                let w0 = (t - w.interval).max(boot_time);
                if s.sent == 0 {
                    return None;
                }
                let first_probe = t - w.interval + (w.interval / PROBE - i64::from(s.sent)) * PROBE;
                let received = s.sent - s.lost.len() as u32;
                // Lost probes in runs (indexes relative to the window's full probe grid).
                let base = (w.interval / PROBE) as u32 - s.sent;
                let mut runs = Vec::new();
                let mut q = 0;
                while q < s.lost.len() {
                    let a = s.lost[q];
                    let mut b = a;
                    while q + 1 < s.lost.len() && s.lost[q + 1] == b + 1 {
                        q += 1;
                        b += 1;
                    }
                    let at = |p: u32| agent(t - w.interval + i64::from(p) * PROBE);
                    runs.push(LossRun {
                        first_lost_unix_ms: at(a),
                        last_lost_unix_ms: at(b),
                        count: b - a + 1,
                        open_start: a == base,
                        open_end: b + 1 == (w.interval / PROBE) as u32,
                    });
                    q += 1;
                }
                let rtt = s.rtt_ms / 1000.0;
                Some(LinkResult {
                    link_id: l.id.clone(),
                    kind: "icmp".into(),
                    target: format!("10.{}.{}.1", j / 250, j % 250),
                    level: l.level.into(),
                    domain: l.domain.into(),
                    window_start_unix_ms: agent(w0),
                    window_end_unix_ms: agent(t),
                    probe_interval_ms: PROBE as u32,
                    sent: s.sent,
                    received,
                    loss_ratio: f64::from(s.sent - received) / f64::from(s.sent),
                    rtt_min_seconds: if received > 0 { rtt * 0.8 } else { 0.0 },
                    rtt_avg_seconds: if received > 0 { rtt } else { 0.0 },
                    rtt_max_seconds: if received > 0 { rtt * 1.5 } else { 0.0 },
                    rtt_p50_seconds: if received > 0 { rtt } else { 0.0 },
                    rtt_p95_seconds: if received > 0 { rtt * 1.3 } else { 0.0 },
                    jitter_seconds: if received > 1 {
                        s.jitter_ms / 1000.0
                    } else {
                        0.0
                    },
                    first_probe_unix_ms: agent(first_probe),
                    last_probe_unix_ms: agent(t - PROBE),
                    loss_runs: runs,
                    ..Default::default()
                })
            })
            .collect(),
        agent_version: "0.1.0".into(),
        agent_stats: Some(AgentStats::default()),
        ..Default::default()
    }
}

fn make_db(w: &World, dir: &Path, setup: Duration) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let db = dir.join("zerofault.db");
    anyhow::ensure!(!db.exists(), "{} exists already", db.display());
    std::fs::write(dir.join("inventory.yaml"), &w.inventory_yaml)?;
    std::fs::write(
        dir.join("collector.yaml"),
        "tls: {ca: certs/ca.pem, cert: certs/collector.pem, key: certs/collector.key}\n\
         storage: {sqlite: {path: zerofault.db}}\n\
         inventory: inventory.yaml\n",
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = Arc::new(SqliteStore::open(&db).await?);
        let started = Instant::now();
        let (mut n, mut body_bytes) = (0u64, 0u64);
        let mut rows: Vec<StoredReport> = Vec::with_capacity(8_192);
        let flush = |rows: Vec<StoredReport>| {
            let store = store.clone();
            async move {
                let mut set = tokio::task::JoinSet::new();
                for row in rows {
                    let store = store.clone();
                    set.spawn(async move { store.insert(row).await });
                }
                while let Some(r) = set.join_next().await {
                    r??;
                }
                anyhow::Ok(())
            }
        };
        let (lo, hi) = (w.previous_start - DB_BEFORE, w.end + DAY);
        for i in 0..w.hosts {
            let h = w.host(i);
            let (times, boots) = w.report_times(&h, lo, hi);
            for (t, boot) in times {
                let r = db_report(w, &h, &w.probes[i], t, boot, boots[boot as usize]);
                let received = h
                    .late
                    .iter()
                    .filter(|l| l.start <= t && t < l.end)
                    .map(|l| l.at)
                    .max()
                    .unwrap_or(t + 40);
                let body = prost::Message::encode_to_vec(&r);
                body_bytes += body.len() as u64;
                n += 1;
                rows.push(StoredReport {
                    agent_id: r.agent_id,
                    boot_id: r.boot_id,
                    sequence: r.sequence,
                    agent_timestamp_ms: r.timestamp_unix_ms,
                    received_ms: received,
                    link_data: !r.links.is_empty(),
                    body,
                });
                if rows.len() == 8_192 {
                    flush(std::mem::take(&mut rows)).await?;
                }
            }
        }
        flush(rows).await?;
        let first = store.start_run(w.start - 10 * DAY).await?;
        store.heartbeat_run(first, w.collector_down.0 - 5 * S).await?;
        store.stop_run(first, w.collector_down.0).await?;
        let second = store.start_run(w.collector_down.1).await?;
        store.heartbeat_run(second, w.end + 2 * DAY).await?;
        store.stop_run(second, w.end + 2 * DAY).await?;
        store.close().await;
        let took = started.elapsed();
        let size = std::fs::metadata(&db)?.len()
            + std::fs::metadata(dir.join("zerofault.db-wal")).map_or(0, |m| m.len());
        println!(
            "make-db: {} hosts, {} links, {} s reports, {PREVIOUS_MONTH} and {MONTH} from 2 days before to 1 day after: {n} reports ({} MiB of protobuf bodies, {:.0} B each), inserted in {} s ({:.0} reports/s, setup {} s); database {} MiB",
            w.hosts,
            w.links.len(),
            w.interval / S,
            mib(body_bytes),
            body_bytes as f64 / n.max(1) as f64,
            secs(took),
            n as f64 / took.as_secs_f64(),
            secs(setup),
            mib(size)
        );
        println!("reports={n}");
        anyhow::Ok(())
    })
}

/// Reads `DIR/zerofault.db` as `monthly::source` does (the same `scan_reports` pages, from
/// 3 days before the previous month), once only scanning and once also decoding every body:
/// the two costs under the report's read.
fn scan_db(w: &World, dir: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = SqliteStore::open(&dir.join("zerofault.db")).await?;
        let since = w.previous_start - 3 * DAY;
        let mut took = Vec::new();
        for decode in [false, true] {
            let started = Instant::now();
            let (mut rows, mut bytes, mut windows) = (0u64, 0u64, 0u64);
            let mut after = None;
            loop {
                let page = store.scan_reports(since, after.take(), 2_000).await?;
                let done = page.len() < 2_000;
                after = page.last().map(ReportKey::of);
                for row in &page {
                    rows += 1;
                    bytes += row.body.len() as u64;
                    if decode {
                        let r = <Report as prost::Message>::decode(row.body.as_slice())?;
                        windows += r.links.len() as u64;
                    }
                }
                if done {
                    break;
                }
            }
            took.push((started.elapsed(), rows, bytes, windows));
        }
        store.close().await;
        let (scan, rows, bytes, _) = took[0];
        let (both, _, _, windows) = took[1];
        println!(
            "scan-db: {rows} rows, {} MiB of bodies, {windows} link windows: SQLite scan {} s ({:.0} rows/s); scan + protobuf decode {} s ({:.0} rows/s)",
            mib(bytes),
            secs(scan),
            rows as f64 / scan.as_secs_f64(),
            secs(both),
            rows as f64 / both.as_secs_f64()
        );
        anyhow::Ok(())
    })
}
