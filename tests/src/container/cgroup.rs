//! A cgroup of its own for each container (nspawn with `--keep-unit` stays in the caller's),
//! and the means to kill what runs in one and remove it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};

use crate::command::output;

/// SIGKILLs every process in the cgroup `dir` and below, for up to 5 s until none is left.
pub(super) fn kill_cgroup(dir: &Path) {
    fn pids(dir: &Path, out: &mut Vec<String>) {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            out.extend(text.split_whitespace().map(str::to_owned));
        }
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                pids(&e.path(), out);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut left = Vec::new();
        pids(dir, &mut left);
        if left.is_empty() || Instant::now() > deadline {
            return;
        }
        let _ = output(Command::new("kill").arg("-KILL").args(&left));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// This process's own cgroup in each hierarchy systemd uses: the unified one (cgroup v2
/// only, or `unified/` beside v1) and v1's `name=systemd`. On a host managed by systemd these
/// belong to a unit that did not delegate them; the test hosts (CI) run no systemd.
pub(super) fn cgroup_parents() -> anyhow::Result<Vec<PathBuf>> {
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
    let mut parents = Vec::new();
    for (dir, prefix) in [
        (base.to_path_buf(), ":"),
        (base.join("unified"), ":"),
        (base.join("systemd"), "name=systemd:"),
    ] {
        if dir.join("cgroup.procs").is_file()
            && let Some(own) = path_in(prefix)
        {
            parents.push(dir.join(own));
        }
    }
    ensure!(
        !parents.is_empty(),
        "no cgroup hierarchy for systemd under /sys/fs/cgroup"
    );
    Ok(parents)
}

/// Makes the cgroup `name` below this process's own in each of [`cgroup_parents`].
pub(super) fn own_cgroups(name: &str) -> anyhow::Result<Vec<PathBuf>> {
    let groups: Vec<PathBuf> = cgroup_parents()?
        .into_iter()
        .map(|p| p.join(name))
        .collect();
    for g in &groups {
        std::fs::create_dir_all(g).with_context(|| format!("mkdir {}", g.display()))?;
    }
    Ok(groups)
}

/// Removes cgroups made by [`own_cgroups`], with what the container's manager made below
/// (cgroups are removed leaves first, with rmdir).
pub(super) fn remove_cgroups(groups: &[PathBuf]) {
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
