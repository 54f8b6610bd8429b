//! The collector's configuration file (`configs/collector.yaml`).
//!
//! Loading is two steps: [`Config::load`] parses the YAML (unknown keys are errors, so a typo
//! never silently falls back to a default) and resolves relative paths against the file's
//! directory; [`Config::validate`] then checks values and that the TLS files exist and
//! parse. Every error names the file, the key and what to do about it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use zerofault_common::problem::add_at_lines;
pub use zerofault_common::problem::{Problem, Problems};
use zerofault_common::yaml::{ParseProblem, ParseProblems, parse_all};

pub use crate::audit::settings::AuditSettings;
pub use crate::http::access::Access;
pub use crate::http::cockpit::Cockpit;
pub use crate::http::{DetailSetting, Metrics};
use crate::inventory::{Inventory, InventoryError};
pub use crate::live::delivery::Clock;
pub use crate::live::enroll::settings::Enrollment;
pub use crate::live::hosts::Hosts;
pub use crate::live::ingest::settings::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DECOMPRESSED_BYTES, Limits, MAX_LIMIT_BYTES,
};
pub use crate::live::links::settings::{LevelOverride, LevelThresholds, Links, Thresholds};
pub use crate::month::to_date::MonthToDate;
pub use crate::outputs::notify::Notifications;
pub use crate::outputs::remote_write::RemoteWrite;
pub use crate::store::retention::Retention;
pub use crate::store::settings::{
    Backend, DEFAULT_POOL_SIZE, DEFAULT_SQLITE_PATH, DEFAULT_WRITERS, Postgres, PostgresTls,
    Sqlite, Storage, TlsMode,
};
pub use crate::tls::Tls;

/// Default mTLS ingest listen address: every interface of both families, agents connect
/// from the network (`[::]` also takes IPv4; on a host without IPv6 the collector falls
/// back to `0.0.0.0`, see `cmd/serve/listen.rs`).
pub const DEFAULT_INGEST_LISTEN: &str = "[::]:7443";
/// Default plain-HTTP listen address: loopback only, because `/metrics` is unauthenticated.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9464";
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
    /// How long report bodies and rollups are kept (`store::retention`).
    #[serde(default)]
    pub retention: Retention,
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
    /// Detail and bounds of `/metrics`.
    #[serde(default)]
    pub metrics: Metrics,
    /// The month in progress, computed in the background for pages and the API.
    #[serde(default)]
    pub month_to_date: MonthToDate,
    /// The operations center's pages on the plain-HTTP listener (`docs/cockpit.md`).
    #[serde(default)]
    pub cockpit: Cockpit,
    /// Who may read the HTTP listener, and HTTPS for it (`docs/cockpit.md`, "Access").
    #[serde(default)]
    pub access: Access,
    /// Pushing series to Prometheus-compatible receivers (`docs/remote-write.md`).
    #[serde(default)]
    pub remote_write: RemoteWrite,
    /// Incidents sent to webhooks and by e-mail (`docs/notifications.md`).
    #[serde(default)]
    pub notifications: Notifications,
    /// The audit log: hash, seals, retention, syslog (`docs/security.md`).
    #[serde(default)]
    pub audit: AuditSettings,
    /// Agent enrollment and certificate renewal (`docs/security.md`). Default: off.
    #[serde(default)]
    pub enrollment: Option<Enrollment>,
    /// The inventory file (organisation, sites, links, SLA targets, maintenance, reporting
    /// time zone; `docs/inventory.md`). Optional: without it no agent label is checked (none
    /// is flagged unknown) and the defaults apply (Asia/Shanghai, 60 s slots).
    #[serde(default)]
    pub inventory: Option<PathBuf>,
    /// This collector's name among several serving one database (docs/scale-out.md): its
    /// runs are recorded under it, and its start closes only its own unclosed run. Default:
    /// the host name, so two collectors on one host need a name each.
    #[serde(default)]
    pub instance: Option<String>,
    /// The file this configuration was loaded from; error messages name it.
    #[serde(skip)]
    pub source: PathBuf,
}

/// Longest `instance` name: it is stored with every run and shown on `/metrics`.
pub const MAX_INSTANCE_BYTES: usize = 64;

/// Where the default `instance` comes from: the kernel's host name.
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

/// Why `name` cannot be an instance name; `None` when it can.
pub fn instance_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_INSTANCE_BYTES {
        return Some(format!(
            "{name:?} must be 1 to {MAX_INSTANCE_BYTES} bytes long"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Some(format!(
            "{name:?} may only hold letters, digits, '.', '-' and '_' (e.g. collector-a)"
        ));
    }
    None
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
            add_at_lines(&mut problems, path, &text, found);
        }
        // In the order of the file; problems with no line (a missing section) last
        // (add_at_lines sorts too; parse problems alone must be sorted the same way).
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
        ]
        .into_iter()
        .chain(config.storage.paths_mut())
        .chain(config.inventory.as_mut())
        .chain(config.remote_write.paths_mut())
        .chain(config.notifications.paths_mut())
        .chain(config.enrollment.as_mut().map(|e| &mut e.ca_dir))
        {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        }
        config
    }

    /// The instance name: `instance`, or the host name when it is not set (`collector` when
    /// the host name cannot be read or is not a valid name, with a warning: two such
    /// collectors on one database would close each other's runs).
    pub fn instance_name(&self) -> String {
        if let Some(name) = &self.instance {
            return name.clone();
        }
        let host = std::fs::read_to_string(HOSTNAME_FILE).unwrap_or_default();
        let host = host.trim();
        if instance_problem(host).is_none() {
            return host.to_owned();
        }
        tracing::warn!(
            hostname = host,
            "the host name is not a usable instance name; running as instance \"collector\": set `instance` when several collectors share the database"
        );
        "collector".to_owned()
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
        for (key, message) in self.tls.file_problems() {
            problems.push(Problem {
                file: self.source.clone(),
                key,
                message,
            });
        }
        // remote_write targets' TLS and secret files, loaded as `serve` will load them.
        for t in &self.remote_write.targets {
            if let Err(message) = crate::outputs::remote_write::send::Sender::new(t) {
                problems.push(Problem {
                    file: self.source.clone(),
                    key: "remote_write.targets",
                    message: format!("target {:?}: {message}", t.name),
                });
            }
        }
        // The HTTP listener's certificate and key, loaded as `serve` will load them.
        if let Some(t) = &self.access.tls
            && let Err(e) = crate::http::https::server_config(&t.cert, &t.key)
        {
            problems.push(Problem {
                file: self.source.clone(),
                key: "access.tls",
                message: format!("{e:#}"),
            });
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
        if let Some(message) = self.instance.as_deref().and_then(instance_problem) {
            problem("instance", message);
        }
        self.tls.structure_problems(&mut problem);
        self.storage.problems(&mut problem);
        self.retention.problems(&mut problem);
        self.month_to_date.problems(&mut problem);
        self.cockpit.problems(&mut problem);
        self.access.problems(&mut problem);
        self.remote_write.problems(&mut problem);
        self.notifications.problems(&mut problem);
        self.audit.problems(&mut problem);
        if let Some(e) = &self.enrollment {
            e.problems(&mut problem);
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
        self.limits.problems(&mut problem);
        self.hosts.problems(&mut problem);
        self.links.problems(&mut problem);
        self.metrics.problems(&mut problem);
        out
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
mod tests;
