//! The collector's configuration file (`configs/collector.yaml`).
//!
//! Loading is two steps: [`Config::load`] parses the YAML (unknown keys are errors, so a typo
//! never silently falls back to a default) and resolves relative paths against the file's
//! directory; [`Config::validate`] then checks values and that the TLS files exist and
//! parse. Every error names the file, the key and what to do about it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use zerofault_common::yaml::{ParseProblem, ParseProblems, key_within, parse_all};

use crate::duration::format_duration;
use crate::inventory::{Inventory, InventoryError};
use crate::live::hosts::DEFAULT_DOWN_AFTER_INTERVALS;
use crate::live::links::{
    DEFAULT_DEGRADED_LOSS_RATIO, DEFAULT_DEGRADED_RTT, DEFAULT_DOWN_CONFIRM_PROBES,
    DEFAULT_DOWN_LOSS_RATIO, DEFAULT_FAULT_MIN, DEFAULT_REPLAY, DEFAULT_UP_CONFIRM_PROBES,
    MAX_CONFIRM_PROBES,
};

/// Default mTLS ingest listen address: every interface, agents connect from the network.
pub const DEFAULT_INGEST_LISTEN: &str = "0.0.0.0:7443";
/// Default plain-HTTP listen address: loopback only, because `/metrics` is unauthenticated.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9464";
/// Default SQLite database path.
pub const DEFAULT_SQLITE_PATH: &str = "/var/lib/zerofault/collector/zerofault.db";
/// Default cap of a compressed report body (1 MiB): a large host's report is a few KiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Default cap of a decompressed report (8 MiB): bounds the memory a zstd bomb can take.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 8 * 1024 * 1024;
/// Largest accepted value of either size cap (1 GiB): above, one request could exhaust memory.
pub const MAX_LIMIT_BYTES: u64 = 1024 * 1024 * 1024;

/// The whole collector configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listen addresses.
    #[serde(default)]
    pub listen: Listen,
    /// Certificates of the mTLS ingest listener. Required: there is no safe default. Parsed
    /// as empty when missing, so that `validate` names it among every other problem.
    #[serde(default)]
    pub tls: Tls,
    /// Where reports are stored.
    #[serde(default)]
    pub storage: Storage,
    /// Request size caps.
    #[serde(default)]
    pub limits: Limits,
    /// Host liveness.
    #[serde(default)]
    pub hosts: Hosts,
    /// Link states, hysteresis and faults.
    #[serde(default)]
    pub links: Links,
    /// Agent clock checks.
    #[serde(default)]
    pub clock: Clock,
    /// The inventory file (organisation, sites, links, SLA targets, maintenance, reporting
    /// time zone; `docs/inventory.md`). Optional: without it no agent label is checked (none
    /// is flagged unknown) and the defaults apply (Asia/Shanghai, 60 s slots).
    #[serde(default)]
    pub inventory: Option<PathBuf>,
    /// The file this configuration was loaded from; error messages name it.
    #[serde(skip)]
    pub source: PathBuf,
}

/// Listen addresses (`listen.*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// mTLS listener for agents (`POST /api/v1/report`).
    #[serde(default = "default_ingest_listen", deserialize_with = "socket_addr")]
    pub ingest: SocketAddr,
    /// Plain-HTTP listener for `/metrics` and `/healthz`.
    #[serde(default = "default_http_listen", deserialize_with = "socket_addr")]
    pub http: SocketAddr,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            ingest: default_ingest_listen(),
            http: default_http_listen(),
        }
    }
}

fn default_ingest_listen() -> SocketAddr {
    DEFAULT_INGEST_LISTEN.parse().expect("valid default")
}

fn default_http_listen() -> SocketAddr {
    DEFAULT_HTTP_LISTEN.parse().expect("valid default")
}

/// PEM files of the ingest listener (`tls.*`). All three are required; an empty path is a
/// missing one, reported by [`Config::validate_structure`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// CA certificate(s) that agent client certificates must chain to.
    #[serde(default)]
    pub ca: PathBuf,
    /// The collector's server certificate chain (leaf first).
    #[serde(default)]
    pub cert: PathBuf,
    /// The private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: PathBuf,
}

/// Storage backend (`storage.*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// SQLite settings.
    #[serde(default)]
    pub sqlite: Sqlite,
}

/// SQLite settings (`storage.sqlite.*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sqlite {
    /// Database file; its directory is created at start-up when missing.
    #[serde(default = "default_sqlite_path")]
    pub path: PathBuf,
}

impl Default for Sqlite {
    fn default() -> Self {
        Self {
            path: default_sqlite_path(),
        }
    }
}

fn default_sqlite_path() -> PathBuf {
    PathBuf::from(DEFAULT_SQLITE_PATH)
}

/// What one request and one connection may cost the collector (`limits.*`): bytes, time
/// and connections, each bounded before the work is done. `docs/architecture.md` ("What one
/// agent can cost the collector") derives the memory ceiling of ingest from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted compressed body; larger requests get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Largest accepted decompressed report; larger reports get 413.
    #[serde(default = "default_max_decompressed_bytes")]
    pub max_decompressed_bytes: u64,
    /// Longest time to receive a report body once its headers are in; a slower body gets
    /// 408 and the connection is closed. A report is a few KiB: even a congested link sends
    /// it in well under a second.
    #[serde(default = "default_body_timeout", with = "duration_serde")]
    pub body_timeout: Duration,
    /// Longest silence inside a body (between two reads); a body that stalls for longer gets
    /// 408 and the connection is closed.
    #[serde(default = "default_body_idle_timeout", with = "duration_serde")]
    pub body_idle_timeout: Duration,
    /// Most reports decompressed and decoded at once (on the blocking thread pool); further
    /// ones wait their turn. Bounds the memory and CPU of decoding (each may take
    /// `max_decompressed_bytes` plus what it decodes to) whatever the number of connections.
    #[serde(default = "default_max_concurrent_decodes")]
    pub max_concurrent_decodes: u32,
    /// Most memory held by decoded reports waiting for their commit (each weighs its bytes
    /// plus what it decoded to); further decoded reports wait for room. An agent's report is
    /// a few KiB, so the default holds thousands.
    #[serde(default = "default_max_pending_bytes")]
    pub max_pending_bytes: u64,
    /// Most open ingest connections in all. Lowered at start to what the process's file
    /// descriptor limit allows, keeping room for the database and the HTTP listener (the
    /// log says so). Sized for a province: 50,000 agents keep one connection each.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Most open connections per agent identity (client certificate common name); a
    /// further connection is closed right after its handshake. An agent uses one.
    #[serde(default = "default_max_connections_per_agent")]
    pub max_connections_per_agent: u32,
    /// Most connections from one source address still in their TLS handshake. When a new
    /// one would exceed it, the oldest unfinished handshake from that address is dropped, so
    /// that a flood of unfinished handshakes cannot keep a well-behaved agent behind the
    /// same address (NAT) out. Finished connections are not counted per address: many agents
    /// may share one.
    #[serde(default = "default_max_handshakes_per_address")]
    pub max_handshakes_per_address: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body_bytes(),
            max_decompressed_bytes: default_max_decompressed_bytes(),
            body_timeout: default_body_timeout(),
            body_idle_timeout: default_body_idle_timeout(),
            max_concurrent_decodes: default_max_concurrent_decodes(),
            max_pending_bytes: default_max_pending_bytes(),
            max_connections: default_max_connections(),
            max_connections_per_agent: default_max_connections_per_agent(),
            max_handshakes_per_address: default_max_handshakes_per_address(),
        }
    }
}

fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}

fn default_max_decompressed_bytes() -> u64 {
    DEFAULT_MAX_DECOMPRESSED_BYTES
}

/// Default of `limits.body_timeout`.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `limits.body_idle_timeout`.
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `limits.max_concurrent_decodes`: an agent's report decodes in well under a
/// millisecond, so 4 at once keep the cores of a small machine busy; a hostile body that
/// expands to the decompressed cap takes a few tens of milliseconds of one core.
pub const DEFAULT_MAX_CONCURRENT_DECODES: u32 = 4;
/// Default of `limits.max_pending_bytes` (64 MiB).
pub const DEFAULT_MAX_PENDING_BYTES: u64 = 64 * 1024 * 1024;
/// Default of `limits.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 65_536;
/// Default of `limits.max_connections_per_agent`.
pub const DEFAULT_MAX_CONNECTIONS_PER_AGENT: u32 = 8;
/// Default of `limits.max_handshakes_per_address`.
pub const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS: u32 = 1024;

fn default_body_timeout() -> Duration {
    DEFAULT_BODY_TIMEOUT
}

fn default_body_idle_timeout() -> Duration {
    DEFAULT_BODY_IDLE_TIMEOUT
}

fn default_max_concurrent_decodes() -> u32 {
    DEFAULT_MAX_CONCURRENT_DECODES
}

fn default_max_pending_bytes() -> u64 {
    DEFAULT_MAX_PENDING_BYTES
}

fn default_max_connections() -> u32 {
    DEFAULT_MAX_CONNECTIONS
}

fn default_max_connections_per_agent() -> u32 {
    DEFAULT_MAX_CONNECTIONS_PER_AGENT
}

fn default_max_handshakes_per_address() -> u32 {
    DEFAULT_MAX_HANDSHAKES_PER_ADDRESS
}

/// Host liveness (`hosts.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hosts {
    /// A host is up while its newest report arrived within this many of its own intervals.
    #[serde(default = "default_down_after_intervals")]
    pub down_after_intervals: u32,
}

impl Default for Hosts {
    fn default() -> Self {
        Self {
            down_after_intervals: default_down_after_intervals(),
        }
    }
}

fn default_down_after_intervals() -> u32 {
    DEFAULT_DOWN_AFTER_INTERVALS
}

/// Agent clock checks (`clock.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// An agent whose estimated clock offset is larger than this (either way) is flagged by
    /// `zerofault_agent_clock_skewed` and a warning. Its timestamps are still stored; gaps,
    /// reboots and liveness never rely on them.
    #[serde(default = "default_max_skew", with = "duration_serde")]
    pub max_skew: Duration,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            max_skew: default_max_skew(),
        }
    }
}

fn default_max_skew() -> Duration {
    Duration::from_millis(crate::live::delivery::DEFAULT_MAX_SKEW_MS as u64)
}

/// Link states, hysteresis and faults (`links.*`); the model is described in `docs/links.md`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Links {
    /// A link-level down period lasting at least this long is a fault (shorter ones are
    /// down-time but not faults).
    #[serde(default = "default_fault_min", with = "duration_serde")]
    pub fault_min: Duration,
    /// A window whose loss ratio reaches this (with at least `down_confirm_probes` probes
    /// sent) is in state `down`; 1.0 means every probe of the window was lost.
    #[serde(default = "default_down_loss_ratio")]
    pub down_loss_ratio: f64,
    /// Consecutive lost probes needed before a vantage point counts as down; a shorter run
    /// never makes a link down, so a lost packet or two cannot flap it.
    #[serde(default = "default_down_confirm_probes")]
    pub down_confirm_probes: u32,
    /// Consecutive successful probes needed to end a down period; the period ends at the
    /// send time of the first of them.
    #[serde(default = "default_up_confirm_probes")]
    pub up_confirm_probes: u32,
    /// Degraded thresholds per backbone level.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// How far back the link engine is rebuilt from stored reports at start-up, so an
    /// outage in progress survives a collector restart. `0s` disables the replay.
    #[serde(default = "default_replay", with = "duration_serde")]
    pub replay: Duration,
}

impl Default for Links {
    fn default() -> Self {
        Self {
            fault_min: DEFAULT_FAULT_MIN,
            down_loss_ratio: DEFAULT_DOWN_LOSS_RATIO,
            down_confirm_probes: DEFAULT_DOWN_CONFIRM_PROBES,
            up_confirm_probes: DEFAULT_UP_CONFIRM_PROBES,
            thresholds: Thresholds::default(),
            replay: DEFAULT_REPLAY,
        }
    }
}

fn default_fault_min() -> Duration {
    DEFAULT_FAULT_MIN
}
fn default_down_loss_ratio() -> f64 {
    DEFAULT_DOWN_LOSS_RATIO
}
fn default_down_confirm_probes() -> u32 {
    DEFAULT_DOWN_CONFIRM_PROBES
}
fn default_up_confirm_probes() -> u32 {
    DEFAULT_UP_CONFIRM_PROBES
}
fn default_replay() -> Duration {
    DEFAULT_REPLAY
}

/// serde `with` module for duration fields written as `60s`, `100ms`, `48h`.
mod duration_serde {
    pub(super) use crate::duration::deserialize;
}

/// Degraded thresholds (`links.thresholds.*`): `default` and one optional entry per backbone
/// level (`zerofault_protocol::LINK_LEVELS`). A level entry may set one field only; what it
/// leaves out comes from `default`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Used for links without a level and for whatever a level entry leaves out.
    #[serde(default)]
    pub default: LevelThresholds,
    /// Province to city backbone.
    #[serde(default, rename = "province-city")]
    pub province_city: LevelOverride,
    /// City to county backbone.
    #[serde(default, rename = "city-county")]
    pub city_county: LevelOverride,
    /// County to township backbone.
    #[serde(default, rename = "county-township")]
    pub county_township: LevelOverride,
    /// Access links of connected units.
    #[serde(default)]
    pub access: LevelOverride,
}

/// Complete degraded thresholds of one level.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelThresholds {
    /// A window with at least this loss ratio is degraded.
    #[serde(default = "default_degraded_loss_ratio")]
    pub degraded_loss_ratio: f64,
    /// A window whose mean RTT is at least this is degraded.
    #[serde(default = "default_degraded_rtt", with = "duration_serde")]
    pub degraded_rtt: Duration,
}

impl Default for LevelThresholds {
    fn default() -> Self {
        Self {
            degraded_loss_ratio: DEFAULT_DEGRADED_LOSS_RATIO,
            degraded_rtt: DEFAULT_DEGRADED_RTT,
        }
    }
}

fn default_degraded_loss_ratio() -> f64 {
    DEFAULT_DEGRADED_LOSS_RATIO
}
fn default_degraded_rtt() -> Duration {
    DEFAULT_DEGRADED_RTT
}

/// A level's entry: each field falls back to `links.thresholds.default`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelOverride {
    /// See [`LevelThresholds::degraded_loss_ratio`].
    #[serde(default)]
    pub degraded_loss_ratio: Option<f64>,
    /// See [`LevelThresholds::degraded_rtt`].
    #[serde(default, deserialize_with = "crate::duration::deserialize_option")]
    pub degraded_rtt: Option<Duration>,
}

/// Config keys of the threshold entries, for messages: (level, loss key, rtt key).
const THRESHOLD_KEYS: [(&str, &str, &str); 4] = [
    (
        "province-city",
        "links.thresholds.province-city.degraded_loss_ratio",
        "links.thresholds.province-city.degraded_rtt",
    ),
    (
        "city-county",
        "links.thresholds.city-county.degraded_loss_ratio",
        "links.thresholds.city-county.degraded_rtt",
    ),
    (
        "county-township",
        "links.thresholds.county-township.degraded_loss_ratio",
        "links.thresholds.county-township.degraded_rtt",
    ),
    (
        "access",
        "links.thresholds.access.degraded_loss_ratio",
        "links.thresholds.access.degraded_rtt",
    ),
];

impl Thresholds {
    fn entry(&self, level: &str) -> Option<&LevelOverride> {
        match level {
            "province-city" => Some(&self.province_city),
            "city-county" => Some(&self.city_county),
            "county-township" => Some(&self.county_township),
            "access" => Some(&self.access),
            _ => None,
        }
    }

    /// The thresholds of `level` (a `LINK_LEVELS` value; anything else, including the empty
    /// level, gets `default`).
    pub fn for_level(&self, level: &str) -> LevelThresholds {
        let d = self.default;
        match self.entry(level) {
            Some(o) => LevelThresholds {
                degraded_loss_ratio: o.degraded_loss_ratio.unwrap_or(d.degraded_loss_ratio),
                degraded_rtt: o.degraded_rtt.unwrap_or(d.degraded_rtt),
            },
            None => d,
        }
    }
}

impl Links {
    fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.fault_min.is_zero() {
            problem(
                "links.fault_min",
                format!(
                    "0s would make every down period a fault; use at least 1s (default {})",
                    format_duration(DEFAULT_FAULT_MIN)
                ),
            );
        }
        if !(self.down_loss_ratio > 0.0 && self.down_loss_ratio <= 1.0) {
            problem(
                "links.down_loss_ratio",
                format!(
                    "{} is outside (0, 1]; it is a share of the window's probes, e.g. 1.0 for all lost (default {DEFAULT_DOWN_LOSS_RATIO})",
                    self.down_loss_ratio
                ),
            );
        }
        for (key, v, default) in [
            (
                "links.down_confirm_probes",
                self.down_confirm_probes,
                DEFAULT_DOWN_CONFIRM_PROBES,
            ),
            (
                "links.up_confirm_probes",
                self.up_confirm_probes,
                DEFAULT_UP_CONFIRM_PROBES,
            ),
        ] {
            if v == 0 || v > MAX_CONFIRM_PROBES {
                problem(
                    key,
                    format!(
                        "{v} is outside 1..={MAX_CONFIRM_PROBES}; a count of consecutive probes (default {default})"
                    ),
                );
            }
        }
        let mut check = |loss_key: &'static str,
                         rtt_key: &'static str,
                         loss: Option<f64>,
                         rtt: Option<Duration>| {
            if let Some(loss) = loss
                && !(0.0..=1.0).contains(&loss)
            {
                problem(
                    loss_key,
                    format!(
                        "{loss} is outside 0..=1; it is a share of the window's probes, e.g. 0.02 for 2% (default {DEFAULT_DEGRADED_LOSS_RATIO})"
                    ),
                );
            } else if let Some(loss) = loss
                && loss >= self.down_loss_ratio
            {
                problem(
                    loss_key,
                    format!(
                        "{loss} is not below links.down_loss_ratio = {}; a window would be down before it is degraded",
                        self.down_loss_ratio
                    ),
                );
            }
            if rtt.is_some_and(|r| r.is_zero()) {
                problem(
                    rtt_key,
                    format!(
                        "0s would make every window degraded; use e.g. {}",
                        format_duration(DEFAULT_DEGRADED_RTT)
                    ),
                );
            }
        };
        let d = self.thresholds.default;
        check(
            "links.thresholds.default.degraded_loss_ratio",
            "links.thresholds.default.degraded_rtt",
            Some(d.degraded_loss_ratio),
            Some(d.degraded_rtt),
        );
        for (level, loss_key, rtt_key) in THRESHOLD_KEYS {
            let o = self.thresholds.entry(level).copied().unwrap_or_default();
            check(loss_key, rtt_key, o.degraded_loss_ratio, o.degraded_rtt);
        }
    }
}

/// Why a configuration file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read the configuration file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Every problem of the file, in its order: YAML syntax, unknown keys, wrong types, and
    /// (from [`Config::check`]) wrong values and unusable files. One per line, as
    /// `file:line:col: key 'k': problem`.
    #[error("{}", ParseProblems(.0))]
    Problems(Vec<ParseProblem>),
    /// The file parsed but one or more values are wrong.
    #[error("{}", Problems(.problems))]
    Invalid {
        /// Every problem found, so that one run shows them all.
        problems: Vec<Problem>,
    },
}

/// One wrong value in a configuration file (`K = &'static str`, a fixed dotted key) or an
/// inventory (`K = String`, a key path built from the entries: [`crate::inventory::Problem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem<K = &'static str> {
    /// The file.
    pub file: PathBuf,
    /// Dotted key, e.g. `tls.cert` or `links[2].to`.
    pub key: K,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl<K: fmt::Display> fmt::Display for Problem<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}`: {}",
            self.file.display(),
            self.key,
            self.message
        )
    }
}

/// The problems one per line (the message of [`ConfigError::Invalid`] and
/// [`crate::inventory::InventoryError::Invalid`]).
pub(crate) struct Problems<'a, K>(pub(crate) &'a [Problem<K>]);

impl<K: fmt::Display> fmt::Display for Problems<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads and parses `path`, resolving relative paths against its directory. Values are
    /// not checked; call [`Config::validate`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Reads `path` and checks everything [`Config::validate`] checks, listing every
    /// problem of the file in one error (what `validate` and `serve` print): the keys that
    /// do not parse are left out, the rest is still checked.
    pub fn check(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let parsed = parse_all::<Config>(path, &text);
        let mut problems = parsed.problems;
        let config = parsed.value.map(|c| c.resolved(path));
        if let Some(config) = &config
            && let Err(e) = config.validate()
        {
            let found = match e {
                ConfigError::Invalid { problems } => problems,
                other => vec![Problem {
                    file: path.to_owned(),
                    key: "",
                    message: other.to_string(),
                }],
            };
            let reported: Vec<String> = problems.iter().filter_map(|p| p.key.clone()).collect();
            for p in found {
                // A key that did not parse has its default now; checking that default would
                // only repeat the key with a confusing message.
                if reported.iter().any(|r| key_within(p.key, r)) {
                    continue;
                }
                problems.push(ParseProblem::at_key(path, &text, p.key, p.message));
            }
        }
        // In the order of the file; problems with no line (a missing section) last.
        problems.sort_by_key(|p| p.location.map_or((u64::MAX, 0), |l| l));
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Problems(problems)),
        }
    }

    /// Parses YAML `text` as if read from `path` (used for path resolution and messages).
    /// Every unknown key and wrong type is listed; values are not checked.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let parsed = parse_all::<Config>(path, text);
        match parsed.value {
            Some(config) if parsed.problems.is_empty() => Ok(config.resolved(path)),
            _ => Err(ConfigError::Problems(parsed.problems)),
        }
    }

    /// Records where the configuration was read from and resolves relative paths against
    /// its directory.
    fn resolved(self, path: &Path) -> Config {
        let mut config = self;
        config.source = path.to_owned();
        let base = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut config.tls.ca,
            &mut config.tls.cert,
            &mut config.tls.key,
            &mut config.storage.sqlite.path,
        ]
        .into_iter()
        .chain(config.inventory.as_mut())
        {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        }
        config
    }

    /// Checks values that need no file access.
    pub fn validate_structure(&self) -> Result<(), ConfigError> {
        into_result(self.structure_problems())
    }

    /// Loads and validates the `inventory` file; `None` when the configuration names none.
    pub fn load_inventory(&self) -> Result<Option<Inventory>, InventoryError> {
        let Some(path) = &self.inventory else {
            return Ok(None);
        };
        let inventory = Inventory::load(path)?;
        inventory.validate()?;
        Ok(Some(inventory))
    }

    /// Checks every value, including that the TLS files exist, parse and match, and that the
    /// inventory file (if any) loads and is valid.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = self.structure_problems();
        // An empty path is already a structure problem; reading it would only repeat that.
        let named = self
            .inventory
            .as_ref()
            .is_some_and(|p| !p.as_os_str().is_empty());
        let inventory = if named {
            self.load_inventory()
        } else {
            Ok(None)
        };
        if let Err(e) = inventory {
            // One line per inventory problem, each naming the inventory file and key.
            let lines: Vec<String> = match e {
                InventoryError::Invalid { problems } => {
                    problems.iter().map(ToString::to_string).collect()
                }
                other => vec![other.to_string()],
            };
            for message in lines {
                problems.push(Problem {
                    file: self.source.clone(),
                    key: "inventory",
                    message,
                });
            }
        }
        let mut tls_problem = |e: crate::tls::TlsError| {
            let hint = missing_file_hint(&e);
            problems.push(Problem {
                file: self.source.clone(),
                key: e.key(),
                message: format!("{e}{hint}"),
            })
        };
        // Each file on its own first, so that one run lists every broken file. An empty
        // path is already a structure problem.
        let mut files_ok = true;
        for (key, path) in [
            ("tls.ca", &self.tls.ca),
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
        ] {
            let loaded = if path.as_os_str().is_empty() {
                files_ok = false;
                continue;
            } else if key == "tls.key" {
                crate::tls::load_key(key, path).map(drop)
            } else {
                crate::tls::load_certs(key, path).map(drop)
            };
            if let Err(e) = loaded {
                files_ok = false;
                tls_problem(e);
            }
        }
        if files_ok {
            // Then together: trust anchors usable, key matching the certificate.
            if let Err(e) = crate::tls::server_config(&self.tls) {
                tls_problem(e);
            }
        }
        into_result(problems)
    }

    fn structure_problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut problem = |key: &'static str, message: String| {
            out.push(Problem {
                file: self.source.clone(),
                key,
                message,
            })
        };
        if self
            .inventory
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            problem(
                "inventory",
                "is empty; set it to the inventory file or remove the key".into(),
            );
        }
        if self.tls == Tls::default() {
            problem(
                "tls",
                "is missing; add a `tls:` section with `ca`, `cert` and `key`, the PEM files \
                 that `zerofault-collector certs` writes (see configs/collector.yaml)"
                    .into(),
            );
        } else {
            for (key, p) in [
                ("tls.ca", &self.tls.ca),
                ("tls.cert", &self.tls.cert),
                ("tls.key", &self.tls.key),
            ] {
                if p.as_os_str().is_empty() {
                    problem(
                        key,
                        "is missing or empty; set it to a PEM file (see `zerofault-collector certs`)"
                            .into(),
                    );
                }
            }
        }
        if self.storage.sqlite.path.as_os_str().is_empty() {
            problem(
                "storage.sqlite.path",
                "is empty; set it to a file path".into(),
            );
        }
        // Port 0 (pick any free port, as tests do) can be given to both.
        if self.listen.ingest == self.listen.http && self.listen.http.port() != 0 {
            problem(
                "listen.http",
                format!(
                    "{} is also `listen.ingest`; give the two listeners different ports",
                    self.listen.http
                ),
            );
        }
        for (key, v) in [
            ("limits.max_body_bytes", self.limits.max_body_bytes),
            (
                "limits.max_decompressed_bytes",
                self.limits.max_decompressed_bytes,
            ),
            ("limits.max_pending_bytes", self.limits.max_pending_bytes),
        ] {
            if v == 0 || v > MAX_LIMIT_BYTES {
                problem(
                    key,
                    format!(
                        "{v} is outside 1..={MAX_LIMIT_BYTES}; the default is fine for any host"
                    ),
                );
            }
        }
        for (key, v) in [
            ("limits.body_timeout", self.limits.body_timeout),
            ("limits.body_idle_timeout", self.limits.body_idle_timeout),
        ] {
            if v.is_zero() || v > Duration::from_secs(3600) {
                problem(
                    key,
                    format!(
                        "{} is outside 1ms..=1h; a report body takes well under a second (default {})",
                        format_duration(v),
                        format_duration(if key == "limits.body_timeout" {
                            DEFAULT_BODY_TIMEOUT
                        } else {
                            DEFAULT_BODY_IDLE_TIMEOUT
                        })
                    ),
                );
            }
        }
        for (key, v, default) in [
            (
                "limits.max_concurrent_decodes",
                self.limits.max_concurrent_decodes,
                DEFAULT_MAX_CONCURRENT_DECODES,
            ),
            (
                "limits.max_connections",
                self.limits.max_connections,
                DEFAULT_MAX_CONNECTIONS,
            ),
            (
                "limits.max_connections_per_agent",
                self.limits.max_connections_per_agent,
                DEFAULT_MAX_CONNECTIONS_PER_AGENT,
            ),
            (
                "limits.max_handshakes_per_address",
                self.limits.max_handshakes_per_address,
                DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
            ),
        ] {
            if v == 0 {
                problem(
                    key,
                    format!("0 would refuse every agent; use 1 or more (default {default})"),
                );
            }
        }
        if self.hosts.down_after_intervals == 0 {
            problem(
                "hosts.down_after_intervals",
                format!(
                    "0 would mark every host down; use 1 or more (default {DEFAULT_DOWN_AFTER_INTERVALS})"
                ),
            );
        }
        self.links.problems(&mut problem);
        out
    }
}

/// For a TLS file that does not exist: which `certs` command writes it. Empty for any
/// other error (a file that exists but is wrong needs looking at, not regenerating).
fn missing_file_hint(e: &crate::tls::TlsError) -> String {
    let crate::tls::TlsError::Read { key, path, source } = e else {
        return String::new();
    };
    if source.kind() != std::io::ErrorKind::NotFound {
        return String::new();
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .display();
    match *key {
        "tls.ca" => format!(
            "; make the CA with `zerofault-collector certs --dir {dir}` (writes ca.pem and \
             ca.key), or fix the path"
        ),
        _ => format!(
            "; make the collector's certificate and key with `zerofault-collector certs --dir \
             {dir} --collector-name NAME` (NAME: the host name agents connect to; writes \
             collector.pem and collector.key), or fix the path"
        ),
    }
}

fn into_result(problems: Vec<Problem>) -> Result<(), ConfigError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid { problems })
    }
}

/// Parses `IP:PORT` with a message that says what is expected (the standard one does not).
fn socket_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "{s:?} is not an IP:PORT address, e.g. 0.0.0.0:7443 or [::]:7443 (host names are not accepted)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "tls:\n  ca: ca.pem\n  cert: c.pem\n  key: c.key\n";

    #[test]
    fn defaults_and_relative_paths() {
        let c = Config::parse(MINIMAL, Path::new("/etc/zf/collector.yaml")).unwrap();
        assert_eq!(c.listen.ingest, DEFAULT_INGEST_LISTEN.parse().unwrap());
        assert_eq!(c.listen.http, DEFAULT_HTTP_LISTEN.parse().unwrap());
        assert_eq!(c.tls.ca, Path::new("/etc/zf/ca.pem"));
        assert_eq!(c.storage.sqlite.path, Path::new(DEFAULT_SQLITE_PATH));
        assert_eq!(c.limits.max_body_bytes, 1 << 20);
        assert_eq!(c.limits.max_decompressed_bytes, 8 << 20);
        assert_eq!(c.hosts.down_after_intervals, 3);
        assert_eq!(c.links.fault_min, Duration::from_secs(60));
        assert_eq!(c.links.down_loss_ratio, 1.0);
        assert_eq!(c.links.down_confirm_probes, 3);
        assert_eq!(c.links.up_confirm_probes, 2);
        assert_eq!(c.links.replay, Duration::from_secs(48 * 3600));
        let t = c.links.thresholds.for_level("city-county");
        assert_eq!(t.degraded_loss_ratio, 0.02);
        assert_eq!(t.degraded_rtt, Duration::from_millis(100));
        c.validate_structure().unwrap();
    }

    #[test]
    fn shipped_example_level_entries_are_valid_when_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/collector.yaml");
        // The commented level entries below `links.thresholds`.
        let mut in_thresholds = false;
        let text: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| {
                in_thresholds |= l == "  thresholds:";
                match l.strip_prefix("    # ") {
                    Some(rest) if in_thresholds => format!("    {rest}\n"),
                    _ => format!("{l}\n"),
                }
            })
            .collect();
        let c = Config::parse(&text, &path).unwrap();
        c.validate_structure().unwrap();
        let t = c.links.thresholds.for_level("access");
        assert_eq!(t.degraded_rtt, Duration::from_millis(200));
        assert_ne!(c.links, Links::default());
    }

    #[test]
    fn level_thresholds_fall_back_to_default_field_by_field() {
        let text = format!(
            "{MINIMAL}links:\n  thresholds:\n    default: {{degraded_loss_ratio: 0.05}}\n    \
             access: {{degraded_rtt: 300ms}}\n    province-city: {{degraded_loss_ratio: 0.01, degraded_rtt: 20ms}}\n"
        );
        let c = Config::parse(&text, Path::new("c.yaml")).unwrap();
        c.validate_structure().unwrap();
        let t = &c.links.thresholds;
        let get = |l| {
            let x = t.for_level(l);
            (x.degraded_loss_ratio, x.degraded_rtt.as_millis())
        };
        assert_eq!(get(""), (0.05, 100));
        assert_eq!(get("access"), (0.05, 300));
        assert_eq!(get("province-city"), (0.01, 20));
        assert_eq!(get("city-county"), (0.05, 100));
    }

    #[test]
    fn unknown_level_or_link_key_is_a_parse_error() {
        for (extra, word) in [
            ("links:\n  thresholds:\n    city-town: {}\n", "city-town"),
            ("links:\n  fault_minimum: 60s\n", "fault_minimum"),
            ("links:\n  fault_min: 60\n", "no unit"),
        ] {
            let msg = Config::parse(&format!("{MINIMAL}{extra}"), Path::new("c.yaml"))
                .unwrap_err()
                .to_string();
            assert!(msg.starts_with("c.yaml:"), "{msg}");
            assert!(msg.contains(word), "{msg}");
        }
    }

    #[test]
    fn bad_link_values_name_their_keys() {
        let text = format!(
            "{MINIMAL}links:\n  fault_min: 0s\n  down_loss_ratio: 1.5\n  down_confirm_probes: 0\n  \
             up_confirm_probes: 0\n  thresholds:\n    county-township: {{degraded_loss_ratio: 2, degraded_rtt: 0s}}\n"
        );
        let c = Config::parse(&text, Path::new("/x/c.yaml")).unwrap();
        let ConfigError::Invalid { problems } = c.validate_structure().unwrap_err() else {
            panic!("expected Invalid");
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "links.fault_min",
                "links.down_loss_ratio",
                "links.down_confirm_probes",
                "links.up_confirm_probes",
                "links.thresholds.county-township.degraded_loss_ratio",
                "links.thresholds.county-township.degraded_rtt",
            ]
        );
        assert!(
            problems[0]
                .to_string()
                .starts_with("/x/c.yaml: `links.fault_min`: ")
        );
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = format!("{MINIMAL}limits:\n  max_body_byte: 5\n");
        let e = Config::parse(&text, Path::new("/x/c.yaml")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "/x/c.yaml:6:3: key 'limits.max_body_byte': unknown key; expected one of \
                 max_body_bytes, max_decompressed_bytes, body_timeout, body_idle_timeout, \
                 max_concurrent_decodes, max_pending_bytes, max_connections, \
                     max_connections_per_agent, \
                 max_handshakes_per_address; did you mean `max_body_bytes`?"
            ),
            "{msg}"
        );
    }

    #[test]
    fn missing_tls_is_named_as_tls_not_as_the_first_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "listen:\n  ingest: 0.0.0.0:7443\nhosts: {}\n").unwrap();
        let msg = Config::check(&path).unwrap_err().to_string();
        // One problem, for the section, not one per file nor one blamed on `listen`.
        assert_eq!(msg.lines().count(), 1, "{msg}");
        assert!(
            msg.starts_with(&format!(
                "{}: key 'tls': is missing; add a `tls:` section",
                path.display()
            )),
            "{msg}"
        );
        let c = Config::parse("hosts: {}\n", Path::new("c.yaml")).unwrap();
        let msg = c.validate_structure().unwrap_err().to_string();
        assert!(msg.starts_with("c.yaml: `tls`: is missing"), "{msg}");
    }

    /// Issue 11 item 9: a typo'd key, a wrong type and a missing certificate are all listed
    /// in one run, each with file:line, the key, what was expected and the fix, in the
    /// order of the file.
    #[test]
    fn check_lists_every_kind_of_problem_with_line_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        crate::cmd::certs::ensure_ca(dir.path())
            .unwrap()
            .issue_collector(&["localhost".into()], &Default::default())
            .unwrap();
        let pem = dir.path().join("collector.pem");
        let aside = dir.path().join("aside.pem");
        std::fs::rename(&pem, &aside).unwrap();
        let path = dir.path().join("collector.yaml");
        std::fs::write(
            &path,
            "tls:\n  ca: ca.pem\n  cert: collector.pem\n  key: collector.key\n\
             limits:\n  max_body_byts: 1048576\n\
             hosts:\n  down_after_intervals: three\n",
        )
        .unwrap();
        let msg = Config::check(&path).unwrap_err().to_string();
        let lines: Vec<&str> = msg.lines().collect();
        let file = path.display();
        let d = dir.path().display();
        assert_eq!(
            lines,
            [
                format!(
                    "{file}:3:3: key 'tls.cert': cannot read {d}/collector.pem: No such file or \
                     directory (os error 2); make the collector's certificate and key with \
                     `zerofault-collector certs --dir {d} --collector-name NAME` (NAME: the host \
                     name agents connect to; writes collector.pem and collector.key), or fix the path"
                ),
                format!(
                    "{file}:6:3: key 'limits.max_body_byts': unknown key; expected one of \
                     max_body_bytes, max_decompressed_bytes, body_timeout, body_idle_timeout, \
                     max_concurrent_decodes, max_pending_bytes, max_connections, \
                     max_connections_per_agent, \
                     max_handshakes_per_address; did you mean `max_body_bytes`? Fix the \
                     spelling or remove the key"
                ),
                format!(
                    "{file}:8:25: key 'hosts.down_after_intervals': found \"three\", expected a \
                     whole number from 0 to 4294967295, digits only, no unit or quotes; write it so"
                ),
            ]
        );
        // The same file fixed passes and keeps its values.
        std::fs::rename(&aside, &pem).unwrap();
        std::fs::write(
            &path,
            "tls:\n  ca: ca.pem\n  cert: collector.pem\n  key: collector.key\n\
             hosts:\n  down_after_intervals: 4\n",
        )
        .unwrap();
        let c = Config::check(&path).unwrap();
        assert_eq!(c.hosts.down_after_intervals, 4);
    }

    #[test]
    fn bad_values_are_all_reported_with_key() {
        let text =
            format!("{MINIMAL}hosts:\n  down_after_intervals: 0\nlimits:\n  max_body_bytes: 0\n");
        let c = Config::parse(&text, Path::new("/x/c.yaml")).unwrap();
        let ConfigError::Invalid { problems } = c.validate_structure().unwrap_err() else {
            panic!("expected Invalid");
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            ["limits.max_body_bytes", "hosts.down_after_intervals"]
        );
        assert!(
            problems[0]
                .to_string()
                .starts_with("/x/c.yaml: `limits.max_body_bytes`")
        );
    }

    #[test]
    fn missing_tls_file_names_key_and_path() {
        let c = Config::parse(MINIMAL, Path::new("/nonexistent/c.yaml")).unwrap();
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("`tls.ca`"), "{msg}");
        assert!(msg.contains("/nonexistent/ca.pem"), "{msg}");
        // Every broken file is listed, not only the first.
        assert!(
            msg.contains("`tls.cert`") && msg.contains("`tls.key`"),
            "{msg}"
        );
    }

    #[test]
    fn listen_address_error_says_what_is_expected() {
        let text = format!("{MINIMAL}listen:\n  ingest: collector:7443\n");
        let msg = Config::parse(&text, Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("c.yaml:6:"), "{msg}");
        assert!(msg.contains("IP:PORT"), "{msg}");
    }

    #[test]
    fn inventory_path_is_resolved_and_optional() {
        let c = Config::parse(MINIMAL, Path::new("/etc/zf/collector.yaml")).unwrap();
        assert_eq!(c.inventory, None);
        assert!(c.load_inventory().unwrap().is_none());
        let text = format!("{MINIMAL}inventory: inv/inventory.yaml\n");
        let c = Config::parse(&text, Path::new("/etc/zf/collector.yaml")).unwrap();
        assert_eq!(
            c.inventory.as_deref(),
            Some(Path::new("/etc/zf/inv/inventory.yaml"))
        );
        let text = format!("{MINIMAL}inventory: ''\n");
        let c = Config::parse(&text, Path::new("/x/c.yaml")).unwrap();
        let ConfigError::Invalid { problems } = c.validate_structure().unwrap_err() else {
            panic!("expected Invalid");
        };
        assert_eq!(problems[0].key, "inventory");
    }

    #[test]
    fn validate_reports_each_inventory_problem_under_the_inventory_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("inventory.yaml"),
            "slot: 7s\nbusiness_systems:\n  - {code: b, department: nope, name_zh: 乙, name_en: B}\n",
        )
        .unwrap();
        let path = dir.path().join("collector.yaml");
        let text = format!("{MINIMAL}inventory: inventory.yaml\n");
        let c = Config::parse(&text, &path).unwrap();
        let ConfigError::Invalid { problems } = c.validate().unwrap_err() else {
            panic!("expected Invalid");
        };
        let inventory: Vec<&Problem> = problems.iter().filter(|p| p.key == "inventory").collect();
        assert_eq!(inventory.len(), 2, "{problems:?}");
        let inv_file = dir.path().join("inventory.yaml");
        assert!(
            inventory[0]
                .message
                .starts_with(&format!("{}: `slot`", inv_file.display())),
            "{}",
            inventory[0]
        );
        assert!(
            inventory[1]
                .message
                .contains("`business_systems[0].department`"),
            "{}",
            inventory[1]
        );
        // A missing file is one problem naming it.
        let text = format!("{MINIMAL}inventory: missing.yaml\n");
        let c = Config::parse(&text, &path).unwrap();
        let msg = c.validate().unwrap_err().to_string();
        assert!(
            msg.contains("`inventory`: ") && msg.contains("missing.yaml"),
            "{msg}"
        );
    }

    #[test]
    fn shipped_example_inventory_line_works_when_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/collector.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n# inventory: inventory.yaml\n"));
        let text = text.replace(
            "\n# inventory: inventory.yaml\n",
            "\ninventory: inventory.yaml\n",
        );
        let c = Config::parse(&text, &path).unwrap();
        let inventory = c.load_inventory().unwrap().unwrap();
        assert!(!inventory.links.is_empty());
    }

    #[test]
    fn shipped_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/collector.yaml");
        let c = Config::load(&path).unwrap();
        c.validate_structure().unwrap();
        // The example documents the defaults; keep them in step.
        assert_eq!(c.listen, Listen::default());
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.hosts, Hosts::default());
        assert_eq!(c.links, Links::default());
        assert_eq!(c.storage.sqlite.path, Path::new(DEFAULT_SQLITE_PATH));
    }
}
