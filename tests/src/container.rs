//! A minimal Debian system booted with its own systemd as PID 1 (systemd-nspawn), for the
//! package tests that need a real service manager (tests/tests/systemd.rs). Needs root.
//!
//! * The root file system is made once by `debootstrap --variant=minbase` from the Debian
//!   mirror apt already uses, with the few packages the tests need, and cached outside the
//!   clone in `/var/tmp/zerofault-nspawn/` (`ZEROFAULT_NSPAWN_CACHE`), keyed by the release
//!   and the package list: a fresh machine pays about a minute once.
//! * Each [`Container`] boots a private copy of it (`cp -a`, about 400 MB, 2 s) with
//!   `systemd-nspawn --boot --private-network` (loopback only: nothing inside reaches out),
//!   and runs commands inside with `nsenter` on the container's PID 1. Dropping it powers the
//!   container off (then kills it if it hangs) and removes the copy.
//!
//! Without systemd as the host's PID 1, `--register=no --keep-unit` keep nspawn away from
//! machined and the host's manager; a tmpfs on `/run/systemd/nspawn` (mounted for as long as
//! a container runs) keeps nspawn from refusing to clean up its state there.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

/// Packages on top of `minbase`: systemd as init; libcap2-bin (`setcap` in the agent's
/// postinst); the collector .deb's font dependency, so that `apt-get install ./FILE.deb` needs
/// no mirror; Debian's `rpm` to run the .rpm files' scriptlets; curl for `/metrics`.
const INCLUDE: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "libcap2-bin",
    "fonts-wqy-microhei",
    "rpm",
    "curl",
];

/// Bumped when the image is made differently, so a cached root of the old recipe is not used.
const RECIPE: u32 = 1;

/// Environment variable naming the cache directory of container roots.
pub const CACHE_ENV: &str = "ZEROFAULT_NSPAWN_CACHE";

/// Why this machine cannot boot a container, or `None` when it can. The test is skipped only
/// for these reasons (printed); a machine that has the tools but fails to boot fails the test.
pub fn unavailable() -> Option<String> {
    match crate::netns::euid() {
        Ok(0) => {}
        Ok(uid) => {
            return Some(format!(
                "booting a container needs root (effective uid is {uid}); CI runs as root"
            ));
        }
        Err(e) => return Some(format!("cannot read the effective uid: {e}")),
    }
    if !Path::new("/sys/fs/cgroup").is_dir() {
        return Some("no /sys/fs/cgroup: systemd cannot run in a container here".into());
    }
    None
}

/// Runs `cmd`, returns its output; an error when it cannot be started.
fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))
}

/// Runs `cmd`; an error with its output unless it succeeds.
fn run_ok(cmd: &mut Command) -> anyhow::Result<String> {
    let out = run(cmd)?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The tools the containers need, with the Debian package of each.
fn require_tools() -> anyhow::Result<()> {
    for (tool, package) in [
        ("debootstrap", "debootstrap"),
        ("systemd-nspawn", "systemd-container"),
        ("nsenter", "util-linux"),
    ] {
        let found = run(Command::new("sh").args(["-c", &format!("command -v {tool}")]))?;
        ensure!(
            found.status.success(),
            "{tool} is missing: apt-get install {package} (scripts/test installs it)"
        );
    }
    Ok(())
}

/// The host's Debian release (`VERSION_CODENAME` of /etc/os-release): the container runs the
/// same one, so the binaries built here find the same glibc.
fn codename() -> anyhow::Result<String> {
    let text = std::fs::read_to_string("/etc/os-release").context("/etc/os-release")?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
        .context("no VERSION_CODENAME in /etc/os-release: not a Debian release")
}

/// The Debian mirror apt uses (first `deb` source of the main archive), so the container
/// comes from the same place as every other Debian package of the suite.
fn mirror() -> String {
    let mut text = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            text.push('\n');
            text.push_str(&std::fs::read_to_string(f).unwrap_or_default());
        }
    }
    mirror_from_sources(&text).unwrap_or_else(|| "http://deb.debian.org/debian".to_owned())
}

/// The first archive URI (not the security archive) of apt sources in one-line
/// (`deb URI SUITE ...`) or deb822 (`URIs: URI`) form.
fn mirror_from_sources(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if let Some(rest) = l.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if let Some(rest) = l.strip_prefix("deb ") {
                rest.split_whitespace().find(|w| w.contains("://"))
            } else {
                None
            }
        })
        .find(|uri| !uri.contains("security"))
        .map(|uri| uri.trim_end_matches('/').to_owned())
}

/// FNV-1a, 64 bits: names a cached root after its recipe (not a security boundary).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `RELEASE-HASH`, the name of a cached root (`base_root`).
fn is_root_name(name: &str) -> bool {
    name.rsplit_once('-').is_some_and(|(release, hash)| {
        !release.is_empty()
            && release.bytes().all(|b| b.is_ascii_lowercase())
            && hash.len() == 16
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Removes the copies of containers whose test process is gone (killed before its drop).
fn remove_orphans(work: &Path) {
    for entry in std::fs::read_dir(work).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = file
            .trim_end_matches(".console")
            .rsplit_once('-')
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let path = entry.path();
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
}

fn cache_dir() -> PathBuf {
    std::env::var_os(CACHE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/zerofault-nspawn"))
}

/// The cached root file system, made by debootstrap when missing. One process at a time
/// makes it (a lock file); a half-made root is never used (it is renamed into place last).
pub fn base_root() -> anyhow::Result<PathBuf> {
    require_tools()?;
    let release = codename()?;
    let mirror = mirror();
    let recipe = format!("{RECIPE} {release} {mirror} {}", INCLUDE.join(","));
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).with_context(|| format!("{}", cache.display()))?;
    let name = format!("{release}-{:016x}", fnv(&recipe));
    let root = cache.join(&name);
    let lock = std::fs::File::create(cache.join("lock"))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .context("lock the container cache")?;
    if root.join("usr/lib/systemd/systemd").is_file() {
        return Ok(root);
    }
    // Roots of other recipes are stale: remove them (each is about 400 MB).
    for entry in std::fs::read_dir(&cache)?.flatten() {
        let other = entry.file_name().to_string_lossy().into_owned();
        if other != name && is_root_name(other.trim_end_matches(".partial")) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let partial = cache.join(format!("{name}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    let start = Instant::now();
    eprintln!(
        "==> debootstrap {release} from {mirror} into {} (once; cached for later runs)",
        root.display()
    );
    let out = run(Command::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--include={}", INCLUDE.join(",")))
        .arg(&release)
        .arg(&partial)
        .arg(&mirror))?;
    if !out.status.success() {
        let log = std::fs::read_to_string(partial.join("debootstrap/debootstrap.log"))
            .unwrap_or_default();
        let _ = std::fs::remove_dir_all(&partial);
        bail!(
            "debootstrap {release} from {mirror} failed ({}); it needs the Debian mirror apt \
             uses:\n{}{}\n{log}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // What every installed Debian has and minbase lacks: `localhost` in /etc/hosts (the
    // agent's collector.url names it, as the collector's certificate does).
    std::fs::write(
        partial.join("etc/hosts"),
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    )?;
    // Downloaded .debs are not needed again: 100 MB less in every copy.
    run_ok(Command::new("sh").arg("-c").arg(format!(
        "rm -rf {0}/var/cache/apt/archives/*.deb {0}/var/lib/apt/lists/*_Packages",
        partial.display()
    )))?;
    std::fs::rename(&partial, &root)?;
    eprintln!(
        "==> debootstrap took {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(root)
}

/// How many containers run now; the tmpfs on /run/systemd/nspawn is mounted while it is > 0
/// and was mounted by us.
static NSPAWN_RUN: Mutex<(usize, bool)> = Mutex::new((0, false));

const NSPAWN_STATE: &str = "/run/systemd/nspawn";

fn is_mountpoint(path: &str) -> bool {
    run(Command::new("mountpoint").args(["-q", path])).is_ok_and(|o| o.status.success())
}

fn nspawn_state_acquire() -> anyhow::Result<()> {
    let mut state = NSPAWN_RUN.lock().unwrap_or_else(|e| e.into_inner());
    if state.0 == 0 && !is_mountpoint(NSPAWN_STATE) {
        std::fs::create_dir_all(NSPAWN_STATE)?;
        run_ok(Command::new("mount").args([
            "-t",
            "tmpfs",
            "-o",
            "mode=0755,size=16m",
            "zf-nspawn",
            NSPAWN_STATE,
        ]))?;
        state.1 = true;
    }
    state.0 += 1;
    Ok(())
}

fn nspawn_state_release() {
    let mut state = NSPAWN_RUN.lock().unwrap_or_else(|e| e.into_inner());
    state.0 = state.0.saturating_sub(1);
    if state.0 == 0 && state.1 {
        let _ = run(Command::new("umount").args(["-l", NSPAWN_STATE]));
        state.1 = false;
    }
}

/// Makes the cgroup `name` below this process's own, in each hierarchy systemd uses: the
/// unified one (cgroup v2 only, or `unified/` beside v1) and v1's `name=systemd`.
fn own_cgroups(name: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mine = std::fs::read_to_string("/proc/self/cgroup")?;
    let path_in = |prefix: &str| {
        mine.lines()
            .find_map(|l| {
                l.split_once(':')
                    .and_then(|(_, rest)| rest.strip_prefix(prefix))
            })
            .map(|p| p.trim_start_matches('/').to_owned())
    };
    let base = Path::new("/sys/fs/cgroup");
    let mut groups = Vec::new();
    for (dir, prefix) in [
        (base.to_path_buf(), ":"),
        (base.join("unified"), ":"),
        (base.join("systemd"), "name=systemd:"),
    ] {
        if dir.join("cgroup.procs").is_file()
            && let Some(own) = path_in(prefix)
        {
            groups.push(dir.join(own).join(name));
        }
    }
    ensure!(
        !groups.is_empty(),
        "no cgroup hierarchy for systemd under /sys/fs/cgroup"
    );
    for g in &groups {
        std::fs::create_dir_all(g).with_context(|| format!("mkdir {}", g.display()))?;
    }
    Ok(groups)
}

/// Removes cgroups made by [`own_cgroups`], with what the container's manager made below
/// (cgroups are removed leaves first, with rmdir).
fn remove_cgroups(groups: &[PathBuf]) {
    fn remove(dir: &Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    remove(&e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    for g in groups {
        remove(g);
    }
}

/// A booted container. Dropped: powered off and its root removed.
#[derive(Debug)]
pub struct Container {
    name: String,
    cgroups: Vec<PathBuf>,
    root: PathBuf,
    console: PathBuf,
    nspawn: Child,
    pid1: u32,
}

impl Container {
    /// Boots a copy of [`base_root`] named `name` (also its host name) and waits until its
    /// systemd reports `running`.
    pub fn boot(name: &str) -> anyhow::Result<Self> {
        let base = base_root()?;
        let work = cache_dir().join("run");
        std::fs::create_dir_all(&work)?;
        remove_orphans(&work);
        let root = work.join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        run_ok(
            Command::new("cp")
                .args(["-a", "--reflink=auto"])
                .arg(&base)
                .arg(&root),
        )?;
        let console = work.join(format!("{name}-{}.console", std::process::id()));
        let log = std::fs::File::create(&console)?;
        nspawn_state_acquire()?;
        // Each container gets a cgroup of its own: with `--keep-unit` nspawn stays in the
        // caller's, and two containers' managers in one cgroup tree would share
        // `/system.slice/UNIT` (seen: one killing the other's service failed with EIO).
        let cgroups = own_cgroups(&format!("zerofault-{name}-{}", std::process::id()))?;
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(
                "IFS=:; for g in $0; do echo $$ > \"$g/cgroup.procs\" || exit 1; done; unset IFS; \
                 exec systemd-nspawn \"$@\"",
            )
            .arg(
                cgroups
                    .iter()
                    .map(|g| g.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            )
            .arg("--directory")
            .arg(&root)
            .args([
                "--boot",
                "--register=no",
                "--keep-unit",
                "--private-network",
                "--console=pipe",
                "--quiet",
            ])
            .arg(format!("--machine={name}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn();
        let nspawn = match spawned {
            Ok(child) => child,
            Err(e) => {
                remove_cgroups(&cgroups);
                nspawn_state_release();
                let _ = std::fs::remove_dir_all(&root);
                bail!("cannot start systemd-nspawn: {e}");
            }
        };
        let mut c = Self {
            name: name.to_owned(),
            cgroups,
            root,
            console,
            nspawn,
            pid1: 0,
        };
        c.pid1 = c.find_pid1()?;
        // `--wait` returns once start-up is over: running, or degraded with failed units.
        // Until the manager's socket is up it fails at once, printing nothing: try again.
        let deadline = Instant::now() + Duration::from_secs(120);
        let state = loop {
            let out = c.sh("timeout 120 systemctl is-system-running --wait")?;
            let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !state.is_empty() {
                break state;
            }
            ensure!(
                Instant::now() < deadline,
                "the systemd of container {name} did not answer within 120 s: {}\nconsole:\n{}",
                String::from_utf8_lossy(&out.stderr),
                c.console_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        if state != "running" {
            let failed = c.sh("systemctl --failed --no-pager --no-legend; journalctl -b -p warning --no-pager | tail -n 40")?;
            bail!(
                "container {name} booted into state {state:?}, not running:\n{}\nconsole:\n{}",
                String::from_utf8_lossy(&failed.stdout),
                c.console_text()
            );
        }
        Ok(c)
    }

    /// The container's PID 1 (its systemd), a child of nspawn: found once it has exec'd.
    fn find_pid1(&mut self) -> anyhow::Result<u32> {
        let parent = self.nspawn.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.nspawn.try_wait()? {
                bail!(
                    "systemd-nspawn exited ({status}) before the container booted:\n{}",
                    self.console_text()
                );
            }
            for entry in std::fs::read_dir("/proc")?.flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let status =
                    std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
                let ppid = status
                    .lines()
                    .find_map(|l| l.strip_prefix("PPid:"))
                    .and_then(|v| v.trim().parse::<u32>().ok());
                let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
                if ppid == Some(parent) && exe.ends_with("systemd") {
                    return Ok(pid);
                }
            }
            ensure!(
                Instant::now() < deadline,
                "no systemd started in container {} within 30 s:\n{}",
                self.name,
                self.console_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the container printed on its console so far.
    pub fn console_text(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }

    /// The container's root directory as seen from the host.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The host path of `inside`, a path in the container.
    pub fn host_path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }

    /// Copies the host file `file` into the container's directory `dir` (made if missing);
    /// returns its path inside.
    pub fn copy_in(&self, file: &Path, dir: &str) -> anyhow::Result<String> {
        let name = file
            .file_name()
            .context("a file to copy in has a name")?
            .to_string_lossy()
            .into_owned();
        std::fs::create_dir_all(self.host_path(dir))?;
        let inside = format!("{}/{name}", dir.trim_end_matches('/'));
        std::fs::copy(file, self.host_path(&inside))
            .with_context(|| format!("copy {} into {}", file.display(), self.name))?;
        Ok(inside)
    }

    /// Writes `text` to the container's file `inside` (root's, mode 0644).
    pub fn write(&self, inside: &str, text: &str) -> anyhow::Result<()> {
        let path = self.host_path(inside);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::File::create(&path)?.write_all(text.as_bytes())?;
        Ok(())
    }

    /// Runs `script` with `sh -c` as root inside the container (all its namespaces), with a
    /// clean environment and at most 5 minutes; its output whatever its exit status.
    pub fn sh(&self, script: &str) -> anyhow::Result<Output> {
        run(Command::new("nsenter")
            .args(["-t", &self.pid1.to_string(), "-a", "--"])
            .args([
                "/usr/bin/timeout",
                "--kill-after=10",
                "300",
                "/usr/bin/env",
                "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
                "HOME=/root",
                "DEBIAN_FRONTEND=noninteractive",
                "SYSTEMD_PAGER=",
                "/bin/sh",
                "-c",
                script,
            ]))
    }

    /// [`Container::sh`], which must succeed; its standard output.
    pub fn ok(&self, script: &str) -> String {
        let out = self
            .sh(script)
            .unwrap_or_else(|e| panic!("in {}: {script}: {e:#}", self.name));
        assert!(
            out.status.success(),
            "in container {}: `{script}` failed ({}):\nstdout: {}\nstderr: {}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Powers the container off (SIGTERM to nspawn is an orderly shutdown with `--boot`) and
    /// waits up to 30 s, then kills it.
    fn stop(&mut self) {
        if self.nspawn.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = run(Command::new("kill").args(["-TERM", &self.nspawn.id().to_string()]));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.nspawn.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Killing PID 1 of the container ends every process in it (its PID namespace).
        if self.pid1 != 0 {
            let _ = run(Command::new("kill").args(["-KILL", &self.pid1.to_string()]));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- console of container {} (last 60 lines):\n{}",
                self.name,
                self.console_text()
                    .lines()
                    .rev()
                    .take(60)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        self.stop();
        remove_cgroups(&self.cgroups);
        nspawn_state_release();
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_file(&self.console);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_is_the_first_archive_source_in_either_format() {
        let deb822 = "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n\n\
                      Types: deb\nURIs: http://deb.debian.org/debian-security\n";
        assert_eq!(
            mirror_from_sources(deb822).as_deref(),
            Some("http://mirror.example/debian")
        );
        let one_line = "# comment\ndeb http://security.debian.org/debian-security bookworm-security main\n\
                        deb [arch=amd64] http://ftp.cn.debian.org/debian bookworm main\n";
        assert_eq!(
            mirror_from_sources(one_line).as_deref(),
            Some("http://ftp.cn.debian.org/debian")
        );
        assert_eq!(
            mirror_from_sources("deb-src http://x/debian bookworm main"),
            None
        );
    }

    #[test]
    fn a_recipe_names_its_own_root() {
        assert_ne!(fnv("1 bookworm a"), fnv("1 bookworm b"));
        assert_eq!(fnv(""), 0xcbf2_9ce4_8422_2325);
        assert!(is_root_name("bookworm-0123456789abcdef"));
        assert!(!is_root_name("run"));
        assert!(!is_root_name("lock"));
        assert!(!is_root_name("bookworm-0123"));
    }
}
