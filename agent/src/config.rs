//! The agent's config file (`agent.yaml`): what the operator writes, and the checked,
//! resolved [`Config`] the rest of the agent uses.
//!
//! Loading is two steps so that every error names the file, the key and the fix:
//! serde-saphyr parses the YAML into [`FileConfig`] (unknown keys and YAML syntax errors are
//! reported with their line), then [`FileConfig::validate`] checks values and resolves paths,
//! collecting every problem rather than stopping at the first.
//!
//! Each section belongs to the component that uses it, which declares it, its defaults and
//! its checks next to its code: `agent:`, `labels:` and `interval` in
//! `reporter/settings.rs`, `collector:` and `tls:` in `transport/settings.rs`, `probes:` in
//! `probe/link/settings.rs`, `spool:` in `spool/settings.rs`. This file only composes them
//! and loads the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zerofault_common::problem::{Problem, QuotedKeyProblems, add_at_lines};
use zerofault_common::yaml::{ParseProblem, ParseProblems, Parsed, parse_all};
use zerofault_protocol::Labels;

pub use crate::checks::CheckFiles;
use crate::checks::Checks;
use crate::probe::link::ProbeSpec;
use crate::probe::link::settings::{ProbeSection, check_probes};
use crate::reporter::settings::{AgentSection, LabelsSection, check_interval, default_interval};
pub use crate::spool::settings::SpoolConfig;
use crate::spool::settings::SpoolSection;
use crate::transport::settings::{CollectorSection, TlsSection, TransportSettings, ingest_url};
pub use crate::transport::tls::TlsPaths;

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
    /// Collector base URLs without a trailing slash, in order of preference: `collector.url`
    /// alone, or `collector.urls`.
    pub collector_urls: Vec<String>,
    /// Timeout of one upload.
    pub collector_timeout: Duration,
    /// TLS file paths, resolved.
    pub tls: TlsPaths,
    /// Renew the client certificate this long before it ends (`tls.renew_before`).
    pub renew_before: Duration,
    /// Collection interval.
    pub interval: Duration,
    /// Link probe targets, checked.
    pub probes: Vec<ProbeSpec>,
    /// Durable spool and backfill.
    pub spool: SpoolConfig,
}

impl Config {
    /// Full URL of the ingest endpoint of the first collector.
    pub fn ingest_url(&self) -> String {
        ingest_url(self.collector_urls.first().map_or("", String::as_str))
    }
}

impl<'a> From<&'a Config> for TransportSettings<'a> {
    fn from(config: &'a Config) -> Self {
        TransportSettings {
            config_file: &config.path,
            collector_urls: &config.collector_urls,
            timeout: config.collector_timeout,
            tls: &config.tls,
            interval: config.interval,
        }
    }
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
    /// The file parsed but some values are wrong; shown one per line as
    /// `file: key 'k': problem`.
    #[error("{}", QuotedKeyProblems(.problems))]
    Invalid {
        /// Every problem found, with its dotted key, e.g. `collector.url` or
        /// `probes[3].target`.
        problems: Vec<Problem<String>>,
    },
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
    let mut found = Vec::new();
    if let Some(file) = parsed.value {
        match file.validate(path, check_files) {
            Ok(c) => config = Some(c),
            Err(ConfigError::Invalid { problems }) => found = problems,
            Err(other) => return Err(other),
        }
    }
    // At the line of each key, in the order of the file; problems with no line (a missing
    // section) last.
    add_at_lines(&mut problems, path, &text, found);
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

impl FileConfig {
    /// Checks every value, resolves relative paths against the config file's directory, and
    /// (with [`CheckFiles::Yes`]) loads the TLS files. Reports every problem at once, in the
    /// order of the sections.
    pub fn validate(self, path: &Path, check_files: CheckFiles) -> Result<Config, ConfigError> {
        let mut checks = Checks::new(path, check_files);
        let (agent_id, state_dir) = self.agent.check(&mut checks);
        let labels = self.labels.check(&mut checks);
        let (collector_urls, collector_timeout) = self.collector.check(&mut checks);
        let interval = check_interval(&mut checks, &self.interval);
        let tls = self.tls.check(&mut checks, &agent_id);
        let renew_before = self.tls.renew_before(&mut checks);
        let probes = check_probes(&mut checks, self.probes, interval, &tls.ca);
        let spool = self.spool.check(&mut checks, &state_dir);
        let problems = checks.into_problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid { problems });
        }
        Ok(Config {
            path: path.to_owned(),
            agent_id,
            state_dir,
            labels,
            collector_urls,
            collector_timeout,
            tls,
            renew_before,
            interval,
            probes,
            spool,
        })
    }
}

#[cfg(test)]
mod tests;
