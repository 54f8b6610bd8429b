//! Load generator (`bench/load.sh` drives it; issue 13, item 7): N simulated agents, each with
//! its own client certificate, post realistic reports to one or more collectors at their
//! interval over kept-alive mTLS connections, as real agents do, and the tool prints what was
//! acknowledged (stored / duplicate), the acknowledgement latency percentiles and the rate
//! achieved, per progress period and as one machine-readable summary line.
//!
//! Modes: the default sends reports; `--idle` only opens each agent's connection and
//! exchanges one request that stores nothing, then holds it, to measure the collector's
//! memory per idle connection (`--collector-pid`); `--victoria-metrics ADDR` sends the same
//! samples to VictoriaMetrics instead, for the ratio.
//!
//! Certificates are signed in memory with the CA of `--certs-dir` (made by
//! `zerofault-collector certs`), the same certificates `certs --agent` writes, so 50,000
//! identities take seconds and no files.
#![forbid(unsafe_code)]

mod agent;
mod report;
mod stats;
mod vm;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Parser;
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::mpsc;
use tokio::time::Instant;
use zerofault_collector::cmd::certs::{DEFAULT_LEAF_DAYS, ensure_ca};

use agent::{Connection, Target};
use report::{Agent, LinkPlan, Rng, unix_ms};
use stats::{Stats, rss_kib};

/// Simulated zerofault agents against real collectors.
#[derive(Debug, Parser)]
struct Args {
    /// Collector ingest URL, https://IP:PORT; repeatable: agent i starts with the
    /// (i mod n)-th and fails over to the others in turn, as the agent's `collector.urls`.
    #[arg(
        long = "collector",
        value_name = "URL",
        default_value = "https://127.0.0.1:7443"
    )]
    collectors: Vec<String>,
    /// Directory with ca.pem and ca.key (from `zerofault-collector certs`).
    #[arg(long, value_name = "DIR")]
    certs_dir: PathBuf,
    /// Number of simulated agents.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Report interval, seconds.
    #[arg(long, default_value_t = 15.0)]
    interval: f64,
    /// Seconds during which reports are made (from the start of the ramp).
    #[arg(long, default_value_t = 120.0)]
    duration: f64,
    /// Agents start at uniform random times within this many seconds (default: one
    /// interval), so the load is smooth; a longer ramp spreads the TLS handshakes.
    #[arg(long)]
    ramp: Option<f64>,
    /// Share of agents whose reports carry link windows.
    #[arg(long, default_value_t = 0.1)]
    link_share: f64,
    /// Link windows per report of a probing agent.
    #[arg(long, default_value_t = 4)]
    links_per_agent: usize,
    /// Vantage points per link: probing agents share links this many to one.
    #[arg(long, default_value_t = 2)]
    vantage_points: usize,
    /// Share of acknowledged reports sent once more, which must be acknowledged `duplicate`.
    #[arg(long, default_value_t = 0.0)]
    duplicate_share: f64,
    /// The collector's `limits.connection_idle_timeout` in seconds, when it is shorter than
    /// the interval: the collector then closes each agent's connection between reports and
    /// every report opens a new one (its TLS session resumed), so only about
    /// agents x (timeout + 1 s) / interval connections are open at once, which is what this
    /// process's open-file limit must hold.
    #[arg(long)]
    collector_idle_timeout: Option<f64>,
    /// Source addresses 127.0.0.2 .. 127.0.0.(N+1), agents spread over them: ports for
    /// many connections, and under the collector's `max_handshakes_per_address`.
    #[arg(long, default_value_t = 64)]
    source_addrs: u8,
    /// Agent ids are PREFIX-00000 ...
    #[arg(long, default_value = "load")]
    id_prefix: String,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 10.0)]
    progress: f64,
    /// The collector's pid, to print its RSS in progress lines and for `--idle`.
    #[arg(long)]
    collector_pid: Option<u32>,
    /// Only open every agent's connection (one request that stores nothing) and hold it.
    #[arg(long)]
    idle: bool,
    /// With `--idle`: keep the connections open this many seconds after the measurement
    /// (e.g. to look at the collector from outside meanwhile).
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    /// Send the same samples to VictoriaMetrics at this address (IP:PORT) instead.
    #[arg(long, value_name = "ADDR")]
    victoria_metrics: Option<SocketAddr>,
    /// Seed of report values and start times.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write every acknowledged report here at the end, one CSV line each: agent id, boot
    /// id, sequence, `stored` or `duplicate` (to check against the database report by
    /// report). Holds ~80 bytes per report in memory until then: for bench-sized runs.
    #[arg(long, value_name = "FILE")]
    acked_out: Option<PathBuf>,
}

/// The timing every agent follows.
#[derive(Debug, Clone, Copy)]
struct Plan {
    t0: Instant,
    t0_unix_ms: i64,
    interval: Duration,
    ramp: Duration,
    end: Instant,
    /// Retries stop then: the run ends within a bounded time whatever the collector does.
    give_up_at: Instant,
    duplicate_share: f64,
}

/// Where an agent's reports go.
enum Sink {
    Collector(Connection),
    Victoria(mpsc::Sender<vm::Lines>),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.agents > 0 && args.interval >= 0.1,
        "need agents and an interval"
    );
    anyhow::ensure!(
        args.source_addrs > 0 && args.source_addrs < 250,
        "--source-addrs 1..=249"
    );
    let open_share = args
        .collector_idle_timeout
        .map_or(1.0, |t| ((t + 1.0) / args.interval).min(1.0));
    let concurrent = (args.agents as f64 * open_share).ceil() as u64;
    raise_nofile(args.agents as u64 * 2 + 4096, concurrent + 256)?;
    let interval = Duration::from_secs_f64(args.interval);
    let ramp = Duration::from_secs_f64(args.ramp.unwrap_or(args.interval));
    let targets: Arc<[Target]> = args
        .collectors
        .iter()
        .map(|u| Target::parse(u))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into();
    let acked = args
        .acked_out
        .is_some()
        .then(|| Arc::new(std::sync::Mutex::new(Vec::<String>::new())));

    let made = Instant::now();
    let configs = if args.victoria_metrics.is_none() {
        client_configs(&args)?
    } else {
        Vec::new()
    };
    eprintln!(
        "zf-load: {} agent identities ready in {:.1} s",
        configs.len(),
        made.elapsed().as_secs_f64()
    );

    let probing = ((args.agents as f64 * args.link_share).round() as usize).min(args.agents);
    let plan_links = LinkPlan {
        per_agent: args.links_per_agent,
        distinct: (probing * args.links_per_agent / args.vantage_points.max(1)).max(1),
    };
    let rss_before = args.collector_pid.map_or((0, 0), rss_kib);
    let stats = Arc::new(Stats::new());
    let t0 = stats.started;
    let duration = Duration::from_secs_f64(args.duration);
    let plan = Plan {
        t0,
        t0_unix_ms: unix_ms(),
        interval,
        ramp,
        end: t0 + duration,
        give_up_at: t0 + duration + Duration::from_secs(60),
        duplicate_share: args.duplicate_share,
    };
    let (vm_tx, batcher) = match args.victoria_metrics {
        Some(addr) => {
            let (tx, rx) = mpsc::channel(1 << 20);
            (
                Some(tx),
                Some(tokio::spawn(vm::batcher(addr, rx, stats.clone()))),
            )
        }
        None => (None, None),
    };

    let mut rng = Rng::new(args.seed, u64::MAX);
    let idle_done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let mut configs = configs.into_iter();
    for i in 0..args.agents {
        let id = agent_id(&args.id_prefix, i);
        // Probing agents are spread evenly over the index range (and so over sources).
        let probes = (i * probing) / args.agents != ((i + 1) * probing) / args.agents;
        let sim = Agent::new(i, id, args.seed, ms(interval), probes, plan_links);
        let sink = match &vm_tx {
            Some(tx) => Sink::Victoria(tx.clone()),
            None => {
                let source = IpAddr::V4(Ipv4Addr::new(
                    127,
                    0,
                    0,
                    2 + (i % usize::from(args.source_addrs)) as u8,
                ));
                let tls = configs.next().expect("one config per agent");
                Sink::Collector(Connection::new(tls, source, targets.clone(), i))
            }
        };
        let offset = Duration::from_secs_f64(ramp.as_secs_f64() * rng.unit());
        let agent_rng = Rng::new(args.seed ^ 0xA5A5, i as u64);
        let (stats, idle_done) = (stats.clone(), idle_done.clone());
        if args.idle {
            tasks.spawn(hold_idle(sink, plan, offset, stats, idle_done));
        } else {
            tasks.spawn(run_agent(
                sim,
                sink,
                plan,
                offset,
                agent_rng,
                stats,
                acked.clone(),
            ));
        }
    }
    drop(vm_tx);

    let progress = Duration::from_secs_f64(args.progress.max(1.0));
    let mut next = t0 + progress;
    if args.idle {
        // Every connection open and past its request, before the collector's 30 s header
        // timeout closes the first ones (the ramp must be shorter than that).
        let deadline = t0 + ramp + agent::ATTEMPT_TIMEOUT;
        while idle_done.load(Ordering::Relaxed) < args.agents as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Let the collector finish its side of the last exchanges.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let open = stats.open.load(Ordering::Relaxed);
        let rss = args.collector_pid.map_or((0, 0), rss_kib);
        let per = (rss.0 as f64 - rss_before.0 as f64) * 1024.0 / open.max(1) as f64;
        println!(
            "zf-load idle agents={} open={open} connects={} seconds_to_open={:.1} errors={} \
             errors_by_kind={} collector_rss_before_kib={} collector_rss_idle_kib={} \
             bytes_per_idle_connection={per:.0}",
            args.agents,
            stats.connects.load(Ordering::Relaxed),
            t0.elapsed().as_secs_f64() - 1.0,
            stats.errors_total(),
            stats.errors_by_kind(),
            rss_before.0,
            rss.0,
        );
        if args.hold > 0.0 {
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
        }
        tasks.abort_all();
        return Ok(());
    }

    let mut last_acks = 0u64;
    while !tasks.is_empty() {
        tokio::select! {
            _ = tasks.join_next() => {}
            () = tokio::time::sleep_until(next) => {
                let acks = stats.stored.load(Ordering::Relaxed) + stats.duplicate.load(Ordering::Relaxed);
                let from = ms(next.duration_since(t0).saturating_sub(progress));
                let w = stats.window(from, ms(next.duration_since(t0)));
                let rss = args.collector_pid.map_or((0, 0), rss_kib);
                println!(
                    "zf-load t={:.0}s acks_per_s={:.0} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} open={} \
                     errors={} failovers={} collector_rss_mib={:.1}",
                    next.duration_since(t0).as_secs_f64(),
                    (acks - last_acks) as f64 / progress.as_secs_f64(),
                    w.p50_ms, w.p99_ms, w.max_ms,
                    stats.open.load(Ordering::Relaxed),
                    stats.errors_total(),
                    stats.failovers.load(Ordering::Relaxed),
                    rss.0 as f64 / 1024.0,
                );
                last_acks = acks;
                next += progress;
            }
        }
    }
    if let Some(b) = batcher {
        b.await?;
    }
    if let (Some(path), Some(acked)) = (&args.acked_out, &acked) {
        let lines = acked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::fs::write(path, lines.concat())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    summary(&args, &stats, plan, probing);
    Ok(())
}

fn agent_id(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:05}")
}

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// One client TLS configuration per agent, its certificate signed now with the CA of
/// `--certs-dir`, on all cores (50,000 keys and signatures take a few core-seconds).
fn client_configs(args: &Args) -> anyhow::Result<Vec<Arc<rustls::ClientConfig>>> {
    let dir = &args.certs_dir;
    // ensure_ca would make a new CA in an empty directory: certificates the collector
    // rejects. The CA must be the collector's.
    anyhow::ensure!(
        dir.join("ca.pem").is_file() && dir.join("ca.key").is_file(),
        "{} has no ca.pem and ca.key: run `zerofault-collector certs --dir {}` first",
        dir.display(),
        dir.display()
    );
    let ca = ensure_ca(dir)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("ca.pem"))? {
        roots.add(c?)?;
    }
    let roots = Arc::new(roots);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = args.agents.div_ceil(threads);
    let results: Vec<anyhow::Result<Vec<_>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (ca, roots, provider) = (&ca, &roots, &provider);
                s.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(args.agents))
                        .map(|i| {
                            let (cert, key) =
                                ca.sign_agent(&agent_id(&args.id_prefix, i), DEFAULT_LEAF_DAYS)?;
                            let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes())?];
                            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())?;
                            let mut config =
                                rustls::ClientConfig::builder_with_provider(provider.clone())
                                    .with_safe_default_protocol_versions()?
                                    .with_root_certificates(roots.clone())
                                    .with_client_auth_cert(chain, key)?;
                            config.alpn_protocols = vec![b"http/1.1".to_vec()];
                            // One collector per agent: room for its tickets only. The default
                            // cache (32 servers) is allocated up front, ~16 KB per agent here.
                            config.resumption = rustls::client::Resumption::in_memory_sessions(8);
                            Ok(Arc::new(config))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("signing thread panicked")))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(args.agents);
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Raises this process's descriptor limit towards `want` (one descriptor per connection;
/// 50,000 is far above the usual 1,024 or 20,000). The hard limit can only be raised with
/// CAP_SYS_RESOURCE: without it the soft limit goes up to the hard one, and the run is
/// refused when that cannot hold `need` connections.
fn raise_nofile(want: u64, need: u64) -> anyhow::Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current.is_none_or(|c| c >= want) {
        return Ok(());
    }
    let raised = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: Some(now.maximum.map_or(want, |h| h.max(want))),
        },
    );
    if raised.is_ok() {
        return Ok(());
    }
    let hard = now.maximum.unwrap_or(want);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard),
            maximum: now.maximum,
        },
    )
    .map_err(|e| anyhow::anyhow!("cannot raise RLIMIT_NOFILE to {hard}: {e}"))?;
    anyhow::ensure!(
        hard >= need,
        "the open-file limit is {hard} and cannot be raised (no CAP_SYS_RESOURCE): too few \
         for {need} connections; run several generators with fewer agents each"
    );
    eprintln!("zf-load: open-file limit {hard} (could not raise it to {want})");
    Ok(())
}

/// One agent: a report every interval from its start, each delivered (retried) before the
/// next is made. A delivery longer than the interval makes the missed reports at once
/// afterwards, each stamped with its own tick, as the agent's spool would hold them.
async fn run_agent(
    mut sim: Agent,
    mut sink: Sink,
    plan: Plan,
    offset: Duration,
    mut rng: Rng,
    stats: Arc<Stats>,
    acked: Option<Arc<std::sync::Mutex<Vec<String>>>>,
) {
    let mut tick = plan.t0 + offset;
    let mut samples = None;
    let mut scratch = String::new();
    // This agent's acknowledged reports (`--acked-out`), handed over at its end.
    let mut lines = String::new();
    while tick < plan.end {
        tokio::time::sleep_until(tick).await;
        let stamp = plan.t0_unix_ms + i64::from(ms(tick.duration_since(plan.t0)));
        let report = sim.next_report(stamp);
        stats.generated.fetch_add(1, Ordering::Relaxed);
        match &mut sink {
            Sink::Collector(conn) => {
                let n = *samples.get_or_insert_with(|| {
                    scratch.clear();
                    vm::write_samples(&report, &mut scratch)
                });
                let body = Bytes::from(zerofault_protocol::encode_report(&report));
                let sent = Instant::now();
                let delivery = agent::deliver(
                    conn,
                    body.clone(),
                    n,
                    sent,
                    plan.give_up_at,
                    &mut rng,
                    &stats,
                )
                .await;
                let agent::Delivery::Acked(stored) = delivery else {
                    tick += plan.interval;
                    continue;
                };
                if acked.is_some() {
                    use std::fmt::Write as _;
                    let _ = writeln!(
                        lines,
                        "{},{},{},{}",
                        report.agent_id,
                        report.boot_id,
                        report.sequence,
                        if stored { "stored" } else { "duplicate" }
                    );
                }
                if plan.duplicate_share > 0.0 && rng.unit() < plan.duplicate_share {
                    // Sent again until answered (a collector may be down meanwhile): an
                    // acknowledged report is stored, so the answer must be `duplicate`.
                    stats.resends.fetch_add(1, Ordering::Relaxed);
                    let again =
                        agent::until_answered(conn, body, plan.give_up_at, &mut rng, &stats).await;
                    let counter = match again {
                        agent::Delivery::Acked(false) => &stats.resends_duplicate,
                        agent::Delivery::Acked(true) => {
                            eprintln!(
                                "zf-load: LOST: {} boot {} sequence {} was acknowledged, and its resend was stored",
                                report.agent_id, report.boot_id, report.sequence
                            );
                            &stats.resends_stored
                        }
                        agent::Delivery::Refused | agent::Delivery::Unanswered => {
                            &stats.resends_unanswered
                        }
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            Sink::Victoria(tx) => {
                let mut lines = String::with_capacity(4096);
                let n = vm::write_samples(&report, &mut lines);
                if tx.send((Instant::now(), lines, n)).await.is_err() {
                    return;
                }
            }
        }
        tick += plan.interval;
    }
    if let Some(acked) = acked {
        acked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(lines);
    }
}

/// `--idle`: open the connection at the agent's start, exchange one request that stores
/// nothing, and hold the connection until the run ends.
async fn hold_idle(
    sink: Sink,
    plan: Plan,
    offset: Duration,
    stats: Arc<Stats>,
    done: Arc<std::sync::atomic::AtomicU64>,
) {
    let Sink::Collector(mut conn) = sink else {
        return;
    };
    tokio::time::sleep_until(plan.t0 + offset).await;
    match conn.open_idle(&stats).await {
        Ok(405) => {}
        Ok(status) => eprintln!("zf-load: idle probe answered {status}, expected 405"),
        Err(kind) => stats.error(kind),
    }
    done.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep_until(plan.give_up_at).await;
    drop(conn);
}

/// The summary line: totals over the run, and rate and latency over the steady stretch
/// (from one interval after the ramp, when every agent is in its rhythm, to the end).
fn summary(args: &Args, stats: &Stats, plan: Plan, probing: usize) {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let end_ms = ms(plan.end.duration_since(plan.t0));
    let steady_from = ms(plan.ramp + plan.interval).min(end_ms);
    let steady = stats.window(steady_from, end_ms);
    let all = stats.window(0, u32::MAX);
    let (generated, stored, duplicate) = (
        load(&stats.generated),
        load(&stats.stored),
        load(&stats.duplicate),
    );
    let refused = load(&stats.refused);
    let samples_per_report = load(&stats.samples) as f64 / (stored + duplicate).max(1) as f64;
    let cpu = self_cpu_seconds();
    let (_, gen_hwm) = rss_kib(std::process::id());
    println!(
        "zf-load summary mode={} agents={} link_agents={probing} interval_s={} ramp_s={} duration_s={} \
         generated={generated} stored={stored} duplicate={duplicate} refused={refused} \
         unacked={} resends={} resends_duplicate={} resends_stored={} resends_unanswered={} \
         attempts={} errors={} errors_by_kind={} connects={} resumed={} failovers={} samples_per_report={samples_per_report:.1} steady_from_s={:.0} steady_s={:.0} \
         steady_acks={} steady_reports_per_s={:.1} steady_samples_per_s={:.0} \
         p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} p999_ms={:.2} max_ms={:.2} all_p50_ms={:.2} all_p99_ms={:.2} all_max_ms={:.2} \
         generator_cpu_s={cpu:.1} generator_peak_rss_mib={:.1}",
        if args.victoria_metrics.is_some() {
            "victoria-metrics"
        } else {
            "collector"
        },
        args.agents,
        args.interval,
        plan.ramp.as_secs_f64(),
        args.duration,
        generated.saturating_sub(stored + duplicate + refused),
        load(&stats.resends),
        load(&stats.resends_duplicate),
        load(&stats.resends_stored),
        load(&stats.resends_unanswered),
        load(&stats.attempts),
        stats.errors_total(),
        stats.errors_by_kind(),
        load(&stats.connects),
        load(&stats.resumed),
        load(&stats.failovers),
        f64::from(steady_from) / 1000.0,
        steady.seconds,
        steady.acks,
        steady.rate(),
        steady.rate() * samples_per_report,
        steady.p50_ms,
        steady.p90_ms,
        steady.p99_ms,
        steady.p999_ms,
        steady.max_ms,
        all.p50_ms,
        all.p99_ms,
        all.max_ms,
        gen_hwm as f64 / 1024.0,
    );
}

/// utime + stime of this process, seconds (USER_HZ is 100 on Linux).
fn self_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command, which ends at the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    // rest starts at field 3 (state); from field 4 on, utime (14) and stime (15) are at
    // indexes 10 and 11. Some fields before them may be -1 (tpgid without a terminal).
    let f: Vec<i64> = rest
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    (f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)) as f64 / 100.0
}
