//! The .deb and .rpm files of this checkout, built by `packaging/build.sh` into the test's
//! own target directory: for the package tests (tests/tests/packages.rs on this machine,
//! tests/tests/systemd.rs in a container).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// The four package files.
#[derive(Debug)]
pub struct Packages {
    /// `zerofault-agent_VERSION_ARCH.deb`.
    pub agent_deb: PathBuf,
    /// `zerofault-collector_VERSION_ARCH.deb`.
    pub collector_deb: PathBuf,
    /// `zerofault-agent-VERSION-RELEASE.ARCH.rpm`.
    pub agent_rpm: PathBuf,
    /// `zerofault-collector-VERSION-RELEASE.ARCH.rpm`.
    pub collector_rpm: PathBuf,
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

/// The cargo target directory of this build: `CARGO_TARGET_DIR`, else the directory above
/// the profile directory this test runs from (`<target>/debug/deps/NAME-HASH`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            repo_root().join(dir)
        };
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.ancestors()
        .nth(3)
        .expect("test executable is <target>/<profile>/deps/NAME")
        .to_path_buf()
}

/// Runs `packaging/build.sh` with `args` (into this build's target directory); returns the
/// package paths it printed. Panics with its output when it fails.
pub fn build_sh(args: &[&str]) -> Vec<PathBuf> {
    let start = Instant::now();
    let mut c = Command::new("bash");
    c.arg(repo_root().join("packaging/build.sh"))
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{c:?} failed ({}):\n{stdout}",
        out.status
    );
    eprintln!(
        "packaging/build.sh {} took {:.1} s",
        args.join(" "),
        start.elapsed().as_secs_f64()
    );
    stdout
        .lines()
        .skip_while(|l| *l != "==> packages:")
        .skip(1)
        .map(PathBuf::from)
        .collect()
}

/// The package among `paths` whose file name is `pattern` (one `*`), e.g.
/// `zerofault-agent_*.deb`.
pub fn find(paths: &[PathBuf], pattern: &str) -> PathBuf {
    let (head, tail) = pattern.split_once('*').expect("a pattern with one *");
    paths
        .iter()
        .find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(head) && name.ends_with(tail) && p.is_file()
        })
        .unwrap_or_else(|| panic!("build.sh printed no {pattern}: {paths:?}"))
        .clone()
}

/// The packages of this checkout, built once per test process (a release build: the first
/// one in a fresh target directory takes several minutes).
pub fn packages() -> &'static Packages {
    static BUILT: OnceLock<Packages> = OnceLock::new();
    BUILT.get_or_init(|| {
        let paths = build_sh(&[]);
        Packages {
            agent_deb: find(&paths, "zerofault-agent_*.deb"),
            collector_deb: find(&paths, "zerofault-collector_*.deb"),
            agent_rpm: find(&paths, "zerofault-agent-*.rpm"),
            collector_rpm: find(&paths, "zerofault-collector-*.rpm"),
        }
    })
}

/// .deb files of `version` (newer than this checkout's, for an upgrade) made from the release
/// binaries already built, into `dir`: the agent's and the collector's paths.
pub fn newer_debs(version: &str, dir: &Path) -> Vec<PathBuf> {
    let paths = build_sh(&[
        "--no-build",
        "--deb-only",
        "--deb-version",
        version,
        "--out",
        dir.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(paths.len(), 2, "two .debs: {paths:?}");
    paths
}
