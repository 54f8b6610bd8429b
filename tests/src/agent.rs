//! A real `zerofault-agent run` reporting to a test collector.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::harness::{AGENT_BIN, bin_path, yaml_path};
use crate::process::ChildGuard;

/// Builder of an agent process; usually from [`crate::Collector::agent`].
#[derive(Debug, Clone)]
pub struct AgentBuilder {
    id: String,
    url: String,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    department: Option<String>,
    business_system: Option<String>,
    datacenter: Option<String>,
    site: Option<String>,
    interval: String,
    timeout: String,
    probes: Vec<LinkProbe>,
    spool: SpoolConfig,
    env: Vec<(String, String)>,
}

/// The agent's `spool:` section; unset fields are left to the agent's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpoolConfig {
    /// `dir`: where the segments live (default `<state_dir>/spool`).
    pub dir: Option<PathBuf>,
    /// `max_bytes`: bound of the spool on disk.
    pub max_bytes: Option<u64>,
    /// `backfill_rate`: backlog reports sent per second behind live ones.
    pub backfill_rate: Option<u32>,
}

impl SpoolConfig {
    /// The section as YAML, or nothing when every field is unset (an agent without a spool
    /// section must keep working: that is the shipped default).
    fn yaml(&self) -> String {
        let mut fields = String::new();
        if let Some(dir) = &self.dir {
            fields.push_str(&format!("  dir: {}\n", yaml_path(dir)));
        }
        if let Some(n) = self.max_bytes {
            fields.push_str(&format!("  max_bytes: {n}\n"));
        }
        if let Some(n) = self.backfill_rate {
            fields.push_str(&format!("  backfill_rate: {n}\n"));
        }
        if fields.is_empty() {
            fields
        } else {
            format!("spool:\n{fields}")
        }
    }
}

/// One entry of the agent's `probes:` list: a link target the agent probes.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkProbe {
    /// `link`: the link id.
    pub link: String,
    /// `kind`: `icmp`, `tcp` or `http`.
    pub kind: String,
    /// `target`: an address, `HOST:PORT` or a URL, by kind.
    pub target: String,
    /// `interval`: time between packets, e.g. `1s` or `20ms`.
    pub interval: String,
    /// `timeout`: how long a probe waits for its answer.
    pub timeout: String,
    /// `level` (optional): `province-city`, `city-county`, `county-township` or `access`.
    pub level: Option<String>,
    /// `domain` (optional): `administrative` or `public`.
    pub domain: Option<String>,
}

impl LinkProbe {
    /// A probe of `kind` for `link` to `target`, with the given packet interval and timeout,
    /// no level and no domain.
    pub fn new(link: &str, kind: &str, target: &str, interval: &str, timeout: &str) -> Self {
        Self {
            link: link.into(),
            kind: kind.into(),
            target: target.into(),
            interval: interval.into(),
            timeout: timeout.into(),
            level: None,
            domain: None,
        }
    }

    /// Sets `level` and `domain`.
    pub fn placed(mut self, level: &str, domain: &str) -> Self {
        self.level = Some(level.into());
        self.domain = Some(domain.into());
        self
    }

    /// This entry as a YAML list item (two-space indented keys).
    fn yaml(&self) -> String {
        // Targets and ids as double-quoted scalars: a URL or `[v6]:port` target has `:`.
        let q = |v: &str| serde_json::to_string(v).expect("a string serialises");
        let mut y = format!(
            "  - link: {}\n    kind: {}\n    target: {}\n    interval: {}\n    timeout: {}\n",
            q(&self.link),
            self.kind,
            q(&self.target),
            self.interval,
            self.timeout
        );
        if let Some(level) = &self.level {
            y.push_str(&format!("    level: {level}\n"));
        }
        if let Some(domain) = &self.domain {
            y.push_str(&format!("    domain: {domain}\n"));
        }
        y
    }
}

impl AgentBuilder {
    /// An agent `id` reporting to `url`, trusting `ca`, presenting `cert`/`key`.
    /// The interval defaults to `1s` so that whole-system tests stay short.
    pub fn new(id: &str, url: &str, ca: &Path, cert: &Path, key: &Path) -> Self {
        Self {
            id: id.to_string(),
            url: url.to_string(),
            ca: ca.to_path_buf(),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            department: None,
            business_system: None,
            datacenter: None,
            site: None,
            interval: "1s".to_string(),
            timeout: "5s".to_string(),
            probes: Vec::new(),
            spool: SpoolConfig::default(),
            env: Vec::new(),
        }
    }

    /// The `spool:` section.
    pub fn spool(mut self, spool: SpoolConfig) -> Self {
        self.spool = spool;
        self
    }

    /// An environment variable of the agent process (e.g. `LD_PRELOAD` for a fake clock).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds an entry to `probes:`.
    pub fn probe(mut self, probe: LinkProbe) -> Self {
        self.probes.push(probe);
        self
    }

    /// `labels.department`.
    pub fn department(mut self, v: &str) -> Self {
        self.department = Some(v.to_string());
        self
    }
    /// `labels.business_system`.
    pub fn business_system(mut self, v: &str) -> Self {
        self.business_system = Some(v.to_string());
        self
    }
    /// `labels.datacenter`.
    pub fn datacenter(mut self, v: &str) -> Self {
        self.datacenter = Some(v.to_string());
        self
    }
    /// `labels.site`.
    pub fn site(mut self, v: &str) -> Self {
        self.site = Some(v.to_string());
        self
    }
    /// `interval`, a duration string such as `1s` or `500ms`.
    pub fn interval(mut self, v: &str) -> Self {
        self.interval = v.to_string();
        self
    }
    /// Presents another certificate and key (e.g. another agent's, or another CA's).
    pub fn identity(mut self, cert: &Path, key: &Path) -> Self {
        self.cert = cert.to_path_buf();
        self.key = key.to_path_buf();
        self
    }

    /// The agent.yaml this builder writes, with its state under `state_dir`.
    pub fn config_yaml(&self, state_dir: &Path) -> String {
        let mut y = format!(
            "agent:\n  id: {}\n  state_dir: {}\n",
            self.id,
            yaml_path(state_dir)
        );
        let labels: Vec<(&str, &String)> = [
            ("department", &self.department),
            ("business_system", &self.business_system),
            ("datacenter", &self.datacenter),
            ("site", &self.site),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        if !labels.is_empty() {
            y.push_str("labels:\n");
            for (k, v) in labels {
                y.push_str(&format!("  {k}: {v}\n"));
            }
        }
        y.push_str(&format!(
            "collector:\n  url: {}\n  timeout: {}\ntls:\n  ca: {}\n  cert: {}\n  key: {}\n\
             interval: {}\n",
            self.url,
            self.timeout,
            yaml_path(&self.ca),
            yaml_path(&self.cert),
            yaml_path(&self.key),
            self.interval
        ));
        if !self.probes.is_empty() {
            y.push_str("probes:\n");
            for p in &self.probes {
                y.push_str(&p.yaml());
            }
        }
        y.push_str(&self.spool.yaml());
        y
    }

    /// Writes the config and starts `zerofault-agent run`. Readiness is the collector's
    /// business (its `/metrics` shows the host), so this does not wait.
    pub fn spawn(self) -> anyhow::Result<Agent> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("zf-agent-{}-", self.id))
            .tempdir()?;
        let state = dir.path().join("state");
        std::fs::create_dir(&state)?;
        let config = dir.path().join("agent.yaml");
        std::fs::write(&config, self.config_yaml(&state))?;
        let child = start_process(&self.id, &config, &self.env, dir.path())?;
        Ok(Agent {
            child,
            id: self.id,
            config,
            env: self.env,
            dir,
        })
    }
}

/// Starts `zerofault-agent run --config CONFIG` with `env` added, logging to `DIR/agent.log`
/// (appended to, so the log of a restarted agent holds every run).
fn start_process(
    id: &str,
    config: &Path,
    env: &[(String, String)],
    dir: &Path,
) -> anyhow::Result<ChildGuard> {
    let mut cmd = Command::new(bin_path(AGENT_BIN));
    cmd.arg("run").arg("--config").arg(config);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    ChildGuard::spawn(
        &format!("zerofault-agent {id}"),
        cmd,
        &dir.join("agent.log"),
    )
}

/// A running agent; killed, and its directory removed, on drop.
#[derive(Debug)]
pub struct Agent {
    // Declared first so that it is dropped (killed) before its directory is removed.
    child: ChildGuard,
    id: String,
    config: PathBuf,
    env: Vec<(String, String)>,
    dir: TempDir,
}

impl Agent {
    /// Its agent id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The agent.yaml it runs with.
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
    /// Stops it now (SIGKILL), e.g. to see its host go down.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// Its state directory (`agent.state_dir`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Its default spool directory, `<state_dir>/spool`.
    pub fn spool_dir(&self) -> PathBuf {
        self.state_dir().join("spool")
    }

    /// The last report sequence number it persisted (`<state_dir>/sequence`), `None` before
    /// its first report. The agent persists a number before it uses it, so this is the
    /// newest report it made or is making.
    pub fn sequence(&self) -> Option<u64> {
        std::fs::read_to_string(self.state_dir().join("sequence"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops it with SIGTERM, as systemd does, and waits for it to exit; an error if it does
    /// not exit within `timeout` (it is killed then) or exits unsuccessfully.
    pub fn stop(&mut self, timeout: Duration) -> anyhow::Result<()> {
        match self.child.terminate(timeout) {
            Some(status) if status.success() => Ok(()),
            Some(status) => anyhow::bail!(
                "agent {} exited with {status} on SIGTERM; output:\n{}",
                self.id,
                self.child.output()
            ),
            None => anyhow::bail!(
                "agent {} did not exit within {timeout:?} of SIGTERM; output:\n{}",
                self.id,
                self.child.output()
            ),
        }
    }

    /// Starts it again with the same config, environment and state directory (after
    /// [`Agent::kill`] or [`Agent::stop`]; a running agent is killed first).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.child.kill();
        self.child = start_process(&self.id, &self.config, &self.env, self.dir.path())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_the_documented_keys() {
        let b = AgentBuilder::new(
            "web-01",
            "https://127.0.0.1:7443",
            Path::new("/c/ca.pem"),
            Path::new("/c/agents/web-01.pem"),
            Path::new("/c/agents/web-01.key"),
        )
        .department("d1")
        .datacenter("dc1");
        assert_eq!(
            b.config_yaml(Path::new("/s")),
            "agent:\n  id: web-01\n  state_dir: \"/s\"\nlabels:\n  department: d1\n  \
             datacenter: dc1\ncollector:\n  url: https://127.0.0.1:7443\n  timeout: 5s\ntls:\n  \
             ca: \"/c/ca.pem\"\n  cert: \"/c/agents/web-01.pem\"\n  key: \
             \"/c/agents/web-01.key\"\ninterval: 1s\n"
        );
    }

    #[test]
    fn spool_section_has_only_the_set_keys() {
        let b = AgentBuilder::new(
            "a",
            "https://127.0.0.1:1",
            Path::new("/ca"),
            Path::new("/c"),
            Path::new("/k"),
        );
        assert!(!b.config_yaml(Path::new("/s")).contains("spool"));
        let y = b
            .spool(SpoolConfig {
                dir: Some("/t/sp".into()),
                backfill_rate: Some(5),
                ..SpoolConfig::default()
            })
            .config_yaml(Path::new("/s"));
        assert!(
            y.ends_with("spool:\n  dir: \"/t/sp\"\n  backfill_rate: 5\n"),
            "{y}"
        );
    }

    #[test]
    fn probes_are_a_list_under_probes() {
        let b = AgentBuilder::new(
            "a",
            "https://127.0.0.1:1",
            Path::new("/ca"),
            Path::new("/c"),
            Path::new("/k"),
        )
        .probe(LinkProbe::new("l1", "icmp", "198.18.0.2", "20ms", "300ms"))
        .probe(
            LinkProbe::new("l2", "tcp", "198.18.0.6:7000", "1s", "500ms")
                .placed("city-county", "public"),
        );
        let y = b.config_yaml(Path::new("/s"));
        let probes = &y[y.find("probes:").expect("a probes section")..];
        assert_eq!(
            probes,
            "probes:\n  - link: \"l1\"\n    kind: icmp\n    target: \"198.18.0.2\"\n    \
             interval: 20ms\n    timeout: 300ms\n  - link: \"l2\"\n    kind: tcp\n    target: \
             \"198.18.0.6:7000\"\n    interval: 1s\n    timeout: 500ms\n    level: city-county\n    \
             domain: public\n"
        );
    }
}
