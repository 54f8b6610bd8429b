//! A real `zerofault-collector serve` on free loopback ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::agent::AgentBuilder;
use crate::ca::{TestCa, http_client};
use crate::exposition::Exposition;
use crate::harness::{COLLECTOR_BIN, bin_path, free_addr, yaml_path};
use crate::process::ChildGuard;

/// How long a collector may take to answer `/healthz` after it was started. Start-up is a
/// config parse, a SQLite open and two binds: well under a second on an idle machine; the
/// margin is for a loaded CI machine running tests in parallel.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a restart on the same ports retries "address in use".
const RESTART_BIND_TIMEOUT: Duration = Duration::from_secs(15);

/// How many times a start that lost a port race is retried with new ports.
const PORT_ATTEMPTS: u32 = 3;

/// Builder of a collector process; see [`Collector`].
#[derive(Debug, Clone)]
pub struct CollectorBuilder {
    ca_cert: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    agents_dir: PathBuf,
    down_after_intervals: Option<u32>,
    max_body_bytes: Option<u64>,
    max_decompressed_bytes: Option<u64>,
    links: Option<LinksConfig>,
    max_skew: Option<String>,
    /// Further `limits.*` keys and their YAML values.
    limits: Vec<(String, String)>,
    /// Soft and hard `RLIMIT_NOFILE` of the collector process (set with prlimit(1)).
    open_file_limit: Option<(u64, u64)>,
    /// `storage.postgres.url` (TLS disabled) instead of a SQLite file in its directory.
    postgres: Option<String>,
    /// Further top-level sections, YAML appended as given (`inventory:`, `cockpit:`).
    extra: String,
    /// The HTTP listener serves TLS (`access.tls` in `extra`): URLs and the health check
    /// use `https://` with the test CA.
    https: bool,
    /// The ingest listener on `[::]` (both families) instead of 127.0.0.1.
    ingest_every_address: bool,
}

/// The collector's `links:` section; unset fields are left to the collector's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinksConfig {
    /// `fault_min`: the shortest run of down that is a fault (duration string).
    pub fault_min: Option<String>,
    /// `down_loss_ratio`: loss at which a window counts as down.
    pub down_loss_ratio: Option<f64>,
    /// `down_confirm_probes`: consecutive lost probes before a link is down.
    pub down_confirm_probes: Option<u32>,
    /// `up_confirm_probes`: consecutive answered probes before a down link is up again.
    pub up_confirm_probes: Option<u32>,
}

impl LinksConfig {
    /// The section as YAML, or nothing when every field is unset.
    fn yaml(&self) -> String {
        let mut fields = String::new();
        if let Some(v) = &self.fault_min {
            fields.push_str(&format!("  fault_min: {v}\n"));
        }
        if let Some(v) = self.down_loss_ratio {
            fields.push_str(&format!("  down_loss_ratio: {v}\n"));
        }
        if let Some(v) = self.down_confirm_probes {
            fields.push_str(&format!("  down_confirm_probes: {v}\n"));
        }
        if let Some(v) = self.up_confirm_probes {
            fields.push_str(&format!("  up_confirm_probes: {v}\n"));
        }
        if fields.is_empty() {
            fields
        } else {
            format!("links:\n{fields}")
        }
    }
}

/// One fault from `GET /api/v1/faults`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Link id.
    pub link: String,
    /// Backbone level of the link.
    pub level: String,
    /// Domain of the link.
    pub domain: String,
    /// Start, ms since the Unix epoch.
    pub start_unix_ms: i64,
    /// End, ms since the Unix epoch; `None` while the fault lasts.
    pub end_unix_ms: Option<i64>,
    /// Duration in seconds (up to now while it lasts).
    pub duration_seconds: f64,
    /// Agents (vantage points) that saw it.
    pub agents: Vec<String>,
    /// Still down (`end_unix_ms` is null).
    pub ongoing: bool,
    /// Final: no report still to come can change it, and it is stored.
    pub settled: bool,
}

impl Fault {
    /// Reads one fault object; the error names the missing or mistyped field.
    pub fn from_json(v: &serde_json::Value) -> anyhow::Result<Self> {
        let str_field = |k: &str| {
            v[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow::anyhow!("fault field {k:?} is not a string: {v}"))
        };
        let end = &v["end_unix_ms"];
        Ok(Self {
            link: str_field("link")?,
            level: str_field("level")?,
            domain: str_field("domain")?,
            start_unix_ms: v["start_unix_ms"]
                .as_i64()
                .ok_or_else(|| anyhow::anyhow!("fault start_unix_ms is not an integer: {v}"))?,
            end_unix_ms: if end.is_null() {
                None
            } else {
                Some(end.as_i64().ok_or_else(|| {
                    anyhow::anyhow!("fault end_unix_ms is neither null nor an integer: {v}")
                })?)
            },
            duration_seconds: v["duration_seconds"]
                .as_f64()
                .ok_or_else(|| anyhow::anyhow!("fault duration_seconds is not a number: {v}"))?,
            agents: v["agents"]
                .as_array()
                .ok_or_else(|| anyhow::anyhow!("fault agents is not a list: {v}"))?
                .iter()
                .map(|a| {
                    a.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| anyhow::anyhow!("fault agent is not a string: {v}"))
                })
                .collect::<anyhow::Result<_>>()?,
            ongoing: v["ongoing"]
                .as_bool()
                .ok_or_else(|| anyhow::anyhow!("fault ongoing is not a boolean: {v}"))?,
            settled: v["settled"]
                .as_bool()
                .ok_or_else(|| anyhow::anyhow!("fault settled is not a boolean: {v}"))?,
        })
    }
}

impl CollectorBuilder {
    /// A collector using `ca`'s CA and collector certificate.
    pub fn new(ca: &TestCa) -> Self {
        Self {
            ca_cert: ca.ca_cert(),
            cert: ca.collector_cert(),
            key: ca.collector_key(),
            agents_dir: ca.dir().join("agents"),
            down_after_intervals: None,
            max_body_bytes: None,
            max_decompressed_bytes: None,
            links: None,
            max_skew: None,
            limits: Vec::new(),
            open_file_limit: None,
            postgres: None,
            extra: String::new(),
            https: false,
            ingest_every_address: false,
        }
    }

    /// Stores in the PostgreSQL database `url` (e.g. from
    /// [`PgServer::create_database`](crate::postgres::PgServer::create_database), on loopback,
    /// so without TLS) instead of a SQLite file.
    pub fn postgres(mut self, url: &str) -> Self {
        self.postgres = Some(url.to_owned());
        self
    }

    /// Any other `limits.KEY: VALUE` of the collector config (durations as strings).
    pub fn limit(mut self, key: &str, value: impl ToString) -> Self {
        self.limits.push((key.to_owned(), value.to_string()));
        self
    }

    /// Starts the collector under `prlimit --nofile=SOFT:HARD` (util-linux, in every Debian).
    pub fn open_file_limit(mut self, soft: u64, hard: u64) -> Self {
        self.open_file_limit = Some((soft, hard));
        self
    }

    /// `clock.max_skew`: the clock offset beyond which an agent is flagged (duration string).
    pub fn max_skew(mut self, v: &str) -> Self {
        self.max_skew = Some(v.to_string());
        self
    }

    /// The `links:` section (link states and faults).
    /// Appends top-level YAML sections to the config (keys the builder has no setter for,
    /// e.g. `inventory:` or `cockpit:`); they must not repeat a section the builder writes.
    pub fn extra_config(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        if !self.extra.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }

    /// The ingest listener on `"[::]:PORT"`, every address of both families, as the
    /// shipped default: agents may then use `https://[::1]:PORT`
    /// ([`Collector::ingest_url_ipv6`]); the other URLs stay on 127.0.0.1.
    pub fn ingest_on_every_address(mut self) -> Self {
        self.ingest_every_address = true;
        self
    }

    /// The config's `access.tls` (given with [`Self::extra_config`]) makes the HTTP
    /// listener HTTPS: say so, so that [`Collector::http_url`] and the start-up health
    /// check use `https://` and trust the test CA.
    pub fn https(mut self) -> Self {
        self.https = true;
        self
    }

    pub fn links(mut self, links: LinksConfig) -> Self {
        self.links = Some(links);
        self
    }

    /// `hosts.down_after_intervals` (the collector's default when not set).
    pub fn down_after_intervals(mut self, n: u32) -> Self {
        self.down_after_intervals = Some(n);
        self
    }

    /// `limits.max_body_bytes`.
    pub fn max_body_bytes(mut self, n: u64) -> Self {
        self.max_body_bytes = Some(n);
        self
    }

    /// `limits.max_decompressed_bytes`.
    pub fn max_decompressed_bytes(mut self, n: u64) -> Self {
        self.max_decompressed_bytes = Some(n);
        self
    }

    /// The collector.yaml this builder writes for the given addresses and directory.
    pub fn config_yaml(&self, ingest: SocketAddr, http: SocketAddr, dir: &Path) -> String {
        let ingest = if self.ingest_every_address {
            SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), ingest.port())
        } else {
            ingest
        };
        let storage = match &self.postgres {
            Some(url) => format!(
                "  postgres:\n    url: {}\n    tls:\n      mode: disable\n",
                serde_json::to_string(url).expect("a string serialises")
            ),
            None => format!(
                "  sqlite:\n    path: {}\n",
                yaml_path(&dir.join("zerofault.db"))
            ),
        };
        let mut y = format!(
            "listen:\n  ingest: \"{ingest}\"\n  http: {http}\ntls:\n  ca: {}\n  cert: {}\n  key: {}\n\
             storage:\n{storage}",
            yaml_path(&self.ca_cert),
            yaml_path(&self.cert),
            yaml_path(&self.key),
        );
        if self.max_body_bytes.is_some()
            || self.max_decompressed_bytes.is_some()
            || !self.limits.is_empty()
        {
            y.push_str("limits:\n");
            if let Some(n) = self.max_body_bytes {
                y.push_str(&format!("  max_body_bytes: {n}\n"));
            }
            if let Some(n) = self.max_decompressed_bytes {
                y.push_str(&format!("  max_decompressed_bytes: {n}\n"));
            }
            for (k, v) in &self.limits {
                y.push_str(&format!("  {k}: {v}\n"));
            }
        }
        if let Some(n) = self.down_after_intervals {
            y.push_str(&format!("hosts:\n  down_after_intervals: {n}\n"));
        }
        if let Some(links) = &self.links {
            y.push_str(&links.yaml());
        }
        if let Some(skew) = &self.max_skew {
            y.push_str(&format!("clock:\n  max_skew: {skew}\n"));
        }
        y.push_str(&self.extra);
        y
    }

    /// Starts the collector and waits until `/healthz` answers 200.
    ///
    /// The ports are free when chosen but may be taken before the collector binds them (tests
    /// run in parallel); a start that fails with "address in use" is retried with new ports.
    pub async fn spawn(self) -> anyhow::Result<Collector> {
        let mut attempt = 1;
        loop {
            match self.try_spawn().await {
                Ok(c) => return Ok(c),
                Err(SpawnError::PortTaken(out)) if attempt < PORT_ATTEMPTS => {
                    eprintln!("collector lost a port race (attempt {attempt}), retrying:\n{out}");
                    attempt += 1;
                }
                Err(SpawnError::PortTaken(out)) => {
                    anyhow::bail!(
                        "collector could not bind free ports {PORT_ATTEMPTS} times:\n{out}"
                    )
                }
                Err(SpawnError::Other(e)) => return Err(e),
            }
        }
    }

    async fn try_spawn(&self) -> Result<Collector, SpawnError> {
        let dir = tempfile::Builder::new()
            .prefix("zf-collector-")
            .tempdir()
            .map_err(|e| SpawnError::Other(e.into()))?;
        let (ingest, http) = (free_addr(), free_addr());
        let config = dir.path().join("collector.yaml");
        std::fs::write(&config, self.config_yaml(ingest, http, dir.path()))
            .map_err(|e| SpawnError::Other(e.into()))?;
        let child =
            start_process(&config, dir.path(), self.open_file_limit).map_err(SpawnError::Other)?;
        let mut collector = Collector {
            open_file_limit: self.open_file_limit,
            child,
            ingest,
            http,
            config,
            ca_cert: self.ca_cert.clone(),
            agents_dir: self.agents_dir.clone(),
            https: self.https,
            dir,
        };
        collector.wait_healthy().await?;
        Ok(collector)
    }
}

/// Starts `zerofault-collector serve --config CONFIG`, logging to `DIR/collector.log` (appended
/// to, so the log of a restarted collector holds every run).
fn start_process(
    config: &Path,
    dir: &Path,
    open_file_limit: Option<(u64, u64)>,
) -> anyhow::Result<ChildGuard> {
    let mut cmd = match open_file_limit {
        // prlimit execs the command: the pid is the collector's.
        Some((soft, hard)) => {
            let mut cmd = Command::new("prlimit");
            cmd.arg(format!("--nofile={soft}:{hard}"))
                .arg("--")
                .arg(bin_path(COLLECTOR_BIN));
            cmd
        }
        None => Command::new(bin_path(COLLECTOR_BIN)),
    };
    cmd.arg("serve").arg("--config").arg(config);
    ChildGuard::spawn("zerofault-collector", cmd, &dir.join("collector.log"))
}

enum SpawnError {
    /// The collector exited complaining that an address is in use; the output is attached.
    PortTaken(String),
    Other(anyhow::Error),
}

/// A running collector; killed, and its directory (config, SQLite, log) removed, on drop.
#[derive(Debug)]
pub struct Collector {
    // Declared first so that it is dropped (killed) before its directory is removed.
    child: ChildGuard,
    open_file_limit: Option<(u64, u64)>,
    ingest: SocketAddr,
    http: SocketAddr,
    config: PathBuf,
    ca_cert: PathBuf,
    agents_dir: PathBuf,
    https: bool,
    dir: TempDir,
}

impl Collector {
    /// A builder using `ca`.
    pub fn builder(ca: &TestCa) -> CollectorBuilder {
        CollectorBuilder::new(ca)
    }

    async fn wait_healthy(&mut self) -> Result<(), SpawnError> {
        let client = if self.https {
            crate::ca::ingest_client(&self.ca_cert, None).map_err(SpawnError::Other)?
        } else {
            http_client()
        };
        let url = format!("{}/healthz", self.http_url());
        let start = Instant::now();
        let mut last = String::from("not asked yet");
        // Bounded: HEALTHY_TIMEOUT / 50 ms polls at most.
        while start.elapsed() < HEALTHY_TIMEOUT {
            if let Some(status) = self.child.exited() {
                let out = self.child.output();
                let lower = out.to_ascii_lowercase();
                if lower.contains("address already in use") || lower.contains("addrinuse") {
                    return Err(SpawnError::PortTaken(out));
                }
                return Err(SpawnError::Other(anyhow::anyhow!(
                    "collector exited with {status} before it was healthy; output:\n{out}"
                )));
            }
            match client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(r) if r.status() == reqwest::StatusCode::OK => return Ok(()),
                Ok(r) => last = format!("HTTP {}", r.status()),
                Err(e) => last = format!("{e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(SpawnError::Other(anyhow::anyhow!(
            "collector not healthy at {url} after {HEALTHY_TIMEOUT:?} (last: {last}); output:\n{}",
            self.child.output()
        )))
    }

    /// The collector's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory of the collector process so far (`VmHWM`), in bytes.
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/{}/status", self.pid()))?
            .trim()
            .parse::<u64>()?;
        Ok(kib * 1024)
    }

    /// `https://127.0.0.1:PORT`, the mTLS ingest listener.
    pub fn ingest_url(&self) -> String {
        format!("https://{}", self.ingest)
    }
    /// `https://[::1]:PORT`: the ingest listener over IPv6 (with
    /// [`CollectorBuilder::ingest_on_every_address`]).
    pub fn ingest_url_ipv6(&self) -> String {
        format!("https://[::1]:{}", self.ingest.port())
    }
    /// `https://127.0.0.1:PORT/api/v1/report`.
    pub fn report_url(&self) -> String {
        format!("{}{}", self.ingest_url(), zerofault_protocol::INGEST_PATH)
    }
    /// `http://127.0.0.1:PORT`, the plain-HTTP listener.
    pub fn http_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.http)
    }
    /// Address of the plain-HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }
    /// Address of the ingest listener.
    pub fn ingest_addr(&self) -> SocketAddr {
        self.ingest
    }
    /// The collector.yaml it runs with.
    pub fn config_path(&self) -> &Path {
        &self.config
    }
    /// Its temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// Everything it has logged so far.
    pub fn output(&self) -> String {
        self.child.output()
    }
    /// Whether it has exited (it should not).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.exited()
    }

    /// The SQLite database it stores reports in.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("zerofault.db")
    }

    /// Kills it with SIGKILL, as a crash or an OOM kill would: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill();
    }

    /// Stops it with SIGTERM and waits for it to exit; an error if it does not exit within
    /// `timeout` (it is killed then) or exits unsuccessfully.
    pub fn stop(&mut self, timeout: Duration) -> anyhow::Result<()> {
        match self.child.terminate(timeout) {
            Some(status) if status.success() => Ok(()),
            Some(status) => anyhow::bail!(
                "collector exited with {status} on SIGTERM; output:\n{}",
                self.child.output()
            ),
            None => anyhow::bail!(
                "collector did not exit within {timeout:?} of SIGTERM; output:\n{}",
                self.child.output()
            ),
        }
    }

    /// Starts it again (after [`Collector::kill9`] or [`Collector::stop`]) with the same
    /// config: the same ports, so agents find it again, and the same database. Waits until it
    /// is healthy.
    ///
    /// A port cannot be chosen anew here, so "address in use" (another test took the port in
    /// the meantime, or the kernel has not released it yet) is retried for a while.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        // The old process must be gone, or the new one could not bind.
        self.child.kill();
        let deadline = Instant::now() + RESTART_BIND_TIMEOUT;
        loop {
            self.child = start_process(&self.config, self.dir.path(), self.open_file_limit)?;
            match self.wait_healthy().await {
                Ok(()) => return Ok(()),
                Err(SpawnError::PortTaken(out)) if Instant::now() < deadline => {
                    eprintln!("restarted collector could not bind its ports yet, retrying:\n{out}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(SpawnError::PortTaken(out)) => anyhow::bail!(
                    "restarted collector could not bind its ports within \
                     {RESTART_BIND_TIMEOUT:?}:\n{out}"
                ),
                Err(SpawnError::Other(e)) => return Err(e),
            }
        }
    }

    /// An agent of this collector, with agent `id`'s certificate from the collector's CA.
    pub fn agent(&self, id: &str) -> AgentBuilder {
        AgentBuilder::new(
            id,
            &self.ingest_url(),
            &self.ca_cert,
            &self.agents_dir.join(format!("{id}.pem")),
            &self.agents_dir.join(format!("{id}.key")),
        )
    }

    /// `/metrics`, parsed.
    pub async fn metrics(&self) -> anyhow::Result<Exposition> {
        Exposition::parse(&scrape(self).await?)
    }

    /// `GET PATH` on the plain-HTTP listener, parsed as JSON; an error unless it answers 200.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.http_url());
        let resp = http_client().get(&url).send().await?;
        let status = resp.status();
        let body = resp.text().await?;
        anyhow::ensure!(status.is_success(), "GET {url}: HTTP {status}: {body}");
        serde_json::from_str(&body)
            .map_err(|e| anyhow::anyhow!("GET {url}: not JSON ({e}): {body}"))
    }

    /// `GET /api/v1/faults` (`{"faults": [...]}`), of one link or (with `None`) of all.
    pub async fn faults(&self, link: Option<&str>) -> anyhow::Result<Vec<Fault>> {
        let path = match link {
            Some(l) => format!("/api/v1/faults?link={}", crate::harness::percent_encode(l)),
            None => "/api/v1/faults".to_string(),
        };
        let v = self.get_json(&path).await?;
        v["faults"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("GET {path}: no \"faults\" list: {v}"))?
            .iter()
            .map(Fault::from_json)
            .collect()
    }

    /// Waits until `/metrics` shows `zerofault_host_up{agent=ID} 1` for every id, and
    /// returns that scrape.
    pub async fn wait_hosts_up(
        &self,
        agents: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<Exposition> {
        let what = format!("hosts {agents:?} up in /metrics");
        crate::harness::wait_until(&what, timeout, Duration::from_millis(200), || async {
            let m = self.metrics().await.map_err(|e| e.to_string())?;
            let down: Vec<&&str> = agents
                .iter()
                .filter(|a| m.get("zerofault_host_up", &[("agent", a)]).ok() != Some(1.0))
                .collect();
            if down.is_empty() {
                Ok(m)
            } else {
                Err(format!(
                    "not up yet: {down:?}; zerofault_host_up: [{}]",
                    m.describe("zerofault_host_up")
                ))
            }
        })
        .await
    }
}

/// The collector's `/metrics` text; an error unless it answers 200.
pub async fn scrape(collector: &Collector) -> anyhow::Result<String> {
    let url = format!("{}/metrics", collector.http_url());
    let resp = http_client().get(&url).send().await?;
    let status = resp.status();
    let body = resp.text().await?;
    anyhow::ensure!(status.is_success(), "GET {url}: HTTP {status}: {body}");
    Ok(body)
}

#[cfg(test)]
mod tests;
