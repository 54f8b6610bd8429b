//! The packages, built by `packaging/build.sh` and installed for real on this machine.
//!
//! * `deb_installs_upgrades_removes_and_purges` (needs root; fails, never skips, without it:
//!   CI runs as root): `dpkg -i` of both .debs, `validate` on the shipped configs (before
//!   and after enrolling with `zerofault-collector certs`, run as the service users), a short
//!   `run` as the agent's user writing its spool into the state directory,
//!   `systemd-analyze verify` and `security --offline=true` (exposure <= 2.0) on the
//!   installed units, an upgrade to a newer build of the same binaries that keeps an edited
//!   conffile and the state directories, remove (data kept), purge (data gone). Everything
//!   it installed or made is removed afterwards, also when it fails.
//! * `rpm_lists_files_modes_scripts_config_and_capability`: the .rpm files checked with
//!   Debian's `rpm` (queries only, nothing installed).
//! * `lintian_reports_no_errors_and_only_documented_warnings`: lintian on both .debs.
//!
//! The packages are built once per run of this test binary (a release build: the first one
//! in a fresh target directory takes several minutes).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use zerofault_tests::packages::{newer_debs, packages, repo_root};

const AGENT: &str = "zerofault-agent";
const COLLECTOR: &str = "zerofault-collector";
/// Highest accepted `systemd-analyze security` exposure level (issue 6).
const MAX_EXPOSURE: f64 = 2.0;

/// Runs `cmd`, returns its output; panics when it cannot be started.
fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd`, panics (with its output) unless it succeeds; returns stdout.
fn ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

fn require_root(what: &str) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid: u32 = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|u| u.parse().ok())
        .expect("Uid line in /proc/self/status");
    assert_eq!(
        euid, 0,
        "{what} needs root: it installs the .deb packages on this machine with dpkg and \
         creates system users (effective uid is {euid}); run it as root, e.g. \
         `sudo -E cargo test -p zerofault-tests --test packages` (CI runs as root)"
    );
}

fn package_state(name: &str) -> String {
    let out = output(&mut cmd("dpkg-query", &["-W", "-f=${Status}", name]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn user_exists(name: &str) -> bool {
    output(&mut cmd("getent", &["passwd", name]))
        .status
        .success()
}

fn group_exists(name: &str) -> bool {
    output(&mut cmd("getent", &["group", name]))
        .status
        .success()
}

/// What the deb test installs and makes, removed on drop (also when the test panics): both
/// packages purged, the users and groups (kept by the purge, per Debian policy) deleted, and
/// /etc/zerofault (certificates the test enrolled) and /var/lib/zerofault removed.
#[derive(Debug)]
struct Installed;

impl Installed {
    /// Refuses to start where anything of ours already exists: it could be a real
    /// installation, and this test would remove it.
    fn begin() -> Self {
        let mut found = Vec::new();
        for p in [AGENT, COLLECTOR] {
            let state = package_state(p);
            if !state.is_empty() && state != "unknown ok not-installed" {
                found.push(format!("package {p} ({state})"));
            }
            if user_exists(p) || group_exists(p) {
                found.push(format!("user or group {p}"));
            }
        }
        for d in ["/etc/zerofault", "/var/lib/zerofault"] {
            if Path::new(d).exists() {
                found.push(d.to_owned());
            }
        }
        assert!(
            found.is_empty(),
            "this test installs zerofault packages for real and removes everything afterwards; \
             refusing to run because these already exist (a real installation, or left by a \
             killed run): {found:?}. To clean up: dpkg --purge zerofault-agent \
             zerofault-collector; userdel zerofault-agent; userdel zerofault-collector; \
             rm -rf /etc/zerofault /var/lib/zerofault"
        );
        Installed
    }

    fn cleanup(&self) {
        let _ = output(&mut cmd("dpkg", &["--purge", AGENT, COLLECTOR]));
        for name in [AGENT, COLLECTOR] {
            if user_exists(name) {
                let _ = output(&mut cmd("userdel", &[name]));
            }
            if group_exists(name) {
                let _ = output(&mut cmd("groupdel", &[name]));
            }
        }
        let _ = std::fs::remove_dir_all("/etc/zerofault");
        let _ = std::fs::remove_dir_all("/var/lib/zerofault");
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// dpkg, non-interactive (a conffile question would otherwise wait for an answer).
fn dpkg(args: &[&str]) -> String {
    let mut c = cmd("dpkg", args);
    c.env("DEBIAN_FRONTEND", "noninteractive");
    ok(&mut c)
}

/// Runs `program args` as the system user `user` (its own group, no supplementary groups
/// but its own), as the units do; returns the output.
fn as_user(user: &str, program: &str, args: &[&str]) -> Output {
    output(
        Command::new("setpriv")
            .args(["--reuid", user, "--regid", user, "--init-groups", "--"])
            .arg(program)
            .args(args),
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// (mode bits, uid, gid) of a path.
fn meta(path: &str) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

fn id_of(user: &str) -> u32 {
    ok(&mut cmd("id", &["-u", user])).trim().parse().unwrap()
}

/// The "Overall exposure level" of a unit file, from `systemd-analyze security --offline`.
fn exposure(unit: &str) -> f64 {
    let out = ok(&mut cmd(
        "systemd-analyze",
        &["security", "--offline=true", "--no-pager", unit],
    ));
    let line = out
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line in:\n{out}"));
    let value = line
        .split(": ")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_else(|| panic!("cannot parse {line:?}"));
    eprintln!(
        "{}",
        line.trim_start_matches(|c: char| !c.is_alphanumeric())
    );
    value
        .parse()
        .unwrap_or_else(|e| panic!("{value:?} in {line:?}: {e}"))
}

#[test]
fn deb_installs_upgrades_removes_and_purges() {
    require_root("the .deb test");
    let start = Instant::now();
    let guard = Installed::begin();
    let p = packages();
    let built = start.elapsed();

    // --- Install.
    dpkg(&[
        "-i",
        p.agent_deb.to_str().unwrap(),
        p.collector_deb.to_str().unwrap(),
    ]);
    for name in [AGENT, COLLECTOR] {
        assert_eq!(package_state(name), "install ok installed", "{name}");
    }
    for f in [
        "/usr/bin/zerofault-agent",
        "/usr/bin/zerofault-collector",
        "/etc/zerofault/agent.yaml",
        "/etc/zerofault/collector.yaml",
        "/etc/zerofault/inventory.yaml",
        "/usr/lib/systemd/system/zerofault-agent.service",
        "/usr/lib/systemd/system/zerofault-collector.service",
        "/usr/lib/sysusers.d/zerofault-agent.conf",
        "/usr/lib/tmpfiles.d/zerofault-collector.conf",
        "/usr/lib/sysctl.d/60-zerofault-agent.conf",
        "/usr/share/man/man1/zerofault-agent.1.gz",
        "/usr/share/man/man1/zerofault-agent-run.1.gz",
        "/usr/share/man/man1/zerofault-collector-certs.1.gz",
        "/usr/share/bash-completion/completions/zerofault-agent",
        "/usr/share/zsh/vendor-completions/_zerofault-collector",
        "/usr/share/zerofault/prometheus/zerofault-rules.yml",
        "/usr/share/zerofault/grafana/zerofault-dashboard.json",
        "/usr/share/fish/vendor_completions.d/zerofault-agent.fish",
    ] {
        assert!(Path::new(f).is_file(), "{f} is not installed");
    }
    assert!(
        !Path::new("/usr/share/man/man1/zerofault-agent-generate-assets.1.gz").exists(),
        "the hidden generator has no man page"
    );
    // The installed rules pass their installed unit tests (promtool reads rule_files beside
    // the test file).
    ok(&mut cmd(
        "promtool",
        &[
            "test",
            "rules",
            "/usr/share/zerofault/prometheus/zerofault-rules.test.yml",
        ],
    ));
    let conffiles = ok(&mut cmd(
        "dpkg-query",
        &["-W", "-f=${Conffiles}", COLLECTOR],
    ));
    for f in [
        "/etc/zerofault/collector.yaml",
        "/etc/zerofault/inventory.yaml",
    ] {
        assert!(conffiles.contains(f), "{f} not a conffile: {conffiles}");
    }
    // Users: no login shell, home = state directory; state directories 0750 theirs.
    for (name, dir) in [
        (AGENT, "/var/lib/zerofault/agent"),
        (COLLECTOR, "/var/lib/zerofault/collector"),
    ] {
        let entry = ok(&mut cmd("getent", &["passwd", name]));
        let fields: Vec<&str> = entry.trim().split(':').collect();
        assert_eq!(fields[5], dir, "home of {name}: {entry}");
        assert_eq!(fields[6], "/usr/sbin/nologin", "shell of {name}: {entry}");
        let uid = id_of(name);
        assert_eq!(meta(dir).0, 0o750, "{dir}");
        assert_eq!(meta(dir).1, uid, "{dir} owner");
    }
    let caps = ok(&mut cmd("getcap", &["/usr/bin/zerofault-agent"]));
    assert!(caps.contains("cap_net_raw=ep"), "getcap: {caps}");
    assert!(
        Path::new("/etc/systemd/system/multi-user.target.wants/zerofault-agent.service")
            .is_symlink(),
        "the agent's unit is enabled on install"
    );

    // --- The scripts are idempotent: installing the same packages again (prerm upgrade,
    // postinst configure with the same version) changes nothing.
    let passwd_before = std::fs::read_to_string("/etc/passwd").unwrap();
    let group_before = std::fs::read_to_string("/etc/group").unwrap();
    dpkg(&[
        "-i",
        p.agent_deb.to_str().unwrap(),
        p.collector_deb.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string("/etc/passwd").unwrap(),
        passwd_before
    );
    assert_eq!(std::fs::read_to_string("/etc/group").unwrap(), group_before);
    assert_eq!(meta("/var/lib/zerofault/agent").0, 0o750);

    // --- validate on the shipped configs: the only problems are the certificates that an
    // operator has not enrolled yet, and the message says which files.
    for (bin, config) in [
        (AGENT, "/etc/zerofault/agent.yaml"),
        (COLLECTOR, "/etc/zerofault/collector.yaml"),
    ] {
        let out = output(&mut cmd(bin, &["validate", "--config", config]));
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{bin} validate: {t}");
        for key in ["tls.ca", "tls.cert", "tls.key"] {
            assert!(t.contains(key), "{bin} validate names {key}: {t}");
        }
        let problems: Vec<&str> = t.lines().filter(|l| l.contains(config)).collect();
        assert!(
            problems.iter().all(|l| l.contains("tls.")),
            "{bin}: the shipped config has problems beyond the missing certificates: {t}"
        );
    }

    // --- Enroll as docs/install.md says, with a token: the CA and the collector's
    // certificate on the collector host; the agent's key made by `enroll` (run as root, as
    // an operator would) into the agent's state directory that the shipped config names,
    // handed to the agent's user; no key copied. Then validate as the service users.
    ok(&mut cmd(COLLECTOR, &["certs", "--dir", "/etc/zerofault"]));
    for key in ["/etc/zerofault/collector.key", "/etc/zerofault/ca.key"] {
        // The collector reads its key and, to sign enrollments, the CA's, as its group.
        ok(&mut cmd("chgrp", &[COLLECTOR, key]));
        ok(&mut cmd("chmod", &["0640", key]));
    }
    enroll_from_packages();
    for (bin, config) in [
        (AGENT, "/etc/zerofault/agent.yaml"),
        (COLLECTOR, "/etc/zerofault/collector.yaml"),
    ] {
        let out = as_user(bin, bin, &["validate", "--config", config]);
        assert!(
            out.status.success(),
            "{bin} validate as {bin}: {}",
            text(&out)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("OK: {config}\n")
        );
    }
    // The agent's user reads what the agent reads (/proc, /sys, statvfs).
    let out = as_user(
        AGENT,
        AGENT,
        &["once", "--config", "/etc/zerofault/agent.yaml", "--json"],
    );
    assert!(out.status.success(), "once as {AGENT}: {}", text(&out));
    // `run` as the agent's user writes its sequence number and spool into the state
    // directory (the collector in the example config does not exist: reports stay spooled).
    let mut child = Command::new("setpriv")
        .args(["--reuid", AGENT, "--regid", AGENT, "--init-groups", "--"])
        .args([AGENT, "run", "--config", "/etc/zerofault/agent.yaml"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the agent as its user");
    let deadline = Instant::now() + Duration::from_secs(20);
    let spooled = loop {
        let seg = std::fs::read_dir("/var/lib/zerofault/agent/spool")
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            })
            .unwrap_or(false);
        if (seg && Path::new("/var/lib/zerofault/agent/sequence").exists())
            || Instant::now() > deadline
        {
            break seg;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let agent_out = child.wait_with_output().unwrap();
    assert!(
        spooled,
        "the agent run as {AGENT} spooled nothing into /var/lib/zerofault/agent: {}",
        String::from_utf8_lossy(&agent_out.stderr)
    );
    assert_eq!(
        meta("/var/lib/zerofault/agent/sequence").1,
        id_of(AGENT),
        "state written by the agent's user"
    );

    // --- The installed units.
    for name in [AGENT, COLLECTOR] {
        let unit = format!("/usr/lib/systemd/system/{name}.service");
        let out = output(&mut cmd("systemd-analyze", &["verify", &unit]));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "systemd-analyze verify {unit}: {}",
            text(&out)
        );
        let level = exposure(&unit);
        assert!(
            level <= MAX_EXPOSURE,
            "{unit}: exposure {level} > {MAX_EXPOSURE}"
        );
    }

    // --- Upgrade to a newer build of the same binaries: an edited conffile and the state
    // directories survive, the capability is set again.
    let edit = "# edited by the packages test\n";
    let mut agent_yaml = std::fs::read_to_string("/etc/zerofault/agent.yaml").unwrap();
    agent_yaml.push_str(edit);
    std::fs::write("/etc/zerofault/agent.yaml", &agent_yaml).unwrap();
    std::fs::write("/var/lib/zerofault/agent/keep-me", "spool").unwrap();
    std::fs::write("/var/lib/zerofault/collector/keep-me", "database").unwrap();
    let newer_dir = tempfile::tempdir().unwrap();
    let newer_version = "0.1.0-1+zftest2";
    let newer = newer_debs(newer_version, newer_dir.path());
    let mut args = vec!["-i"];
    args.extend(newer.iter().map(|p| p.to_str().unwrap()));
    dpkg(&args);
    for name in [AGENT, COLLECTOR] {
        let v = ok(&mut cmd("dpkg-query", &["-W", "-f=${Version}", name]));
        assert_eq!(v, newer_version, "{name} upgraded");
    }
    assert_eq!(
        std::fs::read_to_string("/etc/zerofault/agent.yaml").unwrap(),
        agent_yaml,
        "the edited conffile survives the upgrade"
    );
    for f in [
        "/var/lib/zerofault/agent/keep-me",
        "/var/lib/zerofault/collector/keep-me",
        "/var/lib/zerofault/agent/sequence",
    ] {
        assert!(Path::new(f).is_file(), "{f} survives the upgrade");
    }
    let caps = ok(&mut cmd("getcap", &["/usr/bin/zerofault-agent"]));
    assert!(
        caps.contains("cap_net_raw=ep"),
        "getcap after upgrade: {caps}"
    );

    // --- Remove: programs gone; data, edited config and users kept.
    dpkg(&["-r", AGENT, COLLECTOR]);
    for name in [AGENT, COLLECTOR] {
        assert_eq!(package_state(name), "deinstall ok config-files", "{name}");
        assert!(!Path::new("/usr/bin").join(name).exists(), "{name} removed");
        assert!(user_exists(name), "{name}'s user kept on remove");
    }
    for f in [
        "/var/lib/zerofault/agent/keep-me",
        "/var/lib/zerofault/collector/keep-me",
        "/etc/zerofault/agent.yaml",
    ] {
        assert!(Path::new(f).is_file(), "{f} survives remove");
    }

    // --- Purge: data and configs gone, enablement gone; the users are kept (Debian policy).
    dpkg(&["--purge", AGENT, COLLECTOR]);
    for name in [AGENT, COLLECTOR] {
        let state = package_state(name);
        assert!(
            state.is_empty() || state.ends_with("not-installed"),
            "{name} purged: {state:?}"
        );
    }
    for f in [
        "/var/lib/zerofault",
        "/etc/zerofault/agent.yaml",
        "/etc/zerofault/collector.yaml",
        "/etc/systemd/system/multi-user.target.wants/zerofault-agent.service",
        "/etc/systemd/system/multi-user.target.wants/zerofault-collector.service",
        "/var/lib/systemd/deb-systemd-helper-enabled/zerofault-agent.service.dsh-also",
    ] {
        assert!(
            !Path::new(f).exists() && !Path::new(f).is_symlink(),
            "{f} is gone after purge"
        );
    }
    // Certificates an operator put there are not the packages' to delete.
    assert!(Path::new("/etc/zerofault/ca.key").is_file());
    assert!(user_exists(AGENT) && user_exists(COLLECTOR));

    // --- Nothing of the test is left.
    guard.cleanup();
    for name in [AGENT, COLLECTOR] {
        assert!(!user_exists(name) && !group_exists(name), "{name} removed");
    }
    assert!(!Path::new("/etc/zerofault").exists());
    eprintln!(
        "deb test: {:.1} s ({:.1} s of it building the packages)",
        start.elapsed().as_secs_f64(),
        built.as_secs_f64()
    );
}

/// A free TCP port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the installed collector as its user from the shipped config with enrollment on
/// (its listeners moved to free loopback ports), makes a token as that user, and enrolls
/// the installed agent with it as root; checks who owns what `enroll` wrote.
fn enroll_from_packages() {
    let (ingest, http) = (free_port(), free_port());
    let shipped = std::fs::read_to_string("/etc/zerofault/collector.yaml").unwrap();
    let config = shipped
        .replace(
            "ingest: \"[::]:7443\"",
            &format!("ingest: 127.0.0.1:{ingest}"),
        )
        .replace("http: 127.0.0.1:9464", &format!("http: 127.0.0.1:{http}"))
        + "enrollment:\n  ca_dir: /etc/zerofault\n";
    assert_ne!(
        config, shipped,
        "the shipped listen addresses changed: update this test"
    );
    let collector_yaml = "/etc/zerofault/collector-enroll.yaml";
    let agent_yaml = "/etc/zerofault/agent-enroll.yaml";
    // The collector is stopped and the two configs removed however this ends.
    let mut cleanup = Cleanup {
        child: None,
        files: vec![collector_yaml, agent_yaml],
    };
    std::fs::write(collector_yaml, config).unwrap();
    let out = as_user(
        COLLECTOR,
        COLLECTOR,
        &[
            "certs",
            "token",
            "--config",
            collector_yaml,
            "--agent",
            "web-01",
        ],
    );
    assert!(
        out.status.success(),
        "certs token as {COLLECTOR}: {}",
        text(&out)
    );
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), &out.stdout).unwrap();
    let collector = Command::new("setpriv")
        .args([
            "--reuid",
            COLLECTOR,
            "--regid",
            COLLECTOR,
            "--init-groups",
            "--",
        ])
        .args([COLLECTOR, "serve", "--config", collector_yaml])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the collector as its user");
    cleanup.child = Some(collector);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", ingest)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the collector did not listen on {ingest}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The shipped agent config but for the collector's address.
    let agent = std::fs::read_to_string("/etc/zerofault/agent.yaml")
        .unwrap()
        .replace(
            "url: https://collector.example:7443",
            &format!("url: https://localhost:{ingest}"),
        );
    std::fs::write(agent_yaml, agent).unwrap();
    let out = output(&mut cmd(
        AGENT,
        &[
            "enroll",
            "--config",
            agent_yaml,
            "--token-file",
            tokens.path().to_str().unwrap(),
        ],
    ));
    let mut collector = cleanup.child.take().expect("started");
    let _ = collector.kill();
    let served = collector.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "enroll as root: {}\ncollector: {}",
        text(&out),
        String::from_utf8_lossy(&served.stderr)
    );
    for (file, mode) in [
        ("/var/lib/zerofault/agent/agent.key", 0o600),
        ("/var/lib/zerofault/agent/agent.pem", 0o644),
    ] {
        let (m, uid, gid) = meta(file);
        assert_eq!(m, mode, "{file} mode");
        let group: u32 = ok(&mut cmd("id", &["-g", AGENT])).trim().parse().unwrap();
        assert_eq!(
            (uid, gid),
            (id_of(AGENT), group),
            "{file} is the agent's user's"
        );
    }
}

/// Stops a child and removes files when dropped, also when an assertion fails first.
struct Cleanup {
    child: Option<std::process::Child>,
    files: Vec<&'static str>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// `rpm -qp --qf` of every file: path, octal mode, owner, group, flags (c = config,
/// n = noreplace, d = doc), capabilities.
fn rpm_files(rpm: &Path) -> Vec<(String, String, String, String, String, String)> {
    let out = ok(&mut cmd(
        "rpm",
        &[
            "-qp",
            "--qf",
            "[%{FILENAMES}\t%{FILEMODES:octal}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\t%{FILECAPS}\n]",
            rpm.to_str().unwrap(),
        ],
    ));
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 6, "{l:?}");
            (
                f[0].to_owned(),
                f[1].to_owned(),
                f[2].to_owned(),
                f[3].to_owned(),
                f[4].to_owned(),
                f[5].to_owned(),
            )
        })
        .collect()
}

#[test]
fn rpm_lists_files_modes_scripts_config_and_capability() {
    let p = packages();
    for (rpm, name, configs) in [
        (&p.agent_rpm, AGENT, vec!["/etc/zerofault/agent.yaml"]),
        (
            &p.collector_rpm,
            COLLECTOR,
            vec![
                "/etc/zerofault/collector.yaml",
                "/etc/zerofault/inventory.yaml",
            ],
        ),
    ] {
        let rpm_s = rpm.to_str().unwrap();
        let listed = ok(&mut cmd("rpm", &["-qpl", rpm_s]));
        let mut expected = vec![
            format!("/usr/bin/{name}"),
            format!("/usr/lib/systemd/system/{name}.service"),
            format!("/usr/lib/sysusers.d/{name}.conf"),
            format!("/usr/lib/tmpfiles.d/{name}.conf"),
            format!("/usr/share/bash-completion/completions/{name}"),
            format!("/usr/share/zsh/site-functions/_{name}"),
            format!("/usr/share/fish/vendor_completions.d/{name}.fish"),
            format!("/usr/share/man/man1/{name}.1.gz"),
        ];
        expected.extend(configs.iter().map(|c| c.to_string()));
        if name == AGENT {
            expected.push("/usr/lib/sysctl.d/60-zerofault-agent.conf".into());
            for sub in ["run", "once", "validate", "probe", "enroll"] {
                expected.push(format!("/usr/share/man/man1/{name}-{sub}.1.gz"));
            }
        } else {
            for sub in [
                "serve",
                "validate",
                "certs",
                "demo",
                "import",
                "verify",
                "report",
                "backup",
                "hash-password",
                // Issue 16: tokens and revocation, the audit log.
                "certs-token",
                "certs-revoke",
                "certs-unrevoke",
                "certs-revoked",
                "audit",
                "audit-verify",
                "audit-export",
                // SLA adjustments.
                "sla",
                "sla-adjust",
                "sla-withdraw",
                "sla-adjustments",
            ] {
                expected.push(format!("/usr/share/man/man1/{name}-{sub}.1.gz"));
            }
            // The Prometheus stack's side (docs/alerting.md).
            for f in [
                "prometheus/zerofault-rules.yml",
                "prometheus/zerofault-rules.test.yml",
                "prometheus/prometheus.example.yml",
                "prometheus/alertmanager.example.yml",
                "grafana/zerofault-dashboard.json",
            ] {
                expected.push(format!("/usr/share/zerofault/{f}"));
            }
        }
        let mut got: Vec<&str> = listed.lines().collect();
        got.sort_unstable();
        expected.sort();
        assert_eq!(got, expected, "rpm -qpl {rpm_s}");

        for (path, mode, user, group, flags, caps) in rpm_files(rpm) {
            assert_eq!((&*user, &*group), ("root", "root"), "{path} owner");
            let want_mode = if path.starts_with("/usr/bin/") {
                "100755"
            } else {
                "100644"
            };
            assert_eq!(mode, want_mode, "{path} mode");
            if configs.contains(&path.as_str()) {
                assert!(
                    flags.contains('c') && flags.contains('n'),
                    "{path}: %config(noreplace), flags {flags:?}"
                );
            } else {
                assert!(!flags.contains('c'), "{path} is not a config file");
            }
            if path == "/usr/bin/zerofault-agent" {
                assert_eq!(caps, "cap_net_raw=ep", "{path} file capability");
            } else {
                // rpm prints "(none)" when no file of the package has one.
                assert!(
                    caps.is_empty() || caps == "(none)",
                    "{path} has no capability: {caps:?}"
                );
            }
        }
        let config_files = ok(&mut cmd("rpm", &["-qp", "--configfiles", rpm_s]));
        let mut config_files: Vec<&str> = config_files.lines().collect();
        config_files.sort_unstable();
        assert_eq!(config_files, configs, "rpm -qp --configfiles {rpm_s}");

        let scripts = ok(&mut cmd("rpm", &["-qp", "--scripts", rpm_s]));
        for (header, needle) in [
            ("postinstall scriptlet", "systemd-sysusers"),
            ("preuninstall scriptlet", "systemctl stop"),
            ("postuninstall scriptlet", "try-restart"),
        ] {
            let section = scripts
                .split_once(header)
                .unwrap_or_else(|| panic!("{rpm_s}: no {header}:\n{scripts}"))
                .1;
            assert!(
                section.contains(needle),
                "{rpm_s} {header} runs {needle}:\n{scripts}"
            );
        }

        // The scriptlets are valid sh (the deb's are run for real by the deb test; these
        // cannot be, there is no RPM system here).
        for tag in ["POSTIN", "PREUN", "POSTUN"] {
            let script = ok(&mut cmd(
                "rpm",
                &["-qp", "--qf", &format!("%{{{tag}}}"), rpm_s],
            ));
            // rpm prints "(none)" for a missing scriptlet, which `sh -n` would accept.
            assert!(
                !script.trim().is_empty() && script.trim() != "(none)",
                "{rpm_s} has no {tag} scriptlet"
            );
            let check = output(Command::new("sh").args(["-n", "-c", &script]));
            assert!(check.status.success(), "{rpm_s} {tag}: {}", text(&check));
        }

        // Requires: the shell for the scriptlets, glibc and libgcc_s, and what rpm adds
        // itself (rpmlib features, the dynamic loader's hash style, its own config files);
        // the collector also the CJK font of its PDF export.
        let requires = ok(&mut cmd("rpm", &["-qp", "--requires", rpm_s]));
        for r in requires.lines() {
            let lib = r.split('(').next().unwrap().trim();
            assert!(
                r.starts_with("rpmlib(")
                    || r == "rtld(GNU_HASH)"
                    || r.starts_with(&format!("config({name}) = "))
                    || (name != AGENT && r == "wqy-microhei-fonts")
                    || ["/bin/sh", "libc.so.6", "libm.so.6", "libgcc_s.so.1"].contains(&lib),
                "{rpm_s}: unexpected requirement {r:?} in:\n{requires}"
            );
        }
        if name != AGENT {
            assert!(
                requires.lines().any(|r| r == "wqy-microhei-fonts"),
                "{rpm_s}: the PDF font is not required:\n{requires}"
            );
        }
        let info = ok(&mut cmd("rpm", &["-qpi", rpm_s]));
        assert!(info.contains("Apache-2.0"), "license in:\n{info}");
    }
}

#[test]
fn lintian_reports_no_errors_and_only_documented_warnings() {
    let p = packages();
    let readme = std::fs::read_to_string(repo_root().join("packaging/README.md")).unwrap();
    for deb in [&p.agent_deb, &p.collector_deb] {
        let start = Instant::now();
        let out = output(&mut cmd(
            "lintian",
            &["--fail-on", "error", deb.to_str().unwrap()],
        ));
        let t = text(&out);
        eprintln!(
            "lintian {} ({:.1} s):\n{t}",
            deb.display(),
            start.elapsed().as_secs_f64()
        );
        assert!(out.status.success(), "lintian failed:\n{t}");
        for line in t.lines() {
            assert!(!line.starts_with("E: "), "lintian error: {line}");
            if line.starts_with("W: ") {
                // "W: package: tag [details]": each kept warning is explained in the README.
                let tag = line.split_whitespace().nth(2).unwrap_or("");
                assert!(
                    readme.contains(&format!("`{tag}`")),
                    "lintian warning {tag} is not listed with its reason in packaging/README.md: {line}"
                );
            }
        }
    }
}
