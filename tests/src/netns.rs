//! Test hosts in network namespaces: the only network the link tests use.
//!
//! A [`TestHost`] is a network namespace `zf-<pid>-<n>` joined to the root namespace (where
//! the agent runs) by a veth pair with a /30 from 198.18.0.0/15, the range reserved for network
//! benchmark tests (RFC 2544), so test traffic never reaches a real network. Faults are made
//! inside the namespace, where the agent cannot see them except through its probes:
//!
//! * loss with nftables (`numgen random mod 100 < N drop`), because the kernel has no `netem`;
//! * outages with `ip link set ... down`;
//! * exactly one dropped echo request with `numgen inc`, which is deterministic where a
//!   random rule is not.
//!
//! Dropping the host kills what runs inside it, deletes the veth pair and the namespace, also
//! while a failed test unwinds. Namespaces left by a process that was killed (and so never ran
//! its drops) are deleted by the next process that creates a host.
//!
//! Everything here needs root (CAP_NET_ADMIN and `ip netns` mounts); [`TestHost::new`] fails
//! with a message that says so instead of with a confusing `ip` error.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

use crate::command::run;
use crate::process::ChildGuard;

/// Number of /30 subnets in 198.18.0.0/15.
const SUBNETS: u32 = 1 << 15;

/// How long a process started with [`TestHost::spawn_in`] may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-process host counter: part of every name and address so that hosts of tests running in
/// parallel in one process never clash.
static NEXT_HOST: AtomicU32 = AtomicU32::new(0);

/// Serialises "find a free subnet, then take it" within this process; other processes start
/// their search at a pid-derived offset (and skip subnets already in use), so they do not
/// collide either.
static ALLOCATE: Mutex<()> = Mutex::new(());

/// The stale-namespace sweep runs once per process, before its first host.
static SWEEP: Once = Once::new();

/// Table names used inside the namespace: one per kind of fault, so that clearing loss does
/// not remove a one-packet drop and the other way round.
const LOSS_TABLE: &str = "zf_loss";
const ONE_TABLE: &str = "zf_one";

/// Fails unless this process runs as root, with a message that says why the tests need it.
///
/// Also checks that `ip` (iproute2) and `nft` (nftables) are installed, so that a machine
/// without them gets a message naming the packages rather than "No such file".
pub fn require_root() -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let euid = effective_uid(&status)
        .ok_or_else(|| anyhow::anyhow!("no Uid line in /proc/self/status"))?;
    anyhow::ensure!(
        euid == 0,
        "these tests need root: they build test hosts in network namespaces with veth pairs \
         (`ip netns`, `ip link`) and inject loss with nftables (effective uid is {euid}); \
         run them as root, e.g. `sudo -E cargo test -p zerofault-tests --test links` \
         (CI runs the test command as root)"
    );
    let missing: Vec<&str> = [("ip", "iproute2"), ("nft", "nftables")]
        .into_iter()
        .filter(|(tool, _)| Command::new(tool).arg("-V").output().is_err())
        .map(|(_, package)| package)
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "these tests need the Debian packages {missing:?} (`apt-get install {}`)",
        missing.join(" ")
    );
    Ok(())
}

/// The effective uid of this process.
pub(crate) fn euid() -> anyhow::Result<u32> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    effective_uid(&status).ok_or_else(|| anyhow::anyhow!("no Uid line in /proc/self/status"))
}

/// The effective uid from `/proc/self/status` text (`Uid: real effective saved fs`).
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// A test host: a network namespace with one veth link to the root namespace.
#[derive(Debug)]
pub struct TestHost {
    // Processes inside the namespace are killed first: a process keeps its namespace alive.
    children: Vec<ChildGuard>,
    ns: String,
    host_if: String,
    ns_if: String,
    root_addr: Ipv4Addr,
    addr: Ipv4Addr,
    /// IPv6 addresses of the link (root end, namespace end) in 2001:2::/48, when the
    /// kernel has IPv6.
    addrs6: Option<(Ipv6Addr, Ipv6Addr)>,
    logs: TempDir,
}

impl TestHost {
    /// Creates the namespace, the veth pair and the addresses, with both ends and loopback up,
    /// and waits until the link has a carrier.
    pub fn new() -> anyhow::Result<Self> {
        require_root()?;
        SWEEP.call_once(sweep_stale_namespaces);
        let pid = std::process::id();
        let n = NEXT_HOST.fetch_add(1, Ordering::Relaxed);
        let ns = format!("zf-{pid}-{n}");
        // Interface names are limited to 15 bytes: "zf" + pid (<= 7 digits) + "h"/"n" + n.
        let host_if = format!("zf{pid}h{n}");
        let ns_if = format!("zf{pid}n{n}");
        anyhow::ensure!(
            host_if.len() <= 15,
            "interface name {host_if} too long (pid {pid}, host {n})"
        );
        let logs = tempfile::Builder::new()
            .prefix(&format!("{ns}-"))
            .tempdir()?;

        ip(&["netns", "add", &ns])?;
        // From here on, Drop cleans up whatever part was made.
        let mut host = Self {
            children: Vec::new(),
            ns,
            host_if,
            ns_if,
            root_addr: Ipv4Addr::UNSPECIFIED,
            addr: Ipv4Addr::UNSPECIFIED,
            addrs6: None,
            logs,
        };
        ip(&[
            "link",
            "add",
            &host.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &host.ns_if,
            "netns",
            &host.ns,
        ])?;
        {
            // Held until the address is on the interface, so that no other host of this
            // process picks the same subnet in between.
            let _guard = ALLOCATE.lock().unwrap_or_else(|e| e.into_inner());
            let (root_addr, addr) = free_subnet(pid, n)?;
            ip(&[
                "addr",
                "add",
                &format!("{root_addr}/30"),
                "dev",
                &host.host_if,
            ])?;
            host.root_addr = root_addr;
            host.addr = addr;
            // The /64 of the same number in 2001:2::/48 (RFC 5180), so the one search and
            // lock cover both families. `nodad`: usable at once, not "tentative".
            if Path::new("/proc/sys/net/ipv6").exists() {
                let (root6, addr6) = subnet6_addrs(root_addr);
                ip(&[
                    "-6",
                    "addr",
                    "add",
                    &format!("{root6}/64"),
                    "dev",
                    &host.host_if,
                    "nodad",
                ])?;
                host.addrs6 = Some((root6, addr6));
            }
        }
        ip(&["link", "set", &host.host_if, "up"])?;
        host.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{addr}/30", addr = host.addr),
            "dev",
            &host.ns_if,
        ])?;
        if let Some((_, addr6)) = host.addrs6 {
            host.exec(&[
                "ip",
                "-6",
                "addr",
                "add",
                &format!("{addr6}/64"),
                "dev",
                &host.ns_if,
                "nodad",
            ])?;
        }
        host.exec(&["ip", "link", "set", &host.ns_if, "up"])?;
        host.exec(&["ip", "link", "set", "lo", "up"])?;
        host.wait_carrier(Duration::from_secs(10))?;
        Ok(host)
    }

    /// Namespace name (`zf-<pid>-<n>`).
    pub fn name(&self) -> &str {
        &self.ns
    }
    /// The host's address (inside the namespace): what the agent probes.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    /// The host's IPv6 address in 2001:2::/48 (inside the namespace); `None` when this
    /// kernel has no IPv6.
    pub fn addr6(&self) -> Option<Ipv6Addr> {
        self.addrs6.map(|(_, a)| a)
    }
    /// The root namespace's address on the link (the agent's source address).
    pub fn root_addr(&self) -> Ipv4Addr {
        self.root_addr
    }
    /// The veth end inside the namespace.
    pub fn ns_interface(&self) -> &str {
        &self.ns_if
    }
    /// The veth end in the root namespace.
    pub fn root_interface(&self) -> &str {
        &self.host_if
    }

    /// Runs `args` inside the namespace (`ip netns exec NS args...`) and returns its stdout;
    /// an error with stderr when it fails.
    pub fn exec(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns]).args(args);
        run(cmd, None)
    }

    /// Runs `nft -f -` inside the namespace with `script` on stdin (one transaction: the
    /// whole ruleset change applies at once or not at all).
    pub fn nft_script(&self, script: &str) -> anyhow::Result<()> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, "nft", "-f", "-"]);
        run(cmd, Some(script)).map(|_| ())
    }

    /// Drops `percent`% of the ICMP echo requests arriving in the namespace, at random
    /// (independently per packet), replacing any loss injected before. 0 clears the loss.
    pub fn inject_icmp_loss(&self, percent: u8) -> anyhow::Result<()> {
        self.inject_loss_rule(percent, "meta l4proto icmp icmp type echo-request")
    }

    /// Drops `percent`% of the TCP connection attempts (SYN without ACK) to `port` in the
    /// namespace, replacing any loss injected before. Only the opening SYN is dropped, so a
    /// connect either fails as a whole or succeeds; a probe timeout under the 1 s initial
    /// retransmission timeout then means one SYN per probe and a loss of exactly `percent`%.
    pub fn inject_tcp_syn_loss(&self, port: u16, percent: u8) -> anyhow::Result<()> {
        self.inject_loss_rule(
            percent,
            &format!("meta l4proto tcp tcp dport {port} tcp flags & (syn | ack) == syn"),
        )
    }

    fn inject_loss_rule(&self, percent: u8, matcher: &str) -> anyhow::Result<()> {
        anyhow::ensure!(percent <= 100, "loss of {percent}% is not a percentage");
        self.clear_loss()?;
        if percent == 0 {
            return Ok(());
        }
        // `numgen random mod 100` is uniform over 0..=99, so `< N` matches with probability
        // N/100 per packet (nft refuses `< 100`, out of the generator's range, so 100% has no
        // numgen); the counter records how many were dropped.
        let random = if percent < 100 {
            format!(" numgen random mod 100 < {percent}")
        } else {
            String::new()
        };
        self.nft_script(&format!(
            "table inet {LOSS_TABLE} {{\n  chain input {{\n    type filter hook input priority 0; \
             policy accept;\n    {matcher}{random} counter drop\n  }}\n}}\n"
        ))
    }

    /// Removes injected loss (no-op when there is none).
    pub fn clear_loss(&self) -> anyhow::Result<()> {
        self.delete_table(LOSS_TABLE)
    }

    /// Stops the injected loss at once and returns how many packets it dropped in all: the
    /// final count, so that a test can compare it with what the probes counted.
    ///
    /// An `accept` rule is inserted in front of the dropping rule (one atomic change) rather
    /// than the counter being read and the table deleted: a packet dropped between those two
    /// commands would be missing from the count. The table stays until [`Self::clear_loss`].
    pub fn stop_loss(&self) -> anyhow::Result<u64> {
        if !self.has_table(LOSS_TABLE)? {
            return Ok(0);
        }
        self.exec(&[
            "nft", "insert", "rule", "inet", LOSS_TABLE, "input", "accept",
        ])?;
        self.table_counter(LOSS_TABLE)
    }

    /// Packets dropped by the injected loss so far (0 when none is injected).
    pub fn dropped_packets(&self) -> anyhow::Result<u64> {
        self.table_counter(LOSS_TABLE)
    }

    /// Takes the link down (the veth end inside the namespace) and returns when that
    /// happened. The end inside the namespace is used, not the root one: the root end then
    /// loses its carrier and keeps its route (marked `linkdown`), so probes keep going to the
    /// veth and are lost there; with the root end down its route would vanish and the probes
    /// would follow the default route out of this machine.
    pub fn outage_start(&self) -> anyhow::Result<SystemTime> {
        self.timed(&["ip", "link", "set", &self.ns_if, "down"])
    }

    /// Brings the link back up and returns when that happened.
    pub fn outage_end(&self) -> anyhow::Result<SystemTime> {
        self.timed(&["ip", "link", "set", &self.ns_if, "up"])
    }

    /// Runs `args` in the namespace and returns the midpoint of the command's run: the change
    /// happened between start and end, which are a few milliseconds apart.
    fn timed(&self, args: &[&str]) -> anyhow::Result<SystemTime> {
        let before = SystemTime::now();
        let start = Instant::now();
        self.exec(args)?;
        Ok(before + start.elapsed() / 2)
    }

    /// Drops exactly one ICMP echo request: the next one to arrive. Returns when that drop
    /// was seen (within `poll` of it), after the rule is gone again.
    ///
    /// `numgen inc mod 1000000000 == 0` matches only the first packet that reaches it (the
    /// generator starts at 0), so the drop is exactly one by construction, not by racing a
    /// rule deletion against the next probe; the rule is still deleted once its counter shows
    /// the drop, and the counter is checked to be exactly 1.
    pub async fn drop_exactly_one_echo_request(
        &self,
        timeout: Duration,
        poll: Duration,
    ) -> anyhow::Result<SystemTime> {
        self.delete_table(ONE_TABLE)?;
        self.nft_script(&format!(
            "table inet {ONE_TABLE} {{\n  chain input {{\n    type filter hook input priority -10; \
             policy accept;\n    meta l4proto icmp icmp type echo-request numgen inc mod \
             1000000000 == 0 counter drop\n  }}\n}}\n"
        ))?;
        let start = Instant::now();
        // Bounded: timeout / poll iterations.
        loop {
            let dropped = self.table_counter(ONE_TABLE)?;
            if dropped >= 1 {
                let at = SystemTime::now();
                self.delete_table(ONE_TABLE)?;
                anyhow::ensure!(
                    dropped == 1,
                    "the one-packet rule dropped {dropped} echo requests"
                );
                return Ok(at);
            }
            if start.elapsed() > timeout {
                self.delete_table(ONE_TABLE)?;
                anyhow::bail!(
                    "no echo request arrived at {} within {timeout:?}",
                    self.addr
                );
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Starts `program args...` inside the namespace and waits until its output contains
    /// `ready` (e.g. a listener's "listening on" line). It is killed when the host is dropped.
    pub fn spawn_in(
        &mut self,
        name: &str,
        program: &Path,
        args: &[&str],
        ready: &str,
    ) -> anyhow::Result<()> {
        let mut cmd = Command::new("ip");
        // `ip netns exec` execs the program, so the child (and the pid that is killed) is the
        // program itself.
        cmd.args(["netns", "exec", &self.ns])
            .arg(program)
            .args(args);
        let n = self.children.len();
        let log = self.logs.path().join(format!("{name}-{n}.log"));
        let mut child = ChildGuard::spawn(&format!("{name} in {}", self.ns), cmd, &log)?;
        let start = Instant::now();
        // Bounded: READY_TIMEOUT / 20 ms iterations.
        loop {
            if child.output().contains(ready) {
                break;
            }
            if let Some(status) = child.exited() {
                anyhow::bail!(
                    "{name} in {} exited with {status} before it was ready:\n{}",
                    self.ns,
                    child.output()
                );
            }
            if start.elapsed() > READY_TIMEOUT {
                anyhow::bail!(
                    "{name} in {} did not print {ready:?} within {READY_TIMEOUT:?}:\n{}",
                    self.ns,
                    child.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.children.push(child);
        Ok(())
    }

    /// Packets counted by the counters of `table` (0 when the table does not exist).
    fn table_counter(&self, table: &str) -> anyhow::Result<u64> {
        let ruleset = self.exec(&["nft", "-j", "list", "ruleset"])?;
        nft_counter_packets(&ruleset, table)
    }

    fn has_table(&self, table: &str) -> anyhow::Result<bool> {
        let tables = self.exec(&["nft", "list", "tables"])?;
        Ok(tables
            .lines()
            .any(|l| l.trim() == format!("table inet {table}")))
    }

    fn delete_table(&self, table: &str) -> anyhow::Result<()> {
        // `destroy` (no error when absent) needs nft 1.0.8; this machine has 1.0.6, so the
        // table is looked up first.
        if self.has_table(table)? {
            self.exec(&["nft", "delete", "table", "inet", table])?;
        }
        Ok(())
    }

    /// Waits (bounded by `timeout`) until the root end has a carrier, i.e. both ends are up
    /// and the link passes traffic. Read from `ip link` rather than by pinging, so that the
    /// harness needs no ping tool.
    fn wait_carrier(&self, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut last = String::new();
        // Bounded: timeout / 20 ms iterations.
        while start.elapsed() < timeout {
            last = ip(&["-o", "link", "show", &self.host_if])?;
            if last.contains("LOWER_UP") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        anyhow::bail!("{} has no carrier within {timeout:?}: {last}", self.host_if)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        for child in &mut self.children {
            child.kill();
        }
        // Deleting one end of a veth pair deletes both. It is done explicitly (rather than
        // left to the namespace's teardown, which the kernel finishes asynchronously) so the
        // root end and its route are gone when drop returns.
        if let Err(e) = ip(&["link", "del", &self.host_if]) {
            eprintln!("cleanup of {}: {e}", self.host_if);
        }
        if let Err(e) = ip(&["netns", "del", &self.ns]) {
            eprintln!("cleanup of namespace {}: {e}", self.ns);
        }
    }
}

/// `ip ARGS...` in the root namespace.
fn ip(args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run(cmd, None)
}

/// A free /30 of 198.18.0.0/15 for host `n` of process `pid`: (root end, namespace end).
///
/// The search starts at an offset derived from the pid (so concurrent test processes start
/// far apart) plus `n`, and skips every subnet that overlaps an IPv4 address already
/// configured in the root namespace (left by another process, or in use by a host of this
/// one).
fn free_subnet(pid: u32, n: u32) -> anyhow::Result<(Ipv4Addr, Ipv4Addr)> {
    let used = used_subnets(&ip(&["-o", "-4", "addr", "show"])?);
    let start = (pid % 512) * 64 + n;
    for i in 0..SUBNETS {
        let idx = (start + i) % SUBNETS;
        if !used.contains(&idx) {
            return Ok(subnet_addrs(idx));
        }
    }
    anyhow::bail!("no free /30 left in 198.18.0.0/15")
}

/// The (root end, namespace end) addresses of /30 number `idx` of 198.18.0.0/15.
fn subnet_addrs(idx: u32) -> (Ipv4Addr, Ipv4Addr) {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + idx * 4;
    (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
}

/// The IPv6 pair of the link whose IPv4 root end is `root_addr`: /30 number `idx` of
/// 198.18.0.0/15 is the /64 `2001:2:0:idx::/64` of 2001:2::/48 (RFC 5180's benchmarking
/// range; 32,768 /30s fit the /48's 65,536 /64s), ends `::1` (root) and `::2`.
fn subnet6_addrs(root_addr: Ipv4Addr) -> (Ipv6Addr, Ipv6Addr) {
    let idx = (u32::from(root_addr) - u32::from(Ipv4Addr::new(198, 18, 0, 0))) / 4;
    let net = |end| Ipv6Addr::new(0x2001, 2, 0, idx as u16, 0, 0, 0, end);
    (net(1), net(2))
}

/// Indices of the /30s of 198.18.0.0/15 that addresses in `ip -o -4 addr show` output fall
/// into (any prefix length: a wider prefix only marks its own address's /30, which is enough
/// because the tests' own addresses are all /30s).
fn used_subnets(ip_addr_show: &str) -> std::collections::HashSet<u32> {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    ip_addr_show
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet")?;
            let cidr = words.next()?;
            let addr: Ipv4Addr = cidr.split('/').next()?.parse().ok()?;
            let a = u32::from(addr);
            (a >= base && a < base + SUBNETS * 4).then(|| (a - base) / 4)
        })
        .collect()
}

/// Sum of the packet counters of the rules in `table`, from `nft -j list ruleset` output.
fn nft_counter_packets(json: &str, table: &str) -> anyhow::Result<u64> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| anyhow::anyhow!("nft -j output is not JSON ({e}): {json}"))?;
    let items = v["nftables"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no nftables array in {json}"))?;
    let mut packets = 0;
    for item in items {
        let rule = &item["rule"];
        if rule["table"] != table {
            continue;
        }
        for expr in rule["expr"].as_array().into_iter().flatten() {
            if let Some(p) = expr["counter"]["packets"].as_u64() {
                packets += p;
            }
        }
    }
    Ok(packets)
}

/// Deletes namespaces named `zf-<pid>-<n>` whose process no longer runs: a test process
/// that was killed never ran its drops. Best effort; errors are printed, not fatal.
fn sweep_stale_namespaces() {
    let list = match ip(&["netns", "list"]) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot list namespaces for the stale sweep: {e}");
            return;
        }
    };
    for ns in stale_namespaces(&list, |pid| Path::new(&format!("/proc/{pid}")).exists()) {
        eprintln!("deleting stale test namespace {ns}");
        // The veth pair goes with the namespace.
        if let Err(e) = ip(&["netns", "del", &ns]) {
            eprintln!("cannot delete stale namespace {ns}: {e}");
        }
    }
}

/// Names in `ip netns list` output of the form `zf-<pid>-<n>` whose pid is not `alive`.
fn stale_namespaces(list: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    list.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| {
            let Some(rest) = name.strip_prefix("zf-") else {
                return false;
            };
            let Some((pid, n)) = rest.split_once('-') else {
                return false;
            };
            match (pid.parse::<u32>(), n.parse::<u32>()) {
                (Ok(pid), Ok(_)) => pid != std::process::id() && !alive(pid),
                _ => false,
            }
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests;
