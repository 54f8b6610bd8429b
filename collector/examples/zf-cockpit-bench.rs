//! Cockpit benchmark helper (`bench/cockpit.sh` drives it).
//!
//! `zf-cockpit-bench world DIR HOSTS LINKS`: writes a province to `DIR/inventory.yaml` and
//! `DIR/zerofault.db`, so that `zerofault-collector serve` on them shows the cockpit at
//! province size:
//!
//! * 90 departments, 30 data centers, two network domains each with a province node, 11
//!   cities, 90 counties and as many townships as make LINKS links in all (one link into
//!   every site but the provinces);
//! * HOSTS hosts at the administrative townships; the first 2 x LINKS hosts each probe one
//!   link (2 vantage points per link);
//! * what an operations center sees on a bad day: two city-county links down (every
//!   vantage point lost the last 2 minutes) with the hosts behind them not reporting; 1 % of
//!   the other hosts down, 0.3 % silent for two days, one department in a maintenance
//!   window now, and a filesystem filling up on some hosts.
//!
//! Hosts report every hour (interval 1 h) so that the world stays as it was made for the
//! three hours a run takes, with no agent running; the down ones last reported four hours
//! before the fill.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use zerofault_collector::store::{SqliteStore, Store, StoredReport};
use zerofault_protocol::{
    Cpu, Filesystem, Labels, LinkResult, LossRun, Memory, PROTOCOL_VERSION, Report, SystemInfo,
};

const CITIES: usize = 11;
const COUNTIES: usize = 90;
const DEPARTMENTS: usize = 90;
const DATA_CENTERS: usize = 30;
/// Hosts report every hour: the world stays still for hours without agents.
const INTERVAL_MS: u32 = 3_600_000;
/// Counties whose city-county link (administrative) is down.
const CUT_COUNTIES: [usize; 2] = [3, 47];
const HOUR: i64 = 3_600_000;

fn townships(links: usize) -> usize {
    (links / 2).saturating_sub(CITIES + COUNTIES).max(1)
}

fn city(domain: &str, c: usize) -> String {
    format!("{domain}-c{c:02}")
}
fn county(domain: &str, k: usize) -> String {
    format!("{domain}-k{k:03}")
}
fn town(domain: &str, t: usize) -> String {
    format!("{domain}-t{t:04}")
}
/// The county of township `t`, and the city of county `k`.
fn county_of(t: usize) -> usize {
    t % COUNTIES
}
fn city_of(k: usize) -> usize {
    k % CITIES
}

/// Every link: (id, from, to, level, domain), the link into each non-root site.
fn links(n: usize) -> Vec<(String, String, String, &'static str, &'static str)> {
    let mut out = Vec::new();
    for (d, domain) in [("adm", "administrative"), ("pub", "public")] {
        let p = format!("{d}-p");
        for c in 0..CITIES {
            out.push((
                format!("{d}-pc{c:02}"),
                p.clone(),
                city(d, c),
                "province-city",
                domain,
            ));
        }
        for k in 0..COUNTIES {
            out.push((
                format!("{d}-ck{k:03}"),
                city(d, city_of(k)),
                county(d, k),
                "city-county",
                domain,
            ));
        }
        for t in 0..townships(n) {
            out.push((
                format!("{d}-kt{t:04}"),
                county(d, county_of(t)),
                town(d, t),
                "county-township",
                domain,
            ));
        }
    }
    out
}

fn inventory(n_links: usize, now_ms: i64) -> String {
    let mut y = String::from(
        "time_zone: Asia/Shanghai\norganisation: {name_zh: 某省大数据发展管理局, name_en: Provincial Big Data Bureau}\ndepartments:\n",
    );
    for i in 0..DEPARTMENTS {
        let _ = writeln!(
            y,
            "  - {{code: dept-{i:02}, name_zh: 第{i:02}委办局, name_en: Department {i:02}}}"
        );
    }
    y.push_str("data_centers:\n");
    for i in 0..DATA_CENTERS {
        let _ = writeln!(
            y,
            "  - {{code: dc-{i:02}, name_zh: 第{i:02}政务云节点, name_en: Cloud node {i:02}, status: in-use}}"
        );
    }
    y.push_str("sites:\n");
    for (d, domain, zh) in [
        ("adm", "administrative", "政务外网"),
        ("pub", "public", "互联网"),
    ] {
        let _ = writeln!(
            y,
            "  - {{code: {d}-p, name_zh: 省{zh}节点, name_en: Province {domain}, level: province, domain: {domain}}}"
        );
        for c in 0..CITIES {
            let _ = writeln!(
                y,
                "  - {{code: {}, name_zh: 第{c:02}市{zh}, name_en: City {c:02} {domain}, level: city, domain: {domain}, parent: {d}-p}}",
                city(d, c)
            );
        }
        for k in 0..COUNTIES {
            let _ = writeln!(
                y,
                "  - {{code: {}, name_zh: 第{k:03}县{zh}, name_en: County {k:03} {domain}, level: county, domain: {domain}, parent: {}}}",
                county(d, k),
                city(d, city_of(k))
            );
        }
        for t in 0..townships(n_links) {
            let _ = writeln!(
                y,
                "  - {{code: {}, name_zh: 第{t:04}镇{zh}, name_en: Town {t:04} {domain}, level: township, domain: {domain}, parent: {}}}",
                town(d, t),
                county(d, county_of(t))
            );
        }
    }
    y.push_str("links:\n");
    for (id, from, to, level, domain) in links(n_links) {
        let _ = writeln!(
            y,
            "  - {{id: {id}, from: {from}, to: {to}, level: {level}, domain: {domain}}}"
        );
    }
    // A maintenance window open now, local time (UTC+8), on one department.
    let start = jiff::Timestamp::from_millisecond(now_ms - HOUR)
        .expect("a time")
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Shanghai").expect("bundled"))
        .strftime("%Y-%m-%d %H:%M")
        .to_string();
    let _ = write!(
        y,
        "maintenance:\n  - scope: {{department: dept-05}}\n    once: {{start: \"{start}\", duration: 3h}}\n    note: 机房搬迁 / data-center move\n"
    );
    y
}

fn report(
    i: usize,
    all_links: &[(String, String, String, &'static str, &'static str)],
    now_ms: i64,
) -> (Report, i64) {
    const GIB: u64 = 1 << 30;
    let t = i % townships(all_links.len());
    let behind_cut = CUT_COUNTIES.contains(&county_of(t));
    let down = behind_cut || i % 100 == 7;
    let silent = i % 300 == 11;
    let received = if silent {
        now_ms - 48 * HOUR
    } else if down {
        now_ms - 4 * HOUR
    } else {
        now_ms
    };
    let window = |l: usize, lost: bool| {
        let (id, _, _, level, domain) = &all_links[l];
        let n = 120;
        LinkResult {
            link_id: id.clone(),
            kind: "icmp".into(),
            target: format!("198.18.{}.{}", l / 250, l % 250 + 1),
            level: (*level).into(),
            domain: (*domain).into(),
            window_start_unix_ms: now_ms - n * 1_000,
            window_end_unix_ms: now_ms,
            probe_interval_ms: 1_000,
            sent: n as u32,
            received: if lost { 0 } else { n as u32 },
            loss_ratio: if lost { 1.0 } else { 0.0 },
            rtt_avg_seconds: if lost {
                0.0
            } else {
                0.002 + (l % 7) as f64 * 0.001
            },
            rtt_max_seconds: if lost { 0.0 } else { 0.006 },
            jitter_seconds: if lost { 0.0 } else { 0.0003 },
            loss_runs: if lost {
                vec![LossRun {
                    first_lost_unix_ms: now_ms - n * 1_000,
                    last_lost_unix_ms: now_ms - 1_000,
                    count: n as u32,
                    open_start: true,
                    open_end: true,
                }]
            } else {
                Vec::new()
            },
            first_probe_unix_ms: now_ms - n * 1_000,
            last_probe_unix_ms: now_ms - 1_000,
            ..Default::default()
        }
    };
    let probes = if i < all_links.len() * 2 && !down && !silent {
        let l = i / 2;
        let cut = all_links[l].0.starts_with("adm-ck")
            && CUT_COUNTIES
                .iter()
                .any(|k| all_links[l].0 == format!("adm-ck{k:03}"));
        vec![window(l, cut)]
    } else {
        Vec::new()
    };
    let r = Report {
        protocol_version: PROTOCOL_VERSION,
        agent_id: format!("host-{i:05}"),
        hostname: format!("host-{i:05}.gov.example"),
        boot_id: format!("00000000-0000-4000-8000-{i:012}"),
        boot_time_unix_seconds: 1_760_000_000,
        sequence: 1,
        timestamp_unix_ms: received,
        interval_ms: INTERVAL_MS,
        labels: Some(Labels {
            department: format!("dept-{:02}", i % DEPARTMENTS),
            business_system: String::new(),
            datacenter: format!("dc-{:02}", i % DATA_CENTERS),
            site: town("adm", t),
        }),
        system: Some(SystemInfo {
            os_name: "Kylin".into(),
            os_version: "V10".into(),
            kernel_version: "4.19.90".into(),
            uptime_seconds: 86_400,
        }),
        cpu: Some(Cpu {
            logical_cores: 8,
            physical_cores: 4,
            usage_ratio: (i % 90) as f64 / 100.0,
            load1: 1.0,
            ..Default::default()
        }),
        memory: Some(Memory {
            total_bytes: 16 * GIB,
            used_bytes: (4 + (i % 10) as u64) * GIB,
            ..Default::default()
        }),
        filesystems: ["/", "/var", "/data"]
            .iter()
            .enumerate()
            .map(|(n, m)| Filesystem {
                mount_point: (*m).into(),
                device: format!("/dev/vda{}", n + 1),
                fs_type: "xfs".into(),
                size_bytes: 200 * GIB,
                used_bytes: (20 + ((i * 7 + n * 13) % 170) as u64) * GIB,
                available_bytes: 10 * GIB,
                ..Default::default()
            })
            .collect(),
        links: probes,
        agent_version: "0.1.0".into(),
        ..Default::default()
    };
    (r, received)
}

async fn world(dir: &Path, hosts: usize, n_links: usize) -> anyhow::Result<()> {
    let db = dir.join("zerofault.db");
    anyhow::ensure!(!db.exists(), "{} exists already", db.display());
    let now = zerofault_common::now_unix_ms();
    let all_links = links(n_links);
    std::fs::write(dir.join("inventory.yaml"), inventory(n_links, now))?;
    let store = Arc::new(SqliteStore::open(&db).await?);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..hosts {
        let (r, received) = report(i, &all_links, now);
        let row = StoredReport {
            agent_id: r.agent_id.clone(),
            boot_id: r.boot_id.clone(),
            sequence: r.sequence,
            agent_timestamp_ms: r.timestamp_unix_ms,
            received_ms: received,
            body: prost::Message::encode_to_vec(&r),
            link_data: !r.links.is_empty(),
        };
        let store = store.clone();
        set.spawn(async move { store.insert(row).await });
        // Group commit takes what is queued; a bounded queue keeps memory flat.
        if set.len() >= 4_096 {
            set.join_next().await.expect("a task")??;
        }
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    // A collector that ran through the last two days: no collector gap in the month.
    let run = store.start_run("bench".into(), now - 48 * HOUR).await?;
    store.heartbeat_run(run, now).await?;
    store.stop_run(run, now).await?;
    println!(
        "world in {}: {hosts} hosts, {} links, {} sites, {:.1} s",
        dir.display(),
        all_links.len(),
        all_links.len() + 2,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("world") if args.len() == 5 => {
            world(Path::new(&args[2]), args[3].parse()?, args[4].parse()?).await
        }
        _ => anyhow::bail!("usage: zf-cockpit-bench world DIR HOSTS LINKS"),
    }
}
