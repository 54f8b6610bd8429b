//! The container's root file system: `debootstrap --variant=minbase` of the host's Debian
//! release from apt's own mirror, made once and cached (keyed by its recipe), copied for each
//! container under a lock.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};

use crate::command::{output, run};

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

/// The tools the containers need, with the Debian package of each.
fn require_tools() -> anyhow::Result<()> {
    for (tool, package) in [
        ("debootstrap", "debootstrap"),
        ("systemd-nspawn", "systemd-container"),
        ("nsenter", "util-linux"),
    ] {
        let found = output(Command::new("sh").args(["-c", &format!("command -v {tool}")]))?;
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

/// The Debian mirror apt uses for `release` (`ZEROFAULT_DEBIAN_MIRROR` overrides it), so the
/// container comes from the same place as every other Debian package of the suite.
fn mirror(release: &str) -> String {
    if let Some(m) = std::env::var_os("ZEROFAULT_DEBIAN_MIRROR") {
        return m.to_string_lossy().into_owned();
    }
    let mut text = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            text.push_str("\n\n");
            text.push_str(&std::fs::read_to_string(f).unwrap_or_default());
        }
    }
    mirror_from_sources(&text, release).unwrap_or_else(|| "http://deb.debian.org/debian".to_owned())
}

/// The first URI of a binary (`deb`) source that carries the suite `release` itself (not
/// `release-security`, not a third party's own suite), in one-line (`deb [opts] URI SUITE
/// COMPONENTS`) or deb822 form (a stanza with `Types: deb`, `URIs:`, `Suites:`, not
/// `Enabled: no`).
fn mirror_from_sources(text: &str, release: &str) -> Option<String> {
    let one_line = text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("deb ")?;
        let mut words = rest.split_whitespace().skip_while(|w| !w.contains("://"));
        let uri = words.next()?;
        (words.next() == Some(release)).then_some(uri)
    });
    let deb822 = text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
        };
        let has = |name: &str, word: &str| {
            field(name).is_some_and(|v| v.split_whitespace().any(|w| w == word))
        };
        (has("Types", "deb") && has("Suites", release) && field("Enabled") != Some("no"))
            .then(|| field("URIs").and_then(|u| u.split_whitespace().next()))
            .flatten()
    });
    one_line
        .or(deb822)
        .map(|uri| uri.trim_end_matches('/').to_owned())
}

/// FNV-1a, 64 bits: names a cached root after its recipe (not a security boundary).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `RELEASE-HASH`, the name of a cached root (`copy_root`).
fn is_root_name(name: &str) -> bool {
    name.rsplit_once('-').is_some_and(|(release, hash)| {
        !release.is_empty()
            && release.bytes().all(|b| b.is_ascii_lowercase())
            && hash.len() == 16
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

pub(super) fn cache_dir() -> PathBuf {
    std::env::var_os(CACHE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/zerofault-nspawn"))
}

/// Copies the cached root file system to `dest`, made by debootstrap first when missing.
/// All under one lock: one process at a time makes, replaces or copies it, so a root is
/// never removed in the middle of a copy; a half-made root is never used (it is renamed
/// into place last).
pub(super) fn copy_root(dest: &Path) -> anyhow::Result<()> {
    require_tools()?;
    let release = codename()?;
    let mirror = mirror(&release);
    let recipe = format!("{RECIPE} {release} {mirror} {}", INCLUDE.join(","));
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).with_context(|| format!("{}", cache.display()))?;
    let name = format!("{release}-{:016x}", fnv(&recipe));
    let root = cache.join(&name);
    let lock = std::fs::File::create(cache.join("lock"))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .context("lock the container cache")?;
    if !root.join("usr/lib/systemd/systemd").is_file() {
        debootstrap(&cache, &name, &release, &mirror)?;
    }
    let mut cp = Command::new("cp");
    cp.args(["-a", "--reflink=auto"]).arg(&root).arg(dest);
    run(cp, None)?;
    Ok(())
}

/// Makes the root `cache/name` with debootstrap (called with the cache locked).
fn debootstrap(cache: &Path, name: &str, release: &str, mirror: &str) -> anyhow::Result<()> {
    let root = cache.join(name);
    // Roots of other recipes are stale: remove them (each is about 300 MB).
    for entry in std::fs::read_dir(cache)?.flatten() {
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
    // Bounded: a mirror that stops answering fails the test in 15 minutes, not never.
    let out = output(
        Command::new("timeout")
            .args(["900", "debootstrap", "--variant=minbase"])
            .arg(format!("--include={}", INCLUDE.join(",")))
            .arg(release)
            .arg(&partial)
            .arg(mirror),
    )?;
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
    // Downloaded .debs and package lists are not needed again: 120 MB less in every copy.
    for (dir, suffix) in [
        ("var/cache/apt/archives", ".deb"),
        ("var/lib/apt/lists", "_Packages"),
    ] {
        for e in std::fs::read_dir(partial.join(dir))?.flatten() {
            if e.file_name().to_string_lossy().ends_with(suffix) {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    std::fs::rename(&partial, &root)?;
    eprintln!(
        "==> debootstrap took {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_is_the_first_binary_source_of_the_release_in_either_format() {
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian-security\n\
                      Suites: bookworm-security\n\n\
                      Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n\
                      Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n\
                      Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n";
        assert_eq!(
            mirror_from_sources(deb822, "bookworm").as_deref(),
            Some("http://mirror.example/debian")
        );
        let one_line = "# comment\n\
                        deb http://security.debian.org/debian-security bookworm-security main\n\
                        deb https://vendor.example/apt stable main\n\
                        deb-src http://src.example/debian bookworm main\n\
                        deb [arch=amd64] http://ftp.cn.debian.org/debian bookworm main\n";
        assert_eq!(
            mirror_from_sources(one_line, "bookworm").as_deref(),
            Some("http://ftp.cn.debian.org/debian")
        );
        assert_eq!(mirror_from_sources(one_line, "trixie"), None);
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
