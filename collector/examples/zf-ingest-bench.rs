//! Ingest benchmark client (`bench/ingest.sh` drives it): N concurrent mTLS clients, one
//! agent identity each, post unique encoded reports as fast as acknowledgements come, and
//! the tool prints reports/s and samples/s of durable (2xx after commit) acknowledgements.
//!
//! Usage: zf-ingest-bench URL CERT_DIR CLIENTS REPORTS_PER_CLIENT LINKS [AMPLIFIERS]
//! `CERT_DIR` holds `ca.pem` and `agents/bench-<i>.{pem,key}` (from `zerofault-collector
//! certs`). With `CLIENTS` = 1 this is the sequential drain of one agent's backlog.
//! `AMPLIFIERS` more clients (`bench-<CLIENTS + i>`) meanwhile send, back to back until the
//! others finish, an 8 MiB protobuf of 4,194,304 empty link entries compressed to a few
//! hundred bytes (issue 11): each must be refused with 400, and the script reads the
//! collector's peak RSS with and without them.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zerofault_protocol::{
    AgentStats, CONTENT_TYPE, Cpu, Filesystem, Interface, Labels, LinkResult, Memory,
    PROTOCOL_VERSION, Report, VERSION_HEADER, encode_report,
};

fn client(dir: &str, agent: &str) -> anyhow::Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(format!("{dir}/ca.pem"))? {
        roots.add(c?)?;
    }
    let chain = CertificateDer::pem_file_iter(format!("{dir}/agents/{agent}.pem"))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/agents/{agent}.key"))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(std::time::Duration::from_secs(30))
        .build()?)
}

/// A report like a link-probing agent's: 2 filesystems, 2 interfaces, `links` link windows.
fn report(agent: &str, sequence: u64, links: usize) -> Report {
    let ts = 1_700_000_000_000 + sequence as i64 * 15_000;
    Report {
        protocol_version: PROTOCOL_VERSION,
        agent_id: agent.into(),
        hostname: format!("{agent}.bench"),
        boot_id: "00000000-0000-4000-8000-000000000001".into(),
        boot_time_unix_seconds: 1_690_000_000,
        sequence,
        timestamp_unix_ms: ts,
        interval_ms: 15_000,
        labels: Some(Labels {
            department: "fgw".into(),
            business_system: "oa".into(),
            datacenter: "dc-north".into(),
            site: "city-gz".into(),
        }),
        cpu: Some(Cpu {
            logical_cores: 8,
            usage_ratio: 0.25,
            load1: 1.0,
            load5: 1.0,
            load15: 1.0,
            ..Default::default()
        }),
        memory: Some(Memory {
            total_bytes: 16 << 30,
            used_bytes: 6 << 30,
            available_bytes: 10 << 30,
            swap_total_bytes: 2 << 30,
            swap_used_bytes: 0,
        }),
        filesystems: ["/", "/data"]
            .iter()
            .map(|m| Filesystem {
                mount_point: (*m).into(),
                device: "/dev/vda1".into(),
                fs_type: "ext4".into(),
                size_bytes: 100 << 30,
                used_bytes: 40 << 30,
                available_bytes: 60 << 30,
                ..Default::default()
            })
            .collect(),
        interfaces: ["eth0", "eth1"]
            .iter()
            .map(|n| Interface {
                name: (*n).into(),
                receive_bytes: sequence * 1000,
                transmit_bytes: sequence * 900,
                receive_packets: sequence * 10,
                transmit_packets: sequence * 9,
                ..Default::default()
            })
            .collect(),
        links: (0..links)
            .map(|i| LinkResult {
                link_id: format!("link-{i:03}"),
                kind: "icmp".into(),
                target: format!("198.18.{}.{}", i / 250, i % 250 + 1),
                level: "city-county".into(),
                domain: "public".into(),
                window_start_unix_ms: ts - 15_000,
                window_end_unix_ms: ts,
                probe_interval_ms: 1_000,
                sent: 15,
                received: 15,
                rtt_min_seconds: 0.001,
                rtt_avg_seconds: 0.002,
                rtt_max_seconds: 0.004,
                rtt_p50_seconds: 0.002,
                rtt_p95_seconds: 0.0035,
                jitter_seconds: 0.0003,
                first_probe_unix_ms: ts - 15_000,
                ..Default::default()
            })
            .collect(),
        agent_stats: Some(AgentStats::default()),
        agent_version: "bench".into(),
        ..Default::default()
    }
}

/// Metric values in a report of this shape: cpu 5, memory 5, 3 per filesystem, 8 counters
/// per interface, 10 per link window (sent, received, loss, rtt min/avg/max/p50/p95, jitter,
/// missed ticks), agent stats 6.
fn samples(links: usize) -> u64 {
    (5 + 5 + 2 * 3 + 2 * 8 + links * 10 + 6) as u64
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 6 || args.len() == 7,
        "usage: zf-ingest-bench URL CERT_DIR CLIENTS REPORTS_PER_CLIENT LINKS [AMPLIFIERS]"
    );
    let amplifiers: usize = args.get(6).map_or(Ok(0), |a| a.parse())?;
    let url = format!("{}{}", args[1], zerofault_protocol::INGEST_PATH);
    let dir = args[2].clone();
    let clients: usize = args[3].parse()?;
    let per_client: u64 = args[4].parse()?;
    let links: usize = args[5].parse()?;
    let body_len = encode_report(&report("bench-0", 1, links)).len();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let agent = format!("bench-{c}");
        let http = client(&dir, &agent)?;
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut stored = 0u64;
            for seq in 1..=per_client {
                // Encoded per request, as an agent does; not timed apart.
                let body = encode_report(&report(&agent, seq, links));
                let resp = http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                    .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(
                    resp.status().is_success(),
                    "{agent} seq {seq}: {}",
                    resp.status()
                );
                let text = resp.text().await?;
                if text.contains("\"stored\"") {
                    stored += 1;
                }
            }
            Ok(stored)
        }));
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let amplification = {
        // Tag 15 (links), wire type 2, length 0: two bytes per empty entry.
        let raw: Vec<u8> = std::iter::repeat_n([0x7a_u8, 0x00], 4_194_304)
            .flatten()
            .collect();
        zstd::bulk::compress(&raw, 19)?
    };
    let mut amp_tasks = Vec::new();
    for a in 0..amplifiers {
        let agent = format!("bench-{}", clients + a);
        let http = client(&dir, &agent)?;
        let (url, body, done) = (url.clone(), amplification.clone(), done.clone());
        amp_tasks.push(tokio::spawn(async move {
            let mut refused = 0u64;
            // Bounded by the good clients' run: they finish in seconds.
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let resp = http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                    .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
                    .body(body.clone())
                    .send()
                    .await?;
                anyhow::ensure!(
                    resp.status() == reqwest::StatusCode::BAD_REQUEST,
                    "{agent}: amplification body answered {}",
                    resp.status()
                );
                refused += 1;
            }
            Ok(refused)
        }));
    }
    let mut stored = 0;
    for t in tasks {
        stored += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut refused = 0;
    for t in amp_tasks {
        refused += t.await??;
    }
    if amplifiers > 0 {
        println!(
            "amplifiers={amplifiers} amplification_body_bytes={} refused_400={refused}",
            amplification.len()
        );
    }
    let total = clients as u64 * per_client;
    println!(
        "clients={clients} reports={total} stored={stored} links={links} body_bytes={body_len} \
         samples_per_report={} seconds={secs:.2} reports_per_s={:.0} samples_per_s={:.0}",
        samples(links),
        total as f64 / secs,
        (total * samples(links)) as f64 / secs,
    );
    anyhow::ensure!(
        stored == total,
        "only {stored} of {total} were newly stored"
    );
    Ok(())
}
