//! A minimal Debian system booted with its own systemd as PID 1 (systemd-nspawn), for the
//! package tests that need a real service manager (tests/tests/systemd.rs). Needs root.
//!
//! * The root file system is made once by `debootstrap --variant=minbase` from the Debian
//!   mirror apt already uses, with the few packages the tests need, and cached outside the
//!   clone in `/var/tmp/zerofault-nspawn/` (`ZEROFAULT_NSPAWN_CACHE`), keyed by the release
//!   and the package list: a fresh machine pays about a minute once.
//! * Each [`Container`] boots a private copy of it (`cp -a`, 281 MB, about 2 s) with
//!   `systemd-nspawn --boot --private-network` (loopback only: nothing inside reaches out),
//!   and runs commands inside with `nsenter` on the container's PID 1. Dropping it powers the
//!   container off (then kills it if it hangs) and removes the copy.
//!
//! Without systemd as the host's PID 1, `--register=no --keep-unit` keep nspawn away from
//! machined and the host's manager; a tmpfs on `/run/systemd/nspawn` (mounted for as long as
//! a container runs) keeps nspawn from refusing to clean up its state there.

mod cgroup;
mod image;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

use crate::command::{output, run};
use cgroup::{cgroup_parents, kill_cgroup, own_cgroups, remove_cgroups};
pub use image::CACHE_ENV;
use image::{cache_dir, copy_root};

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

/// The PID at the end of `NAME-PID` (a container copy, console or cgroup) when that process
/// is gone: what a test killed before its drop left behind.
fn orphaned(name: &str) -> bool {
    name.trim_end_matches(".console")
        .rsplit_once('-')
        .and_then(|(_, pid)| pid.parse::<u32>().ok())
        .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

/// Ends what a killed test process left: the processes of its containers (killed through
/// their cgroups: nspawn's death does not end a container), the cgroups, the copies.
fn remove_orphans(work: &Path) {
    for parent in cgroup_parents().unwrap_or_default() {
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("zerofault-") && orphaned(&name) {
                kill_cgroup(&entry.path());
                remove_cgroups(&[entry.path()]);
            }
        }
    }
    for entry in std::fs::read_dir(work).into_iter().flatten().flatten() {
        if orphaned(&entry.file_name().to_string_lossy()) {
            let path = entry.path();
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
}

/// How many containers run now; the tmpfs on /run/systemd/nspawn is mounted while it is > 0
/// and was mounted by us.
static NSPAWN_RUN: Mutex<(usize, bool)> = Mutex::new((0, false));

const NSPAWN_STATE: &str = "/run/systemd/nspawn";

fn is_mountpoint(path: &str) -> bool {
    output(Command::new("mountpoint").args(["-q", path])).is_ok_and(|o| o.status.success())
}

/// Counts a running container; mounts the tmpfs when none ran, no systemd manages this
/// host (where one does, /run/systemd/nspawn is its own and works) and none is mounted.
fn nspawn_state_acquire() -> anyhow::Result<()> {
    let mut state = NSPAWN_RUN.lock().unwrap_or_else(|e| e.into_inner());
    if state.0 == 0 && !Path::new("/run/systemd/system").exists() && !is_mountpoint(NSPAWN_STATE) {
        std::fs::create_dir_all(NSPAWN_STATE)?;
        let mut mount = Command::new("mount");
        mount.args([
            "-t",
            "tmpfs",
            "-o",
            "mode=0755,size=16m",
            "zf-nspawn",
            NSPAWN_STATE,
        ]);
        run(mount, None)?;
        state.1 = true;
    }
    state.0 += 1;
    Ok(())
}

fn nspawn_state_release() {
    let mut state = NSPAWN_RUN.lock().unwrap_or_else(|e| e.into_inner());
    state.0 = state.0.saturating_sub(1);
    if state.0 == 0 && state.1 {
        let _ = output(Command::new("umount").args(["-l", NSPAWN_STATE]));
        state.1 = false;
    }
}

/// A booted container. Dropped (also half-booted, when `boot` fails): powered off, its
/// cgroups, copy and console log removed.
#[derive(Debug)]
pub struct Container {
    name: String,
    root: PathBuf,
    console: PathBuf,
    /// Whether this container counts in [`NSPAWN_RUN`].
    counted: bool,
    cgroups: Vec<PathBuf>,
    nspawn: Option<Child>,
    pid1: u32,
}

impl Container {
    /// Boots a copy of the cached root ([`copy_root`]) named `name` (also its host name) and
    /// waits until its systemd reports `running`.
    pub fn boot(name: &str) -> anyhow::Result<Self> {
        let work = cache_dir().join("run");
        std::fs::create_dir_all(&work)?;
        remove_orphans(&work);
        let id = format!("{name}-{}", std::process::id());
        // From here on, whatever fails is undone by the drop.
        let mut c = Self {
            name: name.to_owned(),
            root: work.join(&id),
            console: work.join(format!("{id}.console")),
            counted: false,
            cgroups: Vec::new(),
            nspawn: None,
            pid1: 0,
        };
        let _ = std::fs::remove_dir_all(&c.root);
        copy_root(&c.root)?;
        let log = std::fs::File::create(&c.console)?;
        nspawn_state_acquire()?;
        c.counted = true;
        // Each container gets a cgroup of its own: with `--keep-unit` nspawn stays in the
        // caller's, and two containers' managers in one cgroup tree would share
        // `/system.slice/UNIT` (seen: one killing the other's service failed with EIO).
        c.cgroups = own_cgroups(&format!("zerofault-{id}"))?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(
                "IFS=:; for g in $0; do echo $$ > \"$g/cgroup.procs\" || exit 1; done; unset IFS; \
                 exec systemd-nspawn \"$@\"",
            )
            .arg(
                c.cgroups
                    .iter()
                    .map(|g| g.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            )
            .arg("--directory")
            .arg(&c.root)
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
            .spawn()
            .context("cannot start systemd-nspawn")?;
        c.nspawn = Some(child);
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
        let nspawn = self.nspawn.as_mut().context("nspawn was started")?;
        let parent = nspawn.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = nspawn.try_wait()? {
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
        output(
            Command::new("nsenter")
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
                ]),
        )
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
        let Some(nspawn) = self.nspawn.as_mut() else {
            return;
        };
        if nspawn.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = output(Command::new("kill").args(["-TERM", &nspawn.id().to_string()]));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if nspawn.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Everything the container runs is in its cgroups: kill it all, nspawn too.
        for g in &self.cgroups {
            kill_cgroup(g);
        }
        let _ = nspawn.kill();
        let _ = nspawn.wait();
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
        if self.counted {
            nspawn_state_release();
        }
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_file(&self.console);
    }
}
