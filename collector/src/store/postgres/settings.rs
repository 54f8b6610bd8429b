//! `storage.postgres.*`: the PostgreSQL database, its connection pool and TLS to it.
//!
//! The URL may carry a password, so nothing here prints it: [`Postgres`]'s `Debug` and
//! [`Postgres::describe`] (what logs and errors show) name the hosts, ports and database only.

use std::path::PathBuf;
use std::str::FromStr;

use serde::Deserialize;

/// Default number of connections of one collector's pool: one for the group-commit writer
/// and a few for what runs beside it (start-up reads, the monthly report's scan, heartbeats),
/// while ten collectors stay under PostgreSQL's default `max_connections` of 100.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// Default number of writer tasks storing reports at once (`storage.postgres.writers`): a
/// batch mostly waits for the server (round trips, the WAL flush at commit), so a second and
/// third writer fill that wait; each holds a connection of the pool only while it writes.
/// Measured in docs/benchmarks.md ("Ingest on PostgreSQL").
pub const DEFAULT_WRITERS: usize = 3;

/// Most connections one pool may be given: past this a typo (`pool_size: 8000`) would exhaust
/// the database server's connection slots for every other client.
pub const MAX_POOL_SIZE: usize = 256;

/// PostgreSQL settings (`storage.postgres.*`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    /// Connection URL, `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (libpq's URL
    /// form; key/value parameters such as `?connect_timeout=10` are accepted, `sslmode` is
    /// not: `tls.mode` decides). Required. Never logged: it may carry a password.
    #[serde(default)]
    pub url: String,
    /// Most connections this collector opens to the database ([`DEFAULT_POOL_SIZE`]).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Writer tasks storing reports at once, each a transaction of up to 512 reports; from 1
    /// to `pool_size`. Unset: [`DEFAULT_WRITERS`], or `pool_size` if that is smaller (see
    /// [`Postgres::writers`]). More help when each commit waits longer (a database across a
    /// network, a distributed one); each takes a connection of the pool while it writes, and
    /// the collector's other work waits for a free one.
    #[serde(default)]
    pub writers: Option<usize>,
    /// TLS to the database server.
    #[serde(default)]
    pub tls: PostgresTls,
}

fn default_pool_size() -> usize {
    DEFAULT_POOL_SIZE
}

/// TLS to the database (`storage.postgres.tls.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresTls {
    /// `verify-full` (the default): TLS is required and the server's certificate must chain
    /// to `ca` and name the URL's host. `disable`: no TLS, for a database on the same host
    /// (a Unix socket, loopback) only. No mode in between: an unverified TLS connection is
    /// no defence against the attacker it is meant to stop.
    #[serde(default)]
    pub mode: TlsMode,
    /// CA certificate(s) (PEM) the database server's certificate chains to; required with
    /// `verify-full`.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM), when the database authenticates the collector by
    /// certificate (`hostssl ... cert` in pg_hba.conf); together with `key`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Private key of `cert` (PEM).
    #[serde(default)]
    pub key: Option<PathBuf>,
}

/// `storage.postgres.tls.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// TLS required, server certificate verified against `tls.ca` and the URL's host name.
    #[default]
    VerifyFull,
    /// No TLS.
    Disable,
}

impl Postgres {
    /// The writer tasks to run: `writers` as set, else [`DEFAULT_WRITERS`] within
    /// `pool_size` (a pool of one or two connections, valid before writers existed, stays
    /// valid).
    pub fn writers(&self) -> usize {
        self.writers
            .unwrap_or_else(|| DEFAULT_WRITERS.min(self.pool_size))
            .max(1)
    }

    /// The parsed URL, or why it does not parse (the message never quotes the URL).
    pub fn client_config(&self) -> Result<tokio_postgres::Config, String> {
        let config = tokio_postgres::Config::from_str(&self.url).map_err(|e| e.to_string())?;
        if config.get_hosts().is_empty() {
            return Err("names no host; write postgresql://USER@HOST:PORT/DATABASE".into());
        }
        if config.get_user().is_none() {
            return Err("names no user; write postgresql://USER@HOST:PORT/DATABASE".into());
        }
        Ok(config)
    }

    /// `host:port/database` (several hosts comma-separated), for logs and errors: never the
    /// user's password.
    pub fn describe(&self) -> String {
        match tokio_postgres::Config::from_str(&self.url) {
            Ok(c) => describe(&c),
            Err(_) => "(unparsable URL)".into(),
        }
    }

    /// Checks that need no network; each problem goes to `problem` as its key and what to do.
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.url.is_empty() {
            problem(
                "storage.postgres.url",
                "is missing; set it to postgresql://USER@HOST:PORT/DATABASE".into(),
            );
        } else if let Err(e) = self.client_config() {
            problem(
                "storage.postgres.url",
                format!("is not a PostgreSQL connection URL: {e}"),
            );
        } else if has_sslmode(&self.url) {
            problem(
                "storage.postgres.url",
                "sets sslmode; remove it: storage.postgres.tls.mode decides TLS".into(),
            );
        }
        if !(1..=MAX_POOL_SIZE).contains(&self.pool_size) {
            problem(
                "storage.postgres.pool_size",
                format!(
                    "is {}; set it from 1 to {MAX_POOL_SIZE} (default {DEFAULT_POOL_SIZE})",
                    self.pool_size
                ),
            );
        }
        if let Some(writers) = self.writers
            && !(1..=self.pool_size.max(1)).contains(&writers)
        {
            problem(
                "storage.postgres.writers",
                format!(
                    "is {writers}; set it from 1 to pool_size ({}), or leave it out for {DEFAULT_WRITERS}",
                    self.pool_size.max(1)
                ),
            );
        }
        let tls = &self.tls;
        if tls.mode == TlsMode::VerifyFull && tls.ca.is_none() {
            problem(
                "storage.postgres.tls.ca",
                "is missing; with tls.mode verify-full (the default) set it to the CA \
                 certificate of the database server, or set tls.mode: disable for a database \
                 on this host"
                    .into(),
            );
        }
        if tls.mode == TlsMode::Disable && (tls.ca.is_some() || tls.cert.is_some()) {
            problem(
                "storage.postgres.tls.mode",
                "is disable but tls.ca or tls.cert is set; remove them or use verify-full".into(),
            );
        }
        if tls.cert.is_some() != tls.key.is_some() {
            problem(
                "storage.postgres.tls.key",
                "tls.cert and tls.key go together; set both or neither".into(),
            );
        }
        for (key, path) in [
            ("storage.postgres.tls.ca", &tls.ca),
            ("storage.postgres.tls.cert", &tls.cert),
            ("storage.postgres.tls.key", &tls.key),
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                problem(key, "is empty; set it to a PEM file or remove it".into());
            }
        }
    }

    /// The file paths of `tls`, to resolve relative ones against the configuration's
    /// directory.
    pub fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        [&mut self.tls.ca, &mut self.tls.cert, &mut self.tls.key]
            .into_iter()
            .flatten()
    }
}

/// `host:port/database` of a parsed URL.
pub fn describe(c: &tokio_postgres::Config) -> String {
    let ports = c.get_ports();
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            // libpq: one port for all hosts, or one per host; 5432 when none.
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                tokio_postgres::config::Host::Unix(dir) => format!("{}:{port}", dir.display()),
            }
        })
        .collect();
    let db = c.get_dbname().or(c.get_user()).unwrap_or("");
    format!("{}/{db}", hosts.join(","))
}

/// Whether the URL's query sets `sslmode`, which this configuration refuses (tokio-postgres
/// would otherwise take it and `tls.mode` would silently lose).
fn has_sslmode(url: &str) -> bool {
    let is_sslmode = |kv: &str| kv.split('=').next().map(str::trim) == Some("sslmode");
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        url.split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(is_sslmode))
    } else {
        // The `key=value key=value` form.
        url.split_whitespace().any(is_sslmode)
    }
}

/// The URL is left out: it may carry a password, and configurations are debug-printed.
impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("url", &format_args!("<{}>", self.describe()))
            .field("pool_size", &self.pool_size)
            .field("writers", &self.writers)
            .field("tls", &self.tls)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str) -> Postgres {
        Postgres {
            url: url.into(),
            pool_size: DEFAULT_POOL_SIZE,
            writers: None,
            tls: PostgresTls {
                ca: Some("/etc/zerofault/pg-ca.pem".into()),
                ..PostgresTls::default()
            },
        }
    }

    fn problems(p: &Postgres) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        p.problems(&mut |k, m| out.push((k, m)));
        out
    }

    #[test]
    fn the_password_is_never_shown() {
        let p = pg("postgresql://zf:s3cret@db1.example:5433/zerofault");
        assert_eq!(p.describe(), "db1.example:5433/zerofault");
        let debug = format!("{p:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("db1.example:5433/zerofault"), "{debug}");
        let bad = pg("postgresql://zf:s3cret@db1.example:notaport/zerofault");
        for (_, m) in problems(&bad) {
            assert!(!m.contains("s3cret"), "{m}");
        }
    }

    #[test]
    fn several_hosts_and_default_port() {
        let p = pg("postgresql://zf@a.example,b.example/zf");
        assert_eq!(p.describe(), "a.example:5432,b.example:5432/zf");
    }

    #[test]
    fn each_problem_names_its_key() {
        assert!(problems(&pg("postgresql://zf@db/zf")).is_empty());
        let keys = |p: &Postgres| problems(p).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(keys(&pg("")), ["storage.postgres.url"]);
        assert_eq!(keys(&pg("mysql://x")), ["storage.postgres.url"]);
        assert_eq!(
            keys(&pg("postgresql://zf@db/zf?sslmode=disable")),
            ["storage.postgres.url"]
        );
        assert_eq!(
            keys(&pg("host=db user=zf sslmode=prefer")),
            ["storage.postgres.url"]
        );
        let mut p = pg("postgresql://zf@db/zf");
        p.pool_size = 0;
        assert_eq!(keys(&p), ["storage.postgres.pool_size"]);
        // Unset, the writers fit the pool: a pool of 2 stays valid, with 2 writers.
        p.pool_size = 2;
        assert!(keys(&p).is_empty());
        assert_eq!(p.writers(), 2);
        p.pool_size = DEFAULT_POOL_SIZE;
        assert_eq!(p.writers(), DEFAULT_WRITERS);
        p.pool_size = 2;
        p.writers = Some(3);
        assert_eq!(keys(&p), ["storage.postgres.writers"]);
        p.writers = Some(0);
        assert_eq!(keys(&p), ["storage.postgres.writers"]);
        p.writers = Some(2);
        assert!(keys(&p).is_empty());
        assert_eq!(p.writers(), 2);
        p.pool_size = 1;
        p.writers = None;
        p.tls.ca = None;
        assert_eq!(keys(&p), ["storage.postgres.tls.ca"]);
        p.tls.mode = TlsMode::Disable;
        assert!(keys(&p).is_empty());
        p.tls.cert = Some("c.pem".into());
        assert_eq!(
            keys(&p),
            ["storage.postgres.tls.mode", "storage.postgres.tls.key"]
        );
    }
}
