//! `zerofault-collector demo`: certificates, configs, a collector and one agent process.
//!
//! The demo runs the real binaries with real configs and mTLS, only on loopback, so that
//! what a user sees in the demo is what a deployment does. It writes into DIR:
//!
//! ```text
//! ca.pem ca.key collector.pem collector.key agents/demo-agent.{pem,key}   (see `certs`)
//! collector.yaml agent.yaml     rewritten on every start
//! zerofault.db agent-state/     kept between runs
//! collector.log agent.log       the children's output, truncated on every start
//! ```
//!
//! The children end with the demo however it ends (Ctrl-C, SIGTERM, a closed terminal's
//! SIGHUP, SIGKILL): each gets a pipe as stdin and runs with the hidden `--exit-with-stdin`,
//! and the demo holds the pipe's write end. The kernel closes it when the demo exits for any
//! reason, and the child stops cleanly on the end of file. No signal is forwarded (the
//! collector will reload on SIGHUP), and nothing depends on which thread spawned the child
//! (as PR_SET_PDEATHSIG would).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};

use crate::cmd::certs::{self, IssueOptions, Layout};

/// Agent id of the demo agent (and the CN of its certificate).
pub const DEMO_AGENT_ID: &str = "demo-agent";
/// How long the collector may take to answer `/healthz` after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a child may take to exit after its stdin was closed before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of a child's log shown when it dies.
const LOG_TAIL_LINES: usize = 20;

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
    /// Address of the collector's plain-HTTP listener (/metrics, /healthz).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub http_listen: SocketAddr,
    /// Collection interval of the demo agent (a number and a unit: ms, s, m, h; at least 1s).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_interval)]
    pub interval: String,
}

/// Why the demo could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A listen address is taken (or otherwise unusable) before anything was started.
    #[error("cannot listen on {addr} (set another address with {flag} ADDR)")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The command-line flag that sets it.
        flag: &'static str,
        /// The cause (usually "address already in use").
        #[source]
        source: std::io::Error,
    },
    /// Both listeners were given the same address.
    #[error("--ingest-listen and --http-listen are both {0}; give them different ports")]
    SameAddress(SocketAddr),
    /// The agent binary is not next to the collector binary.
    #[error(
        "{} not found: build the whole workspace first (`cargo build --release` at the \
         repository root), so that zerofault-agent sits next to zerofault-collector",
        .0.display()
    )]
    AgentBinaryMissing(PathBuf),
    /// A child process exited while the demo was running or starting.
    #[error("the {name} process exited ({status}); its log is {}", log.display())]
    ChildExited {
        /// `collector` or `agent`.
        name: &'static str,
        /// Its exit status.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
    },
    /// The collector did not answer `/healthz` in time.
    #[error("the collector did not answer http://{addr}/healthz within {timeout:?}; see {}", log.display())]
    NotReady {
        /// The address polled.
        addr: SocketAddr,
        /// How long the demo waited.
        timeout: Duration,
        /// The collector's log file.
        log: PathBuf,
    },
}

/// Parses the demo agent's interval. The agent refuses intervals under 1 s, so the demo
/// refuses them here, before anything is started, rather than letting the agent die.
fn parse_interval(s: &str) -> Result<String, String> {
    match crate::duration::parse_duration(s) {
        Ok(d) if d >= std::time::Duration::from_secs(1) => Ok(s.to_owned()),
        Ok(_) => Err(format!(
            "{s:?} is too short: the agent's interval is at least 1s"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// One child process and where its output goes.
struct Proc {
    name: &'static str,
    child: Child,
    /// Write end of the child's stdin; closing it (or the demo's exit) stops the child.
    lifeline: Option<ChildStdin>,
    log: PathBuf,
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

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    // Absolute paths in the configs: the children may resolve them from anywhere.
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let layout = make_certs(&dir, args.ingest_listen)?;
    let files = write_configs(&dir, &layout, args)?;

    let mut collector = spawn(
        "collector",
        &collector_bin,
        &["serve", "--exit-with-stdin", "--config"],
        &files.collector_config,
        &dir.join("collector.log"),
    )?;
    let http = connect_addr(args.http_listen);
    if let Err(e) = wait_ready(&mut collector, http).await {
        stop(&mut collector).await;
        return Err(e);
    }
    let mut agent = match spawn(
        "agent",
        &agent_bin,
        &["run", "--exit-with-stdin", "--config"],
        &files.agent_config,
        &dir.join("agent.log"),
    ) {
        Ok(agent) => agent,
        Err(e) => {
            stop(&mut collector).await;
            return Err(e);
        }
    };

    print_banner(&dir, &layout, &files, args, http);
    let result = supervise(&mut collector, &mut agent, http).await;
    // The agent first, so it does not log failed sends while the collector stops.
    stop(&mut agent).await;
    stop(&mut collector).await;
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
    // ingest address; the agent would then loop on "certificate not valid for name".
    let stale = !cert_names_ip(&ca.layout().collector_cert(), &ip);
    ca.issue_collector(
        &names,
        &IssueOptions {
            force: stale,
            ..opts
        },
    )?;
    ca.issue_agent(DEMO_AGENT_ID, &opts)?;
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
    agent_config: PathBuf,
    database: PathBuf,
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML), so that any path is
/// written safely.
fn yaml(s: impl AsRef<str>) -> String {
    serde_json::to_string(s.as_ref()).expect("a string serializes")
}

fn yaml_path(p: &Path) -> String {
    yaml(p.to_string_lossy())
}

fn write_configs(dir: &Path, layout: &Layout, args: &DemoArgs) -> anyhow::Result<Files> {
    let files = Files {
        collector_config: dir.join("collector.yaml"),
        agent_config: dir.join("agent.yaml"),
        database: dir.join("zerofault.db"),
    };
    let state_dir = dir.join("agent-state");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;

    let mut collector = String::new();
    let _ = write!(
        collector,
        "# Written by `zerofault-collector demo`; rewritten on every demo start.\n\
         listen:\n  ingest: {ingest}\n  http: {http}\n\
         tls:\n  ca: {ca}\n  cert: {cert}\n  key: {key}\n\
         storage:\n  sqlite:\n    path: {db}\n\
         limits:\n  max_body_bytes: 1048576\n  max_decompressed_bytes: 8388608\n\
         hosts:\n  down_after_intervals: 3\n",
        ingest = yaml(args.ingest_listen.to_string()),
        http = yaml(args.http_listen.to_string()),
        ca = yaml_path(&layout.ca_cert()),
        cert = yaml_path(&layout.collector_cert()),
        key = yaml_path(&layout.collector_key()),
        db = yaml_path(&files.database),
    );
    let mut agent = String::new();
    let _ = write!(
        agent,
        "# Written by `zerofault-collector demo`; rewritten on every demo start.\n\
         agent:\n  id: {id}\n  state_dir: {state}\n\
         labels:\n  department: demo-dept\n  business_system: demo-system\n  \
         datacenter: demo-dc\n  site: demo-site\n\
         collector:\n  url: {url}\n  timeout: 10s\n\
         tls:\n  ca: {ca}\n  cert: {cert}\n  key: {key}\n\
         interval: {interval}\n",
        id = yaml(DEMO_AGENT_ID),
        state = yaml_path(&state_dir),
        url = yaml(format!("https://{}", connect_addr(args.ingest_listen))),
        ca = yaml_path(&layout.ca_cert()),
        cert = yaml_path(&layout.agent_cert(DEMO_AGENT_ID)),
        key = yaml_path(&layout.agent_key(DEMO_AGENT_ID)),
        interval = yaml(&args.interval),
    );
    for (path, text) in [
        (&files.collector_config, collector),
        (&files.agent_config, agent),
    ] {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files)
}

fn spawn(
    name: &'static str,
    bin: &Path,
    args: &[&str],
    config: &Path,
    log: &Path,
) -> anyhow::Result<Proc> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("opening {}", log.display()))?;
    let mut child = Command::new(bin)
        .args(args)
        .arg(config)
        // The lifeline (see the module docs). std makes the demo's ends of pipes
        // close-on-exec, so no other child holds this write end and keeps this child alive.
        .stdin(Stdio::piped())
        // Log files, not the terminal: a closed terminal neither blocks nor kills a child
        // writing to it.
        .stdout(out)
        .stderr(err)
        // Own process group: Ctrl-C in the terminal reaches only the demo, which then
        // stops the children in order instead of racing their exit against its own.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let lifeline = child.stdin.take();
    Ok(Proc {
        name,
        child,
        lifeline,
        log: log.to_owned(),
    })
}

async fn wait_ready(collector: &mut Proc, http: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = collector.child.try_wait()? {
            return Err(exited(collector, status));
        }
        if matches!(http_get(http, "/healthz").await, Ok((200, _))) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            print_log_tail(&collector.log);
            return Err(DemoError::NotReady {
                addr: http,
                timeout: READY_TIMEOUT,
                log: collector.log.clone(),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn exited(p: &Proc, status: ExitStatus) -> anyhow::Error {
    print_log_tail(&p.log);
    DemoError::ChildExited {
        name: p.name,
        status,
        log: p.log.clone(),
    }
    .into()
}

fn print_log_tail(log: &Path) {
    let Ok(text) = std::fs::read_to_string(log) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    if !tail.is_empty() {
        eprintln!("--- last lines of {} ---", log.display());
        for line in tail {
            eprintln!("{line}");
        }
        eprintln!("---");
    }
}

/// A minimal HTTP/1.1 GET over loopback: status code and body. The demo needs nothing
/// more, and a raw request keeps an HTTP client library out of the collector binary.
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn print_banner(dir: &Path, layout: &Layout, files: &Files, args: &DemoArgs, http: SocketAddr) {
    let ingest = connect_addr(args.ingest_listen);
    println!("zerofault demo is running: one collector and one agent ({DEMO_AGENT_ID}).\n");
    println!("  metrics:   http://{http}/metrics");
    println!("  healthz:   http://{http}/healthz");
    println!(
        "  ingest:    https://{ingest}{} (mutual TLS)",
        zerofault_protocol::INGEST_PATH
    );
    println!(
        "  configs:   {}, {}",
        files.collector_config.display(),
        files.agent_config.display()
    );
    println!("  database:  {}", files.database.display());
    println!(
        "  certs:     {} (CA), {}, {}",
        layout.ca_cert().display(),
        layout.collector_cert().display(),
        layout.agent_cert(DEMO_AGENT_ID).display()
    );
    println!(
        "  logs:      {}, {}",
        dir.join("collector.log").display(),
        dir.join("agent.log").display()
    );
    println!("\nTry:  curl -s http://{http}/metrics | grep zerofault_host_memory");
    println!(
        "      curl -s 'http://{http}/api/v1/report?month={}&format=html&lang=en' > report.html",
        current_month_hint()
    );
    println!("Ctrl-C stops both processes (so does closing this terminal).\n");
}

/// The current month (UTC) as YYYY-MM, for the banner's report example: the month so far.
fn current_month_hint() -> String {
    jiff::Timestamp::now().strftime("%Y-%m").to_string()
}

/// Waits for Ctrl-C or SIGTERM (Ok) or for a child to exit (Err). Meanwhile it tells the
/// user when the first report has arrived.
async fn supervise(collector: &mut Proc, agent: &mut Proc, http: SocketAddr) -> anyhow::Result<()> {
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let first_report = wait_first_report(http);
    tokio::pin!(first_report);
    let mut announced = false;
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                r.context("waiting for Ctrl-C")?;
                println!("\nCtrl-C: stopping the agent and the collector");
                return Ok(());
            }
            _ = sigterm.recv() => {
                println!("SIGTERM: stopping the agent and the collector");
                return Ok(());
            }
            status = collector.child.wait() => return Err(exited(collector, status?)),
            status = agent.child.wait() => return Err(exited(agent, status?)),
            seen = &mut first_report, if !announced => {
                announced = true;
                if seen {
                    println!("The collector has received the agent's first report.");
                } else {
                    println!(
                        "No report has arrived yet; see {} and {}.",
                        agent.log.display(),
                        collector.log.display()
                    );
                }
            }
        }
    }
}

/// Polls `/metrics` until a report was accepted (true) or a bounded wait ends (false).
async fn wait_first_report(http: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((200, body)) = http_get(http, "/metrics").await {
            let accepted = body.lines().find_map(|l| {
                l.strip_prefix("zerofault_collector_reports_accepted_total ")
                    .and_then(|v| v.trim().parse::<f64>().ok())
            });
            let known = body.lines().any(|l| l.starts_with("zerofault_host_up{"));
            if accepted.is_some_and(|n| n > 0.0) || known {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// Stops a child: closes its stdin, so that it stops cleanly (flushing its state and closing
/// SQLite), waits a bounded time for it, then kills it.
async fn stop(p: &mut Proc) {
    if let Ok(Some(_)) = p.child.try_wait() {
        return;
    }
    drop(p.lifeline.take());
    match tokio::time::timeout(STOP_TIMEOUT, p.child.wait()).await {
        Ok(Ok(status)) => {
            if !status.success() {
                eprintln!("the {} exited with {status} while stopping", p.name);
            }
            return;
        }
        Ok(Err(e)) => eprintln!("cannot wait for the {}: {e}; killing it", p.name),
        Err(_) => eprintln!(
            "the {} did not stop within {STOP_TIMEOUT:?}; killing it",
            p.name
        ),
    }
    let _ = p.child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        for ok in ["5s", "5 s", "1000ms", "1m", "2h"] {
            assert_eq!(parse_interval(ok).unwrap(), ok);
        }
        for bad in ["", "5", "s", "0s", "500ms", "5sec", "-1s", "1.5s"] {
            assert!(parse_interval(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unspecified_listen_addresses_are_reached_through_loopback() {
        let a: SocketAddr = "0.0.0.0:7443".parse().unwrap();
        assert_eq!(connect_addr(a), "127.0.0.1:7443".parse().unwrap());
        let a: SocketAddr = "[::]:7443".parse().unwrap();
        assert_eq!(connect_addr(a), "[::1]:7443".parse().unwrap());
        let a: SocketAddr = "192.0.2.1:7443".parse().unwrap();
        assert_eq!(connect_addr(a), a);
    }

    #[test]
    fn a_taken_port_names_the_flag() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = check_free(addr, "--http-listen").unwrap_err().to_string();
        assert!(err.contains("--http-listen"), "{err}");
        assert!(err.contains(&addr.to_string()), "{err}");
    }

    #[test]
    fn configs_use_the_documented_keys_and_absolute_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        let args = DemoArgs {
            dir: dir.clone(),
            ingest_listen: "127.0.0.1:17443".parse().unwrap(),
            http_listen: "127.0.0.1:19464".parse().unwrap(),
            interval: "5s".into(),
        };
        let layout = make_certs(&dir, args.ingest_listen).unwrap();
        let files = write_configs(&dir, &layout, &args).unwrap();
        let collector = std::fs::read_to_string(&files.collector_config).unwrap();
        let config = crate::config::Config::parse(&collector, &files.collector_config)
            .expect("the collector accepts the demo config");
        assert_eq!(config.listen.ingest, args.ingest_listen);
        assert_eq!(config.listen.http, args.http_listen);
        assert_eq!(
            config.storage.sqlite_path(),
            Some(dir.join("zerofault.db").as_path())
        );
        assert_eq!(config.tls.cert, dir.join("collector.pem"));
        let agent = std::fs::read_to_string(&files.agent_config).unwrap();
        for needle in [
            "id: \"demo-agent\"",
            "department: demo-dept",
            "datacenter: demo-dc",
            "url: \"https://127.0.0.1:17443\"",
            "interval: \"5s\"",
            &format!("state_dir: {}", yaml_path(&dir.join("agent-state"))),
            &format!(
                "key: {}",
                yaml_path(&dir.join("agents").join("demo-agent.key"))
            ),
        ] {
            assert!(agent.contains(needle), "{needle} in\n{agent}");
        }
    }

    #[test]
    fn a_collector_certificate_for_another_address_is_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let first: SocketAddr = "127.0.0.1:7443".parse().unwrap();
        let layout = make_certs(dir.path(), first).unwrap();
        assert!(cert_names_ip(&layout.collector_cert(), "127.0.0.1"));
        assert!(!cert_names_ip(&layout.collector_cert(), "127.0.0.2"));
        let second: SocketAddr = "127.0.0.2:7443".parse().unwrap();
        let layout = make_certs(dir.path(), second).unwrap();
        assert!(cert_names_ip(&layout.collector_cert(), "127.0.0.2"));
    }
}
