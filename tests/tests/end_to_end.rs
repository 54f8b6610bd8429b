//! Whole-system tests of the foundation: real collector, real agents, real mTLS.
//!
//! Both agents run on this machine, so each reports this machine's capacity; a third,
//! synthetic host (reports made by the test, sent with its own certificate) has different,
//! round capacities, so an aggregate that includes it proves a real sum rather than a copy of
//! one host's values.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use zerofault_tests::configs::{section_value, set_section_values};
use zerofault_tests::report::{error_chain, labels, post_report, synthetic_report};
use zerofault_tests::{
    AGENT_BIN, COLLECTOR_BIN, Collector, Exposition, TestCa, bin_path, meminfo_total_bytes,
};

/// Time for an agent with a 1 s interval to start, collect and be accepted. Generous because
/// tests run in parallel on a small CI machine; a healthy run takes about two seconds.
const UP_TIMEOUT: Duration = Duration::from_secs(30);

/// The per-host families that departments and data centers aggregate, as
/// (host family, aggregate suffix).
const SUMMED: [(&str, &str); 4] = [
    ("zerofault_host_cpu_cores", "cpu_cores"),
    ("zerofault_host_memory_total_bytes", "memory_total_bytes"),
    (
        "zerofault_host_filesystem_size_bytes",
        "filesystem_size_bytes",
    ),
    (
        "zerofault_host_filesystem_used_bytes",
        "filesystem_used_bytes",
    ),
];

/// The `total` of the `some` line of `/proc/pressure/io`, µs; `None` without PSI.
fn io_some_total_us() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/pressure/io").ok()?;
    let some = text.lines().find(|l| l.starts_with("some "))?;
    some.split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

/// `(device, reads completed)` of every line of `/proc/diskstats`.
fn disk_reads() -> Vec<(String, u64)> {
    let text = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(2)?.to_string(), f.get(3)?.parse().ok()?))
        })
        .collect()
}

/// `RetransSegs` of `/proc/net/snmp`.
fn tcp_retransmitted() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut tcp = text.lines().filter_map(|l| l.strip_prefix("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RetransSegs")?
        .1
        .parse()
        .ok()
}

/// Sum of a per-host family over the given agents (all of each host's series, e.g. every
/// mount point).
fn sum_over_agents(m: &Exposition, family: &str, agents: &[&str]) -> f64 {
    agents.iter().map(|a| m.sum(family, &[("agent", a)])).sum()
}

#[tokio::test]
async fn two_agents_are_reported_per_host_and_aggregated_by_department_and_datacenter()
-> anyhow::Result<()> {
    let ca = TestCa::new(&["e2e-a", "e2e-b", "e2e-synthetic"])?;
    let collector = Collector::builder(&ca).spawn().await?;
    // Before the agents start: what they report of the kernel's stall time lies between
    // this and a read after the scrape.
    let io_stalled_before = io_some_total_us();
    let (disks_before, retransmitted_before) = (disk_reads(), tcp_retransmitted());
    let _a = collector
        .agent("e2e-a")
        .department("d1")
        .business_system("oa")
        .datacenter("dc1")
        .site("city-1")
        .interval("1s")
        .spawn()?;
    let _b = collector
        .agent("e2e-b")
        .department("d2")
        .business_system("portal")
        .datacenter("dc2")
        .site("city-2")
        .interval("1s")
        .spawn()?;
    // The synthetic host joins department d1 and data center dc2, so d1 = a + synthetic and
    // dc2 = b + synthetic. Its 60 s interval keeps it up for the whole test after one report.
    let synthetic = synthetic_report(
        "e2e-synthetic",
        labels("d1", "oa", "dc2", "city-1"),
        1,
        60_000,
    );
    let (status, body) = post_report(
        &ca.ingest_client(Some("e2e-synthetic"))?,
        &collector.report_url(),
        &synthetic,
    )
    .await?;
    assert_eq!(status, 200, "synthetic report refused: {body}");

    let m = collector
        .wait_hosts_up(&["e2e-a", "e2e-b", "e2e-synthetic"], UP_TIMEOUT)
        .await?;

    // Per host: the agent's labels are carried to its series, and the memory it reports is
    // this machine's MemTotal exactly (both agents run here).
    let mem_total = meminfo_total_bytes()? as f64;
    for (agent, dept, dc) in [("e2e-a", "d1", "dc1"), ("e2e-b", "d2", "dc2")] {
        assert_eq!(
            m.get(
                "zerofault_host_up",
                &[("agent", agent), ("department", dept), ("datacenter", dc)]
            )?,
            1.0,
            "labels of {agent}"
        );
        assert_eq!(
            m.get("zerofault_host_memory_total_bytes", &[("agent", agent)])?,
            mem_total,
            "{agent}'s memory total vs /proc/meminfo MemTotal"
        );
        assert!(
            m.get("zerofault_host_cpu_cores", &[("agent", agent)])? >= 1.0,
            "{agent} reports at least one CPU"
        );
        assert!(
            m.sum("zerofault_host_filesystem_size_bytes", &[("agent", agent)]) > 0.0,
            "{agent} reports at least one filesystem: [{}]",
            m.describe("zerofault_host_filesystem_size_bytes")
        );
    }
    // CPU and pressure against the kernel's own files: the logical CPUs are /proc/stat's
    // `cpuN` lines, the mode shares sum to 1, and the io stall time (µs in the file,
    // seconds in /metrics) lies between the kernel's totals before the agents and now.
    let cpus = std::fs::read_to_string("/proc/stat")?
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    let a = [("agent", "e2e-a")];
    assert_eq!(m.get("zerofault_host_cpu_cores", &a)?, cpus as f64);
    let modes = m.sum("zerofault_host_cpu_mode_ratio", &a);
    assert!(
        (modes - 1.0).abs() < 1e-6,
        "modes sum to {modes}: [{}]",
        m.describe("zerofault_host_cpu_mode_ratio")
    );
    // The root filesystem's inodes, as statfs(2) gives them to `stat -f` (a filesystem
    // without a fixed number reports 0: then the series is absent).
    let out = Command::new("stat")
        .args(["-f", "-c", "%c", "/"])
        .output()?;
    let inodes: u64 = String::from_utf8(out.stdout)?.trim().parse()?;
    let root = [("agent", "e2e-a"), ("mountpoint", "/")];
    if inodes > 0 {
        assert_eq!(
            m.get("zerofault_host_filesystem_inodes", &root)?,
            inodes as f64
        );
        assert_eq!(m.get("zerofault_host_filesystem_readonly", &root)?, 0.0);
    } else {
        assert_eq!(
            m.matching("zerofault_host_filesystem_inodes", &root)
                .count(),
            0
        );
    }
    let io = [("agent", "e2e-a"), ("resource", "io"), ("kind", "some")];
    match (io_stalled_before, io_some_total_us()) {
        (Some(before), Some(after)) => {
            let v = m.get("zerofault_host_pressure_stalled_seconds_total", &io)?;
            assert!(
                before as f64 / 1e6 <= v && v <= after as f64 / 1e6,
                "io stall {v} s not within the kernel's {before} to {after} µs"
            );
        }
        // A kernel without PSI: the family is absent, never 0.
        _ => assert_eq!(
            m.matching("zerofault_host_pressure_stalled_seconds_total", &a)
                .count(),
            0
        ),
    }
    // Block devices, TCP and the clock against the kernel's files, read before the agents
    // started and after the scrape: cumulative counters lie between the two reads.
    let (disks_after, retransmitted_after) = (disk_reads(), tcp_retransmitted());
    let reported: Vec<(String, f64)> = m
        .matching("zerofault_host_disk_reads_completed_total", &a)
        .map(|s| (s.labels["device"].clone(), s.value))
        .collect();
    let whole_disks = disks_after
        .iter()
        .filter(|(d, _)| std::path::Path::new("/sys/block").join(d).exists())
        .filter(|(d, _)| {
            !["loop", "ram", "zram", "fd"]
                .iter()
                .any(|p| d.starts_with(p))
        })
        .count();
    assert_eq!(
        reported.len(),
        whole_disks,
        "devices reported: {reported:?}, kernel: {disks_after:?}"
    );
    for (device, v) in &reported {
        let at = |list: &[(String, u64)]| list.iter().find(|(d, _)| d == device).map(|x| x.1);
        let (before, after) = (at(&disks_before).unwrap(), at(&disks_after).unwrap());
        assert!(
            before as f64 <= *v && *v <= after as f64,
            "{device}: {v} reads not within the kernel's {before} to {after}"
        );
    }
    if let (Some(before), Some(after)) = (retransmitted_before, retransmitted_after) {
        let v = m.get("zerofault_host_tcp_segments_retransmitted_total", &a)?;
        assert!(
            before as f64 <= v && v <= after as f64,
            "{v} retransmissions not within the kernel's {before} to {after}"
        );
    }
    let synchronised = m.get("zerofault_host_clock_synchronised", &a)?;
    let max_error = m.get("zerofault_host_clock_max_error_seconds", &a)?;
    assert!(
        (synchronised == 1.0 && max_error < 16.0) || synchronised == 0.0,
        "clock: synchronised {synchronised}, max error {max_error} s"
    );
    assert_eq!(
        m.get(
            "zerofault_host_memory_total_bytes",
            &[("agent", "e2e-synthetic")]
        )?,
        (8u64 << 30) as f64,
        "the synthetic host's memory is what the test sent"
    );

    // Aggregates: every department and data center sums its hosts' series of the same scrape
    // (values that move, like filesystem used, are consistent within one scrape).
    let groups: [(&str, &str, &[&str]); 4] = [
        ("department", "d1", &["e2e-a", "e2e-synthetic"]),
        ("department", "d2", &["e2e-b"]),
        ("datacenter", "dc1", &["e2e-a"]),
        ("datacenter", "dc2", &["e2e-b", "e2e-synthetic"]),
    ];
    for (scope, key, members) in groups {
        for (host_family, suffix) in SUMMED {
            let aggregate = format!("zerofault_{scope}_{suffix}");
            assert_eq!(
                m.get(&aggregate, &[(scope, key)])?,
                sum_over_agents(&m, host_family, members),
                "{aggregate}{{{scope}={key:?}}} vs the sum of {host_family} over {members:?}"
            );
        }
        let hosts = format!("zerofault_{scope}_hosts");
        assert_eq!(
            m.get(&hosts, &[(scope, key), ("state", "up")])?,
            members.len() as f64,
            "{hosts}{{{scope}={key:?},state=up}}"
        );
        assert_eq!(
            m.get(&hosts, &[(scope, key), ("state", "down")])?,
            0.0,
            "{hosts}{{{scope}={key:?},state=down}}"
        );
    }
    // The real agents' sums include this machine twice over d1+d2; a cross-check that the
    // department memory totals add up to every host's memory.
    assert_eq!(
        m.sum("zerofault_department_memory_total_bytes", &[]),
        2.0 * mem_total + (8u64 << 30) as f64
    );
    Ok(())
}

#[tokio::test]
async fn refuses_missing_foreign_and_impersonating_client_certificates() -> anyhow::Result<()> {
    let ca = TestCa::new(&["auth-a", "auth-b"])?;
    // Same agent id, issued by another CA: only the issuer differs.
    let other = TestCa::new(&["auth-a"])?;
    let collector = Collector::builder(&ca).spawn().await?;
    let url = collector.report_url();
    let report_a = synthetic_report("auth-a", labels("d1", "oa", "dc1", "s"), 1, 60_000);

    // Control: the right certificate with its own id is stored, a replay is a duplicate. The
    // refusals below are then about the certificates, not the report.
    let client_a = ca.ingest_client(Some("auth-a"))?;
    let (status, body) = post_report(&client_a, &url, &report_a).await?;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("stored"), "{body}");
    let (status, body) = post_report(&client_a, &url, &report_a).await?;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("duplicate"), "{body}");

    // No client certificate: the TLS handshake succeeds (the collector must be able to say
    // why) and the request gets 401.
    let (status, body) = post_report(&ca.ingest_client(None)?, &url, &report_a).await?;
    assert_eq!(status, 401, "no client certificate: {body}");

    // A certificate from another CA: the handshake fails, no HTTP status at all.
    let foreign = post_report(&ca.foreign_client(&other, "auth-a")?, &url, &report_a).await;
    match foreign {
        Ok((status, body)) => panic!("foreign certificate got HTTP {status}: {body}"),
        Err(e) => {
            // The server refuses the chain during the handshake with a TLS alert; anything
            // else (a timeout, a refused connection) would not show that it was the CA check.
            let chain = error_chain(&e).to_lowercase();
            assert!(
                !e.is_timeout() && (chain.contains("alert") || chain.contains("certificate")),
                "foreign certificate should fail the TLS handshake: {chain}"
            );
        }
    }

    // Agent a's certificate with agent b's id: 403, and b does not appear as a host.
    let mut impersonation = synthetic_report("auth-b", labels("d1", "oa", "dc1", "s"), 1, 60_000);
    impersonation.hostname = "impostor".into();
    let (status, body) = post_report(&client_a, &url, &impersonation).await?;
    assert_eq!(status, 403, "agent id mismatch: {body}");

    let m = collector.metrics().await?;
    let rejected = "zerofault_collector_reports_rejected_total";
    assert_eq!(
        m.get(rejected, &[("reason", "no_client_certificate")])?,
        1.0
    );
    assert_eq!(m.get(rejected, &[("reason", "agent_id_mismatch")])?, 1.0);
    // Nothing else was counted: in particular the failed handshake is not a request.
    assert_eq!(m.sum(rejected, &[]), 2.0, "[{}]", m.describe(rejected));
    assert_eq!(
        m.get("zerofault_collector_reports_accepted_total", &[])?,
        1.0
    );
    assert_eq!(
        m.get("zerofault_collector_reports_duplicate_total", &[])?,
        1.0
    );
    assert_eq!(m.get("zerofault_host_up", &[("agent", "auth-a")])?, 1.0);
    assert_eq!(
        m.matching("zerofault_host_up", &[("agent", "auth-b")])
            .count(),
        0,
        "the impersonated id must not become a host"
    );
    Ok(())
}

/// Runs `BIN validate --config FILE`; returns whether it exited 0, and its output.
fn validate(bin: &str, config: &std::path::Path) -> anyhow::Result<(Option<i32>, String)> {
    let out = Command::new(bin_path(bin))
        .arg("validate")
        .arg("--config")
        .arg(config)
        .output()?;
    Ok((
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

fn example(name: &str) -> anyhow::Result<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../configs")
        .join(name);
    std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read the shipped example {}: {e}", path.display()))
}

/// The shipped example configs are structurally valid: with only their certificate paths
/// pointed at real files, `validate` accepts them. And `validate` is not a rubber stamp: a
/// missing certificate file and an unknown key are refused with exit code 1.
#[test]
fn shipped_example_configs_pass_validate() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("zf-examples-").tempdir()?;

    let agent = example("agent.yaml")?;
    let id = section_value(&agent, "agent", "id")
        .ok_or_else(|| anyhow::anyhow!("configs/agent.yaml has no agent.id"))?;
    // The certificate is issued for the example's own id, since the id must equal its CN.
    let ca = TestCa::new(&[&id])?;
    let agent_cfg = set_section_values(
        &agent,
        "tls",
        &[
            ("ca", &ca.ca_cert().to_string_lossy()),
            ("cert", &ca.agent_cert(&id).to_string_lossy()),
            ("key", &ca.agent_key(&id).to_string_lossy()),
        ],
    )?;
    let collector_cfg = set_section_values(
        &example("collector.yaml")?,
        "tls",
        &[
            ("ca", &ca.ca_cert().to_string_lossy()),
            ("cert", &ca.collector_cert().to_string_lossy()),
            ("key", &ca.collector_key().to_string_lossy()),
        ],
    )?;

    for (bin, name, cfg, cert_key) in [
        (AGENT_BIN, "agent.yaml", &agent_cfg, "cert"),
        (COLLECTOR_BIN, "collector.yaml", &collector_cfg, "cert"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, cfg)?;
        let (code, out) = validate(bin, &path)?;
        assert_eq!(
            code,
            Some(0),
            "{bin} validate of configs/{name}:\n{out}\n{cfg}"
        );

        let missing = dir.path().join(format!("missing-cert-{name}"));
        std::fs::write(
            &missing,
            set_section_values(cfg, "tls", &[(cert_key, "/nonexistent/zerofault/x.pem")])?,
        )?;
        let (code, out) = validate(bin, &missing)?;
        assert_eq!(
            code,
            Some(1),
            "{bin} validate with a missing cert file:\n{out}"
        );

        let unknown = dir.path().join(format!("unknown-key-{name}"));
        std::fs::write(&unknown, format!("{cfg}no_such_key: 1\n"))?;
        let (code, out) = validate(bin, &unknown)?;
        assert_eq!(code, Some(1), "{bin} validate with an unknown key:\n{out}");
        assert!(
            out.contains("no_such_key"),
            "the error names the key:\n{out}"
        );
    }
    Ok(())
}

/// A host whose agent stops is reported down after `down_after_intervals` of its interval,
/// measured on the collector's clock, and its capacity stays in the aggregates (a silent host
/// still owns its hardware); the department's host counts move from up to down.
#[tokio::test]
async fn a_silent_agent_turns_its_host_down_and_keeps_its_capacity() -> anyhow::Result<()> {
    let ca = TestCa::new(&["quiet-a"])?;
    // 2 intervals of 1 s: the host must be down about 2 s after the last report.
    let collector = Collector::builder(&ca)
        .down_after_intervals(2)
        .spawn()
        .await?;
    let mut agent = collector
        .agent("quiet-a")
        .department("d1")
        .datacenter("dc1")
        .interval("1s")
        .spawn()?;
    let before = collector.wait_hosts_up(&["quiet-a"], UP_TIMEOUT).await?;
    let memory = before.get(
        "zerofault_department_memory_total_bytes",
        &[("department", "d1")],
    )?;

    agent.kill();
    let after = zerofault_tests::wait_until(
        "quiet-a to be down",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || async {
            let m = collector.metrics().await.map_err(|e| e.to_string())?;
            match m.get("zerofault_host_up", &[("agent", "quiet-a")]) {
                Ok(0.0) => Ok(m),
                other => Err(format!("zerofault_host_up = {other:?}")),
            }
        },
    )
    .await?;
    for (scope, key) in [("department", "d1"), ("datacenter", "dc1")] {
        let hosts = format!("zerofault_{scope}_hosts");
        assert_eq!(after.get(&hosts, &[(scope, key), ("state", "down")])?, 1.0);
        assert_eq!(after.get(&hosts, &[(scope, key), ("state", "up")])?, 0.0);
    }
    assert_eq!(
        after.get(
            "zerofault_department_memory_total_bytes",
            &[("department", "d1")]
        )?,
        memory,
        "a down host's capacity stays in its department"
    );
    Ok(())
}
