//! zerofault agent: collects host capacity (CPU, memory, filesystems, interfaces, uptime)
//! and link health (ICMP/TCP/HTTP probes, interface transitions) every interval and sends it
//! to the collector over mutual TLS.
//!
//! The binary (`src/main.rs`) only parses the command line and sets up logging; everything
//! else is here so it can be tested.
#![forbid(unsafe_code)]

pub mod checks;
pub mod config;
pub mod enroll;
pub use zerofault_common::duration;
pub mod probe;
pub mod probe_cmd;
pub mod reporter;
pub mod sequence;
pub mod spool;
pub mod summary;
pub mod ticks;
pub mod transport;
pub mod trim;

use std::path::PathBuf;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};
use zerofault_protocol::{Limits, Report, encode_report};

use crate::config::{CheckFiles, Config};
use crate::probe::interface_watch::InterfaceWatch;
use crate::probe::link::ProbeContext;
use crate::probe::link::scheduler::LinkSet;
use crate::reporter::Reporter;
use crate::sequence::Sequence;
use crate::spool::{Spool, SpoolOptions};
pub use crate::ticks::missed_ticks;
use crate::transport::{SharedSpool, Transport};

/// Time between the CPU probe's first sample and the first collection: CPU usage is a
/// difference of two samples, and sysinfo needs at least 200 ms between them.
pub const CPU_PRIME: Duration = Duration::from_millis(300);

/// Command line of `zerofault-agent`.
#[derive(Debug, Parser)]
#[command(
    name = "zerofault-agent",
    version,
    about = "zerofault agent: reports host capacity to the zerofault collector over mutual TLS",
    long_about = "zerofault agent: every interval (default 15s) collects CPU, memory, swap, \
filesystems, network interfaces, uptime and OS facts into one compact report (protobuf + \
zstd) and sends it to the collector over mutual TLS, retrying with jittered backoff.\n\n\
Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) to change the level (default info).\n\
Exit codes: 0 success, 1 runtime or validation failure, 2 usage error."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report every interval until SIGTERM or SIGINT.
    #[command(
        long_about = "Collect a report every `interval` and send it to `collector.url` until \
SIGTERM or SIGINT. Every report is written to the disk spool (spool.dir, fsynced) before it \
is sent and removed only when the collector acknowledged it, so collector outages and agent \
restarts lose nothing. The newest report is sent first; the backlog follows oldest-first at \
spool.backfill_rate per second. Failed uploads are retried with jittered exponential backoff; \
when the spool reaches spool.max_bytes the oldest reports are dropped and counted. Reports \
the collector refuses with a 4xx other than 429 are logged and dropped."
    )]
    Run {
        /// Agent config file (YAML), e.g. /etc/zerofault/agent.yaml.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Also stop (cleanly) when stdin reaches end of file. For `zerofault-collector
        /// demo`, which keeps the other end of a pipe: the agent then ends with the demo
        /// however it ends, SIGKILL included.
        #[arg(long, hide = true)]
        exit_with_stdin: bool,
    },
    /// Collect one report and print it; nothing is sent.
    #[command(
        long_about = "Collect one report and print it to stdout without sending it: a short \
summary, or the full report as JSON with --json. Takes about a third of a second (CPU usage \
needs two samples). Does not advance the persisted sequence number and needs no certificates."
    )]
    Once {
        /// Agent config file (YAML).
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Print the report as pretty JSON (the protocol's field names) instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Check a config file, including its TLS files; print "OK: FILE" or every error.
    #[command(
        long_about = "Check a config file: YAML syntax, unknown keys, required keys, values \
(durations, URL, agent id) and that the TLS files exist, are PEM, and that the key matches \
the certificate. Prints \"OK: FILE\" and exits 0, or prints every problem (file, key and \
fix) and exits 1."
    )]
    Validate {
        /// Agent config file (YAML).
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Probe one target by hand (ICMP, TCP or HTTP) and print per-probe lines and statistics.
    #[command(
        long_about = "Probe one target by hand with the agent's own probe code, like a better ping: prints one line per probe (`seq=1 rtt=0.412 ms`, `seq=2 timeout`) and then sent, received, loss, RTT min/avg/max/p50/p95 and jitter; with --json one JSON object (the protocol's LinkResult). Ctrl-C stops early and prints the statistics so far. Needs no config. ICMP needs net.ipv4.ping_group_range to include the user's group, or CAP_NET_RAW.\n\nExit codes: 0 some probe answered, 1 all lost or the probe cannot run, 2 usage error."
    )]
    Probe(probe_cmd::ProbeArgs),
    /// Get this agent's client certificate with a one-time enrollment token.
    #[command(
        long_about = "Make this agent's private key here (it never leaves the host), send a \
certificate request with a one-time token (`zerofault-collector certs token --agent ID`) to \
`collector.url` over TLS (the collector is checked against `tls.ca`), and write the issued \
certificate to `tls.cert` and the key to `tls.key` (mode 0600). The packages' config puts \
them in the agent's state directory; run as root, the files are given to the owner of their \
directory (there, the agent's user), so that the running agent can renew them. A refused token is named \
(unknown, used, expired, for another id). The running agent renews the certificate itself \
before it ends (`tls.renew_before`).\n\nExit codes: 0 enrolled, 1 refused or failed, 2 usage."
    )]
    Enroll {
        /// Agent config file (YAML): `agent.id`, `collector.url`, `tls.ca`, `tls.cert`, `tls.key`.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The token (visible in the process list: prefer --token-file).
        #[arg(
            long,
            value_name = "TOKEN",
            conflicts_with = "token_file",
            required_unless_present = "token_file"
        )]
        token: Option<String>,
        /// File holding the token, alone or as `certs token --out` writes them (this agent's
        /// line is used); `-` reads stdin.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Replace an existing certificate and key (enrolling again, e.g. after a revocation).
        #[arg(long)]
        force: bool,
    },
}

/// Runs a parsed command line; returns the process exit code.
pub fn main_with(cli: Cli) -> i32 {
    match cli.command {
        Command::Probe(args) => probe_cmd::main(args),
        Command::Enroll {
            config,
            token,
            token_file,
            force,
        } => enroll_command(&config, token, token_file.as_deref(), force),
        Command::Validate { config } => match config::load(&config, CheckFiles::Yes) {
            Ok(_) => {
                println!("OK: {}", config.display());
                0
            }
            Err(e) => {
                eprintln!("{e}");
                1
            }
        },
        Command::Once { config, json } => {
            // `once` only reads: certificates may not be installed yet.
            let config = match config::load(&config, CheckFiles::No) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return 1;
                }
            };
            match once(&config, json) {
                Ok(text) => {
                    print!("{text}");
                    0
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    1
                }
            }
        }
        Command::Run {
            config,
            exit_with_stdin,
        } => {
            // A renewal a crash cut between its two renames is finished before the files
            // are checked (they would not match until then).
            if let Ok(c) = config::load(&config, CheckFiles::No)
                && let Err(e) = enroll::recover(&c)
            {
                eprintln!("error: {e:#}");
                return 1;
            }
            let config = match config::load(&config, CheckFiles::Yes) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return 1;
                }
            };
            // One thread: the agent's work is a few file reads and one upload per interval;
            // a multi-threaded runtime would only add threads and memory.
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    error!("cannot start the async runtime: {e}");
                    return 1;
                }
            };
            let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
            if exit_with_stdin {
                let watched = zerofault_common::on_eof(std::io::stdin(), move || {
                    let _ = eof_tx.send(());
                });
                if let Err(e) = watched {
                    error!("cannot watch stdin (--exit-with-stdin): {e}");
                    return 1;
                }
            }
            let shutdown = async move {
                if !exit_with_stdin {
                    return shutdown_signal().await;
                }
                tokio::select! {
                    () = shutdown_signal() => {}
                    // An error means the watcher ended without sending: the end too.
                    _ = eof_rx => info!("stdin closed (the process that started this agent ended); stopping"),
                }
            };
            match runtime.block_on(run(config, shutdown)) {
                Ok(()) => 0,
                Err(e) => {
                    error!("{e:#}");
                    1
                }
            }
        }
    }
}

/// `zerofault-agent enroll`: exit code 0 enrolled, 1 refused or failed.
fn enroll_command(
    path: &std::path::Path,
    token: Option<String>,
    token_file: Option<&std::path::Path>,
    force: bool,
) -> i32 {
    // The certificate and key are what this makes: they may not exist yet.
    let config = match config::load(path, CheckFiles::No) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let token = match (token, token_file) {
        (Some(t), _) => t,
        (None, Some(f)) => match enroll::read_token(f, &config.agent_id) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e:#}");
                return 1;
            }
        },
        (None, None) => unreachable!("clap requires one"),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(enroll::enroll(&config, &token, force)) {
        Ok(issued) => {
            // Days rather than a date: the agent carries no calendar code for one line.
            let days = (issued.not_after_unix - zerofault_common::now_unix_ms() / 1000) / 86_400;
            println!(
                "enrolled as {}: wrote {} and {} (key made here, mode 0600); valid for {days} more days",
                config.agent_id,
                config.tls.cert.display(),
                config.tls.key.display()
            );
            0
        }
        Err(e) => {
            eprintln!("error: enrollment failed: {e:#}");
            1
        }
    }
}

/// Collects one report (sampling CPU over [`CPU_PRIME`]) and renders it as JSON or as a
/// summary. Sends nothing and persists nothing.
pub fn once(config: &Config, json: bool) -> anyhow::Result<String> {
    let mut reporter = Reporter::new(
        &config.agent_id,
        config.interval,
        &config.labels,
        Sequence::read_only(&config.state_dir),
    );
    std::thread::sleep(CPU_PRIME);
    let report = reporter.collect();
    if let Err(e) = report.validate(&Limits::default()) {
        // Still print it: the operator running `once` is exactly who needs to see why.
        warn!("this report would be refused by the collector: {e}");
    }
    let encoded = encode_report(&report);
    if json {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        Ok(text)
    } else {
        Ok(summary::summarize(&report, encoded.len()))
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!("cannot listen for SIGTERM ({e}); stop the agent with SIGINT");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => info!("SIGTERM received, stopping"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received, stopping"),
    }
}

/// Fills in the spool statistics, validates, encodes and spools one report (on a blocking
/// thread: the append fsyncs). A report failing validation is a bug in a probe (the
/// collector would refuse it with 400), so it is logged and not spooled.
fn spool_report(spool: &Mutex<Spool>, report: &mut Report) {
    let mut spool = spool.lock().unwrap_or_else(|e| e.into_inner());
    // The statistics as of before this report: it is not in the spool yet.
    report.agent_stats = Some(spool.stats());
    if let Err(e) = report.validate(&Limits::default()) {
        error!(
            sequence = report.sequence,
            "bug: the report failed validation and is not sent: {e}"
        );
        return;
    }
    spool.append(&encode_report(report), report.timestamp_unix_ms);
}

/// The `run` loop: collect on a fixed schedule, spool, send in the background, until
/// `shutdown` resolves.
///
/// Scheduling uses only tokio's monotonic clock (`interval_at`, `Instant`): the wall clock
/// only stamps reports (`timestamp_unix_ms`). A wall-clock step (NTP, an operator's `date`)
/// therefore neither stalls nor bursts collection, backoff or backfill pacing.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let transport = Transport::new(&config)?;
    // Renews the client certificate before it ends (`tls.renew_before`).
    let renewal = tokio::spawn(transport::renew::run(
        transport.clone(),
        Arc::new(config.clone()),
    ));
    let options = SpoolOptions::new(config.spool.dir.clone(), config.spool.max_bytes);
    let spool: SharedSpool = Arc::new(Mutex::new(
        tokio::task::spawn_blocking(move || Spool::open(options)).await??,
    ));
    let wake = Arc::new(tokio::sync::Notify::new());
    let links = LinkSet::start(&config.probes, &ProbeContext::default());
    let link_count = links.len();
    let mut reporter = Reporter::new(
        &config.agent_id,
        config.interval,
        &config.labels,
        Sequence::open(&config.state_dir),
    )
    .with_continuous(links, InterfaceWatch::start());
    info!(
        agent_id = %config.agent_id,
        url = transport.url(),
        interval = %duration::format_duration(config.interval),
        probes = ?reporter.probe_names(),
        link_probes = link_count,
        spool = %config.spool.dir.display(),
        spool_max_bytes = config.spool.max_bytes,
        backfill_rate = config.spool.backfill_rate,
        version = env!("CARGO_PKG_VERSION"),
        "zerofault agent started"
    );
    let sender = tokio::spawn(transport::send_loop(
        transport,
        spool.clone(),
        wake.clone(),
        config.spool.backfill_rate,
    ));

    // interval_at keeps a fixed grid (start + k * interval): collection time and upload
    // time never push the schedule later.
    let mut ticker = tokio::time::interval_at(Instant::now() + CPU_PRIME, config.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut shutdown = pin!(shutdown);
    let mut previous: Option<Instant> = None;
    let mut missed_total: u64 = 0;
    let mut trim = trim::Trim::default();
    loop {
        let scheduled = tokio::select! {
            () = &mut shutdown => break,
            t = ticker.tick() => t,
        };
        if let Some(prev) = previous {
            let missed = missed_ticks(prev, scheduled, config.interval);
            if missed > 0 {
                missed_total = missed_total.saturating_add(missed);
                warn!(
                    missed,
                    missed_total,
                    "collection fell behind its schedule (host overloaded or suspended); skipped ticks"
                );
            }
        }
        previous = Some(scheduled);
        // Off the runtime thread: collection reads files (statvfs can be slow) and the
        // append fsyncs, and link probes time their replies on this thread, so blocking it
        // would inflate RTTs.
        let spool2 = spool.clone();
        let release = trim.due(Instant::now());
        let (back, report) = tokio::task::spawn_blocking(move || {
            let mut report = reporter.collect();
            spool_report(&spool2, &mut report);
            if release {
                match zerofault_sys::mappings::release_file_pages() {
                    Ok(bytes) => debug!(bytes, "released the mappings of code not running"),
                    Err(e) => debug!("cannot read /proc/self/smaps to release mappings: {e}"),
                }
            }
            (reporter, report)
        })
        .await?;
        reporter = back;
        wake.notify_one();
        if !report.links.is_empty() {
            let (sent, received, missed) = report.links.iter().fold((0u64, 0u64, 0u64), |a, l| {
                (
                    a.0 + u64::from(l.sent),
                    a.1 + u64::from(l.received),
                    a.2 + u64::from(l.missed_ticks),
                )
            });
            debug!(
                targets = report.links.len(),
                sent,
                received,
                missed_ticks = missed,
                interface_transitions = report.interface_transitions.len(),
                "link window"
            );
        }
    }
    sender.abort();
    let _ = sender.await;
    renewal.abort();
    // Persist the ack cursor and counters: what was acknowledged is not sent again.
    let (unsent, dropped) = transport::with_spool(&spool, |s| {
        s.save();
        (s.pending(), s.dropped_total())
    })
    .await;
    info!(
        unsent_in_spool = unsent,
        spool_dropped_total = dropped,
        missed_ticks = missed_total,
        "zerofault agent stopped"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cli_parses_the_documented_command_lines() {
        let c = Cli::try_parse_from(["zerofault-agent", "once", "--config", "a.yaml", "--json"])
            .unwrap();
        assert!(matches!(c.command, Command::Once { json: true, .. }));
        let c = Cli::try_parse_from(["zerofault-agent", "run", "--config", "a.yaml"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Run {
                exit_with_stdin: false,
                ..
            }
        ));
        let c = Cli::try_parse_from([
            "zerofault-agent",
            "run",
            "--config",
            "a.yaml",
            "--exit-with-stdin",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Command::Run {
                exit_with_stdin: true,
                ..
            }
        ));
        let c = Cli::try_parse_from(["zerofault-agent", "validate", "--config", "a.yaml"]).unwrap();
        assert!(matches!(c.command, Command::Validate { .. }));
        let e = Cli::try_parse_from(["zerofault-agent", "run"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
