//! Ground truth for the monthly SLA report.
//!
//! A month (February 2026, Asia/Shanghai, 1-minute slots, 10-minute fault minimum) is
//! generated from a written **schedule**: 9 hosts in 3 departments and 2 data centers, 5
//! backbone links over a province -> city -> county -> township topology in two domains,
//! host reboots (one under the fault minimum), link outages (one under the fault minimum),
//! a parent-link outage with a host and a link behind it, maintenance windows (one-off,
//! weekly, monthly), 2 hours of collector downtime with backfill for some agents and none
//! for others (one of which reboots meanwhile), an agent clock 1 hour ahead, a clock
//! stepped back 10 minutes, a host that dies, and an unknown label.
//!
//! The reports are made by the workspace's month generator (`zerofault_tests::month`, which
//! the SLA benchmark uses too) from the schedule written here, stored with their receive
//! times, the collector's runs recorded, and the real `zerofault-collector report` binary
//! exports the month in every format. The test computes every figure **independently from
//! the schedule** (slot by slot, at the slot's middle, with the rules of docs/sla.md) and
//! requires the exports to equal it to the minute: JSON, CSV, XLSX (read by openpyxl) and
//! HTML. Then the month is closed, a late report arrives, and the next export shows the
//! frozen figures plus a late correction; the signed manifest verifies.
//!
//! Golden copies of the JSON (generation time blanked) and CSV tables are kept under
//! tests/golden/sla/ and rewritten only with `ZEROFAULT_UPDATE_GOLDEN=1`
//! (`zerofault_tests::golden`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use zerofault_collector::month::sla::model::MonthReport;
use zerofault_collector::store::{SqliteStore, Store, StoredReport};
use zerofault_tests::month::{
    DAY, Delivery, HostPlan, LinkPlan, MIN, Made, ProbeModel, ReportStyle, Sequence, Silence,
    Timing, Topology, World as Month,
};

/// 2026-02-01 00:00 in Asia/Shanghai (UTC+8).
const START: i64 = 1_769_875_200_000;
const END: i64 = START + 28 * DAY;
const INTERVAL: i64 = 5 * MIN;
const PROBE: i64 = 10_000;
/// Reports are generated from this long before the month to this long after it.
const BEFORE: i64 = 2 * DAY;
const AFTER: i64 = DAY;
const DELAY: i64 = 50;
const FAULT_MIN_SLOTS: usize = 10;

/// February `day`, `h:m` local time.
const fn at(day: i64, h: i64, m: i64) -> i64 {
    zerofault_tests::month::local(START, day, h, m)
}

/// Collector outage.
const CO: (i64, i64) = (at(20, 10, 0), at(20, 12, 0));

/// The month: its sites and links with their outages, and how hosts report. A probe takes
/// 5 ms, or 150 ms on cc-pub for an hour (degraded); it is lost during an outage of its link
/// or of a link on the way (ct-adm is reached through cc-adm from CITY).
fn month() -> Month {
    let mut t = Topology::default();
    for (code, level, domain, parent) in [
        ("PROV", "province", "administrative", None),
        ("CITY", "city", "administrative", Some("PROV")),
        ("CNTY", "county", "administrative", Some("CITY")),
        ("TOWN", "township", "administrative", Some("CNTY")),
        ("PROVP", "province", "public", None),
        ("CITYP", "city", "public", Some("PROVP")),
        ("CNTYP", "county", "public", Some("CITYP")),
    ] {
        let parent = parent.map(|p| t.site(p));
        t.add_site(code.into(), level, domain, parent);
    }
    let mut link = |id: &str, from: &str, to: &str, level, domain, outages: Vec<(i64, i64)>| {
        let (from, to) = (t.site(from), t.site(to));
        let j = t.add_link(id.into(), level, domain, from, to);
        t.links[j].outages = outages;
        t.links[j].rtt_ms = 5.0;
    };
    let (adm, public) = ("administrative", "public");
    // Inside its weekly maintenance (Sundays 02:00-03:00).
    let outage = vec![(at(15, 2, 10), at(15, 2, 40))];
    link("pc-adm", "PROV", "CITY", "province-city", adm, outage);
    let outage = vec![(at(10, 9, 0), at(10, 9, 45))];
    link("cc-adm", "CITY", "CNTY", "city-county", adm, outage);
    // 3 minutes: down time, not a fault.
    let outage = vec![(at(7, 8, 0), at(7, 8, 3))];
    link("ct-adm", "CNTY", "TOWN", "county-township", adm, outage);
    let outage = vec![(at(8, 12, 0), at(8, 12, 20))];
    link("pc-pub", "PROVP", "CITYP", "province-city", public, outage);
    link("cc-pub", "CITYP", "CNTYP", "city-county", public, vec![]);
    let (cc_pub, ct_adm, cc_adm, city) = (
        t.link("cc-pub"),
        t.link("ct-adm"),
        t.link("cc-adm"),
        t.site("CITY"),
    );
    t.links[cc_pub].slow = vec![(at(3, 10, 0), at(3, 11, 0), 150.0)];
    t.links[ct_adm].via = vec![(city, cc_adm)];
    Month {
        start: START,
        end: END,
        probe_interval: PROBE,
        topology: t,
        timing: Timing {
            interval: INTERVAL,
            first_boot: START - 10 * DAY,
            delay: DELAY,
            sequence: Sequence::Count(1_000),
        },
        style: ReportStyle::Plain,
        probes: ProbeModel::Exact,
    }
}

/// A reboot: the last report of the old boot is made at `last`, the new boot at `boot`;
/// the host reports again on the first report time after it.
fn reboot(last: i64, boot: i64) -> Silence {
    Silence {
        start: last + 1,
        end: boot + 1,
        boot: Some(boot),
    }
}

/// The last report is made at `last`; silent afterwards.
fn dies(last: i64) -> Silence {
    Silence {
        start: last + 1,
        end: i64::MAX,
        boot: None,
    }
}

/// Reports made during the collector outage are delivered after it, a second apart.
fn backfill() -> Delivery {
    Delivery {
        start: CO.0,
        end: CO.1,
        at: Some(CO.1),
        spacing: 1_000,
    }
}

/// Reports made during the collector outage are never delivered.
fn no_backfill() -> Delivery {
    Delivery {
        start: CO.0,
        end: CO.1,
        at: None,
        spacing: 0,
    }
}

/// Reports made strictly inside `(a, b)` are delivered at its end (held in the spool).
fn held(a: i64, b: i64) -> Delivery {
    Delivery {
        start: a + 1,
        end: b,
        at: Some(b),
        spacing: 1_000,
    }
}

fn hosts(month: &Month) -> Vec<HostPlan> {
    let t = &month.topology;
    let h = |id: &str, department: &str, business_system: &str, data_center: &str, site| HostPlan {
        id: id.into(),
        department: department.into(),
        business_system: business_system.into(),
        data_center: data_center.into(),
        site: t.site(site),
        skew: 0,
        step: None,
        phase: 0,
        silences: vec![],
        deliveries: vec![backfill()],
        probes: vec![],
    };
    let probes = |ids: &[&str]| ids.iter().map(|id| t.link(id)).collect::<Vec<_>>();
    vec![
        HostPlan {
            probes: probes(&["pc-adm"]),
            ..h("h1", "D1", "BS1", "DC1", "PROV")
        },
        HostPlan {
            probes: probes(&["cc-adm", "ct-adm"]),
            ..h("h2", "D1", "BS1", "DC1", "CITY")
        },
        HostPlan {
            // Stepped back 10 minutes; rebooted inside its maintenance window.
            step: Some((at(18, 0, 0), -10 * MIN)),
            silences: vec![reboot(at(12, 1, 0), at(12, 2, 30))],
            ..h("h3", "D2", "BS2", "DC1", "CITYP")
        },
        HostPlan {
            // Its clock is an hour ahead all month; a second vantage point of pc-adm.
            skew: 3_600_000,
            probes: probes(&["pc-adm"]),
            ..h("h4", "D2", "BS2", "DC2", "PROV")
        },
        HostPlan {
            // Behind cc-adm: its reports during that outage arrive when it ends.
            deliveries: vec![no_backfill(), held(at(10, 9, 0), at(10, 9, 45))],
            ..h("h5", "D3", "", "DC2", "CNTY")
        },
        HostPlan {
            // Behind cc-adm (and ct-adm): rebooted during the cc-adm outage.
            silences: vec![reboot(at(10, 9, 0), at(10, 9, 40))],
            deliveries: vec![no_backfill()],
            ..h("h6", "D3", "", "DC2", "TOWN")
        },
        HostPlan {
            silences: vec![reboot(at(5, 9, 55), at(5, 10, 10))],
            deliveries: vec![no_backfill()],
            ..h("h7", "D1", "BS1", "DC2", "CITY")
        },
        HostPlan {
            // A 2-minute reboot (under the fault minimum), then dies for good; and a
            // business system the inventory does not know.
            silences: vec![reboot(at(6, 14, 0), at(6, 14, 2)), dies(at(26, 12, 0))],
            deliveries: vec![no_backfill()],
            ..h("h8", "D3", "BS9", "DC1", "CITY")
        },
        HostPlan {
            // No backfill, and rebooted during the collector outage: its last report of the
            // old boot before the outage is 09:55, the new boot at 11:00.
            silences: vec![reboot(at(20, 10, 30), at(20, 11, 0))],
            deliveries: vec![no_backfill()],
            probes: probes(&["pc-pub", "cc-pub"]),
            ..h("h9", "D2", "BS2", "DC1", "PROVP")
        },
    ]
}

/// The reports `h` made, from `BEFORE` the month to `AFTER` it.
fn made(month: &Month, h: &HostPlan) -> Vec<Made> {
    h.made(&month.timing, START - BEFORE - INTERVAL, END + AFTER + 1)
}

fn maintenance(kind: &str, id: &str) -> Vec<(i64, i64)> {
    let mut m = Vec::new();
    match (kind, id) {
        ("host", "h3") => m.push((at(12, 1, 0), at(12, 3, 0))),
        ("department", "D2") => m.push((at(1, 3, 0), at(1, 3, 30))),
        ("link", "pc-adm") => {
            // Sundays in February 2026: 1, 8, 15, 22.
            for d in [1, 8, 15, 22] {
                m.push((at(d, 2, 0), at(d, 3, 0)));
            }
        }
        _ => {}
    }
    m
}

fn host_maintenance(h: &HostPlan) -> Vec<(i64, i64)> {
    let mut m = maintenance("host", &h.id);
    m.extend(maintenance("department", &h.department));
    m
}

const INVENTORY: &str = r#"
time_zone: Asia/Shanghai
slot: 60s
fault_min: 10m
targets:
  host: 0.999
  link: {province-city: 0.9999, city-county: 0.9995, county-township: 0.999}
departments:
  - {code: D1, name_zh: 大数据局, name_en: Big Data Bureau}
  - {code: D2, name_zh: 公安局, name_en: Public Security Bureau}
  - {code: D3, name_zh: 卫健委, name_en: Health Commission, target: 0.99}
business_systems:
  - {code: BS1, department: D1, name_zh: 政务服务网, name_en: Service Portal}
  - {code: BS2, department: D2, name_zh: 警务云, name_en: Police Cloud}
data_centers:
  - {code: DC1, name_zh: 政务云一中心, name_en: Gov Cloud DC 1, status: in-use}
  - {code: DC2, name_zh: 灾备中心, name_en: DR Center, status: in-use}
sites:
  - {code: PROV, name_zh: 省节点, level: province, domain: administrative, name_en: Province}
  - {code: CITY, name_zh: 市节点, level: city, domain: administrative, parent: PROV, name_en: City}
  - {code: CNTY, name_zh: 县节点, level: county, domain: administrative, parent: CITY, name_en: County}
  - {code: TOWN, name_zh: 镇节点, level: township, domain: administrative, parent: CNTY, name_en: Town}
  - {code: PROVP, name_zh: 省公网节点, level: province, domain: public, name_en: Province (public)}
  - {code: CITYP, name_zh: 市公网节点, level: city, domain: public, parent: PROVP, name_en: City (public)}
  - {code: CNTYP, name_zh: 县公网节点, level: county, domain: public, parent: CITYP, name_en: County (public)}
links:
  - {id: pc-adm, from: PROV, to: CITY, level: province-city, domain: administrative, name_en: Province-City adm, name_zh: 省-市政务外网}
  - {id: cc-adm, from: CITY, to: CNTY, level: city-county, domain: administrative, name_en: City-County adm}
  - {id: ct-adm, from: CNTY, to: TOWN, level: county-township, domain: administrative}
  - {id: pc-pub, from: PROVP, to: CITYP, level: province-city, domain: public}
  - {id: cc-pub, from: CITYP, to: CNTYP, level: city-county, domain: public}
maintenance:
  - scope: {host: h3}
    once: {start: "2026-02-12 01:00", duration: 2h}
  - scope: {department: D2}
    monthly: {day: 1, at: "03:00", duration: 30m}
  - scope: {link: pc-adm}
    weekly: {weekday: sun, at: "02:00", duration: 1h}
"#;

// ---------------------------------------------------------------------------------------
// The expected figures, computed from the schedule (not from the reports' bytes).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum S {
    Up,
    Degraded,
    Down,
    Maint,
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
struct Expected {
    up: usize,
    degraded: usize,
    down: usize,
    maintenance: usize,
    unknown: usize,
    faults: usize,
    fault_minutes: usize,
    longest: usize,
    availability: Option<f64>,
    coverage: Option<f64>,
    suppressed_by: Vec<String>,
}

const SLOTS: usize = (28 * 1_440) as usize;

fn mid(i: usize) -> i64 {
    START + i as i64 * MIN + MIN / 2
}

fn in_any(iv: &[(i64, i64)], x: i64) -> bool {
    iv.iter().any(|&(a, b)| a <= x && x < b)
}

fn collector_up(x: i64) -> bool {
    !(CO.0..CO.1).contains(&x)
}

/// Stored reports of a host: (true time, boot).
fn stored(month: &Month, h: &HostPlan) -> Vec<(i64, usize)> {
    made(month, h)
        .into_iter()
        .filter(|m| m.received.is_some())
        .map(|m| (m.t, m.boot))
        .collect()
}

fn host_states(month: &Month, h: &HostPlan, all: &[HostPlan]) -> Vec<S> {
    let st = stored(month, h);
    let maint = host_maintenance(h);
    // Reboot gaps: last stored report of a boot to the next boot's boot time.
    let mut gaps = Vec::new();
    for (i, &boot_time) in h.reboots().iter().enumerate() {
        let last = st
            .iter()
            .filter(|(_, b)| *b == i)
            .map(|(t, _)| *t)
            .max()
            .expect("boot has reports");
        gaps.push((last, boot_time));
    }
    // Up evidence: each stored report covers [t - I, t]; a boot is up from its first
    // stored report's start to its last stored report.
    let mut up = Vec::new();
    let boots: BTreeSet<usize> = st.iter().map(|(_, b)| *b).collect();
    for b in boots {
        let ts: Vec<i64> = st
            .iter()
            .filter(|(_, x)| *x == b)
            .map(|(t, _)| *t)
            .collect();
        up.push((ts[0] - INTERVAL, *ts.last().unwrap()));
    }
    let first = st[0].0 - INTERVAL;
    let others_cover = |x: i64| {
        all.iter().filter(|o| o.id != h.id).any(|o| {
            stored(month, o)
                .iter()
                .any(|(t, _)| t - INTERVAL <= x && x < *t)
        })
    };
    (0..SLOTS)
        .map(|i| {
            let x = mid(i);
            if in_any(&maint, x) {
                S::Maint
            } else if in_any(&gaps, x) {
                if collector_up(x) { S::Down } else { S::Unknown }
            } else if in_any(&up, x) {
                S::Up
            } else if x < first {
                S::Unknown
            } else if collector_up(x) && others_cover(x) {
                S::Down
            } else {
                S::Unknown
            }
        })
        .collect()
}

fn link_states(month: &Month, j: usize, hosts: &[HostPlan]) -> Vec<S> {
    let l = &month.topology.links[j];
    let maint = maintenance("link", &l.id);
    // Stored windows of every vantage point: (start, end, degraded, vantage site).
    let mut windows = Vec::new();
    for h in hosts.iter().filter(|h| h.probes.contains(&j)) {
        for m in made(month, h).iter().filter(|m| m.received.is_some()) {
            let w = month.link_result(h, j, m.t, m.boot_time).unwrap();
            let loss = w.loss_ratio;
            let degraded = loss >= 0.02 || (w.received > 0 && w.rtt_avg_seconds >= 0.1);
            windows.push(((m.t - INTERVAL).max(m.boot_time), m.t, degraded, h.site));
        }
    }
    (0..SLOTS)
        .map(|i| {
            let x = mid(i);
            let here: Vec<_> = windows.iter().filter(|w| w.0 <= x && x < w.1).collect();
            if in_any(&maint, x) {
                S::Maint
            } else if !here.is_empty() && here.iter().all(|w| month.lost(j, w.3, x)) {
                S::Down
            } else if here.iter().any(|w| w.2) {
                S::Degraded
            } else if !here.is_empty() {
                S::Up
            } else {
                S::Unknown
            }
        })
        .collect()
}

/// Runs of down slots: (first slot, length).
fn down_runs(s: &[S]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == S::Down {
            let a = i;
            while i < s.len() && s[i] == S::Down {
                i += 1;
            }
            out.push((a, i - a));
        } else {
            i += 1;
        }
    }
    out
}

/// Figures of one item; `suppressor` is the down timeline of the links it is behind, whose
/// down slots make its own down runs suppressed (not faults).
fn figures(s: &[S], behind: &[(&str, Vec<S>)]) -> Expected {
    let count = |x: S| s.iter().filter(|v| **v == x).count();
    let (up, degraded, down, maintenance, unknown) = (
        count(S::Up),
        count(S::Degraded),
        count(S::Down),
        count(S::Maint),
        count(S::Unknown),
    );
    let mut faults = 0;
    let mut fault_minutes = 0;
    let mut longest = 0;
    let mut suppressed_by = BTreeSet::new();
    for (a, n) in down_runs(s) {
        longest = longest.max(n);
        let by: Vec<&str> = behind
            .iter()
            .filter(|(_, t)| (a..a + n).any(|i| t[i] == S::Down))
            .map(|(id, _)| *id)
            .collect();
        if !by.is_empty() {
            suppressed_by.extend(by.iter().map(|s| s.to_string()));
            continue;
        }
        if n >= FAULT_MIN_SLOTS {
            faults += 1;
            fault_minutes += n;
        }
    }
    let avail_den = up + degraded + down;
    let cov_den = SLOTS - maintenance;
    Expected {
        up,
        degraded,
        down,
        maintenance,
        unknown,
        faults,
        fault_minutes,
        longest,
        availability: (avail_den > 0).then(|| (up + degraded) as f64 / avail_den as f64),
        coverage: (cov_den > 0).then(|| avail_den as f64 / cov_den as f64),
        suppressed_by: suppressed_by.into_iter().collect(),
    }
}

/// Sites in the subtree of `site`, `site` included.
fn subtree(site: &str) -> Vec<&'static str> {
    let parents = [
        ("CITY", "PROV"),
        ("CNTY", "CITY"),
        ("TOWN", "CNTY"),
        ("CITYP", "PROVP"),
        ("CNTYP", "CITYP"),
    ];
    let mut out = vec![];
    let mut todo = vec![site.to_owned()];
    while let Some(s) = todo.pop() {
        for (c, p) in parents {
            if p == s {
                out.push(c);
                todo.push(c.to_owned());
            }
        }
    }
    let all = ["PROV", "CITY", "CNTY", "TOWN", "PROVP", "CITYP", "CNTYP"];
    out.extend(all.iter().filter(|s| **s == site));
    out
}

struct World {
    month: Month,
    hosts: Vec<HostPlan>,
    links: Vec<LinkPlan>,
    host_expected: BTreeMap<String, Expected>,
    link_expected: BTreeMap<String, Expected>,
}

fn expected_world() -> World {
    let month = month();
    let hosts = hosts(&month);
    let links = month.topology.links.clone();
    let code = |site: usize| month.topology.sites[site].code.as_str();
    let link_tl: BTreeMap<&str, Vec<S>> = links
        .iter()
        .enumerate()
        .map(|(j, l)| (l.id.as_str(), link_states(&month, j, &hosts)))
        .collect();
    let is_behind = |site: &str, l: &LinkPlan| subtree(code(l.to)).contains(&site);
    // A link's down slot is a root cause unless a link it is behind is down then too (the
    // outermost down link is the cause).
    let root_tl: BTreeMap<&str, Vec<S>> = links
        .iter()
        .map(|l| {
            let tl = (0..SLOTS)
                .map(|i| {
                    let covered = links.iter().any(|m| {
                        m.id != l.id
                            && is_behind(code(l.from), m)
                            && link_tl[m.id.as_str()][i] == S::Down
                    });
                    if link_tl[l.id.as_str()][i] == S::Down && !covered {
                        S::Down
                    } else {
                        S::Up
                    }
                })
                .collect();
            (l.id.as_str(), tl)
        })
        .collect();
    // The links something is behind: their far end's subtree holds its site (hosts) or its
    // near end (links).
    let behind_of = |site: &str, except: &str| -> Vec<(&str, Vec<S>)> {
        links
            .iter()
            .filter(|l| l.id != except && is_behind(site, l))
            .map(|l| (l.id.as_str(), root_tl[l.id.as_str()].clone()))
            .collect()
    };
    let host_expected = hosts
        .iter()
        .map(|h| {
            (
                h.id.to_owned(),
                figures(
                    &host_states(&month, h, &hosts),
                    &behind_of(code(h.site), ""),
                ),
            )
        })
        .collect();
    let link_expected = links
        .iter()
        .map(|l| {
            (
                l.id.to_owned(),
                figures(&link_tl[l.id.as_str()], &behind_of(code(l.from), &l.id)),
            )
        })
        .collect();
    World {
        month,
        hosts,
        links,
        host_expected,
        link_expected,
    }
}

// ---------------------------------------------------------------------------------------
// The run.

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zerofault-collector"))
}

/// `report --month 2026-02 --format json --lang en` of `config` into `out`.
fn report_json(config: &Path, out: &Path) -> (i32, String, String) {
    run(&[
        "report",
        "--config",
        config.to_str().unwrap(),
        "--month",
        "2026-02",
        "--format",
        "json",
        "--lang",
        "en",
        "--out",
        out.to_str().unwrap(),
    ])
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("run zerofault-collector");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn store_world(db: &Path, world: &World) -> usize {
    let store = Arc::new(SqliteStore::open(db).await.unwrap());
    let mut rows = Vec::new();
    for h in &world.hosts {
        for m in made(&world.month, h) {
            let Some(received) = m.received else { continue };
            let r = world.month.report(h, &m);
            rows.push(StoredReport {
                agent_id: r.agent_id.clone(),
                boot_id: r.boot_id.clone(),
                sequence: r.sequence,
                agent_timestamp_ms: r.timestamp_unix_ms,
                received_ms: received,
                link_data: !r.links.is_empty(),
                body: prost::Message::encode_to_vec(&r),
            });
        }
    }
    let n = rows.len();
    // Concurrent inserts, so that the store's group commit batches them.
    for chunk in rows.chunks(4_096) {
        let mut set = tokio::task::JoinSet::new();
        for row in chunk.iter().cloned() {
            let store = store.clone();
            set.spawn(async move { store.insert(row).await.unwrap() });
        }
        while set.join_next().await.is_some() {}
    }
    // The collector ran before the month until the outage, and from its end until after
    // the month (that run crashed: closed at its last heartbeat).
    let first = store.start_run("c1".into(), START - 3 * DAY).await.unwrap();
    store.heartbeat_run(first, CO.0 - 5_000).await.unwrap();
    store.stop_run(first, CO.0).await.unwrap();
    let second = store.start_run("c1".into(), CO.1).await.unwrap();
    store.heartbeat_run(second, END + 2 * DAY).await.unwrap();
    store.close().await;
    n
}

fn approx(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-12,
        (None, None) => true,
        _ => false,
    }
}

fn check_figures(
    what: &str,
    got: &zerofault_collector::month::sla::model::Figures,
    want: &Expected,
) -> Vec<String> {
    let mut bad = Vec::new();
    let m = &got.minutes;
    let pairs = [
        ("up", m.up, want.up),
        ("degraded", m.degraded, want.degraded),
        ("down", m.down, want.down),
        ("maintenance", m.maintenance, want.maintenance),
        ("unknown", m.unknown, want.unknown),
        ("fault_minutes", got.fault_minutes, want.fault_minutes),
        ("longest_outage", got.longest_outage_minutes, want.longest),
        ("faults", f64::from(got.faults), want.faults),
    ];
    for (name, g, w) in pairs {
        if g != w as f64 {
            bad.push(format!("{what}: {name} = {g}, expected {w}"));
        }
    }
    if !approx(got.availability, want.availability) {
        bad.push(format!(
            "{what}: availability = {:?}, expected {:?}",
            got.availability, want.availability
        ));
    }
    if !approx(got.coverage, want.coverage) {
        bad.push(format!(
            "{what}: coverage = {:?}, expected {:?}",
            got.coverage, want.coverage
        ));
    }
    bad
}

fn check_report(r: &MonthReport, world: &World) {
    let mut bad = Vec::new();
    assert_eq!((r.start_unix_ms, r.end_unix_ms), (START, END));
    assert_eq!(r.hosts.len(), world.hosts.len());
    for h in &r.hosts {
        let want = &world.host_expected[&h.agent_id];
        bad.extend(check_figures(&h.agent_id, &h.figures, want));
        if h.suppressed_by != want.suppressed_by {
            bad.push(format!(
                "{}: suppressed_by {:?}, expected {:?}",
                h.agent_id, h.suppressed_by, want.suppressed_by
            ));
        }
    }
    assert_eq!(r.links.len(), world.links.len());
    for l in &r.links {
        let want = &world.link_expected[&l.link_id];
        bad.extend(check_figures(&l.link_id, &l.figures, want));
        if l.suppressed_by != want.suppressed_by {
            bad.push(format!(
                "{}: suppressed_by {:?}, expected {:?}",
                l.link_id, l.suppressed_by, want.suppressed_by
            ));
        }
    }
    // Groups: the mean of their hosts' availability.
    for (rows, key) in [
        (&r.departments, 0),
        (&r.data_centers, 1),
        (&r.business_systems, 2),
    ] {
        // Every group of the world (a host without the label is in none) is reported, so the loop below cannot pass by being empty.
        let codes: BTreeSet<&str> = world
            .hosts
            .iter()
            .map(|h| [&h.department, &h.data_center, &h.business_system][key].as_str())
            .filter(|c| !c.is_empty())
            .collect();
        let got: BTreeSet<&str> = rows.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(got, codes, "groups of kind {key}");
        for g in rows.iter() {
            let members: Vec<&HostPlan> = world
                .hosts
                .iter()
                .filter(|h| *[&h.department, &h.data_center, &h.business_system][key] == g.code)
                .collect();
            let av: Vec<f64> = members
                .iter()
                .filter_map(|h| world.host_expected[&h.id].availability)
                .collect();
            let want = (!av.is_empty()).then(|| av.iter().sum::<f64>() / av.len() as f64);
            if g.members as usize != members.len() || !approx(g.figures.availability, want) {
                bad.push(format!(
                    "group {}: {} members, availability {:?}; expected {} and {want:?}",
                    g.code,
                    g.members,
                    g.figures.availability,
                    members.len()
                ));
            }
        }
    }
    // Zero-fault backbone: per level and domain, every one of the world's among them.
    let kinds: BTreeSet<(&str, &str)> = world.links.iter().map(|l| (l.level, l.domain)).collect();
    let got: BTreeSet<(&str, &str)> = r
        .backbone
        .iter()
        .map(|b| (b.level.as_str(), b.domain.as_str()))
        .collect();
    assert!(
        kinds.is_subset(&got),
        "backbone rows {got:?}, world {kinds:?}"
    );
    for b in &r.backbone {
        let ls: Vec<&LinkPlan> = world
            .links
            .iter()
            .filter(|l| l.level == b.level && l.domain == b.domain)
            .collect();
        let faults: usize = ls.iter().map(|l| world.link_expected[&l.id].faults).sum();
        if b.links as usize != ls.len()
            || b.fault_free != (faults == 0)
            || b.figures.faults as usize != faults
        {
            bad.push(format!(
                "backbone {}/{}: {} links, fault_free {}, {} faults; expected {}, {}, {faults}",
                b.level,
                b.domain,
                b.links,
                b.fault_free,
                b.figures.faults,
                ls.len(),
                faults == 0
            ));
        }
    }
    // Incidents: every fault, the parent-link one naming what it suppressed.
    let cc = r
        .incidents
        .iter()
        .find(|i| i.id == "cc-adm")
        .expect("incident of cc-adm");
    assert_eq!(
        (cc.start_unix_ms, cc.end_unix_ms),
        (at(10, 9, 0), at(10, 9, 45))
    );
    assert_eq!(cc.suppressed_hosts, vec!["h6".to_owned()]);
    assert_eq!(cc.suppressed_links, vec!["ct-adm".to_owned()]);
    let faults: usize = world
        .host_expected
        .values()
        .chain(world.link_expected.values())
        .map(|e| e.faults)
        .sum();
    assert_eq!(r.incidents.len(), faults, "{:#?}", r.incidents);
    // Capacity: 9 hosts of 8 cores, 16 GiB and one 100 GB filesystem growing 1 kB a
    // minute from 40 GB; the previous month is known from the 2 days before this one.
    let dcs: Vec<_> = r
        .capacity
        .iter()
        .filter(|c| c.kind == "data_center")
        .collect();
    assert_eq!(dcs.iter().map(|c| c.hosts).sum::<u32>(), 9);
    for c in &r.capacity {
        assert_eq!(c.cpu_cores, 8 * u64::from(c.hosts), "{}", c.code);
        assert_eq!(
            c.memory_bytes,
            (16 << 30) * u64::from(c.hosts),
            "{}",
            c.code
        );
        let growth = c.storage_growth.expect("previous month known");
        assert!(
            growth > 0.0 && growth < 0.002,
            "{}: growth {growth}",
            c.code
        );
        // Full in (100 GB - ~40 GB) / (1.44 MB a day) ~ 41 600 days.
        let days = c.days_until_full.expect("growing");
        assert!(
            (days / 41_640.0 - 1.0).abs() < 0.01,
            "{}: {days} days",
            c.code
        );
    }
    assert_eq!(r.unknown_labels.len(), 1);
    assert_eq!(
        (
            r.unknown_labels[0].agent_id.as_str(),
            r.unknown_labels[0].value.as_str()
        ),
        ("h8", "BS9")
    );
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The schedule's own facts, so that a wrong schedule cannot make the test vacuous.
fn check_schedule(world: &World) {
    let h = |id: &str| &world.host_expected[id];
    let l = |id: &str| &world.link_expected[id];
    assert_eq!((h("h7").down, h("h7").faults), (15, 1), "h7 reboot");
    assert_eq!(
        (h("h8").faults, h("h8").longest, h("h8").down),
        (1, 3_600, 3_602),
        "h8 dies, its 2-minute reboot is no fault"
    );
    assert_eq!(
        (h("h6").down, h("h6").faults),
        (40, 0),
        "h6 down behind cc-adm, suppressed"
    );
    assert_eq!(h("h3").maintenance, 120 + 30);
    assert_eq!(
        (h("h9").unknown, h("h9").down),
        (115, 5),
        "h9 rebooted while the collector was down"
    );
    assert_eq!(h("h5").down + h("h5").unknown, 0, "h5 backfilled");
    assert_eq!(
        (l("ct-adm").down, l("ct-adm").faults, l("ct-adm").degraded),
        (3 + 45, 0, 2)
    );
    assert_eq!((l("cc-adm").down, l("cc-adm").faults), (45, 1));
    assert_eq!((l("pc-pub").down, l("pc-pub").unknown), (20, 120));
    assert_eq!(l("cc-pub").degraded, 60);
    assert_eq!((l("pc-adm").maintenance, l("pc-adm").down), (240, 0));
}

fn write_config(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("inventory.yaml"), INVENTORY).unwrap();
    let config = dir.join("collector.yaml");
    std::fs::write(&config, zerofault_tests::month::COLLECTOR_YAML).unwrap();
    config
}

fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn find(dir: &Path, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {}", dir.display()))
}

fn check_csv(dir: &Path, r: &MonthReport) {
    let hosts = csv_rows(&find(dir, "-hosts.csv"));
    assert_eq!(hosts.len(), r.hosts.len());
    for (row, h) in hosts.iter().zip(&r.hosts) {
        assert_eq!(row["Agent ID"], h.agent_id);
        assert_eq!(
            row["Down (min)"].parse::<f64>().unwrap(),
            h.figures.minutes.down,
            "{}",
            h.agent_id
        );
        assert_eq!(
            row["Unknown (min)"].parse::<f64>().unwrap(),
            h.figures.minutes.unknown
        );
        assert_eq!(row["Faults"].parse::<u32>().unwrap(), h.figures.faults);
        // CSV ratios are rounded to 8 decimals (export::numbers::RATIO_PLACES).
        let av: Option<f64> = row["Availability"].parse().ok();
        assert!(
            match (av, h.figures.availability) {
                (Some(a), Some(b)) => (a - b).abs() <= 5e-9,
                (a, b) => a.is_none() && b.is_none(),
            },
            "{}: {av:?}",
            h.agent_id
        );
    }
    let links = csv_rows(&find(dir, "-links.csv"));
    for (row, l) in links.iter().zip(&r.links) {
        assert_eq!(row["Link ID"], l.link_id);
        assert_eq!(
            row["Degraded (min)"].parse::<f64>().unwrap(),
            l.figures.minutes.degraded
        );
        assert_eq!(
            row["Down (min)"].parse::<f64>().unwrap(),
            l.figures.minutes.down
        );
    }
}

fn check_xlsx(dir: &Path, r: &MonthReport) {
    let xlsx = find(dir, ".xlsx");
    let script = r#"
import json, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = {}
for ws in wb.worksheets:
    rows = list(ws.iter_rows(values_only=True))
    out[ws.title] = [list(r) for r in rows]
print(json.dumps(out, default=str))
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&xlsx)
        .output()
        .expect("python3 (apt-get install python3-openpyxl)");
    assert!(
        out.status.success(),
        "openpyxl failed (apt-get install python3-openpyxl): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sheets: BTreeMap<String, Vec<Vec<serde_json::Value>>> =
        serde_json::from_slice(&out.stdout).unwrap();
    let hosts = sheets.get("Hosts").expect("a Hosts sheet");
    let header: Vec<String> = hosts[0]
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name} in {header:?}"))
    };
    for (row, h) in hosts[1..].iter().zip(&r.hosts) {
        assert_eq!(row[col("Agent ID")], serde_json::json!(h.agent_id));
        assert!(
            approx(row[col("Availability")].as_f64(), h.figures.availability),
            "{}",
            h.agent_id
        );
        assert_eq!(
            row[col("Down (min)")].as_f64(),
            Some(h.figures.minutes.down)
        );
    }
}

fn check_html(dir: &Path, r: &MonthReport) {
    let html = std::fs::read_to_string(find(dir, ".html")).unwrap();
    for h in &r.hosts {
        assert!(html.contains(&h.agent_id));
    }
    for l in &r.links {
        assert!(html.contains(&l.link_id));
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/sla")
        .join(name);
    zerofault_tests::golden::check(&path, actual);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_month_is_exported_exactly_in_every_format() {
    let world = expected_world();
    check_schedule(&world);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let stored = store_world(&dir.path().join("zerofault.db"), &world).await;
    assert!(stored > 70_000, "{stored} reports");
    let out = dir.path().join("out");
    let (code, stdout, stderr) = run(&[
        "report",
        "--config",
        config.to_str().unwrap(),
        "--month",
        "2026-02",
        "--format",
        "json,csv,xlsx,html",
        "--lang",
        "en",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stdout {stdout}\nstderr {stderr}");
    let json = std::fs::read_to_string(find(&out, ".json")).unwrap();
    let r: MonthReport = serde_json::from_str(&json).unwrap();
    check_report(&r, &world);
    check_csv(&out, &r);
    check_xlsx(&out, &r);
    check_html(&out, &r);
    let mut blank = r.clone();
    blank.generated_unix_ms = 0;
    golden(
        "2026-02-en.json",
        &serde_json::to_string_pretty(&blank).unwrap(),
    );
    for table in ["hosts", "links", "incidents", "backbone", "departments"] {
        golden(
            &format!("2026-02-en-{table}.csv"),
            &std::fs::read_to_string(find(&out, &format!("-{table}.csv"))).unwrap(),
        );
    }
    // The same month recomputed from the stored report bodies instead of the host rollups
    // kept as they arrived (concurrently, in any order): the same figures, to the bit.
    let raw = dir.path().join("raw");
    let (code, _, stderr) = run(&[
        "report",
        "--config",
        config.to_str().unwrap(),
        "--month",
        "2026-02",
        "--format",
        "json",
        "--lang",
        "en",
        "--from-raw",
        "--out",
        raw.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let mut from_raw: MonthReport =
        serde_json::from_str(&std::fs::read_to_string(find(&raw, ".json")).unwrap()).unwrap();
    from_raw.generated_unix_ms = 0;
    assert!(
        from_raw == blank,
        "the report from raw reports differs from the one from rollups"
    );
    // Chinese: the same figures, names in Chinese.
    let zh = dir.path().join("zh");
    let (code, _, stderr) = run(&[
        "report",
        "--config",
        config.to_str().unwrap(),
        "--month",
        "2026-02",
        "--format",
        "json",
        "--lang",
        "zh-CN",
        "--out",
        zh.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rz: MonthReport =
        serde_json::from_str(&std::fs::read_to_string(find(&zh, ".json")).unwrap()).unwrap();
    check_report(&rz, &world);
    assert_eq!(
        rz.links
            .iter()
            .find(|l| l.link_id == "pc-adm")
            .unwrap()
            .name,
        "省-市政务外网"
    );
    assert!(rz.departments.iter().any(|d| d.name == "大数据局"));

    close_and_correct(dir.path(), &config, &r).await;
}

/// Closing freezes the figures and signs the files; a report received later for the closed
/// month shows as a late correction beside the frozen figures, which do not change.
async fn close_and_correct(dir: &Path, config: &Path, before: &MonthReport) {
    let (code, _, stderr) = run(&["certs", "--dir", dir.join("certs").to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let closed = dir.join("closed");
    let (code, stdout, stderr) = run(&[
        "report",
        "--config",
        config.to_str().unwrap(),
        "--month",
        "2026-02",
        "--format",
        "json,csv",
        "--lang",
        "en",
        "--out",
        closed.to_str().unwrap(),
        "--close",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr) = run(&[
        "verify",
        closed.join("MANIFEST.sha256").to_str().unwrap(),
        "--cert",
        dir.join("certs/collector.pem").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, _, stderr) = run(&[
        "report",
        "--config",
        config.to_str().unwrap(),
        "--month",
        "2026-02",
        "--close",
        "--out",
        dir.join("again").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "a month is closed once: {stderr}");

    // h8 "dies" on Feb 26 12:00: a report of its boot arrives late, made Feb 27 12:00.
    let world = expected_world();
    let h8 = world.hosts.iter().find(|h| h.id == "h8").unwrap();
    let last = made(&world.month, h8).last().cloned().unwrap();
    let late = Made {
        t: at(27, 12, 0),
        sequence: last.sequence + 1,
        received: Some(END + 3 * DAY),
        ..last
    };
    let r = world.month.report(h8, &late);
    let store = SqliteStore::open(&dir.join("zerofault.db")).await.unwrap();
    store
        .insert(StoredReport {
            agent_id: r.agent_id.clone(),
            boot_id: r.boot_id.clone(),
            sequence: r.sequence,
            agent_timestamp_ms: r.timestamp_unix_ms,
            received_ms: END + 3 * DAY,
            link_data: false,
            body: prost::Message::encode_to_vec(&r),
        })
        .await
        .unwrap();
    store.close().await;
    let after = dir.join("after");
    let (code, _, stderr) = report_json(config, &after);
    assert_eq!(code, 0, "{stderr}");
    let frozen: MonthReport =
        serde_json::from_str(&std::fs::read_to_string(find(&after, "-en.json")).unwrap()).unwrap();
    assert!(frozen.closed);
    let mut a = frozen.clone();
    let mut b = before.clone();
    a.generated_unix_ms = 0;
    b.generated_unix_ms = 0;
    a.closed = false;
    // A later export of the closed month cites the manifest signed at closing, by hash.
    let seal = a
        .seal
        .take()
        .expect("a closed month's export cites its manifest");
    let manifest = std::fs::read(closed.join("MANIFEST.sha256")).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &manifest);
    assert_eq!(
        seal.manifest_sha256.as_deref(),
        Some(hex::encode(digest.as_ref()).as_str())
    );
    assert_eq!(
        a, b,
        "the frozen figures are the ones computed before closing"
    );
    let corrections: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(find(&after, "late-corrections.json")).unwrap(),
    )
    .unwrap();
    let list = corrections["corrections"].as_array().unwrap();
    assert!(
        list.iter()
            .any(|c| c["kind"] == "host" && c["id"] == "h8" && c["field"] == "down_minutes"),
        "{corrections:#}"
    );
}

/// The month in progress, through the real binary: reported up to now (rounded down to a
/// slot), never beyond; coverage of the elapsed time; marked month to date in every format;
/// `--close` refused; next month refused as the future, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_month_is_reported_to_date_and_has_no_slot_after_now() {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let now = jiff::Timestamp::now();
    let local = now.to_zoned_datetime(tz.clone());
    let month = local.strftime("%Y-%m").to_string();
    let first = local.first_of_month().unwrap().start_of_day().unwrap();
    let month_start = first.timestamp().as_millisecond();
    let next_month = first
        .checked_add(jiff::Span::new().months(1))
        .unwrap()
        .strftime("%Y-%m")
        .to_string();
    let now_ms = now.as_millisecond();

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("zerofault.db"))
            .await
            .unwrap(),
    );
    // Two hosts reporting every 5 minutes from a day before the month until now, and a
    // collector running since before the month with a fresh heartbeat: all up so far.
    let world = self::month();
    let plan: Vec<HostPlan> = hosts(&world)
        .into_iter()
        .take(2)
        .map(|h| HostPlan {
            probes: vec![],
            ..h
        })
        .collect();
    for h in &plan {
        let boot_time = month_start - 10 * DAY;
        let mut t = month_start - DAY;
        let mut seq = 1;
        let mut set = tokio::task::JoinSet::new();
        while t <= now_ms - 1_000 {
            let m = Made {
                t,
                boot: 0,
                boot_time,
                sequence: seq,
                received: Some(t + DELAY),
                pending: 0,
                oldest_unsent: 0,
            };
            let r = world.report(h, &m);
            let row = StoredReport {
                agent_id: r.agent_id.clone(),
                boot_id: r.boot_id.clone(),
                sequence: r.sequence,
                agent_timestamp_ms: r.timestamp_unix_ms,
                received_ms: t + DELAY,
                link_data: false,
                body: prost::Message::encode_to_vec(&r),
            };
            let store = store.clone();
            set.spawn(async move { store.insert(row).await.unwrap() });
            seq += 1;
            t += INTERVAL;
        }
        while set.join_next().await.is_some() {}
    }
    let running = store
        .start_run("c1".into(), month_start - 2 * DAY)
        .await
        .unwrap();
    store
        .heartbeat_run(running, zerofault_common::now_unix_ms())
        .await
        .unwrap();
    store.close().await;

    let out = dir.path().join("mtd");
    let (code, stdout, stderr) = run(&[
        "report",
        "--config",
        config.to_str().unwrap(),
        "--month",
        &month,
        "--format",
        "json,csv,xlsx,html",
        "--lang",
        "en",
        "--out",
        out.to_str().unwrap(),
    ]);
    let after_ms = zerofault_common::now_unix_ms();
    if now_ms - month_start < MIN {
        // The first minute of a month: no slot has ended yet.
        assert_eq!(code, 2, "{stdout}\n{stderr}");
        assert!(stderr.contains(&month), "{stderr}");
        return;
    }
    assert_eq!(code, 0, "stdout {stdout}\nstderr {stderr}");
    assert!(
        stderr.contains("month to date, not final"),
        "the command says so: {stderr}"
    );
    let r: MonthReport =
        serde_json::from_str(&std::fs::read_to_string(find(&out, ".json")).unwrap()).unwrap();
    assert!(r.month_to_date && !r.closed);
    let as_of = r.as_of_unix_ms.expect("as_of of a month to date");
    assert!(
        as_of <= after_ms && as_of > now_ms - 2 * MIN && (as_of - month_start) % MIN == 0,
        "as of {as_of}: now rounded down to a slot (now {now_ms})"
    );
    assert_eq!(r.start_unix_ms, month_start);
    assert!(r.end_unix_ms > now_ms, "the month's own end is kept");
    let elapsed = ((as_of - month_start) / MIN) as f64;
    assert_eq!(r.hosts.len(), 2);
    for h in &r.hosts {
        let m = h.figures.minutes;
        assert_eq!(
            m.up + m.degraded + m.down + m.maintenance + m.unknown,
            elapsed,
            "{}: every minute of the month so far, and none after now",
            h.agent_id
        );
        assert_eq!(m.down, 0.0, "{}", h.agent_id);
        // Only the last report interval or two may still be in flight.
        assert!(
            m.unknown <= 2.0 * (INTERVAL / MIN) as f64,
            "{}: {m:?}",
            h.agent_id
        );
        let coverage = h.figures.coverage.unwrap();
        assert!(
            coverage >= 1.0 - (m.unknown + 1.0) / elapsed,
            "{}: coverage {coverage} is of the elapsed time",
            h.agent_id
        );
        assert_eq!(h.figures.availability, Some(1.0));
    }
    assert!(r.incidents.iter().all(|i| i.end_unix_ms <= as_of));
    assert!(r.collector_gaps.iter().all(|g| g.end_unix_ms <= as_of));
    // Every format says so.
    let summary = csv_rows(&find(&out, "-summary.csv"));
    let row = summary
        .iter()
        .find(|r| r["Item"] == "Month to date, not final, as of")
        .unwrap_or_else(|| panic!("a month-to-date row in {summary:?}"));
    assert!(!row["Value"].is_empty());
    let period_end = summary.iter().find(|r| r["Item"] == "Period end").unwrap();
    assert_eq!(
        period_end["Value"], row["Value"],
        "the period ends at as-of"
    );
    let html = std::fs::read_to_string(find(&out, ".html")).unwrap();
    assert!(html.contains("Month to date, not final, as of"));
    let xlsx = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sys, openpyxl\nws = openpyxl.load_workbook(sys.argv[1]).worksheets[0]\nprint([c.value for row in ws.iter_rows() for c in row])",
        ])
        .arg(find(&out, ".xlsx"))
        .output()
        .expect("python3 (apt-get install python3-openpyxl)");
    assert!(
        String::from_utf8_lossy(&xlsx.stdout).contains("Month to date, not final, as of"),
        "{}",
        String::from_utf8_lossy(&xlsx.stderr)
    );
    // Chinese.
    let zh = dir.path().join("zh");
    let (code, _, stderr) = run(&[
        "report",
        "--config",
        config.to_str().unwrap(),
        "--month",
        &month,
        "--format",
        "html",
        "--lang",
        "zh-CN",
        "--out",
        zh.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::read_to_string(find(&zh, ".html"))
            .unwrap()
            .contains("本月截至（非最终）")
    );

    // A month in progress cannot be closed.
    let (code, _, stderr) = run(&[
        "report",
        "--config",
        config.to_str().unwrap(),
        "--month",
        &month,
        "--close",
        "--out",
        dir.path().join("close").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not over yet"), "{stderr}");
    // Next month is the future: a usage error naming it.
    let (code, _, stderr) = run(&[
        "report",
        "--config",
        config.to_str().unwrap(),
        "--month",
        &next_month,
        "--out",
        dir.path().join("future").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&next_month) && stderr.contains("future"),
        "{stderr}"
    );
}

/// The same month imported (`zerofault-collector import`, the documented migration path)
/// into a database with no recorded collector run: the import infers where the source was
/// listening from the reports themselves (backfilled reports carry their spool backlog), so
/// reboot gaps and silence are `down` as in the live month, and the collector's outage is
/// still `unknown`. Same host down minutes, incidents and targets as the live month's export
/// (the golden JSON, checked against the schedule by the test above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_month_imported_without_collector_runs_keeps_its_reboots() {
    let world = expected_world();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    // What reached the live store, as JSON lines: the import holds no receive times.
    let jsonl = dir.path().join("history.jsonl");
    let mut text = String::new();
    for h in &world.hosts {
        for m in made(&world.month, h)
            .iter()
            .filter(|m| m.received.is_some())
        {
            text.push_str(&serde_json::to_string(&world.month.report(h, m)).unwrap());
            text.push('\n');
        }
    }
    std::fs::write(&jsonl, text).unwrap();
    let (code, stdout, stderr) = run(&[
        "import",
        "--config",
        config.to_str().unwrap(),
        jsonl.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stdout {stdout}\nstderr {stderr}");
    assert!(stdout.contains("listening periods inferred: "), "{stdout}");

    // No collector run; the inferred periods leave out the collector's outage (give or take
    // the report interval at its end, where agents without backfill report again).
    let store = SqliteStore::open(&dir.path().join("zerofault.db"))
        .await
        .unwrap();
    assert!(store.collector_runs().await.unwrap().is_empty());
    let listening = store.listening_periods().await.unwrap();
    store.close().await;
    let covers = |a: i64, b: i64| {
        listening
            .iter()
            .any(|p| p.start_unix_ms <= a && b <= p.end_unix_ms)
    };
    assert!(covers(START - DAY, CO.0), "{listening:#?}");
    assert!(covers(CO.1, END + DAY / 2), "{listening:#?}");
    assert!(
        !listening
            .iter()
            .any(|p| p.start_unix_ms < CO.1 - INTERVAL && p.end_unix_ms > CO.0),
        "nothing heard during the outage: {listening:#?}"
    );

    let out = dir.path().join("imported");
    let (code, stdout, stderr) = report_json(&config, &out);
    assert_eq!(code, 0, "stdout {stdout}\nstderr {stderr}");
    let imported: MonthReport =
        serde_json::from_str(&std::fs::read_to_string(find(&out, ".json")).unwrap()).unwrap();
    let live: MonthReport = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sla/2026-02-en.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut bad = Vec::new();
    assert_eq!(imported.hosts.len(), live.hosts.len());
    for (i, l) in imported.hosts.iter().zip(&live.hosts) {
        let (a, b) = (&i.figures, &l.figures);
        if (a.minutes.down, a.minutes.unknown, a.faults, a.target_met)
            != (b.minutes.down, b.minutes.unknown, b.faults, b.target_met)
        {
            bad.push(format!(
                "{}: imported down {} unknown {} faults {} target met {:?}; live {} {} {} {:?}",
                i.agent_id,
                a.minutes.down,
                a.minutes.unknown,
                a.faults,
                a.target_met,
                b.minutes.down,
                b.minutes.unknown,
                b.faults,
                b.target_met
            ));
        }
    }
    for (i, l) in imported.links.iter().zip(&live.links) {
        let (a, b) = (&i.figures, &l.figures);
        if (a.minutes.down, a.faults, a.target_met) != (b.minutes.down, b.faults, b.target_met) {
            bad.push(format!("{}: imported {a:?}; live {b:?}", i.link_id));
        }
    }
    if imported.incidents != live.incidents {
        bad.push(format!(
            "incidents: imported {:#?}; live {:#?}",
            imported.incidents, live.incidents
        ));
    }
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // The figures the issue saw lost: 7 reboots' down minutes, and the incidents.
    let down: f64 = imported.hosts.iter().map(|h| h.figures.minutes.down).sum();
    assert_eq!(down, 15.0 + 3_602.0 + 40.0 + 5.0);
    assert_eq!(imported.incidents.len(), 4);
}
