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
//!   engine's input host by host and link by link in memory, as `month::source` would give
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
//! - `zf-sla-bench make-rollups DIR [--hosts N] [--links N] [--interval-s S]`: the same, but
//!   every report is stored only as its rollups (host figures and link windows), loaded
//!   through the store's rollup update (`rollups.rs`), as a collector holds them once
//!   retention deleted the bodies: what a province-size month looks like on disk.
//! - `zf-sla-bench retire DIR [same flags as make-db]`: one retention pass over a database
//!   `make-db` wrote (`retire.rs`): reports deleted per second and the longest batch.
//!
//! The month itself comes from the workspace's one month generator,
//! `zerofault_tests::month` ([`Synthetic`]), which the SLA ground truth uses too; this file
//! keeps what is the benchmark's own: its arguments, the engine's input, timing and output.
#![forbid(unsafe_code)]

mod retire;
mod rollups;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zerofault_collector::inventory::{Inventory, Named, Scope};
use zerofault_collector::month::export::{self, Format, Lang};
use zerofault_collector::month::sla::MonthBuilder;
use zerofault_collector::month::sla::figures::host_capacity;
use zerofault_collector::month::sla::input::{
    Boot, CapacitySample, FsSample, GroupNames, HostInput, HostReport, Interval, Labels, LinkCell,
    LinkInput, Period, PreviousCapacity, evidence_of_reports,
};
use zerofault_collector::month::sla::model::UnknownLabel;
use zerofault_collector::store::{ReportKey, SqliteStore, Store, StoredReport};
use zerofault_protocol::Report;
use zerofault_tests::month::{DAY, HOUR, HostPlan, S, Synthetic, Usage, host_id};

const MONTH: &str = "2026-01";
/// The month before: the report reads its capacity samples too (storage growth).
const PREVIOUS_MONTH: &str = "2025-12";
const LANG: Lang = Lang::ZhCn;
/// The engine is given reports this close to the month (as `month::source` does).
const EDGE: i64 = DAY;
/// `make-db` stores reports from this long before the previous month.
const DB_BEFORE: i64 = 2 * DAY;
/// Default link thresholds (docs/links.md): a window is degraded from these on.
const DEGRADED_LOSS: f64 = 0.02;
const DEGRADED_RTT_MS: f64 = 100.0;

/// The generated month with its inventory, parsed and validated by the collector's own
/// code.
struct Bench {
    month: Synthetic,
    inventory: Inventory,
    inventory_yaml: String,
}

impl Bench {
    fn new(hosts: usize, links: usize, interval_s: i64) -> anyhow::Result<Bench> {
        let tz_inventory = Inventory::parse("time_zone: Asia/Shanghai\n", Path::new("tz"))?;
        let bounds = tz_inventory.month_bounds(MONTH)?;
        let (previous_start, _) = tz_inventory.month_bounds(PREVIOUS_MONTH)?;
        let month = Synthetic::new(hosts, links, interval_s, bounds, previous_start)?;
        let inventory_yaml = month.inventory_yaml();
        let inventory = Inventory::parse(&inventory_yaml, Path::new("inventory.yaml"))?;
        inventory.validate()?;
        Ok(Bench {
            month,
            inventory,
            inventory_yaml,
        })
    }

    fn labels(&self, h: &HostPlan) -> Labels {
        Labels {
            department: h.department.clone(),
            business_system: h.business_system.clone(),
            data_center: h.data_center.clone(),
            site: self.month.world.topology.sites[h.site].code.clone(),
        }
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
    make_rollups: Option<PathBuf>,
    scan_db: Option<PathBuf>,
    retire: Option<PathBuf>,
    hosts: usize,
    links: usize,
    interval_s: i64,
    out: Option<PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        make_db: None,
        make_rollups: None,
        scan_db: None,
        retire: None,
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
            "make-rollups" => a.make_rollups = Some(value("make-rollups")?.into()),
            "scan-db" => a.scan_db = Some(value("scan-db")?.into()),
            "retire" => a.retire = Some(value("retire")?.into()),
            _ => anyhow::bail!(
                "usage: zf-sla-bench [make-db DIR | make-rollups DIR | scan-db DIR | retire DIR] [--hosts N] [--links N] [--interval-s S] [--out DIR]"
            ),
        }
    }
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let started = Instant::now();
    let world = Bench::new(a.hosts, a.links, a.interval_s)?;
    let setup = started.elapsed();
    if let Some(dir) = &a.make_rollups {
        return rollups::make_rollups(&world, dir);
    }
    if let Some(dir) = &a.retire {
        return retire::retire(&world, dir);
    }
    match (&a.make_db, &a.scan_db) {
        (Some(dir), _) => make_db(&world, dir, setup),
        (_, Some(dir)) => scan_db(&world, dir),
        _ => engine(&world, a.out.as_deref(), setup),
    }
}

/// Maintenance intervals of a host, as `month::source` resolves them.
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

fn engine(bench: &Bench, out: Option<&Path>, setup: Duration) -> anyhow::Result<()> {
    let (s, inv) = (&bench.month, &bench.inventory);
    let (w, topo) = (&s.world, &s.world.topology);
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
        Interval::new(w.start - 10 * DAY, s.collector_down.0),
        Interval::new(s.collector_down.1, now),
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
    let mut behind_hosts: Vec<Vec<String>> = vec![Vec::new(); topo.links.len()];
    for i in 0..s.hosts {
        for l in topo.links_above(i % topo.sites.len()) {
            behind_hosts[l].push(host_id(i));
        }
    }
    let mut behind_links: Vec<Vec<String>> = vec![Vec::new(); topo.links.len()];
    for (k, l) in topo.links.iter().enumerate() {
        for a in topo.links_above(l.from) {
            behind_links[a].push(topo.links[k].id.clone());
        }
    }
    {
        let want = inv.links_behind(&topo.links[0].id);
        let got: std::collections::BTreeSet<String> = behind_links[0].iter().cloned().collect();
        anyhow::ensure!(
            want.links == got,
            "behind-links of {} differ",
            topo.links[0].id
        );
    }

    let previous_period = Period {
        start_ms: s.previous_start,
        end_ms: w.start,
        ..period.clone()
    };
    let mut previous = PreviousCapacity::default();
    let mut b = MonthBuilder::new(period, &runs)?;
    let (mut gen_hosts, mut gen_links) = (Duration::ZERO, Duration::ZERO);
    let (mut add_hosts, mut add_links) = (Duration::ZERO, Duration::ZERO);
    let (mut n_reports, mut n_windows, mut n_samples) = (0u64, 0u64, 0u64);
    let mut unknown: Vec<UnknownLabel> = Vec::new();
    for i in 0..s.hosts {
        let t0 = Instant::now();
        let h = s.host(i);
        let labels = bench.labels(&h);
        let made = h.made(&w.timing, s.previous_start.min(lo), hi);
        let boots = h.boots(&w.timing);
        let iv = w.timing.interval;
        let reports: Vec<HostReport> = made
            .iter()
            .filter(|m| (lo..hi).contains(&m.t))
            .map(|m| HostReport {
                boot: m.boot as u32,
                sequence: m.sequence,
                agent_ms: m.t + h.skew,
                clock_offset_ms: -h.skew,
                interval_ms: iv,
            })
            .collect();
        // One capacity sample per host and hour of the month and the one before (as
        // `month::source` thins them).
        let mut capacity = Vec::with_capacity(1_600);
        let mut last_hour = i64::MIN;
        for m in &made {
            let t = m.t;
            if !(s.previous_start..w.end).contains(&t) || t.div_euclid(HOUR) == last_hour {
                continue;
            }
            last_hour = t.div_euclid(HOUR);
            let u = Usage::of(m.sequence);
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
                        inodes: Some((6_553_600, 6_000_000)),
                    },
                    FsSample {
                        mount: 1,
                        size_bytes: 1 << 40,
                        used_bytes: u.data_used,
                        inodes: None,
                    },
                ],
                cpu_steal: Some(0.01),
                disks: vec![("vda".to_owned(), m.sequence * 100)],
                clock_synchronised: Some(true),
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
            boots: evidence_of_reports(
                &boots
                    .iter()
                    .enumerate()
                    .map(|(k, &bt)| Boot {
                        boot_id: format!("{}-boot-{k}", h.id),
                        boot_time_ms: bt + h.skew,
                    })
                    .collect::<Vec<_>>(),
                &reports,
            ),
            mounts: vec!["/".into(), "/data".into()],
            capacity,
        };
        // The previous month's mean used storage per group, as `month::source` sums it.
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
    for (j, l) in topo.links.iter().enumerate() {
        let t0 = Instant::now();
        let (mut coverage, mut degraded, mut cells) = (Vec::new(), Vec::new(), Vec::new());
        for &v in &s.vantage[j] {
            let h = s.host(v);
            for m in h.made(&w.timing, lo, hi) {
                let (t, boot_time) = (m.t, m.boot_time);
                let p = w.noisy_window(j, t, boot_time);
                if p.sent == 0 {
                    continue;
                }
                let received = p.sent - p.lost.len() as u32;
                let loss = f64::from(p.sent - received) / f64::from(p.sent);
                let span = Interval::new((t - w.timing.interval).max(boot_time), t);
                coverage.push(span);
                if loss >= DEGRADED_LOSS || (received > 0 && p.rtt_ms >= DEGRADED_RTT_MS) {
                    degraded.push(span);
                }
                cells.push(LinkCell::of_window(
                    span.start_ms,
                    span.end_ms,
                    loss,
                    (received > 0).then_some(p.rtt_ms),
                    (received > 1).then_some(p.jitter_ms),
                ));
            }
        }
        n_windows += cells.len() as u64;
        let inv_link = inv.link(&l.id).expect("declared");
        let to = &topo.sites[l.to].code;
        let link = LinkInput {
            link_id: l.id.clone(),
            name: inv_link.name(lang).to_owned(),
            level: l.level.into(),
            domain: l.domain.into(),
            from_site: topo.sites[l.from].code.clone(),
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
            coverage,
            degraded,
            cells,
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
        s.hosts,
        topo.links.len(),
        w.timing.interval / S,
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

fn make_db(bench: &Bench, dir: &Path, setup: Duration) -> anyhow::Result<()> {
    let (s, w) = (&bench.month, &bench.month.world);
    let (db, runtime) = rollups::prepare(bench, dir)?;
    runtime.block_on(async {
        let store = Arc::new(SqliteStore::open(&db).await?);
        let started = Instant::now();
        let (mut n, mut body_bytes) = (0u64, 0u64);
        let mut rows: Vec<StoredReport> = Vec::with_capacity(8_192);
        let (lo, hi) = (s.previous_start - DB_BEFORE, w.end + DAY);
        for i in 0..s.hosts {
            let h = s.host(i);
            for m in h.made(&w.timing, lo, hi) {
                let Some(received) = m.received else { continue };
                let r = w.report(&h, &m);
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
                    rollups::insert_all(&store, std::mem::take(&mut rows)).await?;
                }
            }
        }
        rollups::insert_all(&store, rows).await?;
        rollups::record_runs(store.as_ref(), bench).await?;
        store.close().await;
        let took = started.elapsed();
        let size = std::fs::metadata(&db)?.len()
            + std::fs::metadata(dir.join("zerofault.db-wal")).map_or(0, |m| m.len());
        println!(
            "make-db: {} hosts, {} links, {} s reports, {PREVIOUS_MONTH} and {MONTH} from 2 days before to 1 day after: {n} reports ({} MiB of protobuf bodies, {:.0} B each), inserted in {} s ({:.0} reports/s, setup {} s); database {} MiB",
            s.hosts,
            w.topology.links.len(),
            w.timing.interval / S,
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

/// Reads `DIR/zerofault.db` as `month::source` does (the same `scan_reports` pages, from
/// 3 days before the previous month), once only scanning and once also decoding every body:
/// the two costs under the report's read.
fn scan_db(bench: &Bench, dir: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = SqliteStore::open(&dir.join("zerofault.db")).await?;
        let since = bench.month.previous_start - 3 * DAY;
        let mut took = Vec::new();
        for decode in [false, true] {
            let started = Instant::now();
            let (mut rows, mut bytes, mut windows) = (0u64, 0u64, 0u64);
            let mut after = None;
            loop {
                let page = store
                    .scan_reports(since, after.take(), 2_000, false)
                    .await?;
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
