//! `zerofault-collector demo`: certificates, an inventory, configs, a collector and four
//! agent processes.
//!
//! The demo runs the real binaries with real configs and mTLS, only on loopback, so that
//! what a user sees in the demo is what a deployment does. Its world (`world.rs`) is a
//! province's e-government network with Chinese and English names: three departments, two
//! data centers, a site tree from the province to a township, five links and maintenance
//! windows; four agents at sites of that tree, three of them probing links. One link, the
//! county-township link `adm-dq-qy`, is the demo's simulated cut: its probe connects to a
//! loopback port the demo holds bound and never listens on, so the link is down from the
//! start and a fault after `fault_min`, and one agent stands behind it. It writes into DIR:
//!
//! ```text
//! ca.pem ca.key collector.pem collector.key agents/ID.{pem,key}   (see `certs`)
//! collector.yaml inventory.yaml agent-ID.yaml                      rewritten on every start
//! zerofault.db agent-state/ID/                                     kept between runs
//! collector.log agent-ID.log      the children's output, truncated on every start
//! ```
//!
//! The children end with the demo however it ends (Ctrl-C, SIGTERM, a closed terminal's
//! SIGHUP, SIGKILL): each gets a pipe as stdin and runs with the hidden `--exit-with-stdin`,
//! and the demo holds the pipe's write end. The kernel closes it when the demo exits for any
//! reason, and the child stops cleanly on the end of file. No signal is forwarded (the
//! collector will reload on SIGHUP), and nothing depends on which thread spawned the child
//! (as PR_SET_PDEATHSIG would).

mod error;
mod process;
mod world;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cmd::certs::{self, IssueOptions, Layout};
use process::{Proc, exited, http_get, spawn, stop_all, wait_ready};
use world::{AGENTS, CUT_LINK, CollectorPaths, Endpoints};

pub use error::DemoError;

/// How long the demo waits for every agent's first report before saying which are missing.
const FIRST_REPORT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the demo waits to see the simulated cut down, and then its fault.
const CUT_TIMEOUT: Duration = Duration::from_secs(120);

/// Arguments of `zerofault-collector demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory for certificates, configs, logs and the SQLite database (created if
    /// missing; reused on the next run).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Address of the collector's mTLS ingest listener.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7443")]
    pub ingest_listen: SocketAddr,
    /// Address of the collector's plain-HTTP listener (the cockpit at /, /metrics, /healthz).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub http_listen: SocketAddr,
    /// Collection interval of the demo agents (a number and a unit: ms, s, m, h; at least 1s).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_interval)]
    pub interval: String,
}

/// Parses the demo agents' interval. The agent refuses intervals under 1 s, so the demo
/// refuses them here, before anything is started, rather than letting the agents die.
fn parse_interval(s: &str) -> Result<String, String> {
    match crate::duration::parse_duration(s) {
        Ok(d) if d >= std::time::Duration::from_secs(1) => Ok(s.to_owned()),
        Ok(_) => Err(format!(
            "{s:?} is too short: the agent's interval is at least 1s"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs the demo until Ctrl-C (or SIGTERM); fails if a child dies meanwhile.
pub async fn run(args: &DemoArgs) -> anyhow::Result<()> {
    if args.ingest_listen == args.http_listen {
        return Err(DemoError::SameAddress(args.ingest_listen).into());
    }
    // Checked before anything is written or started, so that a taken port gives an error
    // naming the flag to change instead of a dead child process.
    check_free(args.ingest_listen, "--ingest-listen")?;
    check_free(args.http_listen, "--http-listen")?;

    let collector_bin = std::env::current_exe().context("locating zerofault-collector")?;
    let agent_bin = collector_bin.with_file_name("zerofault-agent");
    if !agent_bin.is_file() {
        return Err(DemoError::AgentBinaryMissing(agent_bin).into());
    }

    let http = connect_addr(args.http_listen);
    // Held until the demo ends: bound, never listening, so every probe of the cut link is
    // refused, and no other socket can take the port meanwhile.
    let cut = hold_closed_port(
        http.ip(),
        &[args.ingest_listen.port(), args.http_listen.port()],
    )?;
    let endpoints = Endpoints {
        ingest: connect_addr(args.ingest_listen),
        http,
        cut: cut.local_addr().map_err(DemoError::CutPort)?,
    };

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    // Absolute paths in the configs: the children may resolve them from anywhere.
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let layout = make_certs(&dir, args.ingest_listen)?;
    let files = write_files(&dir, &layout, args, &endpoints)?;

    let mut collector = spawn(
        "collector".into(),
        &collector_bin,
        &["serve", "--exit-with-stdin", "--config"],
        &files.collector_config,
        &dir.join("collector.log"),
    )?;
    if let Err(e) = wait_ready(&mut collector, http).await {
        stop_all(std::slice::from_mut(&mut collector)).await;
        return Err(e);
    }
    let mut agents = Vec::with_capacity(AGENTS.len());
    for (agent, config) in AGENTS.iter().zip(&files.agent_configs) {
        match spawn(
            format!("agent {}", agent.id),
            &agent_bin,
            &["run", "--exit-with-stdin", "--config"],
            config,
            &agent_log(&dir, agent.id),
        ) {
            Ok(p) => agents.push(p),
            Err(e) => {
                stop_all(&mut agents).await;
                stop_all(std::slice::from_mut(&mut collector)).await;
                return Err(e);
            }
        }
    }

    print_banner(&dir, &layout, &files, &endpoints);
    let result = supervise(&mut collector, &mut agents, &dir, http).await;
    // The agents first, so they do not log failed sends while the collector stops.
    stop_all(&mut agents).await;
    stop_all(std::slice::from_mut(&mut collector)).await;
    drop(cut);
    match &result {
        Ok(()) => println!("demo stopped; {} is kept for the next run", dir.display()),
        Err(_) => eprintln!("demo stopped"),
    }
    result
}

fn check_free(addr: SocketAddr, flag: &'static str) -> Result<(), DemoError> {
    TcpListener::bind(addr)
        .map(drop)
        .map_err(|source| DemoError::Listen { addr, flag, source })
}

/// A TCP socket bound to a free port of `ip` that never listens: a connect to it is refused
/// at once (the demo's simulated cut), and while it is held no other socket binds the port
/// or picks it as a local port. Never one of the `avoid` ports (the listen ports, checked
/// free but not held: the kernel could pick one of them).
fn hold_closed_port(ip: IpAddr, avoid: &[u16]) -> Result<tokio::net::TcpSocket, DemoError> {
    // Ports picked and refused stay held here until the end, so that no try picks one
    // again: at most avoid.len() + 1 tries.
    let mut refused = Vec::new();
    loop {
        let socket = match ip {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .map_err(DemoError::CutPort)?;
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(DemoError::CutPort)?;
        let port = socket.local_addr().map_err(DemoError::CutPort)?.port();
        if !avoid.contains(&port) {
            return Ok(socket);
        }
        refused.push(socket);
    }
}

/// The address to connect to for a listen address: an unspecified address (0.0.0.0, ::)
/// is reached through loopback.
fn connect_addr(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, listen.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, listen.port()).into(),
        _ => listen,
    }
}

fn make_certs(dir: &Path, ingest: SocketAddr) -> anyhow::Result<Layout> {
    let ca = certs::ensure_ca(dir)?;
    let mut names = certs::default_collector_names();
    let ip = connect_addr(ingest).ip().to_string();
    if !names.contains(&ip) {
        names.push(ip.clone());
    }
    let opts = IssueOptions::default();
    // A demo dir from an earlier run may hold a collector certificate made for another
    // ingest address; the agents would then loop on "certificate not valid for name".
    let stale = !cert_names_ip(&ca.layout().collector_cert(), &ip);
    ca.issue_collector(
        &names,
        &IssueOptions {
            force: stale,
            ..opts
        },
    )?;
    for agent in AGENTS {
        ca.issue_agent(agent.id, &opts)?;
    }
    Ok(ca.layout().clone())
}

/// Whether the certificate at `path` exists and lists `ip` among its subject alternative
/// names. Anything unreadable counts as "no", so the demo issues a fresh certificate.
fn cert_names_ip(path: &Path, ip: &str) -> bool {
    let Ok(pem_bytes) = std::fs::read(path) else {
        return false;
    };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(&pem_bytes) else {
        return false;
    };
    let Ok(cert) = pem.parse_x509() else {
        return false;
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    san.value.general_names.iter().any(|name| match name {
        x509_parser::extensions::GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => <[u8; 4]>::try_from(*bytes).is_ok_and(|b| IpAddr::from(b).to_string() == ip),
            16 => <[u8; 16]>::try_from(*bytes).is_ok_and(|b| IpAddr::from(b).to_string() == ip),
            _ => false,
        },
        _ => false,
    })
}

/// Paths of the files the demo writes besides certificates.
struct Files {
    collector_config: PathBuf,
    inventory: PathBuf,
    database: PathBuf,
    /// One per agent, in the order of [`AGENTS`].
    agent_configs: Vec<PathBuf>,
}

fn agent_log(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("agent-{id}.log"))
}

fn write_files(
    dir: &Path,
    layout: &Layout,
    args: &DemoArgs,
    endpoints: &Endpoints,
) -> anyhow::Result<Files> {
    let files = Files {
        collector_config: dir.join("collector.yaml"),
        inventory: dir.join("inventory.yaml"),
        database: dir.join("zerofault.db"),
        agent_configs: AGENTS
            .iter()
            .map(|a| dir.join(format!("agent-{}.yaml", a.id)))
            .collect(),
    };
    let collector = world::collector_yaml(&CollectorPaths {
        ingest_listen: args.ingest_listen,
        http_listen: args.http_listen,
        layout,
        database: &files.database,
        inventory: &files.inventory,
    });
    let mut texts = vec![
        (files.collector_config.clone(), collector),
        (files.inventory.clone(), world::INVENTORY.to_owned()),
    ];
    for (agent, path) in AGENTS.iter().zip(&files.agent_configs) {
        let state_dir = dir.join("agent-state").join(agent.id);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let text = world::agent_yaml(agent, &state_dir, layout, endpoints, &args.interval);
        texts.push((path.clone(), text));
    }
    for (path, text) in texts {
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files)
}

fn print_banner(dir: &Path, layout: &Layout, files: &Files, e: &Endpoints) {
    let http = e.http;
    println!(
        "zerofault demo is running: one collector and {} agents, on loopback.\n",
        AGENTS.len()
    );
    println!("  Cockpit:   http://{http}/   (open in a browser)\n");
    let inventory = crate::inventory::Inventory::parse(world::INVENTORY, &files.inventory);
    if let Ok(inv) = &inventory {
        println!(
            "  world:     {} / {}: {} departments, {} data centers, {} sites, {} links",
            inv.organisation_name("zh-CN"),
            inv.organisation_name("en"),
            inv.departments.len(),
            inv.data_centers.len(),
            inv.sites.len(),
            inv.links.len(),
        );
    }
    for (i, a) in AGENTS.iter().enumerate() {
        let probes: Vec<&str> = a.probes.iter().map(|p| p.link).collect();
        let role = if probes.is_empty() {
            "probes nothing".to_owned()
        } else {
            format!("probes {}", probes.join(", "))
        };
        println!(
            "  {:<11}{:<18}{} / {} / site {}; {role}",
            if i == 0 { "agents:" } else { "" },
            a.id,
            a.department,
            a.datacenter,
            a.site,
        );
    }
    println!(
        "  the cut:   link {CUT_LINK} is down: its probe connects to {}, a port the demo holds \
         closed\n             (the demo's simulated cut); a fault after {} down",
        e.cut,
        world::FAULT_MIN
    );
    println!("  links:     http://{http}/api/v1/links   faults: http://{http}/api/v1/faults");
    println!("  metrics:   http://{http}/metrics   healthz: http://{http}/healthz");
    println!(
        "  ingest:    https://{}{} (mutual TLS)",
        e.ingest,
        zerofault_protocol::INGEST_PATH
    );
    println!(
        "  configs:   {}, {}, {}",
        files.collector_config.display(),
        files.inventory.display(),
        dir.join("agent-*.yaml").display()
    );
    println!("  database:  {}", files.database.display());
    println!(
        "  certs:     {} (CA), {}, {}",
        layout.ca_cert().display(),
        layout.collector_cert().display(),
        layout.dir().join("agents").join("*.pem").display()
    );
    println!(
        "  logs:      {}, {}",
        dir.join("collector.log").display(),
        dir.join("agent-*.log").display()
    );
    println!("\nTry:  curl -s http://{http}/api/v1/links");
    println!("      curl -s http://{http}/metrics | grep zerofault_department");
    println!(
        "      curl -s 'http://{http}/api/v1/report?month={}&format=html&lang=en' > report.html",
        current_month_hint()
    );
    println!("Ctrl-C stops every process (so does closing this terminal).\n");
}

/// The current month (UTC) as YYYY-MM, for the banner's report example: the month so far.
fn current_month_hint() -> String {
    jiff::Timestamp::now().strftime("%Y-%m").to_string()
}

/// Waits for Ctrl-C or SIGTERM (Ok) or for a child to exit (Err). Meanwhile it tells the
/// user when every agent's first report has arrived, when the cut link is down and when
/// its fault is recorded.
async fn supervise(
    collector: &mut Proc,
    agents: &mut [Proc],
    dir: &Path,
    http: SocketAddr,
) -> anyhow::Result<()> {
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let progress = announce(http, dir);
    tokio::pin!(progress);
    let mut announced = false;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                r.context("waiting for Ctrl-C")?;
                println!("\nCtrl-C: stopping the agents and the collector");
                return Ok(());
            }
            _ = sigterm.recv() => {
                println!("SIGTERM: stopping the agents and the collector");
                return Ok(());
            }
            status = collector.child.wait() => return Err(exited(collector, status?)),
            _ = tick.tick() => {
                for agent in agents.iter_mut() {
                    if let Some(status) = agent.child.try_wait()? {
                        return Err(exited(agent, status));
                    }
                }
            }
            () = &mut progress, if !announced => announced = true,
        }
    }
}

/// Tells the user what happens in the demo's first minute: every agent's first report, the
/// cut link going down, its fault.
async fn announce(http: SocketAddr, dir: &Path) {
    let missing = wait_first_reports(http).await;
    if missing.is_empty() {
        println!(
            "The collector has received a first report from each of the {} agents.",
            AGENTS.len()
        );
    } else {
        let logs: Vec<String> = missing
            .iter()
            .map(|id| agent_log(dir, id).display().to_string())
            .collect();
        println!(
            "No report has arrived yet from {}; see {} and {}.",
            missing.join(", "),
            logs.join(", "),
            dir.join("collector.log").display()
        );
    }
    let deadline = Instant::now() + CUT_TIMEOUT;
    if poll_json(http, "/api/v1/links", deadline, |v| {
        cut_listed(v, "links", "state", "down")
    })
    .await
    {
        println!("Link {CUT_LINK} is down (the demo's simulated cut): http://{http}/api/v1/links");
    } else {
        return;
    }
    if poll_json(http, "/api/v1/faults", deadline, |v| {
        cut_listed(v, "faults", "link", CUT_LINK)
    })
    .await
    {
        println!("A fault of link {CUT_LINK} is recorded: http://{http}/api/v1/faults");
    }
}

/// Whether the JSON list `list` has an entry of the cut link whose `key` is `value`.
fn cut_listed(v: &serde_json::Value, list: &str, key: &str, value: &str) -> bool {
    v[list].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|item| item["link"] == CUT_LINK && item[key] == value)
    })
}

/// Polls `path` until `done` holds for its JSON (true) or `deadline` passes (false).
async fn poll_json(
    http: SocketAddr,
    path: &str,
    deadline: Instant,
    done: impl Fn(&serde_json::Value) -> bool,
) -> bool {
    while Instant::now() < deadline {
        if let Ok((200, body)) = http_get(http, path).await
            && serde_json::from_str(&body).is_ok_and(|v| done(&v))
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

/// Polls `/metrics` until every demo agent is a known host, or a bounded wait ends; returns
/// the agents still missing.
async fn wait_first_reports(http: SocketAddr) -> Vec<&'static str> {
    let deadline = Instant::now() + FIRST_REPORT_TIMEOUT;
    loop {
        let body = match http_get(http, "/metrics").await {
            Ok((200, body)) => body,
            _ => String::new(),
        };
        let missing = missing_hosts(&body);
        if missing.is_empty() || Instant::now() >= deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The demo agents without a `zerofault_host_up` series in a `/metrics` text.
fn missing_hosts(metrics: &str) -> Vec<&'static str> {
    AGENTS
        .iter()
        .map(|a| a.id)
        .filter(|id| {
            let label = format!("agent=\"{id}\"");
            !metrics
                .lines()
                .any(|l| l.starts_with("zerofault_host_up{") && l.contains(&label))
        })
        .collect()
}
#[cfg(test)]
mod tests;
