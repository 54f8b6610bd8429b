//! `/metrics` benchmark helper (`bench/metrics-scale.sh` drives it).
//!
//! `zf-metrics-bench fill DB HOSTS LINKS`: stores one report per host into a new SQLite
//! store `DB` through the collector's store, received now, so that `zerofault-collector
//! serve` on it warms a host table of HOSTS hosts and a link engine of LINKS links (each
//! probed by 2 agents). Every row is flagged as link data so that the start-up replay feeds
//! every report to the interface tracker, as a collector that received them live would
//! have: the exposition then has the network-uptime series of a collector in steady state.
//!
//! `zf-metrics-bench render HOSTS LINKS`: the same host table built in memory, rendered
//! with full detail the way `/metrics` did before it was streamed (one `String` of the
//! whole exposition): its size, the time and the process's peak RSS before and after, so
//! the figure of the old path is measured on the same input.
//!
//! A host here is a government-cloud VM as the agent reports it: 4 filesystems (`/`,
//! `/boot`, `/var`, `/data`), 4 interfaces (`lo`, `eth0`, `eth1`, `docker0`), CPU, memory,
//! agent statistics with 2 kinds of send errors, labels among 90 departments, 660 business
//! systems, 30 data centers and 200 sites.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Instant;

use zerofault_collector::config::Links;
use zerofault_collector::http::render;
use zerofault_collector::live::hosts::{HostTable, IngestCounters};
use zerofault_collector::live::links::LinkHub;
use zerofault_collector::store::{SqliteStore, Store, StoredReport};
use zerofault_protocol::{
    AgentStats, Cpu, ErrorCount, Filesystem, Interface, Labels, LinkResult, Memory,
    PROTOCOL_VERSION, Report, SystemInfo,
};

/// Agents probing each link.
const VANTAGES_PER_LINK: usize = 2;

fn report(i: usize, links: usize, now_ms: i64) -> Report {
    let agent_id = format!("host-{i:05}");
    let g = |n: usize| (i * 7919 + n) as u64;
    Report {
        protocol_version: PROTOCOL_VERSION,
        hostname: format!("{agent_id}.gov.example"),
        agent_id,
        boot_id: format!("00000000-0000-4000-8000-{i:012}"),
        boot_time_unix_seconds: 1_760_000_000 + i as i64,
        sequence: 1,
        timestamp_unix_ms: now_ms,
        interval_ms: 15_000,
        labels: Some(Labels {
            department: format!("dept-{:02}", i % 90),
            business_system: format!("sys-{:03}", i % 660),
            datacenter: format!("dc-{:02}", i % 30),
            site: format!("site-{:03}", i % 200),
        }),
        system: Some(SystemInfo {
            os_name: "Debian GNU/Linux".into(),
            os_version: "12".into(),
            kernel_version: "6.1.0-26-amd64".into(),
            ..Default::default()
        }),
        cpu: Some(Cpu {
            logical_cores: 8,
            usage_ratio: (i % 100) as f64 / 100.0,
            load1: 1.25,
            load5: 1.5,
            load15: 1.75,
            ..Default::default()
        }),
        memory: Some(Memory {
            total_bytes: 16 << 30,
            used_bytes: g(1) % (16 << 30),
            available_bytes: (16 << 30) - g(1) % (16 << 30),
            swap_total_bytes: 2 << 30,
            swap_used_bytes: g(2) % (1 << 30),
        }),
        filesystems: [
            ("/", "/dev/vda1", 50u64),
            ("/boot", "/dev/vda2", 1),
            ("/var", "/dev/vdb1", 200),
            ("/data", "/dev/vdc1", 2_000),
        ]
        .iter()
        .enumerate()
        .map(|(n, (m, d, gib))| {
            let size = gib << 30;
            let used = g(n + 3) % size;
            Filesystem {
                mount_point: (*m).into(),
                device: (*d).into(),
                fs_type: "ext4".into(),
                size_bytes: size,
                used_bytes: used,
                available_bytes: size - used,
                ..Default::default()
            }
        })
        .collect(),
        interfaces: ["lo", "eth0", "eth1", "docker0"]
            .iter()
            .enumerate()
            .map(|(n, name)| Interface {
                name: (*name).into(),
                oper_state: if n == 0 { "unknown" } else { "up" }.into(),
                carrier: Some(true),
                speed_bits_per_second: if n == 1 || n == 2 { 10_000_000_000 } else { 0 },
                receive_bytes: g(n + 10) * 1_000_003,
                transmit_bytes: g(n + 20) * 900_007,
                receive_packets: g(n + 30) * 1_009,
                transmit_packets: g(n + 40) * 907,
                receive_errors: g(n) % 3,
                ..Default::default()
            })
            .collect(),
        links: if i < links * VANTAGES_PER_LINK {
            let l = i / VANTAGES_PER_LINK;
            vec![LinkResult {
                link_id: format!("link-{l:05}"),
                kind: "icmp".into(),
                target: format!("198.18.{}.{}", l / 250, l % 250 + 1),
                level: ["province-city", "city-county", "county-township", "access"][l % 4].into(),
                domain: ["administrative", "public"][l % 2].into(),
                window_start_unix_ms: now_ms - 15_000,
                window_end_unix_ms: now_ms,
                probe_interval_ms: 1_000,
                sent: 15,
                received: 15,
                rtt_min_seconds: 0.001,
                rtt_avg_seconds: 0.002,
                rtt_max_seconds: 0.004,
                rtt_p50_seconds: 0.002,
                rtt_p95_seconds: 0.0035,
                jitter_seconds: 0.0003,
                first_probe_unix_ms: now_ms - 15_000,
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        agent_stats: Some(AgentStats {
            spool_bytes: 4096,
            spool_reports: 1,
            oldest_unsent_unix_ms: 0,
            send_errors_total: ["connect", "timeout"]
                .map(|k| ErrorCount {
                    kind: k.into(),
                    count: (i % 5) as u32,
                })
                .to_vec(),
            ..Default::default()
        }),
        agent_version: "0.1.0".into(),
        ..Default::default()
    }
}

/// Peak and current RSS of this process, MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn fill(db: &str, hosts: usize, links: usize) -> anyhow::Result<()> {
    anyhow::ensure!(!std::path::Path::new(db).exists(), "{db} exists already");
    let store = Arc::new(SqliteStore::open(std::path::Path::new(db)).await?);
    let now = zerofault_common::now_unix_ms();
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..hosts {
        let r = report(i, links, now);
        let row = StoredReport {
            agent_id: r.agent_id.clone(),
            boot_id: r.boot_id.clone(),
            sequence: r.sequence,
            agent_timestamp_ms: r.timestamp_unix_ms,
            received_ms: now,
            body: prost::Message::encode_to_vec(&r),
            link_data: true,
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
    store.start_run("bench".into(), now).await?;
    println!(
        "filled {db}: {hosts} hosts, {links} links x {VANTAGES_PER_LINK} vantage points, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn render_whole(hosts: usize, links: usize) {
    let now = zerofault_common::now_unix_ms();
    let table = HostTable::default();
    let hub = LinkHub::new(Links::default());
    for i in 0..hosts {
        let r = report(i, links, now);
        hub.observe_report(&r);
        // Through the delivery ledger, as ingest does: the delivery families are there too.
        table.record_stored(r, now);
    }
    let snapshot = table.snapshot();
    drop(table);
    let links = hub.snapshot();
    drop(hub);
    let (_, before) = rss_mib();
    let started = Instant::now();
    let text = render(&snapshot, &IngestCounters::default(), &links, now, 3);
    let secs = started.elapsed().as_secs_f64();
    let (peak, after) = rss_mib();
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "whole-string render (the pre-streaming path), full detail: {hosts} hosts, {series} series, \
         {} bytes, {secs:.2} s; RSS before {before:.1} MiB (host table copy and link views held), \
         after {after:.1} MiB, peak {peak:.1} MiB",
        text.len()
    );
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: zf-metrics-bench fill DB HOSTS LINKS | render HOSTS LINKS";
    match args.get(1).map(String::as_str) {
        Some("fill") if args.len() == 5 => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(fill(&args[2], args[3].parse()?, args[4].parse()?))
        }
        Some("render") if args.len() == 4 => {
            render_whole(args[2].parse()?, args[3].parse()?);
            Ok(())
        }
        _ => anyhow::bail!("{usage}"),
    }
}
