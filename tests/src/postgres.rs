//! A throwaway PostgreSQL server for the PostgreSQL store's tests: `initdb` into a temporary
//! directory and `pg_ctl start` on a free loopback port, never a system service.
//!
//! [`PgServer::shared`] starts one server per test process, on first use, and each test
//! takes its own database from it ([`PgServer::create_database`]), so tests run in parallel
//! without seeing each other's rows.
//!
//! Clean-up cannot rely on `Drop` alone: a server kept in a `static` is never dropped. So the
//! server is owned by a small supervisor shell whose standard input is a pipe from the test
//! process (a lifeline): when the pipe closes (the handle dropped, or the test process
//! ended, by a panic or a kill alike) the supervisor runs `pg_ctl stop -m immediate` and
//! removes the directory.
//!
//! PostgreSQL refuses to run as root, and these tests run as root in CI: then the server runs
//! as `nobody`, in a directory handed to it.
//!
//! A machine without the server binaries fails these tests with a message saying how to get
//! them (`./scripts/test` installs Debian's `postgresql` when run as root), as the
//! Prometheus tests do: the PostgreSQL store is part of the product, never silently skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;

use crate::free_addr;

/// Environment variable naming the directory of `initdb` and `pg_ctl`, when they are in
/// none of the usual places.
pub const PG_BINDIR_ENV: &str = "ZEROFAULT_PG_BINDIR";

/// The superuser `initdb` creates; every test database belongs to it.
pub const PG_USER: &str = "zerofault";

/// How often starting is tried: the port was free when picked, but another process may take
/// it before the server binds it.
const START_ATTEMPTS: usize = 3;

/// The supervisor: initdb, start, say `ready`, wait for the lifeline to close, stop, remove.
/// Arguments: bindir, directory, port, uid, gid (`-` for "as this user"), extra server
/// options. Everything but `ready` goes to log files in the directory, copied to stderr when
/// a step fails.
const SUPERVISOR: &str = r#"
bin=$1 dir=$2 port=$3 uid=$4 gid=$5 extra=$6
as_owner() {
  if [ "$uid" = - ]; then "$@"; else setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"; fi
}
cleanup() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >>"$dir/ctl.log" 2>&1
  rm -rf "$dir"
}
if ! as_owner "$bin/initdb" -D "$dir/data" -U zerofault --auth=trust --no-sync -E UTF8 \
    --locale=C >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1
fi
if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c shared_buffers=32MB $extra" \
    start >"$dir/ctl.log" 2>&1; then
  cat "$dir/ctl.log" "$dir/server.log" >&2; cleanup; exit 1
fi
echo ready
cat >/dev/null
cleanup
"#;

/// TLS of the server: its certificate chain and key, PEM.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// Certificate chain, leaf first.
    pub cert_pem: String,
    /// Private key.
    pub key_pem: String,
}

/// A running PostgreSQL server in a temporary directory, stopped and removed on drop (or
/// when the test process ends).
#[derive(Debug)]
pub struct PgServer {
    port: u16,
    dir: PathBuf,
    bindir: PathBuf,
    supervisor: Child,
    lifeline: Option<ChildStdin>,
}

impl PgServer {
    /// The server of this test process, started on first use.
    ///
    /// # Panics
    ///
    /// When it cannot be started; the message says why (and how to install PostgreSQL when
    /// that is why).
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(|| {
            PgServer::start(None).unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e:#}"))
        })
    }

    /// Starts a server of its own (with TLS when `tls` is given).
    pub fn start(tls: Option<&ServerTls>) -> anyhow::Result<PgServer> {
        let bindir = bindir()?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(&bindir, tls) {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn start_once(bindir: &Path, tls: Option<&ServerTls>) -> anyhow::Result<PgServer> {
        let dir = tempfile::Builder::new()
            .prefix("zf-pg-")
            .tempdir()
            .context("temporary directory for PostgreSQL")?
            .keep();
        let owner = server_owner()?;
        let mut extra = String::new();
        if let Some(tls) = tls {
            for (name, pem) in [("server.crt", &tls.cert_pem), ("server.key", &tls.key_pem)] {
                let path = dir.join(name);
                write_private(&path, pem)?;
                chown(&path, owner)?;
            }
            extra = format!(
                "-c ssl=on -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key",
                dir.display()
            );
        }
        chown(&dir, owner)?;
        let (uid, gid) = owner.map_or(("-".to_string(), "-".to_string()), |(u, g)| {
            (u.to_string(), g.to_string())
        });
        let port = free_addr().port();
        let mut supervisor = Command::new("sh")
            .args(["-c", SUPERVISOR, "zf-pg-supervisor"])
            .arg(bindir)
            .arg(&dir)
            .arg(port.to_string())
            .args([&uid, &gid, &extra])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run sh for the PostgreSQL supervisor")?;
        let lifeline = supervisor.stdin.take();
        let mut line = String::new();
        let stdout = supervisor.stdout.take().expect("piped");
        BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "ready" {
            let mut err = String::new();
            if let Some(mut e) = supervisor.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let status = supervisor.wait()?;
            let _ = std::fs::remove_dir_all(&dir);
            anyhow::bail!("PostgreSQL did not start on port {port} (supervisor {status}):\n{err}");
        }
        Ok(PgServer {
            port,
            dir,
            bindir: bindir.to_owned(),
            supervisor,
            lifeline,
        })
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgresql://zerofault@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://{PG_USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new empty database named after `label` (made unique) and gives its URL.
    pub fn create_database(&self, label: &str) -> anyhow::Result<String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let clean: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let name = format!("zf_{clean}_{n}");
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(&name))
    }

    /// Runs `sql` in database `db` with `psql` (as the superuser); its output.
    pub fn psql(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let out = Command::new(self.bindir.join("psql"))
            .args([
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                PG_USER,
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .context("cannot run psql")?;
        anyhow::ensure!(
            out.status.success(),
            "psql {sql:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The directory of the server's binaries (`pg_dump`, `psql`, ...).
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Closing the lifeline makes the supervisor stop the server and remove the directory.
        drop(self.lifeline.take());
        let _ = self.supervisor.wait();
    }
}

/// Where `initdb` and `pg_ctl` are: [`PG_BINDIR_ENV`], `pg_config --bindir`, Debian's
/// `/usr/lib/postgresql/<newest>/bin`, or the directory `initdb` on the PATH resolves to.
pub fn bindir() -> anyhow::Result<PathBuf> {
    let has_server = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os(PG_BINDIR_ENV) {
        let dir = PathBuf::from(dir);
        anyhow::ensure!(
            has_server(&dir),
            "{PG_BINDIR_ENV}={} has no initdb and pg_ctl",
            dir.display()
        );
        return Ok(dir);
    }
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    // Debian installs each major version side by side; the newest first.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    candidates.extend(versions.into_iter().map(|(_, p)| p));
    for dir in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if let Ok(initdb) = std::fs::canonicalize(dir.join("initdb"))
            && let Some(parent) = initdb.parent()
        {
            candidates.push(parent.to_owned());
        }
    }
    candidates
        .into_iter()
        .find(|d| has_server(d))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the PostgreSQL server binaries (initdb, pg_ctl) are not installed: run the test \
             command `./scripts/test` (as root it installs Debian's `postgresql` package), or \
             `sudo apt-get install postgresql`, or set {PG_BINDIR_ENV}"
            )
        })
}

/// The user the server runs as: `None` for this process's own user, `nobody` when this
/// process is root (initdb and postgres refuse to run as root).
fn server_owner() -> anyhow::Result<Option<(u32, u32)>> {
    if !rustix::process::geteuid().is_root() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() == Some(&"nobody") && fields.len() > 3 {
            return Ok(Some((fields[2].parse()?, fields[3].parse()?)));
        }
    }
    anyhow::bail!("running as root, and there is no user `nobody` to run PostgreSQL as")
}

fn chown(path: &Path, owner: Option<(u32, u32)>) -> anyhow::Result<()> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .with_context(|| format!("chown {}", path.display()))?;
    }
    Ok(())
}

/// Writes `text` to a new file of mode 0600 (PostgreSQL refuses a key others can read).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: a server starts, takes SQL, and is gone (process and directory)
    /// once dropped.
    #[test]
    fn a_server_starts_answers_and_is_removed_on_drop() {
        let server = PgServer::start(None).unwrap();
        let url = server.create_database("harness").unwrap();
        let db = url.rsplit('/').next().unwrap();
        assert_eq!(server.psql(db, "SELECT 1 + 1").unwrap().trim(), "2");
        let dir = server.dir.clone();
        let port = server.port;
        drop(server);
        assert!(!dir.exists(), "{} left behind", dir.display());
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "server still listening on {port}"
        );
    }
}
