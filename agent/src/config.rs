//! The agent's config file (`agent.yaml`): what the operator writes, and the checked,
//! resolved [`Config`] the rest of the agent uses.
//!
//! Loading is two steps so that every error names the file, the key and the fix:
//! serde-saphyr parses the YAML into [`FileConfig`] (unknown keys and YAML syntax errors are
//! reported with their line), then [`FileConfig::validate`] checks values and resolves paths,
//! collecting every problem rather than stopping at the first.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zerofault_common::yaml::{ParseProblem, ParseProblems, Parsed, key_within, parse_all};
use zerofault_protocol::{LINK_DOMAINS, LINK_LEVELS, Labels, is_valid_agent_id};

use crate::duration::{format_duration, parse_duration};
use crate::probe::link::target::parse_target;
use crate::probe::link::{self, LinkKind, ProbeSpec, Target};

/// Shortest accepted `interval`: below a second the agent would cost more than it measures.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest accepted `interval`: the protocol's limit (one day).
pub const MAX_INTERVAL: Duration =
    Duration::from_millis(zerofault_protocol::MAX_INTERVAL_MS as u64);
/// Shortest accepted `collector.timeout`: a TLS handshake across a WAN needs this much.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest accepted `collector.timeout`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest label value the collector accepts (see `Report::validate`).
pub const MAX_LABEL_BYTES: usize = 128;
/// Shortest probe `interval` (100 packets/s per target).
pub const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// Default probe `interval`.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Longest probe `timeout`.
pub const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Most probe targets per agent (`Limits::max_links` of the protocol).
pub const MAX_PROBES: usize = 4096;
/// Most probes of one target in one report window (`interval` / probe `interval`): bounds
/// the memory of a window's outcomes.
pub const MAX_PROBES_PER_WINDOW: u128 = 100_000;

/// The agent config file as written (`configs/agent.yaml` documents every key).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Identity and local state of this agent.
    #[serde(default)]
    pub agent: AgentSection,
    /// Organisation labels sent with every report; the collector aggregates by them.
    #[serde(default)]
    pub labels: LabelsSection,
    /// Where reports go.
    #[serde(default)]
    pub collector: CollectorSection,
    /// Certificates for mutual TLS with the collector.
    #[serde(default)]
    pub tls: TlsSection,
    /// Collection interval, a duration string such as `15s`.
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Link probe targets (ICMP, TCP, HTTP); none by default.
    #[serde(default)]
    pub probes: Vec<ProbeSection>,
    /// The durable report spool.
    #[serde(default)]
    pub spool: SpoolSection,
}

/// `spool:` section: where reports wait on disk until the collector acknowledged them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSection {
    /// Spool directory; default `<agent.state_dir>/spool`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Bound of the spool on disk in bytes; when full the oldest reports are dropped.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Backlog reports sent per second behind the live report.
    #[serde(default)]
    pub backfill_rate: Option<u32>,
}

/// Checked spool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    /// Spool directory, resolved.
    pub dir: PathBuf,
    /// Bound in bytes.
    pub max_bytes: u64,
    /// Backlog reports per second.
    pub backfill_rate: u32,
}

/// Largest accepted `spool.max_bytes` (1 TiB): beyond it a typo is likelier than intent.
pub const MAX_SPOOL_BYTES: u64 = 1 << 40;
/// Largest accepted `spool.backfill_rate`.
pub const MAX_BACKFILL_RATE: u32 = 10_000;

/// One entry of `probes:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    /// Link id (the collector inventory's), `[A-Za-z0-9._-]{1,128}`. Required.
    #[serde(default)]
    pub link: String,
    /// `icmp`, `tcp` or `http`. Required.
    #[serde(default)]
    pub kind: String,
    /// icmp: address or host name; tcp: `host:port` or `[v6]:port`; http: URL. Required.
    #[serde(default)]
    pub target: String,
    /// Time between probes (packet interval), 10ms up to the report `interval`; default 1s.
    #[serde(default)]
    pub interval: Option<String>,
    /// Time after which an unanswered probe is lost; default the interval, at most 1s.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Backbone level: province-city, city-county, county-township or access.
    #[serde(default)]
    pub level: Option<String>,
    /// Network domain: administrative or public.
    #[serde(default)]
    pub domain: Option<String>,
    /// https only: PEM file of the CA the target's certificate chains to (trusted besides
    /// the agent's `tls.ca`).
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

/// `agent:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// Agent id, `[A-Za-z0-9._-]{1,128}`; must equal the common name of the client
    /// certificate. Required.
    #[serde(default)]
    pub id: String,
    /// Directory for the agent's state (the persisted report sequence number).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

impl Default for AgentSection {
    fn default() -> Self {
        Self {
            id: String::new(),
            state_dir: default_state_dir(),
        }
    }
}

/// `labels:` section; every label is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsSection {
    /// Department (单位/部门) code.
    #[serde(default)]
    pub department: String,
    /// Business system (业务系统) code.
    #[serde(default)]
    pub business_system: String,
    /// Data center code.
    #[serde(default)]
    pub datacenter: String,
    /// Network site code.
    #[serde(default)]
    pub site: String,
}

/// `collector:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSection {
    /// Base URL of the collector's ingest listener, `https://host:port`. Required.
    #[serde(default)]
    pub url: String,
    /// Timeout of one report upload (connect + TLS + request + response), e.g. `10s`.
    #[serde(default = "default_timeout")]
    pub timeout: String,
}

impl Default for CollectorSection {
    fn default() -> Self {
        Self {
            url: String::new(),
            timeout: default_timeout(),
        }
    }
}

/// `tls:` section; all three files are required and PEM encoded.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// CA certificate(s) the collector's server certificate must chain to; the only roots
    /// trusted.
    #[serde(default)]
    pub ca: PathBuf,
    /// This agent's client certificate (chain), leaf first.
    #[serde(default)]
    pub cert: PathBuf,
    /// Private key of the client certificate (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: PathBuf,
}

fn default_interval() -> String {
    "15s".to_owned()
}

fn default_timeout() -> String {
    "10s".to_owned()
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/zerofault/agent")
}

/// Checked and resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this came from (for messages).
    pub path: PathBuf,
    /// Agent id.
    pub agent_id: String,
    /// State directory, absolute or relative to the working directory if the config path was.
    pub state_dir: PathBuf,
    /// Labels, as sent in every report.
    pub labels: Labels,
    /// Collector base URL without a trailing slash.
    pub collector_url: String,
    /// Timeout of one upload.
    pub collector_timeout: Duration,
    /// TLS file paths, resolved.
    pub tls: TlsPaths,
    /// Collection interval.
    pub interval: Duration,
    /// Link probe targets, checked.
    pub probes: Vec<ProbeSpec>,
    /// Durable spool and backfill.
    pub spool: SpoolConfig,
}

impl Config {
    /// Full URL of the ingest endpoint.
    pub fn ingest_url(&self) -> String {
        format!("{}{}", self.collector_url, zerofault_protocol::INGEST_PATH)
    }
}

/// Resolved paths of the TLS files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    /// CA certificate(s).
    pub ca: PathBuf,
    /// Client certificate chain.
    pub cert: PathBuf,
    /// Client private key.
    pub key: PathBuf,
}

/// Whether [`load`] opens the TLS files. Off only for checking a config's structure where
/// the certificates are not installed (e.g. the example config in the repository).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFiles {
    /// Check that the TLS files exist and parse as PEM, and that the key matches the cert.
    Yes,
    /// Skip every file-system check.
    No,
}

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Dotted key path, e.g. `collector.url` or `probes[3].target`.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Why a config file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Every problem of the file in its order: YAML syntax, unknown keys, wrong types, and
    /// (from [`load`]) wrong values and unusable files; shown one per line as
    /// `file:line:col: key 'k': problem`.
    #[error("{}", ParseProblems(.0))]
    Problems(Vec<ParseProblem>),
    /// The file parsed but some values are wrong.
    #[error("{}", Issues { path, issues })]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Every problem found.
        issues: Vec<Issue>,
    },
}

struct Issues<'a> {
    path: &'a Path,
    issues: &'a [Issue],
}

impl fmt::Display for Issues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}: key '{}': {}",
                self.path.display(),
                issue.key,
                issue.message
            )?;
        }
        Ok(())
    }
}

/// Reads, parses and validates the config file at `path`, listing every problem of the
/// file in one error: the keys that do not parse are left out, the rest is still checked.
pub fn load(path: &Path, check_files: CheckFiles) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parsed = if text.trim().is_empty() {
        Parsed {
            value: Some(empty_file()),
            problems: Vec::new(),
        }
    } else {
        parse_all::<FileConfig>(path, &text)
    };
    let mut problems = parsed.problems;
    let mut config = None;
    if let Some(file) = parsed.value {
        match file.validate(path, check_files) {
            Ok(c) => config = Some(c),
            Err(ConfigError::Invalid { issues, .. }) => {
                let reported: Vec<String> = problems.iter().filter_map(|p| p.key.clone()).collect();
                for issue in issues {
                    // A key that did not parse has its default now; checking that default
                    // would only repeat the key with a confusing message.
                    if reported.iter().any(|r| key_within(&issue.key, r)) {
                        continue;
                    }
                    problems.push(ParseProblem::at_key(path, &text, &issue.key, issue.message));
                }
            }
            Err(other) => return Err(other),
        }
    }
    // In the order of the file; problems with no line (a missing section) last.
    problems.sort_by_key(|p| p.location.map_or((u64::MAX, 0), |l| l));
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Problems(problems)),
    }
}

fn empty_file() -> FileConfig {
    FileConfig {
        interval: default_interval(),
        ..FileConfig::default()
    }
}

/// Parses YAML text; `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    // An empty document deserializes as "no value"; treat it as an empty mapping so the
    // operator gets "agent.id is required" rather than a type error.
    if text.trim().is_empty() {
        return Ok(empty_file());
    }
    let parsed = parse_all::<FileConfig>(path, text);
    match parsed.value {
        Some(file) if parsed.problems.is_empty() => Ok(file),
        _ => Err(ConfigError::Problems(parsed.problems)),
    }
}

/// For a TLS file that does not exist: where it comes from. Empty for any other error (a
/// file that exists but is wrong needs looking at, not replacing).
fn missing_file_hint(e: &crate::transport::tls::TlsError, id: &str) -> String {
    let crate::transport::tls::TlsError::Read { key, source, .. } = e else {
        return String::new();
    };
    if source.kind() != std::io::ErrorKind::NotFound {
        return String::new();
    }
    let id = if id.is_empty() { "ID" } else { id };
    match *key {
        "tls.ca" => "; copy ca.pem from the collector host (`zerofault-collector certs` made \
                     it), or fix the path"
            .to_owned(),
        _ => format!(
            "; issue this agent's certificate on the collector host with `zerofault-collector \
             certs --dir DIR --agent {id}` and copy DIR/agents/{id}.pem and {id}.key here, or \
             fix the path"
        ),
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

fn check_duration(
    issues: &mut Vec<Issue>,
    key: impl Into<String>,
    value: &str,
    min: Duration,
    max: Duration,
) -> Duration {
    let key = key.into();
    match parse_duration(value) {
        Ok(d) if d < min => {
            issues.push(Issue {
                key,
                message: format!(
                    "{value:?} is too short; use at least {}",
                    format_duration(min)
                ),
            });
            min
        }
        Ok(d) if d > max => {
            issues.push(Issue {
                key,
                message: format!(
                    "{value:?} is too long; use at most {}",
                    format_duration(max)
                ),
            });
            max
        }
        Ok(d) => d,
        Err(e) => {
            issues.push(Issue {
                key,
                message: e.to_string(),
            });
            min
        }
    }
}

/// Checks a collector URL: `https://host[:port][/prefix]`, no query or fragment. Returns it
/// without a trailing slash.
pub fn check_collector_url(url: &str) -> Result<String, String> {
    if url.is_empty() {
        return Err(
            "is required; set the collector's ingest URL, e.g. https://collector.example:7443"
                .into(),
        );
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        format!("{url:?} is not a valid URL ({e}); write e.g. https://collector.example:7443")
    })?;
    if parsed.scheme() != "https" {
        return Err(format!(
            "{url:?} uses {}://; reports are only sent over mutual TLS, use https://",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{url:?} has no host; write e.g. https://collector.example:7443"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{url:?} has a query or fragment; give only https://host:port"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{url:?} contains credentials; the agent authenticates with its certificate, remove them"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

impl FileConfig {
    /// Checks every value, resolves relative paths against the config file's directory, and
    /// (with [`CheckFiles::Yes`]) loads the TLS files. Reports every problem at once.
    pub fn validate(self, path: &Path, check_files: CheckFiles) -> Result<Config, ConfigError> {
        let mut issues = Vec::new();
        // Absolute, so paths in logs and errors are unambiguous whatever the working
        // directory; `absolute` does not touch the file system.
        let base = std::path::absolute(path)
            .unwrap_or_else(|_| path.to_owned())
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));

        let id = self.agent.id.trim().to_owned();
        if id.is_empty() {
            issues.push(Issue {
                key: "agent.id".into(),
                message: "is required; set it to this agent's id, the common name of its certificate (e.g. web-01)".into(),
            });
        } else if !is_valid_agent_id(&id) {
            issues.push(Issue {
                key: "agent.id".into(),
                message: format!(
                    "{id:?} is not a valid id; use 1 to 128 ASCII letters, digits, '.', '_' or '-'"
                ),
            });
        }

        if self.agent.state_dir.as_os_str().is_empty() {
            issues.push(Issue {
                key: "agent.state_dir".into(),
                message: "is empty; remove the key for the default /var/lib/zerofault/agent or name a directory".into(),
            });
        }
        let state_dir = resolve(&base, &self.agent.state_dir);

        let labels = Labels {
            department: self.labels.department,
            business_system: self.labels.business_system,
            datacenter: self.labels.datacenter,
            site: self.labels.site,
        };
        for (key, value) in [
            ("labels.department", &labels.department),
            ("labels.business_system", &labels.business_system),
            ("labels.datacenter", &labels.datacenter),
            ("labels.site", &labels.site),
        ] {
            if value.len() > MAX_LABEL_BYTES {
                issues.push(Issue {
                    key: key.into(),
                    message: format!(
                        "is {} bytes long; use at most {MAX_LABEL_BYTES} (a code, not a description)",
                        value.len()
                    ),
                });
            }
        }

        let collector_url = match check_collector_url(self.collector.url.trim()) {
            Ok(u) => u,
            Err(message) => {
                issues.push(Issue {
                    key: "collector.url".into(),
                    message,
                });
                String::new()
            }
        };
        let collector_timeout = check_duration(
            &mut issues,
            "collector.timeout",
            &self.collector.timeout,
            MIN_TIMEOUT,
            MAX_TIMEOUT,
        );
        let interval = check_duration(
            &mut issues,
            "interval",
            &self.interval,
            MIN_INTERVAL,
            MAX_INTERVAL,
        );

        let mut tls_ok = true;
        for (key, p) in [
            ("tls.ca", &self.tls.ca),
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
        ] {
            if p.as_os_str().is_empty() {
                tls_ok = false;
                issues.push(Issue {
                    key: key.into(),
                    message: "is required; give the path of a PEM file".into(),
                });
            }
        }
        let tls = TlsPaths {
            ca: resolve(&base, &self.tls.ca),
            cert: resolve(&base, &self.tls.cert),
            key: resolve(&base, &self.tls.key),
        };
        if tls_ok && check_files == CheckFiles::Yes {
            use crate::transport::tls::{client_config, load_certs, load_key};
            // Each file on its own first, so one run names every broken file.
            let errors: Vec<_> = [
                load_certs("tls.ca", &tls.ca).err(),
                load_certs("tls.cert", &tls.cert).err(),
                load_key("tls.key", &tls.key).err(),
            ]
            .into_iter()
            .flatten()
            .collect();
            let errors = if errors.is_empty() {
                client_config(&tls).err().into_iter().collect()
            } else {
                errors
            };
            // The collector refuses (403) every report whose agent id is not the client
            // certificate's name; catch that here rather than after deployment.
            if errors.is_empty()
                && let Ok(chain) = load_certs("tls.cert", &tls.cert)
                && let Some(leaf) = chain.first()
            {
                match zerofault_common::certificate_common_name(leaf.as_ref()) {
                    Some(cn) if cn == id => {}
                    Some(cn) => issues.push(Issue {
                        key: "tls.cert".into(),
                        message: format!(
                            "{} was issued to {cn:?} but agent.id is {id:?}; the collector \
                             would refuse every report (403). Set agent.id: {cn} or issue a \
                             certificate for {id} (zerofault-collector certs --agent {id})",
                            tls.cert.display()
                        ),
                    }),
                    None => issues.push(Issue {
                        key: "tls.cert".into(),
                        message: format!(
                            "{} has no subject common name; the collector identifies agents by \
                             it. Issue one with zerofault-collector certs --agent {id}",
                            tls.cert.display()
                        ),
                    }),
                }
            }
            issues.extend(errors.into_iter().map(|e| Issue {
                key: e.key().into(),
                message: format!("{e}{}", missing_file_hint(&e, &id)),
            }));
        }

        let probes = check_probes(
            &mut issues,
            self.probes,
            &base,
            interval,
            &tls.ca,
            check_files,
        );

        let spool = check_spool(&mut issues, &self.spool, &base, &state_dir);

        if !issues.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                issues,
            });
        }
        Ok(Config {
            path: path.to_owned(),
            agent_id: id,
            state_dir,
            labels,
            collector_url,
            collector_timeout,
            tls,
            interval,
            probes,
            spool,
        })
    }
}

/// Checks the `spool:` section.
fn check_spool(
    issues: &mut Vec<Issue>,
    section: &SpoolSection,
    base: &Path,
    state_dir: &Path,
) -> SpoolConfig {
    use crate::spool::{DEFAULT_BACKFILL_RATE, DEFAULT_MAX_BYTES, MIN_MAX_BYTES};
    let dir = match &section.dir {
        Some(d) if d.as_os_str().is_empty() => {
            issues.push(Issue {
                key: "spool.dir".into(),
                message: "is empty; remove the key for the default <agent.state_dir>/spool or name a directory".into(),
            });
            state_dir.join("spool")
        }
        Some(d) => resolve(base, d),
        None => state_dir.join("spool"),
    };
    let max_bytes = section.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
    if !(MIN_MAX_BYTES..=MAX_SPOOL_BYTES).contains(&max_bytes) {
        issues.push(Issue {
            key: "spool.max_bytes".into(),
            message: format!(
                "{max_bytes} is out of range; use {MIN_MAX_BYTES} (256 KiB) to {MAX_SPOOL_BYTES} (1 TiB) bytes, default {DEFAULT_MAX_BYTES} (512 MiB, 7 days of reports with 50 probe targets)"
            ),
        });
    }
    let backfill_rate = section.backfill_rate.unwrap_or(DEFAULT_BACKFILL_RATE);
    if !(1..=MAX_BACKFILL_RATE).contains(&backfill_rate) {
        issues.push(Issue {
            key: "spool.backfill_rate".into(),
            message: format!(
                "{backfill_rate} is out of range; use 1 to {MAX_BACKFILL_RATE} reports per second, default {DEFAULT_BACKFILL_RATE}"
            ),
        });
    }
    SpoolConfig {
        dir,
        max_bytes,
        backfill_rate,
    }
}

/// Checks the `probes:` list; every problem is named `probes[i].key`.
fn check_probes(
    issues: &mut Vec<Issue>,
    sections: Vec<ProbeSection>,
    base: &Path,
    report_interval: Duration,
    agent_ca: &Path,
    check_files: CheckFiles,
) -> Vec<ProbeSpec> {
    if sections.len() > MAX_PROBES {
        issues.push(Issue {
            key: "probes".into(),
            message: format!(
                "has {} entries; at most {MAX_PROBES} targets per agent (spread them over several agents)",
                sections.len()
            ),
        });
        return Vec::new();
    }
    let mut out = Vec::with_capacity(sections.len());
    // (link, kind) -> index of its first entry.
    let mut seen: std::collections::HashMap<(String, LinkKind), usize> =
        std::collections::HashMap::new();
    for (i, p) in sections.into_iter().enumerate() {
        let key = |k: &str| format!("probes[{i}].{k}");
        let before = issues.len();

        let link = p.link.trim().to_owned();
        if link.is_empty() {
            issues.push(Issue {
                key: key("link"),
                message:
                    "is required; set the link id from the collector's inventory, e.g. gz-huadu-01"
                        .into(),
            });
        } else if !is_valid_agent_id(&link) {
            issues.push(Issue {
                key: key("link"),
                message: format!(
                    "{link:?} is not a valid link id; use 1 to 128 ASCII letters, digits, '.', '_' or '-'"
                ),
            });
        }

        let kind = match p.kind.trim() {
            "" => {
                issues.push(Issue {
                    key: key("kind"),
                    message: "is required; use icmp, tcp or http".into(),
                });
                None
            }
            k => match LinkKind::parse(k) {
                Some(k) => Some(k),
                None => {
                    issues.push(Issue {
                        key: key("kind"),
                        message: format!("{k:?} is not a probe kind; use icmp, tcp or http"),
                    });
                    None
                }
            },
        };

        let target = kind.and_then(|k| match parse_target(k, &p.target) {
            Ok(t) => Some(t),
            Err(message) => {
                issues.push(Issue {
                    key: key("target"),
                    message,
                });
                None
            }
        });

        let interval = match &p.interval {
            None => DEFAULT_PROBE_INTERVAL.min(report_interval),
            Some(v) => check_duration(
                issues,
                key("interval"),
                v,
                MIN_PROBE_INTERVAL,
                report_interval,
            ),
        };
        if report_interval.as_nanos() / interval.as_nanos().max(1) > MAX_PROBES_PER_WINDOW {
            issues.push(Issue {
                key: key("interval"),
                message: format!(
                    "{} with a report interval of {} is more than {MAX_PROBES_PER_WINDOW} probes per report; use a longer probe interval or a shorter report interval",
                    format_duration(interval),
                    format_duration(report_interval)
                ),
            });
        }
        let timeout = match &p.timeout {
            None => link::default_timeout(interval),
            Some(v) => check_duration(
                issues,
                key("timeout"),
                v,
                Duration::from_millis(1),
                MAX_PROBE_TIMEOUT,
            ),
        };

        let mut one_of = |k: &str, value: Option<String>, allowed: &[&str]| -> String {
            let v = value.unwrap_or_default().trim().to_owned();
            if !v.is_empty() && !allowed.contains(&v.as_str()) {
                issues.push(Issue {
                    key: key(k),
                    message: format!(
                        "{v:?} is not one of {}; remove the key or use one of them",
                        allowed.join(", ")
                    ),
                });
            }
            v
        };
        let level = one_of("level", p.level, &LINK_LEVELS);
        let domain = one_of("domain", p.domain, &LINK_DOMAINS);

        let https = matches!(&target, Some(Target::Http(u)) if u.scheme() == "https");
        let mut trusted_cas = Vec::new();
        if let Some(ca) = &p.ca {
            if !https {
                issues.push(Issue {
                    key: key("ca"),
                    message:
                        "is only used by https targets (kind: http, target https://...); remove it"
                            .into(),
                });
            } else if ca.as_os_str().is_empty() {
                issues.push(Issue {
                    key: key("ca"),
                    message: "is empty; give the path of the PEM file of the target's CA, or remove the key to trust only tls.ca".into(),
                });
            } else {
                let ca = resolve(base, ca);
                if check_files == CheckFiles::Yes
                    && let Err(e) = crate::transport::tls::load_certs("ca", &ca)
                {
                    issues.push(Issue {
                        key: key("ca"),
                        message: e.to_string(),
                    });
                }
                trusted_cas.push(ca);
            }
        }
        if https {
            // Closed networks have no public roots: the agent's own CA is trusted by default
            // (targets inside the platform usually share the platform's PKI).
            trusted_cas.push(agent_ca.to_owned());
        }

        if let Some(k) = kind
            && !link.is_empty()
        {
            match seen.entry((link.clone(), k)) {
                std::collections::hash_map::Entry::Occupied(first) => issues.push(Issue {
                    key: key("link"),
                    message: format!(
                        "link {link:?} already has a probe of kind {k} at probes[{}]; give each link one probe per kind (remove one, or use another link id)",
                        first.get()
                    ),
                }),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }

        if issues.len() == before
            && let (Some(kind), Some(target)) = (kind, target)
        {
            out.push(ProbeSpec {
                link,
                kind,
                target_text: p.target.trim().to_owned(),
                target,
                interval,
                timeout,
                level,
                domain,
                trusted_cas,
            });
        }
    }
    // Each window's loss runs go into one report, and the collector refuses a report with
    // more than the protocol allows; at worst every other probe is lost, a run each.
    let worst_runs: u128 = out
        .iter()
        .map(|p| (report_interval.as_nanos() / p.interval.as_nanos().max(1)).div_ceil(2))
        .sum();
    let max_runs = zerofault_protocol::Limits::default().max_loss_runs as u128;
    if worst_runs > max_runs {
        issues.push(Issue {
            key: "probes".into(),
            message: format!(
                "these targets at their probe intervals could lose every other probe in {worst_runs} runs per report, and a report may carry at most {max_runs}; use longer probe intervals, a shorter report interval or fewer targets"
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
agent:
  id: web-01
labels:
  department: fgw
  datacenter: dc-north
collector:
  url: https://collector.example:7443/
tls:
  ca: pki/ca.pem
  cert: /etc/zerofault/agent.pem
  key: agent.key
";

    fn load_str(text: &str) -> Result<Config, ConfigError> {
        let path = Path::new("/etc/zerofault/agent.yaml");
        parse(path, text)?.validate(path, CheckFiles::No)
    }

    fn issues(text: &str) -> Vec<Issue> {
        match load_str(text) {
            Err(ConfigError::Invalid { issues, .. }) => issues,
            other => panic!("expected validation issues, got {other:?}"),
        }
    }

    #[test]
    fn good_config_gets_defaults_and_resolved_paths() {
        let c = load_str(GOOD).unwrap();
        assert_eq!(c.agent_id, "web-01");
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/zerofault/agent"));
        assert_eq!(c.labels.department, "fgw");
        assert_eq!(c.labels.site, "");
        assert_eq!(c.collector_url, "https://collector.example:7443");
        assert_eq!(
            c.ingest_url(),
            "https://collector.example:7443/api/v1/report"
        );
        assert_eq!(c.collector_timeout, Duration::from_secs(10));
        assert_eq!(c.interval, Duration::from_secs(15));
        assert_eq!(c.tls.ca, PathBuf::from("/etc/zerofault/pki/ca.pem"));
        assert_eq!(c.tls.cert, PathBuf::from("/etc/zerofault/agent.pem"));
        assert_eq!(c.tls.key, PathBuf::from("/etc/zerofault/agent.key"));
    }

    #[test]
    fn spool_defaults_and_bounds() {
        let c = load_str(GOOD).unwrap();
        assert_eq!(c.spool.dir, PathBuf::from("/var/lib/zerofault/agent/spool"));
        assert_eq!(c.spool.max_bytes, 512 << 20);
        assert_eq!(c.spool.backfill_rate, 50);
        let c = load_str(&format!(
            "{GOOD}spool:\n  dir: spool\n  max_bytes: 1048576\n  backfill_rate: 5\n"
        ))
        .unwrap();
        assert_eq!(c.spool.dir, PathBuf::from("/etc/zerofault/spool"));
        assert_eq!(c.spool.max_bytes, 1 << 20);
        assert_eq!(c.spool.backfill_rate, 5);
        let is = issues(&format!(
            "{GOOD}spool:\n  dir: ''\n  max_bytes: 1000\n  backfill_rate: 0\n"
        ));
        let keys: Vec<_> = is.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["spool.dir", "spool.max_bytes", "spool.backfill_rate"]
        );
        assert!(is[1].message.contains("256 KiB"), "{}", is[1].message);
        let e = load_str(&format!("{GOOD}spool:\n  size: 5\n")).unwrap_err();
        assert!(e.to_string().contains("size"), "{e}");
    }

    #[test]
    fn relative_state_dir_is_resolved_against_the_config_dir() {
        let c = load_str(&format!("{GOOD}\n")).unwrap();
        assert!(c.state_dir.is_absolute());
        let text = GOOD.replace("  id: web-01\n", "  id: web-01\n  state_dir: state\n");
        let c = load_str(&text).unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/etc/zerofault/state"));
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = GOOD
            .replace("interval", "x")
            .replace("collector:\n", "collector:\n  urll: https://x\n");
        let err = load_str(&text).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "/etc/zerofault/agent.yaml:7:3: key 'collector.urll': unknown key; expected one \
                 of url, timeout; did you mean `url`?"
            ),
            "{err}"
        );
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        let err = load_str(&format!("{GOOD}intervall: 15s\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("intervall"), "{err}");
    }

    #[test]
    fn yaml_syntax_error_names_file_and_line() {
        let err = load_str("agent:\n  id: [web\n").unwrap_err().to_string();
        assert!(err.starts_with("/etc/zerofault/agent.yaml:2:"), "{err}");
        assert!(err.contains("key 'agent.id'"), "{err}");
    }

    #[test]
    fn bad_duration_is_named() {
        let is = issues(&format!("{GOOD}interval: 15\n"));
        assert_eq!(is.len(), 1);
        assert_eq!(is[0].key, "interval");
        assert!(is[0].message.contains("no unit"), "{is:?}");

        let is = issues(&format!("{GOOD}interval: 0s\n"));
        assert_eq!(
            load_str(&format!("{GOOD}interval: 0s\n"))
                .unwrap_err()
                .to_string(),
            "/etc/zerofault/agent.yaml: key 'interval': \"0s\" is too short; use at least 1s"
        );
        assert_eq!(is[0].key, "interval");

        let is = issues(&GOOD.replace("collector:\n", "collector:\n  timeout: 10 minutes\n"));
        assert_eq!(is[0].key, "collector.timeout");
        assert!(is[0].message.contains("unknown unit"), "{is:?}");

        let is = issues(&format!("{GOOD}interval: 2d\n"));
        assert_eq!(is[0].key, "interval");
        let is = issues(&format!("{GOOD}interval: 25h\n"));
        assert!(is[0].message.contains("at most 24h"), "{is:?}");
    }

    #[test]
    fn missing_id_is_named() {
        let is = issues(&GOOD.replace("  id: web-01\n", "  state_dir: /tmp/x\n"));
        assert_eq!(is.len(), 1);
        assert_eq!(is[0].key, "agent.id");
        assert!(is[0].message.contains("required"));
        let is = issues(&GOOD.replace("agent:\n  id: web-01\n", ""));
        assert_eq!(is[0].key, "agent.id");
    }

    #[test]
    fn invalid_id_is_named() {
        let is = issues(&GOOD.replace("web-01", "web 01/x"));
        assert_eq!(is[0].key, "agent.id");
        assert!(is[0].message.contains("not a valid id"));
    }

    #[test]
    fn http_url_is_refused() {
        let is = issues(&GOOD.replace("https://", "http://"));
        assert_eq!(is.len(), 1);
        assert_eq!(is[0].key, "collector.url");
        assert!(is[0].message.contains("use https://"), "{is:?}");
    }

    #[test]
    fn collector_url_checks() {
        assert!(check_collector_url("").is_err());
        assert!(check_collector_url("collector:7443").is_err());
        assert!(check_collector_url("https://c:7443/?a=b").is_err());
        assert!(check_collector_url("https://u:p@c:7443").is_err());
        assert_eq!(
            check_collector_url("https://c:7443/zf/").unwrap(),
            "https://c:7443/zf"
        );
        assert_eq!(
            check_collector_url("https://[::1]:7443").unwrap(),
            "https://[::1]:7443"
        );
    }

    #[test]
    fn missing_sections_are_all_reported() {
        let is = issues("");
        let keys: Vec<_> = is.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["agent.id", "collector.url", "tls.ca", "tls.cert", "tls.key"]
        );
    }

    #[test]
    fn long_label_is_named() {
        let long = "x".repeat(129);
        let is = issues(&GOOD.replace("dc-north", &long));
        assert_eq!(is[0].key, "labels.datacenter");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = load_str(&GOOD.replace("department: fgw", "department: [a, b]"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("department") || err.contains("line 4"),
            "{err}"
        );
    }

    #[test]
    fn example_config_in_the_repository_is_structurally_valid() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../configs/agent.yaml"
        ));
        let c = load(path, CheckFiles::No).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.interval, Duration::from_secs(15));
        assert_eq!(c.collector_timeout, Duration::from_secs(10));
        assert!(c.collector_url.starts_with("https://"));
    }

    /// A report carries at most `Limits::max_loss_runs` loss runs: a config whose targets
    /// could lose every other probe in more runs than that is refused up front, rather than
    /// every such report by the collector.
    #[test]
    fn probes_that_could_exceed_the_reports_loss_runs_are_refused() {
        let with = |n: usize| {
            let mut text = format!("{GOOD}probes:\n");
            for i in 0..n {
                text.push_str(&format!(
                    "  - link: l-{i}\n    kind: icmp\n    target: 198.18.{}.{}\n    interval: 10ms\n",
                    i / 200,
                    i % 200 + 1
                ));
            }
            text
        };
        // 15 s / 10 ms = 1,500 probes a window, at worst 750 runs per target.
        assert_eq!(load_str(&with(87)).unwrap().probes.len(), 87);
        let e = load_str(&with(88)).unwrap_err().to_string();
        assert!(e.contains("66000 runs per report"), "{e}");
        assert!(e.contains("at most 65536"), "{e}");
    }

    #[test]
    fn probes_default_to_none_and_get_defaults() {
        assert!(load_str(GOOD).unwrap().probes.is_empty());
        let text = format!(
            "{GOOD}probes:\n  - link: gz-huadu-01\n    kind: icmp\n    target: 198.18.0.2\n    level: city-county\n    domain: administrative\n  - link: gz-huadu-01\n    kind: tcp\n    target: \"[2001:db8::2]:443\"\n    interval: 200ms\n  - link: portal\n    kind: http\n    target: https://portal.example/health\n    interval: 5s\n    timeout: 3s\n    ca: pki/portal-ca.pem\n"
        );
        let c = load_str(&text).unwrap();
        assert_eq!(c.probes.len(), 3);
        let p = &c.probes[0];
        assert_eq!(p.link, "gz-huadu-01");
        assert_eq!(p.kind, LinkKind::Icmp);
        assert_eq!(p.interval, Duration::from_secs(1));
        assert_eq!(p.timeout, Duration::from_secs(1));
        assert_eq!(
            (p.level.as_str(), p.domain.as_str()),
            ("city-county", "administrative")
        );
        assert!(p.trusted_cas.is_empty());
        let p = &c.probes[1];
        assert_eq!(p.target_text, "[2001:db8::2]:443");
        assert_eq!(
            p.timeout,
            Duration::from_millis(200),
            "default timeout = interval"
        );
        assert_eq!(p.level, "");
        let p = &c.probes[2];
        assert_eq!(p.timeout, Duration::from_secs(3));
        assert_eq!(
            p.trusted_cas,
            [
                PathBuf::from("/etc/zerofault/pki/portal-ca.pem"),
                PathBuf::from("/etc/zerofault/pki/ca.pem")
            ]
        );
    }

    #[test]
    fn probe_problems_name_the_entry_and_key() {
        let text = format!(
            "{GOOD}probes:\n  - link: a\n    kind: icmp\n    target: 198.18.0.2\n  - link: bad id\n    kind: udp\n    target: x\n  - kind: tcp\n    target: 198.18.0.2\n    interval: 5ms\n    timeout: 0s\n    level: metro\n    domain: private\n  - link: a\n    kind: icmp\n    target: 198.18.0.3\n  - link: c\n    kind: http\n    target: http://x/\n    ca: ca.pem\n  - link: d\n    kind: icmp\n    target: 198.18.0.4\n    interval: 30s\n"
        );
        let is = issues(&text);
        let keys: Vec<_> = is.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "probes[1].link",
                "probes[1].kind",
                "probes[2].link",
                "probes[2].target",
                "probes[2].interval",
                "probes[2].timeout",
                "probes[2].level",
                "probes[2].domain",
                "probes[3].link",
                "probes[4].ca",
                "probes[5].interval",
            ],
            "{is:#?}"
        );
        assert!(is[3].message.contains("no port"), "{is:?}");
        assert!(is[4].message.contains("at least 10ms"), "{is:?}");
        assert!(
            is[8]
                .message
                .contains("already has a probe of kind icmp at probes[0]"),
            "{is:?}"
        );
        assert!(is[10].message.contains("at most 15s"), "{is:?}");
        let err = load_str(&text).unwrap_err().to_string();
        assert!(
            err.contains("/etc/zerofault/agent.yaml: key 'probes[2].target': "),
            "{err}"
        );
    }

    #[test]
    fn same_link_different_kinds_is_fine_and_unknown_probe_keys_are_refused() {
        let text = format!(
            "{GOOD}probes:\n  - link: a\n    kind: icmp\n    target: h.example\n  - link: a\n    kind: tcp\n    target: h.example:22\n"
        );
        assert_eq!(load_str(&text).unwrap().probes.len(), 2);
        let err = load_str(&format!(
            "{GOOD}probes:\n  - link: a\n    kind: icmp\n    target: h\n    port: 1\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("port"), "{err}");
    }

    #[test]
    fn example_probes_section_is_valid_when_uncommented() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../configs/agent.yaml"
        ));
        let text = std::fs::read_to_string(path).unwrap();
        let start = text
            .find("\n# probes:\n")
            .expect("the example has a probes section")
            + 1;
        let enabled: String = text[start..]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = parse(path, &format!("{}{enabled}", &text[..start]))
            .unwrap()
            .validate(path, CheckFiles::No)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.probes.len(), 3);
        assert_eq!(c.probes[2].trusted_cas.len(), 2);
    }

    /// Issue 11 item 9: a typo'd key, a wrong type and a missing certificate are all listed
    /// in one run, in the order of the file, each with its line, key, expectation and fix.
    #[test]
    fn load_lists_every_kind_of_problem_with_line_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.yaml");
        let d = dir.path().display();
        for name in ["ca.pem", "agent.key"] {
            std::fs::write(dir.path().join(name), "not PEM").unwrap();
        }
        std::fs::write(
            &path,
            "agent:\n  id: web-01\n  stat_dir: /tmp/x\ncollector:\n  url: https://c:7443\n\
             tls:\n  ca: ca.pem\n  cert: agent.pem\n  key: agent.key\nspool:\n  max_bytes: lots\n",
        )
        .unwrap();
        let msg = load(&path, CheckFiles::Yes).unwrap_err().to_string();
        let lines: Vec<&str> = msg.lines().collect();
        let file = path.display();
        assert_eq!(lines.len(), 5, "{msg}");
        assert_eq!(
            lines[0],
            format!(
                "{file}:3:3: key 'agent.stat_dir': unknown key; expected one of id, state_dir; \
                 did you mean `state_dir`? Fix the spelling or remove the key"
            )
        );
        assert!(
            lines[1].starts_with(&format!("{file}:7:3: key 'tls.ca': ")),
            "{msg}"
        );
        assert_eq!(
            lines[2],
            format!(
                "{file}:8:3: key 'tls.cert': cannot read {d}/agent.pem: No such file or \
                 directory (os error 2); issue this agent's certificate on the collector host \
                 with `zerofault-collector certs --dir DIR --agent web-01` and copy \
                 DIR/agents/web-01.pem and web-01.key here, or fix the path"
            )
        );
        assert!(
            lines[3].starts_with(&format!("{file}:9:3: key 'tls.key': ")),
            "{msg}"
        );
        assert_eq!(
            lines[4],
            format!(
                "{file}:11:14: key 'spool.max_bytes': found \"lots\", expected a whole number \
                 from 0 to 18446744073709551615, digits only, no unit or quotes; write it so"
            )
        );
    }

    #[test]
    fn missing_tls_files_are_named_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.yaml");
        std::fs::write(&path, GOOD).unwrap();
        let err = load(&path, CheckFiles::Yes).unwrap_err().to_string();
        assert!(err.contains("key 'tls.ca'"), "{err}");
        assert!(err.contains("pki/ca.pem"), "{err}");
        assert!(err.contains("key 'tls.key'"), "{err}");
        assert!(err.contains("agent.key"), "{err}");
    }
}
