//! The collector's configuration file (`configs/collector.yaml`).
//!
//! Loading is two steps: [`Config::load`] parses the YAML (unknown keys are errors, so a typo
//! never silently falls back to a default) and resolves relative paths against the file's
//! directory; [`Config::validate`] then checks values and that the TLS files exist and
//! parse. Every error names the file, the key and what to do about it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::state::DEFAULT_DOWN_AFTER_INTERVALS;

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
    /// Certificates of the mTLS ingest listener. Required: there is no safe default.
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

/// PEM files of the ingest listener (`tls.*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// CA certificate(s) that agent client certificates must chain to.
    pub ca: PathBuf,
    /// The collector's server certificate chain (leaf first).
    pub cert: PathBuf,
    /// The private key of `cert` (PKCS#8, PKCS#1 or SEC1).
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

/// Request size caps (`limits.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted compressed body; larger requests get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Largest accepted decompressed report; larger reports get 413.
    #[serde(default = "default_max_decompressed_bytes")]
    pub max_decompressed_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body_bytes(),
            max_decompressed_bytes: default_max_decompressed_bytes(),
        }
    }
}

fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}

fn default_max_decompressed_bytes() -> u64 {
    DEFAULT_MAX_DECOMPRESSED_BYTES
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
    /// The file is not valid YAML or does not match the expected keys and types.
    #[error("{path}{}: {message}", line.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Line and column of the problem, when the parser knows them.
        line: Option<(u64, u64)>,
        /// The parser's description.
        message: String,
    },
    /// The file parsed but one or more values are wrong.
    #[error("{}", Problems(.problems))]
    Invalid {
        /// Every problem found, so that one run shows them all.
        problems: Vec<Problem>,
    },
}

/// One wrong value in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Dotted key, e.g. `tls.cert`.
    pub key: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
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

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
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

    /// Parses YAML `text` as if read from `path` (used for path resolution and messages).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            line: e.location().map(|l| (l.line(), l.column())),
            message: parse_message(&e),
        })?;
        config.source = path.to_owned();
        let base = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut config.tls.ca,
            &mut config.tls.cert,
            &mut config.tls.key,
            &mut config.storage.sqlite.path,
        ] {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// Checks values that need no file access.
    pub fn validate_structure(&self) -> Result<(), ConfigError> {
        into_result(self.structure_problems())
    }

    /// Checks every value, including that the TLS files exist, parse and match.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = self.structure_problems();
        let mut tls_problem = |e: crate::tls::TlsError| {
            problems.push(Problem {
                file: self.source.clone(),
                key: e.key(),
                message: e.to_string(),
            })
        };
        // Each file on its own first, so that one run lists every broken file.
        let ca = crate::tls::load_certs("tls.ca", &self.tls.ca).map_err(&mut tls_problem);
        let cert = crate::tls::load_certs("tls.cert", &self.tls.cert).map_err(&mut tls_problem);
        let key = crate::tls::load_key("tls.key", &self.tls.key).map_err(&mut tls_problem);
        if ca.is_ok() && cert.is_ok() && key.is_ok() {
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
        for (key, p) in [
            ("tls.ca", &self.tls.ca),
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
            ("storage.sqlite.path", &self.storage.sqlite.path),
        ] {
            if p.as_os_str().is_empty() {
                problem(key, "is empty; set it to a file path".into());
            }
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
        if self.hosts.down_after_intervals == 0 {
            problem(
                "hosts.down_after_intervals",
                format!(
                    "0 would mark every host down; use 1 or more (default {DEFAULT_DOWN_AFTER_INTERVALS})"
                ),
            );
        }
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

/// serde-saphyr renders a code snippet with its own location line; keep only the first
/// line, since [`ConfigError::Parse`] prints the location in the `file:line:col` form that
/// editors understand.
fn parse_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let mut first = full.lines().next().unwrap_or_default().trim();
    first = first.strip_prefix("error:").unwrap_or(first).trim_start();
    // Drop serde-saphyr's own "line L column C:" prefix; the location is printed already.
    if let Some(rest) = first.strip_prefix("line ")
        && let Some((_, msg)) = rest.split_once(": ")
    {
        first = msg;
    }
    first.to_owned()
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
        c.validate_structure().unwrap();
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = format!("{MINIMAL}limits:\n  max_body_byte: 5\n");
        let e = Config::parse(&text, Path::new("/x/c.yaml")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("/x/c.yaml:6:3: unknown field `max_body_byte`"),
            "{msg}"
        );
    }

    #[test]
    fn missing_tls_is_a_parse_error() {
        let e = Config::parse("hosts: {}\n", Path::new("c.yaml")).unwrap_err();
        assert!(e.to_string().contains("tls"), "{e}");
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
    fn shipped_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/collector.yaml");
        let c = Config::load(&path).unwrap();
        c.validate_structure().unwrap();
        // The example documents the defaults; keep them in step.
        assert_eq!(c.listen, Listen::default());
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.hosts, Hosts::default());
        assert_eq!(c.storage.sqlite.path, Path::new(DEFAULT_SQLITE_PATH));
    }
}
