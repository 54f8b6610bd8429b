//! The packages under a real systemd: a minimal Debian container booted with systemd as its
//! PID 1 (tests/src/container/), where the .deb and .rpm files of `packaging/build.sh` are
//! installed, enrolled and started the way docs/install.md tells an operator, and checked on
//! the running services. Needs root; skipped (with the reason) only where no container can
//! be booted. Run with `--nocapture` to see the transcript.
//!
//! * `debs_run_hardened_under_systemd_and_survive_their_lifecycle`: install, enroll, start;
//!   both units active, the processes' users, capabilities, seccomp and no-new-privileges,
//!   writes refused outside the allowed paths, ICMP from the agent (unprivileged, then raw
//!   with `CAP_NET_RAW`), reports stored and `/metrics` showing the host, owners and modes
//!   of the database and keys, no systemd warning about the units; restart, upgrade with
//!   the services running (no sequence gap), remove, purge, reinstall.
//! * `rpms_scriptlets_run_for_real`: the .rpm files installed with Debian's `rpm` in the same
//!   kind of container, their scriptlets run for real: users, state directories, enabled
//!   units, the file capability; then enrolled and started, upgraded to a newer release with
//!   the services running, erased.
//! * `previous_release_and_this_one_work_together`: version skew in a rolling upgrade. The
//!   agent and collector of the commit before issue 18 ([`PREVIOUS`]) against this checkout's
//!   packages, in both directions, under the packaged units.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zerofault_tests::container::{self, Container};
use zerofault_tests::packages::{build_sh, find, newer_debs, packages, repo_root};
use zerofault_tests::stored::Stored;
use zerofault_tests::{Exposition, wait_until};

const AGENT: &str = "zerofault-agent";
const COLLECTOR: &str = "zerofault-collector";
/// The agent id the test enrolls (the shipped config's example id).
const AGENT_ID: &str = "web-01";
/// The link the agent probes by ICMP: an address of the container itself (its network is
/// private, loopback only).
const LINK: &str = "lo-test";
const DB: &str = "/var/lib/zerofault/collector/zerofault.db";
/// The last commit before issue 18's first change: the "previous release" of the skew test.
const PREVIOUS: &str = "a4751f81396e8d7f368e7f28f4b9601e48211278";
/// `CAP_NET_RAW` (bit 13) as /proc/PID/status prints a capability set.
const CAP_NET_RAW_ONLY: &str = "0000000000002000";
const NO_CAPS: &str = "0000000000000000";

/// `Some(())` when a container can be booted here; else prints why the test is skipped, or
/// fails where `ZEROFAULT_REQUIRE_CONTAINER=1` (scripts/test sets it when it runs as root, as
/// on CI: there a skip would hide that the packages never ran).
fn available(test: &str) -> Option<()> {
    let Some(why) = container::unavailable() else {
        return Some(());
    };
    assert!(
        std::env::var_os("ZEROFAULT_REQUIRE_CONTAINER").is_none_or(|v| v != "1"),
        "{test}: cannot boot a container here ({why}), and ZEROFAULT_REQUIRE_CONTAINER=1"
    );
    eprintln!("SKIPPED {test}: {why}");
    None
}

/// A step of a test's transcript (shown on failure, or with `--nocapture`).
fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// Something the test saw, for the transcript.
fn show(label: &str, text: &str) {
    eprintln!("$ {label}\n{}", text.trim_end());
}

/// Runs `script` in `c`, records it and its output.
fn shown(c: &Container, script: &str) -> String {
    let out = c.ok(script);
    show(script, &out);
    out
}

/// Waits up to `limit` for `check` to give `Ok` (the harness's [`wait_until`], polled every
/// 250 ms, run to completion here: these tests are synchronous); panics with `what` and the
/// last state.
fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
        .block_on(wait_until(what, limit, Duration::from_millis(250), || {
            std::future::ready(check())
        }))
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// The stored sequence numbers of [`AGENT_ID`]'s one boot, read from the collector's
/// database through the container's root (the host reads it directly, read-only).
fn stored_sequences(c: &Container) -> Result<Vec<u64>, String> {
    let stored = Stored::read(&c.host_path(DB)).map_err(|e| format!("{e:#}"))?;
    let boot = stored.only_boot(AGENT_ID).map_err(|e| format!("{e:#}"))?;
    Ok(boot.keys().copied().collect())
}

/// Waits until at least `more` reports of the agent numbered above `above` are stored;
/// returns every stored number, which must have no gap.
fn reports_beyond(c: &Container, above: u64, more: usize) -> Vec<u64> {
    let seqs = wait_for(Duration::from_secs(90), "reports stored", || {
        let seqs = stored_sequences(c)?;
        let new = seqs.iter().filter(|&&s| s > above).count();
        if new >= more {
            Ok(seqs)
        } else {
            Err(format!(
                "{new} of {more} above {above} stored; all: {seqs:?}"
            ))
        }
    });
    let (first, last) = (seqs[0], seqs[seqs.len() - 1]);
    assert_eq!(
        seqs.len() as u64,
        last - first + 1,
        "a gap in the stored sequence numbers {first}..={last}: {seqs:?}"
    );
    seqs
}

fn range(seqs: &[u64]) -> String {
    format!(
        "{} reports, sequence {}..={}, no gap",
        seqs.len(),
        seqs[0],
        seqs[seqs.len() - 1]
    )
}

/// `/metrics` of the collector, fetched inside the container.
fn metrics(c: &Container) -> Result<Exposition, String> {
    let out = c
        .sh("curl -sf --max-time 5 http://127.0.0.1:9464/metrics")
        .map_err(|e| format!("{e:#}"))?;
    if !out.status.success() {
        return Err(format!("curl /metrics: {}", out.status));
    }
    Exposition::parse(&String::from_utf8_lossy(&out.stdout)).map_err(|e| format!("{e:#}"))
}

/// The main process of `unit`: its pid in the container and its /proc status lines.
fn main_pid(c: &Container, unit: &str) -> u32 {
    let pid = c.ok(&format!("systemctl show -P MainPID {unit}"));
    let pid: u32 = pid.trim().parse().expect("a MainPID");
    assert_ne!(pid, 0, "{unit} has no main process");
    pid
}

/// The package's sysctl drop-in opened unprivileged ICMP to every group (the test closed the
/// range before installing).
fn ping_range_opened(c: &Container) {
    let range = shown(c, "cat /proc/sys/net/ipv4/ping_group_range");
    assert_eq!(
        range.split_whitespace().collect::<Vec<_>>(),
        ["0", "2147483647"]
    );
}

/// The main processes of both units now.
fn main_pids(c: &Container) -> (u32, u32) {
    (main_pid(c, AGENT), main_pid(c, COLLECTOR))
}

/// Both units active again, each with a new main process (restarted, on the new binary
/// after an upgrade) since `before` ([`main_pids`]).
fn both_restarted(c: &Container, before: (u32, u32)) {
    both_active(c);
    let now = main_pids(c);
    assert_ne!(now.0, before.0, "the agent was not restarted");
    assert_ne!(now.1, before.1, "the collector was not restarted");
}

/// The `Key:` lines of /proc/PID/status that say who a process is and what it may do.
fn privileges(c: &Container, pid: u32) -> Vec<(String, String)> {
    c.ok(&format!("cat /proc/{pid}/status"))
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| {
            [
                "Uid",
                "Gid",
                "Groups",
                "CapInh",
                "CapPrm",
                "CapEff",
                "CapBnd",
                "CapAmb",
                "NoNewPrivs",
                "Seccomp",
            ]
            .contains(k)
        })
        .map(|(k, v)| {
            (
                k.to_owned(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect()
}

fn field<'a>(lines: &'a [(String, String)], key: &str) -> &'a str {
    lines
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

/// Installs the two packages (collector first) with apt from the files, as docs/install.md §1.
fn apt_install(c: &Container, debs: &[&Path]) -> String {
    let mut inside = Vec::new();
    for deb in debs {
        inside.push(c.copy_in(deb, "/root/packages").expect("copy a .deb in"));
    }
    // apt's own exit status counts; dpkg's progress lines are left out of the transcript.
    let script = format!(
        "apt-get install -y -q=2 -o Dpkg::Use-Pty=0 {} > /root/apt.log 2>&1; rc=$?; \
         grep -v -e '^debconf' -e 'Reading database' /root/apt.log; exit $rc",
        inside.join(" ")
    );
    shown(c, &script);
    let versions = c.ok(
        "dpkg-query -W -f='${Package} ${Status} ${Version}\n' zerofault-collector zerofault-agent",
    );
    for line in versions.lines() {
        assert!(line.contains(" install ok installed "), "{line}");
    }
    versions
}

/// Enrolls and starts both services as docs/install.md §2-§4 say (enrollment tokens), with
/// the agent probing [`LINK`] and reporting every 2 s (15 s by default: the test would wait
/// longer for the same evidence).
fn enroll_and_start(c: &Container) {
    step("docs/install.md §2 on the collector host: certificates, enrollment, start, a token");
    shown(
        c,
        "zerofault-collector certs --dir /etc/zerofault >/dev/null && \
         chgrp zerofault-collector /etc/zerofault/collector.key /etc/zerofault/ca.key && \
         chmod 0640 /etc/zerofault/collector.key /etc/zerofault/ca.key && \
         sed -i -e 's/^# enrollment:/enrollment:/' -e 's/^#   ca_dir:/  ca_dir:/' \
           /etc/zerofault/collector.yaml && grep -A1 '^enrollment:' /etc/zerofault/collector.yaml",
    );
    shown(
        c,
        "runuser -u zerofault-collector -- zerofault-collector validate --config /etc/zerofault/collector.yaml",
    );

    c.ok("systemctl enable --now zerofault-collector");
    wait_for(Duration::from_secs(60), "collector healthz", || {
        let out = c
            .sh("curl -sf --max-time 2 http://127.0.0.1:9464/healthz")
            .map_err(|e| e.to_string())?;
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| c.ok("systemctl status --no-pager zerofault-collector || true"))
    });
    shown(
        c,
        "runuser -u zerofault-collector -- zerofault-collector certs token \
         --config /etc/zerofault/collector.yaml --agent web-01 > /root/tokens.tsv && wc -l < /root/tokens.tsv",
    );
    // The agent's config: the collector's address, a shorter interval, one ICMP probe.
    let path = c.host_path("/etc/zerofault/agent.yaml");
    let shipped = std::fs::read_to_string(&path).unwrap();
    let edited = shipped
        .replace(
            "url: https://collector.example:7443",
            "url: https://localhost:7443",
        )
        .replace("\ninterval: 15s", "\ninterval: 2s")
        + &format!("probes:\n  - link: {LINK}\n    kind: icmp\n    target: 127.0.0.1\n");
    assert!(
        edited.contains("https://localhost:7443") && edited.contains("\ninterval: 2s"),
        "the shipped agent.yaml changed: update this test"
    );
    std::fs::write(&path, edited).unwrap();
    shown(
        c,
        "zerofault-agent enroll --config /etc/zerofault/agent.yaml --token-file /root/tokens.tsv 2>&1",
    );
    shown(
        c,
        "runuser -u zerofault-agent -- zerofault-agent validate --config /etc/zerofault/agent.yaml",
    );
    step("docs/install.md §2 on the agent host: enrolled; start");
    c.ok("systemctl enable --now zerofault-agent");
}

/// Checks that the running agent opened its ICMP socket of kind `socket` (its log line) and
/// that the probe of [`LINK`] it runs now is answered: the newest window, from a report made
/// by this process, lost nothing and more answers arrived.
fn icmp_answered(c: &Container, socket: &str) {
    let opened = wait_for(Duration::from_secs(30), "the agent's ICMP socket", || {
        let log = c
            .sh("journalctl --no-pager -o cat -u zerofault-agent \
                 _SYSTEMD_INVOCATION_ID=$(systemctl show -P InvocationID zerofault-agent) \
                 | grep 'ICMP socket open'")
            .map_err(|e| e.to_string())?;
        let log = String::from_utf8_lossy(&log.stdout).into_owned();
        (!log.is_empty()).then_some(log.clone()).ok_or(log)
    });
    show(
        "journalctl -u zerofault-agent (this start) | grep 'ICMP socket open'",
        &opened,
    );
    assert!(
        opened.contains(socket),
        "the agent opened no {socket} socket: {opened}"
    );
    let received =
        |m: &Exposition| m.sum("zerofault_link_probes_received_total", &[("link", LINK)]);
    let before = metrics(c).map(|m| received(&m)).unwrap_or(0.0);
    let newest = stored_sequences(c)
        .ok()
        .and_then(|s| s.last().copied())
        .unwrap_or(0);
    reports_beyond(c, newest, 2);
    let m = metrics(c).unwrap();
    let (after, loss) = (
        received(&m),
        m.get(
            "zerofault_link_loss_ratio",
            &[("link", LINK), ("agent", AGENT_ID)],
        )
        .unwrap(),
    );
    show(
        "zerofault_link_probes_received_total / zerofault_link_loss_ratio {link=\"lo-test\"}",
        &format!("{before} -> {after} / {loss}"),
    );
    assert!(after > before, "no new ICMP answers: {before} -> {after}");
    assert_eq!(loss, 0.0, "the newest window lost probes");
}

/// Both units active, shown as `systemctl is-active` prints it.
fn both_active(c: &Container) {
    let states = wait_for(Duration::from_secs(30), "both units active", || {
        let s = unit_states(c);
        (s == "active\nactive\n").then_some(s.clone()).ok_or(s)
    });
    show(UNIT_STATES, &states);
}

/// Both units stopped (`inactive`), now.
fn both_inactive(c: &Container, why: &str) {
    let states = unit_states(c);
    show(UNIT_STATES, &states);
    assert_eq!(states, "inactive\ninactive\n", "{why}");
}

const UNIT_STATES: &str = "systemctl is-active zerofault-collector zerofault-agent";

/// What `systemctl is-active` says of the collector and the agent, a line each.
fn unit_states(c: &Container) -> String {
    let out = c.sh(UNIT_STATES).unwrap_or_else(|e| panic!("{e:#}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The journal's warnings from systemd about the units, e.g. an unknown or refused setting;
/// empty when there is none. Two sources: the manager (PID 1, which logs unit file problems
/// with the file's name), and systemd's code in the service's own process before it execs
/// the program (a sandbox setting it had to drop, "… failed, ignoring"), which `journalctl
/// -u` files under the unit with the identifier `systemd` but another PID.
fn systemd_warnings(c: &Container) -> Vec<String> {
    let json = c.ok(
        "journalctl -b -o json --no-pager _PID=1; \
         journalctl -b -o json --no-pager -u zerofault-agent -u zerofault-collector SYSLOG_IDENTIFIER=systemd",
    );
    json.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            let priority = e["PRIORITY"].as_str().and_then(|p| p.parse::<u8>().ok());
            let text = format!(
                "{} {} {} {}",
                e["MESSAGE"], e["UNIT"], e["_SYSTEMD_UNIT"], e["CONFIG_FILE"]
            );
            priority.is_some_and(|p| p <= 4) && text.contains("zerofault")
        })
        .map(|e| e["MESSAGE"].to_string())
        .collect()
}

#[test]
fn debs_run_hardened_under_systemd_and_survive_their_lifecycle() {
    if available("debs_run_hardened_under_systemd_and_survive_their_lifecycle").is_none() {
        return;
    }
    let start = Instant::now();
    let p = packages();
    let built = start.elapsed();
    let c = Container::boot("zf-deb").expect("boot a Debian container with systemd");
    let booted = start.elapsed();
    step("install (docs/install.md §1)");
    // Closed first, so that the range seen afterwards is the package's doing (systemd's own
    // default is the same range).
    c.ok("echo '1 0' > /proc/sys/net/ipv4/ping_group_range");
    apt_install(&c, &[&p.collector_deb, &p.agent_deb]);
    shown(
        &c,
        "systemctl is-enabled zerofault-collector zerofault-agent",
    );
    both_inactive(&c, "installing starts nothing before it is enrolled");
    ping_range_opened(&c);

    enroll_and_start(&c);
    both_active(&c);

    step("the running services: users, capabilities, seccomp");
    let agent_uid = c.ok("id -u zerofault-agent").trim().to_owned();
    let collector_uid = c.ok("id -u zerofault-collector").trim().to_owned();
    for (unit, uid, caps) in [
        (AGENT, &agent_uid, CAP_NET_RAW_ONLY),
        (COLLECTOR, &collector_uid, NO_CAPS),
    ] {
        let pid = main_pid(&c, unit);
        let lines = privileges(&c, pid);
        show(
            &format!(
                "grep -E 'Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp' /proc/$(systemctl show -P MainPID {unit})/status"
            ),
            &lines
                .iter()
                .map(|(k, v)| format!("{k}:\t{v}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        assert_eq!(
            field(&lines, "Uid"),
            format!("{uid} {uid} {uid} {uid}"),
            "{unit} runs as its user"
        );
        let gid = c.ok(&format!("id -g {unit}")).trim().to_owned();
        assert_eq!(
            field(&lines, "Gid"),
            format!("{gid} {gid} {gid} {gid}"),
            "{unit}'s group"
        );
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(field(&lines, set), caps, "{unit} {set}");
        }
        assert_eq!(field(&lines, "NoNewPrivs"), "1", "{unit}");
        // PrivateIPC=yes: an IPC namespace of its own, not the system's.
        let ipc = shown(&c, &format!("readlink /proc/{pid}/ns/ipc /proc/1/ns/ipc"));
        let ipc: Vec<&str> = ipc.lines().collect();
        assert!(
            ipc.len() == 2 && ipc[0] != ipc[1],
            "{unit} shares the system's IPC namespace: {ipc:?}"
        );
        assert_eq!(field(&lines, "Seccomp"), "2", "{unit}: a seccomp filter");
    }
    shown(&c, "capsh --decode=0000000000002000");
    for unit in [AGENT, COLLECTOR] {
        // The loaded units, as the running manager scores them (the packages test scores the
        // files offline); at most 2.0 is the goal of issue 6.
        let out = shown(
            &c,
            &format!("systemd-analyze security --no-pager {unit}.service | tail -n 1"),
        );
        let level: f64 = out
            .split(": ")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level in {out:?}"));
        assert!(level <= 2.0, "{unit}: exposure {level} > 2.0");
    }

    step("the agent's file system: its state directory only");
    let pid = main_pid(&c, AGENT);
    let as_agent = |script: &str| {
        c.sh(&format!(
            "nsenter -t {pid} -m -- setpriv --reuid zerofault-agent --regid zerofault-agent \
             --init-groups -- sh -c '{script}' 2>&1"
        ))
        .unwrap()
    };
    let allowed = as_agent(
        "echo x > /var/lib/zerofault/agent/.write-test && rm /var/lib/zerofault/agent/.write-test \
         && echo x > /tmp/.write-test && echo x > /var/tmp/.write-test && echo written",
    );
    show(
        "as zerofault-agent in the agent's mount namespace: write its state directory, /tmp, /var/tmp",
        &String::from_utf8_lossy(&allowed.stdout),
    );
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stdout)
    );
    for tmp in ["/tmp/.write-test", "/var/tmp/.write-test"] {
        // Looked for in the container itself (nspawn gives it its own /tmp, so the host's
        // view of the root would not see it either way).
        c.ok(&format!("test ! -e {tmp}"));
    }
    for target in [
        "/etc/zerofault/written-by-agent",
        "/usr/bin/written-by-agent",
        "/var/lib/zerofault/written-by-agent",
        "/var/log/written-by-agent",
        "/root/written-by-agent",
        "/home/written-by-agent",
    ] {
        // As the agent's user, and as root in its namespace: the namespace itself is
        // read-only there, not only the permissions.
        let out = as_agent(&format!("echo x > {target}"));
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let root = c
            .sh(&format!(
                "nsenter -t {pid} -m -- sh -c 'echo x > {target}' 2>&1"
            ))
            .unwrap();
        let root_text = String::from_utf8_lossy(&root.stdout).trim().to_owned();
        show(
            &format!("write {target}"),
            &format!("as zerofault-agent: {text}\nas root in the agent's namespace: {root_text}"),
        );
        assert!(
            !out.status.success() && !root.status.success(),
            "{target} is writable"
        );
        assert!(
            root_text.contains("Read-only file system"),
            "{target}: {root_text}"
        );
        assert!(!c.host_path(target).exists(), "{target} was written");
    }

    // Every directory each service's user may write to in the service's namespace (the
    // kernel's answer: `find -writable` asks access(2)): the state directory and the
    // private /tmp and /var/tmp, nothing else.
    for (unit, expected) in [
        (
            AGENT,
            "/tmp\n/var/lib/zerofault/agent\n/var/lib/zerofault/agent/spool\n/var/tmp\n",
        ),
        (COLLECTOR, "/tmp\n/var/lib/zerofault/collector\n/var/tmp\n"),
    ] {
        let writable = writable_dirs(&c, unit);
        show(
            &format!("directories {unit} can write to in its namespace"),
            &writable,
        );
        assert_eq!(writable, expected, "{unit}");
    }

    step("ICMP from the agent: unprivileged echo socket (ping_group_range)");
    icmp_answered(&c, "datagram (net.ipv4.ping_group_range)");
    step("ICMP with unprivileged echo sockets refused: raw socket with CAP_NET_RAW");
    shown(
        &c,
        "echo '1 0' > /proc/sys/net/ipv4/ping_group_range && systemctl restart zerofault-agent",
    );
    icmp_answered(&c, "raw (CAP_NET_RAW)");
    c.ok("echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range");

    step("the collector stores the reports; /metrics shows the host");
    let seqs = reports_beyond(&c, 0, 3);
    show("stored (read from the database)", &range(&seqs));
    let up = metrics(&c)
        .unwrap()
        .get("zerofault_host_up", &[("agent", AGENT_ID)])
        .unwrap();
    show("zerofault_host_up{agent=\"web-01\"}", &up.to_string());
    assert_eq!(up, 1.0);

    step("owners and modes of the database, the state directories and the keys");
    let modes = shown(
        &c,
        "stat -c '%a %U:%G %n' /var/lib/zerofault/collector /var/lib/zerofault/collector/zerofault.db* \
         /var/lib/zerofault/agent /var/lib/zerofault/agent/agent.key /var/lib/zerofault/agent/agent.pem \
         /etc/zerofault/ca.key /etc/zerofault/collector.key /etc/zerofault/ca.pem /etc/zerofault/collector.pem",
    );
    for want in [
        "750 zerofault-collector:zerofault-collector /var/lib/zerofault/collector",
        "600 zerofault-collector:zerofault-collector /var/lib/zerofault/collector/zerofault.db",
        "750 zerofault-agent:zerofault-agent /var/lib/zerofault/agent",
        "600 zerofault-agent:zerofault-agent /var/lib/zerofault/agent/agent.key",
        "644 zerofault-agent:zerofault-agent /var/lib/zerofault/agent/agent.pem",
        "640 root:zerofault-collector /etc/zerofault/ca.key",
        "640 root:zerofault-collector /etc/zerofault/collector.key",
        "644 root:root /etc/zerofault/ca.pem",
    ] {
        assert!(
            modes.lines().any(|l| l == want),
            "expected `{want}` in:\n{modes}"
        );
    }
    for l in modes.lines().filter(|l| l.contains("zerofault.db-")) {
        assert!(
            l.starts_with("600 zerofault-collector:zerofault-collector "),
            "{l}"
        );
    }

    step("systemd's warnings about the units");
    let warnings = systemd_warnings(&c);
    show(
        "journalctl -b -p warning (_PID=1, and -u zerofault-* SYSLOG_IDENTIFIER=systemd) | grep zerofault",
        &warnings.join("\n"),
    );
    assert!(
        warnings.is_empty(),
        "systemd warned about the units: {warnings:#?}"
    );
    shown(
        &c,
        "journalctl -u zerofault-agent -u zerofault-collector -p warning --no-pager -o cat | tail -n 20",
    );

    step("systemctl restart");
    let pids = main_pids(&c);
    c.ok("systemctl restart zerofault-collector zerofault-agent");
    both_restarted(&c, pids);
    let seqs = reports_beyond(&c, *seqs.last().unwrap(), 2);
    show("stored after the restart", &range(&seqs));

    step("upgrade to a newer build with the services running (docs/install.md §6)");
    let newer_dir = tempfile::tempdir().unwrap();
    let newer_version = "0.1.0-1+zftest2";
    let newer = newer_debs(newer_version, newer_dir.path());
    let pids = main_pids(&c);
    let before = *stored_sequences(&c).unwrap().last().unwrap();
    show(
        "newest stored sequence before the upgrade",
        &before.to_string(),
    );
    let versions = apt_install(
        &c,
        &[
            &find(&newer, "zerofault-collector_*.deb"),
            &find(&newer, "zerofault-agent_*.deb"),
        ],
    );
    show(
        "dpkg-query -W zerofault-collector zerofault-agent",
        &versions,
    );
    assert_eq!(
        versions
            .lines()
            .filter(|l| l.ends_with(&format!(" {newer_version}")))
            .count(),
        2,
        "both upgraded to {newer_version}: {versions}"
    );
    both_restarted(&c, pids);
    let seqs = reports_beyond(&c, before, 3);
    show("stored across the upgrade", &range(&seqs));

    step("apt-get remove: stopped, data and configs kept");
    c.ok("apt-get remove -y -q=2 zerofault-agent zerofault-collector >/dev/null");
    both_inactive(&c, "apt-get remove stops both services");
    shown(
        &c,
        "ls /var/lib/zerofault/agent /var/lib/zerofault/collector /etc/zerofault",
    );
    for kept in [
        DB,
        "/var/lib/zerofault/agent/agent.key",
        "/var/lib/zerofault/agent/sequence",
        "/etc/zerofault/agent.yaml",
    ] {
        assert!(c.host_path(kept).is_file(), "{kept} kept on remove");
    }

    step("apt-get purge: data and configs gone; users and certificates kept");
    c.ok("apt-get purge -y -q=2 zerofault-agent zerofault-collector >/dev/null");
    shown(
        &c,
        "ls -A /var/lib/zerofault /etc/zerofault; getent passwd zerofault-agent zerofault-collector",
    );
    for gone in [
        "/var/lib/zerofault/agent",
        "/var/lib/zerofault/collector",
        "/etc/zerofault/agent.yaml",
        "/etc/zerofault/collector.yaml",
    ] {
        assert!(!c.host_path(gone).exists(), "{gone} removed by purge");
    }

    step("reinstall");
    apt_install(&c, &[&p.collector_deb, &p.agent_deb]);
    let after = shown(
        &c,
        "systemctl is-enabled zerofault-collector zerofault-agent; stat -c '%a %U %n' /var/lib/zerofault/agent /var/lib/zerofault/collector",
    );
    assert_eq!(
        after,
        "enabled\nenabled\n750 zerofault-agent /var/lib/zerofault/agent\n\
         750 zerofault-collector /var/lib/zerofault/collector\n"
    );
    // The collector's certificates are still in /etc/zerofault: it starts from the shipped
    // config; the agent's key went with the purge, and `validate` says so.
    c.ok("systemctl start zerofault-collector");
    shown(&c, "systemctl is-active zerofault-collector");
    let refused = c
        .sh("runuser -u zerofault-agent -- zerofault-agent validate --config /etc/zerofault/agent.yaml 2>&1")
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stdout).contains("enroll this agent"));
    // Restart, upgrade, remove, purge and reinstall made systemd no warning either.
    let warnings = systemd_warnings(&c);
    assert!(
        warnings.is_empty(),
        "systemd warned about the units: {warnings:#?}"
    );

    eprintln!(
        "{}\ndeb test: {:.0} s ({:.0} s building the packages, {:.0} s booting the container)",
        "=".repeat(60),
        start.elapsed().as_secs_f64(),
        built.as_secs_f64(),
        (booted - built).as_secs_f64()
    );
}

/// The agent and collector binaries of [`PREVIOUS`], built once per machine from `git
/// archive` of that commit and cached in `/var/tmp/zerofault-previous/` (outside the clone).
/// They are built with the release profile made quick to build (no LTO, no optimisation, 256
/// codegen units; still no debug assertions and `panic = "abort"`, as released): the same
/// code, compiled in 127 s instead of about 6 minutes on the 2-core development machine.
fn previous_binaries() -> PathBuf {
    let cache = std::env::var_os("ZEROFAULT_PREVIOUS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/zerofault-previous"))
        .join(&PREVIOUS[..12]);
    let bins = cache.join("bin");
    std::fs::create_dir_all(&cache).unwrap();
    let lock = std::fs::File::create(cache.join("lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    if bins.join(AGENT).is_file() && bins.join(COLLECTOR).is_file() {
        return bins;
    }
    let repo = repo_root();
    let known = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["cat-file", "-e", &format!("{PREVIOUS}^{{commit}}")])
        .output()
        .unwrap();
    assert!(
        known.status.success(),
        "commit {PREVIOUS} (the previous release of the version-skew test) cannot be read in \
         this clone (a shallow clone lacks it: git fetch --unshallow): {}",
        String::from_utf8_lossy(&known.stderr)
    );
    let src = cache.join("src");
    let target = cache.join("target");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).unwrap();
    let start = Instant::now();
    eprintln!(
        "==> building {AGENT} and {COLLECTOR} of {PREVIOUS} (once; cached in {})",
        cache.display()
    );
    let unpacked = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "git -C '{}' archive {PREVIOUS} | tar -x -C '{}'",
            repo.display(),
            src.display()
        ))
        .status()
        .unwrap();
    assert!(unpacked.success(), "git archive {PREVIOUS}");
    let built = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            AGENT,
            "-p",
            COLLECTOR,
        ])
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false")
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(built.success(), "cargo build of {PREVIOUS} failed");
    let partial = cache.join("bin.partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).unwrap();
    for bin in [AGENT, COLLECTOR] {
        std::fs::copy(target.join("release").join(bin), partial.join(bin)).unwrap();
    }
    std::fs::rename(&partial, &bins).unwrap();
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&target);
    eprintln!(
        "==> built the previous release in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    bins
}

/// Runs `unit` from the binary in `dir` (a drop-in replacing both commands, the packaged
/// unit's hardening unchanged), or from the package's again with `None`.
fn run_from(c: &Container, unit: &str, dir: Option<&str>) {
    let dropin = format!("/etc/systemd/system/{unit}.service.d/previous.conf");
    match dir {
        Some(dir) => c
            .write(
                &dropin,
                &format!(
                    "[Service]\nExecStartPre=\nExecStartPre={dir}/{unit} validate --config \
                     /etc/zerofault/{0}.yaml\nExecStart=\nExecStart={dir}/{unit} {1} --config \
                     /etc/zerofault/{0}.yaml\n",
                    unit.trim_start_matches("zerofault-"),
                    if unit == AGENT { "run" } else { "serve" },
                ),
            )
            .unwrap(),
        None => {
            let _ = std::fs::remove_file(c.host_path(&dropin));
        }
    }
    c.ok("systemctl daemon-reload");
}

/// The directories (but /proc and /sys) the user of `unit` may write to, as seen from the
/// mount namespace of its main process; sorted, one a line.
fn writable_dirs(c: &Container, unit: &str) -> String {
    let pid = main_pid(c, unit);
    c.ok(&format!(
        "nsenter -t {pid} -m -- setpriv --reuid {unit} --regid {unit} --init-groups -- \
         find / \\( -path /proc -o -path /sys \\) -prune -o -type d -writable -print \
         2>/dev/null | sort"
    ))
}

/// The executable of `unit`'s main process.
fn exe_of(c: &Container, unit: &str) -> String {
    let pid = main_pid(c, unit);
    c.ok(&format!("readlink /proc/{pid}/exe")).trim().to_owned()
}

#[test]
fn previous_release_and_this_one_work_together() {
    if available("previous_release_and_this_one_work_together").is_none() {
        return;
    }
    let previous = previous_binaries();
    let p = packages();
    let c = Container::boot("zf-skew").expect("boot a Debian container with systemd");
    step("this checkout's packages, the previous release's binaries beside them");
    apt_install(&c, &[&p.collector_deb, &p.agent_deb]);
    for bin in [AGENT, COLLECTOR] {
        c.copy_in(&previous.join(bin), "/opt/zerofault-previous")
            .unwrap();
    }
    c.ok("chmod 0755 /opt/zerofault-previous/*");
    shown(
        &c,
        "/opt/zerofault-previous/zerofault-agent --version; zerofault-agent --version; \
         cmp -s /opt/zerofault-previous/zerofault-agent /usr/bin/zerofault-agent || echo 'the binaries differ'",
    );

    // A rolling upgrade as it happens: the fleet runs the previous release; the agents and
    // the collector are upgraded in turn, and an agent not upgraded yet keeps reporting.
    step("before the upgrade: collector and agent of the previous release");
    run_from(&c, COLLECTOR, Some("/opt/zerofault-previous"));
    run_from(&c, AGENT, Some("/opt/zerofault-previous"));
    enroll_and_start(&c);
    both_active(&c);
    assert_eq!(
        exe_of(&c, COLLECTOR),
        "/opt/zerofault-previous/zerofault-collector"
    );
    assert_eq!(exe_of(&c, AGENT), "/opt/zerofault-previous/zerofault-agent");
    let seqs = reports_beyond(&c, 0, 3);
    show(
        "stored by the previous collector from the previous agent",
        &range(&seqs),
    );

    step("the agent upgraded first: this agent reports to the previous collector");
    run_from(&c, AGENT, None);
    c.ok("systemctl restart zerofault-agent");
    both_active(&c);
    assert_eq!(exe_of(&c, AGENT), "/usr/bin/zerofault-agent");
    let seqs = reports_beyond(&c, *seqs.last().unwrap(), 3);
    show(
        "stored by the previous collector across the agent's upgrade",
        &range(&seqs),
    );
    let up = wait_for(
        Duration::from_secs(30),
        "host up on the previous collector",
        || {
            let m = metrics(&c)?;
            m.get("zerofault_host_up", &[("agent", AGENT_ID)])
                .map_err(|e| e.to_string())
        },
    );
    assert_eq!(up, 1.0);

    step("the collector upgraded on the previous collector's database");
    run_from(&c, COLLECTOR, None);
    c.ok("systemctl restart zerofault-collector");
    both_active(&c);
    assert_eq!(exe_of(&c, COLLECTOR), "/usr/bin/zerofault-collector");
    let seqs = reports_beyond(&c, *seqs.last().unwrap(), 3);
    show("stored by this collector", &range(&seqs));

    step("an agent not upgraded yet reports to this collector (the previous agent again)");
    run_from(&c, AGENT, Some("/opt/zerofault-previous"));
    c.ok("systemctl restart zerofault-agent");
    both_active(&c);
    assert_eq!(exe_of(&c, AGENT), "/opt/zerofault-previous/zerofault-agent");
    let seqs = reports_beyond(&c, *seqs.last().unwrap(), 3);
    show(
        "stored by this collector from the previous agent",
        &range(&seqs),
    );
    let warnings = systemd_warnings(&c);
    assert!(
        warnings.is_empty(),
        "systemd warned about the units: {warnings:#?}"
    );
}

#[test]
fn rpms_scriptlets_run_for_real() {
    if available("rpms_scriptlets_run_for_real").is_none() {
        return;
    }
    let p = packages();
    let newer_dir = tempfile::tempdir().unwrap();
    let newer = build_sh(&[
        "--no-build",
        "--rpm-release",
        "2",
        "--out",
        newer_dir.path().to_str().unwrap(),
    ]);
    let c = Container::boot("zf-rpm").expect("boot a Debian container with systemd");
    let copy = |rpm: &Path| c.copy_in(rpm, "/root/rpms").unwrap();
    let (collector_rpm, agent_rpm) = (copy(&p.collector_rpm), copy(&p.agent_rpm));

    step("rpm -i: the scriptlets run (Debian's rpm; --nodeps: its database knows no glibc)");
    c.ok("echo '1 0' > /proc/sys/net/ipv4/ping_group_range");
    shown(
        &c,
        &format!(
            "rpm -i --nodeps {collector_rpm} {agent_rpm} 2>&1 && rpm -q zerofault-collector zerofault-agent"
        ),
    );
    let users = shown(&c, "getent passwd zerofault-agent zerofault-collector");
    assert!(
        users.contains(":/var/lib/zerofault/agent:")
            && users.contains(":/var/lib/zerofault/collector:"),
        "{users}"
    );
    let dirs = shown(
        &c,
        "stat -c '%a %U:%G %n' /var/lib/zerofault/agent /var/lib/zerofault/collector",
    );
    assert_eq!(
        dirs,
        "750 zerofault-agent:zerofault-agent /var/lib/zerofault/agent\n\
         750 zerofault-collector:zerofault-collector /var/lib/zerofault/collector\n"
    );
    let enabled = shown(
        &c,
        "systemctl is-enabled zerofault-collector zerofault-agent",
    );
    assert_eq!(enabled, "enabled\nenabled\n");
    let caps = shown(&c, "getcap /usr/bin/zerofault-agent");
    assert!(caps.contains("cap_net_raw=ep"), "{caps}");
    ping_range_opened(&c);

    enroll_and_start(&c);
    both_active(&c);
    let seqs = reports_beyond(&c, 0, 3);
    show("stored", &range(&seqs));

    step("rpm -U to release 2 with the services running (%postun try-restart)");
    let pids = main_pids(&c);
    let up_agent = copy(&find(&newer, "zerofault-agent-*.rpm"));
    let up_collector = copy(&find(&newer, "zerofault-collector-*.rpm"));
    shown(
        &c,
        &format!(
            "rpm -U --nodeps {up_collector} {up_agent} 2>&1 && rpm -q zerofault-collector zerofault-agent"
        ),
    );
    both_restarted(&c, pids);
    let seqs = reports_beyond(&c, *seqs.last().unwrap(), 3);
    show("stored across the upgrade", &range(&seqs));

    step("rpm -e: stopped and disabled; data, users and the edited config kept");
    shown(
        &c,
        "rpm -e zerofault-agent zerofault-collector 2>&1 && ! rpm -q zerofault-agent zerofault-collector",
    );
    both_inactive(&c, "rpm -e stops both services");
    shown(
        &c,
        "ls /etc/systemd/system/multi-user.target.wants/; ls -A /var/lib/zerofault/agent /etc/zerofault",
    );
    for gone in [
        "/etc/systemd/system/multi-user.target.wants/zerofault-agent.service",
        "/etc/systemd/system/multi-user.target.wants/zerofault-collector.service",
        "/usr/bin/zerofault-agent",
    ] {
        assert!(
            !c.host_path(gone).exists() && !c.host_path(gone).is_symlink(),
            "{gone} after erase"
        );
    }
    for kept in [
        DB,
        "/var/lib/zerofault/agent/agent.key",
        "/etc/zerofault/agent.yaml.rpmsave",
    ] {
        assert!(c.host_path(kept).is_file(), "{kept} after erase");
    }
    c.ok("getent passwd zerofault-agent zerofault-collector");

    step("reinstall");
    let enabled = shown(
        &c,
        &format!(
            "rpm -i --nodeps {collector_rpm} {agent_rpm} 2>&1 && systemctl is-enabled zerofault-collector zerofault-agent"
        ),
    );
    assert!(enabled.ends_with("enabled\nenabled\n"), "{enabled}");
    let warnings = systemd_warnings(&c);
    assert!(
        warnings.is_empty(),
        "systemd warned about the units: {warnings:#?}"
    );
}
